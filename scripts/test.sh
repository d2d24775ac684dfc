#!/usr/bin/env bash
# Every test: kernels (each ISA tier this CPU has; the others are reported as skipped), GGUF and
# checkpoint readers, quantizers, conformance with the PyTorch reference and the official FP32
# predictions, and the CLI end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --python --llm
swift build --build-tests
swift test --skip-build "$@"
