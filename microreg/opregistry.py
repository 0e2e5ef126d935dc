"""Registry: op name -> Op, with provenance, conflict checks, an injected load gate and temporary registration.

The class only; the one instance the engine uses, with its loader, is ``microreg.plugins.registry``
(``microreg.registry``), and the strict-mode gate is set on it by the package (see ``microreg.strict``).
"""

from __future__ import annotations

import difflib
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .op import Op


class PluginError(RuntimeError):
    """An op or a plugin was refused: by register() and temporary() always, by plugin loading only in strict mode.

    Outside strict mode a plugin that fails to load is skipped with a PluginWarning instead.
    """


class PluginWarning(UserWarning):
    """A plugin failed to load and was skipped; `microreg plugins` shows why."""


@dataclass
class Plugin:
    """Where ops came from: a plugin name, its distribution and version, and any failure (with the ops it offered)."""

    name: str
    distribution: str | None = None
    version: str | None = None
    ops: list[str] = field(default_factory=list)
    error: str | None = None
    offered: list[str] = field(default_factory=list)  # the op names its hook returned (known even if it then failed)


Gate = Callable[[list[Op], str], None]
_PACKAGE = os.path.dirname(__file__) + os.sep


def _caller_outside() -> int:
    """The stacklevel of the nearest caller outside microreg, so that a warning names the user's line that
    loaded the plugins (``Value(1.0)``, ``registry.ops()``), not a line of ours."""
    frame, level = sys._getframe(1), 1  # the function that warns
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


class Registry:
    """All registered ops. Plugins load on first use, once, under a lock.

    ``loader(registry)`` loads the plugins on first use. ``gate(ops, plugin)``, if set, sees every
    plugin's ops and every ``register()`` call before they are registered and may refuse them by
    raising ``PluginError`` (strict mode audits them there); ``temporary()`` is not gated.
    """

    def __init__(self, loader: Callable[[Registry], None] | None = None, gate: Gate | None = None) -> None:
        self._ops: dict[str, Op] = {}
        self._origin: dict[str, Plugin] = {}
        self.plugins: dict[str, Plugin] = {}
        self._loader = loader
        self._loaded = loader is None
        self._loading = False
        self._lock = threading.RLock()
        self._listeners: list[Callable[[str, Op | None], None]] = []
        self.gate = gate
        self.reserved: frozenset[str] = frozenset()

    # -- reading -------------------------------------------------------------------------
    def load(self) -> None:
        """Load the plugins if that has not happened yet (called on first use).

        Other threads wait until loading is complete; the loader's own calls back into the registry
        (same thread) see it as loaded. A ``PluginError`` from the loader (strict mode: it has tried
        every plugin) is raised once, by this call: what loaded stays, and later uses work without the
        plugins that failed. Any other exception (an interrupt) removes everything it registered, and
        the next use retries.
        """
        if self._loaded:
            return
        with self._lock:
            if self._loaded or self._loading:
                return
            self._loading = True
            try:
                self._loader(self)
                self._loaded = True
            except PluginError:
                self._loaded = True
                raise
            except BaseException:
                self._remove(*self._ops)
                self.plugins.clear()
                raise
            finally:
                self._loading = False

    def ops(self) -> dict[str, Op]:
        """Every registered op, by name (a copy)."""
        self.load()
        return dict(self._ops)

    def find(self, name: str) -> Op | None:
        """The op called name, or None."""
        self.load()
        return self._ops.get(name)

    def get(self, name: str) -> Op:
        """The op called name; KeyError suggesting near names if there is none."""
        if not isinstance(name, str):
            raise TypeError(f"op names are strings, got {name!r}")
        op = self.find(name)
        if op is None:
            near = difflib.get_close_matches(name, self._ops, n=3, cutoff=0.7)  # 0.6, difflib's default, offers cosh for nosuch
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise KeyError(f"no op named {name!r} is registered{hint} (see `microreg ops`){self.failed()}")
        return op

    def failed(self) -> str:
        """A note for an error about a missing op: which plugins failed to load ('' if none did)."""
        names = [repr(p.name) for p in self.plugins.values() if p.error]
        return f"; plugin(s) {', '.join(names)} failed to load (`microreg plugins` shows why)" if names else ""

    def origin(self, name: str) -> Plugin:
        """The plugin that registered the op called name."""
        self.get(name)
        return self._origin[name]

    def __contains__(self, name: str) -> bool:
        return self.find(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.ops())

    # -- writing -------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[str, Op | None], None]) -> None:
        """Call listener(name, op) on every registration and listener(name, None) on removal."""
        self._listeners.append(listener)

    def check(self, ops: Iterable[object], plugin: str) -> list[Op]:
        """The ops a plugin offers, validated as a whole; raises PluginError naming what is wrong."""
        ops = list(ops) if not isinstance(ops, Op) else [ops]
        names: set[str] = set()
        for op in ops:
            if not isinstance(op, Op):
                raise PluginError(f"plugin {plugin!r} returned {op!r}, which is not a microreg.Op")
            if op.name in self.reserved:
                raise PluginError(f"plugin {plugin!r}: op name {op.name!r} would shadow Value.{op.name}")
            if op.name in self._ops:
                raise PluginError(
                    f"op {op.name!r} is claimed by both plugin {self._origin[op.name].name!r} "
                    f"and plugin {plugin!r}; the first keeps it, {plugin!r} is refused"
                )
            if op.name in names:
                raise PluginError(f"plugin {plugin!r} offers op {op.name!r} twice")
            names.add(op.name)
        return ops

    def add(self, plugin: Plugin, ops: Iterable[object], gated: bool = True) -> None:
        """Register all of a plugin's ops, or none of them (raises PluginError); the gate sees them first."""
        with self._lock:
            checked = self.check(ops, plugin.name)
            if gated and self.gate is not None:
                self.gate(checked, plugin.name)
            plugin.ops += [op.name for op in checked]
            self.plugins[plugin.name] = plugin
            for op in checked:
                self._ops[op.name] = op
                self._origin[op.name] = plugin
                for listener in self._listeners:
                    listener(op.name, op)

    def fail(self, plugin: Plugin, reason: str, strict: bool) -> str:
        """Record that a plugin failed and return the one-line message; warn, outside strict mode (where the loader raises)."""
        reason = " ".join(reason.split())  # one line, for the table of `microreg plugins`
        plugin.error = reason
        plugin.ops = []
        self.plugins[plugin.name] = plugin
        if not strict:
            warnings.warn(f"microreg: plugin {plugin.name!r} skipped: {reason}", PluginWarning, stacklevel=_caller_outside())
        return f"plugin {plugin.name!r} failed to load: {reason}"

    def register(self, *ops: Op, plugin: str = "__main__") -> None:
        """Register ops without packaging them (a notebook, a script), all or none (raises PluginError).

        An op registered again under a name this same plugin registered before replaces it, so that
        re-running a notebook cell works; a name held by any other plugin is refused. In strict mode
        (``MICROREG_STRICT=1``) the gate audits the ops first, as it does a plugin's when it loads.
        """
        self.load()
        with self._lock:
            owner = self.plugins.get(plugin) or Plugin(plugin)
            replaced = {op.name: self._ops[op.name] for op in ops if isinstance(op, Op) and self._origin.get(op.name) is owner}
            self._remove(*replaced)
            try:
                self.add(owner, ops)
            except BaseException:
                if replaced:
                    self.add(owner, replaced.values(), gated=False)
                raise

    def unregister(self, *names: str) -> None:
        """Remove registered ops (and their Value methods); KeyError for a name that is not registered."""
        with self._lock:
            for name in names:
                self.get(name)
            self._remove(*names)

    def _remove(self, *names: str) -> None:
        for name in list(names):
            del self._ops[name]
            plugin = self._origin.pop(name)
            plugin.ops.remove(name)
            if not plugin.ops and plugin.distribution is None:
                self.plugins.pop(plugin.name, None)
            for listener in self._listeners:
                listener(name, None)

    @contextmanager
    def temporary(self, *ops: Op, plugin: str = "__test__") -> Iterator[tuple[Op, ...]]:
        """Register ops for the duration of a ``with`` block; a name already registered is refused."""
        self.load()
        with self._lock:
            self.add(self.plugins.get(plugin) or Plugin(plugin), ops, gated=False)
        try:
            yield ops
        finally:
            self.unregister(*(op.name for op in ops))
