"""Halting heads ("Q-heads") over the Q-head input z_H[:, 0] of each ACT step.

Every head maps a sequence of states [B, T, hidden] to logits [B, T, 2] (0 = halt, 1 = continue),
step t seeing only steps <= t. state_dict keys are the layout `recur export --qhead` reads
(docs/qheads.md):
  linear     proj.weight [2, H], proj.bias [2]
  mlp        fc1.weight [h, H], fc1.bias [h], fc2.weight [2, h], fc2.bias [2]   (ReLU or SiLU)
  gru        inp.weight [128, H] (no bias), gru.{weight_ih_l0, weight_hh_l0} [384, 128],
             gru.{bias_ih_l0, bias_hh_l0} [384], out.weight [2, 128], out.bias [2]
  attention  q.weight, k.weight, v.weight [d, H] (no bias), out.weight [2, d], out.bias [2];
             4 heads, memory of the last 8 steps including the current one
"""
import math

import torch
from torch import nn
import torch.nn.functional as F


class LinearHead(nn.Module):
    kind = "linear"

    def __init__(self, hidden):
        super().__init__()
        self.proj = nn.Linear(hidden, 2)

    def forward(self, states):
        return self.proj(states)


class MLPHead(nn.Module):
    kind = "mlp"

    def __init__(self, hidden, width=64, activation="relu"):
        super().__init__()
        self.fc1 = nn.Linear(hidden, width)
        self.fc2 = nn.Linear(width, 2)
        self.activation = activation

    def forward(self, states):
        h = self.fc1(states)
        h = F.relu(h) if self.activation == "relu" else F.silu(h)
        return self.fc2(h)


class GRUHead(nn.Module):
    kind = "gru"

    def __init__(self, hidden, width=128):
        super().__init__()
        self.inp = nn.Linear(hidden, width, bias=False)
        self.gru = nn.GRU(width, width, num_layers=1, batch_first=True)
        self.out = nn.Linear(width, 2)

    def forward(self, states):
        h, _ = self.gru(self.inp(states))  # hidden state starts at 0 for each sample
        return self.out(h)


class AttentionHead(nn.Module):
    kind = "attention"

    def __init__(self, hidden, width=64, heads=4, memory=8):
        super().__init__()
        self.q = nn.Linear(hidden, width, bias=False)
        self.k = nn.Linear(hidden, width, bias=False)
        self.v = nn.Linear(hidden, width, bias=False)
        self.out = nn.Linear(width, 2)
        self.heads, self.memory = heads, memory

    def forward(self, states):
        B, T, _ = states.shape
        d = self.q.out_features
        hd = d // self.heads
        q = self.q(states).view(B, T, self.heads, hd).transpose(1, 2)   # [B, h, T, hd]
        k = self.k(states).view(B, T, self.heads, hd).transpose(1, 2)
        v = self.v(states).view(B, T, self.heads, hd).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(hd)                # [B, h, T, T]
        t = torch.arange(T)
        allowed = (t[None, :] <= t[:, None]) & (t[None, :] > t[:, None] - self.memory)
        scores = scores.masked_fill(~allowed, float("-inf"))
        o = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, d)
        return self.out(o)


def make_head(kind, hidden, **kw):
    return {"linear": LinearHead, "mlp": MLPHead, "gru": GRUHead, "attention": AttentionHead}[kind](hidden, **kw)
