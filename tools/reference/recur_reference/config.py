"""Architecture configuration: read from the official all_config.yaml, completed from tensor shapes.

Official training passes `vocab_size`, `seq_len` and `num_puzzle_identifiers` from the dataset
metadata, so they never appear in all_config.yaml and have to be recovered from the checkpoint.
`seq_len` is visible in shapes only for learned positions or mlp_t; with RoPE or no positions
the caller supplies it (or the model takes it from its inputs).
"""
import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Dict, Optional

import yaml

TRM_NAMES = ("TinyRecursiveReasoningModel_ACTV1",)
HRM_NAMES = ("HierarchicalReasoningModel_ACTV1",)


class ConfigError(ValueError):
    pass


@dataclass
class ArchConfig:
    family: str                      # "trm" or "hrm"
    hidden_size: int
    num_heads: int
    expansion: float
    H_cycles: int
    L_cycles: int
    H_layers: int
    L_layers: int
    halt_max_steps: int
    pos_encodings: str = "rope"      # "rope", "learned" or anything else (= none)
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    halt_exploration_prob: float = 0.1
    forward_dtype: str = "bfloat16"  # recorded only; the reference always runs float32
    mlp_t: bool = False
    puzzle_emb_ndim: int = 0
    puzzle_emb_len_setting: int = 16  # TRM's `puzzle_emb_len` (0 = derive); unused for HRM
    no_ACT_continue: bool = True      # TRM only; HRM always compares q_halt with q_continue
    name: str = ""
    vocab_size: Optional[int] = None
    seq_len: Optional[int] = None
    num_puzzle_identifiers: Optional[int] = None

    @property
    def puzzle_emb_len(self) -> int:
        """Number of prefix positions holding the puzzle embedding (zero-padded to whole rows)."""
        derived = -(self.puzzle_emb_ndim // -self.hidden_size)
        if self.family == "trm" and self.puzzle_emb_len_setting != 0:
            return self.puzzle_emb_len_setting
        return derived

    @property
    def halt_rule(self) -> str:
        """The q-head halting rule of official training: TRM with no_ACT_continue uses sigmoid(q_halt) > 0.5."""
        if self.family == "trm" and self.no_ACT_continue:
            return "q_halt > 0"
        return "q_halt > q_continue"

    def to_json(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["puzzle_emb_len"] = self.puzzle_emb_len
        d["halt_rule"] = self.halt_rule
        return d


def _resolve_interpolations(arch: Dict[str, Any]) -> Dict[str, Any]:
    """Resolve the `${.key}` sibling references Hydra leaves when a config is dumped unresolved."""
    out = dict(arch)
    for key, value in arch.items():
        if isinstance(value, str):
            m = re.fullmatch(r"\$\{\.(\w+)\}", value.strip())
            if m:
                if m.group(1) not in arch:
                    raise ConfigError(f"arch.{key}: cannot resolve {value}")
                out[key] = arch[m.group(1)]
    return out


def family_of(name: str) -> str:
    cls = name.split("@")[-1]
    if cls in TRM_NAMES:
        return "trm"
    if cls in HRM_NAMES:
        return "hrm"
    raise ConfigError(f"arch.name {name!r}: expected ...@TinyRecursiveReasoningModel_ACTV1 or ...@HierarchicalReasoningModel_ACTV1")


def arch_from_dict(arch: Dict[str, Any]) -> ArchConfig:
    arch = _resolve_interpolations(arch)
    if "name" not in arch:
        raise ConfigError("arch.name missing")
    family = family_of(arch["name"])
    required = ["hidden_size", "num_heads", "expansion", "H_cycles", "L_cycles", "L_layers", "halt_max_steps"]
    missing = [k for k in required if k not in arch]
    if missing:
        raise ConfigError(f"arch: missing {missing}")
    cfg = ArchConfig(
        family=family, name=arch["name"],
        hidden_size=int(arch["hidden_size"]), num_heads=int(arch["num_heads"]), expansion=float(arch["expansion"]),
        H_cycles=int(arch["H_cycles"]), L_cycles=int(arch["L_cycles"]),
        H_layers=int(arch.get("H_layers", 0)), L_layers=int(arch["L_layers"]),
        halt_max_steps=int(arch["halt_max_steps"]),
        pos_encodings=str(arch.get("pos_encodings", "rope")),
        rms_norm_eps=float(arch.get("rms_norm_eps", 1e-5)), rope_theta=float(arch.get("rope_theta", 10000.0)),
        halt_exploration_prob=float(arch.get("halt_exploration_prob", 0.1)),
        forward_dtype=str(arch.get("forward_dtype", "bfloat16")),
        mlp_t=bool(arch.get("mlp_t", False)),
        puzzle_emb_ndim=int(arch.get("puzzle_emb_ndim", 0)),
        puzzle_emb_len_setting=int(arch.get("puzzle_emb_len", 16)),
        no_ACT_continue=bool(arch.get("no_ACT_continue", True)),
    )
    for k in ("vocab_size", "seq_len", "num_puzzle_identifiers"):
        if k in arch:
            setattr(cfg, k, int(arch[k]))
    return cfg


def load_all_config(path) -> ArchConfig:
    with open(path) as f:
        doc = yaml.safe_load(f)
    if not isinstance(doc, dict) or not isinstance(doc.get("arch"), dict):
        raise ConfigError(f"{path}: expected a mapping with an 'arch' mapping")
    return arch_from_dict(doc["arch"])


def infer_sizes(cfg: ArchConfig, state: Dict[str, Any], seq_len: Optional[int] = None) -> ArchConfig:
    """Fill vocab_size, num_puzzle_identifiers and (when shapes show it) seq_len from a stripped state_dict."""
    emb = state.get("inner.embed_tokens.embedding_weight")
    if emb is None:
        raise ConfigError("state_dict has no inner.embed_tokens.embedding_weight")
    if emb.shape[1] != cfg.hidden_size:
        raise ConfigError(f"embed_tokens has width {emb.shape[1]}, config hidden_size {cfg.hidden_size}")
    cfg.vocab_size = int(emb.shape[0])
    pe = state.get("inner.puzzle_emb.weights")
    if cfg.puzzle_emb_ndim > 0:
        if pe is None:
            raise ConfigError("puzzle_emb_ndim > 0 but inner.puzzle_emb.weights is missing")
        if pe.shape[1] != cfg.puzzle_emb_ndim:
            raise ConfigError(f"puzzle_emb.weights width {pe.shape[1]} != puzzle_emb_ndim {cfg.puzzle_emb_ndim}")
        cfg.num_puzzle_identifiers = int(pe.shape[0])
    elif cfg.num_puzzle_identifiers is None:
        cfg.num_puzzle_identifiers = 1
    for stack, attr in (("L_level", "L_layers"), ("H_level", "H_layers")):
        idx = {int(k.split(".")[3]) for k in state if k.startswith(f"inner.{stack}.layers.")}
        if cfg.family == "trm" and stack == "H_level":
            continue
        if len(idx) != getattr(cfg, attr):
            raise ConfigError(f"state_dict has {len(idx)} {stack} layers, config {attr} = {getattr(cfg, attr)}")
    shape_seq = None
    if cfg.pos_encodings == "learned" and "inner.embed_pos.embedding_weight" in state:
        shape_seq = int(state["inner.embed_pos.embedding_weight"].shape[0]) - cfg.puzzle_emb_len
    elif cfg.mlp_t:
        w = state.get("inner.L_level.layers.0.mlp_t.gate_up_proj.weight")
        if w is not None:
            shape_seq = int(w.shape[1]) - cfg.puzzle_emb_len
    if shape_seq is not None:
        if seq_len is not None and seq_len != shape_seq:
            raise ConfigError(f"seq_len {seq_len} given, but tensor shapes say {shape_seq}")
        cfg.seq_len = shape_seq
    elif seq_len is not None:
        cfg.seq_len = seq_len
    return cfg
