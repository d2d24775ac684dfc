#!/usr/bin/env python3
"""Writes a GGUF file with gguf.GGUFWriter for Recur's reader to open.

  write_reference_file.py OUTDIR [SEED]

Creates OUTDIR/reference.gguf (alignment 64; metadata of every value type, unicode strings,
arrays and a nested array; random tensors of F32, F16, BF16, Q8_0, Q4_0, Q4_1 and I32 with 1 to
4 dimensions, quantized by gguf.quants.quantize) and OUTDIR/manifest.json describing it, with
each tensor's stored bytes (.bin) and gguf.quants.dequantize values (.deq.f32) beside it.
Prints "VERDICT: WROTE" on success.
"""
import json
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFValueType as V
from gguf import GGUFWriter, quants

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import manifest as mf  # noqa: E402

ALIGNMENT = 64

METADATA = [
    ("test.u8", 200, V.UINT8), ("test.i8", -100, V.INT8),
    ("test.u16", 60000, V.UINT16), ("test.i16", -30000, V.INT16),
    ("test.u32", 4_000_000_000, V.UINT32), ("test.i32", -2_000_000_000, V.INT32),
    ("test.f32", 0.1, V.FLOAT32), ("test.bool.true", True, V.BOOL), ("test.bool.false", False, V.BOOL),
    ("test.string", "Grüße, 世界 🧠 — ok", V.STRING),
    ("test.u64", 18_000_000_000_000_000_000, V.UINT64), ("test.i64", -9_000_000_000_000_000_000, V.INT64),
    ("test.f64", -1.0 / 3.0, V.FLOAT64),
]

ARRAYS = [
    ("test.array.i32", [1, -2, 3, 2_000_000_000], V.INT32),
    ("test.array.f32", [0.5, -1.25, 3.0e-8], V.FLOAT32),
    ("test.array.u8", [0, 7, 255], V.UINT8),
    ("test.array.string", ["a", "ünï", "", "日本語"], V.STRING),
    ("test.array.bool", [True, False, True], V.BOOL),
    ("test.array.f64", [1e300, -2.5], V.FLOAT64),
]

# name, PyTorch shape, type
TENSORS = [
    ("f32.vector", (64,), T.F32),
    ("f16.matrix", (8, 32), T.F16),
    ("bf16.cube", (2, 3, 32), T.BF16),
    ("q8_0.four", (2, 2, 3, 64), T.Q8_0),
    ("q4_0.matrix", (5, 96), T.Q4_0),
    ("q4_1.vector", (128,), T.Q4_1),
    ("q8_0.ragged", (37, 32), T.Q8_0),
    ("i32.vector", (10,), T.I32),
]


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    outdir = argv[1]
    rng = np.random.default_rng(int(argv[2]) if len(argv) == 3 else 7)
    path = os.path.join(outdir, "reference.gguf")
    writer = GGUFWriter(path, arch="recur-test")
    writer.add_custom_alignment(ALIGNMENT)
    metadata = [
        {"key": "general.architecture", "value": mf.encode(V.STRING, "recur-test")},
        {"key": "general.alignment", "value": mf.encode(V.UINT32, ALIGNMENT)},
    ]
    for key, value, vtype in METADATA:
        writer.add_key_value(key, value, vtype)
        metadata.append({"key": key, "value": mf.encode(vtype, value)})
    for key, values, vtype in ARRAYS:
        writer.add_key_value(key, values, V.ARRAY, sub_type=vtype)
        metadata.append({"key": key, "value": {"type": "ARRAY", "items": [mf.encode(vtype, v) for v in values]}})
    nested = [[1, 2], [3], [4, 5, 6]]
    writer.add_key_value("test.array.nested", nested, V.ARRAY)
    metadata.append({"key": "test.array.nested", "value": {"type": "ARRAY", "items": [
        {"type": "ARRAY", "items": [mf.encode(V.INT32, v) for v in inner]} for inner in nested]}})

    tensors = []
    for name, shape, qtype in TENSORS:
        values = (rng.standard_normal(shape) * rng.uniform(0.01, 4.0)).astype(np.float32)
        if qtype == T.F32:
            stored = values
        elif qtype == T.F16:
            stored = values.astype(np.float16)
        elif qtype == T.I32:
            stored = rng.integers(-2**31, 2**31, size=shape, dtype=np.int32)
        else:
            stored = quants.quantize(values, qtype)
        raw = np.ascontiguousarray(stored).view(np.uint8)
        if stored.dtype == np.uint8:
            writer.add_tensor(name, stored, raw_dtype=qtype)
        else:
            writer.add_tensor(name, stored)
        entry = {"name": name, "shape": list(shape), "type": qtype.name, "raw": f"{name}.bin"}
        raw.tofile(os.path.join(outdir, entry["raw"]))
        if qtype != T.I32:
            entry["dequantized"] = f"{name}.deq.f32"
            quants.dequantize(raw.reshape(1, -1), qtype).astype("<f4").tofile(os.path.join(outdir, entry["dequantized"]))
        tensors.append(entry)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with open(os.path.join(outdir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump({"alignment": ALIGNMENT, "metadata": metadata, "tensors": tensors}, f, ensure_ascii=False, indent=1)
    print("VERDICT: WROTE")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
