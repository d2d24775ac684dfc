"""Self-check of the recursive LM reference (recur_reference/rlm.py), a few seconds on CPU.

Random-init TRM (with a memory bank) and HRM models whose Q-heads halt at varied steps:
halting 'max' equals the fixed-depth forward; forward_halting is causal (a prefix gives the same
steps and logits); cached one-token-at-a-time greedy generation equals recomputing the whole
sequence per token (ids and ACT steps) for the qhead, compare and hazard policies; save/load
round trip with `model.inner.` keys.

    python3 tools/reference/check_rlm.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from recur_reference.rlm import self_check  # noqa: E402

if __name__ == "__main__":
    torch.set_num_threads(2)
    ok = self_check(verbose=True)
    print("self-check passed" if ok else "self-check FAILED")
    raise SystemExit(0 if ok else 1)
