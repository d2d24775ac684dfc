"""Neuro-symbolic search (NSSR): the PyTorch / Python reference of docs/nssr.md.

A tiny recursive transformer reads input/output example rows and predicts which registered
functions to compose; a search builds candidates from its top predictions, validates them exactly
against the rows, simplifies the winner and can register it in an SQLite registry.

API:
    PRIMITIVES, ITERATION (body arity), ITER_CAP, iterations(n), apply_primitive(...)
    Step, Function, Library (functions by id: validation, evaluation, size, layer, expressions)
    Registry (SQLite: init / open / register), RegistryError, CompositionError
    features(v), row_features(rows, cfg), NSSRConfig, NSSR (nn.Module; state_dict keys are the GGUF
    tensor names), Carry, NSSR.start(features) / NSSR.step(carry) -> (heads, carry)
    Searcher / search(rows, library, model, ...) -> SearchResult; simplify; expression
    save_checkpoint / load_checkpoint / write_gguf / load_gguf / all_config_yaml
    read_csv(path) -> (names, rows)

Every value is an IEEE double (numpy float64 arrays over the task's rows: evaluation is elementwise,
so it is the same arithmetic as a row-at-a-time evaluation). Sums that feed decisions (constant
fits, R^2) run in row order (np.add.accumulate), as the doc says.
"""
import itertools
import json
import re
import math
import os
import sqlite3
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

ARCH = "nssr"
APPLICATION_ID = 0x52434E53  # 'RCNS'
SCHEMA_VERSION = 1
ITER_CAP = 1000

# (name, arity) in id order (ids 1..22)
PRIMITIVES: List[Tuple[str, int]] = [
    ("OR", 2), ("AND", 2), ("NOT", 1), ("ADD", 2), ("SUB", 2), ("MUL", 2), ("INC", 1), ("DEC", 1),
    ("DIV", 2), ("LT", 2), ("LTE", 2), ("GT", 2), ("GTE", 2), ("EQ", 2), ("NEQ", 2), ("COND", 3),
    ("CONST", 1), ("NULL", 1), ("LOOP", 3), ("LOOP4", 4), ("WHILE", 3), ("ACCUM", 2)]
PRIM_ID = {name: i + 1 for i, (name, _) in enumerate(PRIMITIVES)}
# iteration primitive name -> body arity
ITERATION = {"LOOP": 2, "LOOP4": 3, "WHILE": 2, "ACCUM": 2}
COMPOSITION_TYPES = ["none", "sequential", "nested", "parallel"]


class CompositionError(ValueError):
    pass


class RegistryError(ValueError):
    pass


# ---- primitives ----------------------------------------------------------------------------------

def iterations(n: np.ndarray) -> np.ndarray:
    """k = clamp(trunc(n), 0, 1000), 0 when n is not finite (int64 array)."""
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        k = np.clip(np.trunc(np.where(np.isfinite(n), n, 0.0)), 0, ITER_CAP)
    return k.astype(np.int64)


def _truth(b) -> np.ndarray:
    return np.asarray(b, dtype=np.float64)


def apply_primitive(name: str, args: Sequence[np.ndarray],
                    body: Optional[Callable[[List[np.ndarray]], np.ndarray]] = None) -> np.ndarray:
    """One primitive applied elementwise to float64 arrays of equal shape. An iteration primitive
    needs `body` (a function of its body-arity arrays returning an array)."""
    a = args[0]
    b = args[1] if len(args) > 1 else None
    c = args[2] if len(args) > 2 else None
    with np.errstate(all="ignore"):
        if name == "OR":
            return _truth((a != 0) | (b != 0))
        if name == "AND":
            return _truth((a != 0) & (b != 0))
        if name == "NOT":
            return _truth(a == 0)
        if name == "ADD":
            return a + b
        if name == "SUB":
            return a - b
        if name == "MUL":
            return a * b
        if name == "INC":
            return a + 1.0
        if name == "DEC":
            return a - 1.0
        if name == "DIV":
            zero = b == 0
            return np.where(zero, 0.0, a / np.where(zero, 1.0, b))
        if name == "LT":
            return _truth(a < b)
        if name == "LTE":
            return _truth(a <= b)
        if name == "GT":
            return _truth(a > b)
        if name == "GTE":
            return _truth(a >= b)
        if name == "EQ":
            return _truth(a == b)
        if name == "NEQ":
            return _truth(a != b)
        if name == "COND":
            return np.where(a != 0, b, c).astype(np.float64)
        if name == "CONST":
            return np.ones_like(a, dtype=np.float64)
        if name == "NULL":
            return np.zeros_like(a, dtype=np.float64)
    if name not in ITERATION:
        raise KeyError(name)
    if body is None:
        raise CompositionError(f"{name} needs a body")
    with np.errstate(all="ignore"):
        if name in ("LOOP", "LOOP4"):
            k = iterations(a)
            acc = np.array(b, dtype=np.float64, copy=True)
            rest = list(args[2:])
            for i in range(int(k.max(initial=0))):
                act = i < k
                if act.all():
                    acc = body([acc] + rest)
                else:
                    acc[act] = body([acc[act]] + [r[act] for r in rest])
            return acc
        if name == "WHILE":
            acc = np.array(a, dtype=np.float64, copy=True)
            for _ in range(ITER_CAP):
                act = acc < b
                if not act.any():
                    break
                if act.all():
                    acc = body([acc, c])
                else:
                    acc[act] = body([acc[act], c[act]])
            return acc
        # ACCUM(n, x): acc = 0; for i in 0..<k: acc = acc + g(i, x)
        k = iterations(a)
        acc = np.zeros_like(b, dtype=np.float64)
        for i in range(int(k.max(initial=0))):
            act = i < k
            acc[act] = acc[act] + body([np.full(int(act.sum()), float(i)), b[act]])
        return acc


# ---- functions and compositions ------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    fid: int
    args: Tuple[int, ...]
    body: Optional[int] = None

    def to_json(self):
        return [self.fid, list(self.args)] + ([self.body] if self.body is not None else [])


@dataclass
class Function:
    id: int
    name: str
    arity: int
    layer: int = 0
    steps: Optional[Tuple[Step, ...]] = None   # None for primitives
    constant: Optional[float] = None
    const_mode: str = "multiplicative"
    created_at: str = ""

    @property
    def primitive(self) -> bool:
        return self.steps is None

    @property
    def iteration(self) -> bool:
        return self.primitive and self.name in ITERATION

    @property
    def body_arity(self) -> Optional[int]:
        return ITERATION.get(self.name) if self.primitive else None


def parse_steps(obj) -> Tuple[Step, ...]:
    """Composition JSON (already decoded) -> steps; shape errors raise CompositionError."""
    if not isinstance(obj, list):
        raise CompositionError("composition is not a JSON list")
    steps = []
    for i, s in enumerate(obj):
        if not isinstance(s, list) or len(s) not in (2, 3) or not isinstance(s[1], list):
            raise CompositionError(f"step {i} is not [child_id, [args...]] or [child_id, [args...], body_id]")
        vals = [s[0]] + list(s[1]) + ([s[2]] if len(s) == 3 else [])
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            raise CompositionError(f"step {i} holds a value that is not an integer")
        steps.append(Step(s[0], tuple(s[1]), s[2] if len(s) == 3 else None))
    return tuple(steps)


def steps_json(steps: Sequence[Step]) -> str:
    """Composition JSON as stored: `[[6, [0, 0]]]` (json.dumps spacing)."""
    return json.dumps([s.to_json() for s in steps])


def primitive_functions() -> List[Function]:
    return [Function(i + 1, n, a, 0) for i, (n, a) in enumerate(PRIMITIVES)]


class Library:
    """The functions of a registry by id, with validation and evaluation."""

    def __init__(self, functions: Sequence[Function]):
        self.funcs: Dict[int, Function] = {}
        self.by_name: Dict[str, Function] = {}
        for f in functions:
            self.funcs[f.id] = f
            self.by_name[f.name] = f
        self._size: Dict[int, int] = {}

    @classmethod
    def primitives(cls) -> "Library":
        return cls(primitive_functions())

    def ids(self) -> List[int]:
        return sorted(self.funcs)

    def __len__(self):
        return len(self.funcs)

    def __getitem__(self, fid: int) -> Function:
        return self.funcs[fid]

    # -- validation --
    def check_steps(self, name: str, arity: int, steps, constant=None, const_mode="multiplicative"):
        """Validate one composition against this library; raises CompositionError naming `name`."""
        def fail(msg):
            raise CompositionError(f"function {name}: {msg}")
        if steps is None or len(steps) == 0:
            fail("empty composition")
        for i, s in enumerate(steps):
            child = self.funcs.get(s.fid)
            if child is None:
                fail(f"step {i}: unknown child id {s.fid}")
            if len(s.args) != child.arity:
                fail(f"step {i}: {child.name} takes {child.arity} arguments, the step gives {len(s.args)}")
            for j, v in enumerate(s.args):
                if v < -1 or v >= arity + i:
                    fail(f"step {i}: argument {j} reads value {v}, out of range or forward "
                         f"(defined so far: -1 and 0..{arity + i - 1})")
            if s.body is not None:
                if not child.iteration:
                    fail(f"step {i}: a body ({s.body}) on {child.name}, which is not an iteration primitive")
                body = self.funcs.get(s.body)
                if body is None:
                    fail(f"step {i}: unknown body id {s.body}")
                if body.iteration:
                    fail(f"step {i}: body {body.name} is an iteration primitive")
                if body.arity != child.body_arity:
                    fail(f"step {i}: body {body.name} has arity {body.arity}, {child.name} needs {child.body_arity}")
            elif child.iteration:
                fail(f"step {i}: {child.name} without a body")
        if constant is not None and not (isinstance(constant, (int, float)) and math.isfinite(constant)):
            fail(f"constant {constant!r} is not a finite number")
        if const_mode not in ("multiplicative", "additive"):
            fail(f"const_mode {const_mode!r}")

    def validate(self):
        """Every learned function's composition, then cycles through learned functions."""
        for fid in self.ids():
            f = self.funcs[fid]
            if f.primitive:
                continue
            self.check_steps(f.name, f.arity, f.steps, f.constant, f.const_mode)
        state: Dict[int, int] = {}

        def visit(fid, path):
            f = self.funcs[fid]
            if f.primitive:
                return
            if state.get(fid) == 2:
                return
            if state.get(fid) == 1:
                cyc = path[path.index(fid):] + [fid]
                raise CompositionError(f"function {f.name}: cycle through learned functions: "
                                       + " -> ".join(self.funcs[i].name for i in cyc))
            state[fid] = 1
            for s in f.steps:
                for c in (s.fid, s.body):
                    if c is not None:
                        visit(c, path + [fid])
            state[fid] = 2

        for fid in self.ids():
            visit(fid, [])

    # -- structure --
    def size(self, fid: int) -> int:
        """Primitive applications when fully expanded: a primitive 1, an iteration step 1 + its body's size,
        a learned function the sum over its steps."""
        if fid in self._size:
            return self._size[fid]
        f = self.funcs[fid]
        n = 1 if f.primitive else self.steps_size(f.steps)
        self._size[fid] = n
        return n

    def steps_size(self, steps: Sequence[Step]) -> int:
        return sum(self.size(s.fid) + (self.size(s.body) if s.body is not None else 0) for s in steps)

    def layer_of(self, steps: Sequence[Step]) -> int:
        return 1 + max(self.funcs[c].layer for s in steps for c in (s.fid, s.body) if c is not None)

    # -- evaluation --
    def call(self, fid: int, args: List[np.ndarray], body: Optional[int] = None) -> np.ndarray:
        f = self.funcs[fid]
        if f.primitive:
            b = None
            if body is not None:
                def b(xs, _body=body):
                    return self.call(_body, xs)
            return apply_primitive(f.name, args, b)
        return self.run_steps(f.steps, args, f.constant, f.const_mode)

    def run_steps(self, steps: Sequence[Step], inputs: List[np.ndarray], constant=None,
                  const_mode="multiplicative") -> np.ndarray:
        values = list(inputs)
        zero = None
        for s in steps:
            a = []
            for v in s.args:
                if v == -1:
                    if zero is None:
                        zero = np.zeros_like(inputs[0] if inputs else np.zeros(1), dtype=np.float64)
                    a.append(zero)
                else:
                    a.append(values[v])
            values.append(self.call(s.fid, a, s.body))
        r = values[-1]
        if constant is not None:
            with np.errstate(all="ignore"):
                r = r * constant if const_mode == "multiplicative" else r + constant
        return r

    def evaluate_scalar(self, fid: int, args: Sequence[float], body: Optional[int] = None) -> float:
        return float(self.call(fid, [np.array([float(x)]) for x in args], body)[0])

    # -- printing --
    def expression(self, steps: Sequence[Step], names: Sequence[str], constant=None,
                   const_mode="multiplicative") -> str:
        values = list(names)
        for s in steps:
            f = self.funcs[s.fid]
            args = ", ".join("0" if v == -1 else values[v] for v in s.args)
            head = f.name + (f"[{self.funcs[s.body].name}]" if s.body is not None else "")
            values.append(f"{head}({args})")
        e = values[-1]
        if constant is not None:
            e = f"{'MUL' if const_mode == 'multiplicative' else 'ADD'}({e}, {format_constant(constant)})"
        return e


def round_constant(c: float) -> float:
    """A fitted constant rounded to 10 significant digits (the double nearest printf's %.10g), so a fit of
    y = 9.81 m h gives 9.81, not 9.809999999999999."""
    return float(f"{c:.10g}")


def format_constant(c: float) -> str:
    """Shortest round-trip decimal (Python repr: 0.5, 9.81, 2.0, 1e-05)."""
    return repr(float(c))


def column_name(i: int) -> str:
    """a, b, ..., z, aa, ab, ... (bijective base 26)."""
    name = ""
    n = i
    while True:
        name = chr(ord("a") + n % 26) + name
        n = n // 26 - 1
        if n < 0:
            return name


# ---- registry (SQLite) ---------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE functions (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    arity INTEGER NOT NULL,
    layer INTEGER NOT NULL,
    composition TEXT,
    constants TEXT,
    const_mode TEXT NOT NULL DEFAULT 'multiplicative' CHECK (const_mode IN ('multiplicative', 'additive')),
    created_at TEXT NOT NULL
);
CREATE INDEX functions_layer ON functions(layer);
"""


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read_ids(path: str) -> Tuple[int, int]:
    """(application_id, user_version) of an existing file, opened read-only."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            app = con.execute("PRAGMA application_id").fetchone()[0]
            ver = con.execute("PRAGMA user_version").fetchone()[0]
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        raise RegistryError(f"{path}: not an NSSR registry ({e})")
    return app, ver


class Registry:
    """An NSSR registry file. `init` creates one; `Registry(path)` opens an existing one (application id
    and schema version checked, every composition validated)."""

    def __init__(self, path: str):
        self.path = path
        if not os.path.isfile(path):
            raise RegistryError(f"{path}: no such registry")
        app, ver = _read_ids(path)
        if app != APPLICATION_ID:
            raise RegistryError(f"{path}: not an NSSR registry (application_id 0x{app & 0xFFFFFFFF:08X}, "
                                f"expected 0x{APPLICATION_ID:08X})")
        if ver != SCHEMA_VERSION:
            raise RegistryError(f"{path}: registry schema version {ver}, this reader knows {SCHEMA_VERSION}")
        self.library = self._load()

    @staticmethod
    def init(path: str) -> "Registry":
        """Create a registry holding the 22 primitives (ids 1..22). A missing or empty (0-byte) file is
        created (temp file + rename); any other file is refused and left untouched: another application's
        file (application_id differs) or an existing NSSR registry."""
        if os.path.exists(path) and os.path.getsize(path) > 0:
            app, _ = _read_ids(path)
            if app != APPLICATION_ID:
                raise RegistryError(f"{path}: not an NSSR registry (application_id 0x{app & 0xFFFFFFFF:08X}, "
                                    f"expected 0x{APPLICATION_ID:08X}); left untouched")
            raise RegistryError(f"{path}: already an NSSR registry; left untouched")
        tmp = path + ".tmp"
        if os.path.exists(tmp):
            os.remove(tmp)
        con = sqlite3.connect(tmp)
        try:
            con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            con.executescript(SCHEMA)
            now = utc_now()
            con.executemany("INSERT INTO functions (id, name, arity, layer, composition, constants, const_mode, "
                            "created_at) VALUES (?, ?, ?, 0, NULL, NULL, 'multiplicative', ?)",
                            [(i + 1, n, a, now) for i, (n, a) in enumerate(PRIMITIVES)])
            con.commit()
        finally:
            con.close()
        os.replace(tmp, path)
        return Registry(path)

    def _load(self) -> Library:
        con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT id, name, arity, layer, composition, constants, const_mode, created_at "
                               "FROM functions ORDER BY id").fetchall()
        finally:
            con.close()
        funcs = []
        for k, (fid, name, arity, layer, comp, consts, mode, created) in enumerate(rows):
            if fid != k + 1:
                raise RegistryError(f"{self.path}: function {name} has id {fid}; ids must be 1, 2, ... without gaps")
            if comp is None:
                if fid > len(PRIMITIVES) or PRIMITIVES[fid - 1] != (name, arity) or layer != 0:
                    raise RegistryError(f"{self.path}: function {name} (id {fid}) has no composition and is not "
                                        f"primitive {fid}")
                funcs.append(Function(fid, name, arity, layer, None, None, mode, created))
                continue
            try:
                steps = parse_steps(json.loads(comp))
            except (json.JSONDecodeError, CompositionError) as e:
                raise CompositionError(f"function {name}: {e}")
            if fid <= len(PRIMITIVES):
                raise RegistryError(f"{self.path}: function {name} (id {fid}): ids 1..{len(PRIMITIVES)} "
                                    "are the primitives")
            if layer < 1:
                raise CompositionError(f"function {name}: a learned function needs layer >= 1, found {layer}")
            constant = None
            if consts is not None:
                c = json.loads(consts)
                if not (isinstance(c, list) and len(c) == 1 and isinstance(c[0], (int, float))
                        and not isinstance(c[0], bool)):
                    raise CompositionError(f"function {name}: constants {consts!r} is not [c]")
                constant = float(c[0])
            funcs.append(Function(fid, name, arity, layer, steps, constant, mode, created))
        for i, (n, a) in enumerate(PRIMITIVES):
            f = next((g for g in funcs if g.id == i + 1), None)
            if f is None or f.name != n or f.arity != a or not f.primitive:
                raise RegistryError(f"{self.path}: id {i + 1} is not primitive {n}")
        lib = Library(funcs)
        lib.validate()
        return lib

    def register(self, name: str, arity: int, steps: Sequence[Step], constant: Optional[float] = None,
                 const_mode: str = "multiplicative") -> Function:
        lib = self.library
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise RegistryError(f"{name!r} is not a function name: letters, digits and _, not starting with a digit")
        if name in lib.by_name:
            raise RegistryError(f"{self.path}: a function named {name} exists (id {lib.by_name[name].id})")
        lib.check_steps(name, arity, steps, constant, const_mode)
        layer = lib.layer_of(steps)
        now = utc_now()
        con = sqlite3.connect(self.path)
        try:
            cur = con.execute("INSERT INTO functions (name, arity, layer, composition, constants, const_mode, "
                              "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (name, arity, layer, steps_json(steps),
                               json.dumps([float(constant)]) if constant is not None else None,
                               const_mode, now))
            fid = cur.lastrowid
            con.commit()
        finally:
            con.close()
        self.library = self._load()
        return self.library[fid]


# ---- features and model --------------------------------------------------------------------------

def features(v) -> np.ndarray:
    """[..., 4] float64: v / 100, sign(v), log1p(|v|), v - trunc(v)."""
    v = np.asarray(v, dtype=np.float64)
    return np.stack([v / 100.0, np.sign(v), np.log1p(np.abs(v)), v - np.trunc(v)], axis=-1)


def row_features(rows: Sequence[Sequence[float]], input_dim: int = 32, seq_len: int = 8) -> np.ndarray:
    """[min(m, seq_len), input_dim] float32: per row value slots 0..vpr-2 the first input columns (0 for
    missing ones), the last slot the output."""
    vpr = input_dim // 4
    rows = [list(r) for r in rows[:seq_len]]
    out = np.zeros((len(rows), vpr), dtype=np.float64)
    for i, r in enumerate(rows):
        ins = r[:-1][:vpr - 1]
        out[i, :len(ins)] = ins
        out[i, vpr - 1] = r[-1]
    return features(out).reshape(len(rows), vpr * 4).astype(np.float32)


try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError:  # the registry / primitives / search helpers work without torch
    torch = None


@dataclass
class NSSRConfig:
    d: int = 128
    heads: int = 8
    layers: int = 2
    input_dim: int = 32
    seq_len: int = 8
    n: int = 6
    t: int = 3
    steps: int = 16
    eps: float = 1e-5
    functions: List[str] = field(default_factory=lambda: [n for n, _ in PRIMITIVES])

    @property
    def ffn(self) -> int:
        return 4 * self.d

    @property
    def F(self) -> int:
        return len(self.functions)

    def __post_init__(self):
        if self.d % self.heads:
            raise ValueError(f"d {self.d} is not a multiple of heads {self.heads}")
        if self.input_dim % 4 or self.input_dim < 8:
            raise ValueError(f"input_dim {self.input_dim}: a multiple of 4, at least 8")

    @classmethod
    def from_dict(cls, d: Dict) -> "NSSRConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


if torch is not None:
    class Carry:
        """x (the embedded rows, fixed) and the recursion state y, z: [B, R, d] each."""

        def __init__(self, x, y, z):
            self.x, self.y, self.z = x, y, z

    class Block(nn.Module):
        def __init__(self, cfg: NSSRConfig):
            super().__init__()
            d = cfg.d
            self.heads = cfg.heads
            self.attn_norm = nn.LayerNorm(d, eps=cfg.eps)
            self.attn_q = nn.Linear(d, d)
            self.attn_k = nn.Linear(d, d)
            self.attn_v = nn.Linear(d, d)
            self.attn_output = nn.Linear(d, d)
            self.ffn_norm = nn.LayerNorm(d, eps=cfg.eps)
            self.ffn_up = nn.Linear(d, cfg.ffn)
            self.ffn_down = nn.Linear(cfg.ffn, d)

        def forward(self, h):
            B, R, d = h.shape
            H = self.heads
            hd = d // H
            a = self.attn_norm(h)
            q = self.attn_q(a).view(B, R, H, hd).transpose(1, 2)
            k = self.attn_k(a).view(B, R, H, hd).transpose(1, 2)
            v = self.attn_v(a).view(B, R, H, hd).transpose(1, 2)
            w = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(hd), dim=-1)
            o = (w @ v).transpose(1, 2).reshape(B, R, d)
            h = h + self.attn_output(o)
            return h + self.ffn_down(F.gelu(self.ffn_up(self.ffn_norm(h))))  # exact (erf) GELU

    class NSSR(nn.Module):
        def __init__(self, cfg: NSSRConfig):
            super().__init__()
            self.cfg = cfg
            d = cfg.d
            self.input_proj = nn.Linear(cfg.input_dim, d)
            self.position_embd = nn.Embedding(cfg.seq_len, d)
            self.y_init = nn.Parameter(torch.randn(d) * 0.5)
            self.z_init = nn.Parameter(torch.randn(d) * 0.5)
            self.recursion_norm = nn.LayerNorm(d, eps=cfg.eps)
            self.blk = nn.ModuleList([Block(cfg) for _ in range(cfg.layers)])
            self.head_primary = nn.Linear(d, cfg.F)
            self.head_secondary = nn.Linear(d, cfg.F)
            self.head_tertiary = nn.Linear(d, cfg.F)
            self.head_composition = nn.Linear(d, 4)
            self.head_halt = nn.Linear(d, 1)
            nn.init.normal_(self.position_embd.weight, std=0.02)
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, std=0.02)
                    nn.init.zeros_(m.bias)

        def blocks(self, h):
            for b in self.blk:
                h = b(h)
            return h

        def embed(self, feats):
            """feats [B, R, input_dim] -> x = input_proj(feats) + position_embd[0..<R]."""
            R = feats.shape[-2]
            if R > self.cfg.seq_len or R < 1:
                raise ValueError(f"{R} rows: the model reads 1..{self.cfg.seq_len}")
            return self.input_proj(feats) + self.position_embd.weight[:R]

        def start(self, feats) -> "Carry":
            """feats [B, R, input_dim] (or [R, input_dim]) -> the carry of supervision step 0."""
            if feats.dim() == 2:
                feats = feats.unsqueeze(0)
            B, R, _ = feats.shape
            x = self.embed(feats)
            y = self.y_init.expand(B, R, -1)
            z = self.z_init.expand(B, R, -1)
            return Carry(x, y, z)

        def cycle(self, x, y, z):
            for _ in range(self.cfg.n):
                z = self.blocks(self.recursion_norm((x + y) + z))
            y = self.blocks(self.recursion_norm(y + z))
            return y, z

        def step(self, carry: "Carry", grad_last_only: bool = False):
            """One supervision step: T cycles (with grad_last_only, the first T - 1 under no_grad, as TRM
            trains). Returns (heads {primary, secondary, tertiary [B, F], composition [B, 4], halt [B]},
            the new carry with y, z detached). Training re-embeds x each step (Carry(model.embed(f), y, z))."""
            x, y, z = carry.x, carry.y, carry.z
            T = self.cfg.t
            if grad_last_only and T > 1:
                with torch.no_grad():
                    for _ in range(T - 1):
                        y, z = self.cycle(x, y, z)
                y, z = self.cycle(x, y, z)
            else:
                for _ in range(T):
                    y, z = self.cycle(x, y, z)
            p = y.mean(1)
            heads = {"primary": self.head_primary(p), "secondary": self.head_secondary(p),
                     "tertiary": self.head_tertiary(p), "composition": self.head_composition(p),
                     "halt": self.head_halt(p).squeeze(-1)}
            return heads, Carry(x, y.detach(), z.detach())

        def run(self, feats, steps: int):
            """Heads (and y/z means) per supervision step for one task's features [R, input_dim]."""
            out = []
            with torch.no_grad():
                carry = self.start(feats)
                for _ in range(steps):
                    h, carry = self.step(carry)
                    out.append({k: v[0] for k, v in h.items()} | {"y_mean": float(carry.y.mean()),
                                                                  "z_mean": float(carry.z.mean())})
            return out

    def gguf_tensor_names(cfg: NSSRConfig) -> List[str]:
        names = ["input_proj.weight", "input_proj.bias", "position_embd.weight", "y_init", "z_init",
                 "recursion_norm.weight", "recursion_norm.bias"]
        for i in range(cfg.layers):
            for part in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_up", "ffn_down"):
                names += [f"blk.{i}.{part}.weight", f"blk.{i}.{part}.bias"]
        for h in ("primary", "secondary", "tertiary", "composition", "halt"):
            names += [f"head_{h}.weight", f"head_{h}.bias"]
        return names

    def is_linear_weight(name: str) -> bool:
        """The tensors that take the file's type: the linears' weights."""
        return name.endswith(".weight") and any(
            p in name for p in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_up", "ffn_down", "input_proj",
                                "head_"))

    def save_checkpoint(model: "NSSR", out_dir: str, extra: Optional[Dict] = None) -> str:
        """DIR/checkpoint.pt {"model": state_dict, "config": {...model fields..., "functions": [...], extra}} and
        DIR/all_config.yaml, each via temp + rename."""
        os.makedirs(out_dir, exist_ok=True)
        config = asdict(model.cfg)
        if extra:
            config.update(extra)
        sd = {k: v.detach().to(torch.float32).clone() for k, v in model.state_dict().items()}
        path = os.path.join(out_dir, "checkpoint.pt")
        torch.save({"model": sd, "config": config}, path + ".tmp")
        os.replace(path + ".tmp", path)
        y = os.path.join(out_dir, "all_config.yaml")
        with open(y + ".tmp", "w") as f:
            f.write(all_config_yaml(model.cfg))
        os.replace(y + ".tmp", y)
        return path

    def load_checkpoint(path: str) -> Tuple["NSSR", Dict]:
        if os.path.isdir(path):
            path = os.path.join(path, "checkpoint.pt")
        ck = torch.load(path, map_location="cpu", weights_only=True)
        cfg = NSSRConfig.from_dict(ck["config"])
        model = NSSR(cfg)
        model.load_state_dict(ck["model"], strict=True)
        model.eval()
        return model, ck["config"]

    def write_gguf(model: "NSSR", path: str, ftype: str = "f32") -> str:
        """The doc's nssr GGUF: f32 | f16 | q8_0 for the linears' weights, everything else F32 (temp + rename)."""
        import gguf
        from gguf import GGMLQuantizationType as Q
        cfg = model.cfg
        sd = model.state_dict()
        tmp = path + ".tmp"
        w = gguf.GGUFWriter(tmp, ARCH)
        w.add_file_type(int({"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                             "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[ftype]))
        for key, value in (("embedding_length", cfg.d), ("block_count", cfg.layers),
                           ("attention.head_count", cfg.heads), ("feed_forward_length", cfg.ffn),
                           ("context_length", cfg.seq_len), ("input_length", cfg.input_dim),
                           ("recursion.n", cfg.n), ("recursion.t", cfg.t), ("supervision_steps", cfg.steps),
                           ("function_count", cfg.F)):
            w.add_uint32(f"{ARCH}.{key}", int(value))
        w.add_float32(f"{ARCH}.attention.layer_norm_epsilon", float(cfg.eps))
        w.add_array(f"{ARCH}.functions", list(cfg.functions))
        for name in gguf_tensor_names(cfg):
            t = sd[name].detach().to(torch.float32).contiguous().numpy()
            if is_linear_weight(name) and ftype == "f16":
                w.add_tensor(name, t.astype(np.float16))
            elif is_linear_weight(name) and ftype == "q8_0":
                from gguf import quants
                q = quants.quantize(t, Q.Q8_0)
                w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=Q.Q8_0)
            else:
                w.add_tensor(name, t)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        os.replace(tmp, path)
        return path

    def load_gguf(path: str) -> "NSSR":
        """Any nssr GGUF (F32 / F16 / Q8_0 tensors, dequantized with gguf.quants) into NSSR (float32)."""
        import gguf
        from gguf import quants
        r = gguf.GGUFReader(path)

        def field_(key, default=None):
            f = r.fields.get(key)
            if f is None:
                if default is None:
                    raise ValueError(f"{path}: metadata key {key} missing")
                return default
            return f.contents()

        if field_("general.architecture") != ARCH:
            raise ValueError(f"{path}: general.architecture is not {ARCH!r}")
        eps = float(field_(f"{ARCH}.attention.layer_norm_epsilon", 1e-5))
        short = float(f"{eps:.7g}")  # the shortest decimal with the same float32
        eps = short if np.float32(short) == np.float32(eps) else eps
        cfg = NSSRConfig(d=int(field_(f"{ARCH}.embedding_length")), heads=int(field_(f"{ARCH}.attention.head_count")),
                         layers=int(field_(f"{ARCH}.block_count")), input_dim=int(field_(f"{ARCH}.input_length")),
                         seq_len=int(field_(f"{ARCH}.context_length")), n=int(field_(f"{ARCH}.recursion.n")),
                         t=int(field_(f"{ARCH}.recursion.t")), steps=int(field_(f"{ARCH}.supervision_steps")),
                         eps=eps, functions=[str(x) for x in field_(f"{ARCH}.functions")])
        if cfg.F != int(field_(f"{ARCH}.function_count")):
            raise ValueError(f"{path}: nssr.function_count {field_(f'{ARCH}.function_count')} but "
                             f"{cfg.F} names in nssr.functions")
        if int(field_(f"{ARCH}.feed_forward_length")) != cfg.ffn:
            raise ValueError(f"{path}: feed_forward_length must be 4 * embedding_length")
        state = {}
        for t in r.tensors:
            values = quants.dequantize(t.data, t.tensor_type)
            shape = [int(x) for x in reversed(t.shape.tolist())]
            state[t.name] = torch.from_numpy(np.array(values, dtype=np.float32).reshape(shape))
        model = NSSR(cfg)
        model.load_state_dict(state, strict=True)
        return model.eval()


def all_config_yaml(cfg: NSSRConfig) -> str:
    """The all_config.yaml `recur export` reads beside an nssr checkpoint."""
    lines = ["arch:", "  name: nssr"]
    for k in ("d", "heads", "layers", "input_dim", "seq_len", "n", "t", "steps"):
        lines.append(f"  {k}: {getattr(cfg, k)}")
    lines.append(f"  eps: {yaml_float(cfg.eps)}")
    lines.append("functions:")
    lines += [f"  - {json.dumps(n)}" for n in cfg.functions]  # quoted: a bare NULL is YAML's null
    return "\n".join(lines) + "\n"


def yaml_float(x: float) -> str:
    """A float YAML 1.1 reads as a float: the mantissa keeps a dot (1.0e-05, not 1e-05)."""
    r = repr(float(x))
    if "e" in r and "." not in r.split("e")[0]:
        m, e = r.split("e")
        r = f"{m}.0e{e}"
    return r


def load_model(checkpoint: Optional[str] = None, gguf_path: Optional[str] = None):
    if gguf_path:
        return load_gguf(gguf_path)
    return load_checkpoint(checkpoint)[0]


# ---- data ----------------------------------------------------------------------------------------

def _number(x: str) -> Optional[float]:
    try:
        return float(x)
    except ValueError:
        return None


def read_csv(path: str) -> Tuple[Optional[List[str]], List[List[float]]]:
    """An optional header line (every field non-numeric), then rows of finite numbers, the output last; at
    least 2 rows and 2 columns. Returns (header or None, rows)."""
    with open(path, encoding="utf-8-sig") as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    names = None
    rows = []
    for i, ln in enumerate(lines, 1):
        fields_ = [x.strip() for x in ln.split(",")]
        if i == 1 and all(_number(x) is None for x in fields_):
            names = fields_
            continue
        vals = [_number(x) for x in fields_]
        if any(v is None or not math.isfinite(v) for v in vals):
            raise ValueError(f"{path}:{i}: a field that is not a finite number")
        if rows and len(vals) != len(rows[0]) or names and len(vals) != len(names):
            raise ValueError(f"{path}:{i}: {len(vals)} fields, the rows before have {len(names or rows[0])}")
        rows.append(vals)
    if len(rows) < 2 or len(rows[0]) < 2:
        raise ValueError(f"{path}: needs at least 2 rows of at least one input column and the output")
    return names, rows


# ---- search --------------------------------------------------------------------------------------

def seq_sum(v: np.ndarray) -> float:
    """Left-to-right sum (row order)."""
    return float(np.add.accumulate(v)[-1]) if len(v) else 0.0


def matches(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.isfinite(p) & np.isfinite(y) & (np.abs(p - y) <= 1e-9 + 1e-6 * np.abs(y))


def r_squared(p: np.ndarray, y: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        n = len(y)
        if n == 0:
            return 1.0
        mean = seq_sum(y) / n
        ss_res = seq_sum((y - p) * (y - p))
        ss_tot = seq_sum((y - mean) * (y - mean))
    if not math.isfinite(ss_res):
        return -math.inf
    if ss_tot == 0:
        return 1.0 if ss_res <= 1e-12 else 0.0
    return 1.0 - ss_res / ss_tot


@dataclass
class Candidate:
    steps: Tuple[Step, ...]
    group: str
    order: int
    size: int = 0
    columns: int = 0
    exact: bool = False
    constant: Optional[float] = None
    const_mode: Optional[str] = None
    r2: float = 0.0

    def key(self):
        return (self.size, 0 if self.exact else 1, self.columns, self.order)


@dataclass
class SearchResult:
    found: bool
    expression: Optional[str] = None       # the simplified function over its own inputs a, b, ...
    task_expression: Optional[str] = None  # the same over the task's columns
    composition: Optional[list] = None     # the simplified composition (inputs renumbered)
    arity: int = 0
    columns: Optional[List[int]] = None    # the task columns the inputs are, in order
    constant: Optional[float] = None
    const_mode: Optional[str] = None
    r2: Optional[float] = None
    exact: bool = False                    # the prediction (constant applied) matches every row
    group: Optional[str] = None            # reuse | depth-1 | sequential | nested | parallel | loop
    attempt: Optional[int] = None
    step: Optional[int] = None
    steps: int = 0                         # supervision steps run (over all attempts)
    candidates: int = 0                    # candidates validated
    seconds: float = 0.0
    simplified: Optional[Tuple[Step, ...]] = None
    registered: Optional[str] = None

    def to_json(self) -> Dict:
        d = {k: v for k, v in asdict(self).items() if k != "simplified"}
        return d


def column_variants(c: int) -> List[Tuple[int, ...]]:
    out = [tuple(range(c))]
    out += [(i,) for i in range(c)]
    if c >= 3:
        out += list(itertools.combinations(range(c), 2))
    if c >= 4:
        out += list(itertools.combinations(range(c), 3))
    return out


def routings(K: Tuple[int, ...], n: int, extra: Tuple[int, ...] = ()) -> List[Tuple[int, ...]]:
    """Ordered n-tuples over extra + K (with repetition, lexicographic by index) that use every column of K."""
    ks = set(K)
    return [r for r in itertools.product(tuple(sorted(extra + K)), repeat=n) if ks <= set(r)]


def simplify(steps: Sequence[Step], arity: int) -> Tuple[Tuple[Step, ...], List[int]]:
    """Drop steps whose results are unused, then strip unused inputs (renumbered in column order).
    Returns (steps, the original input indices the new inputs are)."""
    n = len(steps)
    used = [False] * n
    used[-1] = True
    for i in range(n - 1, -1, -1):
        if used[i]:
            for v in steps[i].args:
                if v >= arity:
                    used[v - arity] = True
    kept = [i for i in range(n) if used[i]]
    cols = sorted({v for i in kept for v in steps[i].args if 0 <= v < arity})
    new_arity = len(cols)
    remap = {-1: -1}
    remap.update({c: j for j, c in enumerate(cols)})
    remap.update({arity + i: new_arity + j for j, i in enumerate(kept)})
    out = tuple(Step(steps[i].fid, tuple(remap[v] for v in steps[i].args), steps[i].body) for i in kept)
    return out, cols


class Searcher:
    """The doc's search over one task. `model` is an NSSR (torch) or None (then `logits_fn(step)` must give
    the heads as numpy arrays)."""

    def __init__(self, rows: Sequence[Sequence[float]], library: Library, model=None, t0: float = 2.0,
                 retries: int = 2, steps: Optional[int] = None, log: Optional[Callable] = None):
        self.lib = library
        self.rows = [list(map(float, r)) for r in rows]
        m = len(self.rows)
        if m == 0:
            raise ValueError("no rows")
        self.c = len(self.rows[0]) - 1
        if self.c < 1 or any(len(r) != self.c + 1 for r in self.rows):
            raise ValueError("every row needs the same number of inputs (at least 1) and the output")
        arr = np.array(self.rows, dtype=np.float64)
        self.cols = [arr[:, j].copy() for j in range(self.c)]
        self.y = arr[:, -1].copy()
        self.hold = m // 3
        self.ntrain = m - self.hold
        self.model = model
        self.t0 = t0
        self.retries = retries
        self.steps = steps if steps is not None else (model.cfg.steps if model is not None else 16)
        self.log = log
        self.seen = set()
        self.validated = 0
        self.cache: Dict = {}
        self.zero = np.zeros(m, dtype=np.float64)
        self._heads: List[Dict[str, np.ndarray]] = []
        self._carry = None
        if model is not None:
            F_ = model.cfg.F
            names = [library[i].name if i in library.funcs else None for i in range(1, F_ + 1)]
            if len(library) < F_:
                raise RegistryError(f"the registry holds {len(library)} functions, the model knows {F_}")
            for i, (want, have) in enumerate(zip(model.cfg.functions, names)):
                if want != have:
                    raise RegistryError(f"registry function {i + 1} is {have}, the model's is {want}")

    # -- model --
    def heads(self, s: int) -> Dict[str, np.ndarray]:
        """Head logits of supervision step s (computed once, reused by retries), extended to every registry
        function (learned ones: the max over their children and bodies)."""
        while len(self._heads) <= s:
            import torch as _t
            cfg = self.model.cfg
            with _t.no_grad():
                if self._carry is None:
                    feats = _t.from_numpy(row_features(self.rows, cfg.input_dim, cfg.seq_len))
                    self._carry = self.model.start(feats)
                h, self._carry = self.model.step(self._carry)
            self._heads.append(self.extend({k: v[0].double().numpy() for k, v in h.items()}))
        return self._heads[s]

    def extend(self, h: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        ids = self.lib.ids()
        F_ = len(h["primary"])
        out = dict(h)
        for head in ("primary", "secondary", "tertiary"):
            lg = {i + 1: float(h[head][i]) for i in range(F_)}

            def logit(fid):
                if fid not in lg:
                    f = self.lib[fid]
                    lg[fid] = max(logit(c) for s in f.steps for c in (s.fid, s.body) if c is not None)
                return lg[fid]

            out[head] = np.array([logit(i) for i in ids], dtype=np.float64)
        out["ids"] = np.array(ids)
        return out

    @staticmethod
    def tempered(logits: np.ndarray, t: float) -> np.ndarray:
        z = logits / t
        z = z - z.max()
        e = np.exp(z)
        return e / e.sum()

    def top(self, logits: np.ndarray, ids: np.ndarray, t: float) -> List[int]:
        p = self.tempered(logits, t)
        k = min(len(ids), max(3, min(8, int((p >= 0.02).sum()))))
        order = sorted(range(len(ids)), key=lambda i: (-logits[i], ids[i]))
        return [int(ids[i]) for i in order[:k]]

    # -- validation --
    def value(self, fid: int, args: Tuple[int, ...], body=None) -> np.ndarray:
        """f applied to task columns / the literal (cached)."""
        key = (fid, args, body)
        v = self.cache.get(key)
        if v is None:
            v = self.lib.call(fid, [self.zero if a == -1 else self.cols[a] for a in args], body)
            self.cache[key] = v
        return v

    def evaluate(self, steps: Sequence[Step]) -> np.ndarray:
        c = self.c
        vals: List[np.ndarray] = []
        for s in steps:
            if all(a < c for a in s.args):
                vals.append(self.value(s.fid, s.args, s.body))
            else:
                args = [self.zero if a == -1 else (self.cols[a] if a < c else vals[a - c]) for a in s.args]
                vals.append(self.lib.call(s.fid, args, s.body))
        return vals[-1]

    def validate(self, cand: Candidate, constants: bool = True) -> bool:
        self.validated += 1
        p = self.evaluate(cand.steps)
        if not np.isfinite(p).all():
            return False
        y = self.y
        if matches(p, y).all():
            cand.exact = True
            cand.r2 = r_squared(p, y)
            return True
        if not constants:
            return False
        nt = self.ntrain
        pt, yt = p[:nt], y[:nt]
        ph, yh = p[nt:], y[nt:]
        with np.errstate(all="ignore"):
            spp = seq_sum(pt * pt)
            fits = []
            if spp > 0:
                fits.append(("multiplicative", seq_sum(pt * yt) / spp))
            if nt > 0:
                fits.append(("additive", seq_sum(yt - pt) / nt))
            for mode, cst in fits:
                if not math.isfinite(cst):
                    continue
                cst = round_constant(cst)
                adj_t = pt * cst if mode == "multiplicative" else pt + cst
                adj_h = ph * cst if mode == "multiplicative" else ph + cst
                if not (np.isfinite(adj_t).all() and np.isfinite(adj_h).all()):
                    continue
                r2t = r_squared(adj_t, yt)
                r2h = r_squared(adj_h, yh)
                if r2t > 0.999 and r2h > 0.999:
                    cand.constant, cand.const_mode = float(cst), mode
                    cand.r2 = r_squared(p * cst if mode == "multiplicative" else p + cst, y)
                    return True
        return False

    def columns_read(self, steps) -> int:
        return len({a for s in steps for a in s.args if 0 <= a < self.c})

    # -- candidate groups --
    def gen_depth1(self, S1):
        for f in S1:
            fn = self.lib[f]
            if fn.iteration:
                continue
            for K in column_variants(self.c):
                for r in routings(K, fn.arity):
                    yield (Step(f, r),)

    def gen_sequential(self, S1, S2):
        c = self.c
        for f in S1:
            fn = self.lib[f]
            if fn.iteration:
                continue
            for g in S2:
                gn = self.lib[g]
                if gn.iteration:
                    continue
                for K in column_variants(c):
                    for r in routings(K, fn.arity):
                        yield (Step(f, r), Step(g, (c,) * gn.arity))

    def gen_nested(self, S1, S2):
        c = self.c
        for f in S1:
            fn = self.lib[f]
            if fn.iteration or fn.arity < 2:
                continue
            for g in S2:
                gn = self.lib[g]
                if gn.iteration:
                    continue
                ag = gn.arity
                other = fn.arity - 1
                for K in column_variants(c):
                    for p in range(fn.arity):
                        # one routing over K: f's other arguments in order, then g's arguments
                        for r in routings(K, other + ag):
                            f_args = r[:p] + (c,) + r[p:other]
                            yield (Step(g, r[other:]), Step(f, f_args))

    def gen_parallel(self, S1, S2, S3):
        c = self.c
        for f in S1:
            fn = self.lib[f]
            if fn.iteration or fn.arity != 2:
                continue
            for g1 in S2:
                a1 = self.lib[g1]
                if a1.iteration:
                    continue
                for g2 in S3:
                    a2 = self.lib[g2]
                    if a2.iteration:
                        continue
                    for K in column_variants(c):
                        ks = set(K)
                        n = 0
                        for r1 in itertools.product(K, repeat=a1.arity):
                            if n >= 30:
                                break
                            for r2 in itertools.product(K, repeat=a2.arity):
                                if ks <= set(r1) | set(r2):
                                    yield (Step(g1, r1), Step(g2, r2), Step(f, (c, c + 1)))
                                    n += 1
                                    if n >= 30:
                                        break

    def gen_loop(self, S1, S2):
        for L in S1:
            ln = self.lib[L]
            if not ln.iteration:
                continue
            for g in S2:
                gn = self.lib[g]
                if gn.iteration or gn.arity != ln.body_arity:
                    continue
                for K in column_variants(self.c):
                    for r in routings(K, ln.arity, extra=(-1,)):
                        yield (Step(L, r, g),)

    def run_group(self, name: str, gen) -> Optional[Candidate]:
        best = None
        order = 0
        for steps in gen:
            if steps in self.seen:
                continue
            self.seen.add(steps)
            cand = Candidate(steps, name, order)
            order += 1
            if self.validate(cand):
                cand.size = self.lib.steps_size(steps)
                cand.columns = self.columns_read(steps)
                if best is None or cand.key() < best.key():
                    best = cand
        return best

    # -- the search --
    def reuse(self) -> Optional[Candidate]:
        for fid in self.lib.ids():
            fn = self.lib[fid]
            if fn.layer < 1:
                continue
            for tup in itertools.permutations(range(self.c), fn.arity):
                cand = Candidate((Step(fid, tup),), "reuse", 0)
                if self.validate(cand, constants=False):
                    cand.size = self.lib.steps_size(cand.steps)
                    cand.columns = self.columns_read(cand.steps)
                    return cand
        return None

    def run(self) -> SearchResult:
        start = time.perf_counter()
        res = SearchResult(found=False)
        ans = self.reuse()
        where = ("reuse", None, None)
        if ans is None and self.model is not None:
            for attempt in range(self.retries + 1):
                t0 = self.t0 + 0.5 * attempt
                for s in range(self.steps):
                    h = self.heads(s)
                    res.steps += 1
                    t = max(0.1, t0 - 0.05 * s)
                    ids = h["ids"]
                    S1 = self.top(h["primary"], ids, t)
                    S2 = self.top(h["secondary"], ids, t)
                    S3 = self.top(h["tertiary"], ids, t)
                    pc = self.tempered(h["composition"].astype(np.float64), t)
                    types = {i for i in range(4) if pc[i] >= 0.1} | {int(np.argmax(h["composition"]))}
                    groups = [("depth-1", lambda: self.gen_depth1(S1))]
                    if 1 in types:
                        groups.append(("sequential", lambda: self.gen_sequential(S1, S2)))
                    if 2 in types:
                        groups.append(("nested", lambda: self.gen_nested(S1, S2)))
                    if 3 in types:
                        groups.append(("parallel", lambda: self.gen_parallel(S1, S2, S3)))
                    if any(self.lib[f].iteration for f in S1):
                        groups.append(("loop", lambda: self.gen_loop(S1, S2)))
                    if self.log:
                        nm = lambda S: [self.lib[f].name for f in S]  # noqa: E731
                        self.log(f"attempt {attempt} step {s} t {t:.2f} S1 {nm(S1)} S2 {nm(S2)} S3 {nm(S3)} "
                                 f"types {sorted(COMPOSITION_TYPES[i] for i in types)} validated {self.validated}")
                    for name, gen in groups:
                        ans = self.run_group(name, gen())
                        if ans is not None:
                            where = (name, attempt, s)
                            break
                    if ans is not None:
                        break
                if ans is not None:
                    break
        res.candidates = self.validated
        if ans is not None:
            simple, cols = simplify(ans.steps, self.c)
            names = [column_name(i) for i in cols]
            res.found = True
            res.simplified = simple
            res.composition = [s.to_json() for s in simple]
            res.arity = len(cols)
            res.columns = cols
            res.constant = ans.constant
            res.const_mode = ans.const_mode
            pred = self.evaluate(ans.steps)
            if ans.constant is not None:
                pred = pred * ans.constant if ans.const_mode == "multiplicative" else pred + ans.constant
            res.exact = bool(matches(pred, self.y).all())   # with the constant applied
            res.r2 = r_squared(pred, self.y)
            mode = ans.const_mode or "multiplicative"
            res.expression = self.lib.expression(simple, [column_name(i) for i in range(len(cols))], ans.constant, mode)
            res.task_expression = self.lib.expression(simple, names, ans.constant, mode)
            res.group, res.attempt, res.step = where
        res.seconds = time.perf_counter() - start
        return res


def search(rows, library: Library, model=None, **kw) -> SearchResult:
    return Searcher(rows, library, model, **kw).run()
