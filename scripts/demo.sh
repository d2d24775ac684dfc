#!/usr/bin/env bash
# The main job: build Recur, solve the sample Sudoku puzzles with the shipped default model, then
# let the shipped recursive LM continue a verse (Q-head halting per token; its ACT steps on stderr).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product recur >&2
.build/release/recur solve --input models/sudoku-samples.txt --check "$@"
echo
.build/release/recur generate -p "And God said unto Moses," -n 48 --temp 0
