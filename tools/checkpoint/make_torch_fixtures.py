"""Writes torch.save checkpoints covering the layouts a state_dict can have, with what torch.load
reports for each tensor, into the folder given as the only argument."""
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

torch = fixture_io.require_torch()


def tensors():
    generator = torch.Generator().manual_seed(1234)

    def randn(*shape, dtype=torch.float32):
        return torch.randn(*shape, generator=generator).to(dtype)

    shared = randn(24)
    table = collections.OrderedDict()
    table["model.inner.w32"] = randn(4, 6)
    table["model.inner.w16"] = randn(3, 5, dtype=torch.float16)
    table["model.inner.H_init"] = randn(7, dtype=torch.bfloat16)
    table["model.inner.transposed"] = randn(5, 3).t()
    table["model.inner.bf16_transposed"] = randn(4, 3, dtype=torch.bfloat16).t()
    table["model.inner.shared_base"] = shared
    table["model.inner.view_offset"] = shared[4:16].view(3, 4)
    table["model.inner.view_strided"] = shared[2:20:3]
    table["model.inner.scalar"] = torch.tensor(3.25)
    table["model.inner.steps"] = torch.arange(-6, 6, dtype=torch.int64) * 123_456_789_013
    table["model.inner.f64"] = randn(2, 3, dtype=torch.float64) * 1e-3
    table["model.inner.i32"] = torch.tensor([-(2 ** 31), -1, 0, 2 ** 31 - 1], dtype=torch.int32)
    table["model.inner.i16"] = torch.tensor([-32768, 7, 32767], dtype=torch.int16)
    table["model.inner.i8"] = torch.tensor([-128, -1, 5, 127], dtype=torch.int8)
    table["model.inner.u8"] = torch.tensor([0, 1, 200, 255], dtype=torch.uint8)
    table["model.inner.mask"] = torch.tensor([[True, False], [False, True]])
    table["model.inner.empty"] = torch.zeros(0, 4)
    table["model.inner.half_specials"] = torch.tensor(
        [0.0, -0.0, 6e-8, -6e-8, 65504.0, float("inf"), float("-inf"), 1e-5], dtype=torch.float16)
    return table


def save(out_dir, stem, obj, records_from, **save_options):
    torch.save(obj, os.path.join(out_dir, stem), **save_options)
    # The files are our own, so the full unpickler may read them (protocol 4 needs it).
    loaded = torch.load(os.path.join(out_dir, stem), map_location="cpu", weights_only=False)
    source = records_from(loaded)
    records = [fixture_io.tensor_record(torch, name, tensor, out_dir, stem, index)
               for index, (name, tensor) in enumerate(source.items())]
    fixture_io.write_expected(out_dir, stem, records)


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    table = tensors()
    itself = lambda loaded: loaded  # noqa: E731

    save(out_dir, "plain.pt", table, itself)
    compiled = collections.OrderedDict(("_orig_mod." + name, tensor) for name, tensor in table.items())
    save(out_dir, "compiled.pt", compiled, itself)
    save(out_dir, "protocol4.pt", table, itself, pickle_protocol=4)

    module = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.LayerNorm(4), torch.nn.BatchNorm1d(4))
    save(out_dir, "module.pt", module.state_dict(), itself)

    parameters = {"p": torch.nn.Parameter(torch.ones(2, 3) * 0.5), "q": torch.nn.Parameter(torch.arange(4.0), requires_grad=False)}
    save(out_dir, "parameters.pt", parameters, itself)

    nested = {
        "step": 10,
        "name": "run",
        "blob": b"\x00\x01\xff",
        "ratio": 0.25,
        "flags": {True, False},
        "optimizer": {"lr": 3e-4, "betas": (0.9, 0.95), "state": {}},
        "model": compiled,
    }
    save(out_dir, "nested.pt", nested, lambda loaded: loaded["model"])


if __name__ == "__main__":
    main()
