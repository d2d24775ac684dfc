#!/usr/bin/env python3
"""Bounded loopback load test of `recur serve`, side by side with llama.cpp's OpenAI server.

N concurrent clients each send M requests (a fixed, deterministic mix of chat and text completions,
streaming and not, and optionally /v1/solve) and the script prints, per target and client count,
a markdown table: requests/s, completion tokens/s (all clients together), latency and time to first
token (streaming requests) at p50/p90/p99, errors, and the server's resident memory (VmRSS) before
and after. Requests use temperature 0 and a fixed seed by default, and story prompts that run to
--max-tokens, so runs are comparable; targets are measured one after the other in the same run (on
the same machine state) so that their ratio means something.

Targets (at least one):
  --recur BIN    starts `BIN serve --model LLM [--model PUZZLE] --port 0 --parallel P --threads T`
  --url URL      a server already running (with --pid PID[,PID...] for its memory)
  --llamacpp     starts `python3 -m llama_cpp.server` on the same GGUF with the same thread count
                 (needs `pip install 'llama-cpp-python[server]'`; it runs one request at a time)

  python3 benchmarks/serve_load.py --recur .build/release/recur --llamacpp --sweep 1,2,4 --requests 4
  python3 benchmarks/serve_load.py --url http://127.0.0.1:8080 --pid 1234 --clients 4

--time-limit bounds the whole run (start-up included); every request has a timeout too. Exit status:
0 when every request succeeded, 1 when a recur target (--recur or --url) had any error, a server
failed to start, or the time limit cut the run short (llama.cpp's own errors are reported only),
77 when the HTTP client package is missing.
"""
import argparse
import asyncio
import collections
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

try:
    import httpx2 as httpx  # the HTTP client of current `openai` releases
except ImportError:
    try:
        import httpx  # the one of older `openai` releases
    except ImportError:
        print("missing Python package: httpx2 (pip install openai)", file=sys.stderr)
        sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_LLM = os.path.join(ROOT, ".cache", "llm", "SmolLM2-135M-Instruct.Q4_1.gguf")
PUZZLE_FILE = os.path.join(ROOT, "models", "sudoku-samples.txt")
KINDS = ("chat", "chat-stream", "completion", "completion-stream", "solve")
LISTENING = re.compile(r"listening on (http://\S+)")

CHAT_PROMPTS = [
    "Write a long story about a lighthouse keeper who finds a message in a bottle. Describe each day of his week "
    "in detail.",
    "Tell me a long adventure story about two friends crossing a desert, with many chapters.",
    "Write a detailed history of an imaginary city, century by century.",
    "Describe, step by step and at great length, how to build a wooden boat.",
]
COMPLETION_PROMPTS = [
    "Chapter One\n\nThe old lighthouse keeper climbed the stairs every evening, and",
    "Chapter One\n\nThe caravan left the last oasis before dawn. Nobody in it knew that",
    "Chapter One\n\nThe city had been built on seven hills, and each of them",
    "Chapter One\n\nMy grandfather built boats in a shed behind the house. Every spring he",
]


def model_id(path):
    """The id a server gives a GGUF file: its name without `.gguf`."""
    name = os.path.basename(path)
    return name[:-5] if name.endswith(".gguf") else name


def read_puzzles():
    with open(PUZZLE_FILE) as f:
        return [line.split()[0] for line in f if line.strip() and not line.startswith("#")]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_kib(pids, field):
    """Sum of a /proc/PID/status field (VmRSS, VmHWM) in KiB over pids; None when any is unreadable."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                values = [line.split()[1] for line in f if line.startswith(field + ":")]
        except OSError:
            return None
        if not values:
            return None
        total += int(values[0])
    return total


def mib(kib):
    return "-" if kib is None else f"{kib / 1024:.0f}"


def percentiles(values):
    """p50, p90 and p99 of values (linear interpolation), or None when there are none."""
    if not values:
        return None
    v = sorted(values)
    out = []
    for q in (0.50, 0.90, 0.99):
        x = q * (len(v) - 1)
        lo = int(x)
        hi = min(lo + 1, len(v) - 1)
        out.append(v[lo] + (v[hi] - v[lo]) * (x - lo))
    return out


def fmt_pcts(p):
    return "-" if p is None else " / ".join(f"{x:.2f}" for x in p)


class Target:
    """One server under test: where it listens, what it serves, how to read its memory."""

    def __init__(self, name, url, model, pids, strict, solve_model=None, extra=None, proc=None, log=None):
        self.name = name
        self.url = url
        self.model = model
        self.pids = pids
        self.strict = strict  # its errors make the exit status non-zero
        self.solve_model = solve_model
        self.extra = extra or {}  # fields added to every generation request
        self.proc = proc
        self.log = log
        self.started = time.monotonic()
        self.startup_s = None  # seconds from start to ready, for a server this script started
        self.warmup_error = None

    def stop(self):
        """Terminates a started server's process group (a wrapper script's children too)."""
        if self.proc is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=10)
                return
            except subprocess.TimeoutExpired:
                continue


def log_tail(path, lines=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def spawn(cmd, log_path):
    with open(log_path, "w") as log:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                start_new_session=True)


def wait_listening(proc, log_path, deadline):
    """The URL of recur's `recur serve: listening on URL` line, read from its log."""
    while time.monotonic() < deadline:
        with open(log_path, errors="replace") as f:
            m = LISTENING.search(f.read())
        if m:
            return m.group(1).rstrip("/")
        if proc.poll() is not None:
            raise RuntimeError(f"exited with status {proc.returncode} before listening:\n{log_tail(log_path)}")
        time.sleep(0.1)
    raise RuntimeError(f"no listening line before the deadline:\n{log_tail(log_path)}")


def wait_ready(target, headers, deadline):
    """Polls GET /health until 200; a server without /health (404) is ready once /v1/models answers 200."""
    path = "/health"
    while time.monotonic() < deadline:
        if target.proc is not None and target.proc.poll() is not None:
            raise RuntimeError(f"exited with status {target.proc.returncode}:\n{log_tail(target.log)}")
        try:
            r = httpx.get(target.url + path, headers=headers, timeout=5)
            if r.status_code == 200:
                return
            if r.status_code == 404 and path == "/health":
                path = "/v1/models"
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{target.url}{path} not ready before the deadline")


def start_recur(args, tmp):
    """Starts `recur serve` on an ephemeral port; its URL comes from wait_listening."""
    log = os.path.join(tmp, "recur.log")
    cmd = [args.recur, "serve", "--model", args.llm]
    if args.puzzle_model:
        cmd += ["--model", args.puzzle_model]
    cmd += ["--host", "127.0.0.1", "--port", "0", "--parallel", str(args.parallel), "--threads", str(args.threads),
            "--ctx-size", str(args.ctx_size)]
    if args.api_key:
        cmd += ["--api-key", args.api_key]
    proc = spawn(cmd, log)
    return Target("recur", "", model_id(args.llm), [proc.pid], strict=True,
                  solve_model=model_id(args.puzzle_model) if args.puzzle_model else None, proc=proc, log=log)


def start_llamacpp(args, tmp):
    if importlib.util.find_spec("llama_cpp.server") is None or importlib.util.find_spec("uvicorn") is None:
        raise RuntimeError("llama_cpp.server is not installed: pip install 'llama-cpp-python[server]'")
    port = free_port()
    log = os.path.join(tmp, "llamacpp.log")
    # interrupt_requests False: by default a new request cuts the running stream short.
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", args.llm, "--model_alias", model_id(args.llm),
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(args.ctx_size), "--n_threads", str(args.threads),
           "--n_threads_batch", str(args.threads), "--interrupt_requests", "False", "--verbose", "False"]
    proc = spawn(cmd, log)
    # repeat_penalty 1.0: llama.cpp's default (1.1) is not part of the OpenAI API that recur implements.
    return Target("llama.cpp", f"http://127.0.0.1:{port}", model_id(args.llm), [proc.pid], strict=False,
                  extra={"repeat_penalty": 1.0}, proc=proc, log=log)


def request_for(kind, i, target, args, puzzles):
    """(path, JSON body) of request number i of the run."""
    if kind == "solve":
        return "/v1/solve", {"model": target.solve_model, "puzzles": [puzzles[i % len(puzzles)]]}
    body = {"model": target.model, "max_tokens": args.max_tokens, "temperature": args.temperature, "seed": args.seed}
    body.update(target.extra)
    if kind.startswith("chat"):
        path = "/v1/chat/completions"
        body["messages"] = [{"role": "user", "content": CHAT_PROMPTS[i % len(CHAT_PROMPTS)]}]
    else:
        path = "/v1/completions"
        body["prompt"] = COMPLETION_PROMPTS[i % len(COMPLETION_PROMPTS)]
    if kind.endswith("-stream"):
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return path, body


def error_message(response_text, status):
    try:
        return f"HTTP {status}: {json.loads(response_text)['error']['message']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {status}: {response_text[:200]}"


def check_generation(data, rec):
    """Fills rec from a non-streaming completion body."""
    choice = data["choices"][0]
    text = choice["message"]["content"] if "message" in choice else choice["text"]
    if not isinstance(text, str):
        raise ValueError("no text in the first choice")
    rec["completion_tokens"] = data["usage"]["completion_tokens"]
    rec["finish_reason"] = choice.get("finish_reason")


def check_solve(data, rec, n):
    results = data["results"]
    if len(results) != n or any(len(r["solution"]) != 81 or not r["solution"].isdigit() for r in results):
        raise ValueError("malformed solve results")
    rec["act_steps"] = data["usage"]["act_steps"]


async def send(client, path, body, rec, t0):
    """One request; fills rec (raises on any protocol error)."""
    if not body.get("stream"):
        r = await client.post(path, json=body)
        if r.status_code != 200:
            raise ValueError(error_message(r.text, r.status_code))
        data = r.json()
        if path == "/v1/solve":
            check_solve(data, rec, len(body["puzzles"]))
        else:
            check_generation(data, rec)
        return
    chunks = 0
    done = False
    async with client.stream("POST", path, json=body) as r:
        if r.status_code != 200:
            raise ValueError(error_message((await r.aread()).decode(errors="replace"), r.status_code))
        async for line in r.aiter_lines():
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                done = True
                break
            chunk = json.loads(payload)
            if "error" in chunk:
                raise ValueError(f"error event: {chunk['error']}")
            if chunk.get("usage"):
                rec["completion_tokens"] = chunk["usage"]["completion_tokens"]
                rec["usage_in_stream"] = True
            for choice in chunk.get("choices") or []:
                piece = choice.get("delta", {}).get("content") if "delta" in choice else choice.get("text")
                if piece:
                    chunks += 1
                    if rec["ttft"] is None:
                        rec["ttft"] = time.perf_counter() - t0
                if choice.get("finish_reason"):
                    rec["finish_reason"] = choice["finish_reason"]
    if not done:
        raise ValueError("stream ended without data: [DONE]")
    if not rec["usage_in_stream"]:
        rec["completion_tokens"] = chunks  # no usage chunk: one token per content chunk


def new_record(kind, error=None):
    return {"kind": kind, "error": error, "latency": None, "ttft": None, "completion_tokens": 0,
            "finish_reason": None, "usage_in_stream": False}


async def timed_request(client, kind, i, target, args, puzzles, deadline):
    path, body = request_for(kind, i, target, args, puzzles)
    rec = new_record(kind)
    t0 = time.perf_counter()
    budget = min(args.request_timeout, deadline - time.monotonic())
    try:
        await asyncio.wait_for(send(client, path, body, rec, t0), timeout=max(budget, 0.001))
        rec["latency"] = time.perf_counter() - t0
    except asyncio.TimeoutError:
        rec["error"] = "time limit" if budget < args.request_timeout else f"timeout after {budget:.0f} s"
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as e:
        rec["error"] = f"{type(e).__name__}: {e}"
    return rec


def mix_for(target, mix):
    """The request kinds a target gets: /v1/solve only where a puzzle model is served."""
    return [k for k in mix if k != "solve" or target.solve_model]


async def run_level(target, clients, args, puzzles, deadline):
    """clients concurrent clients x args.requests requests each; returns (records, wall seconds)."""
    mix = mix_for(target, args.mix)
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client_loop(c, client):
        records = []
        for j in range(args.requests):
            if time.monotonic() >= deadline:
                records.append(new_record("-", "time limit"))  # not sent
                continue
            i = c * args.requests + j
            records.append(await timed_request(client, mix[i % len(mix)], i, target, args, puzzles, deadline))
        return records

    async with httpx.AsyncClient(base_url=target.url, headers=headers, limits=limits,
                                 timeout=httpx.Timeout(args.request_timeout, connect=10)) as client:
        t0 = time.perf_counter()
        per_client = await asyncio.gather(*(client_loop(c, client) for c in range(clients)))
        wall = time.perf_counter() - t0
    return [r for rs in per_client for r in rs], wall


async def warm_up(target, args, puzzles, deadline):
    """One short request of each endpoint kind in the mix (not measured); returns an error or None."""
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    short = argparse.Namespace(**{**vars(args), "max_tokens": 8})
    async with httpx.AsyncClient(base_url=target.url, headers=headers, timeout=args.request_timeout) as client:
        for kind in sorted(set(mix_for(target, args.mix))):
            rec = await timed_request(client, kind, 0, target, short, puzzles, deadline)
            if rec["error"]:
                return f"{kind}: {rec['error']}"
    return None


def summarize(records, wall):
    ok = [r for r in records if r["error"] is None]
    streamed = [r for r in ok if r["kind"].endswith("-stream")]
    return {
        "requests": len(records),
        "ok": len(ok),
        "errors": len(records) - len(ok),
        "error_kinds": dict(collections.Counter(r["error"] for r in records if r["error"])),
        "wall_s": wall,
        "requests_per_s": len(ok) / wall if wall > 0 else 0.0,
        "completion_tokens": sum(r["completion_tokens"] for r in ok),
        "tokens_per_s": sum(r["completion_tokens"] for r in ok) / wall if wall > 0 else 0.0,
        "latency_s": percentiles([r["latency"] for r in ok]),
        "ttft_s": percentiles([r["ttft"] for r in ok if r["ttft"] is not None]),
        "at_max_tokens": sum(r["finish_reason"] == "length" for r in ok),
        "tokens_from_chunks": sum(not r["usage_in_stream"] for r in streamed),
    }


def by_kind(records):
    kinds = sorted({r["kind"] for r in records if r["kind"] != "-"}, key=KINDS.index)
    return {k: summarize([r for r in records if r["kind"] == k], 0.0) for k in kinds}


def print_tables(runs, args):
    llama = {r["clients"]: r for r in runs if r["target"] == "llama.cpp"}
    compare = llama and any(r["target"] != "llama.cpp" for r in runs)
    print()
    print(f"max_tokens {args.max_tokens}, temperature {args.temperature}, seed {args.seed}, "
          f"{args.requests} requests per client, mix {','.join(args.mix)}"
          + (f"; recur --parallel {args.parallel} --threads {args.threads}" if args.recur else "")
          + "; times in seconds, memory in MiB")
    print()
    head = ["target", "clients", "requests", "errors", "req/s", "tok/s", "latency p50 / p90 / p99",
            "TTFT p50 / p90 / p99", "RSS before", "RSS after"]
    if compare:
        head.insert(6, "tok/s vs llama.cpp")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in runs:
        s = r["summary"]
        row = [r["target"], str(r["clients"]), str(s["requests"]), str(s["errors"]), f"{s['requests_per_s']:.2f}",
               f"{s['tokens_per_s']:.1f}", fmt_pcts(s["latency_s"]), fmt_pcts(s["ttft_s"]),
               mib(r["rss_before_kib"]), mib(r["rss_after_kib"])]
        if compare:
            base = llama.get(r["clients"])
            base_tok_s = base["summary"]["tokens_per_s"] if base else 0.0
            ratio = "-" if r["target"] == "llama.cpp" or not base_tok_s else f"{s['tokens_per_s'] / base_tok_s:.2f}x"
            row.insert(6, ratio)
        print("| " + " | ".join(row) + " |")
    print()
    print("| target | clients | kind | requests | errors | at max_tokens | latency p50 / p90 / p99 | "
          "TTFT p50 / p90 / p99 |")
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        for kind, s in r["by_kind"].items():
            at_max = "-" if kind == "solve" else f"{s['at_max_tokens']}/{s['ok']}"
            print(f"| {r['target']} | {r['clients']} | {kind} | {s['requests']} | {s['errors']} | {at_max} | "
                  f"{fmt_pcts(s['latency_s'])} | {fmt_pcts(s['ttft_s'])} |")
    notes = []
    if any(r["summary"]["tokens_from_chunks"] for r in runs):
        names = sorted({r["target"] for r in runs if r["summary"]["tokens_from_chunks"]})
        notes.append(f"{', '.join(names)}: no usage chunk in streams; their streamed tokens are counted as content "
                     "chunks")
    if llama:
        notes.append(f"llama.cpp: llama_cpp.server --n_threads {args.threads}, one request at a time "
                     "(no parallel slots)")
    if compare and "solve" in args.mix:
        notes.append("solve requests go to recur only, so the tok/s ratio is like for like only without them")
    for r in runs:
        if r["summary"]["error_kinds"]:
            notes.append(f"{r['target']} x{r['clients']} errors: " +
                         "; ".join(f"{n}x {e}" for e, n in r["summary"]["error_kinds"].items()))
    for n in notes:
        print(f"- {n}")


async def measure(targets, levels, args, puzzles, deadline):
    """Every client count on every target in turn; returns (runs, whether the time limit cut it short)."""
    runs = []
    cut_short = False
    for target in targets:
        target.warmup_error = await warm_up(target, args, puzzles, deadline)
        if target.warmup_error:
            print(f"{target.name}: warm-up failed: {target.warmup_error}", file=sys.stderr)
    for n, clients in enumerate(levels):
        for target in (targets if n % 2 == 0 else targets[::-1]):  # alternate who goes first
            if target.warmup_error:
                continue
            if time.monotonic() >= deadline:
                cut_short = True
                continue
            rss_before = proc_kib(target.pids, "VmRSS") if target.pids else None
            records, wall = await run_level(target, clients, args, puzzles, deadline)
            summary = summarize(records, wall)
            cut_short = cut_short or "time limit" in summary["error_kinds"]
            runs.append({"target": target.name, "strict": target.strict, "url": target.url, "clients": clients,
                         "summary": summary,
                         "by_kind": by_kind(records), "rss_before_kib": rss_before,
                         "rss_after_kib": proc_kib(target.pids, "VmRSS") if target.pids else None,
                         "peak_rss_kib": proc_kib(target.pids, "VmHWM") if target.pids else None})
            errors = "".join(f"; {n}x {e}" for e, n in summary["error_kinds"].items())
            print(f"{target.name}: {clients} clients, {summary['ok']}/{summary['requests']} ok in {wall:.1f} s, "
                  f"{summary['tokens_per_s']:.1f} tok/s{errors}", file=sys.stderr)
    return runs, cut_short


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="base URL of a running server (no /v1), e.g. http://127.0.0.1:8080")
    ap.add_argument("--pid", default="", help="with --url: PID[,PID...] whose VmRSS is summed (e.g. replicas)")
    ap.add_argument("--recur", metavar="BIN", help="start BIN serve on an ephemeral loopback port")
    ap.add_argument("--llamacpp", action="store_true", help="also start llama_cpp.server on the same GGUF")
    ap.add_argument("--llm", default=DEFAULT_LLM, help="language-model GGUF (its file name is the model id)")
    ap.add_argument("--model-id", help="model id to request from --url (default: --llm's file name)")
    ap.add_argument("--puzzle-model", metavar="GGUF", help="a Sudoku TRM GGUF: adds /v1/solve to recur's mix")
    ap.add_argument("--clients", default="4", help="concurrent clients (a comma list sweeps)")
    ap.add_argument("--sweep", help="client counts to sweep, e.g. 1,2,4,8 (overrides --clients)")
    ap.add_argument("--requests", type=int, default=4, help="requests per client (default 4)")
    ap.add_argument("--max-tokens", type=int, default=128, help="max_tokens of each generation (default 128)")
    ap.add_argument("--mix", help="comma list of " + ",".join(KINDS) +
                    " (default: chat,chat-stream,completion,completion-stream, plus solve with --puzzle-model)")
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="server threads (default: all CPUs)")
    ap.add_argument("--parallel", type=int, default=4, help="recur's --parallel (default 4)")
    ap.add_argument("--ctx-size", type=int, default=2048, help="context size for both servers (default 2048)")
    ap.add_argument("--api-key", help="bearer token to send (and to give a started recur)")
    ap.add_argument("--time-limit", type=float, default=600, help="seconds for the whole run (default 600)")
    ap.add_argument("--startup-timeout", type=float, default=120, help="seconds for a server to become ready")
    ap.add_argument("--request-timeout", type=float, default=120, help="seconds per request (default 120)")
    ap.add_argument("--json", metavar="OUT", help="write the configuration and all results as JSON")
    args = ap.parse_args()
    if args.url and args.recur:
        ap.error("--url and --recur are alternatives")
    if not (args.url or args.recur or args.llamacpp):
        ap.error("name a target: --url, --recur and/or --llamacpp")
    if (args.recur or args.llamacpp) and not os.path.exists(args.llm):
        ap.error(f"no such model file: {args.llm}")
    if args.recur and args.puzzle_model and not os.path.exists(args.puzzle_model):
        ap.error(f"no such model file: {args.puzzle_model}")
    try:
        args.levels = [int(x) for x in (args.sweep or args.clients).split(",") if x]
        args.pids = [int(x) for x in args.pid.split(",") if x]
    except ValueError:
        ap.error("--clients, --sweep and --pid take comma-separated integers")
    if not args.levels or min(args.levels) < 1 or args.requests < 1 or args.max_tokens < 1:
        ap.error("clients, requests and max tokens must be positive")
    default_mix = "chat,chat-stream,completion,completion-stream" + (",solve" if args.puzzle_model else "")
    args.mix = [k for k in (args.mix or default_mix).split(",") if k]
    unknown = [k for k in args.mix if k not in KINDS]
    if unknown or not args.mix:
        ap.error(f"--mix takes {','.join(KINDS)}")
    if "solve" in args.mix and not args.puzzle_model:
        ap.error("solve in --mix needs --puzzle-model")
    if args.mix == ["solve"] and args.llamacpp:
        ap.error("llama.cpp serves no /v1/solve: add generation kinds to --mix")
    return args


def main():
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the servers are stopped on kill too
    deadline = time.monotonic() + args.time_limit
    puzzles = read_puzzles()
    targets = []
    with tempfile.TemporaryDirectory(prefix="recur-serve-load-") as tmp:
        try:
            if args.url:
                solve_model = model_id(args.puzzle_model) if args.puzzle_model else None
                targets.append(Target("recur", args.url.rstrip("/"), args.model_id or model_id(args.llm), args.pids,
                                      strict=True, solve_model=solve_model))
            if args.recur:
                targets.append(start_recur(args, tmp))
                t = targets[-1]
                t.url = wait_listening(t.proc, t.log, min(deadline, time.monotonic() + args.startup_timeout))
            if args.llamacpp:
                targets.append(start_llamacpp(args, tmp))
            headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
            for t in targets:
                wait_ready(t, headers, min(deadline, time.monotonic() + args.startup_timeout))
                if t.proc:
                    t.startup_s = time.monotonic() - t.started
                print(f"{t.name}: ready at {t.url} (model {t.model})", file=sys.stderr)
            runs, cut_short = asyncio.run(measure(targets, args.levels, args, puzzles, deadline))
        except RuntimeError as e:
            print(f"serve_load: a server did not start: {e}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
        finally:
            for t in targets:
                t.stop()
    print_tables(runs, args)
    if args.json:
        out = {"config": {k: v for k, v in vars(args).items() if k != "pid"}, "cpus": os.cpu_count(),
               "targets": [{"name": t.name, "url": t.url, "model": t.model, "solve_model": t.solve_model,
                            "startup_s": t.startup_s, "warmup_error": t.warmup_error} for t in targets],
               "runs": runs}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    if cut_short:
        print(f"serve_load: the time limit ({args.time_limit:.0f} s) cut the run short", file=sys.stderr)
    failed = any(t.strict and t.warmup_error for t in targets) or any(r["strict"] and r["summary"]["errors"]
                                                                       for r in runs)
    return 1 if failed or cut_short else 0


if __name__ == "__main__":
    sys.exit(main())
