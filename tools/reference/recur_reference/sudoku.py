"""The sudoku text format used by the shared evaluation data: `<81 cells> <81-digit solution>` per line."""
from typing import List, Tuple

import torch


def encode_cells(cells: str) -> List[int]:
    """Tokens: 0 pad, 1 blank, 2..10 digits 1..9 (digit d -> d + 1); '.' or '0' is blank."""
    if len(cells) != 81:
        raise ValueError(f"expected 81 cells, got {len(cells)}")
    out = []
    for c in cells:
        if c in ".0":
            out.append(1)
        elif c.isdigit():
            out.append(int(c) + 1)
        else:
            raise ValueError(f"bad sudoku cell {c!r}")
    return out


def load_sudoku(path: str, limit: int) -> Tuple[torch.Tensor, List[str]]:
    """Return inputs int32 [N, 81] for the first `limit` puzzles and their solution strings."""
    inputs, solutions = [], []
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            try:
                inputs.append(encode_cells(parts[0]))
            except ValueError as e:
                raise ValueError(f"{path}:{line_no}: {e}") from None
            solutions.append(parts[1] if len(parts) > 1 else "")
            if len(inputs) >= limit:
                break
    return torch.tensor(inputs, dtype=torch.int32), solutions
