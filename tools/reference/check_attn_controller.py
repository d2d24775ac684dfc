#!/usr/bin/env python3
"""Self-checks of the attention controller math in recur_reference/llama_ref.py (seconds, no files
needed): the vectorized injection and slot folding equal a per-row loop written from the doc's
formulas, mixed rows sum to 1, alpha = 0 leaves rows bit-identical, and on a tiny random Llama
the KV-cached generator equals recomputation, with injection; alpha_max 0 gives the plain logits.

    python3 tools/reference/check_attn_controller.py
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from recur_reference.llama_ref import (  # noqa: E402
    ControlConfig, Injector, LlamaConfig, LlamaModel, build_controls, fold_slots, gate_features, mix_attention,
    slot_softmax, slot_valid,
)


def naive_mix(p_row, q_row, a, t, K):
    """p_row [t+1] plain row, q_row [K+1], alpha a -> P [t+1], the doc's formulas one by one."""
    P = torch.zeros_like(p_row)
    S = sum(float(p_row[j]) for j in range(0, t - K + 1)) if t >= K else 0.0
    for j in range(t + 1):
        if j > t - K:
            P[j] = (1 - a) * p_row[j] + a * q_row[t - j]
        elif S > 0:
            P[j] = p_row[j] * ((1 - a) + a * q_row[K] / S)
        else:
            P[j] = (1 - a) * p_row[j]
    return P


def naive_fold(p_row, t, K):
    out = torch.zeros(K + 1, dtype=p_row.dtype)
    for i in range(K):
        if t - i >= 0:
            out[i] = p_row[t - i]
    if t >= K:
        out[K] = p_row[:t - K + 1].sum()
    return out


def main():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    K, T, n, B = 5, 13, 3, 2
    pos = torch.arange(T)
    scores = torch.randn(B, n, T, T).masked_fill(torch.arange(T).view(1, -1) > pos.view(-1, 1), float("-inf"))
    p = torch.softmax(scores.double(), -1)
    valid = slot_valid(pos, K)
    q = slot_softmax(torch.randn(B, T, n, K + 1).double(), valid)
    alpha = torch.rand(B, T).double()
    alpha[0, 3] = 0.0
    P = mix_attention(p, q, alpha, pos, K)
    F = fold_slots(p, pos, K)
    err_mix = err_fold = 0.0
    for b in range(B):
        for h in range(n):
            for t in range(T):
                ref = naive_mix(p[b, h, t, :t + 1], q[b, t, h], float(alpha[b, t]), t, K)
                err_mix = max(err_mix, float((P[b, h, t, :t + 1] - ref).abs().max()))
                assert float(P[b, h, t, t + 1:].abs().max() if t + 1 < T else 0.0) == 0.0
                err_fold = max(err_fold, float((F[b, h, t] - naive_fold(p[b, h, t], t, K)).abs().max()))
    assert err_mix < 1e-12, err_mix
    assert err_fold < 1e-12, err_fold
    assert torch.allclose(P.sum(-1), torch.ones(B, n, T, dtype=P.dtype)), "mixed rows must sum to 1"
    assert torch.equal(P[0, :, 3], p[0, :, 3]), "alpha 0 must leave the row unchanged"
    assert torch.equal(q.sum(-1).round(), torch.ones(B, T, n, dtype=q.dtype))
    assert bool((q[:, :K - 1][~valid[:K - 1].unsqueeze(0).unsqueeze(2).expand(B, K - 1, n, K + 1)] == 0).all())
    print(f"mix vs loop {err_mix:.2e}, fold vs loop {err_fold:.2e}")

    # tiny random llama: cache vs recompute, alpha_max 0 vs plain
    cfg = LlamaConfig(n_layer=3, n_embd=32, n_head=6, n_head_kv=2, head_dim=8, n_ff=48, vocab=50, rope_base=100000.0,
                      eps=1e-5)
    g = torch.Generator().manual_seed(1)
    r = lambda *s: torch.randn(*s, generator=g) * 0.3  # noqa: E731
    t = {"token_embd.weight": r(cfg.vocab, cfg.n_embd), "output_norm.weight": 1 + r(cfg.n_embd)}
    for l in range(cfg.n_layer):
        t.update({f"blk.{l}.attn_norm.weight": 1 + r(cfg.n_embd), f"blk.{l}.attn_q.weight": r(48, 32),
                  f"blk.{l}.attn_k.weight": r(16, 32), f"blk.{l}.attn_v.weight": r(16, 32),
                  f"blk.{l}.attn_output.weight": r(32, 48), f"blk.{l}.ffn_norm.weight": 1 + r(32),
                  f"blk.{l}.ffn_gate.weight": r(48, 32), f"blk.{l}.ffn_up.weight": r(48, 32),
                  f"blk.{l}.ffn_down.weight": r(32, 48)})
    m = LlamaModel(cfg, t)
    cc = ControlConfig(layers=[0, 2], heads=[1, 2, 4], window=4, alpha_max=0.9, C=16, G=8, d=32, n_head=6, n_layer=3)
    controls = build_controls(cc)
    for c in controls.values():
        with torch.no_grad():
            c.gate.fc2.bias.fill_(1.0)
    prompt = [3, 7, 1, 9, 4, 4, 2]
    inj = Injector(controls, cc.heads, cc.window)
    out = m.generate(prompt, 20, injector=inj)
    seq, rec = list(prompt), []
    last = None
    for _ in range(20):
        inj.reset()
        lg = m.forward(torch.tensor(seq), injector=inj)
        rec.append(int(lg[-1].argmax()))
        seq.append(rec[-1])
        last = lg
    assert out == rec, (out, rec)
    plain = m.forward(torch.tensor(seq))
    inj0 = Injector(controls, cc.heads, cc.window, alpha_max=0.0)
    zero = m.forward(torch.tensor(seq), injector=inj0)
    assert torch.equal(plain, zero), "alpha_max 0 must give the plain logits bit for bit"
    assert float((last - plain[:-1]).abs().max()) > 1e-4, "injection had no effect"
    # cached logits vs recomputed logits, position by position
    inj.reset()
    cache = {}
    full = m.forward(torch.tensor(seq), injector=inj)
    inj.reset()
    pre = m.forward(torch.tensor(seq[:5]), injector=inj, cache=cache, start=0)
    rows = [pre]
    for i in range(5, len(seq)):
        rows.append(m.forward(torch.tensor([seq[i]]), injector=inj, cache=cache, start=i))
    inc = torch.cat(rows)
    err = float((inc - full).abs().max())
    assert err < 1e-4, err
    print(f"cached == recompute ({len(out)} tokens), alpha_max 0 == plain, cached vs full logits {err:.1e}")
    print("ok")


if __name__ == "__main__":
    main()
