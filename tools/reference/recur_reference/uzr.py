"""Rule-latent controller (UZR): float32/float64 PyTorch reference of docs/rule-latent.md.

One network f(x, z) maps a byte string x to a byte string y; the weights are fixed and a latent
z (size k), fitted by a few Adam steps on a handful of example pairs, says which rule.

Sequence layout (fixed slots, L = 1 + max_in + 1 + max_out):

    position 0                      BOS
    positions 1 .. max_in           x bytes, then PAD up to max_in          (input positions 0 .. max_in)
    position max_in + 1 + j         output slot j, j = 0 .. max_out:       (output positions)
                                    token SEP for j = 0, y[j-1] for 1 <= j <= len(y), PAD after;
                                    target y[j] for j < len(y), EOS for j = len(y), ignored after

Prefix-LM mask: input positions attend to every input position (PAD slots included, there is no
key-padding mask), output slot j attends to every input position and output slots <= j. So the
logits of slot j depend only on x and y[:j], and greedy decoding (answer) feeds the bytes decoded
so far into the later slots.

API:
    UZRConfig, FitConfig (fit / session defaults), UZR(cfg) with .forward(tokens [B, L], z [B, k])
    encode_pair / encode_pairs / encode_inputs, pair_ce, fit_z / fit_z_batch, answer,
    SplitMix64, Session (z_slow / z_fast, gate, eta, memory: retrieve / replay / capacity)
    rule families: FAMILIES, Task, sample_task, task_pairs
    save_checkpoint / load_checkpoint, write_gguf / load_gguf
"""
import math
import os
import random
import string
from dataclasses import asdict, dataclass, fields
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

PAD, BOS, SEP, EOS = 256, 257, 258, 259
VOCAB = 260
IGNORE = -100
ARCH = "uzr"


# ---- configuration ------------------------------------------------------------------------------

@dataclass
class UZRConfig:
    vocab: int = VOCAB
    d: int = 256
    heads: int = 4
    layers: int = 4
    k: int = 128
    ffn: int = 0            # 0 -> 4 * d
    activation: str = "gelu"  # gelu (exact, erf) | relu
    max_in: int = 24
    max_out: int = 24
    eps: float = 1e-5

    def __post_init__(self):
        if self.ffn <= 0:
            self.ffn = 4 * self.d
        if self.activation not in ("gelu", "relu"):
            raise ValueError(f"activation {self.activation!r}: gelu | relu")
        if self.d % self.heads:
            raise ValueError(f"d {self.d} is not a multiple of heads {self.heads}")
        if self.vocab != VOCAB:
            raise ValueError(f"vocab {self.vocab}: must be {VOCAB}")

    @property
    def seq_len(self) -> int:
        return 1 + self.max_in + 1 + self.max_out

    @property
    def out_start(self) -> int:
        """Position of output slot 0 (the SEP)."""
        return 1 + self.max_in

    @classmethod
    def from_dict(cls, d: Dict) -> "UZRConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class FitConfig:
    lr: float = 0.1
    steps: int = 20
    l1: float = 1e-3
    l2: float = 1e-3
    gate: float = 0.6
    eta: float = 0.5
    retrieve: float = 0.9
    replay: int = 2
    capacity: int = 1024

    @classmethod
    def from_dict(cls, d: Optional[Dict]) -> "FitConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in names})


# ---- network ------------------------------------------------------------------------------------

class Block(nn.Module):
    def __init__(self, cfg: UZRConfig):
        super().__init__()
        d = cfg.d
        self.attn_norm = nn.LayerNorm(d, eps=cfg.eps)
        self.attn_q = nn.Linear(d, d)
        self.attn_k = nn.Linear(d, d)
        self.attn_v = nn.Linear(d, d)
        self.attn_output = nn.Linear(d, d)
        self.ffn_norm = nn.LayerNorm(d, eps=cfg.eps)
        self.ffn_up = nn.Linear(d, cfg.ffn)
        self.ffn_down = nn.Linear(cfg.ffn, d)
        self.film_gamma = nn.Linear(cfg.k, d)
        self.film_beta = nn.Linear(cfg.k, d)
        self.heads = cfg.heads
        self.act = cfg.activation

    def forward(self, e: torch.Tensor, z: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        B, L, d = e.shape
        h, dh = self.heads, d // self.heads
        x = self.attn_norm(e)
        # heads are contiguous column blocks of the projections: head i = features [i*dh, (i+1)*dh)
        q = self.attn_q(x).view(B, L, h, dh).transpose(1, 2)
        k = self.attn_k(x).view(B, L, h, dh).transpose(1, 2)
        v = self.attn_v(x).view(B, L, h, dh).transpose(1, 2)
        s = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(dh))
        s = s.masked_fill(~allowed, float("-inf"))
        a = torch.matmul(torch.softmax(s, dim=-1), v).transpose(1, 2).reshape(B, L, d)
        e = e + self.attn_output(a)
        u = self.ffn_up(self.ffn_norm(e))
        u = F.gelu(u) if self.act == "gelu" else F.relu(u)
        e = e + self.ffn_down(u)
        g = self.film_gamma(z).unsqueeze(1)
        b = self.film_beta(z).unsqueeze(1)
        return e * (1 + g) + b


def prefix_lm_mask(cfg: UZRConfig) -> torch.Tensor:
    """[L, L] bool, True where query position i may attend to key position j."""
    L, n_in = cfg.seq_len, cfg.out_start
    i = torch.arange(L).unsqueeze(1)
    j = torch.arange(L).unsqueeze(0)
    return (j < n_in) | ((i >= n_in) & (j <= i))


class UZR(nn.Module):
    """state_dict keys are the GGUF tensor names of docs/rule-latent.md."""

    def __init__(self, cfg: UZRConfig):
        super().__init__()
        self.cfg = cfg
        self.token_embd = nn.Embedding(cfg.vocab, cfg.d)
        self.position_embd = nn.Embedding(cfg.seq_len, cfg.d)
        self.blk = nn.ModuleList([Block(cfg) for _ in range(cfg.layers)])
        self.output_norm = nn.LayerNorm(cfg.d, eps=cfg.eps)
        self.output = nn.Linear(cfg.d, cfg.vocab)
        self.register_buffer("allowed", prefix_lm_mask(cfg), persistent=False)
        self.reset_parameters()

    def reset_parameters(self, std: float = 0.02, film_std: float = 0.02):
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif "norm" in name:
                nn.init.ones_(p)
            elif "film" in name:
                nn.init.normal_(p, std=film_std)
            elif name.endswith("attn_output.weight") or name.endswith("ffn_down.weight"):
                nn.init.normal_(p, std=std / math.sqrt(2 * self.cfg.layers))
            else:
                nn.init.normal_(p, std=std)

    def forward(self, tokens: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """tokens [B, L] int64, z [B, k] (or [k], broadcast) -> logits [B, L, vocab]."""
        B, L = tokens.shape
        if z.dim() == 1:
            z = z.unsqueeze(0).expand(B, -1)
        e = self.token_embd(tokens) + self.position_embd.weight[:L].unsqueeze(0)
        allowed = self.allowed[:L, :L]
        for blk in self.blk:
            e = blk(e, z, allowed)
        return self.output(self.output_norm(e))


# ---- sequences ----------------------------------------------------------------------------------

def as_bytes(s) -> bytes:
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


def encode_pair(cfg: UZRConfig, x, y) -> Tuple[List[int], List[int]]:
    """(tokens [L], targets [L]) of one pair; targets IGNORE (-100) where no loss."""
    x, y = as_bytes(x), as_bytes(y)
    if len(x) > cfg.max_in:
        raise ValueError(f"input of {len(x)} bytes > max_in {cfg.max_in}")
    if len(y) > cfg.max_out:
        raise ValueError(f"output of {len(y)} bytes > max_out {cfg.max_out}")
    L, o = cfg.seq_len, cfg.out_start
    tok = [PAD] * L
    tgt = [IGNORE] * L
    tok[0] = BOS
    tok[1:1 + len(x)] = list(x)
    tok[o] = SEP
    tok[o + 1:o + 1 + len(y)] = list(y)
    tgt[o:o + len(y)] = list(y)
    tgt[o + len(y)] = EOS
    return tok, tgt


def encode_pairs(cfg: UZRConfig, pairs) -> Tuple[torch.Tensor, torch.Tensor]:
    """[P, L] tokens and targets (int64)."""
    enc = [encode_pair(cfg, x, y) for x, y in pairs]
    return (torch.tensor([t for t, _ in enc], dtype=torch.long),
            torch.tensor([g for _, g in enc], dtype=torch.long))


def encode_inputs(cfg: UZRConfig, xs) -> torch.Tensor:
    """[Q, L] tokens with the output part empty (SEP at slot 0)."""
    return torch.tensor([encode_pair(cfg, x, b"")[0] for x in xs], dtype=torch.long)


def pair_ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over each sequence's target slots (EOS included): [..., L, V], [..., L] -> [...]."""
    V = logits.shape[-1]
    ce = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=IGNORE, reduction="none")
    ce = ce.view(targets.shape)
    valid = (targets != IGNORE).to(ce.dtype)
    return ce.sum(-1) / valid.sum(-1)


# ---- fitting z ----------------------------------------------------------------------------------

def prox_l1(z: torch.Tensor, thresh: float) -> torch.Tensor:
    return torch.sign(z) * torch.clamp(z.abs() - thresh, min=0)


class FitResult:
    def __init__(self, z, history, ce, loss):
        self.z = z              # fitted variable ([k] or [T, k]): z, or z_fast when z_base was given
        self.history = history  # loss (CE + L2) at each step's z, before that step's update: [steps] / [steps, T]
        self.ce = ce            # cross-entropy part at the final z (after the last step and prox)
        self.loss = loss        # CE + L2 at the final z


def fit_z_batch(model: UZR, tokens: torch.Tensor, targets: torch.Tensor, z0: torch.Tensor, steps: int,
                lr: float, l1: float, l2: float, z_base: Optional[torch.Tensor] = None,
                final: bool = True, betas=(0.9, 0.999), eps: float = 1e-8, state=None,
                return_state: bool = False) -> FitResult:
    """Independent fits of T tasks at once: tokens/targets [T, P, L], z0 [T, k] (z_base [T, k] or None).

    Per task: loss(z) = mean over its P pairs of pair_ce + l2 * mean(z^2), z = z_base + v, v the
    variable (starting at z0). Adam on v exactly as torch.optim.Adam (bias-corrected, no weight
    decay), then v = sign(v) * max(|v| - lr * l1, 0). The sum of the task losses is differentiated,
    and Adam is elementwise, so every task gets its own single-task fit. Weights get no gradients.
    state = (m, s, t) continues an earlier fit (Adam moments and step count; z0 its z);
    return_state puts the final (m, s, t) in result.state.
    """
    T, P, L = tokens.shape
    tok = tokens.reshape(T * P, L)
    tgt = targets.reshape(T * P, L)
    v = z0.detach().clone()
    base = None if z_base is None else z_base.detach()
    if state is None:
        m, s, t0 = torch.zeros_like(v), torch.zeros_like(v), 0
    else:
        m, s, t0 = state[0].clone(), state[1].clone(), state[2]
    b1, b2 = betas
    hist = []
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        for t in range(t0 + 1, t0 + steps + 1):
            with torch.enable_grad():  # also under torch.no_grad()
                v.requires_grad_(True)
                z = v if base is None else base + v
                ce = pair_ce(model(tok, z.repeat_interleave(P, dim=0)), tgt).view(T, P).mean(1)
                loss = ce + l2 * (z * z).mean(1)
                (g,) = torch.autograd.grad(loss.sum(), v)
            hist.append(loss.detach())
            with torch.no_grad():
                v = v.detach()
                m.mul_(b1).add_(g, alpha=1 - b1)
                s.mul_(b2).addcmul_(g, g, value=1 - b2)
                bc1 = 1 - b1 ** t
                bc2 = 1 - b2 ** t
                step_size = lr / bc1
                denom = (s.sqrt() / math.sqrt(bc2)).add_(eps)
                v = v.addcdiv(m, denom, value=-step_size)
                v = prox_l1(v, lr * l1)
        ce_f = loss_f = None
        if final:
            with torch.no_grad():
                z = v if base is None else base + v
                ce_f = pair_ce(model(tok, z.repeat_interleave(P, dim=0)), tgt).view(T, P).mean(1)
                loss_f = ce_f + l2 * (z * z).mean(1)
    finally:
        for p in params:
            p.requires_grad_(True)
    history = torch.stack(hist) if hist else torch.zeros(0, T, dtype=v.dtype)
    res = FitResult(v.detach(), history, ce_f, loss_f)
    if return_state:
        res.state = (m, s, t0 + steps)
    return res


def fit_z(model: UZR, pairs, z0: Optional[torch.Tensor] = None, steps: int = 20, lr: float = 0.1,
          l1: float = 1e-3, l2: float = 1e-3, z_base: Optional[torch.Tensor] = None) -> FitResult:
    """One task: pairs [(x, y), ...] (str or bytes), z0 [k] (zeros when None) -> FitResult with z [k],
    history [steps], ce and loss as floats."""
    cfg = model.cfg
    dtype = model.token_embd.weight.dtype
    tok, tgt = encode_pairs(cfg, pairs)
    z0 = torch.zeros(cfg.k, dtype=dtype) if z0 is None else z0.to(dtype)
    base = None if z_base is None else z_base.to(dtype).unsqueeze(0)
    r = fit_z_batch(model, tok.unsqueeze(0), tgt.unsqueeze(0), z0.unsqueeze(0), steps, lr, l1, l2, base)
    return FitResult(r.z[0], r.history[:, 0].tolist(), float(r.ce[0]), float(r.loss[0]))


def context_loss(model: UZR, pairs, z: torch.Tensor, l2: float = 1e-3) -> Tuple[torch.Tensor, torch.Tensor]:
    """(loss, ce) of one task's pairs at z [k] (differentiable in z)."""
    tok, tgt = encode_pairs(model.cfg, pairs)
    ce = pair_ce(model(tok, z.unsqueeze(0).expand(tok.shape[0], -1)), tgt).mean()
    return ce + l2 * (z * z).mean(), ce


# ---- answering ----------------------------------------------------------------------------------

@torch.no_grad()
def answer_tokens(model: UZR, z: torch.Tensor, tokens: torch.Tensor) -> List[bytes]:
    """Greedy decoding of [Q, L] input tokens; z [k] or [Q, k]. Argmax over all 260 logits (first
    index among equal maxima); a special token (EOS, or any id >= 256) ends the answer; at most
    max_out bytes."""
    cfg = model.cfg
    Q = tokens.shape[0]
    tok = tokens.clone()
    if z.dim() == 1:
        z = z.unsqueeze(0).expand(Q, -1)
    out = [bytearray() for _ in range(Q)]
    live = torch.ones(Q, dtype=torch.bool)
    o = cfg.out_start
    for j in range(cfg.max_out):
        idx = live.nonzero().flatten()
        if idx.numel() == 0:
            break
        logits = model(tok[idx], z[idx])[:, o + j]
        nxt = logits.argmax(-1)
        for r, q in enumerate(idx.tolist()):
            t = int(nxt[r])
            if t >= 256:
                live[q] = False
            else:
                out[q].append(t)
                if j + 1 <= cfg.max_out:
                    tok[q, o + j + 1] = t
    return [bytes(b) for b in out]


def answer(model: UZR, z: torch.Tensor, x) -> "bytes | List[bytes]":
    """Greedy answer to one query x (str/bytes) -> bytes, or to a list of queries -> list of bytes."""
    single = isinstance(x, (str, bytes, bytearray))
    xs = [x] if single else list(x)
    res = answer_tokens(model, z, encode_inputs(model.cfg, xs))
    return res[0] if single else res


# ---- session ------------------------------------------------------------------------------------

MASK64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed: int = 0):
        self.state = seed & MASK64

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def index(self, count: int) -> int:
        return self.next() % count


@dataclass
class Sketch:
    id: int
    key: torch.Tensor
    z: torch.Tensor
    hits: int = 0


class Session:
    """Long-run state: z = z_slow + z_fast, a bounded sketch memory (in-memory list ordered by id).

    One turn (examples [(x, y), ...], queries [x, ...]):
      1. key = mean of token_embd rows over every byte of the examples' inputs and outputs.
      2. retrieval: the sketch with the greatest cosine similarity to key (first in id order among
         equals); if >= retrieve: z_fast = sketch.z - z_slow, else z_fast = 0.
      3. fit z_fast (fit.steps Adam steps, prox on z_fast, z_slow fixed); conf = exp(-CE at the final z).
      4. if conf >= gate (confident): z_slow += eta * z_fast, z_fast *= 1 - eta; the retrieved sketch
         (if any) gets hits + 1; a new sketch (key, copy of z_slow, hits 0, next id) is inserted,
         evicting first, if the memory holds capacity sketches, the one with the fewest hits, the
         oldest (smallest id) among equals; then replay times: index = SplitMix64.next() % size,
         that sketch (in id order) gets hits + 1.
      5. answers: greedy decoding at z = z_slow + z_fast.
    """

    def __init__(self, model: UZR, fit: Optional[FitConfig] = None, seed: int = 0):
        self.model = model
        self.fit = fit or FitConfig()
        k = model.cfg.k
        dtype = model.token_embd.weight.dtype
        self.z_slow = torch.zeros(k, dtype=dtype)
        self.z_fast = torch.zeros(k, dtype=dtype)
        self.memory: List[Sketch] = []
        self.next_id = 1
        self.rng = SplitMix64(seed)
        self.turns = 0

    def key(self, examples) -> torch.Tensor:
        ids = [b for x, y in examples for b in as_bytes(x) + as_bytes(y)]
        emb = self.model.token_embd.weight.detach()
        if not ids:
            return torch.zeros(emb.shape[1], dtype=emb.dtype)
        return emb[torch.tensor(ids, dtype=torch.long)].mean(0)

    def retrieve(self, key: torch.Tensor) -> Tuple[Optional[Sketch], float]:
        best, best_sim = None, -2.0
        kn = key.norm()
        if kn == 0:
            return None, float("nan")
        for s in self.memory:
            sn = s.key.norm()
            sim = float(torch.dot(s.key, key) / (sn * kn)) if sn > 0 else -2.0
            if sim > best_sim:
                best, best_sim = s, sim
        return best, best_sim

    def insert(self, key: torch.Tensor, z: torch.Tensor):
        evicted = None
        if len(self.memory) >= self.fit.capacity:
            victim = min(self.memory, key=lambda s: (s.hits, s.id))
            self.memory.remove(victim)
            evicted = victim.id
        self.memory.append(Sketch(self.next_id, key.clone(), z.clone(), 0))
        self.next_id += 1
        return evicted

    def turn(self, examples, queries=()) -> Dict:
        fit = self.fit
        examples = [(as_bytes(x), as_bytes(y)) for x, y in examples]
        key = self.key(examples)
        best, sim = self.retrieve(key)
        retrieved = best is not None and sim >= fit.retrieve
        self.z_fast = (best.z - self.z_slow) if retrieved else torch.zeros_like(self.z_slow)
        r = fit_z(self.model, examples, self.z_fast, fit.steps, fit.lr, fit.l1, fit.l2, z_base=self.z_slow)
        self.z_fast = r.z
        conf = math.exp(-r.ce)
        confident = conf >= fit.gate
        evicted = None
        if confident:
            self.z_slow = self.z_slow + fit.eta * self.z_fast
            self.z_fast = self.z_fast * (1 - fit.eta)
            if retrieved:
                best.hits += 1
            evicted = self.insert(key, self.z_slow)
            for _ in range(fit.replay):
                self.memory[self.rng.index(len(self.memory))].hits += 1
        z = self.z_slow + self.z_fast
        answers = answer(self.model, z, list(queries)) if queries else []
        self.turns += 1
        return {
            "answers": answers, "conf": conf, "ce": r.ce, "loss": r.loss,
            "sparsity_fast": float((self.z_fast == 0).to(torch.float64).mean()),
            "sparsity_z": float((z == 0).to(torch.float64).mean()),
            "z_slow_updated": confident, "memory": len(self.memory), "retrieved": retrieved,
            "retrieved_id": best.id if retrieved else None,
            "similarity": None if best is None else sim, "evicted": evicted,
        }


# ---- rule families ------------------------------------------------------------------------------

LOWER = string.ascii_lowercase
UPPER = string.ascii_uppercase
DIGITS = string.digits
AFFIX_CHARS = LOWER + DIGITS + "!#*>-.:"
TEMPLATES = ["Hello, {x}!", "Hi {x}", "Dear {x},", "<{x}>", "[{x}]", "({x})", "'{x}'", "{x}?",
             "Mr. {x}", "-> {x}", "{x} ok", "#{x}#", "{x}: yes", "ask {x}", "<<{x}>>", "{x}..."]
DELIMS = [(" ", "-"), (" ", "_"), (" ", ","), (" ", "."), (",", ";"), ("-", " "), ("_", " "), (" ", "/")]
MASK_CHARS = "#*X"


def _word(rng: random.Random, lo: int = 1, hi: int = 6, case: str = "lower") -> str:
    w = "".join(rng.choice(LOWER) for _ in range(rng.randint(lo, hi)))
    if case == "mixed":
        r = rng.random()
        if r < 0.3:
            w = w.capitalize()
        elif r < 0.45:
            w = w.upper()
        elif r < 0.7:
            w = "".join(c.upper() if rng.random() < 0.5 else c for c in w)
    return w


def _digits(rng: random.Random, lo: int = 1, hi: int = 4) -> str:
    return "".join(rng.choice(DIGITS) for _ in range(rng.randint(lo, hi)))


def _phrase(rng: random.Random, case: str = "lower", sep: str = " ", words=(1, 3), digit_p: float = 0.15) -> str:
    n = rng.randint(*words)
    parts = [_digits(rng) if rng.random() < digit_p else _word(rng, case=case) for _ in range(n)]
    return sep.join(parts)


def _ascii_title(x: str) -> str:
    out, start = [], True
    for c in x:
        if c.isascii() and c.isalpha():
            out.append(c.upper() if start else c.lower())
            start = False
        else:
            out.append(c)
            start = c == " "
    return "".join(out)


def _ascii_cap(x: str) -> str:
    return x[:1].upper() + x[1:].lower() if x else x


def _caesar(x: str, n: int) -> str:
    out = []
    for c in x:
        if "a" <= c <= "z":
            out.append(chr((ord(c) - 97 + n) % 26 + 97))
        elif "A" <= c <= "Z":
            out.append(chr((ord(c) - 65 + n) % 26 + 65))
        else:
            out.append(c)
    return "".join(out)


def _swapcase(x: str) -> str:
    return "".join(c.lower() if "A" <= c <= "Z" else c.upper() if "a" <= c <= "z" else c for c in x)


def _mask(x: str, ch: str) -> str:
    return "".join(ch if c in DIGITS else c for c in x)


class Family:
    """name, sample_params(rng) -> params (JSON-able), apply(params, x) -> y, make_input(rng, params) -> x."""

    def __init__(self, name, sample_params, apply, make_input):
        self.name, self.sample_params, self.apply, self.make_input = name, sample_params, apply, make_input


def _affix(rng):
    return "".join(rng.choice(AFFIX_CHARS) for _ in range(rng.randint(1, 3)))


def _mixed_input(rng, _p):
    return _phrase(rng, case="mixed")


def _lower_input(rng, _p):
    return _phrase(rng, case="lower")


def _any_input(rng, _p):
    return _phrase(rng, case="mixed" if rng.random() < 0.3 else "lower")


def _digit_input(rng, _p):
    n = rng.randint(1, 3)
    parts = []
    for _ in range(n):
        r = rng.random()
        if r < 0.4:
            parts.append(_digits(rng))
        elif r < 0.7:
            parts.append(_word(rng, 1, 3) + _digits(rng, 1, 3))
        else:
            parts.append(_word(rng))
    s = " ".join(parts)
    if not any(c in DIGITS for c in s):
        s += _digits(rng, 1, 2)
    return s


def _delim_input(rng, p):
    return p[0].join(_word(rng, case="lower") if rng.random() > 0.15 else _digits(rng) for _ in range(rng.randint(2, 4)))


FAMILIES: Dict[str, Family] = {f.name: f for f in [
    Family("prefix", lambda r: _affix(r), lambda p, x: p + x, _any_input),
    Family("suffix", lambda r: _affix(r), lambda p, x: x + p, _any_input),
    Family("upper", lambda r: None, lambda p, x: x.upper(), _mixed_input),
    Family("lower", lambda r: None, lambda p, x: x.lower(), _mixed_input),
    Family("title", lambda r: r.choice(["title", "capitalize"]),
           lambda p, x: _ascii_title(x) if p == "title" else _ascii_cap(x), _mixed_input),
    Family("reverse", lambda r: None, lambda p, x: x[::-1], _any_input),
    Family("caesar", lambda r: r.randint(1, 25), lambda p, x: _caesar(x, p), _any_input),
    Family("mask_digits", lambda r: r.choice(MASK_CHARS), lambda p, x: _mask(x, p), _digit_input),
    Family("delimiter", lambda r: list(r.choice(DELIMS)), lambda p, x: x.replace(p[0], p[1]), _delim_input),
    Family("template", lambda r: r.choice(TEMPLATES), lambda p, x: p.replace("{x}", x), _lower_input),
    Family("swapcase", lambda r: None, lambda p, x: _swapcase(x), _mixed_input),
    Family("double", lambda r: None, lambda p, x: "".join(c + c for c in x), _any_input),
    Family("reverse_words", lambda r: None, lambda p, x: " ".join(x.split(" ")[::-1]),
           lambda r, p: _phrase(r, words=(2, 4))),
]}
FAMILY_NAMES = list(FAMILIES)


@dataclass
class Task:
    family: str
    params: object = None

    def apply(self, x: str) -> str:
        return FAMILIES[self.family].apply(self.params, x)

    def name(self) -> str:
        return self.family if self.params is None else f"{self.family}:{self.params}"

    def to_json(self):
        return {"family": self.family, "params": self.params}


def sample_task(rng: random.Random, families: Optional[Sequence[str]] = None) -> Task:
    fam = rng.choice(list(families or FAMILY_NAMES))
    return Task(fam, FAMILIES[fam].sample_params(rng))


def task_pairs(rng: random.Random, task: Task, n: int, max_in: int, max_out: int,
               distinct: bool = True) -> List[Tuple[str, str]]:
    """n (x, y) pairs of the task: 1 <= len(x) <= max_in, len(y) <= max_out, inputs distinct."""
    fam = FAMILIES[task.family]
    out, seen, tries = [], set(), 0
    while len(out) < n:
        tries += 1
        if tries > 2000 * n:
            raise RuntimeError(f"cannot sample {n} pairs of {task.name()} with max_in {max_in}, max_out {max_out}")
        x = fam.make_input(rng, task.params)
        if not x or len(x) > max_in:
            continue
        y = task.apply(x)
        if len(y) > max_out or (distinct and x in seen):
            continue
        seen.add(x)
        out.append((x, y))
    return out


# ---- checkpoint / GGUF --------------------------------------------------------------------------

def save_checkpoint(model: UZR, path: str, fit: Optional[FitConfig] = None, extra: Optional[Dict] = None):
    """torch.save({"model": state_dict (GGUF names), "config": {model fields..., "fit": {...}, ...}}) via temp + rename."""
    config = asdict(model.cfg)
    config["fit"] = asdict(fit or FitConfig())
    if extra:
        config.update(extra)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    sd = {k: v.detach().to(torch.float32).clone() for k, v in model.state_dict().items()}
    torch.save({"model": sd, "config": config}, path + ".tmp")
    os.replace(path + ".tmp", path)
    return path


def load_checkpoint(path: str) -> Tuple[UZR, FitConfig, Dict]:
    if os.path.isdir(path):
        path = os.path.join(path, "checkpoint.pt")
    ck = torch.load(path, map_location="cpu", weights_only=True)
    cfg = UZRConfig.from_dict(ck["config"])
    model = UZR(cfg)
    model.load_state_dict(ck["model"], strict=True)
    model.eval()
    return model, FitConfig.from_dict(ck["config"].get("fit")), ck["config"]


def gguf_tensor_names(cfg: UZRConfig) -> List[str]:
    names = ["token_embd.weight", "position_embd.weight"]
    for n in range(cfg.layers):
        for part in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_up", "ffn_down",
                     "film_gamma", "film_beta"):
            names += [f"blk.{n}.{part}.weight", f"blk.{n}.{part}.bias"]
    return names + ["output_norm.weight", "output_norm.bias", "output.weight", "output.bias"]


def write_gguf(model: UZR, fit: FitConfig, path: str, ftype: str = "f32") -> str:
    """The doc's `uzr` GGUF (also uzr.fit.retrieve / replay / capacity, as `recur export` writes).
    f16: 2-D weights as F16, 1-D tensors (norms, biases) stay F32."""
    import gguf
    import numpy as np

    cfg = model.cfg
    sd = model.state_dict()
    w = gguf.GGUFWriter(path, ARCH)  # writes general.architecture
    if ftype == "f16":
        w.add_file_type(int(gguf.LlamaFileType.MOSTLY_F16))
    else:
        w.add_file_type(int(gguf.LlamaFileType.ALL_F32))
    for key, value in (("embedding_length", cfg.d), ("block_count", cfg.layers), ("attention.head_count", cfg.heads),
                       ("latent_length", cfg.k), ("feed_forward_length", cfg.ffn), ("context_length", cfg.seq_len),
                       ("max_input", cfg.max_in), ("max_output", cfg.max_out), ("vocab_size", cfg.vocab)):
        w.add_uint32(f"{ARCH}.{key}", int(value))
    w.add_string(f"{ARCH}.activation", cfg.activation)
    w.add_float32(f"{ARCH}.attention.layer_norm_epsilon", float(cfg.eps))
    w.add_float32(f"{ARCH}.fit.lr", float(fit.lr))
    w.add_uint32(f"{ARCH}.fit.steps", int(fit.steps))
    for key in ("l1", "l2", "gate", "eta", "retrieve"):
        w.add_float32(f"{ARCH}.fit.{key}", float(getattr(fit, key)))
    w.add_uint32(f"{ARCH}.fit.replay", int(fit.replay))
    w.add_uint32(f"{ARCH}.fit.capacity", int(fit.capacity))
    for name in gguf_tensor_names(cfg):
        t = sd[name].detach().to(torch.float32).contiguous().numpy()
        if ftype == "f16" and t.ndim == 2:
            t = t.astype(np.float16)
        w.add_tensor(name, t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def load_gguf(path: str) -> Tuple[UZR, FitConfig]:
    """A `uzr` GGUF (F32 / F16 tensors) back into UZR (float32) and its fit settings (uzr.fit.*, FitConfig's
    defaults for keys the file lacks)."""
    import gguf
    import numpy as np

    r = gguf.GGUFReader(path)

    def field(key):
        f = r.fields[key]
        v = f.parts[f.data[0]]
        if f.types[0] == gguf.GGUFValueType.STRING:
            return bytes(v).decode()
        x = v.tolist()[0]
        if f.types[0] == gguf.GGUFValueType.FLOAT32:  # the shortest decimal with the same float32
            short = float(f"{x:.7g}")
            x = short if np.float32(short) == np.float32(x) else x
        return x

    if field("general.architecture") != ARCH:
        raise ValueError(f"{path}: general.architecture is not {ARCH!r}")
    cfg = UZRConfig(d=field(f"{ARCH}.embedding_length"), heads=field(f"{ARCH}.attention.head_count"),
                    layers=field(f"{ARCH}.block_count"), k=field(f"{ARCH}.latent_length"),
                    ffn=field(f"{ARCH}.feed_forward_length"), activation=field(f"{ARCH}.activation"),
                    max_in=field(f"{ARCH}.max_input"), max_out=field(f"{ARCH}.max_output"),
                    eps=field(f"{ARCH}.attention.layer_norm_epsilon"))
    if cfg.seq_len != field(f"{ARCH}.context_length") or field(f"{ARCH}.vocab_size") != VOCAB:
        raise ValueError(f"{path}: context_length / vocab_size disagree with max_input / max_output")
    fit = FitConfig()
    for key in ("lr", "steps", "l1", "l2", "gate", "eta", "retrieve", "replay", "capacity"):
        if f"{ARCH}.fit.{key}" in r.fields:
            setattr(fit, key, field(f"{ARCH}.fit.{key}"))
    state = {}
    for t in r.tensors:
        shape = [int(n) for n in reversed(t.shape.tolist())]
        state[t.name] = torch.from_numpy(np.asarray(t.data, dtype=np.float32).reshape(shape).copy())
    model = UZR(cfg)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, fit
