"""Loading plugins: each ``microreg`` entry point on its own, through pluggy, surviving broken ones.

Environment switches (as pytest and datasette users expect):

- ``MICROREG_DISABLE_PLUGIN_AUTOLOAD=1``: load only the core ops, no third-party plugin.
- ``MICROREG_BLOCK_PLUGINS=name,other``: skip the named third-party plugins.
- ``MICROREG_STRICT=1``: a plugin failure raises ``PluginError`` instead of a warning, and every op
  is audited as it is registered (see ``microreg.audit``), refusing one that is not proved.
"""

from __future__ import annotations

import os
from importlib import metadata

import pluggy

from . import hookspecs
from .registry import Plugin, PluginError, Registry

GROUP = "microreg"
CORE = "microreg_ops"
ENV_DISABLE = "MICROREG_DISABLE_PLUGIN_AUTOLOAD"
ENV_BLOCK = "MICROREG_BLOCK_PLUGINS"
ENV_STRICT = "MICROREG_STRICT"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def strict() -> bool:
    return _flag(ENV_STRICT)


def entry_points() -> list[metadata.EntryPoint]:
    """The entry points to load, core first then by name, so the outcome never depends on install order."""
    found = {ep.name: ep for ep in sorted(metadata.entry_points(group=GROUP), key=lambda ep: ep.value)}
    if CORE not in found:  # running from a source tree that was never installed
        found[CORE] = metadata.EntryPoint(name=CORE, value=CORE, group=GROUP)
    blocked = {n.strip() for n in os.environ.get(ENV_BLOCK, "").split(",") if n.strip()} - {CORE}
    if _flag(ENV_DISABLE):
        blocked |= found.keys() - {CORE}
    return [found[n] for n in sorted(found, key=lambda n: (n != CORE, n)) if n not in blocked]


def load(registry: Registry) -> None:
    """Load every entry point of the ``microreg`` group into registry (the registry's loader)."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for ep in entry_points():
        dist = getattr(ep, "dist", None)
        plugin = Plugin(ep.name, dist.metadata["Name"] if dist else None, dist.version if dist else None)
        try:
            module = ep.load()
        except Exception as exc:
            registry.fail(plugin, f"cannot import {ep.value!r}: {type(exc).__name__}: {exc}", strict())
            continue
        try:
            manager.register(module, name=ep.name)
            impls = [i for i in manager.hook.microreg_ops.get_hookimpls() if i.plugin_name == ep.name]
            if not impls:
                raise PluginError(f"{ep.value!r} has no @hookimpl microreg_ops()")
            ops = registry.check([op for impl in impls for op in _call(impl)], ep.name)
            if strict():
                from .audit import refuse_unproved

                refuse_unproved(ops, ep.name)
            registry.add(plugin, ops)
        except Exception as exc:
            if manager.is_registered(module):
                manager.unregister(module)
            reason = str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
            registry.fail(plugin, reason, strict())


def _call(impl: pluggy.HookImpl) -> list:
    result = impl.function()
    try:
        return list(result)
    except TypeError:
        raise PluginError(f"microreg_ops() of {impl.plugin_name!r} returned {result!r}, not an iterable of Op") from None
