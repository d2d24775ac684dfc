#!/usr/bin/env python3
"""Attention controller and confidence gate (docs/attention-controller.md): models, training, eval,
export, fixtures.

    python3 tools/reference/attn_controller.py models [--cache .cache/llm]
    python3 tools/reference/attn_controller.py check-llamacpp [--model F] [--tokens 128]
    python3 tools/reference/attn_controller.py logs --out DIR [--windows 80] [--layers 3,7,..]
    python3 tools/reference/attn_controller.py train --logs DIR --out FILE.pt
    python3 tools/reference/attn_controller.py eval --checkpoint FILE.pt [--windows 16] [--json-out F]
    python3 tools/reference/attn_controller.py export --checkpoint FILE.pt --out FILE.gguf [--type f32|f16]
    python3 tools/reference/attn_controller.py fixtures --model STUDENT_F32.gguf --controller CTRL.gguf \
        --prompt-ids "1,2,3" --out FILE.json [--alpha-max A] [--full]
    python3 tools/reference/attn_controller.py generate --model M --controller C --prompt-ids "1,2,3" [--prompt-ids ...] -n 64

`models` builds, from the Q4_1 SmolLM2-135M-Instruct file, the teacher (every tensor dequantized
to F32), the Q4_0 student (every 2-D blk.*.weight requantized to Q4_0 from the dequantized Q4_1
values; token_embd kept as the original Q8_0 bytes; norms F32) and the student as F32 (the Q4_0
values dequantized; token_embd dequantized). Metadata, tokenizer included, is copied;
general.file_type is set (0 ALL_F32, 2 MOSTLY_Q4_0). Each file goes to a temp name, is loaded with
llama_cpp as a check, then renamed; existing files are skipped.

Corpus: the King James Bible as train_rlm.py reads it (bible_text / split_corpus, every 20th
chapter held out). Training stream: the training books' chapters concatenated, tokenized per
book with llama.cpp's tokenizer (no BOS: the file's add_bos_token is false), books joined by "\n".
Held-out stream: the held-out chapters concatenated. Windows of 256 tokens at positions 0 ... 255.

All PyTorch work runs float32 on --threads (default 2) threads.
"""
import argparse
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from recur_reference.llama_ref import (  # noqa: E402
    AttnRecorder, ControlConfig, Injector, build_controls, gate_features, load_controller_gguf,
    load_llama, slot_softmax, slot_valid, write_controller_gguf,
)

SOURCE = "SmolLM2-135M-Instruct.Q4_1.gguf"
TEACHER = "smollm2-teacher-f32.gguf"
STUDENT_Q4 = "smollm2-student-q4_0.gguf"
STUDENT_F32 = "smollm2-student-f32.gguf"
HELD_EVERY = 20


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def default_cache():
    return os.path.join(REPO, ".cache", "llm")


# ---- models -------------------------------------------------------------------------------------

def _copy_metadata(reader, writer, file_type: int):
    import gguf
    from gguf import GGUFValueType
    for key, f in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        if key == "general.file_type":
            writer.add_uint32(key, file_type)
            continue
        vtype = f.types[0]
        if vtype == GGUFValueType.ARRAY:
            sub = f.types[1] if len(f.types) > 1 else None
            writer.add_key_value(key, f.contents(), vtype, sub_type=sub)
        else:
            writer.add_key_value(key, f.contents(), vtype)
    if "general.file_type" not in reader.fields:
        writer.add_uint32("general.file_type", file_type)
    return gguf


def _write_model(src_path, out_path, file_type, tensor_fn):
    """tensor_fn(reader tensor) -> (array, raw_dtype or None)."""
    import gguf
    reader = gguf.GGUFReader(src_path)
    arch = reader.fields["general.architecture"].contents()
    tmp = out_path + ".tmp"
    w = gguf.GGUFWriter(tmp, arch)
    _copy_metadata(reader, w, file_type)
    for t in reader.tensors:
        arr, raw = tensor_fn(t)
        if raw is None:
            w.add_tensor(t.name, arr)
        else:
            w.add_tensor(t.name, arr, raw_dtype=raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return tmp


def _shape(t):
    return [int(x) for x in reversed(t.shape.tolist())]


def _check_llamacpp(path):
    import llama_cpp
    llm = llama_cpp.Llama(model_path=path, n_ctx=64, n_threads=2, verbose=False)
    llm.eval([504, 3287, 28, 2113])
    ok = np.isfinite(np.asarray(llm.scores[:4])).all()
    del llm
    if not ok:
        raise RuntimeError(f"{path}: llama_cpp produced non-finite logits")


def cmd_models(args):
    import gguf
    from gguf import GGMLQuantizationType as Q, quants
    cache = args.cache
    src = os.path.join(cache, SOURCE)
    if not os.path.exists(src):
        print(f"{src} missing (scripts/setup.sh --llm downloads it)", file=sys.stderr)
        return 2

    def f32(t):
        return np.ascontiguousarray(quants.dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(_shape(t))

    def is_linear(t):
        return t.name.startswith("blk.") and t.name.endswith(".weight") and len(t.shape) == 2

    jobs = []
    teacher = os.path.join(cache, TEACHER)
    student = os.path.join(cache, STUDENT_Q4)
    student_f32 = os.path.join(cache, STUDENT_F32)

    def teacher_fn(t):
        return f32(t), None

    def student_fn(t):
        if is_linear(t):
            return quants.quantize(f32(t), Q.Q4_0), Q.Q4_0
        if t.tensor_type == Q.F32:
            return f32(t), None
        if t.name == "token_embd.weight":
            return np.array(t.data), t.tensor_type
        raise ValueError(f"unexpected tensor {t.name} {t.tensor_type.name}")

    def student_f32_fn(t):
        return f32(t), None

    jobs = [(teacher, src, 0, teacher_fn), (student, src, 2, student_fn), (student_f32, student, 0, student_f32_fn)]
    for out, source, ftype, fn in jobs:
        if os.path.exists(out):
            log(f"{out} exists, skipped")
            continue
        t0 = time.time()
        tmp = _write_model(source, out, ftype, fn)
        _check_llamacpp(tmp)
        os.replace(tmp, out)
        log(f"wrote {out} ({os.path.getsize(out) / 1e6:.1f} MB, {time.time() - t0:.1f} s)")
    return 0


def cmd_check_llamacpp(args):
    """Plain reference forward vs llama_cpp on the same file (logits of every position)."""
    import llama_cpp
    ids = corpus_windows("held", 1, args.tokens, seed=0, cache=args.cache)[0].tolist()
    model = load_llama(args.model)
    ours = model.forward(torch.tensor(ids)).numpy()
    out = {"model": os.path.basename(args.model), "tokens": len(ids)}
    # llama.cpp's default KV cache is F16; with an F32 cache its attention is float32 like ours
    for name, kw in (("kv_f16_default", {}), ("kv_f32", {"type_k": 0, "type_v": 0})):
        llm = llama_cpp.Llama(model_path=args.model, logits_all=True, n_ctx=512, n_threads=args.threads,
                              verbose=False, **kw)
        llm.eval(ids)
        ref_cpp = np.asarray(llm.scores[:len(ids)], dtype=np.float32)
        del llm
        diff = np.abs(ours - ref_cpp)
        out[name] = {
            "max_abs_diff": float(diff.max()),
            # max over positions of max|ours - llama.cpp| / max|llama.cpp logit|
            "max_rel_err": float((diff.max(1) / np.abs(ref_cpp).max(1)).max()),
            "mean_abs_diff": float(diff.mean()),
            "same_top1": float((ours.argmax(1) == ref_cpp.argmax(1)).mean()),
        }
    print(json.dumps(out, indent=2))
    return 0


# ---- corpus -------------------------------------------------------------------------------------

_STREAMS = {}


def token_streams(cache):
    """-> (train ids, held-out ids) as int64 numpy arrays, tokenized with llama.cpp's tokenizer."""
    if "train" in _STREAMS:
        return _STREAMS["train"], _STREAMS["held"]
    import llama_cpp
    from train_rlm import bible_text, split_corpus
    train_books, held, _ = split_corpus(bible_text(), HELD_EVERY)
    llm = llama_cpp.Llama(model_path=os.path.join(cache, SOURCE), vocab_only=True, verbose=False)
    tr = llm.tokenize("\n".join("".join(book) for book in train_books).encode(), add_bos=False, special=False)
    he = llm.tokenize("".join(held).encode(), add_bos=False, special=False)
    _STREAMS["train"], _STREAMS["held"] = np.array(tr, dtype=np.int64), np.array(he, dtype=np.int64)
    return _STREAMS["train"], _STREAMS["held"]


def corpus_windows(which, n, length, seed, cache):
    """Training windows: n random starts (seeded). Held-out: n non-overlapping windows evenly spread."""
    train, held = token_streams(cache)
    if which == "train":
        g = np.random.default_rng(seed)
        starts = np.sort(g.choice(len(train) - length, size=n, replace=False))
        return [torch.from_numpy(train[s:s + length].copy()) for s in starts]
    total = len(held) // length
    idx = np.linspace(0, total - 1, num=min(n, total)).round().astype(int)
    return [torch.from_numpy(held[i * length:(i + 1) * length].copy()) for i in idx]


# ---- logs ---------------------------------------------------------------------------------------

def slot_kl(t, s, eps=1e-12):
    """KL(t || s) over the last dim (slots), terms with t > 0. -> [...]."""
    pos = t > 0
    return torch.where(pos, t * (torch.log(torch.where(pos, t, torch.ones_like(t))) - torch.log(s.clamp_min(eps))),
                       torch.zeros_like(t)).sum(-1)


def cmd_logs(args):
    torch.manual_seed(args.seed)
    cache = args.cache
    teacher = load_llama(os.path.join(cache, TEACHER))
    student = load_llama(os.path.join(cache, STUDENT_F32))
    cfg = student.cfg
    K = args.window
    windows = corpus_windows("train", args.windows, args.length, args.seed, cache)
    log(f"{len(windows)} windows of {args.length} tokens")
    xs = {l: [] for l in range(cfg.n_layer)}
    ts = {l: [] for l in range(cfg.n_layer)}
    ss = {l: [] for l in range(cfg.n_layer)}
    t0 = time.time()
    for wi, ids in enumerate(windows):
        rt = AttnRecorder(keep_x=False, fold_window=K)
        teacher.forward(ids, recorder=rt, logits=False)
        rs = AttnRecorder(keep_x=True, fold_window=K)
        student.forward(ids, recorder=rs, logits=False)
        for l in range(cfg.n_layer):
            xs[l].append(rs.x[l][0].half())                       # [T, D]
            ts[l].append(rt.probs[l][0].permute(1, 0, 2).contiguous())  # [T, H, K+1]
            ss[l].append(rs.probs[l][0].permute(1, 0, 2).contiguous())
        if wi % 10 == 9 or wi == len(windows) - 1:
            log(f"window {wi + 1}/{len(windows)} {time.time() - t0:.0f} s")
    kl = []
    for l in range(cfg.n_layer):
        T = torch.cat(ts[l]); S = torch.cat(ss[l])
        kl.append(float(slot_kl(T, S).mean()))
    if args.layers:
        layers = sorted(int(x) for x in args.layers.split(","))
    else:
        layers = sorted(int(i) for i in np.argsort(kl)[::-1][:args.n_layers])
    log("slot KL per layer: " + " ".join(f"{l}:{k:.4f}" for l, k in enumerate(kl)))
    log(f"layers {layers}")
    positions = torch.arange(args.length).repeat(len(windows))
    os.makedirs(args.out, exist_ok=True)
    data = {
        "layers": layers, "window": K, "length": args.length, "n_windows": len(windows), "seed": args.seed,
        "heads": list(range(cfg.n_head)), "d": cfg.n_embd, "n_head": cfg.n_head, "n_layer": cfg.n_layer,
        "slot_kl": kl, "positions": positions,
        "x": {l: torch.cat(xs[l]) for l in layers},
        "teacher": {l: torch.cat(ts[l]) for l in layers},
        "student": {l: torch.cat(ss[l]) for l in layers},
    }
    torch.save(data, os.path.join(args.out, "logs.pt"))
    with open(os.path.join(args.out, "logs.json"), "w") as f:
        json.dump({k: data[k] for k in ("layers", "window", "length", "n_windows", "seed", "slot_kl")}, f, indent=2)
    log(f"wrote {args.out}/logs.pt ({time.time() - t0:.0f} s)")
    return 0


# ---- train --------------------------------------------------------------------------------------

def controller_loss(logits, T, valid, mse_weight):
    """KL(T || q) + mse_weight * sum over slots (q - T)^2, mean over tokens and heads.
    logits [N, n, K+1]; T [N, n, K+1]; valid [N, K+1]."""
    v = valid.unsqueeze(1)
    masked = logits.masked_fill(~v, float("-inf"))
    logq = torch.log_softmax(masked, -1)
    q = logq.exp()
    pos = T > 0
    kl = torch.where(pos, T * (torch.log(torch.where(pos, T, torch.ones_like(T))) - logq), torch.zeros_like(T)).sum(-1)
    mse = ((q - T) ** 2).sum(-1)
    return kl.mean() + mse_weight * mse.mean(), kl.mean()


def train_controller(ctl, X, T, valid, tr_idx, va_idx, args, gen):
    opt = torch.optim.Adam(ctl.parameters(), lr=args.lr, weight_decay=0.0)
    steps_per_epoch = max(1, len(tr_idx) // args.batch)
    total = args.epochs * steps_per_epoch
    step = 0
    best = (float("inf"), None, -1)
    for ep in range(args.epochs):
        ctl.train()
        perm = tr_idx[torch.randperm(len(tr_idx), generator=gen)]
        for b in range(steps_per_epoch):
            i = perm[b * args.batch:(b + 1) * args.batch]
            lr = args.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            for g in opt.param_groups:
                g["lr"] = lr
            loss, _ = controller_loss(ctl(X[i]), T[i], valid[i], args.mse_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        ctl.eval()
        with torch.no_grad():
            _, vkl = controller_loss(ctl(X[va_idx]), T[va_idx], valid[va_idx], args.mse_weight)
        if vkl.item() < best[0]:
            best = (vkl.item(), {k: v.clone() for k, v in ctl.state_dict().items()}, ep)
    ctl.load_state_dict(best[1])
    return best[0], best[2]


def train_gate(gate, feats, q, S, T, tr_idx, va_idx, args, gen):
    opt = torch.optim.Adam(gate.parameters(), lr=args.gate_lr)
    steps_per_epoch = max(1, len(tr_idx) // args.batch)
    total = args.gate_epochs * steps_per_epoch
    step = 0

    def loss_of(i):
        a = gate(feats[i]).view(-1, 1, 1)
        mixed = (1 - a) * S[i] + a * q[i]
        return slot_kl(T[i], mixed).mean()

    best = (float("inf"), None, -1)
    for ep in range(args.gate_epochs):
        gate.train()
        perm = tr_idx[torch.randperm(len(tr_idx), generator=gen)]
        for b in range(steps_per_epoch):
            i = perm[b * args.batch:(b + 1) * args.batch]
            lr = args.gate_lr * 0.5 * (1 + math.cos(math.pi * step / total))
            for g in opt.param_groups:
                g["lr"] = lr
            loss = loss_of(i)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        gate.eval()
        with torch.no_grad():
            v = loss_of(va_idx).item()
        if v < best[0]:
            best = (v, {k: t.clone() for k, t in gate.state_dict().items()}, ep)
    gate.load_state_dict(best[1])
    return best[0], best[2]


def write_config_yaml(config, path):
    """all_config.yaml beside the checkpoint, as `recur export` reads a controller run."""
    lines = ["arch:", "  name: attn_controller"]
    for k in ("target_architecture", "d", "n_head", "n_layer", "window", "alpha_max", "C", "G", "eps"):
        lines.append(f"  {k}: {config[k]}")
    lines.append(f"  layers: [{', '.join(str(int(x)) for x in config['layers'])}]")
    lines.append(f"  heads: [{', '.join(str(int(x)) for x in config['heads'])}]")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def cmd_train(args):
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    data = torch.load(os.path.join(args.logs, "logs.pt"))
    layers, K, heads = data["layers"], data["window"], data["heads"]
    cc = ControlConfig(layers=layers, heads=heads, window=K, alpha_max=args.alpha_max, C=args.C, G=args.G,
                       eps=1e-5, d=data["d"], n_head=data["n_head"], n_layer=data["n_layer"])
    controls = build_controls(cc)
    pos = data["positions"]
    N = len(pos)
    valid = slot_valid(pos, K)
    n_val_windows = max(1, int(round(data["n_windows"] * args.val_frac)))
    split = N - n_val_windows * data["length"]
    tr_idx, va_idx = torch.arange(split), torch.arange(split, N)
    report = {"layers": layers, "val_windows": n_val_windows, "per_layer": {}}
    t0 = time.time()
    for l in layers:
        X = data["x"][l].float()
        T = data["teacher"][l][:, heads]
        S = data["student"][l][:, heads]
        ctl = controls[l].controller
        vkl, ep = train_controller(ctl, X, T, valid, tr_idx, va_idx, args, gen)
        with torch.no_grad():
            q = slot_softmax(ctl(X), valid)
            feats = gate_features(X, q)
            base = slot_kl(T[va_idx], S[va_idx]).mean().item()
            ctl_kl = slot_kl(T[va_idx], q[va_idx]).mean().item()
        for p in ctl.parameters():
            p.requires_grad_(False)
        gate = controls[l].gate
        # start the gate near alpha = 0.1 * alpha_max
        with torch.no_grad():
            gate.fc2.bias.fill_(-2.2)
        gkl, gep = train_gate(gate, feats, q, S, T, tr_idx, va_idx, args, gen)
        with torch.no_grad():
            a = gate(feats[va_idx])
        rec = {"val_slot_kl_student": base, "val_slot_kl_controller": ctl_kl, "val_slot_kl_mixed": gkl,
               "controller_best_epoch": ep, "gate_best_epoch": gep, "val_mean_alpha": a.mean().item()}
        report["per_layer"][l] = rec
        log(f"layer {l}: " + " ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in rec.items())
            + f" ({time.time() - t0:.0f} s)")
    state = {f"{l}.{k}": v for l, c in controls.items() for k, v in c.state_dict().items()}
    config = {"layers": layers, "heads": heads, "window": K, "alpha_max": args.alpha_max, "C": args.C, "G": args.G,
              "eps": 1e-5, "d": data["d"], "n_head": data["n_head"], "n_layer": data["n_layer"],
              "target_architecture": "llama"}
    tmp = args.out + ".tmp"
    torch.save({"state_dict": state, "config": config, "train_report": report}, tmp)
    os.replace(tmp, args.out)
    write_config_yaml(config, os.path.join(os.path.dirname(os.path.abspath(args.out)), "all_config.yaml"))
    log(f"wrote {args.out} ({time.time() - t0:.0f} s)")
    print(json.dumps(report, indent=2))
    return 0


def load_checkpoint(path):
    ck = torch.load(path)
    c = ck["config"]
    cc = ControlConfig(layers=c["layers"], heads=c["heads"], window=c["window"], alpha_max=c["alpha_max"], C=c["C"],
                       G=c["G"], eps=c["eps"], d=c["d"], n_head=c["n_head"], n_layer=c["n_layer"],
                       target_architecture=c.get("target_architecture", "llama"))
    controls = build_controls(cc)
    for l, ctl in controls.items():
        sd = {k[len(f"{l}."):]: v for k, v in ck["state_dict"].items() if k.startswith(f"{l}.")}
        ctl.load_state_dict(sd, strict=True)
        ctl.eval()
    return cc, controls


# ---- eval ---------------------------------------------------------------------------------------

class _Both:
    """Two recorders fed by one forward."""

    def __init__(self, a, b):
        self.a, self.b = a, b

    def record(self, layer, x, p, positions):
        self.a.record(layer, x, p, positions)
        self.b.record(layer, x, p, positions)


class _Oracle:
    """Upper bound: the controlled heads of the controlled layers use the teacher's attention rows."""

    def __init__(self, probs, heads):
        self.probs, self.heads = probs, list(heads)

    def apply(self, layer, x, p, positions):
        if layer not in self.probs:
            return p
        out = p.clone()
        out[:, self.heads] = self.probs[layer][:, self.heads]
        return out


def cmd_eval(args):
    cc, controls = load_checkpoint(args.checkpoint)
    cache = args.cache
    teacher = load_llama(os.path.join(cache, TEACHER))
    student = load_llama(os.path.join(cache, STUDENT_F32))
    K, layers = cc.window, cc.layers
    alpha_maxes = [None] + ([float(a) for a in args.alpha_sweep.split(",")] if args.alpha_sweep else [])
    windows = corpus_windows("held", args.windows, args.length, 0, cache)
    acc = {"plain": {"kl": [], "top1": [], "nll": [], "slot_kl": {l: [] for l in layers}}}
    names = ["injected" if a is None else f"alpha_max={a:g}" for a in alpha_maxes]
    for nm in names:
        acc[nm] = {"kl": [], "top1": [], "nll": [], "slot_kl": {l: [] for l in layers}, "alpha": {l: [] for l in layers}}
    if args.oracle:
        acc["oracle"] = {"kl": [], "top1": [], "nll": [], "slot_kl": {l: [] for l in layers}}
    teacher_nll = []
    t0 = time.time()
    for wi, ids in enumerate(windows):
        rt = AttnRecorder(layers, keep_x=False, fold_window=K)
        rfull = AttnRecorder(layers, keep_x=False) if args.oracle else None
        lt = teacher.forward(ids, recorder=rt if rfull is None else _Both(rt, rfull))
        logp_t = torch.log_softmax(lt, -1)
        p_t = logp_t.exp()
        top_t = lt.argmax(-1)
        tgt = ids[1:]
        teacher_nll.append(-logp_t[:-1].gather(-1, tgt.view(-1, 1)).squeeze(-1))

        def score(logits, rec, bucket):
            logp = torch.log_softmax(logits, -1)
            bucket["kl"].append((p_t * (logp_t - logp)).sum(-1))
            bucket["top1"].append((logits.argmax(-1) == top_t).float())
            bucket["nll"].append(-logp[:-1].gather(-1, tgt.view(-1, 1)).squeeze(-1))
            for l in layers:
                Tt = rt.probs[l][0][cc.heads].permute(1, 0, 2)
                Ss = rec.probs[l][0][cc.heads].permute(1, 0, 2)
                bucket["slot_kl"][l].append(slot_kl(Tt, Ss).mean(-1))

        rp = AttnRecorder(layers, keep_x=False, fold_window=K)
        score(student.forward(ids, recorder=rp), rp, acc["plain"])
        for a_max, nm in zip(alpha_maxes, names):
            inj = Injector(controls, cc.heads, K, alpha_max=a_max)
            ri = AttnRecorder(layers, keep_x=False, fold_window=K)
            score(student.forward(ids, recorder=ri, injector=inj), ri, acc[nm])
            for l in layers:
                acc[nm]["alpha"][l].append(inj.alphas(l)[0])
        if args.oracle:
            ro = AttnRecorder(layers, keep_x=False, fold_window=K)
            score(student.forward(ids, recorder=ro, injector=_Oracle(rfull.probs, cc.heads)), ro, acc["oracle"])
        if wi % 4 == 3 or wi == len(windows) - 1:
            log(f"eval window {wi + 1}/{len(windows)} {time.time() - t0:.0f} s")

    def summary(b):
        out = {
            "kl_next_token": float(torch.cat(b["kl"]).mean()),
            "same_top1": float(torch.cat(b["top1"]).mean()),
            "nll": float(torch.cat(b["nll"]).mean()),
            "attn_slot_kl": {str(l): float(torch.cat(b["slot_kl"][l]).mean()) for l in layers},
        }
        if "alpha" in b:
            out["mean_alpha"] = {str(l): float(torch.cat(b["alpha"][l]).mean()) for l in layers}
        return out

    res = {
        "checkpoint": os.path.basename(args.checkpoint), "teacher": TEACHER, "student": STUDENT_F32,
        "layers": layers, "heads": cc.heads, "window": K, "alpha_max": cc.alpha_max,
        "heldout_windows": len(windows), "tokens_per_window": args.length, "positions": len(windows) * args.length,
        "teacher_nll": float(torch.cat(teacher_nll).mean()),
        "plain": summary(acc["plain"]),
    }
    for nm in names:
        res[nm] = summary(acc[nm])
    if args.oracle:
        res["oracle_teacher_attention"] = summary(acc["oracle"])
    res["seconds"] = round(time.time() - t0, 1)
    text = json.dumps(res, indent=2)
    print(text)
    if args.json_out:
        with open(args.json_out, "w") as f:
            f.write(text + "\n")
    return 0


# ---- export / fixtures / generate ---------------------------------------------------------------

def cmd_export(args):
    cc, controls = load_checkpoint(args.checkpoint)
    if args.alpha_max is not None:
        cc.alpha_max = args.alpha_max
    if not 0.0 <= cc.alpha_max <= 1.0:
        raise SystemExit("alpha_max must be in [0, 1]")
    tmp = args.out + ".tmp"
    write_controller_gguf(tmp, cc, controls, args.type)
    os.replace(tmp, args.out)
    log(f"wrote {args.out} ({os.path.getsize(args.out)} bytes, {args.type})")
    return 0


def cmd_tiny_checkpoint(args):
    """A random controller run for a small model, as `train` leaves one (checkpoint + all_config.yaml)."""
    torch.manual_seed(args.seed)
    cc = ControlConfig(layers=parse_ids(args.layers), heads=parse_ids(args.heads), window=args.window, alpha_max=args.alpha_max,
                       C=args.C, G=args.G, d=args.d, n_head=args.n_head, n_layer=args.n_layer)
    controls = build_controls(cc)
    state = {f"{l}.{k}": v + 0.1 * torch.randn_like(v) for l, c in controls.items() for k, v in c.state_dict().items()}
    config = {"layers": cc.layers, "heads": cc.heads, "window": cc.window, "alpha_max": cc.alpha_max, "C": cc.C, "G": cc.G,
              "eps": cc.eps, "d": cc.d, "n_head": cc.n_head, "n_layer": cc.n_layer, "target_architecture": "llama"}
    os.makedirs(args.out, exist_ok=True)
    torch.save({"state_dict": state, "config": config, "train_report": {}}, os.path.join(args.out, "controller.pt"))
    write_config_yaml(config, os.path.join(args.out, "all_config.yaml"))
    return 0


def parse_ids(s):
    return [int(x) for x in s.replace(" ", "").split(",") if x]


def make_injector(path, alpha_max):
    cc, controls = load_controller_gguf(path)
    return cc, Injector(controls, cc.heads, cc.window, alpha_max=alpha_max)


def cmd_fixtures(args):
    model = load_llama(args.model)
    cc, inj = make_injector(args.controller, args.alpha_max)
    ids = parse_ids(args.prompt_ids)
    logits = model.forward(torch.tensor(ids), injector=inj)
    plain = model.forward(torch.tensor(ids))
    alpha = torch.stack([inj.alphas(l)[0] for l in cc.layers], dim=1)  # [T, layers]

    def rows(lg):
        top = torch.topk(lg, args.top, dim=-1)
        return [{"top_ids": top.indices[i].tolist(), "top_logits": [float(v) for v in top.values[i]],
                 "max": float(lg[i].max()), "argmax": int(lg[i].argmax())} for i in range(lg.shape[0])]

    out = {
        "model": os.path.basename(args.model), "controller": os.path.basename(args.controller),
        "prompt_ids": ids, "layers": cc.layers, "heads": cc.heads, "window": cc.window,
        "alpha_max": cc.alpha_max if args.alpha_max is None else args.alpha_max,
        "logits": rows(logits),
        "alpha": [[float(a) for a in row] for row in alpha],
        "plain_logits": rows(plain),
        "max_abs_diff_injected_vs_plain": float((logits - plain).abs().max()),
    }
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f)
    os.replace(tmp, args.out)
    if args.full:
        base = os.path.splitext(args.out)[0]
        np.save(base + ".logits.npy", logits.numpy().astype(np.float32))
        np.save(base + ".plain_logits.npy", plain.numpy().astype(np.float32))
    log(f"wrote {args.out}")
    return 0


def cmd_generate(args):
    """Greedy generation of every --prompt-ids (one model load), one JSON line per prompt."""
    model = load_llama(args.model)
    stop = None if not args.stop else parse_ids(args.stop)
    for prompt in args.prompt_ids:
        ids = parse_ids(prompt)
        inj = None
        cc = None
        if args.controller:
            cc, inj = make_injector(args.controller, args.alpha_max)
        out = model.generate(ids, args.n, injector=inj, stop=stop)
        res = {"prompt_ids": ids, "generated_ids": out}
        if args.check_recompute:
            seq = list(ids)
            rec = []
            for _ in range(len(out)):
                if inj is not None:
                    inj.reset()
                lg = model.forward(torch.tensor(seq), injector=inj)
                nxt = int(lg[-1].argmax())
                rec.append(nxt)
                seq.append(nxt)
            res["recompute_equal"] = rec == out
        if inj is not None and not args.check_recompute:
            # alpha of every evaluated position: the prompt, then each generated token but the last
            res["alpha"] = [[float(a) for a in row] for row in torch.stack([inj.alphas(l)[0] for l in cc.layers], 1)]
        print(json.dumps(res), flush=True)
    return 0


# ---- main ---------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("models"); p.add_argument("--cache", default=default_cache())
    p.set_defaults(fn=cmd_models)

    p = sub.add_parser("check-llamacpp"); p.add_argument("--cache", default=default_cache())
    p.add_argument("--model", default=None); p.add_argument("--tokens", type=int, default=128)
    p.set_defaults(fn=cmd_check_llamacpp)

    p = sub.add_parser("logs"); p.add_argument("--out", required=True); p.add_argument("--cache", default=default_cache())
    p.add_argument("--windows", type=int, default=80); p.add_argument("--length", type=int, default=256)
    p.add_argument("--window", type=int, default=32, help="K"); p.add_argument("--seed", type=int, default=0)
    p.add_argument("--layers", default=None); p.add_argument("--n-layers", type=int, default=4)
    p.set_defaults(fn=cmd_logs)

    p = sub.add_parser("train"); p.add_argument("--logs", required=True); p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0); p.add_argument("--alpha-max", type=float, default=1.0)
    p.add_argument("--C", type=int, default=512); p.add_argument("--G", type=int, default=64)
    p.add_argument("--epochs", type=int, default=8); p.add_argument("--gate-epochs", type=int, default=20)
    p.add_argument("--batch", type=int, default=256); p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--gate-lr", type=float, default=1e-3); p.add_argument("--mse-weight", type=float, default=1.0)
    p.add_argument("--val-frac", type=float, default=0.1)
    p.set_defaults(fn=cmd_train)

    p = sub.add_parser("eval"); p.add_argument("--checkpoint", required=True); p.add_argument("--cache", default=default_cache())
    p.add_argument("--windows", type=int, default=16); p.add_argument("--length", type=int, default=256)
    p.add_argument("--alpha-sweep", default=None, help="also evaluate with these alpha_max overrides, e.g. 0.25,0.5")
    p.add_argument("--oracle", action="store_true",
                   help="also run the student with the teacher's attention rows at the controlled layers (upper bound)")
    p.add_argument("--json-out", default=None)
    p.set_defaults(fn=cmd_eval)

    p = sub.add_parser("export"); p.add_argument("--checkpoint", required=True); p.add_argument("--out", required=True)
    p.add_argument("--type", choices=["f32", "f16"], default="f32"); p.add_argument("--alpha-max", type=float, default=None)
    p.set_defaults(fn=cmd_export)

    p = sub.add_parser("fixtures"); p.add_argument("--model", required=True); p.add_argument("--controller", required=True)
    p.add_argument("--prompt-ids", required=True); p.add_argument("--out", required=True)
    p.add_argument("--alpha-max", type=float, default=None); p.add_argument("--top", type=int, default=20)
    p.add_argument("--full", action="store_true")
    p.set_defaults(fn=cmd_fixtures)

    p = sub.add_parser("tiny-checkpoint", help="a random controller run for a small model (tests)")
    p.add_argument("--out", required=True); p.add_argument("--seed", type=int, default=0)
    p.add_argument("--d", type=int, default=64); p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-layer", type=int, default=2); p.add_argument("--layers", default="0,1")
    p.add_argument("--heads", default="0,2,3"); p.add_argument("--window", type=int, default=4)
    p.add_argument("--C", type=int, default=32); p.add_argument("--G", type=int, default=16)
    p.add_argument("--alpha-max", type=float, default=1.0)
    p.set_defaults(fn=cmd_tiny_checkpoint)

    p = sub.add_parser("generate"); p.add_argument("--model", required=True); p.add_argument("--controller", default=None)
    p.add_argument("--prompt-ids", required=True, action="append", help="repeatable: one JSON line per prompt"); p.add_argument("-n", "--n", type=int, default=64)
    p.add_argument("--alpha-max", type=float, default=None); p.add_argument("--stop", default=None)
    p.add_argument("--check-recompute", action="store_true")
    p.set_defaults(fn=cmd_generate)

    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if getattr(args, "cmd", None) == "check-llamacpp" and args.model is None:
        args.model = os.path.join(args.cache, TEACHER)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
