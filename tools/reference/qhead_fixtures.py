"""Random halting heads of every kind and their outputs on random state sequences, for
Tests/QHeadTests (Swift runs the same heads and must match).

    python3 tools/reference/qhead_fixtures.py --out DIR [--hidden 64] [--batch 5] [--steps 16]

Writes DIR/<kind>.safetensors (the head's state_dict, export layout) and DIR/<kind>_ref.safetensors
(states f32 [B, T, H], q f32 [B, T, 2]) for linear, mlp (ReLU), mlp_silu, gru and attention.
"""
import argparse
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recur_reference.qheads import make_head  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--batch", type=int, default=5)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    variants = [("linear", "linear", {}), ("mlp", "mlp", {"activation": "relu"}), ("mlp_silu", "mlp", {"activation": "silu"}),
                ("gru", "gru", {}), ("attention", "attention", {})]
    for name, kind, kw in variants:
        head = make_head(kind, args.hidden, **kw)
        with torch.no_grad():
            for p in head.parameters():
                p.copy_(torch.randn_like(p) * (1.5 / max(p.shape[-1], 1) ** 0.5))
        # State sequences drift over steps like z_H does, so recurrent heads see related inputs.
        states = torch.cumsum(torch.randn(args.batch, args.steps, args.hidden) * 0.5, dim=1)
        with torch.no_grad():
            q = head(states)
        save_file({k: v.contiguous() for k, v in head.state_dict().items()}, os.path.join(args.out, f"{name}.safetensors"))
        save_file({"states": states.contiguous(), "q": q.contiguous()}, os.path.join(args.out, f"{name}_ref.safetensors"))
        print(name, tuple(q.shape))


if __name__ == "__main__":
    main()
