#!/usr/bin/env python3
"""Drift of one set of logits against a reference, as llama.cpp's perplexity tool reports it.

  compare_logits.py --reference R.f32 --candidate C.f32 --vocab V [--tokens T.json]

Both files are float32 [n, vocab]. Prints JSON: mean, median, p99 and max KL(reference ||
candidate) per position, the same-top-1 rate, and with the tokens (n + 1 of them: the input and
the token that follows) the perplexity of each.
"""
import argparse
import json
import sys

try:
    import numpy as np
except ImportError as e:
    print(f"missing Python package: {e.name}", file=sys.stderr)
    sys.exit(77)


def log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reference", required=True)
    p.add_argument("--candidate", required=True)
    p.add_argument("--vocab", type=int, required=True)
    p.add_argument("--tokens")
    a = p.parse_args()
    ref = np.fromfile(a.reference, dtype=np.float32).reshape(-1, a.vocab)
    cand = np.fromfile(a.candidate, dtype=np.float32).reshape(-1, a.vocab)
    if ref.shape != cand.shape:
        print(f"shapes differ: {ref.shape} against {cand.shape}", file=sys.stderr)
        return 1
    if not (np.isfinite(ref).all() and np.isfinite(cand).all()):
        print("non-finite logits", file=sys.stderr)
        return 1
    lr, lc = log_softmax(ref), log_softmax(cand)
    kl = (np.exp(lr) * (lr - lc)).sum(axis=1)
    out = {
        "positions": int(ref.shape[0]),
        "kl_mean": float(kl.mean()), "kl_median": float(np.median(kl)),
        "kl_p99": float(np.percentile(kl, 99)), "kl_max": float(kl.max()),
        "same_top1": float((ref.argmax(axis=1) == cand.argmax(axis=1)).mean()),
        "max_abs_logit_difference": float(np.abs(ref - cand).max()),
    }
    if a.tokens:
        nxt = np.asarray(json.load(open(a.tokens))[1: ref.shape[0] + 1])
        n = len(nxt)
        out["perplexity_reference"] = float(np.exp(-lr[np.arange(n), nxt].mean()))
        out["perplexity_candidate"] = float(np.exp(-lc[np.arange(n), nxt].mean()))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
