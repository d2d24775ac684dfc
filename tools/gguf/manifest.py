"""The JSON manifest that Recur's GGUF interop tests exchange with the `gguf` package.

A manifest describes a GGUF file independently of either implementation:

  {"alignment": 32,
   "metadata": [{"key": K, "value": V}, ...],          # in file order
   "tensors": [{"name": N, "shape": [...],             # PyTorch order, outermost first
                "type": "Q8_0",
                "source": "x.f32",                    # optional: float32 values that were encoded
                "raw": "x.bin",                       # optional: the exact stored bytes
                "dequantized": "x.deq.f32"}, ...]}    # optional: float32 decoded values

V is {"type": "UINT8".."INT64", "value": "<decimal>"}, {"type": "FLOAT32"/"FLOAT64",
"bits": "<hex>"}, {"type": "BOOL", "value": true}, {"type": "STRING", "value": "..."} or
{"type": "ARRAY", "items": [V, ...]}. Integers are decimal strings and floats bit patterns so
that nothing is lost to JSON's doubles.
"""
import struct

from gguf import GGUFValueType

INT_FORMATS = {
    "UINT8": "<B", "INT8": "<b", "UINT16": "<H", "INT16": "<h", "UINT32": "<I", "INT32": "<i",
    "UINT64": "<Q", "INT64": "<q",
}


def encode(value_type, value):
    """Manifest entry for a Python value stored as `value_type` (a GGUFValueType)."""
    name = value_type.name
    if name in INT_FORMATS:
        return {"type": name, "value": str(int(value))}
    if name == "FLOAT32":
        return {"type": name, "bits": struct.pack("<f", value)[::-1].hex()}
    if name == "FLOAT64":
        return {"type": name, "bits": struct.pack("<d", value)[::-1].hex()}
    if name == "BOOL":
        return {"type": name, "value": bool(value)}
    if name == "STRING":
        return {"type": name, "value": value}
    raise ValueError(f"encode() takes scalars; got {name}")


def leaf_bytes(entry):
    """The exact bytes a scalar manifest entry is stored as in a GGUF file (strings: UTF-8 only)."""
    kind = entry["type"]
    if kind in INT_FORMATS:
        return struct.pack(INT_FORMATS[kind], int(entry["value"]))
    if kind in ("FLOAT32", "FLOAT64"):
        return bytes.fromhex(entry["bits"])[::-1]
    if kind == "BOOL":
        return b"\x01" if entry["value"] else b"\x00"
    if kind == "STRING":
        return entry["value"].encode("utf-8")
    raise ValueError(f"not a scalar: {kind}")


def leaves(entry):
    """Scalars of an entry in storage order, nested arrays flattened (as GGUFReader does)."""
    if entry["type"] == "ARRAY":
        out = []
        for item in entry["items"]:
            out.extend(leaves(item))
        return out
    return [entry]


def type_chain(entry):
    """GGUFReader's `types` list for a field: ARRAY types down the first elements, then the leaf."""
    kind = GGUFValueType[entry["type"]]
    if entry["type"] == "ARRAY" and entry["items"]:
        return [kind] + type_chain(entry["items"][0])
    return [kind]
