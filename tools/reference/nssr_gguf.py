#!/usr/bin/env python3
"""The NSSR model (docs/nssr.md) from any nssr GGUF file (F32 / F16 / Q8_0 tensors, dequantized with
gguf.quants), in PyTorch: the reference the runtime's forward pass, primitives and search are checked
against.

    python3 tools/reference/nssr_gguf.py forward --gguf FILE (--rows ROWS.json | --csv F.csv) [--steps K]
    python3 tools/reference/nssr_gguf.py primitives [--cases 20] [--seed 0]
    python3 tools/reference/nssr_gguf.py make-checkpoint --out DIR [--functions 22] [--seed 0]
    python3 tools/reference/nssr_gguf.py compare --gguf FILE --checkpoint DIR
    python3 tools/reference/nssr_gguf.py search --gguf FILE --examples F.csv --registry DB [--register NAME]
                                                [--steps K] [--json]

forward: ROWS.json is a JSON list of rows, each the input values then the output (a CSV's rows);
prints {"rows_read", "features": [[input_dim floats] per row read], "steps": [{"primary", "secondary",
"tertiary" (F logits each), "composition" (4), "halt" (1 number), "y_mean", "z_mean"} per supervision
step]} (K defaults to the file's nssr.supervision_steps).
primitives: for every primitive `--cases` random cases plus fixed edge cases (DIV by 0, n = 5000
capped at 1000, NaN / infinite n, WHILE that never terminates, NaN arguments); prints
{"cases": [{"name", "args", "body" (iteration primitives: a body's name), "result"}]}; numbers that
are not finite are written as the strings "nan", "inf", "-inf".
make-checkpoint: a tiny random model as a training run leaves it (DIR/checkpoint.pt {"model",
"config"} and DIR/all_config.yaml), d 32, 8 heads, 2 blocks, n 2, T 2, 3 supervision steps, the
first `--functions` registry names (past 22: F23, F24, ...), for `recur export` tests.
compare: the largest |difference| per tensor between a GGUF and a checkpoint (JSON).
search: nssr.py search with the model from the GGUF. Exit 77 when torch, numpy or gguf is missing.
"""
import argparse
import json
import math
import os
import random
import sys

try:
    import numpy as np
    import torch
    import gguf  # noqa: F401
except ImportError as e:  # the tests skip on 77
    print(f"needs torch, numpy and gguf: {e}", file=sys.stderr)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recur_reference import nssr  # noqa: E402


def num(x: float):
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def cmd_forward(a):
    model = nssr.load_gguf(a.gguf)
    rows = json.load(open(a.rows)) if a.rows else nssr.read_csv(a.csv)[1]
    cfg = model.cfg
    feats = torch.from_numpy(nssr.row_features(rows, cfg.input_dim, cfg.seq_len))
    steps = a.steps if a.steps is not None else cfg.steps
    out = []
    for h in model.run(feats, steps):
        out.append({"primary": h["primary"].tolist(), "secondary": h["secondary"].tolist(),
                    "tertiary": h["tertiary"].tolist(), "composition": h["composition"].tolist(),
                    "halt": float(h["halt"]), "y_mean": h["y_mean"], "z_mean": h["z_mean"]})
    print(json.dumps({"rows_read": int(feats.shape[0]), "functions": cfg.functions,
                      "features": feats.tolist(), "steps": out}))


BODIES = {2: ["ADD", "SUB", "MUL", "DIV", "LT", "GT", "EQ", "OR", "AND", "NEQ", "LTE", "GTE"], 3: ["COND"]}


def prim_case(lib, name, args, body=None):
    fid = nssr.PRIM_ID[name]
    r = lib.evaluate_scalar(fid, args, nssr.PRIM_ID[body] if body else None)
    c = {"name": name, "args": [num(x) for x in args], "result": num(r)}
    if body:
        c["body"] = body
    return c


def random_arg(rng):
    k = rng.random()
    if k < 0.3:
        return float(rng.randint(-5, 5))
    if k < 0.5:
        return float(rng.randint(0, 1))
    if k < 0.8:
        return round(rng.uniform(-100, 100), 3)
    return rng.uniform(-1e3, 1e3)


def cmd_primitives(a):
    rng = random.Random(a.seed)
    lib = nssr.Library.primitives()
    cases = []
    for name, arity in nssr.PRIMITIVES:
        for _ in range(a.cases):
            if name in ("LOOP", "LOOP4"):
                body = rng.choice(BODIES[nssr.ITERATION[name]])
                args = [float(rng.randint(-2, 12)) if rng.random() < 0.9 else rng.uniform(-3, 30)] + \
                    [random_arg(rng) for _ in range(arity - 1)]
                if body == "MUL":
                    args[2] = rng.choice([-2.0, -1.0, 0.5, 1.5, 2.0])
                cases.append(prim_case(lib, name, args, body))
            elif name == "WHILE":
                body = rng.choice(["ADD", "MUL", "SUB", "ADD", "DIV"])
                args = [float(rng.randint(-10, 10)), float(rng.randint(-20, 60)), float(rng.randint(-3, 5))]
                cases.append(prim_case(lib, name, args, body))
            elif name == "ACCUM":
                body = rng.choice(BODIES[2])
                args = [float(rng.randint(-2, 15)) if rng.random() < 0.9 else rng.uniform(-3, 30), random_arg(rng)]
                cases.append(prim_case(lib, name, args, body))
            else:
                args = [random_arg(rng) for _ in range(arity)]
                if name in ("EQ", "NEQ", "LTE", "GTE") and rng.random() < 0.4:
                    args[1] = args[0]
                cases.append(prim_case(lib, name, args))
    nan, inf = float("nan"), float("inf")
    edge = [("DIV", [5.0, 0.0]), ("DIV", [0.0, 0.0]), ("DIV", [-3.0, -0.0]), ("DIV", [1.0, 3.0]),
            ("NOT", [0.0]), ("NOT", [-0.0]), ("NOT", [nan]), ("OR", [nan, 0.0]), ("AND", [nan, 1.0]),
            ("LT", [nan, 1.0]), ("NEQ", [nan, nan]), ("EQ", [0.0, -0.0]), ("COND", [nan, 1.0, 2.0]),
            ("COND", [0.0, 1.0, 2.0]), ("CONST", [nan]), ("NULL", [inf]), ("INC", [inf]), ("MUL", [inf, 0.0])]
    for name, args in edge:
        cases.append(prim_case(lib, name, args))
    iter_edge = [("LOOP", [5000.0, 0.0, 1.0], "ADD"), ("LOOP", [nan, 7.0, 1.0], "ADD"),
                 ("LOOP", [inf, 7.0, 1.0], "ADD"), ("LOOP", [-inf, 7.0, 1.0], "ADD"),
                 ("LOOP", [3.9, 1.0, 2.0], "MUL"), ("LOOP", [-2.5, 4.0, 1.0], "ADD"),
                 ("LOOP", [1000.5, 0.0, 1.0], "ADD"), ("LOOP", [10.0, 1.0, 10.0], "MUL"),
                 ("LOOP", [400.0, 1.0, 10.0], "MUL"),
                 ("LOOP4", [5000.0, 0.0, 1.0, 2.0], "COND"), ("LOOP4", [3.0, 0.0, 1.0, 2.0], "COND"),
                 ("LOOP4", [nan, 9.0, 1.0, 2.0], "COND"),
                 ("WHILE", [0.0, 10.0, 0.0], "ADD"), ("WHILE", [0.0, 10.0, -1.0], "ADD"),
                 ("WHILE", [1.0, 1e9, 2.0], "MUL"), ("WHILE", [5.0, 1.0, 1.0], "ADD"),
                 ("WHILE", [nan, 1.0, 1.0], "ADD"), ("WHILE", [0.0, inf, 1.0], "ADD"),
                 ("WHILE", [0.0, nan, 1.0], "ADD"),
                 ("ACCUM", [5000.0, 1.0], "ADD"), ("ACCUM", [nan, 1.0], "ADD"), ("ACCUM", [4.0, 3.0], "MUL"),
                 ("ACCUM", [0.0, 3.0], "ADD"), ("ACCUM", [10.7, 2.0], "SUB")]
    for name, args, body in iter_edge:
        cases.append(prim_case(lib, name, args, body))
    print(json.dumps({"seed": a.seed, "cases": cases}))


def cmd_make_checkpoint(a):
    torch.manual_seed(a.seed)
    names = [n for n, _ in nssr.PRIMITIVES][:a.functions] + [f"F{i}" for i in range(23, a.functions + 1)]
    cfg = nssr.NSSRConfig(d=32, heads=8, layers=2, input_dim=32, seq_len=8, n=2, t=2, steps=3, eps=1e-5,
                          functions=names)
    model = nssr.NSSR(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    nssr.save_checkpoint(model, a.out, {"random": True, "seed": a.seed})
    print(json.dumps({"out": a.out, "config": nssr.asdict(cfg)}))


def cmd_compare(a):
    model = nssr.load_gguf(a.gguf)
    path = a.checkpoint if a.checkpoint.endswith(".pt") else os.path.join(a.checkpoint, "checkpoint.pt")
    ck = torch.load(path, map_location="cpu", weights_only=True)["model"]
    sd = model.state_dict()
    missing = sorted(set(ck) ^ set(sd))
    diffs = {k: float((sd[k] - v.float()).abs().max()) for k, v in ck.items() if k in sd}
    print(json.dumps({"max_abs_diff": diffs, "overall": max(diffs.values()), "name_mismatch": missing}))


def cmd_search(a):
    from nssr import run_search  # tools/reference/nssr.py
    try:
        reg = nssr.Registry(a.registry)
        model = nssr.load_gguf(a.gguf)
        _, rows = nssr.read_csv(a.examples)
        res = run_search(rows, reg, model, a.register, a.steps, a.verbose)
    except (nssr.RegistryError, nssr.CompositionError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if a.json:
        print(json.dumps(res.to_json()))
    else:
        print(res.task_expression if res.found else "no solution")
    return 0 if res.found else 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("forward")
    p.add_argument("--gguf", required=True)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--rows")
    g.add_argument("--csv")
    p.add_argument("--steps", type=int, default=None)
    p.set_defaults(func=cmd_forward)
    p = sub.add_parser("primitives")
    p.add_argument("--cases", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_primitives)
    p = sub.add_parser("make-checkpoint")
    p.add_argument("--out", required=True)
    p.add_argument("--functions", type=int, default=22)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_make_checkpoint)
    p = sub.add_parser("compare")
    p.add_argument("--gguf", required=True)
    p.add_argument("--checkpoint", required=True)
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("search")
    p.add_argument("--gguf", required=True)
    p.add_argument("--examples", required=True)
    p.add_argument("--registry", required=True)
    p.add_argument("--register", default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--json", action="store_true")
    p.add_argument("--verbose", action="store_true")
    p.set_defaults(func=cmd_search)
    a = ap.parse_args()
    torch.set_num_threads(1)
    sys.exit(a.func(a) or 0)


if __name__ == "__main__":
    main()
