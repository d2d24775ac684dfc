"""Reading official checkpoints: a torch.save'd state_dict of ACTLossHead(model), maybe torch.compiled."""
import os
import re
from typing import Dict, Optional, Tuple

import torch

from .act import ACTModel
from .config import ArchConfig, ConfigError, infer_sizes, load_all_config

PREFIXES = ("_orig_mod.model.", "model.")


def strip_prefix(state: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], str]:
    """Drop `_orig_mod.model.` (torch.compile + loss head) or `model.` so keys start with `inner.`."""
    for prefix in PREFIXES:
        if state and all(k.startswith(prefix + "inner.") for k in state):
            return {k[len(prefix):]: v for k, v in state.items()}, prefix
    bad = next((k for k in state if not any(k.startswith(p + "inner.") for p in PREFIXES)), None)
    raise ConfigError(f"state_dict key {bad!r}: expected prefix '_orig_mod.model.inner.' or 'model.inner.' on every key")


def find_checkpoint_file(path: str) -> str:
    """A directory holds step_<N> files from training; take the latest one."""
    if os.path.isfile(path):
        return path
    steps = [(int(m.group(1)), name) for name in os.listdir(path) if (m := re.fullmatch(r"step_(\d+)", name))]
    if not steps:
        raise ConfigError(f"{path}: no step_<N> checkpoint file")
    return os.path.join(path, max(steps)[1])


def load_model(path: str, seq_len: Optional[int] = None, config_path: Optional[str] = None) -> Tuple[ACTModel, ArchConfig, str]:
    """Load an official checkpoint (directory or file) strictly into a float32 ACTModel on CPU.

    all_config.yaml is looked up beside the checkpoint file unless given.
    """
    ckpt = find_checkpoint_file(path)
    config_path = config_path or os.path.join(os.path.dirname(ckpt), "all_config.yaml")
    cfg = load_all_config(config_path)
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    stripped, prefix = strip_prefix(state)
    cfg = infer_sizes(cfg, stripped, seq_len=seq_len)
    model = ACTModel(cfg)
    model.load_state_dict(stripped, strict=True)
    model.eval()
    return model, cfg, prefix
