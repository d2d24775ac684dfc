#!/usr/bin/env python3
"""Checks that the PyTorch baseline of `recur bench` runs the same network as the checkpoint.

Loads an F32 GGUF written by `recur export` through recur_reference.gguf_model and the official
checkpoint it came from through recur_reference.checkpoint, runs both for a few ACT steps on the
same puzzles and prints the largest logit and Q-logit differences as JSON. Exit 1 above --tol.

    python3 tools/reference/check_gguf_loader.py --gguf trm-f32.gguf --checkpoint DIR [--puzzles N --steps S]
"""
import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from recur_reference import load_model, load_sudoku, run_steps  # noqa: E402
from recur_reference.gguf_model import load_gguf  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gguf", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--puzzles", type=int, default=2)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--tol", type=float, default=1e-4)
    args = p.parse_args()
    torch.manual_seed(0)
    from_gguf, _ = load_gguf(args.gguf)
    from_ckpt, _, _ = load_model(args.checkpoint, seq_len=81)
    inputs, _ = load_sudoku(args.data, args.puzzles)
    pids = torch.zeros(inputs.shape[0], dtype=torch.int32)
    with torch.no_grad():
        a = run_steps(from_gguf, inputs, pids, args.steps)
        b = run_steps(from_ckpt, inputs, pids, args.steps)
    result = {}
    for key in a:
        diffs = [float((x - y).abs().max()) for x, y in zip(a[key], b[key])]
        result[key] = max(diffs)
    print(json.dumps(result))
    return 0 if all(v <= args.tol for v in result.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
