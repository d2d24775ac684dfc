#!/usr/bin/env python3
"""Compare the reference with the official code itself, run from a local checkout.

Needs a checkout of SamsungSAILMontreal/TinyRecursiveModels (its `models/` package, which also
holds the HRM) and its dependency `einops`; nothing from it is copied here. For every fixture
variant from make_fixtures.py it builds the official model (forward_dtype float32), checks that
the state_dict keys and their order equal those in the fixture file, loads it strictly, runs
fixed-step evaluation and prints the largest difference from reference.safetensors. With
--checkpoint it also compares a few sudoku puzzles on a real checkpoint. Exit 1 on any
difference other than exactly zero.
"""
import argparse
import json
import os
import sys

import torch
import yaml
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from recur_reference import load_model, load_sudoku, run_steps  # noqa: E402
from recur_reference.checkpoint import find_checkpoint_file  # noqa: E402


def official_model(official, arch: dict, sizes: dict, batch: int):
    arch = dict(arch)
    name = arch.pop("name")
    loss = arch.pop("loss")
    arch.update(batch_size=batch, vocab_size=sizes["vocab_size"], seq_len=sizes["seq_len"],
                num_puzzle_identifiers=sizes["num_puzzle_identifiers"], forward_dtype="float32")
    cls = official["trm"] if name.endswith("TinyRecursiveReasoningModel_ACTV1") else official["hrm"]
    return official["loss_head"](cls(arch), loss_type=loss["loss_type"])


def run_official(model, inputs, pids, steps):
    batch = dict(inputs=inputs, puzzle_identifiers=pids)
    carry = model.initial_carry(batch)
    outs = []
    with torch.no_grad():
        for _ in range(steps):
            carry, out = model(carry, batch)
            outs.append((out["logits"], out["q_halt_logits"], out["q_continue_logits"]))
    return outs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--official-repo", required=True, help="checkout of TinyRecursiveModels (contains models/)")
    p.add_argument("--fixtures", help="output directory of make_fixtures.py")
    p.add_argument("--checkpoint", help="official checkpoint directory (sudoku, seq_len 81) to compare too")
    p.add_argument("--data", help="sudoku text file for --checkpoint")
    p.add_argument("--puzzles", type=int, default=4)
    p.add_argument("--steps", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(2)

    sys.path.insert(0, os.path.abspath(args.official_repo))
    from models.losses import ACTLossHead  # type: ignore
    from models.recursive_reasoning.hrm import HierarchicalReasoningModel_ACTV1  # type: ignore
    from models.recursive_reasoning.trm import TinyRecursiveReasoningModel_ACTV1  # type: ignore
    official = dict(trm=TinyRecursiveReasoningModel_ACTV1, hrm=HierarchicalReasoningModel_ACTV1, loss_head=ACTLossHead)

    worst = 0.0
    if args.fixtures:
        for variant in sorted(os.listdir(args.fixtures)):
            vdir = os.path.join(args.fixtures, variant)
            if not os.path.isfile(os.path.join(vdir, "meta.json")):
                continue
            with open(os.path.join(vdir, "meta.json")) as f:
                meta = json.load(f)
            with open(os.path.join(vdir, "all_config.yaml")) as f:
                arch = yaml.safe_load(f)["arch"]
            model = official_model(official, arch, meta["sizes"], meta["batch"])
            state = torch.load(os.path.join(vdir, meta["checkpoint"]), map_location="cpu", weights_only=True)
            state = {k.removeprefix("_orig_mod."): v for k, v in state.items()}
            keys_equal = list(state) == list(model.state_dict())
            model.load_state_dict(state, strict=True)
            model.eval()
            ref = load_file(os.path.join(vdir, "reference.safetensors"))
            outs = run_official(model.model, ref["inputs"], ref["puzzle_identifiers"], meta["steps"])
            diff = 0.0
            for s, (logits, qh, qc) in enumerate(outs):
                for got, key in ((logits, "logits"), (qh, "q_halt"), (qc, "q_continue")):
                    diff = max(diff, float((got - ref[f"{key}.{s}"]).abs().max()))
            worst = max(worst, diff if keys_equal else float("inf"))
            print(f"{variant:18} state_dict keys and order {'equal' if keys_equal else 'DIFFER'}; "
                  f"max |official - reference| {diff:.3e}")
    if args.checkpoint:
        ref_model, cfg, _ = load_model(args.checkpoint, seq_len=81)
        with open(os.path.join(os.path.dirname(find_checkpoint_file(args.checkpoint)), "all_config.yaml")) as f:
            arch = yaml.safe_load(f)["arch"]
        sizes = dict(vocab_size=cfg.vocab_size, seq_len=81, num_puzzle_identifiers=cfg.num_puzzle_identifiers)
        model = official_model(official, arch, sizes, args.puzzles)
        state = torch.load(find_checkpoint_file(args.checkpoint), map_location="cpu", weights_only=True)
        model.load_state_dict({k.removeprefix("_orig_mod."): v for k, v in state.items()}, strict=True, assign=True)
        model.eval()
        inputs, _ = load_sudoku(args.data, args.puzzles)
        pids = torch.zeros(inputs.shape[0], dtype=torch.int32)
        ours = run_steps(ref_model, inputs, pids, args.steps)
        diff = 0.0
        for s, (logits, qh, qc) in enumerate(run_official(model.model, inputs, pids, args.steps)):
            diff = max(diff, float((logits - ours["logits"][s]).abs().max()), float((qh - ours["q_halt"][s]).abs().max()),
                       float((qc - ours["q_continue"][s]).abs().max()))
        worst = max(worst, diff)
        print(f"checkpoint {os.path.basename(os.path.normpath(args.checkpoint))}: {args.puzzles} puzzles x {args.steps} steps, "
              f"max |official - reference| {diff:.3e}")
    print("IDENTICAL" if worst == 0.0 else "DIFFERENT")
    return 0 if worst == 0.0 else 1


if __name__ == "__main__":
    sys.exit(main())
