#!/usr/bin/env python3
"""Reference encodings from the `gguf` Python package, for Recur's byte-identity tests.

  quant_reference.py quantize IN.f32 COLS OUTDIR TYPE...
      IN.f32 holds little-endian float32 values, read as a (-1, COLS) matrix. For each TYPE
      (F16, BF16, Q8_0, Q4_0, Q4_1, F32) writes OUTDIR/TYPE.bin with gguf.quants.quantize's
      bytes and OUTDIR/TYPE.deq.f32 with gguf.quants.dequantize of those bytes.
  quant_reference.py dequantize IN.bin TYPE OUT.f32
      Dequantizes raw bytes of TYPE (one row) with gguf.quants.dequantize.
  quant_reference.py sizes
      Prints ggml's type table as JSON: {name: [id, block_size, type_size]}.

Prints a last line "VERDICT: OK" on success.
"""
import json
import sys
import warnings

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, quants


def quantize(path_in, cols, outdir, names):
    values = np.fromfile(path_in, dtype="<f4").reshape(-1, int(cols))
    for name in names:
        qtype = GGMLQuantizationType[name]
        with warnings.catch_warnings():
            # Overflowing or NaN blocks raise "invalid value in cast": that is the behaviour under test.
            warnings.simplefilter("ignore", RuntimeWarning)
            encoded = quants.quantize(values, qtype)
        raw = np.ascontiguousarray(encoded).view(np.uint8).reshape(values.shape[0], -1)
        raw.tofile(f"{outdir}/{name}.bin")
        decoded = quants.dequantize(raw, qtype).astype("<f4")
        decoded.tofile(f"{outdir}/{name}.deq.f32")


def dequantize(path_in, name, path_out):
    qtype = GGMLQuantizationType[name]
    raw = np.fromfile(path_in, dtype=np.uint8).reshape(1, -1)
    quants.dequantize(raw, qtype).astype("<f4").tofile(path_out)


def sizes():
    table = {t.name: [int(t.value), bs, ts] for t, (bs, ts) in GGML_QUANT_SIZES.items()}
    print(json.dumps(table))


def main(argv):
    if len(argv) >= 5 and argv[1] == "quantize":
        quantize(argv[2], argv[3], argv[4], argv[5:])
    elif len(argv) == 5 and argv[1] == "dequantize":
        dequantize(argv[2], argv[3], argv[4])
    elif len(argv) == 2 and argv[1] == "sizes":
        sizes()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print("VERDICT: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
