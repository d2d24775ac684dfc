"""The ACT wrapper: carries, reset of halted samples, step counting and halting.

Semantics of the official wrapper (`..._ACTV1.forward`): a carry starts with every sample
halted, so the first step resets every state to H_init/L_init and loads the batch. After each
step a sample halts when it reached halt_max_steps; official evaluation stops there (fixed
steps). With q-head halting (official training, without exploration) it also halts when its
rule fires: TRM with no_ACT_continue `q_halt > 0`, otherwise `q_halt > q_continue`. A halted
sample is reset and reloaded from the batch at the next step.
"""
from dataclasses import dataclass
from typing import Dict, List

import torch
from torch import nn

from .config import ArchConfig
from .model import make_inner


@dataclass
class Carry:
    z_H: torch.Tensor
    z_L: torch.Tensor
    steps: torch.Tensor         # int32 [B], steps taken since the last reset
    halted: torch.Tensor        # bool [B]
    inputs: torch.Tensor        # the data each sample is currently working on
    puzzle_identifiers: torch.Tensor


class ACTModel(nn.Module):
    """Holds `inner` so that `inner.*` keys (official keys without `model.`) load strictly."""

    def __init__(self, cfg: ArchConfig):
        super().__init__()
        self.cfg = cfg
        self.inner = make_inner(cfg)

    def initial_carry(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> Carry:
        batch = inputs.shape[0]
        positions = inputs.shape[1] + self.inner.puzzle_emb_len
        z_H, z_L = self.inner.initial_states(batch, positions, inputs.device)
        return Carry(z_H, z_L,
                     steps=torch.zeros(batch, dtype=torch.int32, device=inputs.device),
                     halted=torch.ones(batch, dtype=torch.bool, device=inputs.device),
                     inputs=torch.empty_like(inputs), puzzle_identifiers=torch.empty_like(puzzle_identifiers))

    def should_halt(self, q_halt: torch.Tensor, q_continue: torch.Tensor) -> torch.Tensor:
        if self.cfg.halt_rule == "q_halt > 0":
            return q_halt > 0
        return q_halt > q_continue

    def step(self, carry: Carry, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor,
             q_halting: bool = False, trace=None):
        """One ACT step; returns (new carry, logits [B, seq, vocab], q_halt [B], q_continue [B])."""
        z_H, z_L = self.inner.reset(carry.halted, carry.z_H, carry.z_L)
        steps = torch.where(carry.halted, 0, carry.steps)
        cur_inputs = torch.where(carry.halted.view(-1, 1), inputs, carry.inputs)
        cur_pids = torch.where(carry.halted, puzzle_identifiers, carry.puzzle_identifiers)
        z_H, z_L, logits, q_halt, q_continue = self.inner(z_H, z_L, cur_inputs, cur_pids, trace=trace)
        steps = steps + 1
        halted = steps >= self.cfg.halt_max_steps
        if q_halting and self.cfg.halt_max_steps > 1:
            halted = halted | self.should_halt(q_halt, q_continue)
        return Carry(z_H, z_L, steps, halted, cur_inputs, cur_pids), logits, q_halt, q_continue


@torch.no_grad()
def run_steps(model: ACTModel, inputs: torch.Tensor, puzzle_ids: torch.Tensor, steps: int) -> Dict[str, List[torch.Tensor]]:
    """Fixed-step evaluation (official eval mode): no q-head halting; per-step outputs."""
    carry = model.initial_carry(inputs, puzzle_ids)
    out: Dict[str, List[torch.Tensor]] = {"logits": [], "q_halt": [], "q_continue": []}
    for _ in range(steps):
        carry, logits, q_halt, q_continue = model.step(carry, inputs, puzzle_ids)
        out["logits"].append(logits)
        out["q_halt"].append(q_halt)
        out["q_continue"].append(q_continue)
    return out


def halt_steps_from_q(model: ACTModel, q_halt: List[torch.Tensor], q_continue: List[torch.Tensor]) -> torch.Tensor:
    """1-based step at which q-head halting stops each sample (halt_max_steps if it never fires)."""
    max_steps = model.cfg.halt_max_steps
    result = torch.full(q_halt[0].shape, max_steps, dtype=torch.int32)
    done = torch.zeros(q_halt[0].shape, dtype=torch.bool)
    for s in range(min(max_steps, len(q_halt))):
        fire = model.should_halt(q_halt[s], q_continue[s]).cpu() & ~done
        result[fire] = s + 1
        done |= fire
    return result


@torch.no_grad()
def run_until_halt(model: ACTModel, inputs: torch.Tensor, puzzle_ids: torch.Tensor) -> torch.Tensor:
    """Run the ACT loop with q-head halting until every sample has halted once; returns its 1-based halt step."""
    carry = model.initial_carry(inputs, puzzle_ids)
    result = torch.zeros(inputs.shape[0], dtype=torch.int32)
    for _ in range(model.cfg.halt_max_steps):
        carry, _, _, _ = model.step(carry, inputs, puzzle_ids, q_halting=True)
        first = carry.halted.cpu() & (result == 0)
        result[first] = carry.steps.cpu()[first]
        if bool((result > 0).all()):
            break
    return result
