#!/usr/bin/env python3
"""Re-encode the block weights of a llama-family GGUF in another type with the `gguf` package's
own quantizers: every `blk.N.*.weight` matrix is dequantized to float32 and quantized again
(Q8_0 by default); the embedding, norms and metadata are copied as they are. For speed
comparisons on a second weight type of the same model (the issue's "Q8_0 requantization").

  requantize.py IN.gguf OUT.gguf [--type q8_0]
"""
import argparse
import os
import sys

try:
    import numpy as np
    import gguf
    from gguf.quants import dequantize, quantize
except ImportError as e:
    print(f"missing Python package: {e.name}", file=sys.stderr)
    sys.exit(77)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--type", default="q8_0", choices=["q8_0", "q4_0", "q4_1", "f16", "f32"])
    a = p.parse_args()
    if os.path.abspath(a.input) == os.path.abspath(a.output):
        sys.exit("the output must not be the input")
    target = gguf.GGMLQuantizationType[a.type.upper()]
    r = gguf.GGUFReader(a.input)
    arch = r.fields["general.architecture"].contents()
    tmp = a.output + ".partial"
    w = gguf.GGUFWriter(tmp, arch)
    for key, field in r.fields.items():
        if key.startswith("GGUF.") or key in ("general.architecture", "general.file_type"):
            continue
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            w.add_key_value(key, field.contents(), vtype, sub_type=field.types[-1])
        else:
            w.add_key_value(key, field.contents(), vtype)
    w.add_file_type({"q8_0": 7, "q4_0": 2, "q4_1": 3, "f16": 1, "f32": 0}[a.type])
    for t in r.tensors:
        shape = [int(x) for x in reversed(t.shape)]  # numpy order: rows first
        if t.name.startswith("blk.") and t.name.endswith(".weight") and len(shape) == 2:
            values = dequantize(t.data, t.tensor_type).reshape(shape).astype(np.float32)
            data = quantize(values, target) if target not in (gguf.GGMLQuantizationType.F32,) else values
            w.add_tensor(t.name, data, raw_shape=data.shape, raw_dtype=target)
        else:
            w.add_tensor(t.name, np.asarray(t.data), raw_shape=np.asarray(t.data).shape, raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, a.output)


if __name__ == "__main__":
    main()
