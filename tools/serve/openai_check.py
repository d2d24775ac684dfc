#!/usr/bin/env python3
"""Checks an OpenAI-compatible server (`recur serve`) with the official `openai` Python client.

  python3 tools/serve/openai_check.py --base-url http://127.0.0.1:8080/v1 --model ID
                                      [--api-key KEY] [--puzzle-model ID] [--skip NAME,...]

Covers /v1/models, chat and text completions (plain and streamed, the two giving the same text at
temperature 0 and a fixed seed, usage counts, max_tokens, stop, seeded sampling), OpenAI-style errors
(unknown model, max_tokens 0, a wrong bearer token with --api-key), GET /health, the raw SSE framing,
and, with --puzzle-model, Recur's own POST /v1/solve (not in the client: sent with httpx2) on puzzles
of models/sudoku-samples.txt.

Prints one line per check, `ok NAME`, `FAIL NAME: why` or `skip NAME`; exits 1 when any check
failed, 0 otherwise, and 77 when the `openai` package is missing (pip install openai). Every request
has a bounded timeout (--timeout, 120 s by default), none is retried, and --time-limit (600 s) bounds
the whole run.
"""
import argparse
import functools
import json
import os
import signal
import sys

try:
    import openai
except ImportError as e:
    print(f"missing Python package: {e.name} (pip install openai)", file=sys.stderr)
    sys.exit(77)
try:
    import httpx2 as httpx  # what current openai releases depend on
except ImportError:
    import httpx  # what older ones depend on

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PUZZLE_FILE = os.path.join(ROOT, "models", "sudoku-samples.txt")
CHAT = [{"role": "user", "content": "Write a short story about a lighthouse keeper and a storm."}]
PROMPT = "The old lighthouse keeper climbed the stairs every evening, and"
SEED = 1234


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def expect_stream_matches(chunks, reference, reference_text, piece_of, object_name=None):
    """A stream's pieces add up to the plain reply's text, and its last choice ends the same way."""
    pieces, last = [], None
    for chunk in chunks:
        if object_name:
            expect(chunk.object == object_name, f"object {chunk.object!r}")
        for choice in chunk.choices:
            pieces.append(piece_of(choice) or "")
            last = choice
    expect(last is not None, "no chunk with choices")
    expect(last.finish_reason == reference.finish_reason,
           f"last chunk's finish_reason {last.finish_reason!r}, plain request's {reference.finish_reason!r}")
    text = "".join(pieces)
    expect(text == reference_text, f"streamed text differs: {text[:80]!r} vs {reference_text[:80]!r}")


def expect_status_error(call, accepted, what):
    """call() must raise one of the accepted openai exception classes (a 4xx answer)."""
    try:
        call()
    except accepted as e:
        expect(400 <= e.status_code < 500, f"status {e.status_code}")
        return
    except openai.APIStatusError as e:
        raise CheckFailed(f"{what}: got {type(e).__name__} (HTTP {e.status_code})")
    raise CheckFailed(f"{what}: the request succeeded")


def expect_usage(usage, max_tokens):
    expect(usage is not None, "no usage")
    expect(usage.prompt_tokens > 0 and usage.completion_tokens > 0, f"non-positive counts: {usage}")
    expect(usage.total_tokens == usage.prompt_tokens + usage.completion_tokens,
           f"total != prompt + completion: {usage}")
    expect(usage.completion_tokens <= max_tokens,
           f"{usage.completion_tokens} completion tokens > max_tokens {max_tokens}")


class Checks:
    def __init__(self, args):
        self.args = args
        self.client = self.make_client(args.api_key or "unused")
        self.root = args.base_url.rstrip("/").removesuffix("/v1")
        self.headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
        self.failed = 0

    def make_client(self, key):
        return openai.OpenAI(base_url=self.args.base_url, api_key=key, timeout=self.args.timeout, max_retries=0)

    def gen(self, **kw):
        """Common arguments of the deterministic generations."""
        return {"model": self.args.model, "max_tokens": self.args.max_tokens, "temperature": 0, "seed": SEED, **kw}

    @functools.cached_property
    def chat_reference(self):
        return self.client.chat.completions.create(messages=CHAT, **self.gen())

    @functools.cached_property
    def completion_reference(self):
        return self.client.completions.create(prompt=PROMPT, **self.gen())

    def run(self, name, check):
        if name in self.args.skip:
            print(f"skip {name}", flush=True)
            return
        try:
            check()
            print(f"ok {name}", flush=True)
        except CheckFailed as e:
            self.failed += 1
            print(f"FAIL {name}: {e}", flush=True)
        except (openai.OpenAIError, httpx.HTTPError, ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
            self.failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)

    # --- the checks ---

    def health(self):
        r = httpx.get(self.root + "/health", headers=self.headers, timeout=self.args.timeout)
        expect(r.status_code == 200, f"HTTP {r.status_code}")
        expect(r.json().get("status") == "ok", f"body {r.text[:200]}")

    def models_list(self):
        ids = [m.id for m in self.client.models.list()]
        for wanted in filter(None, [self.args.model, self.args.puzzle_model]):
            expect(wanted in ids, f"{wanted} not in {ids}")

    def chat(self):
        r = self.chat_reference
        expect(r.object == "chat.completion", f"object {r.object!r}")
        choice = r.choices[0]
        expect(isinstance(choice.message.content, str) and choice.message.content, "no text content")
        expect(choice.message.role == "assistant", f"role {choice.message.role!r}")
        expect(choice.finish_reason in ("stop", "length"), f"finish_reason {choice.finish_reason!r}")
        expect_usage(r.usage, self.args.max_tokens)

    def chat_stream(self):
        chunks = self.client.chat.completions.create(messages=CHAT, stream=True, **self.gen())
        reference = self.chat_reference.choices[0]
        expect_stream_matches(chunks, reference, reference.message.content, lambda choice: choice.delta.content,
                              object_name="chat.completion.chunk")

    def chat_stream_usage(self):
        chunks = list(self.client.chat.completions.create(messages=CHAT, stream=True,
                                                          stream_options={"include_usage": True}, **self.gen()))
        expect(chunks, "empty stream")
        usage = chunks[-1].usage
        expect(usage is not None, "the last chunk carries no usage")
        expect(not chunks[-1].choices, "the usage chunk has choices (OpenAI sends choices: [])")
        expect(all(c.usage is None for c in chunks[:-1]), "usage before the last chunk")
        ref = self.chat_reference.usage
        expect((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) ==
               (ref.prompt_tokens, ref.completion_tokens, ref.total_tokens), f"usage {usage} vs plain {ref}")

    def chat_stream_sse(self):
        """The raw framing: text/event-stream, `data: {json}` events, ending with `data: [DONE]`."""
        body = {"messages": CHAT, "stream": True, **self.gen()}
        with httpx.stream("POST", self.args.base_url.rstrip("/") + "/chat/completions", json=body,
                          headers=self.headers, timeout=self.args.timeout) as r:
            expect(r.status_code == 200, f"HTTP {r.status_code}")
            expect(r.headers.get("content-type", "").startswith("text/event-stream"),
                   f"content-type {r.headers.get('content-type')!r}")
            data = [line[5:].strip() for line in r.iter_lines() if line.startswith("data:")]
        expect(data and data[-1] == "[DONE]", f"last event {data[-1:]!r}")
        for d in data[:-1]:
            json.loads(d)

    def completion(self):
        r = self.completion_reference
        expect(r.object == "text_completion", f"object {r.object!r}")
        expect(isinstance(r.choices[0].text, str) and r.choices[0].text, "no text")
        expect(r.choices[0].finish_reason in ("stop", "length"), f"finish_reason {r.choices[0].finish_reason!r}")
        expect_usage(r.usage, self.args.max_tokens)

    def completion_stream(self):
        chunks = self.client.completions.create(prompt=PROMPT, stream=True, **self.gen())
        reference = self.completion_reference.choices[0]
        expect_stream_matches(chunks, reference, reference.text, lambda choice: choice.text)

    def max_tokens(self):
        r = self.client.chat.completions.create(messages=CHAT, **self.gen(max_tokens=3))
        expect(r.usage.completion_tokens <= 3, f"{r.usage.completion_tokens} completion tokens for max_tokens 3")
        expect(r.choices[0].finish_reason == "length", f"finish_reason {r.choices[0].finish_reason!r}")

    def stop(self):
        """A stop string taken from the middle of the reference text: the reply must end just before it."""
        full = self.completion_reference.choices[0].text
        words = full.split()
        expect(len(words) >= 4, f"reference text too short to pick a stop string: {full!r}")
        stop = " " + words[len(words) // 2]
        expect(full.find(stop) > 0, f"could not place {stop!r} in {full!r}")
        r = self.client.completions.create(prompt=PROMPT, stop=[stop], **self.gen())
        text = r.choices[0].text
        expect(stop not in text, f"{stop!r} in {text!r}")
        expect(full.startswith(text), f"{text!r} is not a prefix of the reference {full!r}")
        expect(r.choices[0].finish_reason == "stop", f"finish_reason {r.choices[0].finish_reason!r}")

    def seeded_sampling(self):
        def sample():
            r = self.client.chat.completions.create(messages=CHAT, **self.gen(temperature=0.8, top_p=0.95, seed=42))
            return r.choices[0].message.content
        first, second = sample(), sample()
        expect(first == second, f"same seed, different text: {first[:60]!r} vs {second[:60]!r}")

    def unknown_model(self):
        expect_status_error(
            lambda: self.client.chat.completions.create(messages=CHAT, **self.gen(model="no-such-model")),
            (openai.NotFoundError, openai.BadRequestError), "unknown model")

    def max_tokens_zero(self):
        expect_status_error(lambda: self.client.chat.completions.create(messages=CHAT, **self.gen(max_tokens=0)),
                            (openai.BadRequestError,), "max_tokens 0")

    def wrong_key(self):
        wrong = self.make_client("wrong-" + self.args.api_key)
        expect_status_error(lambda: wrong.models.list(), (openai.AuthenticationError,), "models.list, wrong key")
        expect_status_error(lambda: wrong.chat.completions.create(messages=CHAT, **self.gen()),
                            (openai.AuthenticationError,), "chat, wrong key")
        r = httpx.get(self.args.base_url.rstrip("/") + "/models", timeout=self.args.timeout)
        expect(r.status_code == 401, f"no key: HTTP {r.status_code}")

    def post_solve(self, body):
        return httpx.post(self.root + "/v1/solve", json=body, headers=self.headers, timeout=self.args.timeout)

    def solve(self):
        puzzles = read_puzzles()[:2]
        r = self.post_solve({"model": self.args.puzzle_model, "puzzles": puzzles})
        expect(r.status_code == 200, f"HTTP {r.status_code}: {r.text[:200]}")
        d = r.json()
        expect(d["object"] == "solve" and d["id"].startswith("solve-"), f"object {d['object']!r}, id {d['id']!r}")
        expect(d["model"] == self.args.puzzle_model and isinstance(d["created"], int), f"model {d['model']!r}")
        expect([x["index"] for x in d["results"]] == [0, 1], f"indices {[x['index'] for x in d['results']]}")
        for x in d["results"]:
            expect(len(x["solution"]) == 81 and x["solution"].isdigit() and "0" not in x["solution"],
                   f"solution {x['solution']!r}")
            expect(isinstance(x["act_steps"], int) and x["act_steps"] >= 1, f"act_steps {x['act_steps']!r}")
            expect(len(x["q_halt"]) == x["act_steps"] and all(isinstance(q, (int, float)) for q in x["q_halt"]),
                   f"{len(x['q_halt'])} q_halt values for {x['act_steps']} steps")
            expect(isinstance(x["valid"], bool), f"valid {x['valid']!r}")
        expect(d["usage"] == {"puzzles": 2, "act_steps": sum(x["act_steps"] for x in d["results"])},
               f"usage {d['usage']}")

    def solve_halt_max(self):
        r = self.post_solve({"model": self.args.puzzle_model, "puzzles": read_puzzles()[:1], "halt": "max",
                             "max_steps": 2})
        expect(r.status_code == 200, f"HTTP {r.status_code}: {r.text[:200]}")
        steps = r.json()["results"][0]["act_steps"]
        expect(steps == 2, f"act_steps {steps} with halt max, max_steps 2")

    def solve_bad_puzzle(self):
        r = self.post_solve({"model": self.args.puzzle_model, "puzzles": ["123"]})
        expect(400 <= r.status_code < 500, f"HTTP {r.status_code} for a 3-character puzzle")
        expect("message" in r.json()["error"], f"body {r.text[:200]}")


def read_puzzles():
    with open(PUZZLE_FILE) as f:
        return [line.split()[0] for line in f if line.strip() and not line.startswith("#")]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-url", required=True, help="the API root, e.g. http://127.0.0.1:8080/v1")
    ap.add_argument("--model", required=True, help="language-model id")
    ap.add_argument("--api-key", help="the server's key: also checks that a wrong one is refused")
    ap.add_argument("--puzzle-model", help="a Sudoku TRM model id: checks POST /v1/solve")
    ap.add_argument("--max-tokens", type=int, default=32, help="max_tokens of the generations (default 32)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds per request (default 120)")
    ap.add_argument("--time-limit", type=int, default=600, help="seconds for all the checks (default 600)")
    ap.add_argument("--skip", default="", help="comma list of check names not to run")
    args = ap.parse_args()

    def out_of_time(*_):
        print(f"FAIL time-limit: the checks ran past {args.time_limit} s", flush=True)
        sys.exit(1)

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(args.time_limit)
    args.skip = set(filter(None, args.skip.split(",")))
    c = Checks(args)
    checks = [("health", c.health), ("models.list", c.models_list), ("chat", c.chat), ("chat.stream", c.chat_stream),
              ("chat.stream.usage", c.chat_stream_usage), ("chat.stream.sse", c.chat_stream_sse),
              ("completion", c.completion), ("completion.stream", c.completion_stream),
              ("max_tokens", c.max_tokens), ("stop", c.stop), ("seed", c.seeded_sampling),
              ("error.unknown_model", c.unknown_model), ("error.max_tokens_zero", c.max_tokens_zero),
              ("auth.wrong_key", c.wrong_key), ("solve", c.solve), ("solve.halt_max", c.solve_halt_max),
              ("solve.bad_puzzle", c.solve_bad_puzzle)]
    unknown = args.skip - {name for name, _ in checks}
    if unknown:
        ap.error(f"--skip names no check: {', '.join(sorted(unknown))}")
    if not args.api_key:
        args.skip.add("auth.wrong_key")
    if not args.puzzle_model:
        args.skip |= {"solve", "solve.halt_max", "solve.bad_puzzle"}
    for name, check in checks:
        c.run(name, check)
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
