#!/usr/bin/env python3
"""RoPE cos/sin tables exactly as PyTorch's float32 RotaryEmbedding builds them (the CKernels
tests compare recur_f32_rope_tables against this).

usage: ckernels_rope_reference.py OUT_DIR SEQ:HEAD_DIM:THETA [...]
writes OUT_DIR/SEQ_HEAD_DIM_THETA.{freqs,cos,sin}.f32 (freqs [SEQ, HEAD_DIM/2], cos and sin
[SEQ, HEAD_DIM]) as raw little-endian float32, THETA as given. Exits 77 when torch cannot be
imported.
"""
import os
import sys

try:
    import torch
except ImportError:
    print("torch not installed", file=sys.stderr)
    sys.exit(77)


def write_tables(out_dir: str, spec: str) -> None:
    seq_text, dim_text, theta_text = spec.split(":")
    seq, dim, theta = int(seq_text), int(dim_text), float(theta_text)
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    t = torch.arange(seq, dtype=torch.float32)
    freqs = torch.outer(t, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    for name, tensor in (("freqs", freqs), ("cos", emb.cos()), ("sin", emb.sin())):
        data = tensor.contiguous().numpy().astype("<f4").tobytes()
        with open(os.path.join(out_dir, f"{seq_text}_{dim_text}_{theta_text}.{name}.f32"), "wb") as f:
            f.write(data)


def main() -> None:
    for spec in sys.argv[2:]:
        write_tables(sys.argv[1], spec)


if __name__ == "__main__":
    main()
