"""Plain float32 Llama forward from a llama.cpp GGUF file, with the attention controller of
docs/attention-controller.md.

Every tensor is dequantized with gguf.quants.dequantize, so PyTorch runs exactly the weights a
runtime runs, in float32. Layout as llama.cpp stores a `llama` file: attn_q / attn_k rows are
permuted by the converter so that RoPE rotates adjacent pairs (2i, 2i + 1) with
theta_i = pos * base^(-2i / head_dim) (llama.cpp's "norm" RoPE, not rotate-half). GQA: head h
reads KV head h // (n_head / n_head_kv). Scores are scaled by 1/sqrt(head_dim), softmax over the
positions 0 ... t in float32. The output projection is `output.weight`, or `token_embd.weight`
when the file has none (tied).

Hooks (both optional, per forward call):
- `AttnRecorder(layers)`: per recorded layer, the attention input x = rms_norm(h) * attn_norm.weight
  [B, T, D] and the attention probabilities actually used [B, n_head, T, T_keys] (after the
  injection, where one runs).
- `Injector`: per controlled layer a `Controller` and a `Gate`; inside attention, for the heads in
  the file's head list, P = the mixed attention of the doc (slot K mass spread in proportion to
  plain p; alpha = 0 leaves the row bit-identical). It records alpha per layer and token.

`LlamaModel.forward(tokens)` runs a whole sequence (or a batch of equal-length sequences, all
starting at position 0); `LlamaModel.generate` runs a prompt then one token at a time with a KV
cache (identical math: the same positions, the same per-row softmax and mixing).
"""
from dataclasses import dataclass, field
import math
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ---- config and loading ---------------------------------------------------------------------------

@dataclass
class LlamaConfig:
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ff: int
    vocab: int
    rope_base: float
    eps: float
    architecture: str = "llama"


def _field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        if default is None:
            raise KeyError(f"metadata key {key} missing")
        return default
    return f.contents()


def read_gguf_tensors(reader) -> Dict[str, torch.Tensor]:
    """Every tensor dequantized to float32, shaped as PyTorch [out, in] (ggml's ne reversed)."""
    from gguf import quants
    out = {}
    for t in reader.tensors:
        values = quants.dequantize(t.data, t.tensor_type)
        shape = [int(x) for x in reversed(t.shape.tolist())]
        out[t.name] = torch.from_numpy(np.array(values, dtype=np.float32).reshape(shape))  # a writable copy
    return out


def load_llama(path: str) -> "LlamaModel":
    from gguf import GGUFReader
    reader = GGUFReader(path)
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise ValueError(f"{path}: general.architecture {arch!r} is not llama")
    n_embd = int(_field(reader, "llama.embedding_length"))
    n_head = int(_field(reader, "llama.attention.head_count"))
    tensors = read_gguf_tensors(reader)
    cfg = LlamaConfig(
        n_layer=int(_field(reader, "llama.block_count")),
        n_embd=n_embd,
        n_head=n_head,
        n_head_kv=int(_field(reader, "llama.attention.head_count_kv", n_head)),
        head_dim=int(_field(reader, "llama.rope.dimension_count", n_embd // n_head)),
        n_ff=int(_field(reader, "llama.feed_forward_length")),
        vocab=int(tensors["token_embd.weight"].shape[0]),
        rope_base=float(_field(reader, "llama.rope.freq_base", 10000.0)),
        eps=float(np.float32(_field(reader, "llama.attention.layer_norm_rms_epsilon", 1e-5))),
    )
    return LlamaModel(cfg, tensors)


# ---- controller and gate --------------------------------------------------------------------------

class Controller(nn.Module):
    """c = fc2(layer_norm(relu(fc1(x)))): D -> C -> n * (K + 1) slot logits."""

    def __init__(self, d: int, n_heads: int, window: int, hidden: int = 512, eps: float = 1e-5):
        super().__init__()
        self.n, self.K = n_heads, window
        self.fc1 = nn.Linear(d, hidden)
        self.norm = nn.LayerNorm(hidden, eps=eps)
        self.fc2 = nn.Linear(hidden, n_heads * (window + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [..., D] -> slot logits [..., n, K + 1]."""
        c = self.fc2(self.norm(F.relu(self.fc1(x))))
        return c.view(*x.shape[:-1], self.n, self.K + 1)


def slot_valid(positions: torch.Tensor, window: int) -> torch.Tensor:
    """positions [T] (0-based) -> bool [T, K + 1]: slot i < K valid when t - i >= 0, slot K when t >= K."""
    i = torch.arange(window + 1, device=positions.device)
    t = positions.view(-1, 1)
    return torch.where(i < window, t - i >= 0, t >= window)


def slot_softmax(logits: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """softmax over valid slots, exactly 0 on invalid ones. logits [..., T, n, K+1], valid [T, K+1]."""
    v = valid.unsqueeze(-2)  # [T, 1, K+1]
    masked = logits.masked_fill(~v, float("-inf"))
    return torch.softmax(masked, dim=-1).masked_fill(~v, 0.0)


def slot_entropy(q: torch.Tensor) -> torch.Tensor:
    """-sum q log q over slots with q > 0 (nats). q [..., K+1] -> [...]."""
    pos = q > 0
    logq = torch.log(torch.where(pos, q, torch.ones_like(q)))
    return -(torch.where(pos, q * logq, torch.zeros_like(q))).sum(-1)


def gate_features(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """[x (D), entropy(q_h) for each head (n), max(q_h) for each head (n)]. x [..., D], q [..., n, K+1]."""
    return torch.cat([x, slot_entropy(q), q.max(dim=-1).values], dim=-1)


class Gate(nn.Module):
    """alpha = alpha_max * sigmoid(fc2(relu(fc1(f)))), f = gate_features(x, q)."""

    def __init__(self, d: int, n_heads: int, hidden: int = 64, alpha_max: float = 1.0):
        super().__init__()
        self.alpha_max = float(alpha_max)
        self.fc1 = nn.Linear(d + 2 * n_heads, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def logit(self, f: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(f))).squeeze(-1)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.alpha_max * torch.sigmoid(self.logit(f))


def fold_slots(p: torch.Tensor, positions: torch.Tensor, window: int) -> torch.Tensor:
    """Attention rows folded into K + 1 slots. p [..., Tq, Tk] over key positions 0 ... Tk - 1,
    positions [Tq] the queries' positions -> [..., Tq, K + 1]: slot i < K = p[t - i] (0 when
    t - i < 0), slot K = sum of p[j] over j <= t - K (0 when t < K)."""
    Tk = p.shape[-1]
    j = torch.arange(Tk, device=p.device)
    d = positions.view(-1, 1) - j.view(1, -1)  # [Tq, Tk]: t - j
    out = p.new_zeros(*p.shape[:-1], window + 1)
    idx = d.clamp(0, window).expand(p.shape)  # slot of each key; keys with d < 0 have p = 0
    contrib = torch.where((d >= 0), p, torch.zeros_like(p))
    out.scatter_add_(-1, idx, contrib)
    return out


def mix_attention(p: torch.Tensor, q: torch.Tensor, alpha: torch.Tensor, positions: torch.Tensor,
                  window: int) -> torch.Tensor:
    """The doc's injection for one layer's controlled heads.

    p [B, n, Tq, Tk] plain softmax rows (0 on future keys); q [B, Tq, n, K+1] controller slots;
    alpha [B, Tq]; positions [Tq] query positions. Returns P [B, n, Tq, Tk]:
      P_j = (1 - a) p_j + a q[t - j]           t - K < j <= t
      P_j = p_j ((1 - a) + a q[K] / S)         j <= t - K, S = sum of those p_j > 0
      P_j = (1 - a) p_j                        j <= t - K, S = 0
    rows with alpha == 0 are returned unchanged (bit-identical)."""
    K = window
    Tk = p.shape[-1]
    j = torch.arange(Tk, device=p.device)
    d = positions.view(-1, 1) - j.view(1, -1)  # [Tq, Tk]
    in_win = (d >= 0) & (d < K)
    before = d >= K
    qs = q.permute(0, 2, 1, 3)  # [B, n, Tq, K+1]
    qg = torch.gather(qs, -1, d.clamp(0, K).expand(*p.shape[:2], *d.shape))  # q[t - j] (slot K for before)
    a = alpha.view(alpha.shape[0], 1, -1, 1)  # [B, 1, Tq, 1]
    one_m = 1.0 - a
    S = torch.where(before, p, torch.zeros_like(p)).sum(-1, keepdim=True)  # [B, n, Tq, 1]
    S_pos = S > 0
    scale = torch.where(S_pos, one_m + a * qs[..., K:K + 1] / torch.where(S_pos, S, torch.ones_like(S)), one_m)
    mixed = torch.where(in_win, one_m * p + a * qg, torch.where(before, p * scale, torch.zeros_like(p)))
    return torch.where(a > 0, mixed, p)


class LayerControl(nn.Module):
    def __init__(self, controller: Controller, gate: Gate):
        super().__init__()
        self.controller = controller
        self.gate = gate


class Injector:
    """Controllers and gates for the controlled layers; applies the doc's injection.

    layers: controlled layer indices; heads: controlled head indices (same for every layer);
    window K; alpha_max overrides every gate's when given. Records alpha [B, T] per layer in
    self.alpha (concatenated along T over incremental calls)."""

    def __init__(self, controls: Dict[int, LayerControl], heads: Sequence[int], window: int,
                 alpha_max: Optional[float] = None, enabled: bool = True):
        self.controls = controls
        self.heads = list(heads)
        self.window = int(window)
        self.alpha_max = alpha_max
        self.enabled = enabled
        self.alpha: Dict[int, List[torch.Tensor]] = {l: [] for l in controls}
        self.q: Dict[int, List[torch.Tensor]] = {l: [] for l in controls}
        self.keep_q = False

    def reset(self):
        self.alpha = {l: [] for l in self.controls}
        self.q = {l: [] for l in self.controls}

    def alphas(self, layer: int) -> torch.Tensor:
        return torch.cat(self.alpha[layer], dim=-1)

    def slots(self, layer: int, x: torch.Tensor, positions: torch.Tensor):
        """-> (q [B, T, n, K+1], alpha [B, T]) for the attention input x [B, T, D]."""
        ctl = self.controls[layer]
        valid = slot_valid(positions, self.window)
        q = slot_softmax(ctl.controller(x), valid)
        z = ctl.gate.logit(gate_features(x, q))
        amax = ctl.gate.alpha_max if self.alpha_max is None else float(self.alpha_max)
        alpha = amax * torch.sigmoid(z)
        return q, alpha

    def apply(self, layer: int, x: torch.Tensor, p: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """p [B, n_head, Tq, Tk] plain attention -> attention with the controlled heads mixed."""
        if not self.enabled or layer not in self.controls:
            return p
        q, alpha = self.slots(layer, x, positions)
        self.alpha[layer].append(alpha.detach())
        if self.keep_q:
            self.q[layer].append(q.detach())
        hs = self.heads
        mixed = mix_attention(p[:, hs], q, alpha, positions, self.window)
        out = p.clone()
        out[:, hs] = mixed
        return out


class AttnRecorder:
    """Per recorded layer: x [B, T, D] and the attention used, probs [B, n_head, T, T]."""

    def __init__(self, layers: Optional[Sequence[int]] = None, keep_x: bool = True, keep_probs: bool = True,
                 fold_window: Optional[int] = None):
        self.layers = None if layers is None else set(layers)
        self.keep_x, self.keep_probs = keep_x, keep_probs
        self.fold_window = fold_window  # when set, probs are stored folded into slots [B, n_head, T, K+1]
        self.x: Dict[int, torch.Tensor] = {}
        self.probs: Dict[int, torch.Tensor] = {}

    def wants(self, layer: int) -> bool:
        return self.layers is None or layer in self.layers

    def record(self, layer: int, x: torch.Tensor, p: torch.Tensor, positions: torch.Tensor):
        if not self.wants(layer):
            return
        if self.keep_x:
            self.x[layer] = x.detach()
        if self.keep_probs:
            self.probs[layer] = (p if self.fold_window is None else fold_slots(p, positions, self.fold_window)).detach()


# ---- the model ------------------------------------------------------------------------------------

def rms_norm(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


class LlamaModel:
    def __init__(self, cfg: LlamaConfig, tensors: Dict[str, torch.Tensor]):
        self.cfg = cfg
        self.t = tensors
        self.embd = tensors["token_embd.weight"]
        self.output = tensors.get("output.weight", self.embd)
        self.out_norm = tensors["output_norm.weight"]
        self.blocks = []
        for l in range(cfg.n_layer):
            g = lambda n: tensors[f"blk.{l}.{n}.weight"]  # noqa: E731
            self.blocks.append({
                "attn_norm": g("attn_norm"), "wq": g("attn_q"), "wk": g("attn_k"), "wv": g("attn_v"),
                "wo": g("attn_output"), "ffn_norm": g("ffn_norm"), "gate": g("ffn_gate"),
                "up": g("ffn_up"), "down": g("ffn_down"),
            })
        hd = cfg.head_dim
        # theta_i = base^(-2i/hd), in float64 then float32 cos/sin of pos * theta_i
        self.inv_freq = torch.tensor([cfg.rope_base ** (-2.0 * i / hd) for i in range(hd // 2)], dtype=torch.float64)

    def rope_tables(self, positions: torch.Tensor):
        ang = positions.to(torch.float64).view(-1, 1) * self.inv_freq.view(1, -1)  # [T, hd/2]
        return torch.cos(ang).to(torch.float32), torch.sin(ang).to(torch.float32)

    @staticmethod
    def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """x [B, H, T, hd]; rotates adjacent pairs (2i, 2i + 1)."""
        x0, x1 = x[..., 0::2], x[..., 1::2]
        r0 = x0 * cos - x1 * sin
        r1 = x0 * sin + x1 * cos
        return torch.stack([r0, r1], dim=-1).flatten(-2)

    def _layer(self, l: int, h: torch.Tensor, positions: torch.Tensor, cos, sin, cache, recorder, injector):
        cfg = self.cfg
        b = self.blocks[l]
        B, T, D = h.shape
        hd, nh, nkv = cfg.head_dim, cfg.n_head, cfg.n_head_kv
        x = rms_norm(h, b["attn_norm"], cfg.eps)
        q = (x @ b["wq"].T).view(B, T, nh, hd).transpose(1, 2)
        k = (x @ b["wk"].T).view(B, T, nkv, hd).transpose(1, 2)
        v = (x @ b["wv"].T).view(B, T, nkv, hd).transpose(1, 2)
        q = self.apply_rope(q, cos, sin)
        k = self.apply_rope(k, cos, sin)
        if cache is not None:
            if l in cache:
                k = torch.cat([cache[l][0], k], dim=2)
                v = torch.cat([cache[l][1], v], dim=2)
            cache[l] = (k, v)
        group = nh // nkv
        kk = k.repeat_interleave(group, dim=1)  # head h reads KV head h // group
        vv = v.repeat_interleave(group, dim=1)
        Tk = kk.shape[2]
        scores = (q @ kk.transpose(-1, -2)) * (1.0 / math.sqrt(hd))
        j = torch.arange(Tk)
        future = j.view(1, -1) > positions.view(-1, 1)
        scores = scores.masked_fill(future, float("-inf"))
        p = torch.softmax(scores, dim=-1)
        if injector is not None:
            p = injector.apply(l, x, p, positions)
        if recorder is not None:
            recorder.record(l, x, p, positions)
        o = (p @ vv).transpose(1, 2).reshape(B, T, nh * hd)
        h = h + o @ b["wo"].T
        y = rms_norm(h, b["ffn_norm"], cfg.eps)
        h = h + (F.silu(y @ b["gate"].T) * (y @ b["up"].T)) @ b["down"].T
        return h

    @torch.no_grad()
    def forward(self, tokens, recorder: Optional[AttnRecorder] = None, injector: Optional[Injector] = None,
                logits: bool = True, cache: Optional[dict] = None, start: int = 0, last_layer: Optional[int] = None):
        """tokens: [T] or [B, T] ids at positions start ... start + T - 1 -> logits [T, V] / [B, T, V]
        (or None with logits=False). cache: dict layer -> (k, v) extended in place (KV cache).
        last_layer: stop after that layer (no logits)."""
        tokens = torch.as_tensor(tokens, dtype=torch.long)
        single = tokens.dim() == 1
        if single:
            tokens = tokens.unsqueeze(0)
        T = tokens.shape[1]
        positions = torch.arange(start, start + T)
        cos, sin = self.rope_tables(positions)
        h = self.embd[tokens]
        n = self.cfg.n_layer if last_layer is None else last_layer + 1
        for l in range(n):
            h = self._layer(l, h, positions, cos, sin, cache, recorder, injector)
        if not logits or last_layer is not None:
            return None
        out = rms_norm(h, self.out_norm, self.cfg.eps) @ self.output.T
        return out[0] if single else out

    __call__ = forward

    @torch.no_grad()
    def generate(self, prompt: Sequence[int], n: int, injector: Optional[Injector] = None,
                 stop: Optional[Sequence[int]] = None) -> List[int]:
        """Greedy (argmax, lowest id on ties) with a KV cache: the prompt in one call, then one token per call."""
        cache: dict = {}
        ids = list(prompt)
        logits = self.forward(torch.tensor(ids), injector=injector, cache=cache, start=0)
        out = []
        pos = len(ids)
        for step in range(n):
            nxt = int(torch.argmax(logits[-1]).item())
            out.append(nxt)
            if stop is not None and nxt in stop:
                break
            if step == n - 1:
                break
            logits = self.forward(torch.tensor([nxt]), injector=injector, cache=cache, start=pos)
            pos += 1
        return out


# ---- controller files -----------------------------------------------------------------------------

@dataclass
class ControlConfig:
    layers: List[int]
    heads: List[int]
    window: int = 32
    alpha_max: float = 1.0
    C: int = 512
    G: int = 64
    eps: float = 1e-5
    d: int = 576
    n_head: int = 9
    n_layer: int = 30
    target_architecture: str = "llama"
    extra: dict = field(default_factory=dict)


def build_controls(cc: ControlConfig) -> Dict[int, LayerControl]:
    n = len(cc.heads)
    return {l: LayerControl(Controller(cc.d, n, cc.window, cc.C, cc.eps), Gate(cc.d, n, cc.G, cc.alpha_max))
            for l in cc.layers}


CTRL_ARCH = "attn_controller"


def write_controller_gguf(path: str, cc: ControlConfig, controls: Dict[int, LayerControl], dtype: str = "f32"):
    """The companion GGUF of docs/attention-controller.md (numpy [out, in]; the writer records ggml's ne)."""
    import gguf
    np_dtype = {"f32": np.float32, "f16": np.float16}[dtype]
    w = gguf.GGUFWriter(path, CTRL_ARCH)
    p = CTRL_ARCH + "."
    w.add_string(p + "target.architecture", cc.target_architecture)
    w.add_uint32(p + "target.embedding_length", cc.d)
    w.add_uint32(p + "target.head_count", cc.n_head)
    w.add_uint32(p + "target.block_count", cc.n_layer)
    u32 = gguf.GGUFValueType.UINT32
    w.add_key_value(p + "layers", [int(x) for x in sorted(cc.layers)], gguf.GGUFValueType.ARRAY, sub_type=u32)
    w.add_key_value(p + "heads", [int(x) for x in cc.heads], gguf.GGUFValueType.ARRAY, sub_type=u32)
    w.add_uint32(p + "window", cc.window)
    w.add_float32(p + "alpha_max", float(cc.alpha_max))
    w.add_float32(p + "layer_norm_epsilon", float(cc.eps))
    w.add_file_type(0 if dtype == "f32" else 1)  # general.file_type: 0 ALL_F32, 1 MOSTLY_F16
    for l in sorted(cc.layers):
        c = controls[l]
        parts = {
            f"ctl.{l}.fc1.weight": c.controller.fc1.weight, f"ctl.{l}.fc1.bias": c.controller.fc1.bias,
            f"ctl.{l}.norm.weight": c.controller.norm.weight, f"ctl.{l}.norm.bias": c.controller.norm.bias,
            f"ctl.{l}.fc2.weight": c.controller.fc2.weight, f"ctl.{l}.fc2.bias": c.controller.fc2.bias,
            f"gate.{l}.fc1.weight": c.gate.fc1.weight, f"gate.{l}.fc1.bias": c.gate.fc1.bias,
            f"gate.{l}.fc2.weight": c.gate.fc2.weight, f"gate.{l}.fc2.bias": c.gate.fc2.bias,
        }
        for name, t in parts.items():
            a = t.detach().cpu().numpy()
            # f16: the matrices in F16, biases and norm vectors stay F32 (llama.cpp's convention)
            w.add_tensor(name, np.ascontiguousarray(a.astype(np_dtype if a.ndim == 2 else np.float32)))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _short_float(value) -> float:
    """A float32 from the file as the shortest decimal with the same float32 (1e-05, not 9.99999974e-06)."""
    short = float(f"{float(value):.7g}")
    return short if np.float32(short) == np.float32(value) else float(value)


def _u32_list(reader, key):
    f = reader.fields[key]
    return [int(x) for x in f.contents()]


def load_controller_gguf(path: str):
    """-> (ControlConfig, controls) from a companion GGUF."""
    from gguf import GGUFReader
    reader = GGUFReader(path)
    if _field(reader, "general.architecture") != CTRL_ARCH:
        raise ValueError(f"{path}: not an {CTRL_ARCH} file")
    p = CTRL_ARCH + "."
    tensors = read_gguf_tensors(reader)
    layers = _u32_list(reader, p + "layers")
    heads = _u32_list(reader, p + "heads")
    l0 = layers[0]
    C, D = tensors[f"ctl.{l0}.fc1.weight"].shape
    G = tensors[f"gate.{l0}.fc1.weight"].shape[0]
    cc = ControlConfig(
        layers=layers, heads=heads, window=int(_field(reader, p + "window")),
        alpha_max=float(_field(reader, p + "alpha_max")), C=int(C), G=int(G),
        eps=_short_float(_field(reader, p + "layer_norm_epsilon")), d=int(D),
        n_head=int(_field(reader, p + "target.head_count")), n_layer=int(_field(reader, p + "target.block_count")),
        target_architecture=str(_field(reader, p + "target.architecture")),
    )
    if D != int(_field(reader, p + "target.embedding_length")):
        raise ValueError(f"{path}: fc1 input {D} != target.embedding_length")
    controls = build_controls(cc)
    for l, c in controls.items():
        sd = {
            "controller.fc1.weight": tensors[f"ctl.{l}.fc1.weight"], "controller.fc1.bias": tensors[f"ctl.{l}.fc1.bias"],
            "controller.norm.weight": tensors[f"ctl.{l}.norm.weight"], "controller.norm.bias": tensors[f"ctl.{l}.norm.bias"],
            "controller.fc2.weight": tensors[f"ctl.{l}.fc2.weight"], "controller.fc2.bias": tensors[f"ctl.{l}.fc2.bias"],
            "gate.fc1.weight": tensors[f"gate.{l}.fc1.weight"], "gate.fc1.bias": tensors[f"gate.{l}.fc1.bias"],
            "gate.fc2.weight": tensors[f"gate.{l}.fc2.weight"].reshape(1, -1), "gate.fc2.bias": tensors[f"gate.{l}.fc2.bias"].reshape(1),
        }
        c.load_state_dict(sd, strict=True)
        c.eval()
    return cc, controls
