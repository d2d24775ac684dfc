"""Writes safetensors files with every dtype Recur reads, plus what torch holds for each tensor,
into the folder given as the only argument.

Uses the PyPI `safetensors` package when it is installed; otherwise a small writer below that
follows the format description (8-byte little-endian header length, JSON header, data). The
expected file records which writer was used.
"""
import collections
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

torch = fixture_io.require_torch()

CODES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def handwritten_save(table, path, metadata):
    header = {"__metadata__": metadata}
    chunks = []
    offset = 0
    for name, tensor in table.items():
        data = tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b""
        header[name] = {"dtype": CODES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)))
        handle.write(encoded)
        for chunk in chunks:
            handle.write(chunk)


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    generator = torch.Generator().manual_seed(99)
    table = collections.OrderedDict()
    table["embed.weight"] = torch.randn(5, 8, generator=generator)
    table["half"] = torch.randn(3, 4, generator=generator).half()
    table["H_init"] = torch.randn(8, generator=generator).bfloat16()
    table["double"] = torch.randn(2, 2, generator=generator).double()
    table["counter"] = torch.tensor([-(2 ** 40), 0, 2 ** 40 + 1], dtype=torch.int64)
    table["i32"] = torch.tensor([-7, 7], dtype=torch.int32)
    table["i16"] = torch.tensor([-300, 300], dtype=torch.int16)
    table["i8"] = torch.tensor([-100, 100], dtype=torch.int8)
    table["u8"] = torch.tensor([3, 250], dtype=torch.uint8)
    table["mask"] = torch.tensor([True, False, True])
    table["scalar"] = torch.tensor(-1.5)
    metadata = {"format": "pt", "source": "recur-test"}

    path = os.path.join(out_dir, "model.safetensors")
    try:
        from safetensors.torch import save_file
        save_file(table, path, metadata=metadata)
        writer = "safetensors " + __import__("safetensors").__version__
    except ImportError:
        handwritten_save(table, path, metadata)
        writer = "handwritten"

    # What the file holds, read back by the writer's own reader where there is one.
    try:
        from safetensors.torch import load_file
        loaded = load_file(path)
    except ImportError:
        loaded = table
    records = [fixture_io.tensor_record(torch, name, loaded[name], out_dir, "model.safetensors", index)
               for index, name in enumerate(table)]
    fixture_io.write_expected(out_dir, "model.safetensors", records, writer=writer, metadata=metadata)

    # The hand-written writer always runs too, so both code paths of a writer are read by the tests.
    handwritten_save(table, os.path.join(out_dir, "handwritten.safetensors"), metadata)
    records = [fixture_io.tensor_record(torch, name, tensor, out_dir, "handwritten.safetensors", index)
               for index, (name, tensor) in enumerate(table.items())]
    fixture_io.write_expected(out_dir, "handwritten.safetensors", records, writer="handwritten", metadata=metadata)


if __name__ == "__main__":
    main()
