#!/usr/bin/env python3
"""Train the shipped recursive causal LM (docs/recursive-lm.md) on the King James Bible, on CPU.

    python3 tools/reference/train_rlm.py --out DIR [--minutes 40] [--resume] [--threads 2]

Corpus: `bible -f "Gen1:1-Rev22:21"` (Debian package bible-kjv; installed with apt-get when run
as root, otherwise exit 2), verse references stripped, one verse per line, books separated by
<|endoftext|>. Held out for evaluation: every 20th chapter of the whole Bible in canonical order
(global chapter index i with i % 20 == 19; 59 of 1189 chapters); the tokenizer and the model see
only the other chapters.

Tokenizer: byte-level BPE (tokenizers; ByteLevel pre-tokenizer, add_prefix_space=False, ByteLevel
decoder), vocabulary 2048 with <|endoftext|> = id 0 -> DIR/tokenizer.json, DIR/tokenizer_config.json
(bos/eos <|endoftext|>, a chat template writing each message's content followed by a newline).

Model (defaults): TRM (H_layers 0), hidden 128, 4 heads, L_layers 2, expansion 4, H_cycles 2,
L_cycles 2, halt_max_steps 4, memory bank 256 slots x 4 heads (learned as a parameter), seq_len 256,
batch 8 windows. Hidden 256 was the plan, but on 2 shared cores it trains at ~350 tokens/s (deep
supervision runs 4 ACT steps x 12 virtual layers per batch), under one epoch in 40 minutes;
hidden 128 runs ~1200 tokens/s, about two epochs.

Training: AdamW (betas 0.9/0.95, weight decay on matrices), linear warmup then cosine decay over
the *time* budget (robust to a shared CPU), random seq_len windows. Deep supervision: per batch,
for each ACT step s the step runs from the carried, detached states (only the last H-cycle under
grad, TRM's one-step gradient), CE of that step's logits, backward per step. Q-head: BCE on
z_H.detach() of every step, target y_s = [CE_s <= min over t >= s of CE_t + delta] for q_halt
(halting now loses at most delta nats against the best step still ahead), 1 - y_s for
q_continue. On --rand-halt-frac of the batches, keys/values follow the halting rule for random
per-position halting steps (positions keep computing for the loss).

Budget: --minutes is the whole run, evaluation included (--eval-frac of it reserved for the end).
Every --save-every minutes and at the end: DIR/checkpoint.pt (keys model.inner.*),
DIR/all_config.yaml, DIR/train_state.pt (model, optimizer, step, time used, RNG) via temp + rename.

End: the Q-head alone is fitted again on the frozen trunk (same targets, --head-tokens training
tokens, full-batch L-BFGS); held-out perplexity per fixed depth, with Q-head halting (policy
qhead), mean ACT steps, fraction of max work; then a sweep of an offset added to q_head.bias[0]
on a subset, the offset with the least perplexity among those at no more than --max-work of the
max-depth work is baked into DIR/checkpoint.pt; DIR/eval.json holds every figure, DIR/heldout.txt the held-out chapters as text.
"""
import argparse
from dataclasses import asdict
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from recur_reference.rlm import FrozenKV, RecursiveLM, RLMConfig, save_rlm  # noqa: E402

EOT = "<|endoftext|>"
VERSE = re.compile(r"^(\d?[A-Za-z]+)(\d+):(\d+) (.*)$")
CHAT_TEMPLATE = "{% for message in messages %}{{ message['content'] }}{{ '\\n' }}{% endfor %}"


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# ---- corpus -----------------------------------------------------------------------------------

def bible_text() -> str:
    if shutil.which("bible") is None:
        if os.geteuid() == 0:
            log("installing bible-kjv with apt-get")
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            subprocess.run(["apt-get", "install", "-y", "bible-kjv"], check=False, env=env)
            if shutil.which("bible") is None:
                subprocess.run(["apt-get", "update"], check=False, env=env)
                subprocess.run(["apt-get", "install", "-y", "bible-kjv"], check=False, env=env)
        if shutil.which("bible") is None:
            print("needs the `bible` program: apt-get install -y bible-kjv (package bible-kjv, text in bible-kjv-text)",
                  file=sys.stderr)
            raise SystemExit(2)
    return subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], check=True, capture_output=True, text=True).stdout


def split_corpus(text: str, every: int):
    """-> (train books: list of list of chapter texts, eval chapters: list of texts)."""
    books, chapters = [], []  # chapters: (book, chapter, [verses])
    for line in text.splitlines():
        m = VERSE.match(line.strip())
        if not m:
            continue
        book, ch, verse = m.group(1), int(m.group(2)), m.group(4).strip()
        if not chapters or chapters[-1][0] != book or chapters[-1][1] != ch:
            chapters.append((book, ch, []))
        chapters[-1][2].append(verse)
    train_books, held = [], []
    last_book = None
    for i, (book, ch, verses) in enumerate(chapters):
        body = "".join(v + "\n" for v in verses)
        if i % every == every - 1:
            held.append(body)
            continue
        if book != last_book:
            train_books.append([])
            last_book = book
        train_books[-1].append(body)
    return train_books, held, len(chapters)


def train_tokenizer(train_books, vocab: int, out_dir: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=[EOT], min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator((c for b in train_books for c in b), trainer=trainer)
    assert tok.token_to_id(EOT) == 0, "endoftext must be id 0"
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": EOT, "eos_token": EOT,
                   "unk_token": EOT, "model_max_length": 1 << 30, "add_prefix_space": False,
                   "chat_template": CHAT_TEMPLATE}, f, indent=2)
    return tok


def encode_streams(tok, train_books, held):
    eot = tok.token_to_id(EOT)
    train = []
    for book in train_books:
        for enc in tok.encode_batch(book):
            train.extend(enc.ids)
        train.append(eot)
    ev = []
    for enc in tok.encode_batch(held):
        ev.extend(enc.ids)
    return torch.tensor(train, dtype=torch.long), torch.tensor(ev, dtype=torch.long)


# ---- training ---------------------------------------------------------------------------------

def make_optimizer(model, lr, wd):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and name != "memory.bank" else no_decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.95), eps=1e-8)


def lr_at(step, progress, args):
    warm = min(1.0, (step + 1) / args.warmup)
    cos = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return args.lr * warm * (args.min_lr_frac + (1 - args.min_lr_frac) * cos)


def train_batch(model: RecursiveLM, batch, args, rand_halt: bool):
    cfg = model.cfg
    inp, tgt = batch[:, :-1], batch[:, 1:]
    B, T = inp.shape
    S = cfg.halt_max_steps
    rope = model.rope(T)
    z_H, z_L = (t.detach() for t in model.initial_states(B, T))
    frozen = FrozenKV(detach=True) if rand_halt else None
    if rand_halt:
        halt_at = torch.randint(1, S + 1, (B, T))
    zs, ces = [], []
    for s in range(S):
        if frozen is not None:
            frozen.active = s < halt_at
        x = model.embed(inp)
        z_H, z_L = model.act_step(z_H, z_L, x, rope, frozen, one_step_grad=not args.full_grad)
        logits = model.lm_head(z_H)
        ce = F.cross_entropy(logits.reshape(-1, cfg.vocab_size), tgt.reshape(-1), reduction="none").view(B, T)
        (ce.mean() / S).backward()
        zs.append(z_H.detach())
        ces.append(ce.detach())
        z_H, z_L = z_H.detach(), z_L.detach()
    ce = torch.stack(ces)                                   # [S, B, T]
    q = model.q_head(torch.stack(zs))                       # [S, B, T, 2]
    y = halt_targets(ce, args.q_delta)
    qloss = F.binary_cross_entropy_with_logits(q[..., 0], y) + F.binary_cross_entropy_with_logits(q[..., 1], 1 - y)
    (args.q_weight * qloss).backward()
    with torch.no_grad():
        qacc = ((q[..., 0] > 0).float() == y).float().mean().item()
    return {"ce": ce.mean(dim=(1, 2)).tolist(), "q": qloss.item(), "qacc": qacc, "y": y.mean(dim=(1, 2)).tolist()}


def halt_targets(ce, delta):
    """y_s = 1 where halting at step s costs at most `delta` nats against the best step still
    ahead (min over t >= s of CE_t): continuing cannot gain more than delta. ce: [S, ...]."""
    best_ahead = torch.flip(torch.cummin(torch.flip(ce, [0]), 0).values, [0])
    return (ce <= best_ahead + delta).float()


@torch.no_grad()
def refit_q_head(model, stream, args, gen):
    """The Q-head alone, fitted again on the trained (frozen) trunk: z_H and per-step CE of
    --head-tokens training tokens at every step, halt_targets, then full-batch L-BFGS on the
    Q-head's BCE. Returns figures for eval.json."""
    cfg = model.cfg
    S, T, bs = cfg.halt_max_steps, cfg.seq_len, args.eval_batch
    zs, ces = [], []
    for _ in range(max(1, args.head_tokens // (bs * T))):
        w = sample_batch(stream, bs, T, gen)
        inp, tgt = w[:, :-1], w[:, 1:]
        x, rope = model.embed(inp), model.rope(T)
        z_H, z_L = model.initial_states(bs, T)
        step_z, step_ce = [], []
        for _s in range(S):
            z_H, z_L = model.act_step(z_H, z_L, x, rope)
            step_z.append(z_H.reshape(-1, cfg.hidden_size))
            step_ce.append(F.cross_entropy(model.lm_head(z_H).flatten(0, 1), tgt.flatten(), reduction="none"))
        zs.append(torch.stack(step_z))
        ces.append(torch.stack(step_ce))
    z, ce = torch.cat(zs, 1), torch.cat(ces, 1)              # [S, N, d], [S, N]
    y = halt_targets(ce, args.q_delta)
    head = model.q_head
    with torch.enable_grad():
        opt = torch.optim.LBFGS(head.parameters(), lr=1, max_iter=200, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            q = head(z)
            loss = F.binary_cross_entropy_with_logits(q[..., 0], y) + F.binary_cross_entropy_with_logits(q[..., 1], 1 - y)
            loss.backward()
            return loss
        opt.step(closure)
    q = head(z)
    loss = (F.binary_cross_entropy_with_logits(q[..., 0], y) + F.binary_cross_entropy_with_logits(q[..., 1], 1 - y)).item()
    acc = ((q[..., 0] > 0).float() == y).float().mean().item()
    return {"tokens": z.shape[1], "target_halt_rate_per_step": y.mean(1).tolist(), "bce": loss, "accuracy": acc,
            "train_ce_per_step": ce.mean(1).tolist()}


def sample_batch(stream, B, T, gen):
    starts = torch.randint(0, len(stream) - T - 1, (B,), generator=gen)
    return torch.stack([stream[s:s + T + 1] for s in starts.tolist()])


# ---- evaluation --------------------------------------------------------------------------------

def eval_windows(stream, T, n):
    total = (len(stream) - 1) // T
    idx = sorted(set(int(i) for i in torch.linspace(0, total - 1, min(n, total)).round().tolist()))
    return torch.stack([stream[i * T: i * T + T + 1] for i in idx])


@torch.no_grad()
def eval_fixed(model, windows, bs):
    S = model.cfg.halt_max_steps
    nll = torch.zeros(S, dtype=torch.float64)
    count = 0
    for i in range(0, len(windows), bs):
        w = windows[i:i + bs]
        out = model.forward_fixed(w[:, :-1], S)
        for s in range(S):
            nll[s] += F.cross_entropy(out["logits"][s].flatten(0, 1), w[:, 1:].flatten(), reduction="sum").double()
        count += w[:, 1:].numel()
    return [math.exp(v / count) for v in nll.tolist()]


@torch.no_grad()
def eval_halting(model, windows, bs, policy="qhead"):
    S = model.cfg.halt_max_steps
    nll, steps, count = 0.0, 0, 0
    hist = torch.zeros(S, dtype=torch.long)
    for i in range(0, len(windows), bs):
        w = windows[i:i + bs]
        out = model.forward_halting(w[:, :-1], policy)
        nll += F.cross_entropy(out["logits"].flatten(0, 1), w[:, 1:].flatten(), reduction="sum").item()
        steps += int(out["steps"].sum())
        hist += torch.bincount(out["steps"].flatten() - 1, minlength=S)[:S]
        count += w[:, 1:].numel()
    mean_steps = steps / count
    return {"ppl": math.exp(nll / count), "mean_steps": mean_steps, "work_fraction": mean_steps / S,
            "steps_histogram": hist.tolist(), "tokens": count}


def measure_eval_speed(model, T, bs):
    w = torch.randint(0, model.cfg.vocab_size, (bs, T + 1))
    t0 = time.time()
    eval_fixed(model, w, bs)
    return bs * T / (time.time() - t0)


# ---- state ----------------------------------------------------------------------------------

def atomic_save(obj, path):
    torch.save(obj, path + ".tmp")
    os.replace(path + ".tmp", path)


def save_all(model, opt, st, args, out):
    extra = {"data": "King James Bible (bible-kjv), every 20th chapter held out", "tokenizer": "tokenizer.json",
             "training": {k: v for k, v in vars(args).items() if k not in ("out", "resume")},
             "trained_steps": st["step"]}
    save_rlm(model, out, extra)
    state = dict(st)
    state.update(model={k: v.clone() for k, v in model.state_dict().items()}, optimizer=opt.state_dict(),
                 rng_torch=torch.get_rng_state(), rng_python=random.getstate(), args=vars(args))
    atomic_save(state, os.path.join(out, "train_state.pt"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=40)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--heldout-every", type=int, default=20)
    ap.add_argument("--vocab", type=int, default=2048)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--expansion", type=float, default=4)
    ap.add_argument("--l-layers", type=int, default=2)
    ap.add_argument("--h-layers", type=int, default=0)
    ap.add_argument("--h-cycles", type=int, default=2)
    ap.add_argument("--l-cycles", type=int, default=2)
    ap.add_argument("--halt-max-steps", type=int, default=4)
    ap.add_argument("--memory-slots", type=int, default=256)
    ap.add_argument("--memory-heads", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=100, help="warmup optimizer steps")
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--q-delta", type=float, default=0.1, help="nats: step s is 'good enough' if CE_s <= CE_last + delta")
    ap.add_argument("--q-weight", type=float, default=1.0)
    ap.add_argument("--rand-halt-frac", type=float, default=0.5)
    ap.add_argument("--out-init-scale", type=float, default=0.1,
                    help="scale the initial o_proj/down_proj weights of the blocks (near-identity blocks at init)")
    ap.add_argument("--state-init-std", type=float, default=1.0, help="std of the initial H_init/L_init")
    ap.add_argument("--full-grad", action="store_true", help="gradient through every H-cycle (default: last only)")
    ap.add_argument("--eval-frac", type=float, default=0.2, help="share of --minutes reserved for the final evaluation")
    ap.add_argument("--eval-windows", type=int, default=0, help="held-out windows (0: sized to the eval budget)")
    ap.add_argument("--eval-batch", type=int, default=8)
    ap.add_argument("--save-every", type=float, default=4.0, help="minutes")
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--offsets", default="-3,-2,-1.5,-1,-0.5,0,0.5,1,1.5,2,3")
    ap.add_argument("--head-tokens", type=int, default=131072, help="training tokens for the final Q-head refit")
    ap.add_argument("--max-work", type=float, default=0.6,
                    help="calibration: the offset with least perplexity among those at most this share of max-depth work")
    args = ap.parse_args()

    t_start = time.time()
    deadline = t_start + args.minutes * 60
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    state_path = os.path.join(args.out, "train_state.pt")
    resume = args.resume and os.path.isfile(state_path)
    if resume:
        saved = torch.load(state_path, map_location="cpu", weights_only=False)
        keep = ("out", "resume", "minutes", "threads", "eval_windows", "eval_batch", "save_every", "log_every", "offsets",
                "eval_frac")
        for k, v in saved["args"].items():
            if k not in keep:
                setattr(args, k, v)

    # corpus + tokenizer
    train_books, held, n_chapters = split_corpus(bible_text(), args.heldout_every)
    tok_path = os.path.join(args.out, "tokenizer.json")
    if resume and os.path.isfile(tok_path):
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(tok_path)
    else:
        tok = train_tokenizer(train_books, args.vocab, args.out)
    train_stream, eval_stream = encode_streams(tok, train_books, held)
    with open(os.path.join(args.out, "heldout.txt"), "w") as f:  # for `recur bench drift --text`
        f.write("".join(held))
    log(f"corpus: {n_chapters} chapters, {len(held)} held out; tokens train {len(train_stream)} eval {len(eval_stream)};"
        f" vocab {tok.get_vocab_size()}")

    cfg = RLMConfig(vocab_size=tok.get_vocab_size(), hidden_size=args.hidden, num_heads=args.heads,
                    expansion=args.expansion, H_cycles=args.h_cycles, L_cycles=args.l_cycles, L_layers=args.l_layers,
                    H_layers=args.h_layers, halt_max_steps=args.halt_max_steps, seq_len=args.seq_len,
                    memory_slots=args.memory_slots, memory_heads=args.memory_heads if args.memory_slots else 0,
                    halt_rule="q_halt>0")
    model = RecursiveLM(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith(("L_level.", "H_level.")) and name.endswith(("o_proj.weight", "down_proj.weight")):
                p.mul_(args.out_init_scale)
        model.H_init.mul_(args.state_init_std)
        model.L_init.mul_(args.state_init_std)
    opt = make_optimizer(model, args.lr, args.wd)
    nparams = sum(p.numel() for p in model.parameters())
    log(f"model: {cfg}; {nparams / 1e6:.2f}M parameters, {cfg.virtual_layers} virtual layers per ACT step")
    st = {"step": 0, "train_seconds": 0.0, "train_budget": None, "tokens": 0, "eval_plan": None}
    if resume:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["rng_torch"])
        random.setstate(saved["rng_python"])
        for k in st:
            st[k] = saved.get(k, st[k])
        log(f"resumed at step {st['step']}, {st['train_seconds']:.0f}s of {st['train_budget']}s trained")
    gen = torch.Generator().manual_seed(args.seed * 1000 + st["step"])

    # evaluation plan: measured no-grad speed sizes the held-out set to the eval reserve
    T = cfg.seq_len
    reserve = max(60.0, args.eval_frac * args.minutes * 60)
    if st["eval_plan"] is None:
        r = measure_eval_speed(model, T, args.eval_batch)
        passes = 3 + 0.25 * len(args.offsets.split(","))
        n = args.eval_windows or max(8, int(0.8 * reserve * r / passes / T))
        n = min(n, (len(eval_stream) - 1) // T)
        st["eval_plan"] = {"windows": n, "sweep_windows": max(4, n // 4), "eval_tokens_per_s": r}
        log(f"eval speed {r:.0f} tok/s (no grad, all steps) -> {n} held-out windows of {T}"
            f" ({n * T} tokens), sweep on {st['eval_plan']['sweep_windows']}")
    plan = st["eval_plan"]
    est = 1.5 * (3 + 0.25 * len(args.offsets.split(","))) * plan["windows"] * T / plan["eval_tokens_per_s"]
    reserve = min(reserve, max(60.0, est))
    if st["train_budget"] is None:
        st["train_budget"] = max(0.0, deadline - time.time() - reserve)
    log(f"training budget {st['train_budget']:.0f}s, eval reserve {reserve:.0f}s")

    # training loop (time-based cosine)
    model.train()
    last_save = time.time()
    hist = []
    measured = False
    while st["train_seconds"] < st["train_budget"] and time.time() < deadline - reserve:
        t0 = time.time()
        progress = st["train_seconds"] / max(1.0, st["train_budget"])
        lr = lr_at(st["step"], progress, args)
        for g in opt.param_groups:
            g["lr"] = lr
        batch = sample_batch(train_stream, args.batch, T, gen)
        rand_halt = random.random() < args.rand_halt_frac
        opt.zero_grad(set_to_none=True)
        m = train_batch(model, batch, args, rand_halt)
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip).item()
        opt.step()
        dt = time.time() - t0
        st["train_seconds"] += dt
        st["step"] += 1
        st["tokens"] += args.batch * T
        hist.append((dt, m))
        if not measured and sum(h[0] for h in hist) > 60:
            measured = True
            tps = args.batch * T * len(hist) / sum(h[0] for h in hist)
            st["throughput_tokens_per_s"] = tps
            est = tps * st["train_budget"]
            log(f"THROUGHPUT {tps:.0f} tokens/s ({len(hist) / sum(h[0] for h in hist):.2f} steps/s, batch {args.batch}x{T},"
                f" {cfg.halt_max_steps} supervised ACT steps each) -> ~{est / 1e6:.1f}M tokens,"
                f" {est / len(train_stream):.1f} epochs in the budget")
        if st["step"] % args.log_every == 0:
            recent = hist[-args.log_every:]
            ce = [sum(h[1]["ce"][s] for h in recent) / len(recent) for s in range(cfg.halt_max_steps)]
            y = [sum(h[1]["y"][s] for h in recent) / len(recent) for s in range(cfg.halt_max_steps)]
            qacc = sum(h[1]["qacc"] for h in recent) / len(recent)
            sec = sum(h[0] for h in recent) / len(recent)
            log(f"step {st['step']} {st['train_seconds']:.0f}/{st['train_budget']:.0f}s lr {lr:.2e} ce/step "
                + " ".join(f"{c:.3f}" for c in ce) + f" ppl {math.exp(ce[-1]):.1f} q-target "
                + " ".join(f"{v:.2f}" for v in y) + f" q-acc {qacc:.3f} gnorm {gnorm:.2f} {sec:.2f}s/step")
        if time.time() - last_save > args.save_every * 60:
            save_all(model, opt, st, args, args.out)
            last_save = time.time()
            log("saved")
    st["done"] = st["train_seconds"] >= st["train_budget"]
    save_all(model, opt, st, args, args.out)
    log(f"training {'finished' if st['done'] else 'stopped at the deadline'}: step {st['step']},"
        f" {st['tokens'] / 1e6:.1f}M tokens, {st['train_seconds']:.0f}s")
    model.eval()
    head_fit = refit_q_head(model, train_stream, args, torch.Generator().manual_seed(args.seed * 1000 + 999))
    log(f"Q-head refit on {head_fit['tokens']} training tokens: halt targets per step "
        + " ".join(f"{v:.2f}" for v in head_fit["target_halt_rate_per_step"])
        + f", BCE {head_fit['bce']:.3f}, accuracy {head_fit['accuracy']:.3f}")

    # evaluation
    model.eval()
    plan = st["eval_plan"]
    windows = eval_windows(eval_stream, T, plan["windows"])
    sweep_w = windows[torch.linspace(0, len(windows) - 1, min(plan["sweep_windows"], len(windows))).round().long().unique()]
    bs = args.eval_batch
    t0 = time.time()
    fixed = eval_fixed(model, windows, bs)
    log("held-out ppl per fixed depth: " + " ".join(f"{s + 1}:{p:.2f}" for s, p in enumerate(fixed)))
    halting = eval_halting(model, windows, bs, "qhead")
    log(f"Q-head halting: ppl {halting['ppl']:.2f}, mean steps {halting['mean_steps']:.3f},"
        f" work {halting['work_fraction']:.3f}, hist {halting['steps_histogram']}")
    max_sweep = eval_fixed(model, sweep_w, bs)[-1]
    sweep = []
    bias0 = model.q_head.bias.data[0].item()
    for off in [float(v) for v in args.offsets.split(",")]:
        model.q_head.bias.data[0] = bias0 + off
        r = eval_halting(model, sweep_w, bs, "qhead")
        r["offset"] = off
        r["ppl_ratio"] = r["ppl"] / max_sweep
        sweep.append(r)
        log(f"  offset {off:+.2f}: ppl {r['ppl']:.2f} ({100 * (r['ppl_ratio'] - 1):+.2f}%), steps {r['mean_steps']:.3f},"
            f" work {r['work_fraction']:.3f}")
    ok = [r for r in sweep if r["work_fraction"] <= args.max_work]
    best = min(ok or sweep, key=lambda r: (r["ppl"], r["mean_steps"]))
    model.q_head.bias.data[0] = bias0 + best["offset"]
    calibrated = eval_halting(model, windows, bs, "qhead")
    compare = eval_halting(model, windows, bs, "compare")
    log(f"calibrated offset {best['offset']:+.2f} (q_head.bias[0] {bias0:.3f} -> {bias0 + best['offset']:.3f}):"
        f" ppl {calibrated['ppl']:.2f} vs max-depth {fixed[-1]:.2f} ({100 * (calibrated['ppl'] / fixed[-1] - 1):+.2f}%),"
        f" mean steps {calibrated['mean_steps']:.3f}, work {calibrated['work_fraction']:.3f}")
    eval_seconds = time.time() - t0
    st_ckpt = {"step": st["step"], "tokens": st["tokens"]}
    extra = {"data": "King James Bible (bible-kjv), every 20th chapter held out", "tokenizer": "tokenizer.json",
             "training": {k: v for k, v in vars(args).items() if k not in ("out", "resume")},
             "trained_steps": st_ckpt["step"], "q_halt_bias_offset": best["offset"]}
    save_rlm(model, args.out, extra)
    result = {
        "config": asdict(cfg),
        "parameters": nparams,
        "train": {"steps": st["step"], "tokens": st["tokens"], "seconds": st["train_seconds"],
                  "throughput_tokens_per_s": st.get("throughput_tokens_per_s"), "train_tokens_corpus": len(train_stream),
                  "finished": st["done"]},
        "heldout": {"chapters": len(held), "rule": f"global chapter index % {args.heldout_every} == "
                    f"{args.heldout_every - 1}", "tokens_total": len(eval_stream), "tokens_evaluated": halting["tokens"],
                    "sweep_tokens": sweep[0]["tokens"] if sweep else 0},
        "ppl_fixed_depth": fixed,
        "ppl_max_depth": fixed[-1],
        "qhead_refit": head_fit,
        "qhead_uncalibrated": halting,
        "sweep": {"max_depth_ppl_on_sweep_set": max_sweep, "points": sweep, "criterion": f"least perplexity at work <= {args.max_work}"},
        "calibration": {"offset": best["offset"], "q_halt_bias_before": bias0, "q_halt_bias_after": bias0 + best["offset"],
                        "ppl_ratio_to_max_depth": calibrated["ppl"] / fixed[-1],
                        "within_2pct_at_max_work": bool(calibrated["ppl"] <= 1.02 * fixed[-1]
                                                        and calibrated["work_fraction"] <= args.max_work)},
        "qhead_calibrated": calibrated,
        "compare_calibrated": compare,
        "eval_seconds": eval_seconds,
        "wall_seconds": time.time() - t_start,
    }
    with open(os.path.join(args.out, "eval.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: result[k] for k in ("train", "ppl_fixed_depth", "qhead_uncalibrated", "calibration",
                                             "qhead_calibrated", "eval_seconds", "wall_seconds")}, indent=2), flush=True)


if __name__ == "__main__":
    main()
