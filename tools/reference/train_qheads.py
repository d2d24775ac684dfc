"""Train small halting heads of every kind on recorded Q-head inputs (record_qhead_states.py).

Target: whether the step's answer is already correct, with BCE on q_halt (the official ACT
q_halt target). q_continue is not trained, as in the shared checkpoint itself (its training
config sets no_ACT_continue: true, so its q_continue logit carries no loss either); halting
reads q_halt > 0, the TRM rule, and the `compare` policy means nothing for these heads. The first --train puzzles train, the rest are held out.

    python3 tools/reference/train_qheads.py --states tools/reference/heads/data/states.safetensors \
        --out tools/reference/heads/data [--train 64] [--epochs 400]

Writes <out>/<kind>.safetensors (state_dict in the export layout) and prints held-out figures.
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recur_reference.qheads import make_head  # noqa: E402


def halting(q_halt):
    """1-based step where q_halt > 0 first, else the last step."""
    n, t = q_halt.shape
    fire = q_halt > 0
    fire[:, -1] = True
    return fire.float().argmax(1) + 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--states", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--train", type=int, default=64, help="puzzles used for training; the rest are held out")
    ap.add_argument("--epochs", type=int, default=400)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--kinds", default="linear,mlp,gru,attention")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    data = load_file(args.states)
    states, correct = data["states"].float(), data["correct"].float()
    n, t, hidden = states.shape
    tr = min(args.train, n - 1)
    xs, ys = states[:tr], correct[:tr]
    xv, yv = states[tr:], correct[tr:]
    os.makedirs(args.out, exist_ok=True)
    print(f"{n} puzzles x {t} steps; train {tr}, held out {n - tr}; correct rate {correct.mean():.3f}")
    official = halting(data["q_halt"][tr:])
    for kind in args.kinds.split(","):
        head = make_head(kind, hidden)
        opt = torch.optim.Adam(head.parameters(), lr=args.lr, weight_decay=1e-4)
        start = time.time()
        for epoch in range(args.epochs):
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(head(xs)[..., 0], ys)
            loss.backward()
            opt.step()
        with torch.no_grad():
            qv = head(xv)[..., 0]
            acc = ((qv > 0).float() == yv).float().mean().item()
            steps = halting(qv)
            ok = yv[torch.arange(len(steps)), steps - 1].mean().item()
        save_file({k: v.contiguous() for k, v in head.state_dict().items()}, os.path.join(args.out, f"{kind}.safetensors"))
        print(f"{kind}: train loss {loss.item():.4f}, held-out step accuracy {acc:.3f}, mean halt step {steps.float().mean():.2f}, "
              f"correct at halt {ok:.3f}, same step as official head {(steps == official).float().mean():.3f} ({time.time() - start:.0f} s)")
    print(f"official: mean halt step {official.float().mean():.2f}, correct at halt {yv[torch.arange(len(official)), official - 1].mean():.3f}")


if __name__ == "__main__":
    main()
