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

from recur_reference import load_model, load_sudoku  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--checkpoint", default=os.path.join(SHARED, "checkpoints", "trm-sudoku-att"))
    p.add_argument("--data", default=os.path.join(SHARED, "data", "sudoku_eval_2000.txt"))
    p.add_argument("--expected", default=os.path.join(SHARED, "data", "sudoku_eval_200_official_fp32.json"))
    p.add_argument("--limit", type=int, default=200, help="number of puzzles (from the start of the file)")
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--save", help="torch.save the reference's per-step preds, margins and q logits here")
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
    margins = [[] for _ in range(steps)]
    for start in range(0, limit, args.batch):
        x, pid = inputs[start:start + args.batch], pids[start:start + args.batch]
        with torch.no_grad():
            carry = model.initial_carry(x, pid)
            for s in range(steps):
                carry, logits, qh, qc = model.step(carry, x, pid)
                preds[s].append(logits.argmax(-1) - 1)
                top2 = logits.topk(2, dim=-1).values
                margins[s].append(top2[..., 0] - top2[..., 1])
                q_halt[s].append(qh)
                q_cont[s].append(qc)
                print(f"  puzzles {start}..{start + x.shape[0] - 1}: step {s + 1} done at {time.time() - t0:.0f} s",
                      file=sys.stderr, flush=True)
    elapsed = time.time() - t0

    total_mismatch = 0
    max_dqh = max_dqc = 0.0
    details = []
    print(f"{'step':>4} {'token mismatches':>16} {'max|dq_halt|':>13} {'max|dq_cont|':>13}")
    for s in range(steps):
        got = torch.cat(preds[s])
        want = torch.tensor(expected["preds"][s][:limit], dtype=got.dtype)
        bad = (got != want).nonzero().tolist()
        margin = torch.cat(margins[s])
        dqh_all = (torch.cat(q_halt[s]) - torch.tensor(expected["q_halt"][s][:limit])).abs()
        dqh = float(dqh_all.max())
        dqc = float((torch.cat(q_cont[s]) - torch.tensor(expected["q_continue"][s][:limit])).abs().max())
        total_mismatch += len(bad)
        max_dqh, max_dqc = max(max_dqh, dqh), max(max_dqc, dqc)
        print(f"{s + 1:>4} {len(bad):>16} {dqh:>13.3e} {dqc:>13.3e}")
        for puzzle, cell in bad:
            details.append(f"  step {s + 1} puzzle {puzzle} cell {cell}: reference {int(got[puzzle, cell])}, "
                           f"official {int(want[puzzle, cell])}, reference top-2 logit margin "
                           f"{float(margin[puzzle, cell]):.3e}, |dq_halt| of this puzzle {float(dqh_all[puzzle]):.3e}")
    print(f"total token mismatches: {total_mismatch} of {limit * 81 * steps}; "
          f"max |dq_halt| {max_dqh:.3e}, max |dq_continue| {max_dqc:.3e}; reference run {elapsed:.1f} s")
    if details:
        print("mismatching cells:")
        print("\n".join(details))
    if args.save:
        torch.save(dict(preds=torch.stack([torch.cat(p) for p in preds]).to(torch.int8),
                        margins=torch.stack([torch.cat(m) for m in margins]),
                        q_halt=torch.stack([torch.cat(q) for q in q_halt]),
                        q_continue=torch.stack([torch.cat(q) for q in q_cont])), args.save)
    print("MATCH" if total_mismatch == 0 else "MISMATCH")
    return 0 if total_mismatch == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
