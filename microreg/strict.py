"""Strict loading: the registry's gate, auditing each op before it is registered, cached on disk by a hash of its code.

With ``MICROREG_STRICT=1``, ``gate`` (set on the registry by the package) refuses a plugin, or a
``register()`` call, whose ops the audit does not prove. Kept apart from ``microreg.audit`` so that a
load whose ops are all cached imports neither SymPy nor the audit itself: it hashes code objects and
reads one small JSON file per op. An entry counts only if it names the fingerprint it is filed under
and holds strict mode's verdict, ``accepted``; any other file there (written by hand, by an older
microreg, or another op's entry under this name) is no verdict, and the op is audited again.
"""

from __future__ import annotations

import functools
import os
import sys
import types
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import plugins
from .op import Op, code_names
from .opregistry import PluginError
from .plugins import registry

if TYPE_CHECKING:
    from .audit import OpAudit

ENV_CACHE = "MICROREG_CACHE_DIR"
ACCEPTED = "accepted"  # strict mode's verdict in a cache entry: the audit proved the op and found it accurate


def cache_dir() -> Path:
    """Where strict mode keeps its results: $MICROREG_CACHE_DIR, else the platform's cache folder."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE])
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "microreg"


def fingerprint(op: Op, resolver: Any = None) -> str:
    """A hash of all the audit of op depends on: the record (with the accuracy bound it declares), its code and all it
    reaches, the source of microreg, and the versions of what microreg uses."""
    import hashlib  # here, not at import: only strict mode hashes (hashlib and json cost 6 ms of every import)

    h = hashlib.sha256()
    for part in (_source_hash(), *_versions(), op.name, op.domains, op.kinks, op.examples, dict(op.params), op.arities,
                 op.shapes, op.accuracy):
        h.update(repr(part).encode())
    seen: set = set()
    for fn in (op.forward, op.vjp):
        if isinstance(fn, types.FunctionType):
            _hash_reached(h, fn, frozenset(), resolver if resolver is not None else registry, seen)
        else:  # a callable object: its repr is all there is to go on
            h.update(repr(fn).encode())
    return h.hexdigest()


@functools.cache
def _source_hash() -> str:
    """A hash of every .py file of the microreg package. The whole package, not a list of the audit's modules: a verdict
    depends on the audit, the engine the accuracy audit runs the ops through, the backends and the accuracy measure
    alike, and a list kept by hand would be forgotten as a format number bumped by hand was."""
    import hashlib

    root = Path(__file__).parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py"), key=lambda p: p.relative_to(root).as_posix()):
        source = path.read_bytes()
        h.update(f"{path.relative_to(root).as_posix()}\0{len(source)}\0".encode() + source)
    return h.hexdigest()


@functools.cache
def _versions() -> tuple[str, ...]:
    """What else a verdict depends on: SymPy and mpmath (the exact values), NumPy (the array backend, whose accuracy the
    audit measures) and Python (whose math module is the float backend), looked up without importing them."""
    from importlib import metadata

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "absent"

    return version("sympy"), version("mpmath"), version("numpy"), sys.version.split()[0]


# Code already in the key (Python's, the versioned libraries', microreg's own) is not walked: this keeps the walk off
# NumPy's and the standard library's modules.
_KEYED = frozenset({*sys.stdlib_module_names, "numpy", "sympy", "mpmath", "microreg"})
_CONSTANTS = (type(None), bool, int, float, complex, str, bytes)
_NAMESPACES = (types.ModuleType, type, types.SimpleNamespace)


def _hash_reached(h: Any, obj: Any, names: frozenset, resolver: Any, seen: set) -> None:
    """Feed into h obj and all it reaches that could change a verdict, so that editing any of it counts: a function's
    code, its defaults, closure, the globals and ops (through xp) it names; the attributes a code names of a module,
    class or namespace; the items of a container. Anything else (a builtin, an instance) is left out."""
    if isinstance(obj, _CONSTANTS):
        h.update(repr(obj).encode())
        return
    if isinstance(obj, types.MethodType):  # made anew by each getattr: its id is no key
        obj = obj.__func__
    # A namespace is walked once for each set of names; anything else once. This ends cycles.
    key = (id(obj), names) if isinstance(obj, _NAMESPACES) else id(obj)
    if key in seen or _keyed(obj):
        return
    seen.add(key)
    if isinstance(obj, types.FunctionType):
        _hash_code_object(h, obj.__code__)
        names = frozenset(code_names(obj.__code__))
        reached = [obj.__defaults__, obj.__kwdefaults__]
        for cell in obj.__closure__ or ():
            try:
                reached.append(cell.cell_contents)
            except ValueError:  # a cell not filled yet
                continue
        for name in sorted(names):
            op = resolver.find(name)
            if op is not None:
                reached += [name, op.forward, op.vjp]
            if name in obj.__globals__:
                reached += [name, obj.__globals__[name]]
    elif isinstance(obj, _NAMESPACES):
        reached = [x for name in sorted(names) if hasattr(obj, name) for x in (name, getattr(obj, name))]
    elif isinstance(obj, dict):
        reached = [x for k in sorted(obj, key=repr) for x in (k, obj[k])]
    elif isinstance(obj, list | tuple):
        reached = list(obj)
    elif isinstance(obj, set | frozenset):
        reached = sorted(obj, key=repr)  # not the set's order, which depends on the process's string hash seed
    else:
        return
    h.update(type(obj).__name__.encode())
    for x in reached:
        _hash_reached(h, x, names, resolver, seen)


def _keyed(obj: Any) -> bool:
    """Whether obj is a module, function or class of code already in the key."""
    if isinstance(obj, types.ModuleType):
        module = obj.__name__
    elif isinstance(obj, types.FunctionType | type):
        module = obj.__module__ or ""  # None for a function exec'd without a __name__
    else:
        return False
    return module.partition(".")[0] in _KEYED


def _hash_code_object(h: Any, code: types.CodeType) -> None:
    # Not marshal.dumps: its output depends on reference counts, which differ from one process to the next.
    h.update(code.co_code)
    h.update(repr((code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars)).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _hash_code_object(h, const)
        else:
            h.update(_stable_repr(const))


def _stable_repr(obj: Any) -> bytes:
    """repr, with a set's elements sorted (their order depends on the process's string hash seed)."""
    return repr(sorted(map(repr, obj)) if isinstance(obj, frozenset) else obj).encode()


class _Batch:
    """A resolver that sees a plugin's ops before they are registered, then the registry's."""

    def __init__(self, ops: Iterable[Op]) -> None:
        self.ops = {op.name: op for op in ops}

    def find(self, name: str) -> Op | None:
        return self.ops.get(name) or registry.find(name)


def gate(ops: list[Op], plugin: str) -> None:
    """The registry's gate: in strict mode (``MICROREG_STRICT=1``), refuse ops the audit does not prove."""
    if plugins.strict():
        refuse_unproved(ops, plugin)


def refuse_unproved(ops: Iterable[Op], plugin: str) -> None:
    """Raise PluginError naming the plugin, op and verdict for every op that the audit does not prove and find accurate.

    Strict loading calls this before registering a plugin's ops. A proved op is remembered in
    ``cache_dir()`` under its ``fingerprint``, so the next load reads that entry instead of importing SymPy.
    """
    ops = list(ops)
    batch = _Batch(ops)
    folder = cache_dir() / "audit"
    todo = [(op, key) for op in ops for key in [fingerprint(op, batch)] if not _accepted(folder, key)]
    if not todo:
        return
    # A cold load is silent work of about a fifth of a second an op (SymPy's import, the proofs): say so, once per plugin
    print(f"microreg: strict mode: auditing {len(todo)} op(s) of plugin {plugin!r} not yet proved on this machine "
          f"(about {max(1, round(0.2 * len(todo)))} s; the next load reads the verdicts from {folder})", file=sys.stderr, flush=True)
    from .audit import audit

    # The accuracy audit runs the ops through the engine, which finds the ops they call through xp in the
    # registry: a plugin's ops are registered for the time of their audit, then registered for good if accepted.
    with registry.temporary(*(op for op in ops if registry.find(op.name) is None), plugin=f"{plugin} (being audited)"):
        records = audit([op for op, _ in todo], plugin=plugin, resolver=batch)
    refused = []
    for (_, key), record in zip(todo, records):
        if record.fails(strict=True):
            refused.append(record)
        else:
            _remember(folder, key, record)
    if refused:
        raise PluginError("; ".join(
            f"plugin {plugin!r}: op {r.op!r} is {r.verdict} by the audit (float64 accuracy: {r.accuracy}), and MICROREG_STRICT=1 "
            f"loads only ops proved and accurate: {r.problems()[0].message} (`microreg audit {r.op}` without MICROREG_STRICT shows why)"
            for r in refused))


def _accepted(folder: Path, key: str) -> bool:
    """Whether folder holds strict mode's acceptance of the op whose fingerprint is key: its entry, naming key, says accepted."""
    import json  # here, not at import: only strict mode reads the cache

    try:
        entry = json.loads((folder / f"{key}.json").read_bytes())
    except (OSError, ValueError):  # no entry, or one that is not JSON
        return False
    return isinstance(entry, dict) and entry.get("fingerprint") == key and entry.get("strict") == ACCEPTED


def _remember(folder: Path, key: str, record: OpAudit) -> None:
    """File strict mode's acceptance of an op under its fingerprint key: the audit record, the key and the verdict."""
    import json

    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{key}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({**record.to_json(), "fingerprint": key, "strict": ACCEPTED}, default=str))
        os.replace(tmp, folder / f"{key}.json")
    except OSError as exc:
        warnings.warn(f"microreg: cannot write the audit cache in {folder}: {exc}; strict mode will audit "
                      f"op {record.op!r} again on the next load", RuntimeWarning, stacklevel=3)

