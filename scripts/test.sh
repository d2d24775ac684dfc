#!/usr/bin/env bash
# Every test: kernels (each ISA tier this CPU has; the others are reported as skipped), GGUF and
# checkpoint readers, quantizers, conformance with the PyTorch reference and the official FP32
# predictions, language models, the HTTP server, and the CLI end to end; then a short run of every
# fuzz target (scripts/fuzz.sh --smoke: 15 s each, failing on any crash, leak or sanitizer report).
#
#   scripts/test.sh                 everything
#   scripts/test.sh --filter NAME   only the matching XCTest cases (no fuzzing)
#   scripts/test.sh --sanitize      the kernel and runtime tests under AddressSanitizer, then
#                                   UndefinedBehaviorSanitizer (builds in .build-address, .build-undefined)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --python --llm
if [ "${1:-}" = "--sanitize" ]; then
  shift
  for sanitizer in address undefined; do
    echo "test: CKernelsTests and RuntimeTests under --sanitize=$sanitizer" >&2
    swift build --build-tests --sanitize="$sanitizer" --scratch-path ".build-$sanitizer"
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" ASAN_OPTIONS="detect_leaks=0" \
      swift test --skip-build --sanitize="$sanitizer" --scratch-path ".build-$sanitizer" --filter "CKernelsTests|RuntimeTests" "$@"
  done
  exit 0
fi
swift build --build-tests
swift test --skip-build "$@"
if [ $# -eq 0 ]; then
  scripts/fuzz.sh --smoke
fi
