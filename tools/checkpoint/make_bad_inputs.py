"""Writes damaged and hostile checkpoints into the folder given as the only argument; the Swift
tests check that each one is refused with a precise CheckpointError and never crashes."""
import collections
import json
import os
import pickle
import struct
import sys
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

torch = fixture_io.require_torch()


class RunsCommand:
    """What a malicious checkpoint carries: unpickling it calls os.system."""

    def __reduce__(self):
        return (os.system, ("echo this-must-never-run",))


class FakeStorage:
    def __init__(self, key, storage_class, numel):
        self.key, self.storage_class, self.numel = key, storage_class, numel


class FakeTensor:
    """Pickles like a tensor but with whatever size/stride/offset the test needs."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2,
                (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict()))


class StoragePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", obj.storage_class, obj.key, "cpu", obj.numel)
        return None


def fake_pickle(obj):
    import io
    buffer = io.BytesIO()
    StoragePickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def rewrite(source, target, drop=(), replace=None, compression=zipfile.ZIP_STORED):
    replace = replace or {}
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", compression=compression) as copy:
        for info in original.infolist():
            if info.filename.endswith(tuple(drop)):
                continue
            data = original.read(info.filename)
            for suffix, payload in replace.items():
                if info.filename.endswith(suffix):
                    data = payload
            copy.writestr(info.filename, data)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    path = lambda name: os.path.join(out, name)  # noqa: E731
    facts = {}

    good = collections.OrderedDict(w=torch.arange(12.0).reshape(3, 4), b=torch.ones(5, dtype=torch.float16))
    torch.save(good, path("good.pt"))

    # Hostile pickles.
    torch.save({"w": torch.ones(2), "payload": RunsCommand()}, path("reduce_system.pt"))
    facts["reduce_system_global"] = f"{os.system.__module__}.system"
    crafted = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00echoq\x01\x85q\x02Rq\x03."
    fixture_io.write_torch_zip(path("os_system.pt"), crafted, {})
    facts["os_system_offset"] = crafted.index(b"cos")
    stack_global = b"\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94\x8c\x011\x94\x85\x94R\x94."
    fixture_io.write_torch_zip(path("builtins_eval.pt"), stack_global, {})
    deep = b"\x80\x02" + b"]" * 200_000 + b"a" * 199_999 + b"."
    fixture_io.write_torch_zip(path("deep_list.pt"), deep, {})
    cycle = b"\x80\x02]q\x00h\x00a."  # a list that contains itself
    fixture_io.write_torch_zip(path("cycle.pt"), cycle, {})
    # One big memoized list fed to OrderedDict thousands of times: quadratic work if unbounded.
    amplify = b"\x80\x02ccollections\nOrderedDict\nq\x00]q\x01(" + b"X\x01\x00\x00\x00kN\x86" * 20000 + b"e0" + b"h\x00h\x01\x85R0" * 20000 + b"}."
    fixture_io.write_torch_zip(path("amplify.pt"), amplify, {})

    # Damaged archives.
    with open(path("good.pt"), "rb") as handle:
        data = handle.read()
    cuts = [10, len(data) // 3, len(data) // 2, len(data) - 200, len(data) - 30, len(data) - 1]
    for cut in cuts:
        with open(path(f"truncated_{cut}.pt"), "wb") as handle:
            handle.write(data[:cut])
    facts["truncated"] = [f"truncated_{cut}.pt" for cut in cuts]

    with zipfile.ZipFile(path("good.pt")) as archive:
        infos = archive.infolist()
    end = data.rindex(b"PK\x05\x06")
    directory = struct.unpack_from("<I", data, end + 16)[0]
    broken = bytearray(data)
    broken[directory:directory + 4] = b"XXXX"
    with open(path("cd_signature.pt"), "wb") as handle:
        handle.write(broken)
    facts["cd_signature_offset"] = directory
    broken = bytearray(data)
    struct.pack_into("<I", broken, directory + 42, len(data) - 10)  # local header offset of entry 0
    with open(path("cd_local_offset.pt"), "wb") as handle:
        handle.write(broken)
    broken = bytearray(data)
    struct.pack_into("<I", broken, end + 16, len(data) + 1000)  # central directory offset
    zip64 = data.rfind(b"PK\x06\x06")  # torch.save always writes the ZIP64 record too
    if zip64 >= 0:
        struct.pack_into("<Q", broken, zip64 + 48, len(data) + 1000)
    with open(path("cd_offset.pt"), "wb") as handle:
        handle.write(broken)
    pickle_member = next(info for info in infos if info.filename.endswith("data.pkl"))
    broken = bytearray(data)
    local = pickle_member.header_offset
    name_length, extra_length = struct.unpack_from("<HH", data, local + 26)
    start = local + 30 + name_length + extra_length
    broken[start + 10] ^= 0x20
    with open(path("pickle_crc.pt"), "wb") as handle:
        handle.write(broken)

    rewrite(path("good.pt"), path("missing_storage.pt"), drop=("/data/0",))
    rewrite(path("good.pt"), path("big_endian.pt"), replace={"/byteorder": b"big"})
    rewrite(path("good.pt"), path("deflated.pt"), compression=zipfile.ZIP_DEFLATED)

    storage = FakeStorage("0", torch.FloatStorage, 6)
    past_end = {"ok": FakeTensor(storage, 0, (2, 3), (3, 1)), "past_end": FakeTensor(storage, 2, (3, 2), (2, 1))}
    fixture_io.write_torch_zip(path("strides_past_storage.pt"), fake_pickle(past_end),
                               {"0": struct.pack("<6f", *range(6))})
    short = {"short": FakeTensor(FakeStorage("0", torch.FloatStorage, 8), 0, (8,), (1,))}
    fixture_io.write_torch_zip(path("storage_short.pt"), fake_pickle(short), {"0": struct.pack("<6f", *range(6))})
    complex_tensor = {"z": torch.zeros(2, dtype=torch.complex64)}
    torch.save(complex_tensor, path("complex.pt"))

    # Safetensors.
    header = {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 64]}}
    encoded = json.dumps(header).encode()
    with open(path("offsets_out_of_range.safetensors"), "wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)) + encoded + b"\x00" * 16)
    header = {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}}
    encoded = json.dumps(header).encode()
    with open(path("offsets_size_mismatch.safetensors"), "wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)) + encoded + b"\x00" * 16)
    with open(path("header_too_long.safetensors"), "wb") as handle:
        handle.write(struct.pack("<Q", 1 << 40) + b"{}")
    header = {"w": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}
    encoded = json.dumps(header).encode()
    with open(path("unsupported_dtype.safetensors"), "wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)) + encoded + b"\x00" * 2)

    # Not checkpoints at all.
    with open(path("notes.txt"), "w") as handle:
        handle.write("hidden_size: 512\nthis is not a checkpoint\n")
    open(path("empty.pt"), "wb").close()
    # Both writers may disappear from future torch versions; the tests skip what is absent.
    try:
        torch.save(good, path("legacy.pt"), _use_new_zipfile_serialization=False)
    except Exception as error:  # noqa: BLE001
        print(f"legacy format not written: {error}", file=sys.stderr)
    with zipfile.ZipFile(path("plain.zip"), "w") as archive:
        archive.writestr("readme.txt", "just a zip")
    try:
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path("scripted.pt"))
    except Exception as error:  # noqa: BLE001
        print(f"TorchScript archive not written: {error}", file=sys.stderr)

    with open(path("facts.json"), "w") as handle:
        json.dump(facts, handle, indent=1)


if __name__ == "__main__":
    main()
