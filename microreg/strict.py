"""Strict loading: the registry's gate, auditing each op before it is registered, cached on disk by a hash of its code.

With ``MICROREG_STRICT=1``, ``gate`` (set on the registry by the package) refuses a plugin, or a
``register()`` call, whose ops the audit does not prove. Kept apart from ``microreg.audit`` so that a
load whose ops are all cached imports neither SymPy nor the audit itself: it hashes code objects and
checks that a file exists.
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
CACHE_FORMAT = "microreg-audit-2"  # 2: the accuracy audit, the time budget


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
    """A hash of all the audit of op depends on: the record (with the accuracy bound it declares), its code and the code
    it calls, and the versions."""
    import hashlib  # here, not at import: only strict mode hashes (hashlib and json cost 6 ms of every import)

    h = hashlib.sha256()
    for part in (*_versions(), op.name, op.domains, op.kinks, op.examples, dict(op.params), op.arities, op.shapes,
                 op.accuracy):
        h.update(repr(part).encode())
    seen: set = set()
    for fn in (op.forward, op.vjp):
        _hash_code(h, fn, resolver if resolver is not None else registry, seen)
    return h.hexdigest()


@functools.cache
def _versions() -> tuple[str, ...]:
    """What else a verdict depends on: this audit, microreg, SymPy (looked up without importing it), NumPy (the array
    backend, whose accuracy the audit measures) and Python (whose math module is the float backend)."""
    from importlib import metadata

    import numpy

    try:
        sympy_version = metadata.version("sympy")  # SymPy pins the mpmath its exact values come from
    except metadata.PackageNotFoundError:
        sympy_version = "absent"
    return CACHE_FORMAT, plugins.__version__, sympy_version, numpy.__version__, sys.version.split()[0]


def _hash_code(h: Any, fn: Any, resolver: Any, seen: set) -> None:
    """Feed fn's code into h, and that of the functions and ops it refers to, so that editing any of them counts."""
    if fn in seen:
        return
    seen.add(fn)
    if not isinstance(fn, types.FunctionType):  # a callable object: its repr is all there is to go on
        h.update(repr(fn).encode())
        return
    _hash_code_object(h, fn.__code__)
    h.update(repr((fn.__defaults__, fn.__kwdefaults__)).encode())
    referred = []
    for cell in fn.__closure__ or ():
        try:
            referred.append(cell.cell_contents)
        except ValueError:  # a cell not filled yet
            continue
    for name in sorted(code_names(fn.__code__)):
        op = resolver.find(name)
        if op is not None:
            referred += [op.forward, op.vjp]
        if name in fn.__globals__:
            referred.append(fn.__globals__[name])
    for obj in referred:
        if isinstance(obj, types.FunctionType):
            _hash_code(h, obj, resolver, seen)
        elif isinstance(obj, int | float | complex | str | bytes | tuple | frozenset):
            h.update(_stable_repr(obj))


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
    ``cache_dir()`` under its ``fingerprint``, so the next load checks a file instead of importing SymPy.
    """
    ops = list(ops)
    batch = _Batch(ops)
    folder = cache_dir() / "audit"
    todo = [(op, key) for op in ops for key in [fingerprint(op, batch)] if not (folder / f"{key}.json").is_file()]
    if not todo:
        return
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


def _remember(folder: Path, key: str, record: OpAudit) -> None:
    import json

    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{key}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(record.to_json(), default=str))
        os.replace(tmp, folder / f"{key}.json")
    except OSError as exc:
        warnings.warn(f"microreg: cannot write the audit cache in {folder}: {exc}; strict mode will audit "
                      f"op {record.op!r} again on the next load", RuntimeWarning, stacklevel=3)

