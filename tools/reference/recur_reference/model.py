"""TRM and HRM inner models, mirroring the official module tree and forward pass.

Module and buffer names, registration order (which fixes state_dict key order) and the order of
floating-point operations follow official `trm.py` / `hrm.py`. Everything runs in float32: the
official code at forward_dtype=float32 casts nothing, so no casts appear here either.
"""
import math
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .config import ArchConfig
from .layers import Attention, Embedding, Linear, PuzzleEmbedding, SwiGLU, rms_norm, rotary_cos_sin, trunc_normal_


class Block(nn.Module):
    """Post-norm block: x = norm(x + mixer(x)); x = norm(x + mlp(x)).

    The mixer is self-attention, or for mlp_t a SwiGLU across positions; in the mlp_t case the
    norm after it also runs across positions, because the official code normalizes before
    transposing back.
    """

    def __init__(self, cfg: ArchConfig):
        super().__init__()
        self.eps = cfg.rms_norm_eps
        self.use_mlp_t = cfg.mlp_t
        if cfg.mlp_t:
            if cfg.seq_len is None:
                raise ValueError("mlp_t needs seq_len")
            self.mlp_t = SwiGLU(cfg.seq_len + cfg.puzzle_emb_len, cfg.expansion)
        else:
            self.self_attn = Attention(cfg.hidden_size, cfg.num_heads)
        self.mlp = SwiGLU(cfg.hidden_size, cfg.expansion)

    def forward(self, x: torch.Tensor, cos_sin) -> torch.Tensor:
        if self.use_mlp_t:
            x = x.transpose(1, 2)
            x = rms_norm(x + self.mlp_t(x), self.eps)
            x = x.transpose(1, 2)
        else:
            x = rms_norm(x + self.self_attn(x, cos_sin), self.eps)
        return rms_norm(x + self.mlp(x), self.eps)


class ReasoningModule(nn.Module):
    """A stack of blocks; the injection is added once, before the first block."""

    def __init__(self, cfg: ArchConfig, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList([Block(cfg) for _ in range(num_layers)])

    def forward(self, hidden: torch.Tensor, injection: torch.Tensor, cos_sin) -> torch.Tensor:
        hidden = hidden + injection
        for layer in self.layers:
            hidden = layer(hidden, cos_sin)
        return hidden


class Inner(nn.Module):
    """Embeddings, reasoning stacks, LM head and Q-head. Subclasses supply the recursion schedule."""

    def __init__(self, cfg: ArchConfig):
        super().__init__()
        if cfg.vocab_size is None:
            raise ValueError("vocab_size unknown")
        self.cfg = cfg
        hidden = cfg.hidden_size
        self.puzzle_emb_len = cfg.puzzle_emb_len
        self.embed_scale = math.sqrt(hidden)
        embed_std = 1.0 / self.embed_scale

        self.embed_tokens = Embedding(cfg.vocab_size, hidden, init_std=embed_std)
        self.lm_head = Linear(hidden, cfg.vocab_size, bias=False)
        self.q_head = Linear(hidden, 2, bias=True)
        if cfg.puzzle_emb_ndim > 0:
            self.puzzle_emb = PuzzleEmbedding(cfg.num_puzzle_identifiers or 1, cfg.puzzle_emb_ndim)
        if cfg.pos_encodings == "learned":
            if cfg.seq_len is None:
                raise ValueError("learned positions need seq_len")
            self.embed_pos = Embedding(cfg.seq_len + self.puzzle_emb_len, hidden, init_std=embed_std)
        self._build_levels(cfg)

        # Stored in checkpoints as bfloat16 (the training forward_dtype); loading copies them
        # into these float32 buffers exactly.
        self.register_buffer("H_init", trunc_normal_(torch.empty(hidden), std=1), persistent=True)
        self.register_buffer("L_init", trunc_normal_(torch.empty(hidden), std=1), persistent=True)
        with torch.no_grad():
            self.q_head.weight.zero_()
            self.q_head.bias.fill_(-5)
        self._rope_cache: Dict[tuple, tuple] = {}

    def _build_levels(self, cfg: ArchConfig):
        raise NotImplementedError

    def cos_sin(self, positions: int, device):
        if self.cfg.pos_encodings != "rope" or self.cfg.mlp_t:
            return None
        key = (positions, str(device))
        if key not in self._rope_cache:
            self._rope_cache[key] = rotary_cos_sin(positions, self.cfg.hidden_size // self.cfg.num_heads,
                                                   self.cfg.rope_theta, device=device)
        return self._rope_cache[key]

    def input_embeddings(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> torch.Tensor:
        """sqrt(hidden) * [puzzle rows (zero-padded to puzzle_emb_len rows) ; token embeddings]."""
        hidden = self.cfg.hidden_size
        embedding = self.embed_tokens(inputs.to(torch.int32))
        if self.cfg.puzzle_emb_ndim > 0:
            puzzle = self.puzzle_emb(puzzle_identifiers)
            pad = self.puzzle_emb_len * hidden - puzzle.shape[-1]
            if pad > 0:
                puzzle = F.pad(puzzle, (0, pad))
            embedding = torch.cat((puzzle.view(-1, self.puzzle_emb_len, hidden), embedding), dim=-2)
        if self.cfg.pos_encodings == "learned":
            # 0.707106781 is the literal the official code uses to keep the variance.
            embedding = 0.707106781 * (embedding + self.embed_pos.embedding_weight)
        return self.embed_scale * embedding

    def initial_states(self, batch: int, positions: int, device=None):
        shape = (batch, positions, self.cfg.hidden_size)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def reset(self, reset: torch.Tensor, z_H: torch.Tensor, z_L: torch.Tensor):
        flag = reset.view(-1, 1, 1)
        return torch.where(flag, self.H_init, z_H), torch.where(flag, self.L_init, z_L)

    def h_level(self):
        raise NotImplementedError

    def forward(self, z_H: torch.Tensor, z_L: torch.Tensor, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor,
                trace: Optional[Dict[str, torch.Tensor]] = None):
        """One ACT step of the inner model: returns (z_H, z_L, logits, q_halt, q_continue)."""
        x = self.input_embeddings(inputs, puzzle_identifiers)
        if trace is not None:
            trace["input_embeddings"] = x.clone()
        cos_sin = self.cos_sin(x.shape[1], x.device)
        z_H, z_L = self.recurse(z_H, z_L, x, cos_sin, trace)
        logits = self.lm_head(z_H)[:, self.puzzle_emb_len:]
        q = self.q_head(z_H[:, 0]).to(torch.float32)
        return z_H, z_L, logits, q[..., 0], q[..., 1]

    def recurse(self, z_H, z_L, x, cos_sin, trace):
        """One ACT step's schedule: H_cycles x (L_cycles x z_L = L(z_L, z_H + x); z_H = H(z_H, z_L))."""
        h_level = self.h_level()
        for h in range(self.cfg.H_cycles):
            for l in range(self.cfg.L_cycles):
                z_L = self.L_level(z_L, z_H + x, cos_sin)
                if trace is not None:
                    trace[f"z_L.h{h}.l{l}"] = z_L.clone()
            z_H = h_level(z_H, z_L, cos_sin)
            if trace is not None:
                trace[f"z_H.h{h}"] = z_H.clone()
        return z_H, z_L


class TRMInner(Inner):
    """TRM: one stack (L_level) updates both states.

    Per ACT step: H_cycles times { L_cycles times z_L = L(z_L, z_H + x); z_H = L(z_H, z_L) }.
    (Officially the first H_cycles-1 run without gradient; the values are the same.)
    """

    def _build_levels(self, cfg):
        self.L_level = ReasoningModule(cfg, cfg.L_layers)

    def h_level(self):
        """The stack that updates z_H: TRM reuses its one L_level."""
        return self.L_level


class HRMInner(Inner):
    """HRM: separate stacks; H_level updates z_H once per H cycle from z_L.

    Per ACT step: H_cycles times { L_cycles times z_L = L_level(z_L, z_H + x); z_H = H_level(z_H, z_L) }.
    (Officially all but the last L and H call run without gradient; the sequence of calls is this one.)
    """

    def _build_levels(self, cfg):
        self.H_level = ReasoningModule(cfg, cfg.H_layers)
        self.L_level = ReasoningModule(cfg, cfg.L_layers)

    def h_level(self):
        return self.H_level


def make_inner(cfg: ArchConfig) -> Inner:
    return TRMInner(cfg) if cfg.family == "trm" else HRMInner(cfg)
