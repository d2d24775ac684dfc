#!/usr/bin/env python3
"""Recur `rlm` GGUF files in the PyTorch reference (recur_reference/rlm.py, docs/recursive-lm.md).

Loads a GGUF with `general.architecture = "rlm"` into `RecursiveLM` (every tensor dequantized
with gguf.quants.dequantize, so PyTorch runs exactly the weights Recur runs, as float32; names
mapped back per the doc's table; ffn_gate/ffn_up re-fused into gate_up_proj; `rlm.*` metadata
read into RLMConfig) and runs it. Each subcommand prints one JSON object to stdout:

    generate --gguf F --prompt-ids "1,2,3" [--prompt-ids ...] --n 64 [--policy qhead|max|compare]
             [--max-steps N] [--engine fast|cached|recompute]
        greedy generation per prompt: {"results": [{"tokens": [...], "steps": [...]}]}, steps =
        ACT steps of every evaluated position (the prompt's, then every generated token but the last)
    tokenize --gguf F --text T [--text ...] [--tokenizer tokenizer.json]
        ids of the Hugging Face `tokenizers` library for the tokenizer.json beside F (or given);
        {"skipped": reason} when there is none
    ppl --gguf F --text-file FILE [--max-tokens N] [--window W] [--policy qhead|max] [--batch B]
        teacher-forced perplexity with forward_halting over non-overlapping windows of W tokens
        (W - 1 predictions per window), and the mean ACT steps per token
    bench --gguf F [--prompt-ids ...|--prompt-tokens N] --n 64 --threads T [--policy qhead|max]
          [--repetitions R] [--engine fast|cached]
        PyTorch eager baseline: greedy generation of n tokens (warm-up run, then R repetitions,
        medians): prompt seconds, decode tokens/s (n - 1 single-token steps, as Recur counts
        decode steps), mean ACT steps per generated token

`generate_fast` is the cached greedy generator used here (and by make_rlm_fixtures.py): one
preallocated key/value buffer per (ACT step, virtual layer); a step's buffer is opened, when a
position first reaches that step, from the step before (earlier positions' last computed
entries), and a halted token's entries at deeper open steps are copied from its last step: the
doc's rule. It computes the memory bank's keys/values once (bit-identical reads) and does no
recomputation of the sequence. It equals rlm.py's generate_recompute (the definition) token for
token and step for step; rlm.py's generate_cached agrees except where its bug bites (a generated
token opening a step no earlier position reached gets its own key twice), which is why `fast`
is the default engine. `write_gguf(model, cfg, path[, tokenizer_json, tokenizer_config])` writes
an F32 `rlm` file with the names and metadata `recur export` writes (for tests).

--threads sets torch.set_num_threads (default 1). The `gguf` package is imported only by the
functions that read or write GGUF, so make_rlm_fixtures.py can import generate_fast with torch
alone; `tokenizers` only by tokenize and ppl.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from recur_reference.layers import swiglu_width  # noqa: E402
from recur_reference.rlm import RecursiveLM, RLMConfig, make_policy, normalize_halt_rule  # noqa: E402

ARCH = "rlm"


class RLMGGUFError(ValueError):
    pass


# ---- reading ------------------------------------------------------------------------------------

def _short_float(value) -> float:
    """A float32 from the file as the shortest decimal with the same float32 (1e-05, not 9.99999974e-06)."""
    short = float(f"{float(value):.7g}")
    return short if np.float32(short) == np.float32(value) else float(value)


def _expansion(hidden: int, ffn: int) -> float:
    """An expansion that RLMConfig turns back into the file's SwiGLU width."""
    for e in (4.0, 8.0 / 3.0, 2.0, 3.0, 1.0, ffn * 1.5 / hidden):
        if swiglu_width(hidden, e) == ffn:
            return e
    raise RLMGGUFError(f"feed_forward_length {ffn} is not ceil256(round(expansion * {hidden} * 2/3)) for any expansion")


def load_gguf_rlm(path: str) -> Tuple[RecursiveLM, RLMConfig]:
    """The model and configuration of a Recur `rlm` GGUF file, float32, eval mode."""
    from gguf import GGUFReader, quants

    reader = GGUFReader(path)

    def field(key, default=None):
        f = reader.fields.get(key)
        if f is None:
            if default is None:
                raise RLMGGUFError(f"{path}: metadata key {key} missing")
            return default
        return f.contents()

    arch = field("general.architecture")
    if arch != ARCH:
        raise RLMGGUFError(f"{path}: general.architecture {arch!r} is not {ARCH!r}")
    hidden = int(field("rlm.embedding_length"))
    heads = int(field("rlm.attention.head_count"))
    if int(field("rlm.attention.head_count_kv", heads)) != heads:
        raise RLMGGUFError(f"{path}: head_count_kv differs from head_count (the rlm has no GQA)")
    ffn = int(field("rlm.feed_forward_length"))
    slots = int(field("rlm.memory.slots", 0))
    cfg = RLMConfig(
        vocab_size=int(field("rlm.vocab_size")), hidden_size=hidden, num_heads=heads,
        H_cycles=int(field("rlm.h_cycles")), L_cycles=int(field("rlm.l_cycles")),
        L_layers=int(field("rlm.l_layers")), H_layers=int(field("rlm.h_layers", 0)),
        halt_max_steps=int(field("rlm.halt_max_steps")), seq_len=int(field("rlm.context_length")),
        expansion=_expansion(hidden, ffn), rope_theta=_short_float(field("rlm.rope.freq_base")),
        rms_norm_eps=_short_float(field("rlm.attention.layer_norm_rms_epsilon")),
        memory_slots=slots, memory_heads=int(field("rlm.memory.head_count", 0)) if slots > 0 else 0,
        halt_rule=normalize_halt_rule(str(field("rlm.halt_rule"))),
    )

    t: Dict[str, torch.Tensor] = {}
    for tensor in reader.tensors:
        values = quants.dequantize(tensor.data, tensor.tensor_type)
        shape = [int(x) for x in reversed(tensor.shape.tolist())]  # gguf lists ne, fastest first
        t[tensor.name] = torch.from_numpy(np.array(values, dtype=np.float32).reshape(shape))
    used = set()

    def take(name):
        if name not in t:
            raise RLMGGUFError(f"{path}: tensor {name} missing")
        used.add(name)
        return t[name]

    state = {
        "embed_tokens.embedding_weight": take("token_embd.weight"),
        "lm_head.weight": take("output.weight"),
        "q_head.weight": take("qhead.weight"),
        "q_head.bias": take("qhead.bias"),
        "H_init": take("h_init"),
        "L_init": take("l_init"),
    }
    stacks = [("L", "L_level", cfg.L_layers)] + ([("H", "H_level", cfg.H_layers)] if cfg.H_layers > 0 else [])
    for stack, module, layers in stacks:
        for i in range(layers):
            src, dst = f"{stack}.blk.{i}", f"{module}.layers.{i}"
            state[f"{dst}.self_attn.qkv_proj.weight"] = take(f"{src}.attn_qkv.weight")
            state[f"{dst}.self_attn.o_proj.weight"] = take(f"{src}.attn_output.weight")
            state[f"{dst}.mlp.gate_up_proj.weight"] = torch.cat([take(f"{src}.ffn_gate.weight"), take(f"{src}.ffn_up.weight")])
            state[f"{dst}.mlp.down_proj.weight"] = take(f"{src}.ffn_down.weight")
    if slots > 0:
        state["memory.bank"] = take("memory.bank")
        for part, name in (("q", "attn_q"), ("k", "attn_k"), ("v", "attn_v"), ("o", "attn_output")):
            state[f"memory.{part}_proj.weight"] = take(f"memory.{name}.weight")
    unused = sorted(set(t) - used)
    if unused:
        raise RLMGGUFError(f"{path}: tensors the model does not use: {unused}")
    model = RecursiveLM(cfg)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, cfg


# ---- writing ------------------------------------------------------------------------------------

def gguf_tensors(model: RecursiveLM) -> List[Tuple[str, torch.Tensor]]:
    """(GGUF name, float32 tensor) in the order `recur export` writes them."""
    cfg = model.cfg
    sd = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
    out = [("token_embd.weight", sd["embed_tokens.embedding_weight"]), ("h_init", sd["H_init"]), ("l_init", sd["L_init"]),
           ("output.weight", sd["lm_head.weight"]), ("qhead.weight", sd["q_head.weight"]), ("qhead.bias", sd["q_head.bias"])]
    stacks = [("L", "L_level", cfg.L_layers)] + ([("H", "H_level", cfg.H_layers)] if cfg.H_layers > 0 else [])
    for stack, module, layers in stacks:
        for i in range(layers):
            src, dst = f"{module}.layers.{i}", f"{stack}.blk.{i}"
            gate, up = sd[f"{src}.mlp.gate_up_proj.weight"].chunk(2, dim=0)
            out += [(f"{dst}.attn_qkv.weight", sd[f"{src}.self_attn.qkv_proj.weight"]),
                    (f"{dst}.attn_output.weight", sd[f"{src}.self_attn.o_proj.weight"]),
                    (f"{dst}.ffn_gate.weight", gate.contiguous()), (f"{dst}.ffn_up.weight", up.contiguous()),
                    (f"{dst}.ffn_down.weight", sd[f"{src}.mlp.down_proj.weight"])]
    if cfg.memory_slots > 0:
        out.append(("memory.bank", sd["memory.bank"]))
        for part, name in (("q", "attn_q"), ("k", "attn_k"), ("v", "attn_v"), ("o", "attn_output")):
            out.append((f"memory.{name}.weight", sd[f"memory.{part}_proj.weight"]))
    return out


def tokenizer_metadata(tokenizer_json: str, tokenizer_config: Optional[str] = None) -> List[Tuple[str, str, object]]:
    """(key, kind, value) of the `tokenizer.*` keys, as Recur's TokenizerImport writes them."""
    with open(tokenizer_json) as f:
        root = json.load(f)
    model = root["model"]
    if model.get("type") != "BPE":
        raise RLMGGUFError(f"{tokenizer_json}: not a BPE tokenizer")
    by_id = {int(i): tok for tok, i in model["vocab"].items()}
    special = set()
    for added in root.get("added_tokens") or []:
        by_id[int(added["id"])] = added["content"]
        if added.get("special"):
            special.add(int(added["id"]))
    count = max(by_id) + 1
    if len(by_id) != count:
        raise RLMGGUFError(f"{tokenizer_json}: token ids are not 0 ..< {count} without gaps")
    tokens = [by_id[i] for i in range(count)]
    merges = [m if isinstance(m, str) else f"{m[0]} {m[1]}" for m in model.get("merges", [])]
    config = {}
    if tokenizer_config and os.path.isfile(tokenizer_config):
        with open(tokenizer_config) as f:
            config = json.load(f)
    meta = [("tokenizer.ggml.model", "string", "gpt2"), ("tokenizer.ggml.pre", "string", "gpt-2"),
            ("tokenizer.ggml.tokens", "strings", tokens),
            ("tokenizer.ggml.token_type", "int32s", [3 if i in special else 1 for i in range(count)]),
            ("tokenizer.ggml.merges", "strings", merges), ("tokenizer.ggml.add_bos_token", "bool", False)]
    for key, name in (("bos_token", "bos_token_id"), ("eos_token", "eos_token_id")):
        value = config.get(key, None if config else "<|endoftext|>")
        text = value.get("content") if isinstance(value, dict) else value
        if text in tokens:
            meta.append((f"tokenizer.ggml.{name}", "uint32", tokens.index(text)))
    if isinstance(config.get("chat_template"), str):
        meta.append(("tokenizer.chat_template", "string", config["chat_template"]))
    return meta


def write_gguf(model: RecursiveLM, cfg: Optional[RLMConfig], path: str, tokenizer_json: Optional[str] = None,
               tokenizer_config: Optional[str] = None) -> str:
    """An F32 `rlm` GGUF of `model` with the doc's names and metadata (tokenizer keys when given)."""
    import gguf

    cfg = cfg or model.cfg
    tensors = gguf_tensors(model)
    ffn = model.L_level.layers[0].mlp.down_proj.weight.shape[1]
    w = gguf.GGUFWriter(path, ARCH)  # writes general.architecture
    for key, value in (("embedding_length", cfg.hidden_size), ("attention.head_count", cfg.num_heads),
                       ("attention.head_count_kv", cfg.num_heads)):
        w.add_uint32(f"{ARCH}.{key}", value)
    w.add_float32(f"{ARCH}.attention.layer_norm_rms_epsilon", cfg.rms_norm_eps)
    for key, value in (("feed_forward_length", ffn), ("vocab_size", cfg.vocab_size), ("context_length", cfg.seq_len),
                       ("h_cycles", cfg.H_cycles), ("l_cycles", cfg.L_cycles), ("l_layers", cfg.L_layers),
                       ("h_layers", cfg.H_layers), ("halt_max_steps", cfg.halt_max_steps)):
        w.add_uint32(f"{ARCH}.{key}", value)
    w.add_string(f"{ARCH}.halt_rule", normalize_halt_rule(cfg.halt_rule))
    w.add_float32(f"{ARCH}.rope.freq_base", cfg.rope_theta)
    w.add_uint32(f"{ARCH}.memory.slots", cfg.memory_slots)
    w.add_uint32(f"{ARCH}.memory.head_count", cfg.memory_heads if cfg.memory_slots > 0 else 0)
    if tokenizer_json:
        for key, kind, value in tokenizer_metadata(tokenizer_json, tokenizer_config):
            if kind == "string":
                w.add_string(key, value)
            elif kind == "uint32":
                w.add_uint32(key, value)
            elif kind == "bool":
                w.add_bool(key, value)
            elif kind == "strings":
                w.add_array(key, value)
            elif kind == "int32s":
                w.add_key_value(key, value, gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.INT32)
    for name, tensor in tensors:
        w.add_tensor(name, tensor.numpy().astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


# ---- generation ---------------------------------------------------------------------------------

class _BankKVOnce:
    """While active, the memory bank's keys and values are computed once, not at every read.

    The same operations on the same tensors, so the reads are bit-identical to MemoryBank.forward;
    this is what the runtime does at load. Restores the module's own forward on exit.
    """

    def __init__(self, model: RecursiveLM):
        self.memory = getattr(model, "memory", None)

    def __enter__(self):
        mem = self.memory
        if mem is None:
            return self
        slots, d = mem.bank.shape
        k = mem.k_proj(mem.bank).view(1, slots, mem.heads, mem.head_dim).transpose(1, 2)
        v = mem.v_proj(mem.bank).view(1, slots, mem.heads, mem.head_dim).transpose(1, 2)

        def forward(z):
            batch, seq, _ = z.shape
            q = mem.q_proj(z).view(batch, seq, mem.heads, mem.head_dim).transpose(1, 2)
            out = torch.nn.functional.scaled_dot_product_attention(q, k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1))
            return mem.o_proj(out.transpose(1, 2).reshape(batch, seq, d))

        mem.forward = forward
        return self

    def __exit__(self, *exc):
        if self.memory is not None and "forward" in self.memory.__dict__:
            del self.memory.forward
        return False


def generate_fast(model: RecursiveLM, prompt_ids: Sequence[int], n_new: int, policy: str = "qhead",
                  max_steps: Optional[int] = None, timings: Optional[Dict] = None,
                  trace: Optional[Dict] = None) -> Tuple[List[int], List[int]]:
    """Greedy generation with a key/value cache per (ACT step, virtual layer); see _generate_fast."""
    with torch.inference_mode(), _BankKVOnce(model):
        return _generate_fast(model, prompt_ids, n_new, policy, max_steps, timings, trace)


def _generate_fast(model: RecursiveLM, prompt_ids: Sequence[int], n_new: int, policy: str = "qhead",
                  max_steps: Optional[int] = None, timings: Optional[Dict] = None,
                  trace: Optional[Dict] = None) -> Tuple[List[int], List[int]]:
    """Greedy generation with a key/value cache per (ACT step, virtual layer); as generate_cached.

    The prompt runs in parallel (forward_halting), then one token at a time. Buffers
    [virtual_layers, 1, heads, positions, head_dim] per ACT step are allocated when a position
    first reaches that step, filled for the earlier positions from the step before (their last
    computed keys/values, or the copies made for them there); when a token halts after k steps,
    its entries at every deeper step already allocated are copied from step k. Returns the n_new
    ids and the ACT steps of every evaluated position (len(prompt) + n_new - 1).

    timings (dict): receives prompt_seconds, decode_seconds, decode_steps. trace (dict): receives
    q_halt [(position, step, q_halt, q_continue)] of every halting decision taken before
    max_steps, and top2_gap [gap of the two largest logits of every greedy choice].
    """
    cfg = model.cfg
    max_steps = max_steps or cfg.halt_max_steps
    halts = make_policy(policy, cfg)
    prompt = list(prompt_ids)
    if not prompt or n_new < 1:
        raise ValueError("need a prompt and n_new >= 1")
    n_prompt = len(prompt)
    capacity = n_prompt + n_new - 1
    nvl, heads, hd = cfg.virtual_layers, cfg.num_heads, cfg.hidden_size // cfg.num_heads

    def record_choice(logits_row):
        if trace is not None:
            top = torch.topk(logits_row.double(), 2).values
            trace.setdefault("top2_gap", []).append(float(top[0] - top[1]))

    t0 = time.perf_counter()
    res = model.forward_halting(torch.tensor([prompt], dtype=torch.long), policy, max_steps, return_cache=True)
    keys: List[torch.Tensor] = []
    values: List[torch.Tensor] = []
    for step in res["cache"]:
        kb = torch.empty(nvl, 1, heads, capacity, hd)
        vb = torch.empty(nvl, 1, heads, capacity, hd)
        for v, (k, vv) in enumerate(step):
            kb[v, :, :, :n_prompt] = k.transpose(1, 2)
            vb[v, :, :, :n_prompt] = vv.transpose(1, 2)
        keys.append(kb)
        values.append(vb)
    steps_out = res["steps"][0].tolist()
    if trace is not None:
        dec = trace.setdefault("q_halt", [])
        for t, k in enumerate(steps_out):
            for s in range(min(k, max_steps - 1)):
                dec.append((t, s + 1, float(res["q_halt"][s][0, t]), float(res["q_continue"][s][0, t])))
    last = res["logits"][0, -1]
    record_choice(last)
    next_id = int(last.argmax())
    if timings is not None:
        timings["prompt_seconds"] = time.perf_counter() - t0
    generated = [next_id]
    t1 = time.perf_counter()
    decode_steps = 0
    pos = n_prompt
    while len(generated) < n_new:
        x = model.embed(torch.tensor([[next_id]], dtype=torch.long))
        rope = model.rope_at(pos)
        z_H, z_L = model.initial_states(1, 1)
        taken, logits = max_steps, None
        for s in range(max_steps):
            if len(keys) <= s:
                # No earlier position reached step s: their entries are those of step s - 1.
                kb, vb = torch.empty_like(keys[s - 1]), torch.empty_like(values[s - 1])
                kb[:, :, :, :pos] = keys[s - 1][:, :, :, :pos]
                vb[:, :, :, :pos] = values[s - 1][:, :, :, :pos]
                keys.append(kb)
                values.append(vb)
            kb, vb = keys[s], values[s]

            def hook(v, k, vv, kb=kb, vb=vb):
                kb[v, :, :, pos] = k[:, 0]
                vb[v, :, :, pos] = vv[:, 0]
                return kb[v, :, :, :pos + 1].transpose(1, 2), vb[v, :, :, :pos + 1].transpose(1, 2)

            z_H, z_L = model.act_step(z_H, z_L, x, rope, hook)
            logits, qh, qc = model.heads(z_H)
            stop = bool(halts(qh, qc)[0, 0])
            if trace is not None and s + 1 < max_steps:
                trace["q_halt"].append((pos, s + 1, float(qh[0, 0]), float(qc[0, 0])))
            if stop or s + 1 >= max_steps:
                taken = s + 1
                break
        for s in range(taken, len(keys)):
            keys[s][:, :, :, pos] = keys[taken - 1][:, :, :, pos]
            values[s][:, :, :, pos] = values[taken - 1][:, :, :, pos]
        steps_out.append(taken)
        row = logits[0, -1]
        record_choice(row)
        next_id = int(row.argmax())
        generated.append(next_id)
        decode_steps += 1
        pos += 1
    if timings is not None:
        timings["decode_seconds"] = time.perf_counter() - t1
        timings["decode_steps"] = decode_steps
    return generated, steps_out


def generate(model: RecursiveLM, prompt: Sequence[int], n: int, policy: str, max_steps: Optional[int], engine: str,
             timings: Optional[Dict] = None):
    if engine == "fast":
        return generate_fast(model, prompt, n, policy, max_steps, timings=timings)
    t0 = time.perf_counter()
    if engine == "cached":
        out = model.generate_cached(prompt, n, policy, max_steps)
    elif engine == "recompute":
        out = model.generate_recompute(prompt, n, policy, max_steps)
    else:
        raise ValueError(f"unknown engine {engine!r}")
    if timings is not None:  # no prompt/decode split for the rlm.py generators: the whole run
        timings.update(prompt_seconds=None, decode_seconds=time.perf_counter() - t0, decode_steps=n - 1)
    return out


# ---- tokenizer ----------------------------------------------------------------------------------

def find_tokenizer(gguf_path: str, given: Optional[str]) -> Optional[str]:
    if given:
        if not os.path.isfile(given):
            raise SystemExit(f"{given}: no such tokenizer file")
        return given
    beside = os.path.join(os.path.dirname(os.path.abspath(gguf_path)), "tokenizer.json")
    return beside if os.path.isfile(beside) else None


def load_tokenizer(path: str):
    from tokenizers import Tokenizer
    return Tokenizer.from_file(path)


# ---- subcommands --------------------------------------------------------------------------------

def parse_ids(text: str) -> List[int]:
    return [int(x) for x in text.replace(" ", "").split(",") if x != ""]


def cmd_generate(args):
    model, cfg = load_gguf_rlm(args.gguf)
    results = []
    for p in args.prompt_ids:
        tokens, steps = generate(model, parse_ids(p), args.n, args.policy, args.max_steps, args.engine)
        results.append({"tokens": tokens, "steps": steps})
    return {"policy": args.policy, "max_steps": args.max_steps or cfg.halt_max_steps, "results": results}


def cmd_tokenize(args):
    path = find_tokenizer(args.gguf, args.tokenizer)
    if path is None:
        return {"skipped": f"no tokenizer.json beside {args.gguf} and no --tokenizer given"}
    tok = load_tokenizer(path)
    return {"tokenizer": path, "results": [{"text": t, "ids": tok.encode(t, add_special_tokens=args.add_special).ids}
                                           for t in args.text]}


@torch.inference_mode()
def cmd_ppl(args):
    path = find_tokenizer(args.gguf, args.tokenizer)
    if path is None:
        raise SystemExit(f"no tokenizer.json beside {args.gguf}; pass --tokenizer")
    model, cfg = load_gguf_rlm(args.gguf)
    with open(args.text_file, encoding="utf-8") as f:
        text = f.read()
    ids = load_tokenizer(path).encode(text, add_special_tokens=False).ids
    if args.max_tokens:
        ids = ids[:args.max_tokens]
    window = args.window or cfg.seq_len
    if window < 2:
        raise SystemExit("--window must be at least 2")
    windows = [ids[i:i + window] for i in range(0, len(ids), window)]
    windows = [w for w in windows if len(w) >= 2]
    if not windows:
        raise SystemExit("fewer than 2 tokens to score")
    nll, scored, step_sum, positions = 0.0, 0, 0, 0
    hist: Dict[int, int] = {}
    t0 = time.perf_counter()
    for length in sorted({len(w) for w in windows}):
        group = [w for w in windows if len(w) == length]
        for b in range(0, len(group), args.batch):
            tokens = torch.tensor(group[b:b + args.batch], dtype=torch.long)
            res = model.forward_halting(tokens, args.policy, args.max_steps)
            logp = torch.log_softmax(res["logits"][:, :-1].double(), dim=-1)
            nll -= float(logp.gather(-1, tokens[:, 1:, None]).sum())
            scored += tokens.shape[0] * (length - 1)
            step_sum += int(res["steps"].sum())
            positions += res["steps"].numel()
            for k, c in zip(*torch.unique(res["steps"], return_counts=True)):
                hist[int(k)] = hist.get(int(k), 0) + int(c)
    return {"tokens": len(ids), "windows": len(windows), "window": window, "scored": scored, "policy": args.policy,
            "nll": nll / scored, "ppl": math.exp(nll / scored), "mean_act_steps": step_sum / positions,
            "steps_histogram": {str(k): hist[k] for k in sorted(hist)}, "seconds": time.perf_counter() - t0}


def cmd_bench(args):
    torch.set_num_threads(args.threads)
    model, cfg = load_gguf_rlm(args.gguf)
    prompts = [parse_ids(p) for p in args.prompt_ids] if args.prompt_ids else \
        [[(i * 7919 + 13) % cfg.vocab_size for i in range(args.prompt_tokens)]]  # Recur's LanguageModelSpeed ids
    results = []
    for prompt in prompts:
        runs = []
        for rep in range(args.repetitions + 1):  # the first is the warm-up
            timings: Dict = {}
            tokens, steps = generate(model, prompt, args.n, args.policy, args.max_steps, args.engine, timings)
            if rep:
                runs.append(timings)
        split = args.engine == "fast"  # rlm.py's generate_cached times as one piece
        prompt_s = statistics.median(r["prompt_seconds"] for r in runs) if split else None
        decode_s = statistics.median(r["decode_seconds"] for r in runs)
        n_prompt = len(prompt)
        results.append({
            "prompt_tokens": n_prompt, "generated_tokens": args.n, "decode_steps": args.n - 1,
            "prompt_seconds": prompt_s, "prompt_tokens_per_second": n_prompt / prompt_s if prompt_s else None,
            "timed": "prompt and decode apart" if split else "decode_seconds is the whole generation, prompt included",
            "decode_seconds": decode_s, "decode_tokens_per_second": (args.n - 1) / decode_s if decode_s > 0 else None,
            # Recur's GenerationResult.actSteps: the steps of the position whose logits chose each token.
            "mean_act_steps_per_generated_token": statistics.fmean(steps[n_prompt - 1:n_prompt - 1 + args.n]),
            # The steps the decode phase ran: every generated token but the last.
            "mean_act_steps_decode": statistics.fmean(steps[n_prompt:]) if args.n > 1 else None,
            "mean_act_steps_prompt": statistics.fmean(steps[:n_prompt]),
            "prompt_seconds_all": [r["prompt_seconds"] for r in runs] if split else None,
            "decode_seconds_all": [r["decode_seconds"] for r in runs],
            "tokens": [int(t) for t in tokens],
        })
    return {"engine": f"pytorch {torch.__version__} eager float32 ({args.engine})", "threads": args.threads,
            "policy": args.policy, "n": args.n, "repetitions": args.repetitions, "results": results}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p, policy=True):
        p.add_argument("--gguf", required=True)
        if policy:
            p.add_argument("--policy", default="qhead", help="qhead | max | compare | hazard:k,c,threshold")
            p.add_argument("--max-steps", type=int, default=None)

    g = sub.add_parser("generate")
    common(g)
    g.add_argument("--prompt-ids", action="append", required=True, help="comma-separated ids; repeat for more prompts")
    g.add_argument("--n", type=int, default=64)
    g.add_argument("--engine", default="fast", choices=["fast", "cached", "recompute"],
                   help="fast (this file), cached (rlm.py generate_cached), recompute (rlm.py generate_recompute)")
    g.add_argument("--threads", type=int, default=1)

    t = sub.add_parser("tokenize")
    common(t, policy=False)
    t.add_argument("--text", action="append", required=True)
    t.add_argument("--tokenizer", default=None)
    t.add_argument("--add-special", action="store_true", help="tokenizers' add_special_tokens (default off, as Recur)")

    p = sub.add_parser("ppl")
    common(p)
    p.add_argument("--text-file", required=True)
    p.add_argument("--tokenizer", default=None)
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--window", type=int, default=None, help="tokens per window (default: the file's context length)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)

    b = sub.add_parser("bench")
    common(b)
    b.add_argument("--prompt-ids", action="append", default=None)
    b.add_argument("--prompt-tokens", type=int, default=16, help="without --prompt-ids: this many ids (i*7919+13) mod vocab, as recur bench")
    b.add_argument("--n", type=int, default=64)
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--repetitions", type=int, default=5)
    b.add_argument("--engine", default="fast", choices=["fast", "cached"])

    args = ap.parse_args(argv)
    if args.cmd != "bench":
        torch.set_num_threads(getattr(args, "threads", 1))
    out = {"generate": cmd_generate, "tokenize": cmd_tokenize, "ppl": cmd_ppl, "bench": cmd_bench}[args.cmd](args)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
