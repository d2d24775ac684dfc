#!/usr/bin/env python3
"""Writes a small random-weight llama-family GGUF that llama.cpp loads: for checking Recur's
decoder against llama.cpp on architectures and weight types no real file here has.

  make_random_lm.py --arch qwen2|llama --out F.gguf [--types TYPES] [--seed S] [--layers N]
                    [--untied] [--tokenizer SRC.gguf]

The tokenizer (every `tokenizer.*` key, with its value type) is copied from SRC (by default the
SmolLM2 file that `scripts/setup.sh --llm` fetches), so the vocabulary is 49,152 tokens. Sizes:
hidden 256 (a multiple of the K-quants' 256-element super-blocks), 8 heads, 2 KV heads (head size
32), FFN 512, context 512, RMS epsilon 1e-6, RoPE base 10,000 (`llama`) or 1,000,000 (`qwen2`,
as Qwen2 uses). `qwen2` files have Q/K/V biases; `--untied` adds a separate `output.weight`.

TYPES says what each weight matrix is stored as: comma-separated entries, either a bare type (the
default for every matrix) or PATTERN=TYPE, where PATTERN is matched (fnmatch) against the tensor's
name without `.weight` (`token_embd`, `output`, `blk.1.ffn_up`, `*.attn_v`); later entries win.
Types: f32, f16, q8_0, q4_0, q4_1 (the `gguf` package's quantizers) and q4_k, q5_k, q6_k (a plain
min/max quantizer here, since `gguf.quants.quantize` does not implement the K-quants; its blocks
are checked against `gguf.quants.dequantize`). Norm weights and biases are always F32. The preset
`q4_k_m` is like llama.cpp's Q4_K_M mix: Q4_K, with Q6_K for attn_v, ffn_down and the output (the
token embedding when the output is tied to it, as llama.cpp does), and Q5_K for a few matrices
(layer 0's attn_k and layer 1's ffn_up).

Weights are normal with standard deviation about 1/sqrt(fan-in), so activations stay near unit
scale, attention is far from uniform (which makes RoPE matter), and the logits spread with a
standard deviation of about 2.4.
"""
import argparse
import fnmatch
import os
import sys

try:
    import numpy as np
    import gguf
    from gguf.quants import dequantize, quantize
except ImportError as e:
    print(f"missing Python package: {e.name}", file=sys.stderr)
    sys.exit(77)

QK_K = 256
HIDDEN, HEADS, KV_HEADS, FFN, CONTEXT, EPS = 256, 8, 2, 512, 512, 1e-6
HEAD_DIM = HIDDEN // HEADS
T = gguf.GGMLQuantizationType
TYPES = {"f32": T.F32, "f16": T.F16, "q8_0": T.Q8_0, "q4_0": T.Q4_0, "q4_1": T.Q4_1,
         "q4_k": T.Q4_K, "q5_k": T.Q5_K, "q6_k": T.Q6_K}
PRESETS = {"q4_k_m": "q4_k,*.attn_v=q6_k,*.ffn_down=q6_k,output=q6_k,blk.0.attn_k=q5_k,blk.1.ffn_up=q5_k"}
# llama.cpp's general.file_type (LLAMA_FTYPE_*) for a file whose main type is this one.
FILE_TYPE = {T.F32: 0, T.F16: 1, T.Q4_0: 2, T.Q4_1: 3, T.Q8_0: 7, T.Q4_K: 15, T.Q5_K: 17, T.Q6_K: 18}


def parse_types(spec: str, untied: bool):
    """(default type, tensor name without .weight -> type)."""
    presets = dict(PRESETS)
    if not untied:  # llama.cpp gives a tied embedding the output's type
        presets = {k: v + ",token_embd=q6_k" for k, v in presets.items()}
    entries = [e.strip() for e in spec.split(",") if e.strip()]
    entries = [part for e in entries for part in presets.get(e.lower(), e).split(",")]
    default, rules = T.F32, []
    for entry in entries:
        pattern, _, name = entry.rpartition("=")
        if name.lower() not in TYPES:
            sys.exit(f"unknown type '{name}' (known: {', '.join(TYPES)})")
        if pattern:
            rules.append((pattern, TYPES[name.lower()]))
        else:
            default = TYPES[name.lower()]
    return default, lambda tensor: next((t for p, t in reversed(rules) if fnmatch.fnmatchcase(tensor, p)), default)


# --- K-quant blocks ------------------------------------------------------------------------------
# Layouts as ggml's block_q4_K / block_q5_K / block_q6_K (and gguf.quants' dequantizers):
#   Q4_K { f16 d, f16 dmin, u8 scales[12], u8 qs[128] }: x = d*sc[j]*q - dmin*m[j], 8 sub-blocks
#        of 32; qs chunk c (32 bytes) holds sub-block 2c in its low nibbles, 2c+1 in its high.
#   Q5_K { f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128] }: as Q4_K, bit j of qh[l] is
#        the fifth bit of element l of sub-block j.
#   Q6_K { u8 ql[128], u8 qh[64], i8 scales[16], f16 d }: x = d*sc[k]*(q - 32), 16 scales of 16.


def fp16(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16)


def pack_scale_min(sc, m):
    """8 six-bit scales and mins per block -> ggml's 12 packed bytes (get_scale_min_k4 inverted)."""
    sc, m = sc.astype(np.uint8), m.astype(np.uint8)
    out = np.zeros((sc.shape[0], 12), dtype=np.uint8)
    out[:, 0:4] = (sc[:, 0:4] & 63) | ((sc[:, 4:8] >> 4) << 6)
    out[:, 4:8] = (m[:, 0:4] & 63) | ((m[:, 4:8] >> 4) << 6)
    out[:, 8:12] = (sc[:, 4:8] & 15) | ((m[:, 4:8] & 15) << 4)
    return out


def quantize_min_k(x, bits):
    """Q4_K (bits 4) or Q5_K (bits 5) codes for rows of 256: per sub-block of 32 a scale and a
    non-negative min from its range, both as 6-bit multiples of the block's fp16 d and dmin."""
    levels = (1 << bits) - 1
    b = x.reshape(-1, 8, 32).astype(np.float32)
    lo = np.minimum(b.min(axis=2), 0)
    scale = (b.max(axis=2) - lo) / levels
    mins = -lo
    d = fp16(scale.max(axis=1) / 63)
    dmin = fp16(mins.max(axis=1) / 63)
    df, dminf = d.astype(np.float32)[:, None], dmin.astype(np.float32)[:, None]
    sc = np.clip(np.rint(np.divide(scale, df, out=np.zeros_like(scale), where=df > 0)), 0, 63)
    m = np.clip(np.rint(np.divide(mins, dminf, out=np.zeros_like(mins), where=dminf > 0)), 0, 63)
    step = (df * sc)[:, :, None]
    q = np.divide(b + (dminf * m)[:, :, None], step, out=np.zeros_like(b), where=step > 0)
    q = np.clip(np.rint(q), 0, levels).astype(np.uint8)
    return d, dmin, sc, m, q


def blocks_q4_k(x):
    d, dmin, sc, m, q = quantize_min_k(x, 4)
    n = q.shape[0]
    qs = (q[:, 0::2, :] | (q[:, 1::2, :] << 4)).reshape(n, 128)
    return np.concatenate([d.view(np.uint8).reshape(n, 2), dmin.view(np.uint8).reshape(n, 2),
                           pack_scale_min(sc, m), qs], axis=1)


def blocks_q5_k(x):
    d, dmin, sc, m, q = quantize_min_k(x, 5)
    n = q.shape[0]
    low, high = q & 15, q >> 4
    qs = (low[:, 0::2, :] | (low[:, 1::2, :] << 4)).reshape(n, 128)
    qh = np.zeros((n, 32), dtype=np.uint8)
    for j in range(8):
        qh |= high[:, j, :] << j
    return np.concatenate([d.view(np.uint8).reshape(n, 2), dmin.view(np.uint8).reshape(n, 2),
                           pack_scale_min(sc, m), qh, qs], axis=1)


def blocks_q6_k(x):
    b = x.reshape(-1, 16, 16).astype(np.float32)
    n = b.shape[0]
    scale = np.abs(b).max(axis=2) / 31
    d = fp16(scale.max(axis=1) / 127)
    df = d.astype(np.float32)[:, None]
    sc = np.clip(np.rint(np.divide(scale, df, out=np.zeros_like(scale), where=df > 0)), 0, 127)
    step = (df * sc)[:, :, None]
    q = np.clip(np.rint(np.divide(b, step, out=np.zeros_like(b), where=step > 0)), -32, 31)
    q = (q + 32).astype(np.uint8).reshape(n, 2, 4, 32)  # [half][group of 32][element]
    low, high = q & 15, q >> 4
    ql = np.concatenate([low[:, :, 0] | (low[:, :, 2] << 4), low[:, :, 1] | (low[:, :, 3] << 4)], axis=2).reshape(n, 128)
    qh = (high[:, :, 0] | (high[:, :, 1] << 2) | (high[:, :, 2] << 4) | (high[:, :, 3] << 6)).reshape(n, 64)
    return np.concatenate([ql, qh, sc.astype(np.int8).view(np.uint8), d.view(np.uint8).reshape(n, 2)], axis=1)


K_BLOCKS = {T.Q4_K: blocks_q4_k, T.Q5_K: blocks_q5_k, T.Q6_K: blocks_q6_k}


def encode(values, qtype):
    """Values [rows, cols] float32 -> the array GGUFWriter stores for `qtype`."""
    if qtype == T.F32:
        return values.astype(np.float32)
    if qtype == T.F16:
        return values.astype(np.float16)
    if qtype in K_BLOCKS:
        rows, cols = values.shape
        data = K_BLOCKS[qtype](values.reshape(-1, QK_K)).reshape(rows, -1)
        # The blocks must decode (with the gguf package's own dequantizer) to the values quantized.
        back = dequantize(data, qtype).reshape(rows, cols)
        err = np.abs(back - values).max() / max(np.abs(values).max(), 1e-30)
        if not np.isfinite(back).all() or err > 0.1:
            sys.exit(f"{qtype.name} blocks do not decode to the values (relative error {err})")
        return data
    return quantize(values.astype(np.float32), qtype)


# --- the model ----------------------------------------------------------------------------------


def tensors(arch: str, layers: int, untied: bool, vocab: int, rng):
    """(name, float32 array in numpy order [rows, cols], is a matrix) in llama.cpp's names."""
    def normal(*shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def norm_weight():
        return (1 + 0.1 * rng.standard_normal(HIDDEN)).astype(np.float32)

    kv = KV_HEADS * HEAD_DIM
    # The embedding's scale sets the logits' spread when the head is tied: std about 2.5.
    yield "token_embd.weight", normal(vocab, HIDDEN, std=0.15), True
    for i in range(layers):
        p = f"blk.{i}"
        yield f"{p}.attn_norm.weight", norm_weight(), False
        # q and k a little above unit scale: scores of std ~2 give peaked, position-dependent attention.
        yield f"{p}.attn_q.weight", normal(HIDDEN, HIDDEN, std=1.4 / HIDDEN ** 0.5), True
        yield f"{p}.attn_k.weight", normal(kv, HIDDEN, std=1.4 / HIDDEN ** 0.5), True
        yield f"{p}.attn_v.weight", normal(kv, HIDDEN, std=1 / HIDDEN ** 0.5), True
        if arch == "qwen2":
            yield f"{p}.attn_q.bias", normal(HIDDEN, std=0.5), False
            yield f"{p}.attn_k.bias", normal(kv, std=0.5), False
            yield f"{p}.attn_v.bias", normal(kv, std=0.2), False
        yield f"{p}.attn_output.weight", normal(HIDDEN, HIDDEN, std=0.5 / HIDDEN ** 0.5), True
        yield f"{p}.ffn_norm.weight", norm_weight(), False
        yield f"{p}.ffn_gate.weight", normal(FFN, HIDDEN, std=1 / HIDDEN ** 0.5), True
        yield f"{p}.ffn_up.weight", normal(FFN, HIDDEN, std=1 / HIDDEN ** 0.5), True
        yield f"{p}.ffn_down.weight", normal(HIDDEN, FFN, std=0.5 / FFN ** 0.5), True
    yield "output_norm.weight", norm_weight(), False
    if untied:
        yield "output.weight", normal(vocab, HIDDEN, std=0.15), True


def default_tokenizer():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "..", ".cache", "llm", "SmolLM2-135M-Instruct.Q4_1.gguf")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", required=True, choices=["llama", "qwen2"])
    p.add_argument("--out", required=True)
    p.add_argument("--types", default="f32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--layers", type=int, default=2, choices=[2, 3, 4])
    p.add_argument("--untied", action="store_true", help="a separate output.weight instead of the tied embedding")
    p.add_argument("--tokenizer", default=default_tokenizer(), help="GGUF whose tokenizer.* metadata is copied")
    a = p.parse_args()
    default, type_of = parse_types(a.types, a.untied)
    rng = np.random.default_rng(a.seed)

    src = gguf.GGUFReader(a.tokenizer)
    vocab = len(src.fields["tokenizer.ggml.tokens"].data)
    tmp = a.out + ".partial"
    w = gguf.GGUFWriter(tmp, a.arch)
    w.add_name(f"random {a.arch} {a.types} seed {a.seed}")
    w.add_context_length(CONTEXT)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(a.layers)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_rope_freq_base(1_000_000.0 if a.arch == "qwen2" else 10_000.0)
    w.add_layer_norm_rms_eps(EPS)
    w.add_vocab_size(vocab)
    w.add_file_type(FILE_TYPE[default])
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for key, field in src.fields.items():
        if not key.startswith("tokenizer."):
            continue
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            w.add_key_value(key, field.contents(), vtype, sub_type=field.types[-1])
        else:
            w.add_key_value(key, field.contents(), vtype)
    for name, values, matrix in tensors(a.arch, a.layers, a.untied, vocab, rng):
        qtype = type_of(name.removesuffix(".weight")) if matrix else T.F32
        data = encode(values, qtype)
        w.add_tensor(name, data, raw_shape=data.shape, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
