#!/usr/bin/env python3
"""Drift over a large puzzle file in chunks, so that a long run can stop and resume.

`recur bench drift` keeps every step's logits of every puzzle in memory and reports only at the
end; over the 2,000 evaluation puzzles that is hours on a small machine. This script splits the
puzzle file into chunks, runs one `recur bench drift --json` per chunk (skipping chunks already
done), and merges the chunk reports: counts, means and the maximum exactly; the KL percentiles
as the mean of the chunks' percentiles (chunks are equal-sized, but this is an approximation).

    python3 benchmarks/drift_chunks.py --reference F32.gguf --model Q8_0.gguf Q4_0.gguf \
        --input ../shared/data/sudoku_eval_2000.txt --chunk 200 --work drift-run/
    python3 benchmarks/drift_chunks.py --work drift-run/ --merge-only
"""
import argparse
import glob
import json
import math
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_chunks(args):
    with open(args.input) as f:
        lines = [l for l in f if l.strip() and not l.startswith("#")]
    os.makedirs(args.work, exist_ok=True)
    for i in range(0, len(lines), args.chunk):
        name = os.path.join(args.work, f"chunk{i // args.chunk:03d}")
        if os.path.exists(name + ".json"):
            continue
        with open(name + ".txt", "w") as f:
            f.writelines(lines[i:i + args.chunk])
        cmd = [args.recur, "bench", "drift", "--reference", args.reference, "--model", *args.model,
               "--input", name + ".txt", "--batch", str(args.batch), "--threads", str(args.threads),
               "--json", name + ".json.tmp", "--history", os.path.join(args.work, "history.sqlite")]
        print(" ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        os.replace(name + ".json.tmp", name + ".json")


def merge(work):
    chunks = sorted(glob.glob(os.path.join(work, "chunk*.json")))
    if not chunks:
        sys.exit(f"{work}: no chunk reports")
    total = {}
    for path in chunks:
        for model, r in json.load(open(path)).items():
            t = total.setdefault(model, dict(puzzles=0, cells=0, kl_sum=0.0, same=0.0, kl_max=0.0, halts=0,
                                             gained=0, lost=0, flips_recorded=True,
                                             pct={}, chunks=0, ref=dict(valid=0, exact=0, steps=0, tok=0.0),
                                             cand=dict(valid=0, exact=0, steps=0, tok=0.0)))
            t["chunks"] += 1
            t["puzzles"] += r["puzzles"]
            t["cells"] += r["comparedCells"]
            t["kl_sum"] += r["klMean"] * r["comparedCells"]
            t["same"] += r["sameTop1"] * r["comparedCells"]
            t["kl_max"] = max(t["kl_max"], r["klMax"])
            t["halts"] += r["haltingChanged"]
            # Chunks written before the flips were recorded lack them.
            t["flips_recorded"] = t["flips_recorded"] and "validGained" in r
            t["gained"] += r.get("validGained", 0)
            t["lost"] += r.get("validLost", 0)
            for k, v in r["klPercentiles"].items():
                t["pct"][k] = t["pct"].get(k, 0.0) + v
            for side, key in (("ref", "reference"), ("cand", "candidate")):
                t[side]["valid"] += r[key]["valid"]
                t[side]["exact"] += r[key]["exact"]
                t[side]["steps"] += r[key]["steps"]
                t[side]["tok"] += r[key]["tokenAccuracySum"]
    print(f"{len(chunks)} chunks")
    print("| model | puzzles | valid | exact | token acc. | mean steps | KL mean | KL p99 (chunk mean) | KL max | same top-1 "
          "| halting changed | valid gained / lost (p) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    first = True
    for model, t in sorted(total.items()):
        n = t["puzzles"]
        if first:
            r = t["ref"]
            print(f"| F32 (reference) | {n} | {100 * r['valid'] / n:.2f}% | {100 * r['exact'] / n:.2f}% | "
                  f"{100 * r['tok'] / n:.2f}% | {r['steps'] / n:.2f} | | | | | | |")
            first = False
        c = t["cand"]
        print(f"| {os.path.basename(model)} | {n} | {100 * c['valid'] / n:.2f}% | {100 * c['exact'] / n:.2f}% | "
              f"{100 * c['tok'] / n:.2f}% | {c['steps'] / n:.2f} | {t['kl_sum'] / t['cells']:.3f} | "
              f"{t['pct'].get('p99', 0) / t['chunks']:.3g} | {t['kl_max']:.3g} | {100 * t['same'] / t['cells']:.2f}% | "
              f"{t['halts']} of {n} | {flips(t) if t['flips_recorded'] else 'not recorded'} |")


def sign_test_p(a, b):
    """Exact two-sided sign test (McNemar's exact test on the discordant puzzles)."""
    n, k = a + b, min(a, b)
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


def flips(t):
    return f"+{t['gained']} / -{t['lost']} (p {sign_test_p(t['gained'], t['lost']):.2g})"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference")
    p.add_argument("--model", nargs="+", default=[])
    p.add_argument("--input")
    p.add_argument("--work", required=True)
    p.add_argument("--chunk", type=int, default=200)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--recur", default=os.path.join(ROOT, ".build", "release", "recur"))
    p.add_argument("--merge-only", action="store_true")
    args = p.parse_args()
    if not args.merge_only:
        if not (args.reference and args.model and args.input):
            sys.exit("--reference, --model and --input are needed to run chunks")
        run_chunks(args)
    merge(args.work)


if __name__ == "__main__":
    main()
