"""Shared helpers for the checkpoint fixture scripts (run by Tests/ExportTests/Checkpoint*.swift).

Exit status 77 means a Python dependency is missing; the Swift tests turn that into a skip
(or a failure when RECUR_REQUIRE_REFERENCE=1).
"""
import json
import os
import sys
import zipfile

MISSING_DEPENDENCY = 77


def require_torch():
    try:
        import torch  # noqa: F401
    except ImportError as error:
        print(f"torch not installed: {error}", file=sys.stderr)
        sys.exit(MISSING_DEPENDENCY)
    return torch


def dtype_name(dtype):
    return str(dtype).replace("torch.", "")


def tensor_record(torch, name, tensor, out_dir, stem, index, with_values=True):
    """Describes one tensor as torch sees it and dumps its expected values.

    `<stem>.<index>.f32` holds tensor.float() as contiguous little-endian float32 (what
    CheckpointTensor.floats() must return); `<stem>.<index>.raw` holds the contiguous bytes in the
    tensor's own dtype (what contiguousBytes() must return).
    """
    record = {
        "name": name,
        "dtype": dtype_name(tensor.dtype),
        "shape": list(tensor.shape),
        "strides": list(tensor.stride()),
        "offset": tensor.storage_offset(),
    }
    if with_values:
        values = f"{stem}.{index}.f32"
        raw = f"{stem}.{index}.raw"
        floats = tensor.detach().float().contiguous().reshape(-1).numpy().astype("<f4")
        with open(os.path.join(out_dir, values), "wb") as handle:
            handle.write(floats.tobytes())
        flat = tensor.detach().contiguous().reshape(-1)
        with open(os.path.join(out_dir, raw), "wb") as handle:
            handle.write(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
        record["values"] = values
        record["raw"] = raw
    return record


def write_expected(out_dir, stem, records, **extra):
    document = dict(extra)
    document["tensors"] = records
    with open(os.path.join(out_dir, stem + ".expected.json"), "w") as handle:
        json.dump(document, handle, indent=1)


def write_torch_zip(path, data_pkl, storages, prefix="archive", byteorder="little"):
    """A torch.save-shaped archive built by hand, for inputs torch.save refuses to produce."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{prefix}/data.pkl", data_pkl)
        if byteorder is not None:
            archive.writestr(f"{prefix}/byteorder", byteorder)
        for key, payload in storages.items():
            archive.writestr(f"{prefix}/data/{key}", payload)
        archive.writestr(f"{prefix}/version", "3\n")
