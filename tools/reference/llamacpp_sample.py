#!/usr/bin/env python3
"""Runs llama.cpp's default sampler chain on given logits, for Recur's sampler tests.

Builds, through llama-cpp-python's low-level API and without a model, the samplers that llama.cpp's
`common_sampler_init` chains by default (penalties, top-k, top-p, min-p, temperature, dist; DRY,
typical-p, top-n-sigma and XTC are off by default and left out), accepts the prompt tokens, then
for each step applies them one by one to the step's logits and records the candidates left after
min-p (ids in list order) and the token dist picks, which it accepts before the next step.

    python3 tools/reference/llamacpp_sample.py CASES.json

CASES.json: {"vocab": N, "cases": [{"temperature": .., "top_k": .., "top_p": .., "min_p": ..,
"repeat_penalty": .., "repeat_last_n": .., "presence_penalty": .., "frequency_penalty": ..,
"seed": .., "prompt": [token, ...], "steps": [[float32 bit pattern, ...] * N, ...]}, ...]}
Prints {"cases": [{"tokens": [...], "candidates": [[id, ...], ...]}, ...]}. Exit 77 when
llama_cpp is not installed.
"""
import ctypes
import json
import struct
import sys

try:
    import llama_cpp as L
except ImportError as e:  # how the scripts in tools/ say a package is missing
    print(f"llama_cpp is not installed ({e})", file=sys.stderr)
    sys.exit(77)


def penalties(vocab, case):
    args = [case["repeat_last_n"], case["repeat_penalty"], case["frequency_penalty"], case["presence_penalty"]]
    # Newer llama.cpp takes the vocabulary size first.
    if len(L.llama_sampler_init_penalties.argtypes) == 5:
        args = [vocab] + args
    return L.llama_sampler_init_penalties(*args)


def run_case(vocab, case):
    chain = [
        penalties(vocab, case),
        L.llama_sampler_init_top_k(case["top_k"]),
        L.llama_sampler_init_top_p(case["top_p"], 0),
        L.llama_sampler_init_min_p(case["min_p"], 0),
    ]
    finish = [L.llama_sampler_init_temp(case["temperature"]), L.llama_sampler_init_dist(case["seed"])]
    for t in case["prompt"]:
        for s in chain + finish:
            L.llama_sampler_accept(s, t)
    tokens, candidates = [], []
    data = (L.llama_token_data * vocab)()
    for bits in case["steps"]:
        for i, b in enumerate(bits):
            data[i].id = i
            data[i].logit = struct.unpack("<f", struct.pack("<I", b))[0]
            data[i].p = 0.0
        arr = L.llama_token_data_array(data=ctypes.cast(data, ctypes.POINTER(L.llama_token_data)), size=vocab, selected=-1, sorted=False)
        for s in chain:
            L.llama_sampler_apply(s, ctypes.byref(arr))
        candidates.append([arr.data[i].id for i in range(arr.size)])
        for s in finish:
            L.llama_sampler_apply(s, ctypes.byref(arr))
        token = arr.data[arr.selected].id
        tokens.append(token)
        for s in chain + finish:
            L.llama_sampler_accept(s, token)
    for s in chain + finish:
        L.llama_sampler_free(s)
    return {"tokens": tokens, "candidates": candidates}


def main() -> int:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    out = {"cases": [run_case(spec["vocab"], c) for c in spec["cases"]]}
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
