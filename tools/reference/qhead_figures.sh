#!/bin/sh
# Q-head figures: train one head per kind on recorded states, attach each in every format to the
# F16 export of the shared checkpoint, score all on the held-out recorded puzzles (recur qhead-eval), then time
# end-to-end solves. Needs a release build (swift build -c release) and a recording:
#   python3 tools/reference/record_qhead_states.py --limit 224 --out tools/reference/heads/data/states.safetensors
# Usage: tools/reference/qhead_figures.sh [TRAIN_PUZZLES] [E2E_PUZZLES [E2E_BATCH]]
set -eu
cd "$(dirname "$0")/../.."
TRAIN=${1:-128}
E2E=${2:-0}
E2E_BATCH=${3:-8}
RECUR=${RECUR:-.build/release/recur}
DATA=tools/reference/heads/data
STATES=$DATA/states.safetensors
PUZZLES=../shared/data/sudoku_eval_2000.txt
OUT=$DATA/gguf
mkdir -p "$OUT"
# The figures were taken on the F16 export of the shared checkpoint (computed in F32).
MODEL=${MODEL:-$DATA/trm-sudoku-att-f16.gguf}
[ -f "$MODEL" ] || "$RECUR" export ../shared/checkpoints/trm-sudoku-att/step_10788 -o "$MODEL" --type f16

python3 tools/reference/train_qheads.py --states "$STATES" --out "$DATA" --train "$TRAIN"

heads=""; refs=""
for kind in linear mlp gru attention; do
  for format in f32 q8_0 bnn snn; do
    "$RECUR" export --from-gguf "$MODEL" -o "$OUT/$kind-$format.gguf" --qhead "$DATA/$kind.safetensors" \
      --qhead-kind "$kind" --qhead-format "$format" --calibration-states "$STATES" --calibrate-limit "$TRAIN"
    heads="$heads $OUT/$kind-$format.gguf"; refs="$refs $OUT/$kind-f32.gguf"
  done
done
for kind in linear mlp gru attention; do
  "$RECUR" export --from-gguf "$MODEL" -o "$OUT/$kind-snn128.gguf" --qhead "$DATA/$kind.safetensors" \
    --qhead-kind "$kind" --qhead-format snn --snn-timesteps 128 --calibration-states "$STATES" --calibrate-limit "$TRAIN"
  heads="$heads $OUT/$kind-snn128.gguf"; refs="$refs $OUT/$kind-f32.gguf"
done

# Agreement: each head against the F32 head of its kind; the official head against itself.
# shellcheck disable=SC2086
"$RECUR" qhead-eval --states "$STATES" --from "$TRAIN" --reference "$MODEL" $refs -- "$MODEL" $heads

[ "$E2E" -gt 0 ] || exit 0
# Held-out puzzles (after the training ones), slots refilled as puzzles halt, so the rate
# reflects each head's mean steps as well as its cost.
tail -n +"$((TRAIN + 1))" "$PUZZLES" | head -n "$E2E" > "$OUT/e2e-puzzles.txt"
echo "end to end: recur solve --limit $E2E --batch $E2E_BATCH --threads 2 (puzzles/s, mean steps)"
for f in "$MODEL" $heads; do
  printf '%s: ' "$(basename "$f")"
  "$RECUR" solve --model "$f" --input "$OUT/e2e-puzzles.txt" --batch "$E2E_BATCH" --threads 2 --check |
    grep -o 'valid [0-9]* ([0-9.]*%)\|mean ACT steps [0-9.]*\|[0-9.]* puzzles/s' | tr '\n' ' '
  echo
done
