#!/usr/bin/env python3
"""Print the evaluation text of the language-model conformance checks.

English prose and code that every machine with this Python has: the docstrings of a fixed list of
standard-library modules, in order. Nothing is downloaded and nothing is committed, and the text
is the same on every run with the same Python version.
"""
import importlib
import inspect
import sys

MODULES = ["json", "argparse", "collections", "functools", "itertools", "pathlib", "textwrap",
           "difflib", "heapq", "bisect", "statistics", "fractions", "decimal", "csv", "string",
           "shutil", "tempfile", "logging", "unittest", "typing", "dataclasses", "enum", "re"]


def main() -> int:
    parts = []
    for name in MODULES:
        module = importlib.import_module(name)
        parts.append(inspect.getdoc(module) or "")
        for attr in sorted(vars(module)):
            obj = getattr(module, attr)
            if attr.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if getattr(obj, "__module__", None) != name:
                continue
            doc = inspect.getdoc(obj)
            if doc:
                parts.append(f"{name}.{attr}: {doc}")
    sys.stdout.write("\n\n".join(p for p in parts if p))
    return 0


if __name__ == "__main__":
    sys.exit(main())
