"""The recursive causal LM ("rlm"): a TRM/HRM for text, float32 reference of docs/recursive-lm.md.

Per position t, states z_H[t], z_L[t] start at the learned vectors H_init, L_init; the input is
x = sqrt(D) * embed_tokens(token). One ACT step is

    for h in H_cycles: (for l in L_cycles: z_L = L_level(z_L + (z_H + x)));
                       z_H = H_level(z_H + z_L) (L_level for TRM); z_H += memory_read(z_H)
    logits = lm_head(z_H); (q_halt, q_continue) = q_head(z_H)

with causal post-norm blocks and RoPE over absolute positions. Every block of every pass is a
"virtual layer" with its own keys and values per ACT step; a halted position's keys/values at a
deeper step are those of its last computed step (see forward_halting).

API:
    RLMConfig(...), RLMConfig.from_yaml(path) / to_yaml(path, extra=None)
    RecursiveLM(cfg)
        .embed(tokens) -> x;  .initial_states(B, T) -> (z_H, z_L);  .rope(T) -> (cos, sin)
        .act_step(z_H, z_L, x, rope, kv_hook=None, one_step_grad=False) -> (z_H, z_L)
        .heads(z_H) -> (logits, q_halt, q_continue)
        .forward_fixed(tokens, steps) -> {"logits", "q_halt", "q_continue"} lists per step
        .forward_halting(tokens, policy="qhead", max_steps=None, return_cache=False)
            -> {"logits", "steps", "q_halt", "q_continue"[, "cache"]}
        .generate_cached(prompt_ids, n_new, policy="qhead", max_steps=None) -> (new ids, steps)
        .generate_recompute(prompt_ids, n_new, policy="qhead", max_steps=None) -> (new ids, steps)
    make_policy(policy, cfg) -> fn(q_halt, q_continue) -> bool tensor
    FrozenKV: the per-virtual-layer frozen keys/values rule as an attention hook
    load_rlm(path) -> (model, cfg);  save_rlm(model, out_dir, extra_config=None)
    self_check(verbose=True): cached vs recompute generation, halting vs fixed, save/load
"""
import math
import os
from collections import OrderedDict
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Embedding, Linear, SwiGLU, apply_rotary, rms_norm, rotary_cos_sin, trunc_normal_

ARCH_NAME = "recursive_lm@RecursiveLM"
KEY_PREFIXES = ("_orig_mod.model.inner.", "model.inner.")
SAVE_PREFIX = "model.inner."

# kv_hook(virtual_layer, k, v) -> (k_used, v_used); k, v: [B, T, heads, head_dim]
KVHook = Callable[[int, torch.Tensor, torch.Tensor], Tuple[torch.Tensor, torch.Tensor]]


@dataclass
class RLMConfig:
    vocab_size: int
    hidden_size: int
    num_heads: int
    H_cycles: int
    L_cycles: int
    L_layers: int
    halt_max_steps: int
    seq_len: int
    expansion: float = 4
    H_layers: int = 0
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    memory_slots: int = 0
    memory_heads: int = 0
    halt_rule: str = "q_halt>0"

    def __post_init__(self):
        if self.hidden_size % self.num_heads:
            raise ValueError("hidden_size must be a multiple of num_heads")
        if self.memory_slots > 0 and (self.memory_heads <= 0 or self.hidden_size % self.memory_heads):
            raise ValueError("memory_heads must divide hidden_size when memory_slots > 0")
        normalize_halt_rule(self.halt_rule)

    @property
    def h_stack_layers(self) -> int:
        return self.H_layers if self.H_layers > 0 else self.L_layers

    @property
    def layers_per_h_cycle(self) -> int:
        return self.L_cycles * self.L_layers + self.h_stack_layers

    @property
    def virtual_layers(self) -> int:
        """Blocks per ACT step, numbered in execution order."""
        return self.H_cycles * self.layers_per_h_cycle

    @classmethod
    def from_dict(cls, d: Dict) -> "RLMConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def from_yaml(cls, path: str) -> "RLMConfig":
        import yaml
        with open(path) as f:
            doc = yaml.safe_load(f)
        arch = doc.get("arch", doc)
        name = arch.get("name")
        if name is not None and name != ARCH_NAME:
            raise ValueError(f"{path}: arch.name {name!r}, expected {ARCH_NAME!r}")
        return cls.from_dict(arch)

    def to_yaml(self, path: str, extra: Optional[Dict] = None):
        import yaml
        doc = dict(extra or {})
        doc["arch"] = {"name": ARCH_NAME, **asdict(self)}
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        os.replace(tmp, path)


def normalize_halt_rule(rule: str) -> str:
    r = rule.replace(" ", "")
    if r not in ("q_halt>0", "q_halt>q_continue"):
        raise ValueError(f"halt_rule {rule!r}: expected 'q_halt>0' or 'q_halt>q_continue'")
    return r


def softplus_exact(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(min=0) + torch.log1p(torch.exp(-x.abs()))


def make_policy(policy: str, cfg: RLMConfig) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """'max' | 'qhead' (the config's halt_rule) | 'compare' | 'hazard:k,c,threshold'."""
    if policy == "max":
        return lambda qh, qc: torch.zeros_like(qh, dtype=torch.bool)
    if policy == "qhead":
        policy = "compare" if normalize_halt_rule(cfg.halt_rule) == "q_halt>q_continue" else "positive"
    if policy == "positive":
        return lambda qh, qc: qh > 0
    if policy == "compare":
        return lambda qh, qc: qh > qc
    if policy.startswith("hazard"):
        parts = policy.split(":", 1)
        k, c, thr = (1.0, 0.0, 0.5) if len(parts) == 1 else (float(v) for v in parts[1].split(","))
        if not (0 < thr < 1):
            raise ValueError("hazard threshold must be in (0, 1)")

        def hazard(qh, qc):
            s = softplus_exact(k * (qh.double() - c))
            return (-torch.expm1(-s)) >= thr
        return hazard
    raise ValueError(f"unknown halting policy {policy!r}")


class CausalSelfAttention(nn.Module):
    """Fused qkv_proj laid out [Q heads | K heads | V heads], RoPE on q and k, causal SDPA."""

    def __init__(self, hidden_size: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.qkv_proj = Linear(hidden_size, 3 * hidden_size, bias=False)
        self.o_proj = Linear(hidden_size, hidden_size, bias=False)

    def forward(self, x: torch.Tensor, rope, kv_hook: Optional[KVHook], vlayer: int) -> torch.Tensor:
        batch, seq, _ = x.shape
        qkv = self.qkv_proj(x).view(batch, seq, 3 * self.num_heads, self.head_dim)
        q = qkv[:, :, : self.num_heads]
        k = qkv[:, :, self.num_heads: 2 * self.num_heads]
        v = qkv[:, :, 2 * self.num_heads:]
        q, k = apply_rotary(q, k, *rope)
        if kv_hook is not None:
            k, v = kv_hook(vlayer, k, v)
        # seq == keys: causal over the sequence; one query (cached decoding): every key is <= it.
        causal = k.shape[1] == seq and seq > 1
        if k.shape[1] != seq and seq != 1:
            raise ValueError("queries must be the whole sequence or one position")
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        out = out.transpose(1, 2).reshape(batch, seq, self.num_heads * self.head_dim)
        return self.o_proj(out)


class RLMBlock(nn.Module):
    """Post-norm causal block: h = norm(h + attn(h)); h = norm(h + mlp(h)); weightless RMS norms."""

    def __init__(self, cfg: RLMConfig):
        super().__init__()
        self.eps = cfg.rms_norm_eps
        self.self_attn = CausalSelfAttention(cfg.hidden_size, cfg.num_heads)
        self.mlp = SwiGLU(cfg.hidden_size, cfg.expansion)

    def forward(self, h, rope, kv_hook, vlayer):
        h = rms_norm(h + self.self_attn(h, rope, kv_hook, vlayer), self.eps)
        return rms_norm(h + self.mlp(h), self.eps)


class RLMStack(nn.Module):
    """A stack of blocks; the injection is added once, before the first block."""

    def __init__(self, cfg: RLMConfig, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList([RLMBlock(cfg) for _ in range(num_layers)])

    def forward(self, hidden, injection, rope, kv_hook, first_vlayer: int):
        hidden = hidden + injection
        for i, layer in enumerate(self.layers):
            hidden = layer(hidden, rope, kv_hook, first_vlayer + i)
        return hidden


class MemoryBank(nn.Module):
    """memory_read(z) = o_proj(softmax(q_proj(z) k_proj(bank)^T / sqrt(D/heads)) v_proj(bank))."""

    def __init__(self, cfg: RLMConfig):
        super().__init__()
        d = cfg.hidden_size
        self.heads = cfg.memory_heads
        self.head_dim = d // cfg.memory_heads
        self.bank = nn.Parameter(trunc_normal_(torch.empty(cfg.memory_slots, d), std=1.0))
        self.q_proj = Linear(d, d, bias=False)
        self.k_proj = Linear(d, d, bias=False)
        self.v_proj = Linear(d, d, bias=False)
        self.o_proj = Linear(d, d, bias=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        batch, seq, d = z.shape
        slots = self.bank.shape[0]
        q = self.q_proj(z).view(batch, seq, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(self.bank).view(1, slots, self.heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(self.bank).view(1, slots, self.heads, self.head_dim).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1))
        return self.o_proj(out.transpose(1, 2).reshape(batch, seq, d))


class FrozenKV:
    """The halting rule for keys/values, as an attention hook over whole sequences.

    Per virtual layer it keeps the keys/values each position last computed. At a step with
    `active` [B, T] bool, k_used = where(active, k_new, k_frozen) (same for v), then
    k_frozen = k_used. The first step must have every position active (or `init` given).
    `detach` stores detached tensors (training across steps).
    """

    def __init__(self, detach: bool = False):
        self.detach = detach
        self.active: Optional[torch.Tensor] = None
        self.kv: Dict[int, Tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, vlayer: int, k: torch.Tensor, v: torch.Tensor):
        if self.active is not None and vlayer in self.kv:
            m = self.active[:, :, None, None]
            k0, v0 = self.kv[vlayer]
            k = torch.where(m, k, k0)
            v = torch.where(m, v, v0)
        self.kv[vlayer] = (k.detach(), v.detach()) if self.detach else (k, v)
        return k, v


class RecursiveLM(nn.Module):
    def __init__(self, cfg: RLMConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.hidden_size
        self.embed_scale = math.sqrt(d)
        self.embed_tokens = Embedding(cfg.vocab_size, d, init_std=1.0 / self.embed_scale)
        self.lm_head = Linear(d, cfg.vocab_size, bias=False)
        self.q_head = Linear(d, 2, bias=True)
        self.H_init = nn.Parameter(trunc_normal_(torch.empty(d), std=1.0))
        self.L_init = nn.Parameter(trunc_normal_(torch.empty(d), std=1.0))
        self.L_level = RLMStack(cfg, cfg.L_layers)
        if cfg.H_layers > 0:
            self.H_level = RLMStack(cfg, cfg.H_layers)
        if cfg.memory_slots > 0:
            self.memory = MemoryBank(cfg)
        with torch.no_grad():
            self.q_head.weight.zero_()
            self.q_head.bias.fill_(-5)
        self._rope: Dict[int, Tuple[torch.Tensor, torch.Tensor]] = {}

    # ---- pieces -------------------------------------------------------------------------
    def rope(self, positions: int):
        """cos/sin tables [positions, head_dim] over absolute positions 0 ..< positions."""
        have = max(self._rope) if self._rope else 0
        if have < positions:
            have = max(positions, 2 * have)
            self._rope = {have: rotary_cos_sin(have, self.cfg.hidden_size // self.cfg.num_heads, self.cfg.rope_theta)}
        cos, sin = self._rope[have]
        return cos[:positions], sin[:positions]

    def rope_at(self, position: int):
        cos, sin = self.rope(position + 1)
        return cos[position:position + 1], sin[position:position + 1]

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.embed_scale * self.embed_tokens(tokens)

    def initial_states(self, batch: int, positions: int):
        shape = (batch, positions, self.cfg.hidden_size)
        return self.H_init.expand(shape), self.L_init.expand(shape)

    def h_stack(self) -> RLMStack:
        return self.H_level if self.cfg.H_layers > 0 else self.L_level

    def act_step(self, z_H, z_L, x, rope, kv_hook: Optional[KVHook] = None, one_step_grad: bool = False):
        """One ACT step. one_step_grad: the first H_cycles-1 cycles run without gradient (TRM trick)."""
        cfg = self.cfg
        h_stack = self.h_stack()
        for h in range(cfg.H_cycles):
            base = h * cfg.layers_per_h_cycle
            ctx = torch.no_grad() if (one_step_grad and h < cfg.H_cycles - 1) else nullcontext()
            with ctx:
                for l in range(cfg.L_cycles):
                    z_L = self.L_level(z_L, z_H + x, rope, kv_hook, base + l * cfg.L_layers)
                z_H = h_stack(z_H, z_L, rope, kv_hook, base + cfg.L_cycles * cfg.L_layers)
                if cfg.memory_slots > 0:
                    z_H = z_H + self.memory(z_H)
        return z_H, z_L

    def heads(self, z_H):
        logits = self.lm_head(z_H)
        q = self.q_head(z_H)
        return logits, q[..., 0], q[..., 1]

    # ---- whole sequences ------------------------------------------------------------------
    def forward_fixed(self, tokens: torch.Tensor, steps: Optional[int] = None) -> Dict[str, List[torch.Tensor]]:
        """Every position runs every step (the training forward). Per-step logits [B,T,V], q [B,T]."""
        steps = steps or self.cfg.halt_max_steps
        batch, seq = tokens.shape
        x = self.embed(tokens)
        rope = self.rope(seq)
        z_H, z_L = self.initial_states(batch, seq)
        out: Dict[str, List[torch.Tensor]] = {"logits": [], "q_halt": [], "q_continue": []}
        for _ in range(steps):
            z_H, z_L = self.act_step(z_H, z_L, x, rope)
            logits, qh, qc = self.heads(z_H)
            out["logits"].append(logits)
            out["q_halt"].append(qh)
            out["q_continue"].append(qc)
        return out

    def forward_halting(self, tokens: torch.Tensor, policy: str = "qhead", max_steps: Optional[int] = None,
                        return_cache: bool = False) -> Dict:
        """The halting rule, all positions in parallel.

        Returns final logits [B,T,V] (each position's last step), steps [B,T] int64, per-step
        q_halt/q_continue lists [B,T] (values of halted positions are not meaningful), and with
        return_cache the keys/values every later position reads: cache[s][vlayer] = (k, v)
        [B,T,heads,head_dim] for the steps run (deeper steps, if any, equal the last one).
        """
        max_steps = max_steps or self.cfg.halt_max_steps
        halts = make_policy(policy, self.cfg)
        batch, seq = tokens.shape
        x = self.embed(tokens)
        rope = self.rope(seq)
        z_H, z_L = self.initial_states(batch, seq)
        active = torch.ones(batch, seq, dtype=torch.bool, device=tokens.device)
        steps = torch.zeros(batch, seq, dtype=torch.int64, device=tokens.device)
        final = None
        frozen = FrozenKV()
        out = {"q_halt": [], "q_continue": [], "cache": []}
        for s in range(max_steps):
            frozen.active = active
            new_H, new_L = self.act_step(z_H, z_L, x, rope, frozen)
            logits, qh, qc = self.heads(new_H)
            m = active[..., None]
            z_H = torch.where(m, new_H, z_H)
            z_L = torch.where(m, new_L, z_L)
            final = logits if final is None else torch.where(m, logits, final)
            steps = steps + active.long()
            out["q_halt"].append(qh)
            out["q_continue"].append(qc)
            if return_cache:
                out["cache"].append([frozen.kv[v] for v in range(self.cfg.virtual_layers)])
            stop = halts(qh, qc) | (s + 1 >= max_steps)
            active = active & ~stop
            if not bool(active.any()):
                break
        out["logits"] = final
        out["steps"] = steps
        if not return_cache:
            del out["cache"]
        return out

    # ---- generation -------------------------------------------------------------------------
    @torch.no_grad()
    def generate_cached(self, prompt_ids: Sequence[int], n_new: int, policy: str = "qhead",
                        max_steps: Optional[int] = None) -> Tuple[List[int], List[int]]:
        """Greedy generation with a KV cache per (ACT step, virtual layer).

        The prompt is evaluated in parallel (forward_halting), then one token at a time. Returns
        the n_new generated ids and the ACT steps of every evaluated position
        (len(prompt) + n_new - 1 of them).
        """
        max_steps = max_steps or self.cfg.halt_max_steps
        halts = make_policy(policy, self.cfg)
        nvl = self.cfg.virtual_layers
        prompt = torch.tensor([list(prompt_ids)], dtype=torch.long)
        res = self.forward_halting(prompt, policy, max_steps, return_cache=True)
        # cache[s][v] = [k, v] tensors [1, t, heads, head_dim]
        cache = [[list(kv) for kv in step] for step in res["cache"]]
        steps_out = res["steps"][0].tolist()
        generated: List[int] = []
        next_id = int(res["logits"][0, -1].argmax())
        pos = prompt.shape[1]
        while True:
            generated.append(next_id)
            if len(generated) == n_new:
                break
            x = self.embed(torch.tensor([[next_id]], dtype=torch.long))
            rope = self.rope_at(pos)
            z_H, z_L = self.initial_states(1, 1)
            taken = max_steps
            logits = None
            for s in range(max_steps):
                if len(cache) <= s:
                    # Every earlier position halted before step s: its entries are those of step s-1,
                    # without this token's own step s-1 entry (the last row), which step s replaces.
                    cache.append([[k[:, :-1], v[:, :-1]] for k, v in cache[s - 1]])
                entries = cache[s]

                def hook(v, k, vv, entries=entries):
                    entries[v][0] = torch.cat([entries[v][0], k], dim=1)
                    entries[v][1] = torch.cat([entries[v][1], vv], dim=1)
                    return entries[v][0], entries[v][1]

                z_H, z_L = self.act_step(z_H, z_L, x, rope, hook)
                logits, qh, qc = self.heads(z_H)
                if bool(halts(qh, qc)[0, 0]) or s + 1 >= max_steps:
                    taken = s + 1
                    break
            # Deeper steps that exist read this position's last computed keys/values.
            for s in range(taken, len(cache)):
                for v in range(nvl):
                    last_k, last_v = cache[taken - 1][v][0][:, -1:], cache[taken - 1][v][1][:, -1:]
                    cache[s][v][0] = torch.cat([cache[s][v][0], last_k], dim=1)
                    cache[s][v][1] = torch.cat([cache[s][v][1], last_v], dim=1)
            steps_out.append(taken)
            next_id = int(logits[0, -1].argmax())
            pos += 1
        return generated, steps_out

    @torch.no_grad()
    def generate_recompute(self, prompt_ids: Sequence[int], n_new: int, policy: str = "qhead",
                           max_steps: Optional[int] = None) -> Tuple[List[int], List[int]]:
        """Greedy generation re-running forward_halting over the whole sequence for every token."""
        ids = list(prompt_ids)
        generated: List[int] = []
        steps: List[int] = []
        for _ in range(n_new):
            res = self.forward_halting(torch.tensor([ids], dtype=torch.long), policy, max_steps)
            steps = res["steps"][0].tolist()
            nxt = int(res["logits"][0, -1].argmax())
            generated.append(nxt)
            ids.append(nxt)
        return generated, steps


# ---- files ----------------------------------------------------------------------------------

def state_dict_for_save(model: RecursiveLM, prefix: str = SAVE_PREFIX) -> "OrderedDict[str, torch.Tensor]":
    return OrderedDict((prefix + k, v.detach().clone().contiguous()) for k, v in model.state_dict().items())


def strip_rlm_prefix(state: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], str]:
    for p in KEY_PREFIXES:
        if state and all(k.startswith(p) for k in state):
            return {k[len(p):]: v for k, v in state.items()}, p
    return dict(state), ""


def save_rlm(model: RecursiveLM, out_dir: str, extra_config: Optional[Dict] = None,
             name: str = "checkpoint.pt"):
    """DIR/checkpoint.pt (torch.save of an OrderedDict with keys model.inner.*) and DIR/all_config.yaml."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    torch.save(state_dict_for_save(model), path + ".tmp")
    os.replace(path + ".tmp", path)
    model.cfg.to_yaml(os.path.join(out_dir, "all_config.yaml"), extra_config)
    return path


def load_rlm(path: str, config_path: Optional[str] = None) -> Tuple[RecursiveLM, RLMConfig]:
    """A checkpoint file (torch.save state_dict or .safetensors) or a directory holding checkpoint.pt."""
    if os.path.isdir(path):
        for name in ("checkpoint.pt", "model.safetensors", "checkpoint.safetensors"):
            if os.path.isfile(os.path.join(path, name)):
                path = os.path.join(path, name)
                break
        else:
            raise FileNotFoundError(f"{path}: no checkpoint.pt / *.safetensors")
    config_path = config_path or os.path.join(os.path.dirname(path), "all_config.yaml")
    cfg = RLMConfig.from_yaml(config_path)
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        state = load_file(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    state, _ = strip_rlm_prefix(state)
    state = {k: v.to(torch.float32) for k, v in state.items()}
    model = RecursiveLM(cfg)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, cfg


# ---- self-check -----------------------------------------------------------------------------

def random_model(cfg: RLMConfig, seed: int = 0, q_std: float = 1.0, q_bias: float = 0.0) -> RecursiveLM:
    """Random-init model with a q-head that halts at varied steps."""
    torch.manual_seed(seed)
    model = RecursiveLM(cfg)
    with torch.no_grad():
        trunc_normal_(model.q_head.weight, std=q_std / math.sqrt(cfg.hidden_size))
        model.q_head.bias.copy_(torch.tensor([q_bias, 0.0]))
    return model.eval()


@torch.no_grad()
def self_check(verbose: bool = True) -> bool:
    import tempfile
    torch.set_num_threads(min(2, torch.get_num_threads()))
    configs = {
        "trm_memory": RLMConfig(vocab_size=97, hidden_size=64, num_heads=4, H_cycles=2, L_cycles=2, L_layers=2,
                                halt_max_steps=4, seq_len=64, memory_slots=16, memory_heads=4),
        "hrm": RLMConfig(vocab_size=97, hidden_size=64, num_heads=4, H_cycles=2, L_cycles=2, L_layers=1,
                         H_layers=2, halt_max_steps=5, seq_len=64, halt_rule="q_halt>q_continue"),
        "hrm_memory": RLMConfig(vocab_size=61, hidden_size=32, num_heads=2, H_cycles=1, L_cycles=3, L_layers=1,
                                H_layers=1, halt_max_steps=3, seq_len=64, memory_slots=8, memory_heads=2),
    }
    ok = True

    def report(name, good, detail=""):
        nonlocal ok
        ok &= bool(good)
        if verbose:
            print(f"{'ok  ' if good else 'FAIL'} {name} {detail}")

    for name, cfg in configs.items():
        model = random_model(cfg, seed=1, q_std=2.0, q_bias=0.3)
        gen = torch.Generator().manual_seed(2)
        tokens = torch.randint(0, cfg.vocab_size, (3, 24), generator=gen)
        fixed = model.forward_fixed(tokens, cfg.halt_max_steps)
        hmax = model.forward_halting(tokens, "max")
        d = (fixed["logits"][-1] - hmax["logits"]).abs().max().item()
        report(f"{name}: halting 'max' == fixed last step", d == 0 and bool((hmax["steps"] == cfg.halt_max_steps).all()),
               f"max|d|={d:.2e}")
        for policy in ("qhead", "compare", "hazard:2,0.5,0.6"):
            h = model.forward_halting(tokens, policy)
            hist = torch.bincount(h["steps"].flatten(), minlength=cfg.halt_max_steps + 1)[1:].tolist()
            # Causality: a prefix gives the same steps and logits.
            p = model.forward_halting(tokens[:, :13], policy)
            dp = (p["logits"] - h["logits"][:, :13]).abs().max().item()
            same = bool((p["steps"] == h["steps"][:, :13]).all())
            report(f"{name}: {policy} prefix-causal", same and dp < 1e-4, f"steps hist {hist} max|d|={dp:.1e}")
            prompt = tokens[0, :9].tolist()
            ids_c, st_c = model.generate_cached(prompt, 12, policy)
            ids_r, st_r = model.generate_recompute(prompt, 12, policy)
            report(f"{name}: {policy} cached == recompute", ids_c == ids_r and st_c == st_r,
                   f"steps {st_c}")
            if ids_c != ids_r or st_c != st_r:
                print("   cached   ", ids_c, st_c, "\n   recompute", ids_r, st_r)
        # Halting with a varied policy differs from fixed depth (the check is not vacuous).
        with tempfile.TemporaryDirectory() as tmp:
            save_rlm(model, tmp, {"note": "self-check"})
            loaded, lcfg = load_rlm(tmp)
            keys = list(torch.load(os.path.join(tmp, "checkpoint.pt"), weights_only=True).keys())
            same = all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
            report(f"{name}: save/load round trip", same and lcfg == cfg and all(k.startswith(SAVE_PREFIX) for k in keys),
                   f"{len(keys)} keys")
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if self_check() else 1)
