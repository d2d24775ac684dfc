#!/usr/bin/env bash
# The main job: build Recur, solve the sample Sudoku puzzles with the shipped default model, let
# the shipped recursive LM continue a verse (Q-head halting per token; its ACT steps on stderr),
# then fit the shipped rule-latent model's z on four examples of a rule and apply it to new input,
# and search for the function behind example rows whose junk columns it must ignore.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product recur >&2
.build/release/recur solve --input models/sudoku-samples.txt --check "$@"
echo
.build/release/recur generate -p "And God said unto Moses," -n 48 --temp 0
echo
examples="$(mktemp)"
trap 'rm -f "$examples"' EXIT
printf 'hello world\tHELLO WORLD\nabc def\tABC DEF\nquick fox\tQUICK FOX\nlazy dog\tLAZY DOG\n' > "$examples"
echo "rule from 4 examples (hello world -> HELLO WORLD, ...), applied to new input:"
.build/release/recur rules --examples "$examples" --query "make it loud" --query "tiny recursion"
echo
echo "search for the function behind models/nssr/experiment/KE.csv (columns m, corr, v; y = 0.5 m v^2):"
.build/release/recur nssr search --examples models/nssr/experiment/KE.csv
