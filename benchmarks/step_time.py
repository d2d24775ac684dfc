#!/usr/bin/env python3
"""Milliseconds per ACT step: Recur against PyTorch eager FP32 on the same weights, in one run.

For each batch size, Recur (`recur solve --halt max`, a release build) and the PyTorch reference
(tools/reference/time_steps.py, the official architecture in eager mode) each time ACT steps on
Sudoku puzzles with the same thread count; the two alternate for --rounds rounds so machine noise
hits both, and the table reports medians and the ratio PyTorch / Recur (> 1: Recur is faster).

    python3 benchmarks/step_time.py [--models f32=FILE,q8_0=FILE] [--batch 1,16] [--threads 2]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared")
CHECKPOINT = os.path.join(SHARED, "checkpoints", "trm-sudoku-att", "step_10788")
PUZZLES = os.path.join(SHARED, "data", "sudoku_eval_2000.txt")
RECUR = os.path.join(ROOT, ".build", "release", "recur")


def recur_ms(model, batch, threads, steps):
    out = subprocess.run([RECUR, "solve", "--model", model, "--input", PUZZLES, "--limit", str(batch),
                          "--batch", str(batch), "--threads", str(threads), "--halt", "max",
                          "--max-steps", str(steps), "--format", "jsonl"],
                         check=True, capture_output=True, text=True)
    m = re.search(r"([0-9.]+) ms per ACT step \(median", out.stderr)
    if not m:
        sys.exit(f"could not read the step time from recur: {out.stderr}")
    return float(m.group(1))


def torch_ms(batch, threads, steps):
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        subprocess.run([sys.executable, os.path.join(ROOT, "tools/reference/time_steps.py"), "--checkpoint",
                        os.path.dirname(CHECKPOINT), "--batch", str(batch), "--threads", str(threads), "--steps",
                        str(steps), "--warmup", "1", "--json", f.name], check=True, capture_output=True, text=True)
        result = json.load(open(f.name))
    rows = result["results"] if "results" in result else result
    row = rows[0] if isinstance(rows, list) else rows
    return float(row["median_ms"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="", help="type=FILE,... (default: export F32 of the shared checkpoint)")
    ap.add_argument("--batch", default="1,16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4, help="ACT steps per timing run")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not os.path.exists(RECUR):
        sys.exit("build Recur first: swift build -c release --product recur")
    tmp = tempfile.mkdtemp(prefix="recur-bench-")
    models = dict(kv.split("=", 1) for kv in args.models.split(",") if kv)
    if not models:
        models["f32"] = os.path.join(tmp, "trm-f32.gguf")
        subprocess.run([RECUR, "export", CHECKPOINT, "-o", models["f32"], "--type", "f32"], check=True,
                       capture_output=True)
    print(f"ACT step time, {args.threads} threads, median of {args.rounds} rounds x {args.steps} steps")
    print(f"{'batch':>5} {'runtime':>10} {'ms/step':>10} {'PyTorch/this':>13}")
    for batch in [int(b) for b in args.batch.split(",")]:
        times = {name: [] for name in models}
        base = []
        for _ in range(args.rounds):
            base.append(torch_ms(batch, args.threads, args.steps))
            for name, path in models.items():
                times[name].append(recur_ms(path, batch, args.threads, args.steps))
        t_base = statistics.median(base)
        print(f"{batch:>5} {'pytorch':>10} {t_base:>10.1f} {1.0:>13.2f}")
        for name in models:
            t = statistics.median(times[name])
            print(f"{batch:>5} {'recur ' + name:>10} {t:>10.1f} {t_base / t:>13.2f}")


if __name__ == "__main__":
    main()
