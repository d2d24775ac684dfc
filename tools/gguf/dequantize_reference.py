#!/usr/bin/env python3
"""Reference dequantization of ggml block types Recur only reads (Q5_0, Q5_1, Q4_K, Q5_K, Q6_K),
and of every BF16 bit pattern, by the `gguf` Python package, for Recur's bit-identity tests.

  dequantize_reference.py write OUTDIR [SEED]
      Writes OUTDIR/reference.gguf with gguf.GGUFWriter: tensors of random blocks (random bytes,
      with every fp16 scale field set to a random finite half, so no NaN or Inf can appear), in
      ragged shapes, plus a BF16 tensor holding all 65536 bit patterns. For each tensor writes
      OUTDIR/NAME.deq.f32 with gguf.quants.dequantize of its bytes, and OUTDIR/manifest.json
      listing name, shape (PyTorch order), type and the .deq.f32 file.
  dequantize_reference.py read FILE.gguf OUTDIR
      Opens FILE.gguf with gguf.GGUFReader and writes OUTDIR/NAME.deq.f32 with
      gguf.quants.dequantize of each tensor's stored bytes, and OUTDIR/manifest.json as above,
      so a file Recur wrote is decoded by the reference's reader as well as its dequantizer.

Exits 77 when gguf or numpy is missing. Prints a last line "VERDICT: OK" on success.
"""
import json
import os
import sys

try:
    import numpy as np
    from gguf import GGML_QUANT_SIZES, GGUFReader, GGUFWriter, quants
    from gguf import GGMLQuantizationType as T
except ImportError as error:  # the Swift tests read 77 as "reference unavailable"
    print(f"missing Python package: {error}", file=sys.stderr)
    sys.exit(77)

# Byte offsets of the fp16 fields in one block (ggml-common.h): d, and dmin or m where present.
HALF_FIELDS = {
    T.Q5_0: [0],
    T.Q5_1: [0, 2],
    T.Q4_K: [0, 2],
    T.Q5_K: [0, 2],
    T.Q6_K: [208],
}

# name, PyTorch shape, type. K-quant rows of 256, 512 and 1536 elements; 5-bit rows of 32 to 1536.
TENSORS = [
    ("q4_k.rows", (3, 256), T.Q4_K),
    ("q4_k.wide", (2, 1536), T.Q4_K),
    ("q4_k.cube", (2, 3, 512), T.Q4_K),
    ("q5_k.rows", (4, 256), T.Q5_K),
    ("q5_k.wide", (3, 1536), T.Q5_K),
    ("q5_k.vector", (512,), T.Q5_K),
    ("q6_k.rows", (5, 256), T.Q6_K),
    ("q6_k.wide", (2, 1536), T.Q6_K),
    ("q6_k.four", (2, 1, 2, 512), T.Q6_K),
    ("q5_0.rows", (7, 32), T.Q5_0),
    ("q5_0.wide", (3, 1536), T.Q5_0),
    ("q5_1.rows", (5, 96), T.Q5_1),
    ("q5_1.wide", (2, 1536), T.Q5_1),
]


def random_halves(rng, count):
    """Finite fp16 bit patterns of every sign and exponent (zeros and subnormals included)."""
    sign = rng.integers(0, 2, size=count, dtype=np.uint16) << 15
    exponent = rng.integers(0, 31, size=count, dtype=np.uint16) << 10  # 31 would be Inf or NaN
    mantissa = rng.integers(0, 1024, size=count, dtype=np.uint16)
    return (sign | exponent | mantissa).astype("<u2")


def random_blocks(rng, shape, qtype):
    """Random stored bytes for a tensor of `shape`, as the (rows, row bytes) uint8 array."""
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    blocks = rows * shape[-1] // block_size
    raw = rng.integers(0, 256, size=(blocks, type_size), dtype=np.uint8)
    for offset in HALF_FIELDS[qtype]:
        raw[:, offset:offset + 2] = random_halves(rng, blocks).view(np.uint8).reshape(blocks, 2)
    return raw.reshape(rows, -1)


def write(outdir, seed):
    rng = np.random.default_rng(seed)
    writer = GGUFWriter(os.path.join(outdir, "reference.gguf"), arch="recur-test")
    entries = []

    def add(name, shape, qtype, stored, raw):
        # gguf takes quantized tensors as uint8 arrays of (..., row bytes) plus raw_dtype.
        if qtype == T.BF16:
            writer.add_tensor(name, stored, raw_shape=shape, raw_dtype=T.BF16)
        else:
            writer.add_tensor(name, stored.reshape(*shape[:-1], -1), raw_dtype=qtype)
        decoded = quants.dequantize(raw, qtype).astype("<f4")
        decoded.tofile(os.path.join(outdir, f"{name}.deq.f32"))
        entries.append({"name": name, "shape": list(shape), "type": qtype.name, "dequantized": f"{name}.deq.f32"})

    for name, shape, qtype in TENSORS:
        raw = random_blocks(rng, shape, qtype)
        add(name, shape, qtype, raw, raw)
        if not np.isfinite(quants.dequantize(raw, qtype)).all():
            raise SystemExit(f"{name}: finite scales gave a non-finite value")
    # Every BF16 bit pattern: zeros, subnormals, infinities and NaN payloads must come through.
    patterns = np.arange(65536, dtype=np.uint32).astype("<u2")
    add("bf16.every", (256, 256), T.BF16, patterns.reshape(256, 256), patterns.view(np.uint8).reshape(256, -1))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with open(os.path.join(outdir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump({"tensors": entries}, f, indent=1)


def read(path, outdir):
    entries = []
    for tensor in GGUFReader(path).tensors:
        qtype = T(int(tensor.tensor_type))
        raw = np.ascontiguousarray(tensor.data).view(np.uint8).reshape(1, -1)
        decoded = quants.dequantize(raw, qtype).astype("<f4")
        decoded.tofile(os.path.join(outdir, f"{tensor.name}.deq.f32"))
        shape = [int(n) for n in reversed(tensor.shape.tolist())]  # the reader gives ggml order
        entries.append({"name": tensor.name, "shape": shape, "type": qtype.name, "dequantized": f"{tensor.name}.deq.f32"})
    with open(os.path.join(outdir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump({"tensors": entries}, f, indent=1)


def main(argv):
    if len(argv) in (3, 4) and argv[1] == "write":
        write(argv[2], int(argv[3]) if len(argv) == 4 else 5)
    elif len(argv) == 4 and argv[1] == "read":
        read(argv[2], argv[3])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print("VERDICT: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
