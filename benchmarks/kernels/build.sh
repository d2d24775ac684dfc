#!/bin/sh
# Builds the quantized-kernel benchmark and checker against the CKernels sources.
# Usage: benchmarks/kernels/build.sh [out-dir] [emulated]   (default out-dir: .build-bench in the
#        repository root; "emulated" builds only qcheck_emulated)
# Then:  <out-dir>/qgemm_bench [reps] [isa]   and   <out-dir>/qcheck [random-cases]
#        <out-dir>/amx_probe   (where the AMX kernel's time goes; needs AMX)
#        <out-dir>/qcheck_emulated [random-cases]   (AVX-VNNI/AVX-512 logic on an AVX2 CPU)
# CC picks the compiler (default clang, else gcc); CFLAGS are added (e.g. -DRQ_GROUP_BYTES=524288
# to try another L2 weight-group size, see quant_linear.c). qgemm_bench needs OpenBLAS (cblas.h); qcheck
# needs nothing but a C compiler, so it also runs on machines without OpenBLAS or Swift.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-"$root/.build-bench"}
only=${2:-all}
mkdir -p "$out"
if [ -z "${CC:-}" ]; then
    if command -v clang >/dev/null 2>&1; then CC=clang; else CC=gcc; fi
fi
src="$root/Sources/CKernels"

# OpenMP. clang: the system LLVM's header (Debian libomp-dev), found like Package.swift does, and
# libomp5 linked by name (clang's own -lomp is not on the default library path there). gcc: libgomp.
omp_cflags=""
omp_libs=""
if "$CC" --version 2>/dev/null | grep -q clang; then
    omp_inc=$(ls -d /usr/lib/llvm-*/lib/clang/*/include 2>/dev/null | while read -r d; do
        [ -f "$d/omp.h" ] && echo "$d"; done | sort -V | tail -n 1)
    if [ -n "$omp_inc" ]; then
        omp_cflags="-fopenmp -isystem $omp_inc -DRECUR_HAVE_OPENMP=1"
        omp_libs="-lomp5"
    fi
else
    omp_cflags="-fopenmp -DRECUR_HAVE_OPENMP=1"
    omp_libs="-fopenmp"
fi

flags="-O3 -fno-math-errno -fno-strict-aliasing -I$src/include $omp_cflags ${CFLAGS:-}"
# Link without -fopenmp: with clang it would add -lomp; the runtime comes from $omp_libs.
# shellcheck disable=SC2086
"$CC" $flags -c -o "$out/qcheck.o" "$here/qcheck.c"
if [ "$only" != emulated ]; then
    # The quantized kernels and the CPU dispatch they call; nothing that needs OpenBLAS.
    objs=""
    for f in "$src"/quant_*.c "$src"/arch/x86/quant_*.c "$src"/recur_cpu.c "$src"/probe.c "$src"/arch/x86/probe_x86.c; do
        o="$out/$(basename "$f" .c).o"
        # shellcheck disable=SC2086
        "$CC" $flags -c -o "$o" "$f"
        objs="$objs $o"
    done
    # shellcheck disable=SC2086
    "$CC" -o "$out/qcheck" "$out/qcheck.o" $objs -lm $omp_libs
    echo "built $out/qcheck"
fi
# qcheck_emulated: the AVX-VNNI, AVX-512 and AMX kernels compiled against plain-C stand-ins for
# their intrinsics (vnni_emulation.h, amx_emulation.h), checked against scalar on any AVX2 CPU. Links only the quant files.
emu_objs=""
for f in "$src"/quant_*.c "$src"/arch/x86/quant_*.c "$here/qcheck_emulated_cpu.c"; do
    case "$f" in
    */quant_avxvnni.c|*/quant_avx512.c) extra="-include $here/vnni_emulation.h" ;;
    */quant_amx.c) extra="-include $here/amx_emulation.h" ;;
    # The AVX-512 activation quantizer is not emulated: every tier quantizes with the AVX2 one here
    # (the same bytes; QuantActivationTests checks both on a CPU that has them).
    */quant_act.c) extra="-DRQ_ACT_AVX2_ONLY" ;;
    *) extra="" ;;
    esac
    o="$out/emu_$(basename "$f" .c).o"
    # shellcheck disable=SC2086
    "$CC" $flags $extra -c -o "$o" "$f"
    emu_objs="$emu_objs $o"
done
# shellcheck disable=SC2086
"$CC" -o "$out/qcheck_emulated" "$out/qcheck.o" $emu_objs -lm $omp_libs
echo "built $out/qcheck_emulated"
[ "$only" = emulated ] && exit 0
if echo '#include <cblas.h>' | "$CC" -E -x c - >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    "$CC" $flags -c -o "$out/qgemm_bench.o" "$here/qgemm_bench.c"
    # shellcheck disable=SC2086
    "$CC" -o "$out/qgemm_bench" "$out/qgemm_bench.o" $objs -lopenblas -lm $omp_libs
    echo "built $out/qgemm_bench"
    # f32_bench: the packed FP32 products (f32_packed.c and its AVX2 and AVX-512 tiers) against OpenBLAS.
    f32_objs="$out/recur_cpu.o"
    for f in "$src"/f32_packed.c "$src"/arch/x86/f32_packed_avx2.c "$src"/arch/x86/f32_packed_avx512.c; do
        o="$out/$(basename "$f" .c).o"
        # shellcheck disable=SC2086
        "$CC" $flags -c -o "$o" "$f"
        f32_objs="$f32_objs $o"
    done
    # shellcheck disable=SC2086
    "$CC" $flags -c -o "$out/f32_bench.o" "$here/f32_bench.c"
    # shellcheck disable=SC2086
    "$CC" -o "$out/f32_bench" "$out/f32_bench.o" $f32_objs -lopenblas -lm $omp_libs
    echo "built $out/f32_bench"
else
    echo "no cblas.h: skipped qgemm_bench and f32_bench"
fi
# amx_probe: needs a compiler that knows the AMX intrinsics (clang 12, gcc 11 or later).
# shellcheck disable=SC2086
if "$CC" -O3 -o "$out/amx_probe" "$here/amx_probe.c" 2>/dev/null; then
    echo "built $out/amx_probe"
else
    echo "compiler without AMX intrinsics: skipped amx_probe"
fi
