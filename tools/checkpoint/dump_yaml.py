"""Prints what yaml.safe_load reads from a YAML file, in a typed canonical form the Swift tests
rebuild from ConfigValue: usage `dump_yaml.py FILE [KEY...]` (keys select a nested value).

Forms: n (null), b:true/false, i:<int>, d:<16 hex digits of the IEEE double>, s:<hex of UTF-8>,
[a,b,...] for lists, {<hex key>=value,...} with keys sorted by their hex for maps.
"""
import struct
import sys

try:
    import yaml
except ImportError as error:
    print(f"PyYAML not installed: {error}", file=sys.stderr)
    sys.exit(77)


def canonical(value):
    if value is None:
        return "n"
    if isinstance(value, bool):
        return "b:" + ("true" if value else "false")
    if isinstance(value, int):
        return f"i:{value}"
    if isinstance(value, float):
        return "d:" + struct.pack(">d", value).hex()
    if isinstance(value, str):
        return "s:" + value.encode().hex()
    if isinstance(value, list):
        return "[" + ",".join(canonical(item) for item in value) + "]"
    if isinstance(value, dict):
        items = sorted((str(key).encode().hex(), canonical(item)) for key, item in value.items())
        return "{" + ",".join(f"{key}={item}" for key, item in items) + "}"
    raise SystemExit(f"unexpected YAML value type {type(value).__name__}")


with open(sys.argv[1]) as handle:
    document = yaml.safe_load(handle)
for key in sys.argv[2:]:
    document = document[key]
print(canonical(document))
