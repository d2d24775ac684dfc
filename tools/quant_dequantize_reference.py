#!/usr/bin/env python3
"""Dequantize ggml blocks with the `gguf` package, the reference for Recur's block formats.

Usage: quant_dequantize_reference.py TYPE IN OUT
  TYPE: Q8_0 | Q4_0 | Q4_1; IN: raw blocks in the file layout; OUT: float32 little-endian values.
Exit code 77 if the gguf package (or numpy) is not installed, so callers can skip.
"""
import sys

try:
    import numpy as np
    from gguf import GGMLQuantizationType, quants
except ImportError as error:  # the caller decides whether that is a skip or a failure
    print(f"gguf not installed: {error}", file=sys.stderr)
    sys.exit(77)


def main() -> None:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    qtype = GGMLQuantizationType[sys.argv[1]]
    data = np.fromfile(sys.argv[2], dtype=np.uint8)
    values = quants.dequantize(data, qtype).astype("<f4")
    values.tofile(sys.argv[3])


if __name__ == "__main__":
    main()
