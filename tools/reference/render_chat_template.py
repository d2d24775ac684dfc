#!/usr/bin/env python3
"""Renders chat templates with jinja2 the way Hugging Face transformers' apply_chat_template does.

The reference for Recur's chat template renderer (Sources/Runtime/Text/ChatTemplate*.swift).
transformers compiles `tokenizer.chat_template` in an ImmutableSandboxedEnvironment with
trim_blocks and lstrip_blocks, the loopcontrols extension ({% break %}, {% continue %}) and a
`{% generation %}` block that only marks text; it replaces the built-in `tojson` filter with
json.dumps (no HTML escaping, ensure_ascii off) and adds `raise_exception` and `strftime_now`.
It renders with `tools` and `documents` set to None when there are none.

Input (a file named on the command line, or standard input): one case or a list of cases,

    {"template": "...", "messages": [{"role": "user", "content": "hi"}],
     "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>",
     "extra": {"name": "value"}}

Output: the same shape on standard output, each case replaced by its rendered string, or by
{"error": "<exception class>", "message": "..."} when jinja2 raised.

Exit status 77 when jinja2 cannot be imported.
"""
import json
import sys
from datetime import datetime

try:
    import jinja2
    from jinja2.exceptions import TemplateError
    from jinja2.ext import Extension
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError as error:  # pragma: no cover - depends on the machine
    print(f"jinja2 is not installed: {error}", file=sys.stderr)
    sys.exit(77)


class GenerationBlock(Extension):
    """`{% generation %}...{% endgeneration %}`: transformers uses it to find assistant tokens;
    for rendering it is its body."""

    tags = {"generation"}

    def parse(self, parser):
        next(parser.stream)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return datetime.now().strftime(format)


def environment():
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationBlock, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(env, case):
    try:
        template = env.from_string(case["template"])
        return template.render(
            messages=case.get("messages", []),
            tools=None,
            documents=None,
            add_generation_prompt=case.get("add_generation_prompt", False),
            bos_token=case.get("bos_token", ""),
            eos_token=case.get("eos_token", ""),
            **case.get("extra", {}),
        )
    except Exception as error:  # every failure is an answer the Swift side must match
        return {"error": type(error).__name__, "message": str(error)}


def main():
    if len(sys.argv) > 1 and sys.argv[1] != "-":
        with open(sys.argv[1], encoding="utf-8") as f:
            request = json.load(f)
    else:
        request = json.load(sys.stdin)
    env = environment()
    if isinstance(request, list):
        result = [render(env, case) for case in request]
    else:
        result = render(env, request)
    # UTF-8 whatever the locale says, so that every code point comes back as it was.
    sys.stdout.buffer.write(json.dumps(result, ensure_ascii=False).encode("utf-8") + b"\n")


if __name__ == "__main__":
    main()
