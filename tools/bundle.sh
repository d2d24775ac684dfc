#!/usr/bin/env bash
# Builds a self-contained Recur bundle for another x86-64 Linux machine that has no Swift toolchain
# and none of the C libraries: `recur` with the Swift runtime linked statically, the kernel checkers
# and benchmark (tools/ckernels_tier_check.c, benchmarks/kernels), and the shared libraries they load.
#
#   tools/bundle.sh OUT.tar.xz      then there:  tar xf OUT.tar.xz && export LD_LIBRARY_PATH=$PWD/recur-bundle/lib
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: tools/bundle.sh OUT.tar.xz}
stage=$(mktemp -d)/recur-bundle
mkdir -p "$stage/bin" "$stage/lib"

swift build -c release --static-swift-stdlib --product recur --scratch-path .build-static >&2
cp .build-static/release/recur "$stage/bin/"
strip "$stage/bin/recur"

benchmarks/kernels/build.sh "$stage/bin" >&2
rm -f "$stage"/bin/*.o
omp_inc=$(ls -d /usr/lib/llvm-*/lib/clang/*/include 2>/dev/null | while read -r d; do [ -f "$d/omp.h" ] && echo "$d"; done | sort -V | tail -n 1)
clang -O3 -fno-math-errno -fno-strict-aliasing -fopenmp -isystem "$omp_inc" -DRECUR_HAVE_OPENMP=1 \
  -ISources/CKernels/include tools/ckernels_tier_check.c Sources/CKernels/recur_cpu.c Sources/CKernels/f32.c \
  Sources/CKernels/f32_linear.c Sources/CKernels/arch/x86/f32_avx2.c Sources/CKernels/arch/x86/f32_avx512.c \
  Sources/CKernels/arch/x86/attention_avx2.c Sources/CKernels/arch/x86/attention_avx512.c \
  -L"${omp_inc%/clang/*}" -lopenblas -lm -o "$stage/bin/ckernels_tier_check"

# Every shared library the programs load that is not part of the C runtime itself.
for exe in "$stage"/bin/*; do
  ldd "$exe" 2>/dev/null | awk '/=> \//{print $3}' || true
done | sort -u | grep -vE '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*)\.so' | while read -r lib; do
  cp -L "$lib" "$stage/lib/"
done
tar -C "$(dirname "$stage")" -cJf "$out" recur-bundle
echo "$out: $(du -h "$out" | cut -f1)" >&2
