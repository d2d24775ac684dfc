#!/usr/bin/env python3
"""llama-bench's two measurements with llama.cpp itself (through llama-cpp-python), for Recur's
same-run speed comparison: pp (a prompt of P tokens evaluated as one batch) and tg (T tokens
generated one at a time after BOS). Token ids are fixed, as llama-bench uses random ones, so
content does not matter. Prints JSON: seconds of every repetition of each, after a warm-up.

  llamacpp_bench.py --model M --threads N [--pp 512] [--tg 128] [--reps 5]

Exit 77 when llama_cpp cannot be imported.
"""
import argparse
import json
import sys
import time

try:
    import llama_cpp
except ImportError as e:
    print(f"missing Python package: {e.name}", file=sys.stderr)
    sys.exit(77)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pp", type=int, default=512)
    p.add_argument("--tg", type=int, default=128)
    p.add_argument("--reps", type=int, default=5)
    a = p.parse_args()
    llm = llama_cpp.Llama(model_path=a.model, n_ctx=a.pp + a.tg + 8, n_threads=a.threads, n_threads_batch=a.threads,
                          n_batch=512, n_ubatch=512, logits_all=False, verbose=False)
    vocab = llm.n_vocab()
    prompt = [(i * 7919 + 13) % vocab for i in range(a.pp)]

    def pp():
        llm.reset()
        llm._ctx.kv_cache_clear() if hasattr(llm._ctx, "kv_cache_clear") else None
        t = time.perf_counter()
        llm.eval(prompt)
        return time.perf_counter() - t

    def tg():
        llm.reset()
        llm._ctx.kv_cache_clear() if hasattr(llm._ctx, "kv_cache_clear") else None
        tok = llm.token_bos()
        t = time.perf_counter()
        for i in range(a.tg):
            llm.eval([tok])
            tok = (tok * 31 + 7) % vocab
        return time.perf_counter() - t

    out = {"threads": a.threads, "pp_tokens": a.pp, "tg_tokens": a.tg}
    for name, fn in (("pp", pp), ("tg", tg)):
        fn()  # warm-up
        out[name + "_seconds"] = [fn() for _ in range(a.reps)]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
