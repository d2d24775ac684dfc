#!/usr/bin/env python3
"""Check the reference against outputs of the official TRM code on the shared sudoku checkpoint.

Runs fixed-step ACT evaluation (no halting) in float32 on CPU and compares, per step, the
predicted digits (argmax(logits) - 1 over the 81 cells) and the Q-head logits with the recorded
official outputs. Exits 1 on any token mismatch.
"""
import argparse
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(REPO, "..", "shared")
sys.path.insert(0, HERE)

from recur_reference import load_model, load_sudoku, run_steps  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--checkpoint", default=os.path.join(SHARED, "checkpoints", "trm-sudoku-att"))
    p.add_argument("--data", default=os.path.join(SHARED, "data", "sudoku_eval_2000.txt"))
    p.add_argument("--expected", default=os.path.join(SHARED, "data", "sudoku_eval_200_official_fp32.json"))
    p.add_argument("--limit", type=int, default=200, help="number of puzzles (from the start of the file)")
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    model, cfg, prefix = load_model(args.checkpoint, seq_len=81)
    with open(args.expected) as f:
        expected = json.load(f)
    n_expected = len(expected["preds"][0])
    limit = min(args.limit, n_expected)
    steps = min(args.steps, len(expected["preds"]))
    inputs, _ = load_sudoku(args.data, limit)
    pids = torch.zeros(inputs.shape[0], dtype=torch.int32)
    print(f"checkpoint: {os.path.basename(os.path.normpath(args.checkpoint))} (prefix {prefix!r}), "
          f"{cfg.family} hidden {cfg.hidden_size}, vocab {cfg.vocab_size}, puzzles {limit}, steps {steps}, "
          f"threads {args.threads}, batch {args.batch}")

    t0 = time.time()
    preds = [[] for _ in range(steps)]
    q_halt = [[] for _ in range(steps)]
    q_cont = [[] for _ in range(steps)]
    for start in range(0, limit, args.batch):
        out = run_steps(model, inputs[start:start + args.batch], pids[start:start + args.batch], steps)
        for s in range(steps):
            preds[s].append(out["logits"][s].argmax(-1) - 1)
            q_halt[s].append(out["q_halt"][s])
            q_cont[s].append(out["q_continue"][s])
    elapsed = time.time() - t0

    total_mismatch = 0
    max_dqh = max_dqc = 0.0
    print(f"{'step':>4} {'token mismatches':>16} {'max|dq_halt|':>13} {'max|dq_cont|':>13}")
    for s in range(steps):
        got = torch.cat(preds[s])
        want = torch.tensor(expected["preds"][s][:limit], dtype=got.dtype)
        mism = int((got != want).sum())
        dqh = float((torch.cat(q_halt[s]) - torch.tensor(expected["q_halt"][s][:limit])).abs().max())
        dqc = float((torch.cat(q_cont[s]) - torch.tensor(expected["q_continue"][s][:limit])).abs().max())
        total_mismatch += mism
        max_dqh, max_dqc = max(max_dqh, dqh), max(max_dqc, dqc)
        print(f"{s + 1:>4} {mism:>16} {dqh:>13.3e} {dqc:>13.3e}")
    print(f"total token mismatches: {total_mismatch} of {limit * 81 * steps}; "
          f"max |dq_halt| {max_dqh:.3e}, max |dq_continue| {max_dqc:.3e}; reference run {elapsed:.1f} s")
    print("MATCH" if total_mismatch == 0 else "MISMATCH")
    return 0 if total_mismatch == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
