"""Record the Q-head's input (z_H[:, 0]) of the shared TRM at every ACT step, with whether that
step's answer is already right, so halting heads can be trained and compared offline.

Halting never changes the states a sample goes through (it only stops them), so one fixed-step
run gives every head's decisions. Writes a safetensors file with
  states   f32 [N, T, hidden]   z_H[:, 0] after step t+1
  q_halt, q_continue f32 [N, T] the official head's logits
  correct  u8 [N, T]            the argmax grid equals the listed solution
  valid    u8 [N, T]            the argmax grid keeps the givens and obeys the rules
  index    i32 [N]              0-based line of the puzzle in the data file
The file is rewritten after every batch, so an interrupted run keeps what it finished.

    python3 tools/reference/record_qhead_states.py --offset 0 --limit 256 --out tools/reference/heads/data/states.safetensors
"""
import argparse
import os
import sys
import time

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recur_reference.checkpoint import load_model  # noqa: E402
from recur_reference.sudoku import encode_cells  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(REPO), "shared")


def valid_grid(pred, puzzle):
    """pred, puzzle: int lists of 81 tokens (digit d = token d+1, blank 1)."""
    digits = [p - 1 for p in pred]
    if any(d < 1 or d > 9 for d in digits):
        return False
    if any(g >= 2 and g - 1 != d for g, d in zip(puzzle, digits)):
        return False
    full = set(range(1, 10))
    for i in range(9):
        if set(digits[9 * i:9 * i + 9]) != full or set(digits[i::9]) != full:
            return False
        r, c = 3 * (i // 3), 3 * (i % 3)
        if {digits[9 * (r + a) + c + b] for a in range(3) for b in range(3)} != full:
            return False
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=os.path.join(SHARED, "checkpoints", "trm-sudoku-att"))
    ap.add_argument("--data", default=os.path.join(SHARED, "data", "sudoku_eval_2000.txt"))
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--limit", type=int, default=256)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model, cfg, _ = load_model(args.checkpoint)
    model.eval()
    lines = [l.split() for l in open(args.data) if l.strip()][args.offset:args.offset + args.limit]
    puzzles = [encode_cells(p[0]) for p in lines]
    solutions = [encode_cells(p[1]) for p in lines]
    keys = ["states", "q_halt", "q_continue", "correct", "valid", "index"]
    acc = {k: [] for k in keys}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    start = time.time()
    for b0 in range(0, len(puzzles), args.batch):
        x = torch.tensor(puzzles[b0:b0 + args.batch], dtype=torch.int32)
        sol = torch.tensor(solutions[b0:b0 + args.batch], dtype=torch.int64)
        pids = torch.zeros(x.shape[0], dtype=torch.int32)
        carry = model.initial_carry(x, pids)
        st, qh, qc, ok, va = [], [], [], [], []
        with torch.no_grad():
            for _ in range(args.steps):
                carry, logits, q_halt, q_continue = model.step(carry, x, pids)
                pred = logits.argmax(-1)
                st.append(carry.z_H[:, 0].clone())
                qh.append(q_halt)
                qc.append(q_continue)
                ok.append((pred == sol).all(-1).to(torch.uint8))
                va.append(torch.tensor([valid_grid(p.tolist(), g.tolist()) for p, g in zip(pred, x)], dtype=torch.uint8))
        acc["states"].append(torch.stack(st, 1))
        acc["q_halt"].append(torch.stack(qh, 1))
        acc["q_continue"].append(torch.stack(qc, 1))
        acc["correct"].append(torch.stack(ok, 1))
        acc["valid"].append(torch.stack(va, 1))
        acc["index"].append(torch.arange(args.offset + b0, args.offset + b0 + x.shape[0], dtype=torch.int32))
        save_file({k: torch.cat(v).contiguous() for k, v in acc.items()}, args.out + ".tmp")
        os.replace(args.out + ".tmp", args.out)
        done = b0 + x.shape[0]
        print(f"{done}/{len(puzzles)} puzzles, {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
