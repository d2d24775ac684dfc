"""Describes a checkpoint the way torch.load sees it: usage `dump_checkpoint.py CKPT OUT_DIR [NAME...]`.

Writes OUT_DIR/checkpoint.expected.json with every tensor's name, dtype, shape, strides and
storage offset in torch.load order, and the values of the named tensors (all when none are named).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

torch = fixture_io.require_torch()


def main():
    checkpoint, out_dir, wanted = sys.argv[1], sys.argv[2], set(sys.argv[3:])
    os.makedirs(out_dir, exist_ok=True)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if not any(isinstance(value, torch.Tensor) for value in state.values()):
        for key in ("state_dict", "model_state_dict", "model", "module", "ema", "net"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    records = []
    for index, (name, tensor) in enumerate(state.items()):
        if not isinstance(tensor, torch.Tensor):
            continue
        records.append(fixture_io.tensor_record(torch, name, tensor, out_dir, "checkpoint", index,
                                                with_values=not wanted or name in wanted))
    fixture_io.write_expected(out_dir, "checkpoint", records)


if __name__ == "__main__":
    main()
