#!/usr/bin/env python3
"""The rule-latent model (docs/rule-latent.md) from a GGUF file, in PyTorch: the reference the
runtime's forward pass, z gradient, fit and answers are checked against.

    python3 tools/reference/uzr_gguf.py check --gguf FILE --pairs PAIRS.json --z Z.json \
        [--queries Q.json] [--steps N --lr A --l1 B --l2 C] [--float64]

    python3 tools/reference/uzr_gguf.py make-checkpoint --out DIR [--seed S]
    python3 tools/reference/uzr_gguf.py compare --gguf FILE --checkpoint DIR/checkpoint.pt
    python3 tools/reference/uzr_gguf.py config-yaml --checkpoint DIR/checkpoint.pt
    python3 tools/reference/uzr_gguf.py to-checkpoint --gguf FILE --out DIR

    python3 tools/reference/uzr_gguf.py session --gguf FILE --turns TURNS.jsonl [--steps N --gate G
        --capacity C --replay R --seed S]

check: PAIRS.json: [[input, output], ...] (strings); Z.json: [k floats]. Prints JSON: loss and ce
at z, grad (d loss / d z by autograd), the fit from z (Adam + L1 prox, recur_reference.uzr.fit_z):
fitted z, ce and loss, and the greedy answers to the queries under the fitted z.
make-checkpoint: a tiny random model as a training run leaves it (DIR/checkpoint.pt with
{"model": state_dict, "config": ...} and DIR/all_config.yaml with `arch.name: uzr` and `fit:`),
for `recur export`; compare: the largest |difference| per tensor between a GGUF and a checkpoint;
config-yaml: the all_config.yaml `recur export` reads, from a uzr.py training checkpoint's config.
session: runs recur_reference.uzr.Session over the turns (JSON lines {"examples": [[x, y], ...],
"queries": [x, ...]}) and prints one JSON line per turn (answers as Latin-1 strings, conf,
z_slow_updated, retrieved, memory size, evicted id, the turn's seconds). Exit 77 when torch or gguf is missing.
"""
import argparse
import json
import sys

try:
    import numpy as np
    import torch
    from gguf import GGUFReader, quants
except ImportError as e:  # the tests skip on 77
    print(f"needs torch, numpy and gguf: {e}", file=sys.stderr)
    sys.exit(77)

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from recur_reference import uzr  # noqa: E402


def load(path: str, dtype=torch.float32) -> uzr.UZR:
    r = GGUFReader(path)

    def field(key, default=None):
        f = r.fields.get(key)
        if f is None:
            if default is None:
                raise SystemExit(f"{path}: metadata key {key} missing")
            return default
        return f.contents()

    if field("general.architecture") != "uzr":
        raise SystemExit(f"{path}: not a uzr file")
    cfg = uzr.UZRConfig(d=int(field("uzr.embedding_length")), heads=int(field("uzr.attention.head_count")),
                        layers=int(field("uzr.block_count")), k=int(field("uzr.latent_length")),
                        ffn=int(field("uzr.feed_forward_length")), activation=str(field("uzr.activation", "gelu")),
                        max_in=int(field("uzr.max_input")), max_out=int(field("uzr.max_output")),
                        eps=float(field("uzr.attention.layer_norm_epsilon", 1e-5)))
    model = uzr.UZR(cfg)
    state = {}
    for t in r.tensors:
        values = quants.dequantize(t.data, t.tensor_type)
        shape = [int(x) for x in reversed(t.shape.tolist())]
        state[t.name] = torch.from_numpy(np.array(values, dtype=np.float32).reshape(shape))
    model.load_state_dict(state, strict=True)
    return model.to(dtype).eval()


def file_fit(path: str) -> "uzr.FitConfig":
    """The fit settings a GGUF file stores (uzr.fit.*), the doc's defaults for the rest."""
    r = GGUFReader(path)
    fit = uzr.FitConfig()
    for name in ("lr", "steps", "l1", "l2", "gate", "eta", "retrieve", "replay", "capacity"):
        f = r.fields.get(f"uzr.fit.{name}")
        if f is not None:
            setattr(fit, name, type(getattr(fit, name))(f.contents()))
    return fit


def uzr_yaml(cfg, fit) -> str:
    """The all_config.yaml `recur export` reads beside a uzr checkpoint."""
    lines = ["arch:", "  name: uzr"]
    for k in ("d", "heads", "layers", "k", "ffn", "max_in", "max_out", "eps"):
        lines.append(f"  {k}: {getattr(cfg, k)}")
    lines.append(f"  activation: {cfg.activation}")
    lines.append("fit:")
    for k in ("lr", "steps", "l1", "l2", "gate", "eta", "retrieve", "replay", "capacity"):
        lines.append(f"  {k}: {getattr(fit, k)}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("check")
    p.add_argument("--gguf", required=True)
    p.add_argument("--pairs", required=True)
    p.add_argument("--z", required=True)
    p.add_argument("--queries", default=None)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--l1", type=float, default=1e-3)
    p.add_argument("--l2", type=float, default=1e-3)
    p.add_argument("--float64", action="store_true")
    p = sub.add_parser("make-checkpoint")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("config-yaml")
    p.add_argument("--checkpoint", required=True)
    p = sub.add_parser("to-checkpoint")
    p.add_argument("--gguf", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("compare")
    p.add_argument("--gguf", required=True)
    p.add_argument("--checkpoint", required=True)
    p = sub.add_parser("session")
    p.add_argument("--gguf", required=True)
    p.add_argument("--turns", required=True)
    p.add_argument("--steps", type=int, default=None, help="default: the file's uzr.fit.steps")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--gate", type=float, default=None)
    p.add_argument("--capacity", type=int, default=None)
    p.add_argument("--replay", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (the bench passes its own count)")
    args = ap.parse_args()
    torch.set_num_threads(getattr(args, "threads", 2))
    if args.cmd == "make-checkpoint":
        import os
        torch.manual_seed(args.seed)
        cfg = uzr.UZRConfig(d=32, heads=2, layers=2, k=8, ffn=64, max_in=8, max_out=8)
        model = uzr.UZR(cfg)
        with torch.no_grad():
            for p_ in model.parameters():
                p_.add_(torch.randn_like(p_) * 0.1)
        os.makedirs(args.out, exist_ok=True)
        torch.save({"model": model.state_dict(), "config": {"d": cfg.d}}, os.path.join(args.out, "checkpoint.pt"))
        with open(os.path.join(args.out, "all_config.yaml"), "w") as f:
            f.write(uzr_yaml(cfg, uzr.FitConfig(steps=7, lr=0.05)))
        return
    if args.cmd == "config-yaml":
        import os
        ck = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
        cfg = uzr.UZRConfig.from_dict(ck["config"])
        fit = uzr.FitConfig.from_dict(ck["config"].get("fit"))
        out = os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), "all_config.yaml")
        with open(out + ".tmp", "w") as f:
            f.write(uzr_yaml(cfg, fit))
        os.replace(out + ".tmp", out)
        print(out)
        return
    if args.cmd == "to-checkpoint":
        # The file's weights and fit settings as a training run's checkpoint, for the trainer's
        # own tools (`uzr.py eval`) on a shipped model whose run is not at hand.
        import os
        from dataclasses import asdict
        model = load(args.gguf)
        config = {**asdict(model.cfg), "fit": asdict(file_fit(args.gguf))}
        os.makedirs(args.out, exist_ok=True)
        out = os.path.join(args.out, "checkpoint.pt")
        torch.save({"model": model.state_dict(), "config": config}, out + ".tmp")
        os.replace(out + ".tmp", out)
        print(out)
        return
    if args.cmd == "compare":
        model = load(args.gguf)
        ck = torch.load(args.checkpoint, map_location="cpu", weights_only=True)["model"]
        diffs = {k: float((model.state_dict()[k] - v.float()).abs().max()) for k, v in ck.items()}
        print(json.dumps(diffs))
        return
    if args.cmd == "session":
        model = load(args.gguf)
        fit = file_fit(args.gguf)
        for name in ("steps", "lr", "gate", "capacity", "replay"):
            if getattr(args, name) is not None:
                setattr(fit, name, getattr(args, name))
        session = uzr.Session(model, fit, seed=args.seed)
        import time
        for line in open(args.turns):
            if not line.strip():
                continue
            t = json.loads(line)
            start = time.perf_counter()
            r = session.turn([tuple(p) for p in t.get("examples", [])], t.get("queries", []))
            seconds = time.perf_counter() - start
            print(json.dumps({"answers": [a.decode("latin-1") for a in r["answers"]], "conf": r["conf"],
                              "z_slow_updated": r["z_slow_updated"], "retrieved": r["retrieved"],
                              "memory": r["memory"], "evicted": r["evicted"], "seconds": seconds}), flush=True)
        return
    dtype = torch.float64 if args.float64 else torch.float32
    model = load(args.gguf, dtype)
    pairs = [tuple(p) for p in json.load(open(args.pairs))]
    z0 = torch.tensor(json.load(open(args.z)), dtype=dtype)
    z = z0.clone().requires_grad_(True)
    loss, ce = uzr.context_loss(model, pairs, z, l2=args.l2)
    (grad,) = torch.autograd.grad(loss, z)
    fit = uzr.fit_z(model, pairs, z0=z0, steps=args.steps, lr=args.lr, l1=args.l1, l2=args.l2)
    queries = json.load(open(args.queries)) if args.queries else []
    answers = [a.decode("latin-1") for a in uzr.answer(model, fit.z, queries)] if queries else []
    print(json.dumps({"loss": float(loss), "ce": float(ce), "grad": grad.tolist(), "fit_z": fit.z.tolist(),
                      "fit_ce": fit.ce, "fit_loss": fit.loss, "answers": answers}))


if __name__ == "__main__":
    main()
