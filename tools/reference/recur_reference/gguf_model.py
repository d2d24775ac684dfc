"""Load a GGUF file written by Recur into the float32 reference model.

Quantized tensors are dequantized with the `gguf` package, so PyTorch runs exactly the weights
Recur runs (as float32). Tensor names are mapped back to the official module names, and the
gate/up (and, for mlp_t, token-mix gate/up) halves are concatenated again.
"""
from typing import Tuple

import numpy as np
import torch
from gguf import GGUFReader, quants

from .act import ACTModel
from .config import ArchConfig
from .layers import swiglu_width


class GGUFModelError(ValueError):
    pass


def _field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        if default is None:
            raise GGUFModelError(f"{reader.path if hasattr(reader, 'path') else 'file'}: metadata key {key} missing")
        return default
    return f.contents()


def _tensors(reader):
    out = {}
    for t in reader.tensors:
        values = quants.dequantize(t.data, t.tensor_type)
        shape = [int(x) for x in reversed(t.shape.tolist())]  # gguf lists ne (fastest first)
        out[t.name] = torch.from_numpy(np.array(values, dtype=np.float32).reshape(shape))
    return out


def _expansion(hidden: int, ffn: int, token_positions: int, token_ffn: int) -> float:
    """An expansion that gives back both SwiGLU widths (the file stores widths, the model takes expansion)."""
    candidates = [ffn * 1.5 / hidden, 4.0, 2.0, 8.0 / 3.0, 3.0, 1.0]
    for e in candidates:
        if swiglu_width(hidden, e) == ffn and (token_ffn == 0 or swiglu_width(token_positions, e) == token_ffn):
            return e
    raise GGUFModelError(f"no expansion gives SwiGLU widths {ffn} (hidden {hidden}) and {token_ffn} (positions {token_positions})")


def load_gguf(path: str) -> Tuple[ACTModel, ArchConfig]:
    reader = GGUFReader(path)
    arch = _field(reader, "general.architecture")
    if arch not in ("trm", "hrm"):
        raise GGUFModelError(f"{path}: general.architecture {arch!r} is not trm or hrm")

    def key(name, default=None):
        return _field(reader, f"{arch}.{name}", default)

    hidden = int(key("embedding_length"))
    seq = int(key("context_length"))
    puzzle_len = int(key("puzzle_emb_len", 0))
    mixer = key("token_mixer", "attention")
    ffn = int(key("feed_forward_length"))
    token_ffn = int(key("token_mix.feed_forward_length", 0))
    pos = key("position_encoding", "rope")
    cfg = ArchConfig(
        family=arch, hidden_size=hidden, num_heads=int(key("attention.head_count")),
        expansion=_expansion(hidden, ffn, seq + puzzle_len, token_ffn if mixer == "mlp_t" else 0),
        H_cycles=int(key("h_cycles")), L_cycles=int(key("l_cycles")),
        H_layers=int(key("h_layers", 0)), L_layers=int(key("l_layers")),
        halt_max_steps=int(key("halt_max_steps")),
        pos_encodings=pos if pos in ("rope", "learned") else "none",
        rms_norm_eps=float(key("attention.layer_norm_rms_epsilon", 1e-5)),
        rope_theta=float(key("rope.freq_base", 10000.0)),
        mlp_t=mixer == "mlp_t",
        puzzle_emb_ndim=int(key("puzzle_emb_ndim", 0)),
        puzzle_emb_len_setting=puzzle_len,
        no_ACT_continue=key("halt_rule", "q_halt>0") == "q_halt>0",
        name=f"gguf@{arch}", vocab_size=int(key("vocab_size")), seq_len=seq,
        num_puzzle_identifiers=int(key("puzzle_count", 1)),
    )
    if cfg.puzzle_emb_len != puzzle_len:
        raise GGUFModelError(f"{path}: puzzle_emb_len {puzzle_len} cannot be expressed by the reference config")

    t = _tensors(reader)
    state = {
        "inner.embed_tokens.embedding_weight": t["token_embd.weight"],
        "inner.lm_head.weight": t["output.weight"],
        "inner.q_head.weight": t["qhead.weight"],
        "inner.q_head.bias": t["qhead.bias"],
        "inner.H_init": t["h_init"],
        "inner.L_init": t["l_init"],
    }
    if "puzzle_embd.weight" in t:
        state["inner.puzzle_emb.weights"] = t["puzzle_embd.weight"]
    if "position_embd.weight" in t:
        state["inner.embed_pos.embedding_weight"] = t["position_embd.weight"]
    stacks = [("L", "L_level", cfg.L_layers)] + ([("H", "H_level", cfg.H_layers)] if arch == "hrm" else [])
    for stack, module, layers in stacks:
        for i in range(layers):
            src, dst = f"{stack}.blk.{i}", f"inner.{module}.layers.{i}"
            if cfg.mlp_t:
                state[f"{dst}.mlp_t.gate_up_proj.weight"] = torch.cat([t[f"{src}.tmix_gate.weight"], t[f"{src}.tmix_up.weight"]])
                state[f"{dst}.mlp_t.down_proj.weight"] = t[f"{src}.tmix_down.weight"]
            else:
                state[f"{dst}.self_attn.qkv_proj.weight"] = t[f"{src}.attn_qkv.weight"]
                state[f"{dst}.self_attn.o_proj.weight"] = t[f"{src}.attn_output.weight"]
            state[f"{dst}.mlp.gate_up_proj.weight"] = torch.cat([t[f"{src}.ffn_gate.weight"], t[f"{src}.ffn_up.weight"]])
            state[f"{dst}.mlp.down_proj.weight"] = t[f"{src}.ffn_down.weight"]
    model = ACTModel(cfg)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if not k.endswith("_rope_cache")]:
        raise GGUFModelError(f"{path}: tensors do not fit the reference model (missing {missing}, unexpected {unexpected})")
    model.eval()
    return model, cfg
