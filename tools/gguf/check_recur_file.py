#!/usr/bin/env python3
"""Opens a GGUF file written by Recur with gguf.GGUFReader and checks it against a manifest.

  check_recur_file.py MANIFEST.json FILE.gguf

Checks metadata keys (order, value types, exact stored bytes), tensor names, shapes and types,
that the stored bytes equal gguf.quants.quantize of the manifest's source floats, and that
gguf.quants.dequantize of the stored bytes equals, bit for bit, what Recur decoded. Prints
"VERDICT: PASS" or "VERDICT: FAIL" after one line per problem.
"""
import json
import os
import sys
import warnings

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, quants

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import manifest as mf  # noqa: E402


def check_metadata(reader, expected, problems):
    fields = [f for name, f in reader.fields.items() if not name.startswith("GGUF.")]
    got_keys = [f.name for f in fields]
    want_keys = [m["key"] for m in expected]
    if got_keys != want_keys:
        problems.append(f"metadata keys {got_keys} != {want_keys}")
        return
    for field, item in zip(fields, expected):
        value = item["value"]
        if list(field.types) != mf.type_chain(value):
            problems.append(f"{field.name}: types {[t.name for t in field.types]} != {[t.name for t in mf.type_chain(value)]}")
            continue
        want = mf.leaves(value)
        got = [bytes(field.parts[i].tobytes()) for i in field.data] if value["type"] == "ARRAY" else [bytes(field.parts[-1].tobytes())]
        if value["type"] == "ARRAY" and not value["items"]:
            got = []
        if got != [mf.leaf_bytes(w) for w in want]:
            problems.append(f"{field.name}: stored bytes {got[:6]} != {[mf.leaf_bytes(w) for w in want][:6]}")
        if value["type"] == "STRING" and field.contents() != value["value"]:
            problems.append(f"{field.name}: contents {field.contents()!r} != {value['value']!r}")


def check_tensors(reader, expected, folder, problems):
    tensors = {t.name: t for t in reader.tensors}
    if [t.name for t in reader.tensors] != [t["name"] for t in expected]:
        problems.append(f"tensor names {[t.name for t in reader.tensors]} != {[t['name'] for t in expected]}")
        return
    for want in expected:
        t = tensors[want["name"]]
        qtype = GGMLQuantizationType[want["type"]]
        shape = [int(d) for d in reversed(t.shape.tolist())]
        if t.tensor_type != qtype:
            problems.append(f"{t.name}: type {t.tensor_type.name} != {qtype.name}")
        if shape != want["shape"]:
            problems.append(f"{t.name}: shape {shape} != {want['shape']}")
        if t.n_elements != int(np.prod(want["shape"])):
            problems.append(f"{t.name}: {t.n_elements} elements")
        raw = np.frombuffer(t.data.tobytes(), dtype=np.uint8)
        if "source" in want:
            source = np.fromfile(os.path.join(folder, want["source"]), dtype="<f4").reshape(want["shape"])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                reference = np.ascontiguousarray(quants.quantize(source, qtype)).view(np.uint8).ravel()
            if not np.array_equal(reference, raw):
                first = int(np.nonzero(reference != raw)[0][0]) if reference.size == raw.size else -1
                problems.append(f"{t.name}: stored bytes differ from gguf.quants.quantize (first at byte {first})")
        if "dequantized" in want:
            recur = np.fromfile(os.path.join(folder, want["dequantized"]), dtype="<f4")
            ours = quants.dequantize(raw.reshape(1, -1), qtype).astype("<f4").ravel()
            if not np.array_equal(recur.view(np.uint32), ours.view(np.uint32)):
                problems.append(f"{t.name}: gguf.quants.dequantize differs from Recur's decoding")
            if "source" in want:
                source = np.fromfile(os.path.join(folder, want["source"]), dtype="<f4")
                scale = float(np.abs(source).max()) if source.size else 0.0
                bound = {"F32": 0.0, "F16": 1e-3, "BF16": 8e-3, "Q8_0": 1e-2, "Q4_0": 0.2, "Q4_1": 0.1}[qtype.name]
                err = float(np.abs(ours - source).max()) if source.size else 0.0
                if err > bound * scale:
                    problems.append(f"{t.name}: max error {err} exceeds {bound} x {scale}")


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        expected = json.load(f)
    folder = os.path.dirname(os.path.abspath(argv[1]))
    problems = []
    try:
        reader = GGUFReader(argv[2])
    except Exception as error:  # the verdict must name any reader failure
        print(f"GGUFReader failed: {error!r}")
        print("VERDICT: FAIL")
        return 1
    if reader.alignment != expected["alignment"]:
        problems.append(f"alignment {reader.alignment} != {expected['alignment']}")
    check_metadata(reader, expected["metadata"], problems)
    check_tensors(reader, expected["tensors"], folder, problems)
    for problem in problems:
        print(problem)
    print("VERDICT: " + ("FAIL" if problems else "PASS"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
