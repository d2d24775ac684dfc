#!/usr/bin/env python3
"""Write broken checkpoints for the CLI's bad-input tests.

OUT/<case>/step_1 + all_config.yaml, each derived from the small `trm_att_learned` reference
fixture (tools/reference/make_fixtures.py):
  evil       a pickle that asks for posix/os.system (a loader that obeys it runs code)
  missing    the state_dict without L_level.layers.1.mlp.down_proj.weight
  shape      lm_head.weight with one column too few
  nan        lm_head.weight with NaN at [2, 3] (flat index 2 x columns + 3)
  valid      the fixture unchanged (the control case)
"""
import os
import shutil
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


class RunsCode:
    """Pickles as a call to os.system: what a malicious checkpoint does."""

    def __reduce__(self):
        return (os.system, ("echo this checkpoint ran code",))


def main():
    out = sys.argv[1]
    base = os.path.join(out, "_fixture")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools/reference/make_fixtures.py"), "--out", base,
                    "--variants", "trm_att_learned"], check=True, stdout=subprocess.DEVNULL)
    src = os.path.join(base, "trm_att_learned")
    state = torch.load(os.path.join(src, "step_1"), map_location="cpu", weights_only=True)
    prefix = next(k for k in state if k.endswith("lm_head.weight"))[: -len("lm_head.weight")]

    def write(case, sd):
        d = os.path.join(out, case)
        os.makedirs(d, exist_ok=True)
        shutil.copy(os.path.join(src, "all_config.yaml"), d)
        torch.save(sd, os.path.join(d, "step_1"))

    write("valid", state)
    evil = dict(state)
    evil["payload"] = RunsCode()
    write("evil", evil)
    missing = {k: v for k, v in state.items() if not k.endswith("L_level.layers.1.mlp.down_proj.weight")}
    write("missing", missing)
    shape = dict(state)
    shape[prefix + "lm_head.weight"] = state[prefix + "lm_head.weight"][:, :-1].contiguous()
    write("shape", shape)
    nan = dict(state)
    nan[prefix + "lm_head.weight"] = state[prefix + "lm_head.weight"].clone()
    nan[prefix + "lm_head.weight"][2, 3] = float("nan")
    write("nan", nan)
    shutil.rmtree(base)


if __name__ == "__main__":
    main()
