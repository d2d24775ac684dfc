"""PyTorch reference for official TRM / HRM checkpoints (float32, CPU), used to check Recur."""
from .act import ACTModel, Carry, halt_steps_from_q, run_steps, run_until_halt
from .checkpoint import find_checkpoint_file, load_model, strip_prefix
from .config import ArchConfig, ConfigError, arch_from_dict, infer_sizes, load_all_config
from .model import HRMInner, TRMInner, make_inner
from .sudoku import encode_cells, load_sudoku

__all__ = [
    "ACTModel", "Carry", "run_steps", "run_until_halt", "halt_steps_from_q",
    "load_model", "strip_prefix", "find_checkpoint_file",
    "ArchConfig", "ConfigError", "arch_from_dict", "infer_sizes", "load_all_config",
    "TRMInner", "HRMInner", "make_inner", "encode_cells", "load_sudoku",
]
