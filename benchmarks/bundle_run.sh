#!/usr/bin/env bash
# Kernel checks and speed tables from a bundle (tools/bundle.sh) on another x86-64 Linux machine:
# one that has the SIMD tiers this one lacks (AVX-VNNI, AVX-512, AMX) and more cores, but no Swift.
#
#   benchmarks/bundle_run.sh BUNDLE.tar.xz PUZZLES OUT_DIR THREADS MODEL.gguf [MODEL.gguf ...]
#
# THREADS is the list for the thread-scaling table (e.g. 1,2,4,8,16); the first MODEL is profiled
# and timed against PyTorch at 4 threads, every MODEL goes into the thread-scaling table. Each part
# writes its own file in OUT_DIR as it finishes, so a run cut short still leaves what was done. The
# PyTorch baseline (eager FP32 on the first model's weights, dequantized) needs python3 with torch
# and the gguf package; without them the tables have no baseline column.
set -uo pipefail
bundle=${1:?usage: bundle_run.sh BUNDLE.tar.xz PUZZLES OUT_DIR THREADS MODEL.gguf [MODEL.gguf ...]}
puzzles=${2:?puzzle file}
out=${3:?output folder}
threads=${4:?thread counts, e.g. 1,2,4,8,16}
shift 4
[ $# -ge 1 ] || { echo "bundle_run.sh: name at least one MODEL.gguf" >&2; exit 2; }
models=()
for m in "$@"; do models+=("$(readlink -f "$m")"); done
bundle=$(readlink -f "$bundle")
puzzles=$(readlink -f "$puzzles")
mkdir -p "$out" && out=$(readlink -f "$out")
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
tar -C "$work" -xf "$bundle"
export LD_LIBRARY_PATH="$work/recur-bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
bin=$work/recur-bundle/bin
recur=$bin/recur
export RECUR_BENCH_DB=$work/bench.sqlite

step() { echo "== $1 ($(date +%T))" | tee -a "$out/log.txt"; }

step "cpu and kernel checks"
{
  lscpu
  grep -m1 -o 'flags.*' /proc/cpuinfo | tr ' ' '\n' | grep -E 'avx512|avx_vnni|amx' | tr '\n' ' '
  echo
  echo "-- quantized kernels: every tier against scalar, bit for bit"
  "$bin/qcheck" 300; echo "qcheck exit $?"
  echo "-- fp32 kernels: every tier against scalar"
  "$bin/ckernels_tier_check"; echo "ckernels_tier_check exit $?"
  echo "-- where the AMX kernel's time goes (needs AMX)"
  "$bin/amx_probe"; echo "amx_probe exit $?"
} >"$out/checks.txt" 2>&1

step "same-run speed against PyTorch at 4 threads (best tier, then avx512)"
for isa in "" avx512; do
  (cd "$root" && RECUR_ISA=$isa "$recur" bench --model "${models[0]}" --threads 4 --batch 1,16 --halt max --max-steps 3 \
    --repetitions 3 --input "$puzzles" --limit 2) >>"$out/bench_4threads.txt" 2>&1
done

step "where a batch-16 step goes at 4 threads"
for isa in "" avx512; do
  RECUR_ISA=$isa "$recur" solve --model "${models[0]}" --input "$puzzles" --limit 16 --batch 16 --threads 4 \
    --halt max --max-steps 3 --format jsonl --profile 2>>"$out/profile.txt" >/dev/null
done

step "thread scaling"
model_args=()
for m in "${models[@]}"; do model_args+=(--model "$m"); done
(cd "$root" && "$recur" bench "${model_args[@]}" --threads "$threads" --batch 1,16 \
  --halt max --max-steps 2 --repetitions 2 --input "$puzzles" --limit 2 --json "$out/bench_threads.json") >"$out/bench_threads.txt" 2>&1

step "quantized GEMM on the model's shapes, 1 and 4 threads, weights out of L2"
# No sgemm column: the bundled OpenBLAS need not know the CPU (PyTorch above is the FP32 yardstick).
QBENCH_THREADS=1,4 QBENCH_COPIES=8 QBENCH_SGEMM=0 "$bin/qgemm_bench" 5 >"$out/qgemm.txt" 2>/dev/null
step "done"
