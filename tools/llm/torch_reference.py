#!/usr/bin/env python3
"""PyTorch FP32 reference of a GGUF language model: `transformers` loads the file, dequantizing
every weight to float32, and runs its own Llama/Qwen2 code (rotate-half RoPE, unpermuted Q/K).

  logits --model M --tokens T.json --out O   -> O: float32 [n, vocab]

Exit 77 when torch, transformers or gguf cannot be imported.
"""
import argparse
import json
import os
import sys

try:
    import numpy as np
    import torch
    import gguf  # noqa: F401  (transformers' GGUF loader needs it)
    from transformers import AutoModelForCausalLM
except ImportError as e:
    print(f"missing Python package: {e.name}", file=sys.stderr)
    sys.exit(77)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    lg = sub.add_parser("logits")
    lg.add_argument("--model", required=True)
    lg.add_argument("--tokens", required=True)
    lg.add_argument("--out", required=True)
    lg.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    folder, name = os.path.split(os.path.abspath(a.model))
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.eval()
    tokens = json.load(open(a.tokens))
    with torch.no_grad():
        out = model(torch.tensor([tokens], dtype=torch.long)).logits[0]
    out.to(torch.float32).numpy().astype(np.float32).tofile(a.out)


if __name__ == "__main__":
    main()
