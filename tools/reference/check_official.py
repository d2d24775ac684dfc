#!/usr/bin/env python3
"""Check the reference against outputs of the official TRM code on the shared sudoku checkpoint.

Runs fixed-step ACT evaluation (no halting) in float32 on CPU and compares, per step, the
predicted digits (argmax(logits) - 1 over the 81 cells) and the Q-head logits with the recorded
official outputs. Exits 1 on any token mismatch.

Float32 results depend on summation order (BLAS kernels, CPU, batch shape), and the recursion
amplifies such last-bit differences exponentially in a few puzzles. So for every puzzle with a
mismatch the script also re-runs that puzzle alone with a different attention summation order
(PyTorch's math SDPA backend) and reports whether the reference itself then changes its
predictions ("unstable"). With --accept-unstable the exit status is 0 when every mismatching
puzzle is unstable in that sense.
"""
import argparse
import json
import os
import sys
import time

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(REPO, "..", "shared")
sys.path.insert(0, HERE)

from recur_reference import load_model, load_sudoku  # noqa: E402


@torch.no_grad()
def run_reference(model, inputs, pids, steps: int, batch: int, progress: bool):
    """Fixed-step outputs stacked as preds [steps, N, 81], margins (top-1 minus top-2 logit), q_halt, q_continue."""
    t0 = time.time()
    chunks = []
    for start in range(0, inputs.shape[0], batch):
        x, pid = inputs[start:start + batch], pids[start:start + batch]
        carry = model.initial_carry(x, pid)
        per_step = []
        for s in range(steps):
            carry, logits, qh, qc = model.step(carry, x, pid)
            top2 = logits.topk(2, dim=-1).values
            per_step.append((logits.argmax(-1) - 1, top2[..., 0] - top2[..., 1], qh, qc))
            if progress:
                print(f"  puzzles {start}..{start + x.shape[0] - 1}: step {s + 1} done at {time.time() - t0:.0f} s",
                      file=sys.stderr, flush=True)
        chunks.append([torch.stack(t) for t in zip(*per_step)])
    preds, margins, q_halt, q_cont = (torch.cat(t, dim=1) for t in zip(*chunks))
    return dict(preds=preds, margins=margins, q_halt=q_halt, q_continue=q_cont)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=os.path.join(SHARED, "checkpoints", "trm-sudoku-att"))
    p.add_argument("--data", default=os.path.join(SHARED, "data", "sudoku_eval_2000.txt"))
    p.add_argument("--expected", default=os.path.join(SHARED, "data", "sudoku_eval_200_official_fp32.json"))
    p.add_argument("--limit", type=int, default=200, help="number of puzzles (from the start of the file)")
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--save", help="torch.save the reference's per-step preds, margins and q logits here")
    p.add_argument("--accept-unstable", action="store_true",
                   help="exit 0 when every mismatching puzzle is shown to be rounding-unstable")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    model, cfg, prefix = load_model(args.checkpoint, seq_len=81)
    with open(args.expected) as f:
        expected = json.load(f)
    limit = min(args.limit, len(expected["preds"][0]))
    steps = min(args.steps, len(expected["preds"]))
    inputs, _ = load_sudoku(args.data, limit)
    pids = torch.zeros(inputs.shape[0], dtype=torch.int32)
    want_preds = torch.tensor([row[:limit] for row in expected["preds"][:steps]])
    want_qh = torch.tensor([row[:limit] for row in expected["q_halt"][:steps]])
    want_qc = torch.tensor([row[:limit] for row in expected["q_continue"][:steps]])
    print(f"checkpoint: {os.path.basename(os.path.normpath(args.checkpoint))} (prefix {prefix!r}), "
          f"{cfg.family} hidden {cfg.hidden_size}, vocab {cfg.vocab_size}, puzzles {limit}, steps {steps}, "
          f"threads {args.threads}, batch {args.batch}")

    t0 = time.time()
    ref = run_reference(model, inputs, pids, steps, args.batch, progress=True)
    elapsed = time.time() - t0
    if args.save:
        torch.save(ref, args.save)

    mismatch = ref["preds"] != want_preds                       # [steps, N, 81]
    dqh = (ref["q_halt"] - want_qh).abs()                       # [steps, N]
    dqc = (ref["q_continue"] - want_qc).abs()
    print(f"{'step':>4} {'token mismatches':>16} {'max|dq_halt|':>13} {'max|dq_cont|':>13}")
    for s in range(steps):
        print(f"{s + 1:>4} {int(mismatch[s].sum()):>16} {float(dqh[s].max()):>13.3e} {float(dqc[s].max()):>13.3e}")
    total = int(mismatch.sum())
    print(f"total token mismatches: {total} of {mismatch.numel()}; max |dq_halt| {float(dqh.max()):.3e}, "
          f"max |dq_continue| {float(dqc.max()):.3e}; reference run {elapsed:.1f} s")
    if total == 0:
        print("MATCH")
        return 0

    print("mismatching cells (step, puzzle, cell: reference / official, reference top-2 logit margin):")
    for s, pz, cell in mismatch.nonzero().tolist():
        print(f"  step {s + 1} puzzle {pz} cell {cell}: {int(ref['preds'][s, pz, cell])} / {int(want_preds[s, pz, cell])}, "
              f"margin {float(ref['margins'][s, pz, cell]):.3e}")

    bad_puzzles = sorted({pz for _, pz, _ in mismatch.nonzero().tolist()})
    good = [i for i in range(limit) if i not in bad_puzzles]
    print("sensitivity of mismatching puzzles:")
    print(f"  |dq_halt| vs official per step; 'matched' = largest over the {len(good)} puzzles without mismatches")
    print("  step " + " ".join(f"{'puzzle ' + str(pz):>12}" for pz in bad_puzzles) + f" {'matched':>12}")
    for s in range(steps):
        matched = float(dqh[s, good].max()) if good else float("nan")
        print(f"  {s + 1:>4} " + " ".join(f"{float(dqh[s, pz]):>12.2e}" for pz in bad_puzzles) + f" {matched:>12.2e}")
    unstable = []
    for pz in bad_puzzles:
        with sdpa_kernel([SDPBackend.MATH]):
            alt = run_reference(model, inputs[pz:pz + 1], pids[pz:pz + 1], steps, 1, progress=False)
        vs_ref = (alt["preds"][:, 0] != ref["preds"][:, pz]).sum(-1).tolist()
        vs_off = (alt["preds"][:, 0] != want_preds[:, pz]).sum(-1).tolist()
        is_unstable = any(vs_ref)
        unstable.append(is_unstable)
        print(f"  puzzle {pz}, re-run alone with math SDPA: cells differing per step from the reference run {vs_ref}, "
              f"from official {vs_off} -> {'unstable' if is_unstable else 'stable'}")
    if all(unstable):
        print("MISMATCH (only in puzzles whose predictions change with float32 summation order)")
        return 0 if args.accept_unstable else 1
    print("MISMATCH")
    return 1


if __name__ == "__main__":
    sys.exit(main())
