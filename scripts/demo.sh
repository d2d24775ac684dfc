#!/usr/bin/env bash
# The main job: build Recur and solve the sample Sudoku puzzles with the shipped default model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product recur >&2
exec .build/release/recur solve --input models/sudoku-samples.txt --check "$@"
