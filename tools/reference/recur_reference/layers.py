"""Building blocks with the official TRM/HRM parameter names, so state_dicts load strictly.

Every operation mirrors the order of floating-point operations of the official
`models/layers.py` (SamsungSAILMontreal/TinyRecursiveModels), because the point of this
package is to reproduce official outputs token for token, not merely approximately.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def swiglu_width(hidden_size: int, expansion: float) -> int:
    """Inner SwiGLU width: round(expansion * hidden * 2/3) rounded up to a multiple of 256."""
    inter = round(expansion * hidden_size * 2 / 3)
    return -(inter // -256) * 256


def trunc_normal_(tensor: torch.Tensor, std: float, lower: float = -2.0, upper: float = 2.0) -> torch.Tensor:
    """JAX-style truncated normal whose *actual* std is `std` (the official init)."""
    with torch.no_grad():
        if std == 0:
            return tensor.zero_()
        sqrt2 = math.sqrt(2)
        a = math.erf(lower / sqrt2)
        b = math.erf(upper / sqrt2)
        z = (b - a) / 2
        c = (2 * math.pi) ** -0.5
        pdf_u = c * math.exp(-0.5 * lower ** 2)
        pdf_l = c * math.exp(-0.5 * upper ** 2)
        comp_std = std / math.sqrt(1 - (upper * pdf_u - lower * pdf_l) / z - ((pdf_u - pdf_l) / z) ** 2)
        tensor.uniform_(a, b)
        tensor.erfinv_()
        tensor.mul_(sqrt2 * comp_std)
        tensor.clip_(lower * comp_std, upper * comp_std)
    return tensor


def rms_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Weightless RMS norm over the last axis, computed in float32 like the official code."""
    dtype = x.dtype
    x = x.to(torch.float32)
    variance = x.square().mean(-1, keepdim=True)
    x = x * torch.rsqrt(variance + eps)
    return x.to(dtype)


class Linear(nn.Module):
    """Bias-optional linear layer; parameter names match official `CastedLinear`."""

    def __init__(self, in_features: int, out_features: int, bias: bool):
        super().__init__()
        self.weight = nn.Parameter(trunc_normal_(torch.empty(out_features, in_features), std=1.0 / in_features ** 0.5))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias.to(x.dtype) if self.bias is not None else None
        return F.linear(x, self.weight.to(x.dtype), bias=bias)


class Embedding(nn.Module):
    """Lookup table; the parameter is called `embedding_weight` as in official `CastedEmbedding`."""

    def __init__(self, num_embeddings: int, embedding_dim: int, init_std: float):
        super().__init__()
        self.embedding_weight = nn.Parameter(trunc_normal_(torch.empty(num_embeddings, embedding_dim), std=init_std))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.embedding_weight)


class PuzzleEmbedding(nn.Module):
    """Per-puzzle vector table stored as the persistent buffer `weights`.

    Official `CastedSparseEmbedding` also owns `local_weights` and `local_ids` buffers used only
    for its sparse optimizer; they are non-persistent, so they are not in checkpoints and are
    left out here.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int):
        super().__init__()
        self.register_buffer("weights", torch.zeros(num_embeddings, embedding_dim), persistent=True)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.weights[ids]


def rotary_cos_sin(positions: int, head_dim: int, theta: float, device=None):
    """cos/sin tables [positions, head_dim] in float32, rotate-half layout (freqs repeated twice)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim))
    t = torch.arange(positions, dtype=torch.float32, device=device)
    freqs = torch.outer(t, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
    """q, k: [B, S, H, D]; cos, sin: [S, D]. Computed in the tables' dtype (float32)."""
    dtype = q.dtype
    q = q.to(cos.dtype)
    k = k.to(cos.dtype)
    cos = cos.unsqueeze(-2)
    sin = sin.unsqueeze(-2)
    q_out = (q * cos) + (rotate_half(q) * sin)
    k_out = (k * cos) + (rotate_half(k) * sin)
    return q_out.to(dtype), k_out.to(dtype)


class Attention(nn.Module):
    """Non-causal multi-head attention with a fused QKV projection laid out [Q heads | K heads | V heads]."""

    def __init__(self, hidden_size: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.qkv_proj = Linear(hidden_size, 3 * num_heads * self.head_dim, bias=False)
        self.o_proj = Linear(num_heads * self.head_dim, hidden_size, bias=False)

    def forward(self, x: torch.Tensor, cos_sin) -> torch.Tensor:
        batch, seq, _ = x.shape
        qkv = self.qkv_proj(x).view(batch, seq, 3 * self.num_heads, self.head_dim)
        q = qkv[:, :, : self.num_heads]
        k = qkv[:, :, self.num_heads: 2 * self.num_heads]
        v = qkv[:, :, 2 * self.num_heads:]
        if cos_sin is not None:
            q, k = apply_rotary(q, k, *cos_sin)
        # Same [B, H, S, D] strided views as the official einops rearrange, so SDPA picks the
        # same kernel and accumulation order.
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=False)
        out = out.transpose(1, 2).reshape(batch, seq, self.num_heads * self.head_dim)
        return self.o_proj(out)


class SwiGLU(nn.Module):
    """silu(gate) * up with gate and up fused in one projection: first half gate, second half up."""

    def __init__(self, hidden_size: int, expansion: float):
        super().__init__()
        inter = swiglu_width(hidden_size, expansion)
        self.gate_up_proj = Linear(hidden_size, 2 * inter, bias=False)
        self.down_proj = Linear(inter, hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)
