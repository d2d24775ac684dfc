#!/usr/bin/env python3
"""Tiny random-init recursive causal LMs (rlm, docs/recursive-lm.md) with reference outputs.

Variants (all: vocab 96, hidden 64, 4 heads, expansion 4, H_cycles 2, L_cycles 2,
halt_max_steps 3, seq_len 256, halt rule q_halt>0):
  rlm_trm       TRM: H_layers 0, L_layers 2, no memory
  rlm_trm_mem   TRM with a memory bank of 32 slots x 2 heads
  rlm_hrm_mem   HRM: L_layers 1, H_layers 1, memory 32 x 2

For each variant, DIR/<variant>/ gets:
  checkpoint.pt, all_config.yaml   as training writes them (rlm.py save_rlm; keys `model.inner.*`)
  model.safetensors                (rlm_trm_mem only) the same tensors, same prefix
  reference.safetensors            for prompts i = 0..4 (random ids, 5-20 tokens, fixed seed):
      prompt.i      int32 [P]
      greedy.i      int32 [64]   greedy tokens, Q-head halting (the file's rule)
      steps.i       int32 [P+63] ACT steps of every evaluated position (prompt, then every
                                 generated token but the last)
      greedy_max.i, steps_max.i  the same with every token at halt_max_steps
      teacher.i     f32 [T, V]   final logits of every position of prompt+greedy.i at fixed
                                 maximum depth (T = P + 64)
      teacher_halt.i f32 [T, V], teacher_halt_steps.i int32 [T]   forward_halting, Q-head policy
  meta.json                        config, seeds, Q-head init, margins (min_abs_q_halt: smallest
                                   |q_halt| of any halting decision; min_top2_logit_gap: smallest
                                   gap between the two largest logits of any greedy choice), step
                                   histograms, prompts whose generation first reaches a deeper
                                   ACT step than any earlier position (the "fill a whole step
                                   from the one before" case of the KV cache)

The Q-head is random (std Q_STD); its q_halt bias is calibrated on the max-depth greedy
sequences so that tokens halt at 1, 2 and 3 steps. Seeds are fixed per variant (found by
search); should a seed's margins fall below MIN_MARGIN (1e-3) or its halting not vary, the next
seeds are tried. Reference outputs come from the model loaded back from the written checkpoint.

Generation uses rlm_gguf.generate_fast (the doc's cache rule with preallocated buffers). Checks:
one forward_halting / forward_fixed pass over each final sequence gives the same ACT steps
(teacher_halt_steps == steps.i on the shared positions) and the same argmax tokens as the
generation; rlm.py's generate_recompute gives the same tokens and steps; rlm.py's
generate_cached too, except where it hits its bug (it mishandles a generated token that opens
an ACT step no earlier position reached; such differences are reported, and the fixture follows
generate_recompute, the definition). --quick skips running rlm.py's generators (about half the
time); --full-check runs them at maximum depth as well.

Runs in about 25 s (--quick) / 50 s on one core of this machine: 30 greedy generations of 64
tokens at ~10 ms per token of eager PyTorch.

    python3 tools/reference/make_rlm_fixtures.py --out DIR [--variants rlm_trm,rlm_hrm_mem] [--quick]
"""
import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from recur_reference.layers import swiglu_width  # noqa: E402
from recur_reference.rlm import (SAVE_PREFIX, RLMConfig, load_rlm, random_model, save_rlm,  # noqa: E402
                                 state_dict_for_save)
from rlm_gguf import generate_fast  # noqa: E402  (torch only; gguf is imported lazily there)

BASE = dict(vocab_size=96, hidden_size=64, num_heads=4, expansion=4, H_cycles=2, L_cycles=2, halt_max_steps=3,
            seq_len=256, halt_rule="q_halt>0")
VARIANTS = {
    "rlm_trm": dict(L_layers=2, H_layers=0),
    "rlm_trm_mem": dict(L_layers=2, H_layers=0, memory_slots=32, memory_heads=2),
    "rlm_hrm_mem": dict(L_layers=1, H_layers=1, memory_slots=32, memory_heads=2),
}
SEEDS = {"rlm_trm": 43, "rlm_trm_mem": 22, "rlm_hrm_mem": 41}  # first seed tried per variant (found by search)
PROMPTS = 5
PROMPT_SEED = 20240
GENERATE = 64
Q_STD = 8.0          # q-head weight std * sqrt(hidden): q_halt varies by a few units across tokens
MIN_MARGIN = 1e-3    # both margins must be at least this (float32 noise is ~1e-6)
MIN_STEP_FRACTION = 0.1  # each of steps 1, 2, 3 at least this fraction of positions (Q-head generation)
MAX_TRIES = 40


def make_prompts():
    g = torch.Generator().manual_seed(PROMPT_SEED)
    out = []
    for _ in range(PROMPTS):
        n = int(torch.randint(5, 21, (1,), generator=g))
        out.append(torch.randint(0, BASE["vocab_size"], (n,), generator=g).tolist())
    return out


@torch.no_grad()
def calibrate_q_bias(model, cfg, sequences):
    """The q_halt bias that best balances halting at 1, 2 and 3 steps over `sequences` (fixed depth)."""
    with torch.no_grad():
        model.q_head.bias.zero_()
    q1, q2 = [], []
    for seq in sequences:
        q = model.forward_fixed(torch.tensor([seq], dtype=torch.long), cfg.halt_max_steps)["q_halt"]
        q1.append(q[0].flatten())
        q2.append(q[1].flatten())
    q1, q2 = torch.cat(q1), torch.cat(q2)
    best, best_score = 0.0, -1.0
    for i in range(-400, 401):
        b = i * 0.025
        h1 = q1 + b > 0
        h2 = ~h1 & (q2 + b > 0)
        score = float(torch.stack([h1.float().mean(), h2.float().mean(), (~h1 & ~h2).float().mean()]).min())
        if score > best_score:
            best, best_score = b, score
    with torch.no_grad():
        model.q_head.bias.copy_(torch.tensor([best, 0.0]))
    return best


def histogram(steps, max_steps):
    h = [0] * max_steps
    for s in steps:
        h[s - 1] += 1
    return h


def deeper_first(prompt_len, steps):
    """Generated positions that ran a step no earlier position ran (steps[t] > max(steps[:t]))."""
    return [t for t in range(prompt_len, len(steps)) if steps[t] > max(steps[:t])]


@torch.no_grad()
def try_seed(name, cfg, seed, prompts, vdir, log):
    """Writes the model of `seed`, loads it back and generates; None when a margin is too small."""
    model = random_model(cfg, seed=seed, q_std=Q_STD)
    # Greedy at maximum depth does not read the Q-head: generate it first and calibrate the
    # q_halt bias on those sequences.
    gens = [{"prompt": p} for p in prompts]
    min_gap = math.inf
    for g in gens:
        trace = {}
        g["greedy_max"], g["steps_max"] = generate_fast(model, g["prompt"], GENERATE, "max", trace=trace)
        min_gap = min([min_gap] + trace["top2_gap"])
        if min_gap < MIN_MARGIN:
            log(f"  {name}: seed {seed} rejected (max depth: top-2 logit gap {min_gap:.1e})")
            return None
    bias = calibrate_q_bias(model, cfg, [g["prompt"] + g["greedy_max"] for g in gens])
    save_rlm(model, vdir, {"note": "make_rlm_fixtures.py random init", "seed": seed, "q_std": Q_STD, "q_halt_bias": bias})
    loaded, lcfg = load_rlm(vdir)
    assert lcfg == cfg, (lcfg, cfg)
    for (ka, a), (kb, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert ka == kb and torch.equal(a, b), ka
    min_q = math.inf
    for g in gens:
        trace = {}
        g["greedy"], g["steps"] = generate_fast(loaded, g["prompt"], GENERATE, "qhead", trace=trace)
        min_gap = min([min_gap] + trace["top2_gap"])
        min_q = min([min_q] + [abs(q) for _, _, q, _ in trace["q_halt"]])
        if min_gap < MIN_MARGIN or min_q < MIN_MARGIN:
            log(f"  {name}: seed {seed} rejected (top-2 logit gap {min_gap:.1e}, |q_halt| {min_q:.1e})")
            return None
    hist = histogram([s for g in gens for s in g["steps"]], cfg.halt_max_steps)
    if not all(c >= MIN_STEP_FRACTION * sum(hist) for c in hist):
        log(f"  {name}: seed {seed} rejected (steps 1/2/3 {hist})")
        return None
    return loaded, gens, bias, min_q, min_gap


def check_rlm_generators(name, i, model, g, first, full_check, log):
    """rlm.py's generate_recompute and generate_cached give the fixture's tokens and steps."""
    p = g["prompt"]
    rec = model.generate_recompute(p, GENERATE, "qhead")
    assert rec == (g["greedy"], g["steps"]), f"{name} prompt {i}: generate_recompute differs"
    cached = model.generate_cached(p, GENERATE, "qhead")
    if cached != rec:
        # rlm.py's generate_cached, opening a step no earlier position reached, copies the step
        # before with the current token's entry already in it, then appends the token again.
        assert first, f"{name} prompt {i}: rlm.py generate_cached != generate_recompute"
        log(f"  {name} prompt {i}: rlm.py generate_cached != generate_recompute (its known bug: positions "
            f"{first} open a new ACT step); the fixture follows generate_recompute")
    if full_check:
        assert model.generate_recompute(p, GENERATE, "max") == (g["greedy_max"], g["steps_max"]), f"{name} prompt {i}: max recompute"
        assert model.generate_cached(p, GENERATE, "max") == (g["greedy_max"], g["steps_max"]), f"{name} prompt {i}: max cached"


@torch.no_grad()
def build_variant(name, out_dir, prompts, log, full_check=False, quick=False):
    cfg = RLMConfig(**BASE, **VARIANTS[name])
    vdir = os.path.join(out_dir, name)
    os.makedirs(vdir, exist_ok=True)
    for seed in range(SEEDS[name], SEEDS[name] + MAX_TRIES):
        found = try_seed(name, cfg, seed, prompts, vdir, log)
        if found:
            break
    else:
        raise SystemExit(f"{name}: no seed in {MAX_TRIES} tries gives margins >= {MIN_MARGIN} and varied halting")
    loaded, gens, bias, min_q, min_gap = found
    files = ["checkpoint.pt", "all_config.yaml"]
    if name == "rlm_trm_mem":
        save_file(dict(state_dict_for_save(loaded)), os.path.join(vdir, "model.safetensors"))
        files.append("model.safetensors")
        st, _ = load_rlm(os.path.join(vdir, "model.safetensors"))
        for a, b in zip(loaded.state_dict().values(), st.state_dict().values()):
            assert torch.equal(a, b)

    ref = {}
    deeper = {}
    teacher_hist = [0] * cfg.halt_max_steps
    for i, g in enumerate(gens):
        p = g["prompt"]
        first = deeper_first(len(p), g["steps"])
        if first:
            deeper[i] = first
        seq = torch.tensor([p + g["greedy"]], dtype=torch.long)
        teacher = loaded.forward_fixed(seq, cfg.halt_max_steps)["logits"][-1][0]
        th = loaded.forward_halting(seq, "qhead")
        th_steps = th["steps"][0].tolist()
        # Recomputing the whole sequence (the definition) gives the same steps and greedy tokens:
        # forward_halting is causal, so one pass over the final sequence is every prefix's pass.
        assert th_steps[:len(g["steps"])] == g["steps"], f"{name} prompt {i}: teacher_halt_steps != steps"
        assert th["logits"][0, len(p) - 1:-1].argmax(-1).tolist() == g["greedy"], f"{name} prompt {i}: teacher_halt argmax != greedy"
        seq_m = torch.tensor([p + g["greedy_max"]], dtype=torch.long)
        assert loaded.forward_fixed(seq_m, cfg.halt_max_steps)["logits"][-1][0, len(p) - 1:-1].argmax(-1).tolist() == g["greedy_max"], \
            f"{name} prompt {i}: fixed-depth argmax != greedy_max"
        for t, k in enumerate(th_steps):
            teacher_hist[k - 1] += 1
            for s in range(min(k, cfg.halt_max_steps - 1)):
                min_q = min(min_q, abs(float(th["q_halt"][s][0, t])))
        if not quick:
            check_rlm_generators(name, i, loaded, g, first, full_check, log)
        ref[f"prompt.{i}"] = torch.tensor(p, dtype=torch.int32)
        ref[f"greedy.{i}"] = torch.tensor(g["greedy"], dtype=torch.int32)
        ref[f"steps.{i}"] = torch.tensor(g["steps"], dtype=torch.int32)
        ref[f"greedy_max.{i}"] = torch.tensor(g["greedy_max"], dtype=torch.int32)
        ref[f"steps_max.{i}"] = torch.tensor(g["steps_max"], dtype=torch.int32)
        ref[f"teacher.{i}"] = teacher.to(torch.float32).contiguous()
        ref[f"teacher_halt.{i}"] = th["logits"][0].to(torch.float32).contiguous()
        ref[f"teacher_halt_steps.{i}"] = torch.tensor(th_steps, dtype=torch.int32)
    save_file(ref, os.path.join(vdir, "reference.safetensors"))
    files.append("reference.safetensors")

    meta = {
        "variant": name, "config": asdict(cfg), "feed_forward_length": swiglu_width(cfg.hidden_size, cfg.expansion),
        "virtual_layers": cfg.virtual_layers, "checkpoint": "checkpoint.pt", "key_prefix": SAVE_PREFIX,
        "halt_rule": cfg.halt_rule, "seed": seed, "q_std": Q_STD, "q_halt_bias": round(bias, 6),
        "prompt_seed": PROMPT_SEED, "prompts": len(prompts), "generated": GENERATE,
        "min_abs_q_halt": min_q, "min_top2_logit_gap": min_gap,
        "steps_histogram": {"generation": histogram([s for g in gens for s in g["steps"]], cfg.halt_max_steps),
                            "teacher_halt": teacher_hist},
        "deeper_step_first_reached": {str(k): v for k, v in deeper.items()},
        "files": files + ["meta.json"],
    }
    with open(os.path.join(vdir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return meta


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--variants", nargs="+", default=[",".join(VARIANTS)],
                   help="subset of: " + ", ".join(VARIANTS) + " (space- or comma-separated)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true",
                   help="skip running rlm.py's generate_recompute/generate_cached per prompt (the one-pass "
                        "teacher-forced checks of the same rule still run); about 2x faster")
    p.add_argument("--full-check", action="store_true",
                   help="also run rlm.py's generate_recompute and generate_cached at maximum depth")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    names = [v for a in args.variants for v in a.split(",") if v]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        print(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    prompts = make_prompts()
    t0 = time.time()
    for name in names:
        t1 = time.time()
        meta = build_variant(name, args.out, prompts, lambda s: print(s, flush=True), args.full_check, args.quick)
        h = meta["steps_histogram"]
        print(f"{name:12} seed {meta['seed']:3}  q_halt bias {meta['q_halt_bias']:+.2f}  "
              f"steps 1/2/3: generation {h['generation']} teacher_halt {h['teacher_halt']}  "
              f"min |q_halt| {meta['min_abs_q_halt']:.2e}  min top-2 gap {meta['min_top2_logit_gap']:.2e}  "
              f"new-step prompts {sorted(int(k) for k in meta['deeper_step_first_reached'])}  ({time.time() - t1:.1f} s)",
              flush=True)
    print(f"wrote {len(names)} variants to {args.out} in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
