#!/usr/bin/env python3
"""Rule-latent controller (UZR, docs/rule-latent.md): meta-training, evaluation, GGUF export,
fixtures and sessions for the PyTorch reference in recur_reference/uzr.py.

    uzr.py train --out DIR [--minutes 25] [--resume]       meta-train; DIR/checkpoint.pt, DIR/train_state.pt
    uzr.py tune --checkpoint C [--seed 7] [--tasks 5]       choose fit lr / steps on validation tasks (into C)
    uzr.py eval --checkpoint C [--tasks 20] [--seed 123]    held-out exact match per family -> DIR/eval.json
    uzr.py export --checkpoint C --out F.gguf [--type f32|f16]
    uzr.py fixtures --checkpoint C --out F.json [--seed S]  numbers for the runtime's gradient check
    uzr.py make-session --turns 10000 --seed 5 --out F.jsonl
    uzr.py session --checkpoint C --turns F.jsonl --out G.jsonl [--limit N]

Meta-training (the choice made here; the defaults are the recipe of the shipped
models/uzr-rules-f32.gguf). Per batch, `--batch-tasks` (8) tasks, each with `--context` (4)
example pairs and `--queries` (4) query pairs; families uniform (with `--adaptive`: drawn by
0.2 + 1 - their running query exact match), per-task parameters uniform. Two phases over the
time budget:

1. Task-code table (`--code-frac` 0.5 of the budget; encoder-free, an auto-decoder): z of a task
   is the sum of learned rows of a table (its family, its discrete parameter, for prefix / suffix
   one row per (position, char) plus one for the length), trained with the weights (L2
   `--code-l2` on z). No fitting, so the byte skills (copy, reverse, case maps, shifts) are
   learned at full speed; the table is thrown away after.
2. Fitted z (the rest): z fitted from z = 0 on the examples exactly as the runtime fits
   (recur_reference.uzr.fit_z_batch: Adam, prox-L1, L2 on z) with `--inner-steps` steps at
   `--inner-lr` (0.1), the step count ramping from `--inner-steps-start` (3) to `--inner-steps`
   (10) over the first half of the phase, no graph through the weights (first order). Outer
   step: AdamW on the weights, loss = cross-entropy of the example pairs plus that of the query
   pairs at the fitted z (detached), so the weights learn to read the rule from whatever z the
   fit finds (the model learns to be fittable) and to generalise it to the queries. With
   `--diff-last` the last inner Adam step is taken with create_graph (second moment detached),
   so the outer loss also differentiates through one fit step (second order, ~1.6x the cost;
   not used for the shipped model).

Learning rate: linear warmup (50 steps) then cosine decay to 10% over the *time* budget (robust
to a shared CPU). The fit defaults (lr, steps) written into the checkpoint by `train` are the
inner ones; `tune` replaces them with the best on validation tasks (the runtime reads them from
`uzr.fit.*`).

Budget: `--minutes` of training wall time (checkpointing included); every `--save-every` minutes
and at the end DIR/checkpoint.pt ({"model": state_dict with the GGUF names, "config": model
fields + "fit" defaults + training info}) and DIR/train_state.pt (model, optimizer, step,
time used, RNG states) are written via temp + rename; `--resume` continues from train_state.pt.

Exact match is measured with greedy decoding (eval) or, where only a score is needed (training
log, tune), by teacher forcing: greedy decoding returns y exactly iff every teacher-forced argmax
at output slots 0..len(y) is y[j] (EOS at len(y); not checked when len(y) = max_out).
"""
import argparse
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

from recur_reference.uzr import (  # noqa: E402
    EOS, FAMILIES, FAMILY_NAMES, IGNORE, FitConfig, Session, Task, UZR, UZRConfig, answer, answer_tokens,
    context_loss, encode_inputs, encode_pair, encode_pairs, fit_z, fit_z_batch, load_checkpoint, pair_ce,
    prox_l1, sample_task, save_checkpoint, task_pairs, write_gguf)


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def task_batch(rng: random.Random, cfg: UZRConfig, tasks, n: int):
    """[T, n, L] tokens / targets and the pairs of each task."""
    pairs = [task_pairs(rng, t, n, cfg.max_in, cfg.max_out) for t in tasks]
    enc = [encode_pairs(cfg, p) for p in pairs]
    return torch.stack([e[0] for e in enc]), torch.stack([e[1] for e in enc]), pairs


def tf_exact(logits: torch.Tensor, targets: torch.Tensor, max_out: int, out_start: int) -> torch.Tensor:
    """[N] bool: teacher-forced argmax right at every target slot (= greedy exact match)."""
    ok = (logits.argmax(-1) == targets) | (targets == IGNORE)
    # a full-length output is never checked for its EOS (greedy stops after max_out bytes)
    full = targets[:, out_start + max_out] == EOS
    ok[full, out_start + max_out] = True
    return ok.all(-1)


# ---- training ------------------------------------------------------------------------------------

class TaskCodes(torch.nn.Module):
    """Phase-1 latent of a task without fitting: the sum of learned rows (auto-decoder table) for its
    family, its discrete parameter, and for prefix / suffix one row per (position, char) plus its length."""

    def __init__(self, k: int, std: float):
        super().__init__()
        from recur_reference.uzr import AFFIX_CHARS, DELIMS, MASK_CHARS, TEMPLATES
        keys = [("fam", f) for f in FAMILY_NAMES]
        keys += [("title", m) for m in ("title", "capitalize")] + [("caesar", n) for n in range(1, 26)]
        keys += [("mask_digits", c) for c in MASK_CHARS] + [("delimiter", f"{a}{b}") for a, b in DELIMS]
        keys += [("template", t) for t in TEMPLATES]
        for f in ("prefix", "suffix"):
            keys += [(f, i, c) for i in range(3) for c in AFFIX_CHARS] + [(f, "len", n) for n in (1, 2, 3)]
        self.index = {key: i for i, key in enumerate(keys)}
        self.table = torch.nn.EmbeddingBag(len(keys), k, mode="sum")
        torch.nn.init.normal_(self.table.weight, std=std)

    def rows(self, task: Task):
        f, p = task.family, task.params
        rows = [self.index[("fam", f)]]
        if f in ("title", "caesar", "mask_digits", "template"):
            rows.append(self.index[(f, p)])
        elif f == "delimiter":
            rows.append(self.index[(f, p[0] + p[1])])
        elif f in ("prefix", "suffix"):
            rows += [self.index[(f, i, c)] for i, c in enumerate(p)] + [self.index[(f, "len", len(p))]]
        return rows

    def forward(self, tasks):
        rows = [self.rows(t) for t in tasks]
        flat = torch.tensor([r for rs in rows for r in rs], dtype=torch.long)
        offsets = torch.tensor([0] + [len(rs) for rs in rows[:-1]], dtype=torch.long).cumsum(0)
        return self.table(flat, offsets)


def lr_at(frac: float, step: int, base: float, warmup: int) -> float:
    w = min(1.0, (step + 1) / max(1, warmup))
    return base * w * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def make_opt(model, codes, args):
    return torch.optim.AdamW([{"params": list(model.parameters()), "weight_decay": args["wd"]},
                              {"params": list(codes.parameters()), "weight_decay": 0.0}],
                             lr=args["lr"], betas=(0.9, 0.98))


def save_all(model, codes, opt, st, args, out, fit):
    extra = {"training": {"steps": st["step"], "seconds": round(st["elapsed"], 1), "tasks_seen": st["tasks"],
                          "method": (f"task-code table for {args['code_frac']:.0%} of the budget, then " if args["code_frac"] > 0
                                     else "") + "first-order z-fit meta-training" + (" + diff-last" if args["diff_last"] else ""),
                          "args": args}}
    save_checkpoint(model, os.path.join(out, "checkpoint.pt"), fit, extra)
    path = os.path.join(out, "train_state.pt")
    torch.save({"model": model.state_dict(), "codes": codes.state_dict(), "opt": opt.state_dict(), "state": st,
                "args": args,
                "rng_python": st["rng"].getstate(), "rng_torch": torch.get_rng_state()}, path + ".tmp")
    os.replace(path + ".tmp", path)


def cmd_train(a):
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    state_path = os.path.join(a.out, "train_state.pt")
    if a.resume and os.path.isfile(state_path):
        saved = torch.load(state_path, map_location="cpu", weights_only=False)
        args = saved["args"]
        args["minutes"] = a.minutes
        cfg = UZRConfig.from_dict(args["model"])
        model = UZR(cfg)
        model.load_state_dict(saved["model"])
        codes = TaskCodes(cfg.k, args["code_std"])
        codes.load_state_dict(saved["codes"])
        opt = make_opt(model, codes, args)
        opt.load_state_dict(saved["opt"])
        st = saved["state"]
        st["rng"] = random.Random()
        st["rng"].setstate(saved["rng_python"])
        torch.set_rng_state(saved["rng_torch"])
        log(f"resumed at step {st['step']}, {st['elapsed'] / 60:.1f} min used")
    else:
        cfg = UZRConfig(d=a.d, heads=a.heads, layers=a.layers, k=a.k, activation=a.activation,
                        max_in=a.max_in, max_out=a.max_out)
        args = {k: v for k, v in vars(a).items() if k not in ("func", "resume", "out")}
        args["model"] = asdict(cfg)
        torch.manual_seed(a.seed)
        model = UZR(cfg)
        codes = TaskCodes(cfg.k, a.code_std)
        opt = make_opt(model, codes, args)
        st = {"step": 0, "elapsed": 0.0, "tasks": 0, "rng": random.Random(f"train-{a.seed}")}
    fit = FitConfig(lr=args["inner_lr"], steps=args["inner_steps"], l1=args["l1"], l2=args["l2"])
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model {asdict(cfg)}, {n_params / 1e6:.2f}M parameters, L={cfg.seq_len}")
    budget = args["minutes"] * 60
    C, Q, T = args["context"], args["queries"], args["batch_tasks"]
    last_save = st["elapsed"]
    acc = {"loss": 0.0, "q_exact": 0.0, "q_tok": 0.0, "n": 0}
    t_prev = time.time()
    while st["elapsed"] < budget:
        frac = st["elapsed"] / budget
        k_in = args["inner_steps"]
        if args["inner_steps_start"] < k_in:  # ramp over the first half of the fitted-z phase
            f2 = max(0.0, frac - args["code_frac"]) / max(1e-9, 1 - args["code_frac"])
            k_in = int(round(args["inner_steps_start"] + (k_in - args["inner_steps_start"]) * min(1.0, 2 * f2)))
        lr = lr_at(frac, st["step"], args["lr"], args["warmup"])
        for g in opt.param_groups:
            g["lr"] = lr
        rng = st["rng"]
        if args.get("adaptive", False):  # harder families (lower running query exact match) are drawn more often
            ema = st.setdefault("family_ema", {f: 0.0 for f in FAMILY_NAMES})
            fams = rng.choices(FAMILY_NAMES, weights=[args["adaptive_floor"] + 1 - ema[f] for f in FAMILY_NAMES], k=T)
            tasks = [Task(f, FAMILIES[f].sample_params(rng)) for f in fams]
        else:
            tasks = [sample_task(rng) for _ in range(T)]
        tok, tgt, _ = task_batch(rng, cfg, tasks, C + Q)
        ctx_tok, ctx_tgt = tok[:, :C], tgt[:, :C]
        z0 = torch.zeros(T, cfg.k)
        phase1 = frac < args["code_frac"]
        diff = args["diff_last"] and k_in >= 1 and not phase1
        if phase1:
            k_in = 0
            z = codes(tasks)
        else:
            r = fit_z_batch(model, ctx_tok, ctx_tgt, z0, k_in - 1 if diff else k_in, args["inner_lr"],
                            args["l1"], args["l2"], final=False, return_state=diff)
            z = r.z
        if diff:
            # one more Adam step with create_graph: the outer loss differentiates through it
            zv = z.detach().requires_grad_(True)
            ce = pair_ce(model(ctx_tok.reshape(T * C, -1), zv.repeat_interleave(C, 0)), ctx_tgt.reshape(T * C, -1))
            loss_in = ce.view(T, C).mean(1) + args["l2"] * (zv * zv).mean(1)
            (g,) = torch.autograd.grad(loss_in.sum(), zv, create_graph=True)
            m, s, t = r.state
            t += 1
            m = 0.9 * m + 0.1 * g
            s = 0.999 * s + 0.001 * g.detach() ** 2
            denom = s.sqrt() / math.sqrt(1 - 0.999 ** t) + 1e-8
            z = prox_l1(zv.detach() - (args["inner_lr"] / (1 - 0.9 ** t)) * m / denom, args["inner_lr"] * args["l1"])
        logits = model(tok.reshape(T * (C + Q), -1), z.repeat_interleave(C + Q, 0))
        ce = pair_ce(logits, tgt.reshape(T * (C + Q), -1)).view(T, C + Q)
        loss = args["w_context"] * ce[:, :C].mean() + ce[:, C:].mean()
        if phase1:
            loss = loss + args["code_l2"] * (z * z).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args["clip"])
        opt.step()
        with torch.no_grad():
            lq = logits.view(T, C + Q, cfg.seq_len, -1)[:, C:].reshape(T * Q, cfg.seq_len, -1)
            tq = tgt[:, C:].reshape(T * Q, -1)
            ex = tf_exact(lq, tq, cfg.max_out, cfg.out_start).float()
            acc["q_exact"] += ex.mean().item()
            if args.get("adaptive", False):
                for t, e in zip(tasks, ex.view(T, Q).mean(1).tolist()):
                    st["family_ema"][t.family] = 0.98 * st["family_ema"][t.family] + 0.02 * e
            valid = tq != IGNORE
            acc["q_tok"] += ((lq.argmax(-1) == tq) & valid).sum().item() / valid.sum().item()
        acc["loss"] += loss.item()
        acc["n"] += 1
        st["step"] += 1
        st["tasks"] += T
        now = time.time()
        st["elapsed"] += now - t_prev
        t_prev = now
        if st["step"] % args["log_every"] == 0:
            n = acc["n"]
            log(f"step {st['step']} {st['elapsed'] / 60:.1f}min lr {lr:.2e} K {k_in} loss {acc['loss'] / n:.4f} "
                f"q_tok {acc['q_tok'] / n:.3f} q_exact {acc['q_exact'] / n:.3f}")
            if args.get("adaptive", False) and st["step"] % (10 * args["log_every"]) == 0:
                log("family ema " + " ".join(f"{f}:{v:.2f}" for f, v in st["family_ema"].items()))
            acc = {"loss": 0.0, "q_exact": 0.0, "q_tok": 0.0, "n": 0}
        if st["elapsed"] - last_save >= args["save_every"] * 60:
            save_all(model, codes, opt, st, args, a.out, fit)
            last_save = st["elapsed"]
            t_prev = time.time()
    save_all(model, codes, opt, st, args, a.out, fit)
    log(f"done: {st['step']} steps, {st['tasks']} tasks, {st['elapsed'] / 60:.1f} min -> {a.out}/checkpoint.pt")


# ---- tuning and evaluation -------------------------------------------------------------------------

def family_tasks(seed_tag: str, fam: str, n: int, cfg: UZRConfig, n_pairs: int):
    rng = random.Random(f"{seed_tag}-{fam}")
    tasks = [sample_task(rng, [fam]) for _ in range(n)]
    tok, tgt, pairs = task_batch(rng, cfg, tasks, n_pairs)
    return tasks, tok, tgt, pairs


@torch.no_grad()
def query_exact(model, z, tok, tgt):
    """z [T, k], tok/tgt [T, Q, L] -> [T, Q] teacher-forced exact match."""
    T, Q, L = tok.shape
    cfg = model.cfg
    logits = model(tok.reshape(T * Q, L), z.repeat_interleave(Q, 0))
    return tf_exact(logits, tgt.reshape(T * Q, L), cfg.max_out, cfg.out_start).view(T, Q)


def cmd_tune(a):
    torch.set_num_threads(a.threads)
    model, fit, config = load_checkpoint(a.checkpoint)
    cfg = model.cfg
    lrs = [float(x) for x in a.lrs.split(",")]
    steps = sorted(int(x) for x in a.steps.split(","))
    data = {fam: family_tasks(f"valid-{a.seed}", fam, a.tasks, cfg, 4 + a.queries) for fam in FAMILY_NAMES}
    results = []
    t0 = time.time()
    for lr in lrs:
        hits = {s: [] for s in steps}
        for fam, (tasks, tok, tgt, _) in data.items():
            z = torch.zeros(len(tasks), cfg.k)
            done, state = 0, None
            for s in steps:
                # continuing the same Adam run: the s-step fit is a prefix of the longer ones
                r = fit_z_batch(model, tok[:, :4], tgt[:, :4], z, s - done, lr, fit.l1, fit.l2, final=False,
                                state=state, return_state=True)
                z, done, state = r.z, s, r.state
                hits[s].append(query_exact(model, z, tok[:, 4:], tgt[:, 4:]).float().mean().item())
        for s in steps:
            results.append({"lr": lr, "steps": s, "exact": sum(hits[s]) / len(hits[s]),
                            "per_family": dict(zip(data, [round(h, 3) for h in hits[s]]))})
            log(f"lr {lr} steps {s}: exact {results[-1]['exact']:.4f}")
    best = max(results, key=lambda r: (round(r["exact"], 4), -r["steps"]))
    fit.lr, fit.steps = best["lr"], best["steps"]
    config["fit"] = asdict(fit)
    config["fit_tuning"] = {"seed": f"valid-{a.seed}", "tasks_per_family": a.tasks, "queries": a.queries,
                            "grid": [{k: v for k, v in r.items() if k != "per_family"} for r in results],
                            "chosen": {"lr": fit.lr, "steps": fit.steps, "exact": best["exact"]},
                            "seconds": round(time.time() - t0, 1)}
    ck = torch.load(a.checkpoint, map_location="cpu", weights_only=True)
    ck["config"] = config
    torch.save(ck, a.checkpoint + ".tmp")
    os.replace(a.checkpoint + ".tmp", a.checkpoint)
    print(json.dumps(config["fit_tuning"]["chosen"]))


def cmd_eval(a):
    torch.set_num_threads(a.threads)
    model, fit, config = load_checkpoint(a.checkpoint)
    cfg = model.cfg
    if a.lr is not None:
        fit.lr = a.lr
    if a.steps is not None:
        fit.steps = a.steps
    if a.l1 is not None:
        fit.l1 = a.l1
    t0 = time.time()
    out = {"checkpoint": os.path.abspath(a.checkpoint), "seed": a.seed, "tasks_per_family": a.tasks,
           "examples": 4, "queries_per_task": a.queries, "fit": asdict(fit), "model": asdict(cfg), "families": {}}
    tot = tot_z0 = tot_tf = n = 0
    for fam in FAMILY_NAMES:
        tasks, tok, tgt, pairs = family_tasks(f"eval-{a.seed}", fam, a.tasks, cfg, 4 + a.queries)
        T = len(tasks)
        r = fit_z_batch(model, tok[:, :4], tgt[:, :4], torch.zeros(T, cfg.k), fit.steps, fit.lr, fit.l1, fit.l2)
        qtok = encode_inputs(cfg, [x for p in pairs for x, _ in p[4:]])
        ans = answer_tokens(model, r.z.repeat_interleave(a.queries, 0), qtok)
        want = [y.encode() for p in pairs for _, y in p[4:]]
        ok = [x == y for x, y in zip(ans, want)]
        tf = query_exact(model, r.z, tok[:, 4:], tgt[:, 4:]).flatten().tolist()
        z0 = query_exact(model, torch.zeros(T, cfg.k), tok[:, 4:], tgt[:, 4:]).flatten().tolist()
        conf = torch.exp(-r.ce)
        task_ok = torch.tensor(ok, dtype=torch.float32).view(T, a.queries).mean(1)
        ent = {"tasks": T, "queries": len(ok), "exact": round(sum(ok) / len(ok), 4),
               "exact_z0": round(sum(z0) / len(z0), 4), "teacher_forced_agrees": sum(ok) == sum(tf),
               "mean_conf": round(conf.mean().item(), 4),
               "mean_context_ce": round(r.ce.mean().item(), 4),
               "tasks_all_queries_right": int((task_ok == 1).sum()),
               "conf_ge_gate": int((conf >= fit.gate).sum()),
               "sparsity_z": round((r.z == 0).float().mean().item(), 4),
               "failures": [{"task": t.name(), "x": p[4 + i][0], "want": p[4 + i][1],
                             "got": ans[j * a.queries + i].decode("utf-8", "replace")}
                            for j, (t, p) in enumerate(zip(tasks, pairs)) for i in range(a.queries)
                            if not ok[j * a.queries + i]][:3]}
        out["families"][fam] = ent
        tot += sum(ok)
        tot_z0 += sum(z0)
        n += len(ok)
        print(json.dumps({fam: {k: v for k, v in ent.items() if k != "failures"}}), flush=True)
    out["overall"] = {"exact": round(tot / n, 4), "exact_z0": round(tot_z0 / n, 4), "queries": n,
                      "family_mean": round(sum(f["exact"] for f in out["families"].values()) / len(FAMILY_NAMES), 4)}
    out["seconds"] = round(time.time() - t0, 1)
    print(json.dumps({"overall": out["overall"], "seconds": out["seconds"]}), flush=True)
    path = a.out or os.path.join(os.path.dirname(os.path.abspath(a.checkpoint)), "eval.json")
    with open(path + ".tmp", "w") as f:
        json.dump(out, f, indent=1)
    os.replace(path + ".tmp", path)


# ---- export, fixtures, sessions ---------------------------------------------------------------------

def cmd_export(a):
    model, fit, _ = load_checkpoint(a.checkpoint)
    write_gguf(model, fit, a.out, a.type)
    print(json.dumps({"out": a.out, "type": a.type, "bytes": os.path.getsize(a.out)}))


def cmd_fixtures(a):
    torch.set_num_threads(a.threads)
    model, fit, config = load_checkpoint(a.checkpoint)
    cfg = model.cfg
    rng = random.Random(f"fixtures-{a.seed}")
    task = sample_task(rng)
    pairs = task_pairs(rng, task, 5, cfg.max_in, cfg.max_out)
    ctx, queries = pairs[:3], pairs[3:]
    gen = torch.Generator().manual_seed(a.seed)
    z = torch.randn(cfg.k, generator=gen, dtype=torch.float64) * 0.1
    z32 = z.to(torch.float32)
    res = {"checkpoint": os.path.abspath(a.checkpoint), "model": asdict(cfg), "fit": asdict(fit),
           "task": task.to_json(), "context": [list(p) for p in ctx], "z": z32.tolist()}
    for dtype, name in ((torch.float64, "float64"), (torch.float32, "float32")):
        m = UZR(cfg).to(dtype)
        m.load_state_dict({k: v.to(dtype) for k, v in model.state_dict().items()})
        zz = z32.to(dtype).requires_grad_(True)
        loss, ce = context_loss(m, ctx, zz, fit.l2)
        (g,) = torch.autograd.grad(loss, zz)
        res[name] = {"loss": loss.item(), "ce": ce.item(), "grad": g.tolist()}
    for start, z0 in (("from_z", z32), ("from_zero", torch.zeros(cfg.k))):
        r = fit_z(model, ctx, z0, fit.steps, fit.lr, fit.l1, fit.l2)
        ans = answer(model, r.z, [x for x, _ in queries])
        res[f"fit_{start}"] = {"z": r.z.tolist(), "history": r.history, "ce": r.ce, "loss": r.loss,
                               "conf": math.exp(-r.ce), "zeros": int((r.z == 0).sum()),
                               "queries": [x for x, _ in queries], "expected": [y for _, y in queries],
                               "answers": [b.decode("utf-8", "replace") for b in ans],
                               "answers_bytes": [list(b) for b in ans]}
    tok, _ = encode_pair(cfg, *ctx[0])
    with torch.no_grad():
        logits = model(torch.tensor([tok]), z32)[0]
    top = logits.topk(5, dim=-1)
    res["logits"] = {"tokens": tok, "at": "z", "row0": logits[0].tolist(),
                     "max": logits.max(-1).values.tolist(), "argmax": logits.argmax(-1).tolist(),
                     "top5_ids": top.indices.tolist(), "top5_values": top.values.tolist()}
    with open(a.out + ".tmp", "w") as f:
        json.dump(res, f, indent=1)
    os.replace(a.out + ".tmp", a.out)
    print(json.dumps({"out": a.out, "task": task.name(), "loss64": res["float64"]["loss"],
                      "loss32": res["float32"]["loss"],
                      "max_grad_diff": max(abs(x - y) for x, y in zip(res["float64"]["grad"], res["float32"]["grad"])),
                      "fit_from_zero_ce": res["fit_from_zero"]["ce"], "answers": res["fit_from_zero"]["answers"]}))


def cmd_make_session(a):
    if a.checkpoint:
        _, _, config = load_checkpoint(a.checkpoint)
        a.max_in, a.max_out = config["max_in"], config["max_out"]
    rng = random.Random(f"session-{a.seed}")
    used = []
    left = 0
    task = None
    revisit = False
    with open(a.out + ".tmp", "w") as f:
        for i in range(a.turns):
            if left == 0:
                revisit = bool(used) and rng.random() < a.revisit
                task = rng.choice(used) if revisit else sample_task(rng)
                if not revisit:
                    used.append(task)
                left = rng.randint(a.min_run, a.max_run)
            left -= 1
            pairs = task_pairs(rng, task, 6, a.max_in, a.max_out)
            f.write(json.dumps({"turn": i, "task": task.to_json(), "revisit": revisit,
                                "examples": [list(p) for p in pairs[:4]], "queries": [x for x, _ in pairs[4:]],
                                "expected": [y for _, y in pairs[4:]]}) + "\n")
    os.replace(a.out + ".tmp", a.out)
    print(json.dumps({"out": a.out, "turns": a.turns, "rules": len(used), "max_in": a.max_in, "max_out": a.max_out}))


def cmd_session(a):
    torch.set_num_threads(a.threads)
    model, fit, _ = load_checkpoint(a.checkpoint)
    for key in ("gate", "eta", "retrieve", "replay", "capacity", "steps", "lr"):
        if getattr(a, key) is not None:
            setattr(fit, key, getattr(a, key))
    sess = Session(model, fit, seed=a.seed)
    n = right = queries = updated = retrieved = 0
    t0 = time.time()
    with open(a.turns) as fin, open(a.out + ".tmp", "w") as fout:
        for line in fin:
            if a.limit is not None and n >= a.limit:
                break
            turn = json.loads(line)
            r = sess.turn([tuple(p) for p in turn["examples"]], turn.get("queries", []))
            ans = r.pop("answers")
            rec = {"turn": turn.get("turn", n), "answers": [b.decode("utf-8", "replace") for b in ans]}
            if any(b.decode("utf-8", "replace").encode() != b for b in ans):
                rec["answers_bytes"] = [list(b) for b in ans]
            rec.update(r)
            if "expected" in turn:
                rec["correct"] = [x == y.encode() for x, y in zip(ans, turn["expected"])]
                right += sum(rec["correct"])
                queries += len(rec["correct"])
            updated += r["z_slow_updated"]
            retrieved += r["retrieved"]
            fout.write(json.dumps(rec) + "\n")
            n += 1
    os.replace(a.out + ".tmp", a.out)
    dt = time.time() - t0
    summary = {"turns": n, "seconds": round(dt, 2), "turns_per_s": round(n / dt, 3) if dt > 0 else None,
               "z_slow_updates": updated, "retrieved": retrieved, "memory": len(sess.memory),
               "accuracy": round(right / queries, 4) if queries else None, "fit": asdict(fit)}
    print(json.dumps(summary))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train")
    t.add_argument("--out", required=True)
    t.add_argument("--minutes", type=float, default=25)
    t.add_argument("--resume", action="store_true")
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--d", type=int, default=128)
    t.add_argument("--heads", type=int, default=4)
    t.add_argument("--layers", type=int, default=4)
    t.add_argument("--k", type=int, default=128)
    t.add_argument("--activation", default="gelu", choices=["gelu", "relu"])
    t.add_argument("--max-in", type=int, default=16)
    t.add_argument("--max-out", type=int, default=16)
    t.add_argument("--batch-tasks", type=int, default=8)
    t.add_argument("--context", type=int, default=4)
    t.add_argument("--queries", type=int, default=4)
    t.add_argument("--inner-steps", type=int, default=10)
    t.add_argument("--inner-steps-start", type=int, default=3)
    t.add_argument("--inner-lr", type=float, default=0.1)
    t.add_argument("--diff-last", action="store_true")
    t.add_argument("--adaptive", action="store_true", help="draw families by 1 - running query exact match + floor")
    t.add_argument("--adaptive-floor", type=float, default=0.2)
    t.add_argument("--code-frac", type=float, default=0.5, help="budget fraction trained with the task-code table")
    t.add_argument("--code-std", type=float, default=0.1)
    t.add_argument("--code-l2", type=float, default=1e-2)
    t.add_argument("--l1", type=float, default=1e-3)
    t.add_argument("--l2", type=float, default=1e-3)
    t.add_argument("--w-context", type=float, default=1.0)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--wd", type=float, default=0.01)
    t.add_argument("--warmup", type=int, default=50)
    t.add_argument("--clip", type=float, default=1.0)
    t.add_argument("--log-every", type=int, default=50)
    t.add_argument("--save-every", type=float, default=3.0)
    t.set_defaults(func=cmd_train)

    u = sub.add_parser("tune")
    u.add_argument("--checkpoint", required=True)
    u.add_argument("--seed", type=int, default=7)
    u.add_argument("--tasks", type=int, default=5)
    u.add_argument("--queries", type=int, default=4)
    u.add_argument("--lrs", default="0.05,0.1,0.2,0.3")
    u.add_argument("--steps", default="5,10,20,30")
    u.add_argument("--threads", type=int, default=1)
    u.set_defaults(func=cmd_tune)

    e = sub.add_parser("eval")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--tasks", type=int, default=20)
    e.add_argument("--queries", type=int, default=8)
    e.add_argument("--seed", type=int, default=123)
    e.add_argument("--lr", type=float, default=None)
    e.add_argument("--steps", type=int, default=None)
    e.add_argument("--l1", type=float, default=None)
    e.add_argument("--out", default=None)
    e.add_argument("--threads", type=int, default=1)
    e.set_defaults(func=cmd_eval)

    x = sub.add_parser("export")
    x.add_argument("--checkpoint", required=True)
    x.add_argument("--out", required=True)
    x.add_argument("--type", default="f32", choices=["f32", "f16"])
    x.set_defaults(func=cmd_export)

    f = sub.add_parser("fixtures")
    f.add_argument("--checkpoint", required=True)
    f.add_argument("--out", required=True)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--threads", type=int, default=1)
    f.set_defaults(func=cmd_fixtures)

    m = sub.add_parser("make-session")
    m.add_argument("--turns", type=int, default=10000)
    m.add_argument("--seed", type=int, default=5)
    m.add_argument("--out", required=True)
    m.add_argument("--checkpoint", default=None, help="take max_in / max_out from this checkpoint")
    m.add_argument("--max-in", type=int, default=16)
    m.add_argument("--max-out", type=int, default=16)
    m.add_argument("--min-run", type=int, default=1)
    m.add_argument("--max-run", type=int, default=12)
    m.add_argument("--revisit", type=float, default=0.3)
    m.set_defaults(func=cmd_make_session)

    s = sub.add_parser("session")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--turns", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--limit", type=int, default=None)
    s.add_argument("--seed", type=int, default=0, help="SplitMix64 seed of the replay draws")
    for key, typ in (("gate", float), ("eta", float), ("retrieve", float), ("replay", int), ("capacity", int),
                     ("steps", int), ("lr", float)):
        s.add_argument(f"--{key}", type=typ, default=None)
    s.add_argument("--threads", type=int, default=1)
    s.set_defaults(func=cmd_session)

    a = ap.parse_args(argv)
    a.func(a)


if __name__ == "__main__":
    main()
