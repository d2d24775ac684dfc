#!/usr/bin/env python3
"""Writes a random-weight recursive causal LM (`rlm`, docs/recursive-lm.md) of the "TRM-800M"
shape as GGUF, for timing the runtime at a realistic size without a trained checkpoint.

    python3 benchmarks/synthetic_trm800m.py OUT.gguf --type q4_0|q8_0|f16|f32
                                            [--seed S] [--q-bias B] [--small] [--no-verify]

Shape (HRM-style: a separate H stack): hidden 1536, 24 heads (no GQA), SwiGLU width
ceil256(round(4 * 1536 * 2 / 3)) = 4096, H_cycles 5, L_cycles 3, 12 H-layers, 4 L-layers,
vocabulary 32,000, a memory bank of 32,768 slots read with 24 heads, context 2048,
halt_max_steps 4, RoPE base 10,000, RMS epsilon 1e-5, halt rule q_halt>0 (about 611M
parameters). `--small` is the same family scaled down for quick tests: hidden 256, 4 heads,
2 H-layers, 1 L-layer, H_cycles 2, L_cycles 2, vocabulary 2000, 512 slots.

Weights are normal with standard deviation 1/sqrt(fan-in) (the embedding 1/sqrt(D), so
x = sqrt(D) * embedding is unit scale); the memory bank's rows are unit scale (std 1), like the
RMS-normed states that read it; H_init and L_init are std 1. The Q-head is weight std 1/sqrt(D)
and bias [B, 0] (`--q-bias B`, default 0): z_H is RMS-normed, so q_halt is about N(B, 1) and a
token halts at each step with probability about Phi(B) under `q_halt>0`. Every tensor draws from
its own generator, seeded by (seed, crc32(name)), in row chunks, and is written as soon as it is
encoded, so peak memory is about one tensor. Matrices (linear weights, token_embd, output,
memory.bank) get --type; h_init, l_init and qhead.* stay F32.

The tokenizer is a synthetic byte-level BPE (`gpt2` model, `gpt-2` pre-tokenizer): ids 0-255 are
the 256 bytes in byte order, written in GPT-2's bytes_to_unicode alphabet; then merged tokens of
lowercase letters, with or without a leading space ('Ġ'), in order of decreasing English unigram
probability (each one's merge is "prefix last-letter", so every merge's parts and product are
tokens); the last id is `<|endoftext|>` (type 3), the BOS and EOS.

After writing, the file is read back with gguf.GGUFReader and checked: metadata, every tensor's
name, shape and type, the merges, and one matrix dequantized against the values it was made from.
"""
import argparse
import heapq
import math
import os
import resource
import sys
import time
import zlib

try:
    import numpy as np
    import gguf
    from gguf.quants import dequantize, quantize
except ImportError as e:
    print(f"missing Python package: {e.name}", file=sys.stderr)
    sys.exit(77)

T = gguf.GGMLQuantizationType
TYPES = {"q4_0": T.Q4_0, "q8_0": T.Q8_0, "f16": T.F16, "f32": T.F32}
FILE_TYPE = {T.F32: 0, T.F16: 1, T.Q4_0: 2, T.Q8_0: 7}
ARCH = "rlm"
CHUNK_ELEMENTS = 1 << 23  # rows generated and encoded at a time: ~32 MB of float32


def ceil256(x):
    return (x + 255) // 256 * 256


def shape_config(small: bool):
    c = dict(hidden=1536, heads=24, h_cycles=5, l_cycles=3, h_layers=12, l_layers=4, vocab=32000,
             slots=32768, memory_heads=24, expansion=4, context=2048, halt_max_steps=4,
             rope_theta=10000.0, eps=1e-5, halt_rule="q_halt>0")
    if small:
        c.update(hidden=256, heads=4, h_layers=2, l_layers=1, h_cycles=2, l_cycles=2, vocab=2000,
                 slots=512, memory_heads=4)
    c["ffn"] = ceil256(round(c["expansion"] * c["hidden"] * 2 / 3))
    return c


def metadata(c):
    """(key, value, GGUF value type) of the rlm.* keys, as the runtime reads them."""
    u, f, s = gguf.GGUFValueType.UINT32, gguf.GGUFValueType.FLOAT32, gguf.GGUFValueType.STRING
    return [
        ("embedding_length", c["hidden"], u),
        ("attention.head_count", c["heads"], u),
        ("attention.head_count_kv", c["heads"], u),
        ("attention.layer_norm_rms_epsilon", c["eps"], f),
        ("feed_forward_length", c["ffn"], u),
        ("vocab_size", c["vocab"], u),
        ("context_length", c["context"], u),
        ("h_cycles", c["h_cycles"], u),
        ("l_cycles", c["l_cycles"], u),
        ("l_layers", c["l_layers"], u),
        ("h_layers", c["h_layers"], u),
        ("halt_max_steps", c["halt_max_steps"], u),
        ("halt_rule", c["halt_rule"], s),
        ("rope.freq_base", c["rope_theta"], f),
        ("memory.slots", c["slots"], u),
        ("memory.head_count", c["memory_heads"], u),
    ]


def tensor_specs(c):
    """(name, numpy shape [rows, cols] or [n], std, is a matrix) in file order."""
    D, F, V = c["hidden"], c["ffn"], c["vocab"]
    specs = [("token_embd.weight", (V, D), 1 / math.sqrt(D), True),
             ("h_init", (D,), 1.0, False),
             ("l_init", (D,), 1.0, False)]
    for stack, n in (("L", c["l_layers"]), ("H", c["h_layers"])):
        for i in range(n):
            p = f"{stack}.blk.{i}"
            specs += [(f"{p}.attn_qkv.weight", (3 * D, D), 1 / math.sqrt(D), True),
                      (f"{p}.attn_output.weight", (D, D), 1 / math.sqrt(D), True),
                      (f"{p}.ffn_gate.weight", (F, D), 1 / math.sqrt(D), True),
                      (f"{p}.ffn_up.weight", (F, D), 1 / math.sqrt(D), True),
                      (f"{p}.ffn_down.weight", (D, F), 1 / math.sqrt(F), True)]
    if c["slots"] > 0:
        specs.append(("memory.bank", (c["slots"], D), 1.0, True))
        for proj in ("q", "k", "v", "output"):
            specs.append((f"memory.attn_{proj}.weight", (D, D), 1 / math.sqrt(D), True))
    specs += [("output.weight", (V, D), 1 / math.sqrt(D), True),
              ("qhead.weight", (2, D), 1 / math.sqrt(D), False),
              ("qhead.bias", (2,), 0.0, False)]
    return specs


def component(name):
    if name.startswith(("L.blk", "H.blk")):
        return name.split(".")[0] + " stack"
    return {"token_embd.weight": "token_embd", "output.weight": "output (LM head)",
            "memory.bank": "memory.bank"}.get(name, "memory projections" if name.startswith("memory.")
                                               else "qhead + h_init + l_init")


def rng_for(seed, name):
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def chunks(name, shape, std, seed, q_bias):
    """The tensor's float32 values, in row chunks (the same values whatever reads them)."""
    if name == "qhead.bias":
        yield np.array([q_bias, 0.0], dtype=np.float32)  # [q_halt, q_continue]
        return
    rng = rng_for(seed, name)
    if len(shape) == 1:
        yield rng.standard_normal(shape, dtype=np.float32) * np.float32(std)
        return
    rows, cols = shape
    step = max(1, CHUNK_ELEMENTS // cols)
    for r in range(0, rows, step):
        x = rng.standard_normal((min(step, rows - r), cols), dtype=np.float32)
        x *= np.float32(std)
        yield x


def values(name, shape, std, seed, q_bias):
    return np.concatenate(list(chunks(name, shape, std, seed, q_bias)), axis=0)


def stored_layout(shape, qtype):
    """(numpy dtype, array shape, bytes) of the tensor as stored."""
    if qtype == T.F32:
        return np.float32, shape, 4 * math.prod(shape)
    if qtype == T.F16:
        return np.float16, shape, 2 * math.prod(shape)
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    rows, cols = shape
    assert cols % block == 0, f"row length {cols} is not a multiple of {block}"
    return np.uint8, (rows, cols // block * size), rows * cols // block * size


def encode(name, shape, std, seed, q_bias, qtype):
    dtype, stored_shape, _ = stored_layout(shape, qtype)
    out = np.empty(stored_shape, dtype=dtype)
    r = 0
    for x in chunks(name, shape, std, seed, q_bias):
        out[r:r + x.shape[0]] = quantize(x, qtype)
        r += x.shape[0]
    return out


# --- the tokenizer -------------------------------------------------------------------------------

LETTER_FREQ = dict(zip("abcdefghijklmnopqrstuvwxyz",
                       [8.17, 1.49, 2.78, 4.25, 12.70, 2.23, 2.02, 6.09, 6.97, 0.15, 0.77, 4.03, 2.41,
                        6.75, 7.51, 1.93, 0.10, 5.99, 6.33, 9.06, 2.76, 0.98, 2.36, 0.15, 1.97, 0.07]))
SPACE_WEIGHT = 0.5  # a leading space's probability factor relative to the letters' (which sum to 1)
EOT = "<|endoftext|>"


def bytes_to_unicode():
    """GPT-2's byte -> printable character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tokenizer(vocab):
    """(tokens, token types, merges, endoftext id) of `vocab` tokens."""
    byte = bytes_to_unicode()
    space = byte[ord(" ")]  # 'Ġ'
    tokens = [byte[b] for b in range(256)]
    total = sum(LETTER_FREQ.values())
    prob = {c: f / total for c, f in LETTER_FREQ.items()}
    prob[space] = SPACE_WEIGHT
    n_merges = vocab - 256 - 1
    heap = []

    def push_children(s, score):
        for c in LETTER_FREQ:
            heapq.heappush(heap, (-(score * prob[c]), s + c))

    for c in [space, *LETTER_FREQ]:
        push_children(c, prob[c])
    merges = []
    while len(merges) < n_merges:
        neg, s = heapq.heappop(heap)
        merges.append(f"{s[:-1]} {s[-1]}")  # the prefix scores higher, so it is already a token
        tokens.append(s)
        push_children(s, -neg)
    tokens.append(EOT)
    types = [1] * (vocab - 1) + [3]
    return tokens, types, merges, vocab - 1


# --- writing -------------------------------------------------------------------------------------


def write(path, c, qtype, seed, q_bias):
    specs = tensor_specs(c)
    tokens, types, merges, eot = tokenizer(c["vocab"])
    tmp = path + ".partial"
    w = gguf.GGUFWriter(tmp, ARCH)
    w.add_name("synthetic-trm-800m" if c["hidden"] == 1536 else "synthetic-trm-800m-small")
    w.add_file_type(FILE_TYPE[qtype])
    if qtype not in (T.F32, T.F16):
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for key, value, vtype in metadata(c):
        w.add_key_value(f"{ARCH}.{key}", value, vtype)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(eot)
    w.add_eos_token_id(eot)
    w.add_add_bos_token(False)

    types_of = {}
    for name, shape, _, matrix in specs:
        t = qtype if matrix else T.F32
        types_of[name] = t
        _, _, nbytes = stored_layout(shape, t)
        # An element shape with a non-byte dtype: the writer keeps it (and reverses it on disk).
        w.add_tensor_info(name, shape, np.dtype(np.float32), nbytes, raw_dtype=t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    checked = False
    for name, shape, std, matrix in specs:
        t = types_of[name]
        data = encode(name, shape, std, seed, q_bias, t)
        if matrix and not checked and name.endswith("attn_qkv.weight"):
            check_roundtrip(name, data, values(name, shape, std, seed, q_bias), t)
            checked = True
        w.write_tensor_data(data)
        del data
    w.close()
    os.replace(tmp, path)
    return specs, types_of


REL_RMS_LIMIT = {T.F32: 0.0, T.F16: 1e-3, T.Q8_0: 0.01, T.Q4_0: 0.15}


def check_roundtrip(name, data, ref, qtype):
    """The stored blocks, dequantized by gguf.quants, are close to the values they encode."""
    back = dequantize(data, qtype).reshape(ref.shape)
    rel = float(np.sqrt(np.mean((back - ref) ** 2)) / np.sqrt(np.mean(ref ** 2)))
    if not np.isfinite(back).all() or rel > REL_RMS_LIMIT[qtype]:
        sys.exit(f"{name}: {qtype.name} blocks dequantize with relative RMS error {rel:.4f}")
    print(f"  {name}: {qtype.name} dequantizes back with relative RMS error {rel:.4f}")
    return rel


def verify(path, c, specs, types_of, seed, q_bias):
    """Reads the file back with GGUFReader and checks it against the contract."""
    r = gguf.GGUFReader(path)
    problems = []

    def field(key):
        f = r.fields.get(key)
        if f is None:
            problems.append(f"{key} is missing")
            return None
        return f.contents()

    if field("general.architecture") != ARCH:
        problems.append("general.architecture is not rlm")
    for key, value, vtype in metadata(c):
        f = r.fields.get(f"{ARCH}.{key}")
        if f is None:
            problems.append(f"{ARCH}.{key} is missing")
            continue
        got = f.contents()
        if f.types[0] != vtype or (got != value if vtype != gguf.GGUFValueType.FLOAT32 else abs(got - value) > 1e-6 * abs(value)):
            problems.append(f"{ARCH}.{key} is {got!r} ({f.types[0].name}), expected {value!r} ({vtype.name})")
    tokens = field("tokenizer.ggml.tokens")
    merges = field("tokenizer.ggml.merges")
    ttypes = field("tokenizer.ggml.token_type")
    if field("tokenizer.ggml.model") != "gpt2" or field("tokenizer.ggml.pre") != "gpt-2":
        problems.append("tokenizer model/pre are not gpt2/gpt-2")
    if tokens is not None and merges is not None and ttypes is not None:
        vocab = set(tokens)
        if len(tokens) != c["vocab"] or len(vocab) != len(tokens) or len(ttypes) != len(tokens):
            problems.append("token list size, uniqueness or token types count is wrong")
        for m in merges:
            a, b = m.split(" ")
            if a not in vocab or b not in vocab or a + b not in vocab:
                problems.append(f"merge {m!r} is not consistent with the tokens")
                break
        if len(set(merges)) != len(merges):
            problems.append("duplicate merges")
        eot = tokens.index(EOT)
        if field("tokenizer.ggml.bos_token_id") != eot or field("tokenizer.ggml.eos_token_id") != eot or ttypes[eot] != 3:
            problems.append("bos/eos are not <|endoftext|> (type 3)")
    tensors = {t.name: t for t in r.tensors}
    if list(tensors) != [s[0] for s in specs]:
        problems.append(f"tensor names differ: {sorted(set(tensors) ^ {s[0] for s in specs})}")
    for name, shape, _, _ in specs:
        t = tensors.get(name)
        if t is None:
            continue
        if list(t.shape) != list(reversed(shape)) or t.tensor_type != types_of[name]:
            problems.append(f"{name}: {t.tensor_type.name} {list(t.shape)}, expected {types_of[name].name} {list(reversed(shape))}")
    # One matrix from the file against the values it was generated from, and the Q-head's bias.
    name, shape, std, _ = next(s for s in specs if s[0] == "L.blk.0.attn_qkv.weight")
    check_roundtrip(name + " (read back)", np.array(tensors[name].data), values(name, shape, std, seed, q_bias), types_of[name])
    bias = np.array(tensors["qhead.bias"].data)
    if not np.allclose(bias, [q_bias, 0.0]):
        problems.append(f"qhead.bias is {bias}")
    if problems:
        sys.exit("verification failed:\n  " + "\n  ".join(problems))
    print(f"  verified: {len(tensors)} tensors, {len(r.fields)} metadata keys, {len(merges)} merges consistent")


def report_arithmetic(c, counts):
    D, F, V, S = c["hidden"], c["ffn"], c["vocab"], c["slots"]
    per_layer = 3 * D * D + D * D + 2 * F * D + F * D
    virtual = c["h_cycles"] * (c["l_cycles"] * c["l_layers"] + (c["h_layers"] or c["l_layers"]))
    memory = (2 * D * D + 2 * S * D) if S else 0
    ctx = 128
    layers_mac = virtual * per_layer
    memory_mac = c["h_cycles"] * memory
    attn_mac = virtual * 2 * ctx * D
    print(f"per ACT step and token: {virtual} virtual layers x {per_layer:,} = {layers_mac:,} MACs; "
          f"memory reads {c['h_cycles']} x {memory:,} = {memory_mac:,}; attention over {ctx} positions "
          f"{attn_mac:,}; total {layers_mac + memory_mac + attn_mac:,}; LM head {V * D:,} per token")
    q4 = 18 / 32
    print(f"Q4_0 bytes streamed per ACT step (each virtual layer reads its weights): "
          f"{(layers_mac + c['h_cycles'] * 2 * D * D) * q4:,.0f}; distinct weights "
          f"{(counts.get('L stack', 0) + counts.get('H stack', 0) + 2 * D * D) * q4:,.0f}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--type", required=True, choices=list(TYPES))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--q-bias", type=float, default=0.0,
                   help="q_halt's bias: a token halts at each step with probability about Phi(B)")
    p.add_argument("--small", action="store_true", help="the scaled-down shape, for quick tests")
    p.add_argument("--no-verify", action="store_true", help="skip reading the file back")
    a = p.parse_args()
    c = shape_config(a.small)
    qtype = TYPES[a.type]
    start = time.time()
    specs, types_of = write(a.out, c, qtype, a.seed, a.q_bias)
    written = time.time() - start

    counts = {}
    for name, shape, _, _ in specs:
        counts[component(name)] = counts.get(component(name), 0) + math.prod(shape)
    total = sum(counts.values())
    size = os.path.getsize(a.out)
    print(f"wrote {a.out}: {a.type}, {total:,} parameters, {size:,} bytes ({size / 2**20:.1f} MiB) in {written:.1f} s")
    for k, v in counts.items():
        print(f"  {k:<26} {v:>13,}")
    report_arithmetic(c, counts)
    if not a.no_verify:
        t = time.time()
        verify(a.out, c, specs, types_of, a.seed, a.q_bias)
        print(f"  verification took {time.time() - t:.1f} s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
