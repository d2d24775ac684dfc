#!/usr/bin/env python3
"""llama.cpp (through llama-cpp-python) as the reference for Recur's language models.

  tokenize --model M --text-file F              -> JSON token ids (add BOS as the file says)
  logits   --model M --tokens T.json --out O    -> O: float32 [n, vocab], every position's logits
  greedy   --model M --prompts P.json -n N [--recur R.json]
           -> JSON per prompt: llama.cpp's prompt tokens and N greedy tokens; with R (Recur's
              continuations of the same prompt tokens) also the first position where they differ
              and llama.cpp's own logit gap there (its top token's logit minus Recur's token's).

Exit 77 when llama_cpp or numpy cannot be imported (the tests then skip, or fail in CI).
"""
import argparse
import json
import sys

try:
    import numpy as np
    import llama_cpp
except ImportError as e:  # the test support turns 77 into a skip
    print(f"missing Python package: {e.name}", file=sys.stderr)
    sys.exit(77)


def load(path: str, n_ctx: int, threads: int, logits_all: bool = False):
    return llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                           logits_all=logits_all, n_batch=512, verbose=False, seed=0)


def cmd_tokenize(a):
    llm = llama_cpp.Llama(model_path=a.model, vocab_only=True, verbose=False)
    text = open(a.text_file, encoding="utf-8").read()
    print(json.dumps(llm.tokenize(text.encode("utf-8"), add_bos=True, special=a.special)))


def cmd_logits(a):
    tokens = json.load(open(a.tokens))
    llm = load(a.model, max(len(tokens), 16), a.threads, logits_all=True)
    llm.eval(tokens)
    scores = np.asarray(llm.scores[: len(tokens)], dtype=np.float32)
    scores.tofile(a.out)


def greedy(llm, prompt, n):
    llm.reset()
    llm.eval(prompt)
    out = []
    for _ in range(n):
        logits = np.asarray(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        tok = int(np.argmax(logits))
        out.append(tok)
        llm.eval([tok])
    return out


def logits_after(llm, tokens):
    llm.reset()
    llm.eval(tokens)
    return np.asarray(llm.scores[llm.n_tokens - 1], dtype=np.float32)


def cmd_greedy(a):
    prompts = json.load(open(a.prompts))
    recur = json.load(open(a.recur)) if a.recur else None
    llm = load(a.model, a.ctx, a.threads, logits_all=True)
    results = []
    for i, prompt in enumerate(prompts):
        ids = prompt if isinstance(prompt, list) else llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
        ours = greedy(llm, ids, a.n)
        entry = {"prompt_tokens": ids, "tokens": ours}
        if recur is not None:
            theirs = recur[i]
            k = next((j for j in range(min(len(ours), len(theirs))) if ours[j] != theirs[j]), None)
            entry["first_difference"] = k
            if k is not None:
                logits = logits_after(llm, ids + ours[:k])
                entry["gap"] = float(logits[ours[k]] - logits[theirs[k]])
        results.append(entry)
    print(json.dumps(results))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tokenize")
    t.add_argument("--model", required=True)
    t.add_argument("--text-file", required=True)
    t.add_argument("--special", action="store_true")
    lg = sub.add_parser("logits")
    lg.add_argument("--model", required=True)
    lg.add_argument("--tokens", required=True)
    lg.add_argument("--out", required=True)
    lg.add_argument("--threads", type=int, default=1)
    g = sub.add_parser("greedy")
    g.add_argument("--model", required=True)
    g.add_argument("--prompts", required=True)
    g.add_argument("-n", type=int, default=64)
    g.add_argument("--recur")
    g.add_argument("--ctx", type=int, default=1024)
    g.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    {"tokenize": cmd_tokenize, "logits": cmd_logits, "greedy": cmd_greedy}[a.cmd](a)


if __name__ == "__main__":
    main()
