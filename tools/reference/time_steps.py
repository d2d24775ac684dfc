#!/usr/bin/env python3
"""Same-run baselines: CPU time of one ACT step of the same weights in PyTorch or ONNX Runtime.

Each repetition is one ACT step (H_cycles x (L_cycles + 1) stack calls for TRM) on a batch of
sudoku puzzles from the data file; the carry runs on across repetitions like real evaluation
(resetting after halt_max_steps, which costs nothing extra).

Engines (--engine):
  torch-fp32  PyTorch eager float32 (the default; `ACTModel.step`).
  torch-bf16  the same model cast to bfloat16 (weights, embeddings and carry; RMS norm and RoPE
              still compute in float32 inside, as in the official bfloat16 forward).
  ort-int8    the step's pure computation (inner forward: input embedding, the stack passes,
              LM and Q heads, over the carry's z_H/z_L) exported to ONNX, checked against
              PyTorch, quantized with onnxruntime.quantization.quantize_dynamic (QInt8 weights,
              MatMuls with constant weights only) and run in an InferenceSession with
              intra_op_num_threads = --threads and inter_op_num_threads = 1. The exported and
              quantized files are cached under .cache/onnx.

The drift figures compare the engine's logits with float32 (PyTorch, or ONNX Runtime float32 for
ort-int8, whose own match with PyTorch is checked first) after --drift-steps ACT steps from a fresh
carry on the timed batch: argmax agreement over the output cells and the largest |logit| difference.
"""
import argparse
import copy
import hashlib
import json
import os
import platform
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(REPO, "..", "shared")
sys.path.insert(0, HERE)

from recur_reference import load_model, load_sudoku  # noqa: E402
from recur_reference.gguf_model import load_gguf  # noqa: E402

ENGINES = ("torch-fp32", "torch-bf16", "ort-int8")
ONNX_OPSET = 17
# Bump when the exported graph changes, so that cached files are rebuilt.
ONNX_EXPORT_VERSION = 2


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def log(msg: str):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# PyTorch (float32 and bfloat16)

def to_dtype(carry, dtype):
    carry.z_H = carry.z_H.to(dtype)
    carry.z_L = carry.z_L.to(dtype)
    return carry


@torch.no_grad()
def time_batch(model, inputs, pids, steps: int, warmup: int, dtype=torch.float32):
    carry = to_dtype(model.initial_carry(inputs, pids), dtype)
    for _ in range(warmup):
        carry = model.step(carry, inputs, pids)[0]
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        carry = model.step(carry, inputs, pids)[0]
        times.append((time.perf_counter() - t0) * 1000.0)
    return times


@torch.no_grad()
def torch_logits(model, inputs, pids, steps: int, dtype=torch.float32) -> torch.Tensor:
    carry = to_dtype(model.initial_carry(inputs, pids), dtype)
    logits = None
    for _ in range(steps):
        carry, logits, _, _ = model.step(carry, inputs, pids)
    return logits.float()


def drift(logits, reference, steps: int) -> dict:
    logits = torch.as_tensor(logits).float()
    reference = torch.as_tensor(reference).float()
    agree = (logits.argmax(-1) == reference.argmax(-1)).float().mean().item()
    return dict(reference="float32", steps=steps, argmax_agreement=agree,
                max_abs_logit_diff=(logits - reference).abs().max().item())


# ---------------------------------------------------------------------------------------------
# ONNX Runtime (dynamic INT8)

class InnerStep(torch.nn.Module):
    """One ACT step's computation without the carry bookkeeping: (z_H, z_L, inputs, ids) -> outputs."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, z_H, z_L, inputs, puzzle_identifiers):
        return self.inner(z_H, z_L, inputs, puzzle_identifiers)


ORT_INPUTS = ["z_H", "z_L", "inputs", "puzzle_identifiers"]
ORT_OUTPUTS = ["z_H_out", "z_L_out", "logits", "q_halt", "q_continue"]


def cache_key(model_path: str) -> str:
    """Named by the weights' content (a directory checkpoint: its files), so a rebuilt or copied model reuses nothing stale."""
    h = hashlib.sha256(f"opset{ONNX_OPSET}|v{ONNX_EXPORT_VERSION}|torch{torch.__version__}".encode())
    files = [model_path] if os.path.isfile(model_path) else sorted(
        os.path.join(d, f) for d, _, fs in os.walk(model_path) for f in fs)
    for path in files:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return os.path.basename(os.path.normpath(model_path)) + "-" + h.hexdigest()[:16]


def export_onnx(model, cfg, path: str, example_batch: int):
    inner = InnerStep(model.inner).eval()
    positions = cfg.seq_len + model.inner.puzzle_emb_len
    z = torch.zeros(example_batch, positions, cfg.hidden_size)
    inputs = torch.zeros(example_batch, cfg.seq_len, dtype=torch.int32)
    pids = torch.zeros(example_batch, dtype=torch.int32)
    axes = {name: {0: "batch"} for name in ORT_INPUTS + ORT_OUTPUTS}
    tmp = path + ".tmp"
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(inner, (z, z.clone(), inputs, pids), tmp, dynamo=False, opset_version=ONNX_OPSET,
                          input_names=ORT_INPUTS, output_names=ORT_OUTPUTS, dynamic_axes=axes, do_constant_folding=True)
    drop_weight_identities(tmp)
    os.replace(tmp, path)


def drop_weight_identities(path: str):
    """The exporter reads a weight that several stack passes share through one Identity node per use;
    the quantizer only quantizes MatMuls whose B is an initializer, so those Identities go."""
    import onnx
    m = onnx.load(path)
    weights = {i.name for i in m.graph.initializer}
    alias, keep = {}, []
    for n in m.graph.node:
        if n.op_type == "Identity" and n.input[0] in weights and n.output[0] not in {o.name for o in m.graph.output}:
            alias[n.output[0]] = n.input[0]
        else:
            keep.append(n)
    for n in keep:
        for i, name in enumerate(n.input):
            if name in alias:
                n.input[i] = alias[name]
    del m.graph.node[:]
    m.graph.node.extend(keep)
    onnx.save(m, path)


def quantize(fp32_path: str, int8_path: str):
    from onnxruntime.quantization import QuantType, quantize_dynamic
    tmp = int8_path + ".tmp.onnx"
    quantize_dynamic(fp32_path, tmp, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"],
                     extra_options={"MatMulConstBOnly": True})
    os.replace(tmp, int8_path)


def ort_session(path: str, threads: int):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])


class OrtStepper:
    """The ACT carry around an ONNX session: fresh states from H_init/L_init, reset after halt_max_steps."""

    def __init__(self, session, model, cfg):
        self.session = session
        # The exporter drops inputs the graph does not use (puzzle_identifiers without a puzzle embedding).
        self.input_names = {i.name for i in session.get_inputs()}
        self.h_init = model.inner.H_init.detach().float().numpy()
        self.l_init = model.inner.L_init.detach().float().numpy()
        self.positions = cfg.seq_len + model.inner.puzzle_emb_len
        self.max_steps = cfg.halt_max_steps

    def fresh(self, batch: int):
        import numpy as np
        shape = (batch, self.positions, self.h_init.shape[0])
        return np.ascontiguousarray(np.broadcast_to(self.h_init, shape)), np.ascontiguousarray(np.broadcast_to(self.l_init, shape))

    def run(self, z_H, z_L, inputs, pids):
        feeds = {"z_H": z_H, "z_L": z_L, "inputs": inputs, "puzzle_identifiers": pids}
        return self.session.run(None, {k: v for k, v in feeds.items() if k in self.input_names})

    def logits_after(self, inputs, pids, steps: int):
        z_H, z_L = self.fresh(inputs.shape[0])
        logits = None
        for _ in range(steps):
            z_H, z_L, logits, _, _ = self.run(z_H, z_L, inputs, pids)
        return logits

    def time(self, inputs, pids, steps: int, warmup: int):
        z_H, z_L = self.fresh(inputs.shape[0])
        taken = 0
        times = []
        for i in range(warmup + steps):
            if taken == self.max_steps:  # the ACT reset of a halted batch (outside the timed call)
                z_H, z_L = self.fresh(inputs.shape[0])
                taken = 0
            t0 = time.perf_counter()
            z_H, z_L, _, _, _ = self.run(z_H, z_L, inputs, pids)
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1000.0)
            taken += 1
        return times


def prepare_ort(model, cfg, model_path: str, threads: int, check_inputs, check_pids):
    """Exports (or reuses) the FP32 ONNX file, checks it against PyTorch, quantizes; returns sessions and the check."""
    cache = os.path.join(REPO, ".cache", "onnx")
    os.makedirs(cache, exist_ok=True)
    key = cache_key(model_path)
    fp32_path = os.path.join(cache, key + "-fp32.onnx")
    int8_path = os.path.join(cache, key + "-int8.onnx")
    if not os.path.exists(fp32_path):
        t0 = time.perf_counter()
        export_onnx(model, cfg, fp32_path, example_batch=2)
        log(f"ort-int8: exported {fp32_path} (opset {ONNX_OPSET}) in {time.perf_counter() - t0:.1f} s")
    fp32 = OrtStepper(ort_session(fp32_path, threads), model, cfg)

    # The FP32 export against PyTorch: one step of the inner forward from fresh states.
    with torch.no_grad():
        b = check_inputs.shape[0]
        carry = model.initial_carry(check_inputs, check_pids)
        z_H, z_L = model.inner.reset(carry.halted, carry.z_H, carry.z_L)
        want = model.inner(z_H, z_L, check_inputs, check_pids)
    got = fp32.run(z_H.numpy(), z_L.numpy(), check_inputs.numpy(), check_pids.numpy())
    check = {name: float((torch.as_tensor(g) - w).abs().max().item()) for name, g, w in zip(ORT_OUTPUTS, got, want)}
    log(f"ort-int8: ONNX float32 export vs PyTorch, one step at batch {b}, max |diff|: "
        + ", ".join(f"{k} {v:.3g}" for k, v in check.items()))
    scale = max(1.0, float(want[2].abs().max()))
    if not check["logits"] <= 1e-3 * scale:
        raise SystemExit(f"ort-int8: the ONNX float32 export does not match PyTorch (logits max |diff| {check['logits']:.3g})")

    if not os.path.exists(int8_path):
        t0 = time.perf_counter()
        quantize(fp32_path, int8_path)
        log(f"ort-int8: quantized (dynamic, QInt8 weights) to {int8_path} in {time.perf_counter() - t0:.1f} s")
    int8 = OrtStepper(ort_session(int8_path, threads), model, cfg)
    return fp32, int8, dict(batch=b, steps=1, max_abs_diff=check, fp32_path=os.path.relpath(fp32_path, REPO),
                            int8_path=os.path.relpath(int8_path, REPO))


# ---------------------------------------------------------------------------------------------

def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=os.path.join(SHARED, "checkpoints", "trm-sudoku-att"))
    p.add_argument("--gguf", help="time this Recur GGUF file (dequantized to float32) instead of --checkpoint")
    p.add_argument("--data", default=os.path.join(SHARED, "data", "sudoku_eval_2000.txt"))
    p.add_argument("--engine", choices=ENGINES, default="torch-fp32", help="what runs the step (default: torch-fp32)")
    p.add_argument("--batch", default="1,16", help="comma-separated batch sizes")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10, help="timed ACT steps (repetitions) per batch size")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--drift-steps", type=int, default=1,
                   help="torch-bf16 and ort-int8: compare logits with float32 after this many ACT steps (0: no drift figures)")
    p.add_argument("--json", help="write results here")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batch.split(",") if b]
    model_path = args.gguf or args.checkpoint
    if args.gguf:
        model, cfg = load_gguf(args.gguf)
    else:
        model, cfg, _ = load_model(args.checkpoint, seq_len=81)
    model.eval()
    all_inputs, _ = load_sudoku(args.data, max(batches))
    if all_inputs.shape[0] == 0:
        print(f"{args.data}: no puzzles", file=sys.stderr)
        return 2
    if all_inputs.shape[0] < max(batches):
        # A small sample file fills larger batches by repeating its puzzles (the cost is the same).
        reps = -(-max(batches) // all_inputs.shape[0])
        all_inputs = all_inputs.repeat(reps, 1)[:max(batches)]

    extra = {}
    fp32_model = model
    if args.engine == "torch-fp32":
        framework, mode, dtype = f"pytorch {torch.__version__}", "eager", "float32"
        title = f"PyTorch {torch.__version__} eager float32"
    elif args.engine == "torch-bf16":
        framework, mode, dtype = f"pytorch {torch.__version__}", "eager", "bfloat16"
        title = f"PyTorch {torch.__version__} eager bfloat16"
        if args.drift_steps > 0:
            fp32_model = copy.deepcopy(model)
        model = model.to(torch.bfloat16)
    else:
        try:
            import onnxruntime as ort
            import onnx  # noqa: F401  (the exporter and the quantizer need it)
        except ImportError as e:
            print(f"ort-int8 needs onnxruntime and onnx (python3 -m pip install onnxruntime onnx): {e}", file=sys.stderr)
            return 3
        framework, mode, dtype = f"onnxruntime {ort.__version__}", "InferenceSession (CPUExecutionProvider)", "int8 (dynamic, QInt8 weights)"
        title = f"ONNX Runtime {ort.__version__} dynamic INT8"
        b = max(batches)
        ort_fp32, ort_int8, check = prepare_ort(model, cfg, model_path, args.threads, all_inputs[:b],
                                                torch.zeros(b, dtype=torch.int32))
        extra["onnx_fp32_check"] = check
        extra["opset"] = ONNX_OPSET

    results = []
    print(f"{title}, {args.threads} threads, {cpu_model()}")
    print(f"{'batch':>5} {'median ms/step':>15} {'min':>9} {'max':>9} {'ms/step/sample':>15}" + ("  argmax agreement" if args.engine != "torch-fp32" and args.drift_steps > 0 else ""))
    for b in batches:
        inputs = all_inputs[:b]
        pids = torch.zeros(b, dtype=torch.int32)
        d = None
        if args.engine == "ort-int8":
            np_inputs, np_pids = inputs.numpy(), pids.numpy()
            times = ort_int8.time(np_inputs, np_pids, args.steps, args.warmup)
            if args.drift_steps > 0:
                d = drift(ort_int8.logits_after(np_inputs, np_pids, args.drift_steps),
                          ort_fp32.logits_after(np_inputs, np_pids, args.drift_steps), args.drift_steps)
                d["reference"] = "onnxruntime float32"
        else:
            dt = torch.bfloat16 if args.engine == "torch-bf16" else torch.float32
            times = time_batch(model, inputs, pids, args.steps, args.warmup, dtype=dt)
            if args.engine == "torch-bf16" and args.drift_steps > 0:
                d = drift(torch_logits(model, inputs, pids, args.drift_steps, dtype=dt),
                          torch_logits(fp32_model, inputs, pids, args.drift_steps), args.drift_steps)
                d["reference"] = "pytorch float32"
        med = statistics.median(times)
        r = dict(batch=b, steps=args.steps, warmup=args.warmup, median_ms=med, min_ms=min(times), max_ms=max(times),
                 mean_ms=statistics.fmean(times), per_sample_median_ms=med / b, times_ms=times)
        if d is not None:
            r["drift"] = d
        results.append(r)
        print(f"{b:>5} {med:>15.2f} {min(times):>9.2f} {max(times):>9.2f} {med / b:>15.2f}"
              + (f"  {d['argmax_agreement'] * 100:.2f}% (max |logit diff| {d['max_abs_logit_diff']:.3g}, {d['steps']} steps)" if d else ""))

    if args.json:
        doc = dict(tool="tools/reference/time_steps.py", engine=args.engine, framework=framework, mode=mode,
                   dtype=dtype, device="cpu", cpu=cpu_model(), threads=args.threads,
                   checkpoint=os.path.basename(os.path.normpath(model_path)),
                   arch=cfg.to_json(), **extra, results=results)
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        os.replace(tmp, args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
