#!/bin/sh
# Builds the quantized-kernel benchmark and checker against the CKernels sources.
# Usage: benchmarks/kernels/build.sh [out-dir]   (default: .build-bench next to this repo's root)
# Then: <out-dir>/qgemm_bench [reps]   and   <out-dir>/qcheck [cases]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-"$root/.build-bench"}
mkdir -p "$out"
cc=${CC:-clang}
# OpenMP header: the system LLVM's (Debian libomp-dev), looked up like Package.swift does.
omp_inc=$(ls -d /usr/lib/llvm-*/lib/clang/*/include 2>/dev/null | while read -r d; do
    [ -f "$d/omp.h" ] && echo "$d"; done | sort -V | tail -n 1)
omp_flags=""
[ -n "$omp_inc" ] && omp_flags="-fopenmp -isystem $omp_inc -DRECUR_HAVE_OPENMP=1"
src="$root/Sources/CKernels"
flags="-O3 -fno-math-errno -fno-strict-aliasing -I$src/include $omp_flags"
# Compile with -fopenmp but link libomp5 by name (as Package.swift does): clang's own -lomp is not
# on the default library path here.
objs=""
for f in "$src"/*.c "$src"/arch/x86/*.c "$here/qgemm_bench.c" "$here/qcheck.c"; do
    o="$out/$(basename "$f" .c).o"
    # shellcheck disable=SC2086
    $cc $flags -c -o "$o" "$f"
    case "$f" in */qgemm_bench.c|*/qcheck.c) ;; *) objs="$objs $o" ;; esac
done
libs="-lopenblas -lm"
[ -n "$omp_flags" ] && libs="$libs -lomp5"
# shellcheck disable=SC2086
$cc -o "$out/qgemm_bench" "$out/qgemm_bench.o" $objs $libs
# shellcheck disable=SC2086
$cc -o "$out/qcheck" "$out/qcheck.o" $objs $libs
echo "built $out/qgemm_bench $out/qcheck"
