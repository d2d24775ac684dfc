#!/usr/bin/env python3
"""Neuro-symbolic search (NSSR, docs/nssr.md): registry, curriculum, training, GGUF export, the reference
search and the noise-column experiment, for the PyTorch reference in recur_reference/nssr.py.

    nssr.py init DB                                           a registry holding the 22 primitives
    nssr.py experiment-data [--out models/nssr/experiment]    the doc's 5 CSVs (seed 777)
    nssr.py curriculum [--count 20] [--seed 777] [--out F.jsonl]   sample curriculum tasks (JSON lines)
    nssr.py train --out DIR [--minutes 20] [--seed 777]       DIR/checkpoint.pt + DIR/all_config.yaml
    nssr.py eval --checkpoint DIR [--count 2000]              held-out top-1 / top-3 per head
    nssr.py export --checkpoint DIR --out F.gguf [--type f32|f16|q8_0]
    nssr.py search --examples CSV --registry DB (--checkpoint DIR | --gguf F) [--register NAME] [--json]
    nssr.py experiment --registry DB (--checkpoint DIR | --gguf F) [--data models/nssr/experiment]
                       [--in-place] [--out RESULT.json]

Curriculum (seed 777; training tasks from the stream `nssr-train-<seed>`, held-out ones from
`nssr-heldout-<seed>`). A task is a random composition of primitives over 1..3 used input columns
plus 0..3 junk columns (random values, or a column correlated with a used one: round(1.1 v) + u,
u in {-1, 0, 1}) in random column order, 8 rows, optionally with a final multiplicative or additive
constant. Kinds (probability): every non-iteration primitive alone, clean (0.15) and with junk
(0.20); iteration primitives with a body (0.08); sequential g(f(r)) (0.12); nested
f(.., g(r), ..) (0.17); parallel f(g1(r1), g2(r2)) (0.13); parallel whose children are themselves
one- or two-step compositions scaled by a constant (0.15, what learned functions look like to the
model). Column values are integers in [-20, 20], [1, 20], [-50, 50], [0, 5], {0, 1} or two-decimal
reals in [-10, 10]; a task whose output is constant (except CONST / NULL alone), non-finite or
above 2e4 in magnitude is drawn again.

Targets, matching the doc's search (the function the search takes from S1 is the primary): depth 1
primary = f; iteration primary = the iteration primitive, secondary = its body; sequential g(f(r))
primary = f (the first step), secondary = g; nested f(.., g(..), ..) primary = f, secondary = g;
parallel f(g1, g2) primary = f, secondary = the root of g1, tertiary = the root of g2; heads
without a target are ignored (ignore_index). Composition type: none (depth 1 and iteration),
sequential, nested, parallel. Halt target: whether the primary head's argmax is right.

Training: AdamW (lr 1e-3, warmup 100, cosine to 10% over the time budget, wd 0.01, clip 1.0), batch
64 tasks; per batch `--sup-steps` (3) supervision steps, each one optimizer step with the carry
(y, z) detached between steps, the first T - 1 cycles of each step under no_grad (TRM). Loss: CE of
the three function heads and the composition head + 0.5 BCE of the halt head.
"""
import argparse
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # the tests skip on 77
    print(f"needs torch and numpy: {e}", file=sys.stderr)
    sys.exit(77)

from recur_reference import nssr  # noqa: E402
from recur_reference.nssr import (  # noqa: E402
    ITERATION, PRIM_ID, PRIMITIVES, Carry, Library, NSSR, NSSRConfig, Registry, Step, load_checkpoint,
    row_features, save_checkpoint, write_gguf)

IGNORE = -100


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


# ---- curriculum ----------------------------------------------------------------------------------

LIB = Library.primitives()
ARITY = {n: a for n, a in PRIMITIVES}
NONITER = [n for n, _ in PRIMITIVES if n not in ITERATION]
BINARY = [n for n in NONITER if ARITY[n] == 2]
ARITH = ["ADD", "SUB", "MUL", "DIV"]
KINDS = ["small", "pos", "wide", "tiny", "bool", "float"]
CONSTANTS = [0.5, 2.0, 3.0, 0.25, 1.5, 9.81, -1.0, 10.0, 0.1, 4.0, -2.0, 5.0, 1.0 / 3.0, 6.674, 2.5, 0.01]


def col_values(rng: random.Random, kind: str, m: int):
    if kind == "small":
        return [float(rng.randint(-20, 20)) for _ in range(m)]
    if kind == "pos":
        return [float(rng.randint(1, 20)) for _ in range(m)]
    if kind == "wide":
        return [float(rng.randint(-50, 50)) for _ in range(m)]
    if kind == "tiny":
        return [float(rng.randint(0, 5)) for _ in range(m)]
    if kind == "bool":
        return [float(rng.randint(0, 1)) for _ in range(m)]
    return [round(rng.uniform(-10, 10), 2) for _ in range(m)]


def arg_kind(rng: random.Random, f: str, pos: int) -> str:
    """A plausible value kind for argument `pos` of primitive f."""
    if f in ("OR", "AND", "NOT"):
        return rng.choice(["bool", "bool", "tiny"])
    if f in ("EQ", "NEQ"):
        return rng.choice(["tiny", "bool", "tiny"])
    if f == "COND" and pos == 0:
        return rng.choice(["bool", "bool", "tiny"])
    if f == "DIV" and pos == 1:
        return rng.choice(["pos", "small", "tiny"])
    return rng.choice(["small", "pos", "wide", "tiny", "float", "pos"])


def random_routing(rng: random.Random, n_slots: int, u: int):
    """n_slots indices over range(u) that use every one of them."""
    while True:
        r = tuple(rng.randrange(u) for _ in range(n_slots))
        if len(set(r)) == u:
            return r


def pick(rng, names, weights=None):
    return rng.choices(names, weights=weights)[0] if weights else rng.choice(names)


def arith_weighted(rng, names):
    return pick(rng, names, [3.0 if n in ARITH else 1.0 for n in names])


def used_count(rng, slots):
    return rng.randint(1, min(3, slots))


def subtree(rng: random.Random, u: int):
    """A one- or two-step arithmetic-leaning composition over u inputs (value indices 0..u-1): (steps, root)."""
    f = arith_weighted(rng, BINARY)
    if rng.random() < 0.5:
        return [Step(PRIM_ID[f], tuple(rng.randrange(u) for _ in range(2)))], f
    g = arith_weighted(rng, BINARY)
    r = tuple(rng.randrange(u) for _ in range(3))
    p = rng.randrange(2)
    return [Step(PRIM_ID[g], r[p:p + 2]), Step(PRIM_ID[f], r[:p] + (u,) + r[p + 2:])], f


def sample_structure(rng: random.Random):
    """(kind, steps over u inputs [Step], u, per-input kinds, targets (primary, secondary, tertiary) names or None,
    composition type)."""
    r = rng.random()
    if r < 0.35:
        kind = "depth1" if r < 0.15 else "depth1_junk"
        f = rng.choice(NONITER)
        u = used_count(rng, ARITY[f])
        route = random_routing(rng, ARITY[f], u)
        kinds = [None] * u
        for pos, a in enumerate(route):
            kinds[a] = kinds[a] or arg_kind(rng, f, pos)
        return kind, [Step(PRIM_ID[f], route)], u, kinds, (f, None, None), 0
    if r < 0.43:
        L = rng.choice(list(ITERATION))
        if L == "LOOP4":
            g = "COND"
        elif L == "WHILE":
            g = rng.choice(["ADD", "ADD", "MUL", "SUB"])
        else:
            g = rng.choice(["ADD", "SUB", "MUL", "ADD", "DIV", "GT"])
        if L == "LOOP":   # LOOP(n, init, x)
            lit = rng.random() < 0.3
            u = 2 if lit else 3
            args = (0, -1, 1) if lit else (0, 1, 2)
            kinds = ["loopn", "small", "tiny" if g == "MUL" else "small"] if not lit else \
                ["loopn", "tiny" if g == "MUL" else "small"]
        elif L == "LOOP4":  # LOOP4(n, init, x, y)
            u, args, kinds = 4, (0, 1, 2, 3), ["loopn", "bool", "small", "small"]
        elif L == "WHILE":  # WHILE(init, limit, x)
            u, args = 3, (0, 1, 2)
            kinds = (["pos", "wide", "pos"] if g != "MUL" else ["pos", "wide", "two"])
        else:  # ACCUM(n, x)
            u, args, kinds = 2, (0, 1), ["loopn", "small"]
        return "loop", [Step(PRIM_ID[L], args, PRIM_ID[g])], u, kinds, (L, g, None), 0
    if r < 0.55:  # sequential g(f(r)): f first (primary), g second (secondary)
        f = arith_weighted(rng, NONITER[:16])
        g = rng.choice(["NOT", "INC", "DEC", "MUL", "ADD", "MUL", "OR", "NOT"])
        u = used_count(rng, ARITY[f])
        route = random_routing(rng, ARITY[f], u)
        kinds = [None] * u
        for pos, a in enumerate(route):
            kinds[a] = kinds[a] or arg_kind(rng, f, pos)
        return "sequential", [Step(PRIM_ID[f], route), Step(PRIM_ID[g], (u,) * ARITY[g])], u, kinds, (f, g, None), 1
    if r < 0.72:  # nested f(.., g(..), ..)
        f = arith_weighted(rng, [n for n in NONITER if ARITY[n] >= 2])
        g = arith_weighted(rng, NONITER[:16])
        ag = ARITY[g]
        slots = ARITY[f] - 1 + ag
        u = used_count(rng, slots)
        route = random_routing(rng, slots, u)
        p = rng.randrange(ARITY[f])
        kinds = [None] * u
        for pos, a in enumerate(route):
            kinds[a] = kinds[a] or arg_kind(rng, g if p <= pos < p + ag else f, pos)
        steps = [Step(PRIM_ID[g], route[p:p + ag]), Step(PRIM_ID[f], route[:p] + (u,) + route[p + ag:])]
        return "nested", steps, u, kinds, (f, g, None), 2
    if r < 0.85:  # parallel f(g1(r1), g2(r2))
        f = arith_weighted(rng, BINARY)
        g1 = arith_weighted(rng, NONITER[:16])
        g2 = arith_weighted(rng, NONITER[:16])
        slots = ARITY[g1] + ARITY[g2]
        u = used_count(rng, slots)
        route = random_routing(rng, slots, u)
        kinds = [None] * u
        for pos, a in enumerate(route):
            kinds[a] = kinds[a] or arg_kind(rng, g1 if pos < ARITY[g1] else g2, pos)
        steps = [Step(PRIM_ID[g1], route[:ARITY[g1]]), Step(PRIM_ID[g2], route[ARITY[g1]:]),
                 Step(PRIM_ID[f], (u, u + 1))]
        return "parallel", steps, u, kinds, (f, g1, g2), 3
    # parallel of scaled sub-compositions: f(c1 * A(..), c2 * B(..)) (how learned functions look to the model)
    f = pick(rng, ["ADD", "SUB", "MUL", "ADD", "ADD", "DIV"])
    u = rng.randint(2, 3)
    subs = []
    for _ in range(2):
        sub, root = subtree(rng, u)
        subs.append((sub, rng.choice(CONSTANTS) if rng.random() < 0.7 else None, root))
    kinds = [rng.choice(["pos", "pos", "small", "tiny", "float"]) for _ in range(u)]
    return "deep_parallel", (f, subs), u, kinds, (f, subs[0][2], subs[1][2]), 3


def make_task(rng: random.Random, m: int = 8, max_cols: int = 7):
    for _ in range(200):
        kind, steps, u, kinds, targets, ctype = sample_structure(rng)
        inputs = []
        for k in kinds:
            if k == "loopn":
                inputs.append([float(rng.randint(0, 8)) for _ in range(m)])
            elif k == "two":
                inputs.append([float(rng.randint(2, 3)) for _ in range(m)])
            else:
                inputs.append(col_values(rng, k or "small", m))
        arrs = [np.array(v) for v in inputs]
        with np.errstate(all="ignore"):
            if kind == "deep_parallel":
                f, subs = steps
                ch = []
                for sub, scale, _ in subs:
                    v = LIB.run_steps(sub, arrs)
                    ch.append(v * scale if scale is not None else v)
                y = LIB.call(PRIM_ID[f], ch)
            else:
                y = LIB.run_steps(steps, arrs)
        with np.errstate(all="ignore"):
            if not np.isfinite(y).all() or np.abs(y).max() > 2e4:
                continue
            constant = mode = None
            if targets[0] not in ("CONST", "NULL") and rng.random() < 0.3:
                constant = rng.choice(CONSTANTS) if rng.random() < 0.8 else round(rng.uniform(-10, 10), 2)
                mode = "multiplicative" if rng.random() < 0.6 else "additive"
                y = y * constant if mode == "multiplicative" else y + constant
            if not np.isfinite(y).all() or np.abs(y).max() > 2e4:
                continue
        if np.all(y == y[0]) and not (kind.startswith("depth1") and targets[0] in ("CONST", "NULL")):
            continue
        # columns: used inputs + junk, in random order
        junk = 0 if kind == "depth1" else rng.choice([0, 1, 1, 2, 2, 3])
        if kind in ("depth1_junk",) and junk == 0:
            junk = 1
        junk = min(junk, max_cols - u)
        cols = [("in", i) for i in range(u)] + [("junk", j) for j in range(junk)]
        rng.shuffle(cols)
        table = []
        for kind_c, i in cols:
            if kind_c == "in":
                table.append(arrs[i])
            elif rng.random() < 0.25:
                src = arrs[rng.randrange(u)]
                table.append(np.floor(1.1 * src + 0.5) + np.array([rng.randint(-1, 1) for _ in range(m)]))
            else:
                table.append(np.array(col_values(rng, rng.choice(KINDS), m)))
        rows = [[float(t[r]) for t in table] + [float(y[r])] for r in range(m)]
        return {"kind": kind, "rows": rows, "targets": list(targets), "ctype": ctype,
                "constant": constant, "const_mode": mode}
    raise RuntimeError("no task in 200 draws")


def task_tensors(tasks, cfg: NSSRConfig):
    feats = torch.from_numpy(np.stack([row_features(t["rows"], cfg.input_dim, cfg.seq_len) for t in tasks]))
    idx = {n: i for i, n in enumerate(cfg.functions)}
    tg = [[idx[n] if n is not None else IGNORE for n in t["targets"]] for t in tasks]
    tg = torch.tensor(tg, dtype=torch.long)
    ct = torch.tensor([t["ctype"] for t in tasks], dtype=torch.long)
    return feats, tg, ct


def task_stream(seed, tag):
    return random.Random(f"nssr-{tag}-{seed}")


def cmd_curriculum(a):
    rng = task_stream(a.seed, "train")
    out = open(a.out + ".tmp", "w") if a.out else sys.stdout
    counts = {}
    for _ in range(a.count):
        t = make_task(rng)
        counts[t["kind"]] = counts.get(t["kind"], 0) + 1
        out.write(json.dumps(t) + "\n")
    if a.out:
        out.close()
        os.replace(a.out + ".tmp", a.out)
    print(json.dumps({"count": a.count, "kinds": counts}), file=sys.stderr if not a.out else sys.stdout)


# ---- training ------------------------------------------------------------------------------------

def loss_fn(h, tg, ct):
    loss = F.cross_entropy(h["primary"], tg[:, 0])
    for j, head in ((1, "secondary"), (2, "tertiary")):
        if (tg[:, j] != IGNORE).any():
            loss = loss + F.cross_entropy(h[head], tg[:, j], ignore_index=IGNORE)
    loss = loss + F.cross_entropy(h["composition"], ct)
    right = (h["primary"].argmax(-1) == tg[:, 0]).float()
    return loss + 0.5 * F.binary_cross_entropy_with_logits(h["halt"], right), right.mean().item()


def evaluate(model, tasks, steps, batch=250):
    """Top-1 / top-3 per head (and halt accuracy) at each supervision step over held-out tasks."""
    cfg = model.cfg
    res = [{} for _ in range(steps)]
    counts = [{} for _ in range(steps)]
    with torch.no_grad():
        for i in range(0, len(tasks), batch):
            feats, tg, ct = task_tensors(tasks[i:i + batch], cfg)
            carry = model.start(feats)
            for s in range(steps):
                h, carry = model.step(carry)
                for j, head in enumerate(("primary", "secondary", "tertiary")):
                    mask = tg[:, j] != IGNORE
                    if mask.any():
                        top = h[head][mask].topk(3, -1).indices
                        t = tg[mask, j].unsqueeze(1)
                        _acc(res[s], counts[s], head, (top[:, :1] == t).any(1), (top == t).any(1))
                top = h["composition"].topk(3, -1).indices
                _acc(res[s], counts[s], "composition", top[:, 0] == ct, (top == ct.unsqueeze(1)).any(1))
                right = h["primary"].argmax(-1) == tg[:, 0]
                _acc(res[s], counts[s], "halt", (h["halt"] > 0) == right, None)
    out = []
    for s in range(steps):
        out.append({k: {"top1": round(v[0] / counts[s][k], 4), **({"top3": round(v[1] / counts[s][k], 4)}
                                                                   if v[1] is not None else {}),
                        "n": counts[s][k]} for k, v in res[s].items()})
    return out


def _acc(res, counts, key, t1, t3):
    r = res.setdefault(key, [0, 0 if t3 is not None else None])
    r[0] += int(t1.sum())
    if t3 is not None:
        r[1] += int(t3.sum())
    counts[key] = counts.get(key, 0) + len(t1)


def heldout_tasks(seed, count):
    rng = task_stream(seed, "heldout")
    return [make_task(rng) for _ in range(count)]


def cmd_train(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    cfg = NSSRConfig(d=a.d, heads=a.heads, layers=a.layers, n=a.n, t=a.t, steps=a.steps)
    model = NSSR(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=a.wd)
    rng = task_stream(a.seed, "train")
    held = heldout_tasks(a.seed, a.heldout)
    log(f"model {cfg}, "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.3f}M parameters; {len(held)} held-out tasks")
    budget = a.minutes * 60
    t_start = time.time()
    step = 0
    batches = 0
    tasks_seen = 0
    acc = {"loss": 0.0, "p1": 0.0, "n": 0}
    model.train()
    while True:
        elapsed = time.time() - t_start
        if elapsed >= budget:
            break
        tasks = [make_task(rng) for _ in range(a.batch)]
        feats, tg, ct = task_tensors(tasks, cfg)
        B, R = feats.shape[:2]
        y = model.y_init.detach().expand(B, R, -1)
        z = model.z_init.detach().expand(B, R, -1)
        for s in range(a.sup_steps):
            frac = (time.time() - t_start) / budget
            lr = a.lr * min(1.0, (step + 1) / a.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))
            for g in opt.param_groups:
                g["lr"] = lr
            h, carry = model.step(Carry(model.embed(feats), y, z), grad_last_only=True)
            loss, p1 = loss_fn(h, tg, ct)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            opt.step()
            y, z = carry.y, carry.z
            step += 1
            acc["loss"] += loss.item()
            acc["p1"] += p1
            acc["n"] += 1
        batches += 1
        tasks_seen += B
        if batches % a.log_every == 0:
            n = acc["n"]
            log(f"batch {batches} step {step} {elapsed / 60:.1f}min lr {lr:.2e} loss {acc['loss'] / n:.4f} "
                f"primary top1 {acc['p1'] / n:.3f}")
            acc = {"loss": 0.0, "p1": 0.0, "n": 0}
        if batches % a.save_every == 0:
            save_checkpoint(model, a.out, {"training": {"batches": batches, "optimizer_steps": step,
                                                       "tasks": tasks_seen, "seconds": round(time.time() - t_start, 1),
                                                       "partial": True}})
    train_seconds = time.time() - t_start
    model.eval()
    ev = evaluate(model, held, a.sup_steps)
    info = {"training": {"batches": batches, "optimizer_steps": step, "tasks": tasks_seen,
                         "seconds": round(train_seconds, 1), "args": {k: v for k, v in vars(a).items() if k != "func"},
                         "heldout": {"tasks": len(held), "per_step": ev}}}
    save_checkpoint(model, a.out, info)
    with open(os.path.join(a.out, "eval.json.tmp"), "w") as f:
        json.dump(info["training"], f, indent=1)
    os.replace(os.path.join(a.out, "eval.json.tmp"), os.path.join(a.out, "eval.json"))
    log(f"done: {batches} batches, {step} optimizer steps, {tasks_seen} tasks, {train_seconds / 60:.1f} min")
    print(json.dumps({"minutes": round(train_seconds / 60, 2), "tasks": tasks_seen, "optimizer_steps": step,
                      "heldout_last_step": ev[-1], "heldout_step0": ev[0]}))


def cmd_eval(a):
    torch.set_num_threads(a.threads)
    model, _ = nssr.load_checkpoint(a.checkpoint) if not a.gguf else (nssr.load_gguf(a.gguf), None)
    held = heldout_tasks(a.seed, a.count)
    ev = evaluate(model, held, a.steps)
    print(json.dumps({"tasks": len(held), "per_step": ev}))


def cmd_export(a):
    model, _ = load_checkpoint(a.checkpoint)
    write_gguf(model, a.out, a.type)
    print(json.dumps({"out": a.out, "type": a.type, "bytes": os.path.getsize(a.out)}))


# ---- registry, search, experiment ----------------------------------------------------------------

def cmd_init(a):
    try:
        reg = Registry.init(a.db)
    except (nssr.RegistryError, nssr.CompositionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"registry": a.db, "functions": len(reg.library)}))
    return 0


def load_search_model(a):
    if getattr(a, "gguf", None):
        return nssr.load_gguf(a.gguf)
    return load_checkpoint(a.checkpoint)[0]


def run_search(rows, reg: Registry, model, register=None, steps=None, verbose=False):
    s = nssr.Searcher(rows, reg.library, model, steps=steps, log=(lambda m: log(m)) if verbose else None)
    res = s.run()
    if register and res.found:
        reg.register(register, res.arity, res.simplified, res.constant, res.const_mode or "multiplicative")
        res.registered = register
    return res


def cmd_search(a):
    torch.set_num_threads(a.threads)
    try:
        reg = Registry(a.registry)
        model = load_search_model(a)
        _, rows = nssr.read_csv(a.examples)
        res = run_search(rows, reg, model, a.register, a.steps, a.verbose)
    except (nssr.RegistryError, nssr.CompositionError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if a.json:
        print(json.dumps(res.to_json()))
    elif res.found:
        kind = "exact" if res.constant is None else f"{res.const_mode} constant"
        print(f"{res.task_expression}  =  {res.expression} over columns {res.columns}    ({kind}, R^2 {res.r2:.6f}, "
              f"{res.group} at attempt {res.attempt} step {res.step}, {res.candidates} candidates, "
              f"{res.seconds:.2f} s)" + (f" registered as {res.registered}" if res.registered else ""))
    else:
        print(f"no solution ({res.candidates} candidates, {res.steps} steps, {res.seconds:.2f} s)")
    return 0 if res.found else 2


EXPERIMENT = [  # name, header, generator of one row's inputs, output
    ("SQUARE", ["x", "junk1", "junk2"], lambda r: [r.randint(-20, 20), r.randint(-50, 50), r.randint(-50, 50)],
     lambda v: v[0] * v[0]),
    ("FORCE", ["m", "junk1", "a", "junk2"],
     lambda r: [r.randint(1, 20), r.randint(-50, 50), r.randint(1, 20), r.randint(-50, 50)], lambda v: v[0] * v[2]),
    ("KE", ["m", "corr", "v"], None, lambda v: 0.5 * v[0] * v[2] * v[2]),
    ("PE", ["junk1", "m", "h", "junk2"],
     lambda r: [r.randint(-50, 50), r.randint(1, 20), r.randint(1, 20), r.randint(-50, 50)],
     lambda v: v[1] * 9.81 * v[2]),
    ("TOTAL_E", ["m", "v", "junk", "h"],
     lambda r: [r.randint(1, 20), r.randint(1, 20), r.randint(-50, 50), r.randint(1, 20)],
     lambda v: 0.5 * v[0] * v[1] * v[1] + v[0] * 9.81 * v[3]),
]


def ke_inputs(r):
    m = r.randint(1, 20)
    u = r.randint(-1, 1)
    return [m, math.floor(1.1 * m + 0.5) + u, r.randint(1, 20)]


def cmd_experiment_data(a):
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(a.seed)
    written = []
    for name, header, gen, out in EXPERIMENT:
        gen = gen or ke_inputs
        path = os.path.join(a.out, f"{name}.csv")
        with open(path + ".tmp", "w") as f:
            f.write(",".join(header + ["y"]) + "\n")
            for _ in range(a.rows):
                v = gen(rng)
                f.write(",".join(str(int(x)) for x in v) + "," + repr(float(out(v))) + "\n")
        os.replace(path + ".tmp", path)
        written.append(path)
    print(json.dumps({"out": a.out, "files": written, "rows": a.rows, "seed": a.seed}))


def cmd_experiment(a):
    torch.set_num_threads(a.threads)
    model = load_search_model(a)
    tmpdir = None
    if a.in_place:
        db = a.registry
    else:
        tmpdir = tempfile.mkdtemp(prefix="nssr-")
        db = os.path.join(tmpdir, "registry.sqlite")
        shutil.copyfile(a.registry, db)
    reg = Registry(db)
    results = []
    t_all = time.perf_counter()
    for name, *_ in EXPERIMENT:
        _, rows = nssr.read_csv(os.path.join(a.data, f"{name}.csv"))
        res = run_search(rows, reg, model, register=name, steps=a.steps, verbose=a.verbose)
        line = {"task": name, "found": res.found, "expression": res.expression,
                "task_expression": res.task_expression, "constant": res.constant,
                "const_mode": res.const_mode, "exact": res.exact, "r2": res.r2, "group": res.group,
                "attempt": res.attempt, "step": res.step, "steps": res.steps, "candidates": res.candidates,
                "seconds": round(res.seconds, 3), "registered": res.registered, "composition": res.composition,
                "arity": res.arity, "columns": res.columns}
        results.append(line)
        print(json.dumps(line), flush=True)
    lib = reg.library
    total = {"tasks": len(results), "found": sum(r["found"] for r in results),
             "seconds": round(time.perf_counter() - t_all, 3),
             "candidates": sum(r["candidates"] for r in results)}
    by = {r["task"]: r for r in results}
    checks = {
        "all_found": total["found"] == len(results),
        "KE_constant_0.5": by["KE"]["constant"] == 0.5 and by["KE"]["const_mode"] == "multiplicative",
        "PE_constant_9.81": by["PE"]["constant"] is not None and abs(by["PE"]["constant"] - 9.81) < 1e-9
        and by["PE"]["const_mode"] == "multiplicative",
        "TOTAL_E_is_ADD_KE_PE": bool(by["TOTAL_E"]["found"] and by["TOTAL_E"]["composition"] is not None
                                     and "KE" in lib.by_name and "PE" in lib.by_name
                                     and by["TOTAL_E"]["composition"][-1][0] == PRIM_ID["ADD"]
                                     and {s[0] for s in by["TOTAL_E"]["composition"]}
                                     == {PRIM_ID["ADD"], lib.by_name["KE"].id, lib.by_name["PE"].id}),
    }
    summary = {"summary": total, "checks": checks,
               "registry": {f.name: {"id": f.id, "arity": f.arity, "layer": f.layer,
                                     "composition": [s.to_json() for s in f.steps], "constant": f.constant,
                                     "const_mode": f.const_mode}
                            for f in (lib[i] for i in lib.ids()) if not f.primitive}}
    print(json.dumps(summary), flush=True)
    if a.out:
        import platform
        meta = {"model": a.gguf or a.checkpoint, "registry": a.registry + ("" if a.in_place else " (a copy)"),
                "data": a.data, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "python": platform.python_version(), "torch": torch.__version__, "torch_threads": a.threads,
                "cpu": platform.processor() or platform.machine(),
                "note": "reference search in Python (numpy float64 over rows); seconds include the model's steps"}
        with open(a.out + ".tmp", "w") as f:
            json.dump({"meta": meta, "tasks": results, **summary}, f, indent=1)
        os.replace(a.out + ".tmp", a.out)
    if tmpdir:
        shutil.rmtree(tmpdir)
    return 0 if checks["all_found"] else 2


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("init")
    p.add_argument("db")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("experiment-data")
    p.add_argument("--out", default="models/nssr/experiment")
    p.add_argument("--seed", type=int, default=777)
    p.add_argument("--rows", type=int, default=30)
    p.set_defaults(func=cmd_experiment_data)

    p = sub.add_parser("curriculum")
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--seed", type=int, default=777)
    p.add_argument("--out", default=None)
    p.set_defaults(func=cmd_curriculum)

    p = sub.add_parser("train")
    p.add_argument("--out", required=True)
    p.add_argument("--minutes", type=float, default=20)
    p.add_argument("--seed", type=int, default=777)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--n", type=int, default=6)
    p.add_argument("--t", type=int, default=3)
    p.add_argument("--steps", type=int, default=16, help="supervision steps the file advertises (the search's)")
    p.add_argument("--sup-steps", type=int, default=3, help="supervision steps trained per batch")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--wd", type=float, default=0.01)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--heldout", type=int, default=2000)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--save-every", type=int, default=200, help="batches between checkpoints")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval")
    p.add_argument("--checkpoint")
    p.add_argument("--gguf")
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--seed", type=int, default=777)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("export")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--type", default="f32", choices=["f32", "f16", "q8_0"])
    p.set_defaults(func=cmd_export)

    for name in ("search", "experiment"):
        p = sub.add_parser(name)
        p.add_argument("--registry", required=True)
        g = p.add_mutually_exclusive_group(required=True)
        g.add_argument("--checkpoint")
        g.add_argument("--gguf")
        p.add_argument("--steps", type=int, default=None, help="supervision steps (default: the model's)")
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--verbose", action="store_true", help="log S1..S3 and types per step on stderr")
        if name == "search":
            p.add_argument("--examples", required=True)
            p.add_argument("--register", default=None)
            p.add_argument("--json", action="store_true")
            p.set_defaults(func=cmd_search)
        else:
            p.add_argument("--data", default="models/nssr/experiment")
            p.add_argument("--in-place", action="store_true", help="register into --registry itself")
            p.add_argument("--out", default=None, help="also write the results as one JSON file")
            p.set_defaults(func=cmd_experiment)

    a = ap.parse_args(argv)
    if a.cmd == "export" or getattr(a, "gguf", None):
        try:
            import gguf  # noqa: F401
        except ImportError as e:  # the tests skip on 77
            print(f"needs gguf: {e}", file=sys.stderr)
            sys.exit(77)
    rc = a.func(a)
    sys.exit(rc or 0)


if __name__ == "__main__":
    main()
