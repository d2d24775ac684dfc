#!/usr/bin/env bash
# Every test: kernels (each ISA tier this CPU has; the others are reported as skipped), GGUF and
# checkpoint readers, quantizers, conformance with the PyTorch reference and the official FP32
# predictions, language models, the HTTP server, and the CLI end to end; then a short run of every
# fuzz target (scripts/fuzz.sh --smoke: 15 s each, failing on any crash, leak or sanitizer report).
#
#   scripts/test.sh                 everything
#   scripts/test.sh --filter NAME   only the matching XCTest cases (no fuzzing)
#   scripts/test.sh --sanitize      the kernel and runtime tests under AddressSanitizer, then with
#                                   the C kernels under UBSan (builds in .build-address, .build-undefined)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --python --llm
if [ "${1:-}" = "--sanitize" ]; then
  shift
  # AddressSanitizer instruments Swift and C alike. Swift has no UndefinedBehaviorSanitizer (its
  # arithmetic and bounds are checked anyway), so UBSan covers the C kernels, in trap mode: any
  # undefined behaviour stops the test process at the faulting instruction.
  echo "test: CKernelsTests and RuntimeTests under AddressSanitizer" >&2
  swift build --build-tests --sanitize=address --scratch-path .build-address
  ASAN_OPTIONS="detect_leaks=0" swift test --skip-build --sanitize=address --scratch-path .build-address --filter "CKernelsTests|RuntimeTests" "$@"
  echo "test: CKernelsTests and RuntimeTests with the C kernels under UndefinedBehaviorSanitizer" >&2
  ubsan=(-Xcc -fsanitize=undefined -Xcc -fsanitize-trap=undefined)
  swift build --build-tests --scratch-path .build-undefined "${ubsan[@]}"
  swift test --skip-build --scratch-path .build-undefined "${ubsan[@]}" --filter "CKernelsTests|RuntimeTests" "$@"
  exit 0
fi
swift build --build-tests
swift test --skip-build "$@"
if [ $# -eq 0 ]; then
  scripts/fuzz.sh --smoke
fi
