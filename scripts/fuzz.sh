#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer, with AddressSanitizer and its leak checker) of every input
# format Recur reads: GGUF files (parser, family description, tokenizer, chat template),
# checkpoints (zip reader, unpickler, safetensors), all_config.yaml, puzzle lines, chat
# templates and the server's request bodies.
#
#   scripts/fuzz.sh [--smoke] [--time SECONDS] [--jobs N] [TARGET ...]
#
# Builds the RecurFuzz harness into .build-fuzz (swift build --sanitize=address with
# -sanitize=fuzzer), makes the seed corpora with tools/fuzz/make_corpus.py into .cache/fuzz/seeds,
# then runs each target (default: all) for SECONDS (default 600; --smoke: 15, what the test
# command runs) with its growing corpus in .cache/fuzz/corpus/TARGET. Prints, per target, the
# executions, executions per second, coverage (edges and features) and findings; a crash, hang,
# leak or sanitizer report leaves its input in .cache/fuzz/findings/TARGET and makes the exit
# status 1.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=600
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) seconds=15 ;;
    --time) seconds="$2"; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
[ ${#targets[@]} -eq 0 ] && targets=(gguf checkpoint yaml puzzles template http)

echo "fuzz: building the harness with -sanitize=fuzzer,address (.build-fuzz)" >&2
swift build --product RecurFuzz --scratch-path .build-fuzz --sanitize=address \
  -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library -Xswiftc -DFUZZING >&2
binary="$(swift build --product RecurFuzz --scratch-path .build-fuzz --sanitize=address \
  -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library -Xswiftc -DFUZZING --show-bin-path)/RecurFuzz"

seeds=.cache/fuzz/seeds
if [ ! -d "$seeds" ] || [ tools/fuzz/make_corpus.py -nt "$seeds" ]; then
  rm -rf "$seeds"
  python3 tools/fuzz/make_corpus.py "$seeds.partial" >&2
  mv "$seeds.partial" "$seeds"
fi

# Largest input per target: checkpoints need room for a real (small) zip.
max_len() { case "$1" in checkpoint) echo 1048576 ;; gguf) echo 131072 ;; *) echo 16384 ;; esac; }

status=0
printf '%-11s %12s %10s %8s %8s  %s\n' target executions "exec/s" edges features findings
for target in "${targets[@]}"; do
  corpus=".cache/fuzz/corpus/$target"
  findings=".cache/fuzz/findings/$target"
  mkdir -p "$corpus" "$findings"
  log="$(mktemp)"
  # ASan's leak checker runs at exit; the Swift runtime's own caches are reachable, not leaks.
  if RECUR_FUZZ_TARGET="$target" ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" \
      "$binary" "$corpus" "$seeds/$target" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
      -max_len="$(max_len "$target")" -artifact_prefix="$findings/" -print_final_stats=1 >"$log" 2>&1; then
    found=none
  else
    found="$(ls "$findings" | head -3 | tr '\n' ' ')"
    [ -n "$found" ] || found="see log"
    status=1
    tail -40 "$log" >&2
  fi
  runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)"
  rate="$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)"
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)"
  ft="$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)"
  printf '%-11s %12s %10s %8s %8s  %s\n' "$target" "$runs" "$rate" "$cov" "$ft" "$found"
  rm -f "$log"
done
exit $status
