#!/usr/bin/env python3
"""Dump intermediate tensors of one sample to a safetensors file, to find where a port diverges.

Names (all float32 unless noted; s = ACT step, states are [positions, hidden] for the one sample):
  inputs (int32), puzzle_identifiers (int32)
  step0.z_H.reset, step0.z_L.reset       states after the reset to H_init / L_init
  step0.input_embeddings                 sqrt(hidden) * [puzzle rows ; token embeddings] (+ learned positions)
  step0.call0.layer<i>.mixer             first stack call, layer i: attention (or mlp_t) output before residual
  step0.call0.layer<i>.mlp               first stack call, layer i: channel MLP output before residual
  step0.call0.layer<i>                   first stack call, layer i output
  step0.z_L.h<h>.l<l>, step0.z_H.h<h>    states after every stack call of the first ACT step
  step<s>.z_H, step<s>.z_L               states after ACT step s
  step<s>.logits [seq, vocab], step<s>.q_halt, step<s>.q_continue  ([1] each)
"""
import argparse
import os
import sys

import torch
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(REPO, "..", "shared")
sys.path.insert(0, HERE)

from recur_reference import load_model, load_sudoku  # noqa: E402


def hook_first_call(model, trace):
    """Record per-layer values of the first L_level call only."""
    handles = []
    seen = set()
    for i, layer in enumerate(model.inner.L_level.layers):
        mixer = layer.mlp_t if layer.use_mlp_t else layer.self_attn
        for part, module in (("mixer", mixer), ("mlp", layer.mlp), ("", layer)):
            name = f"step0.call0.layer{i}" + (f".{part}" if part else "")

            def hook(_m, _inp, out, name=name, transpose=(part == "mixer" and layer.use_mlp_t)):
                if name not in seen:
                    seen.add(name)
                    trace[name] = (out.transpose(1, 2) if transpose else out)[0].clone()
            handles.append(module.register_forward_hook(hook))
    return handles


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=os.path.join(SHARED, "checkpoints", "trm-sudoku-att"))
    p.add_argument("--data", default=os.path.join(SHARED, "data", "sudoku_eval_2000.txt"),
                   help="sudoku text file (used unless --fixture is given)")
    p.add_argument("--fixture", help="a make_fixtures.py variant directory: use its checkpoint and inputs")
    p.add_argument("--index", type=int, default=0, help="which puzzle / fixture sample")
    p.add_argument("--steps", type=int, default=1, help="ACT steps to run")
    p.add_argument("--out", required=True, help="output .safetensors")
    args = p.parse_args()
    torch.set_num_threads(2)

    if args.fixture:
        ref = load_file(os.path.join(args.fixture, "reference.safetensors"))
        inputs = ref["inputs"][args.index:args.index + 1]
        pids = ref["puzzle_identifiers"][args.index:args.index + 1]
        model, cfg, _ = load_model(args.fixture, seq_len=inputs.shape[1])
    else:
        all_inputs, _ = load_sudoku(args.data, args.index + 1)
        inputs = all_inputs[args.index:args.index + 1]
        pids = torch.zeros(1, dtype=torch.int32)
        model, cfg, _ = load_model(args.checkpoint, seq_len=81)

    tensors = {"inputs": inputs[0].contiguous(), "puzzle_identifiers": pids.contiguous()}
    with torch.no_grad():
        carry = model.initial_carry(inputs, pids)
        for s in range(args.steps):
            trace = {} if s == 0 else None
            handles = hook_first_call(model, tensors) if s == 0 else []
            if s == 0:
                z_H, z_L = model.inner.reset(carry.halted, carry.z_H, carry.z_L)
                tensors["step0.z_H.reset"], tensors["step0.z_L.reset"] = z_H[0].clone(), z_L[0].clone()
            carry, logits, q_halt, q_continue = model.step(carry, inputs, pids, trace=trace)
            for h in handles:
                h.remove()
            if trace is not None:
                for k, v in trace.items():
                    tensors[f"step0.{k}"] = v[0].clone()
            tensors[f"step{s}.z_H"], tensors[f"step{s}.z_L"] = carry.z_H[0].clone(), carry.z_L[0].clone()
            tensors[f"step{s}.logits"] = logits[0].clone()
            tensors[f"step{s}.q_halt"], tensors[f"step{s}.q_continue"] = q_halt.clone(), q_continue.clone()
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    save_file(tensors, args.out, metadata={"family": cfg.family, "puzzle_emb_len": str(cfg.puzzle_emb_len)})
    for k in tensors:
        print(f"{k:28} {list(tensors[k].shape)}")
    print(f"wrote {len(tensors)} tensors to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
