#!/usr/bin/env python3
"""Same-run PyTorch baseline: eager float32 CPU time of one ACT step on an official checkpoint.

Each repetition is one `ACTModel.step` (H_cycles x (L_cycles + 1) stack calls for TRM) on a batch
of sudoku puzzles from the data file; the carry runs on across repetitions like real
evaluation (resetting after halt_max_steps, which costs nothing extra).
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(REPO, "..", "shared")
sys.path.insert(0, HERE)

from recur_reference import load_model, load_sudoku  # noqa: E402
from recur_reference.gguf_model import load_gguf  # noqa: E402


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@torch.no_grad()
def time_batch(model, inputs, pids, steps: int, warmup: int):
    carry = model.initial_carry(inputs, pids)
    for _ in range(warmup):
        carry = model.step(carry, inputs, pids)[0]
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        carry = model.step(carry, inputs, pids)[0]
        times.append((time.perf_counter() - t0) * 1000.0)
    return times


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--checkpoint", default=os.path.join(SHARED, "checkpoints", "trm-sudoku-att"))
    p.add_argument("--gguf", help="time this Recur GGUF file (dequantized to float32) instead of --checkpoint")
    p.add_argument("--data", default=os.path.join(SHARED, "data", "sudoku_eval_2000.txt"))
    p.add_argument("--batch", default="1,16", help="comma-separated batch sizes")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10, help="timed ACT steps (repetitions) per batch size")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--json", help="write results here")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batch.split(",") if b]
    if args.gguf:
        model, cfg = load_gguf(args.gguf)
    else:
        model, cfg, _ = load_model(args.checkpoint, seq_len=81)
    all_inputs, _ = load_sudoku(args.data, max(batches))
    if all_inputs.shape[0] == 0:
        print(f"{args.data}: no puzzles", file=sys.stderr)
        return 2
    if all_inputs.shape[0] < max(batches):
        # A small sample file fills larger batches by repeating its puzzles (the cost is the same).
        reps = -(-max(batches) // all_inputs.shape[0])
        all_inputs = all_inputs.repeat(reps, 1)[:max(batches)]

    results = []
    print(f"PyTorch {torch.__version__} eager float32, {args.threads} threads, {cpu_model()}")
    print(f"{'batch':>5} {'median ms/step':>15} {'min':>9} {'max':>9} {'ms/step/sample':>15}")
    for b in batches:
        inputs = all_inputs[:b]
        pids = torch.zeros(b, dtype=torch.int32)
        times = time_batch(model, inputs, pids, args.steps, args.warmup)
        med = statistics.median(times)
        r = dict(batch=b, steps=args.steps, warmup=args.warmup, median_ms=med, min_ms=min(times), max_ms=max(times),
                 mean_ms=statistics.fmean(times), per_sample_median_ms=med / b, times_ms=times)
        results.append(r)
        print(f"{b:>5} {med:>15.2f} {min(times):>9.2f} {max(times):>9.2f} {med / b:>15.2f}")

    if args.json:
        doc = dict(tool="tools/reference/time_steps.py", framework=f"pytorch {torch.__version__}", mode="eager",
                   dtype="float32", device="cpu", cpu=cpu_model(), threads=args.threads,
                   checkpoint=os.path.basename(os.path.normpath(args.gguf or args.checkpoint)),
                   arch=cfg.to_json(), results=results)
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        os.replace(tmp, args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
