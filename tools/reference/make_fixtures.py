#!/usr/bin/env python3
"""Write small random-init TRM/HRM checkpoints in the official on-disk layout, with reference outputs.

For each variant, DIR/<variant>/ gets:
  step_1              torch.save(state_dict) of ACTLossHead(model) (keys `model.inner.*`), optionally
                      under a torch.compile-style `_orig_mod.` prefix; H_init/L_init bfloat16,
                      puzzle_emb.weights as a buffer; an OrderedDict with `_metadata`, as
                      Module.state_dict() returns it.
  all_config.yaml     official layout (arch: {...}); no vocab_size / seq_len / num_puzzle_identifiers.
  reference.safetensors  inputs, puzzle_identifiers, logits.<s>, q_halt.<s>, q_continue.<s> for fixed-step
                      evaluation s = 0..halt_max_steps-1, and halt_step (1-based step where q-head
                      halting stops each sample; halt_max_steps if never).
  meta.json           arch config, inferred sizes, key prefix, halting rule.

Reference outputs are computed from the model loaded back from the written files, so they
describe exactly what is on disk (including bfloat16-rounded H_init/L_init).
"""
import argparse
import json
import os
import sys
import time

import torch
import yaml
from safetensors.torch import save_file
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from recur_reference import (ACTModel, arch_from_dict, halt_steps_from_q, load_model,  # noqa: E402
                             run_steps, run_until_halt)
from recur_reference.layers import trunc_normal_  # noqa: E402

TRM = "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1"
HRM_TRM_REPO = "recursive_reasoning.hrm@HierarchicalReasoningModel_ACTV1"
HRM_HRM_REPO = "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1"
LOSS = {"loss_type": "stablemax_cross_entropy", "name": "losses@ACTLossHead"}


def trm_arch(**kw):
    arch = dict(name=TRM, loss=LOSS, H_cycles=2, L_cycles=2, H_layers=0, L_layers=2, hidden_size=64, num_heads=4,
                expansion=4, forward_dtype="bfloat16", halt_exploration_prob=0.1, halt_max_steps=4,
                mlp_t=False, no_ACT_continue=True, pos_encodings="rope", puzzle_emb_ndim=64, puzzle_emb_len=16)
    arch.update(kw)
    return arch


def hrm_arch(name, **kw):
    arch = dict(name=name, loss=LOSS, H_cycles=2, L_cycles=2, H_layers=2, L_layers=2, hidden_size=64, num_heads=4,
                expansion=4, forward_dtype="bfloat16", halt_exploration_prob=0.1, halt_max_steps=4,
                pos_encodings="rope", puzzle_emb_ndim=64)
    if name == HRM_TRM_REPO:
        arch["mlp_t"] = False
    arch.update(kw)
    return arch


# vocab, seq_len, num_puzzle_identifiers are dataset sizes: they go into the model, not the yaml.
VARIANTS = {
    "trm_att_rope": dict(arch=trm_arch(H_cycles=3, L_cycles=2, halt_max_steps=6, puzzle_emb_len=4),
                         vocab=12, seq_len=16, nids=3, compiled=True),
    "trm_att_learned": dict(arch=trm_arch(expansion=2, H_cycles=2, L_cycles=3, halt_max_steps=5,
                                          pos_encodings="learned", puzzle_emb_len=2),
                            vocab=11, seq_len=20, nids=1, compiled=True),
    "trm_att_none": dict(arch=trm_arch(pos_encodings="none", puzzle_emb_ndim=0, puzzle_emb_len=0),
                         vocab=10, seq_len=24, nids=1, compiled=True),
    "trm_mlp_t": dict(arch=trm_arch(mlp_t=True, pos_encodings="none", expansion=2, H_cycles=2, L_cycles=3,
                                    halt_max_steps=5, puzzle_emb_len=0),
                      vocab=12, seq_len=29, nids=2, compiled=True),
    "trm_puzzle_emb": dict(arch=trm_arch(puzzle_emb_ndim=128, puzzle_emb_len=0, halt_max_steps=6),
                           vocab=12, seq_len=18, nids=5, compiled=True),
    "trm_plain_prefix": dict(arch=trm_arch(H_cycles=3, L_cycles=3, puzzle_emb_len=16),
                             vocab=12, seq_len=16, nids=2, compiled=False),
    "hrm_att_rope": dict(arch=hrm_arch(HRM_HRM_REPO, halt_max_steps=5),
                         vocab=12, seq_len=16, nids=2, compiled=True),
    "hrm_att_learned": dict(arch=hrm_arch(HRM_TRM_REPO, pos_encodings="learned", puzzle_emb_ndim=96, expansion=2,
                                          H_cycles=3, L_cycles=2, H_layers=1),
                            vocab=11, seq_len=20, nids=3, compiled=True),
}
BATCH = 8
MIN_MARGIN = 1e-3
RESIDUAL_SCALE = 0.5
CHECKPOINT_NAME = "step_1"


class LossHead(nn.Module):
    """Stands in for official ACTLossHead, which holds the ACT model as `model`."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model


class Compiled(nn.Module):
    """Stands in for torch.compile's OptimizedModule, which holds the module as `_orig_mod`."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.add_module("_orig_mod", module)


def perturb(model: ACTModel, hidden: int) -> None:
    """Make heads and puzzle rows non-trivial: the official init (q_head 0/-5, puzzle rows 0) would make
    every sample halt identically and the puzzle embedding invisible."""
    inner = model.inner
    with torch.no_grad():
        trunc_normal_(inner.q_head.weight, std=1.0 / hidden ** 0.5)
        inner.q_head.bias.normal_(0.0, 0.1)
        if hasattr(inner, "puzzle_emb"):
            trunc_normal_(inner.puzzle_emb.weights, std=1.0 / hidden ** 0.5)
        # Residual-branch outputs start small (as GPT-2 style scaled init does). Random networks at
        # the official init can be chaotic under ~40 recursive applications per step: rounding
        # differences of 1e-7 then grow ~5x per ACT step, and the comparison would measure that
        # chaos instead of the port. Trained models contract (the shared checkpoint matches the
        # official FP32 run token for token over 16 steps); these fixtures are made to as well.
        for name, p in inner.named_parameters():
            if name.endswith("down_proj.weight") or name.endswith("o_proj.weight"):
                p.mul_(RESIDUAL_SCALE)
        # The file stores these as bfloat16; round here so calibration sees the model on disk.
        inner.H_init.copy_(inner.H_init.to(torch.bfloat16).float())
        inner.L_init.copy_(inner.L_init.to(torch.bfloat16).float())


def halt_margin(model: ACTModel, out) -> torch.Tensor:
    """Signed distance of each (step, sample) from its halting threshold; > 0 means halt."""
    q_h = torch.stack(out["q_halt"])
    if model.cfg.halt_rule == "q_halt > 0":
        return q_h
    return q_h - torch.stack(out["q_continue"])


def calibrate_halt_bias(model: ACTModel, inputs, pids) -> None:
    """Shift the q_halt bias so halting steps spread over the range, while keeping every decision at
    least MIN_MARGIN away from its threshold (so a port's float error cannot flip one)."""
    out = run_steps(model, inputs, pids, model.cfg.halt_max_steps)
    margin = halt_margin(model, out)
    span = float(margin.abs().max())
    best = None
    for i in range(81):
        shift = -span + 2 * span * i / 80
        m = margin + shift
        fired = (m > 0).int()
        first = torch.where(fired.any(0), fired.argmax(0) + 1, torch.tensor(model.cfg.halt_max_steps))
        closest = float(m.abs().min())
        if closest < MIN_MARGIN:
            continue
        key = (len(set(first.tolist())), closest)
        if best is None or key > best[0]:
            best = (key, shift)
    if best is None:
        raise RuntimeError("no q_halt bias keeps halting decisions away from the threshold")
    with torch.no_grad():
        model.inner.q_head.bias[0] += best[1]


def make_variant(out_dir: str, name: str, spec: dict, seed: int) -> dict:
    vdir = os.path.join(out_dir, name)
    os.makedirs(vdir, exist_ok=True)
    torch.manual_seed(seed)
    arch = spec["arch"]
    cfg = arch_from_dict(arch)
    cfg.vocab_size, cfg.seq_len, cfg.num_puzzle_identifiers = spec["vocab"], spec["seq_len"], spec["nids"]
    model = ACTModel(cfg)
    perturb(model, cfg.hidden_size)
    gen = torch.Generator().manual_seed(seed + 1)
    inputs = torch.randint(1, cfg.vocab_size, (BATCH, cfg.seq_len), generator=gen, dtype=torch.int32)
    pids = torch.randint(0, cfg.num_puzzle_identifiers, (BATCH,), generator=gen, dtype=torch.int32)
    calibrate_halt_bias(model, inputs, pids)

    wrapper = LossHead(model)
    if spec["compiled"]:
        wrapper = Compiled(wrapper)
    state = wrapper.state_dict()
    for key in state:
        if key.endswith("inner.H_init") or key.endswith("inner.L_init"):
            state[key] = state[key].to(torch.bfloat16)
    ckpt_path = os.path.join(vdir, CHECKPOINT_NAME)
    torch.save(state, ckpt_path)
    doc = dict(arch=arch, checkpoint_path=f"checkpoints/{name}", data_paths=[f"data/{name}"], ema=False,
               epochs=1, global_batch_size=BATCH, lr=1e-4, project_name="recur-fixtures", run_name=name, seed=seed)
    with open(os.path.join(vdir, "all_config.yaml"), "w") as f:
        yaml.safe_dump(doc, f, sort_keys=True, default_flow_style=False)

    # Reload from disk: the reference describes the files, not the in-memory model.
    seq_hint = None if (cfg.pos_encodings == "learned" or cfg.mlp_t) else cfg.seq_len
    loaded, lcfg, prefix = load_model(vdir, seq_len=seq_hint)
    assert (lcfg.vocab_size, lcfg.seq_len, lcfg.num_puzzle_identifiers) == (cfg.vocab_size, cfg.seq_len, cfg.num_puzzle_identifiers)

    steps = cfg.halt_max_steps
    out = run_steps(loaded, inputs, pids, steps)
    halt_step = halt_steps_from_q(loaded, out["q_halt"], out["q_continue"])
    looped = run_until_halt(loaded, inputs, pids)
    if not torch.equal(halt_step, looped):
        raise RuntimeError(f"{name}: halt steps from fixed-step q {halt_step.tolist()} != ACT loop {looped.tolist()}")

    tensors = {"inputs": inputs.contiguous(), "puzzle_identifiers": pids.contiguous(), "halt_step": halt_step.contiguous()}
    for s in range(steps):
        tensors[f"logits.{s}"] = out["logits"][s].contiguous()
        tensors[f"q_halt.{s}"] = out["q_halt"][s].contiguous()
        tensors[f"q_continue.{s}"] = out["q_continue"][s].contiguous()
    save_file(tensors, os.path.join(vdir, "reference.safetensors"), metadata={"variant": name})

    meta = dict(variant=name, checkpoint=CHECKPOINT_NAME, key_prefix=prefix, seed=seed, batch=BATCH, steps=steps,
                arch=arch, config=lcfg.to_json(),
                sizes=dict(vocab_size=lcfg.vocab_size, seq_len=lcfg.seq_len,
                           num_puzzle_identifiers=lcfg.num_puzzle_identifiers, puzzle_emb_len=lcfg.puzzle_emb_len),
                halt_rule=lcfg.halt_rule, halt_step=halt_step.tolist(),
                min_halt_margin=float(halt_margin(loaded, out).abs().min()))
    with open(os.path.join(vdir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")
    return meta


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of: " + ", ".join(VARIANTS))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    names = [v for v in args.variants.split(",") if v]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        print(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    t0 = time.time()
    for name in names:
        seed = 1000 + list(VARIANTS).index(name)
        meta = make_variant(args.out, name, VARIANTS[name], seed)
        s = meta["sizes"]
        print(f"{name:18} prefix {meta['key_prefix']!r:20} vocab {s['vocab_size']:3} seq {s['seq_len']:3} "
              f"puzzle_emb_len {s['puzzle_emb_len']:2} ids {s['num_puzzle_identifiers']} steps {meta['steps']} "
              f"rule {meta['halt_rule']:20} halt_step {meta['halt_step']} margin {meta['min_halt_margin']:.3f}")
    print(f"wrote {len(names)} variants to {args.out} in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
