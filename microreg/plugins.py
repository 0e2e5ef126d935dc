"""Loading plugins: each ``microreg`` entry point on its own, through pluggy, surviving broken ones; THE registry.

``registry`` below is the one instance the engine dispatches through (``microreg.registry``); it
loads the plugins on first use.

A plugin that fails (it does not import, its hook raises or returns something other than valid
``Op``s) is skipped whole, with a ``PluginWarning`` naming it and the reason, recorded in
``registry.plugins[name].error``. An op whose name is already registered is refused alone, recorded
as a failed ``"plugin.op"`` that names the plugin keeping it, and the plugin's other ops load. Plugins
load core first, then by entry-point name, and the first to offer a name keeps it: the core always
wins, and which of two plugins keeps a name never depends on install order. The core is the
``microreg`` distribution's own ``microreg_ops`` entry point: another distribution's entry point of
that name is reported as a failed plugin, never loaded in its place.

Environment switches (as pytest and datasette users expect):

- ``MICROREG_DISABLE_PLUGIN_AUTOLOAD=1``: load only the core ops, no third-party plugin (none is even looked at).
- ``MICROREG_BLOCK_PLUGINS=name,other``: skip the named third-party plugins (entry-point names, as
  ``microreg plugins`` lists them).
- ``MICROREG_STRICT=1``: a plugin failure raises ``PluginError`` instead of a warning, and each
  plugin's ops are audited before they are registered (the registry's gate, see ``microreg.strict``):
  a plugin with an op that is not proved is refused. Every plugin is tried first, then one error
  names each that failed, raised once, by the first use; the core and the plugins that loaded stay
  usable, and asking the registry or ``Value`` for a missing op names the plugins that failed.

``load_project(directory)`` loads the plugins a source tree's pyproject.toml declares, from the tree where they are
not installed, and names their ops: what ``microreg audit --project DIR`` (the pre-commit hook) audits.

Also ``install_hint(extra)``: how to add one of microreg's own optional extras, said the way this microreg
was installed, for the modules whose features need one (pictures, export to a framework).
"""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path

import pluggy

from . import hookspecs
from .op import Op
from .opregistry import Plugin, PluginError, Registry

GROUP = "microreg"
CORE = "microreg_ops"
DISTRIBUTION = "microreg"  # the distribution whose entry point CORE is the core
ENV_DISABLE = "MICROREG_DISABLE_PLUGIN_AUTOLOAD"
ENV_BLOCK = "MICROREG_BLOCK_PLUGINS"
ENV_STRICT = "MICROREG_STRICT"
SOURCE = Path(__file__).resolve().parents[1]  # a clone's root when microreg runs from one

try:
    __version__ = metadata.version("microreg")
except metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"


def install_hint(extra: str) -> str:
    """The command that adds microreg's optional ``extra`` the way this microreg was installed: from its clone,
    from the local directory or wheel it was installed from, or from the package index."""
    import json  # here, not at the top: every `import microreg` loads this module, and few runs need a hint
    import shlex
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    if (SOURCE / "pyproject.toml").is_file():  # a clone: the source tree itself, or an editable install of it
        return f"pip install -e {shlex.quote(f'{SOURCE}[{extra}]')}"
    try:
        url = json.loads(metadata.distribution("microreg").read_text("direct_url.json") or "{}").get("url", "")
    except metadata.PackageNotFoundError:
        url = ""
    if url.startswith("file:"):
        return f"pip install {shlex.quote(f'{url2pathname(urlparse(url).path)}[{extra}]')}"
    return f"pip install 'microreg[{extra}]'"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def strict() -> bool:
    """Whether strict mode (``MICROREG_STRICT``) is on."""
    return _flag(ENV_STRICT)


def entry_points() -> tuple[list[metadata.EntryPoint], list[tuple[metadata.EntryPoint, str]]]:
    """The entry points to load, core first then by name, so the outcome never depends on install order.

    The core is the ``microreg_ops`` entry point of the ``microreg`` distribution itself (or, in a source
    tree never installed, the ``microreg_ops`` module): found by its distribution, never by a name
    another package can declare too. Also returns the entry points refused, each with the reason: one
    that uses the core's name, and one whose name another distribution uses too (the one whose
    (value, distribution) sorts first is kept).
    """
    found: dict[str, metadata.EntryPoint] = {}
    refused = []
    core = metadata.EntryPoint(name=CORE, value=CORE, group=GROUP)
    for ep in sorted(metadata.entry_points(group=GROUP), key=lambda ep: (ep.value, _dist_name(ep) or "")):
        if ep.name == CORE and _dist_name(ep) == DISTRIBUTION:
            core = ep
        elif ep.name == CORE:
            refused.append((ep, f"entry point name {CORE!r} is microreg's own, for its core ops (distribution "
                                f"{DISTRIBUTION!r}); {ep.value!r} of distribution {_dist_name(ep)!r} is not loaded"))
        elif ep.name in found:
            kept = found[ep.name]
            refused.append((ep, f"entry point name {ep.name!r} ({ep.value!r}) is already used by {kept.value!r} "
                                f"of distribution {_dist_name(kept)!r}, which is loaded instead"))
        else:
            found[ep.name] = ep
    blocked = {n.strip() for n in os.environ.get(ENV_BLOCK, "").split(",") if n.strip()}
    if _flag(ENV_DISABLE):
        return [core], []
    return [core] + [found[n] for n in sorted(found) if n not in blocked], [(ep, why) for ep, why in refused if ep.name not in blocked]


def _manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    return manager


def load(registry: Registry) -> None:
    """Load every entry point of the ``microreg`` group into registry (the registry's loader)."""
    manager = _manager()
    eps, refused = entry_points()
    failures = []
    for ep, reason in refused:
        plugin = Plugin(f"{ep.name} ({_dist_name(ep) or ep.value})", _dist_name(ep), _dist_version(ep))
        failures.append(registry.fail(plugin, reason, strict()))
    for ep in eps:
        failures += _load_one(registry, manager, ep)
    if failures and strict():
        raise PluginError("; ".join(failures))


def _load_one(registry: Registry, manager: pluggy.PluginManager, ep: metadata.EntryPoint) -> list[str]:
    """Load one entry point: all of its ops, or none of them and a failure recorded under its name (returned)."""
    plugin = Plugin(ep.name, _dist_name(ep), _dist_version(ep))
    before = set(registry.ops())
    module = None
    try:
        try:
            module = ep.load()
        except Exception as exc:
            raise PluginError(f"cannot import {ep.value!r}: {type(exc).__name__}: {exc}") from exc
        manager.register(module, name=ep.name)
        impls = [i for i in manager.hook.microreg_ops.get_hookimpls() if i.plugin_name == ep.name]
        if not impls:
            raise PluginError(f"{ep.value!r} has no @hookimpl microreg_ops()")
        offered = [op for impl in impls for op in _call(impl)]
        plugin.offered = [op.name for op in offered if isinstance(op, Op)]
        taken = {op.name: registry.origin(op.name).name for op in offered if isinstance(op, Op) and op.name in registry}
        registry.add(plugin, [op for op in offered if not (isinstance(op, Op) and op.name in taken)])
        return [_refuse_op(registry, plugin, name, owner) for name, owner in taken.items()]
    except Exception as exc:
        if module is not None and manager.is_registered(module) and manager.get_name(module) == ep.name:
            manager.unregister(module)
        # ops the module registered by itself while importing go too: nothing of a failed plugin stays
        registry.unregister(*(set(registry.ops()) - before))
        reason = str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
        return [registry.fail(plugin, reason, strict())]


def load_project(directory: str | os.PathLike) -> list[str]:
    """The ops of the plugins a source tree declares (the ``[project.entry-points.microreg]`` of its pyproject.toml),
    to audit a package from its own folder (the pre-commit hook): each plugin as installed or, where it is not (a
    pre-commit hook's own environment), imported from the tree (from its src/ folder if it has one) and loaded as an
    installed one would be. ValueError naming what is missing; PluginError if a plugin fails to load."""
    import tomllib

    path = Path(directory) / "pyproject.toml"
    try:
        with open(path, "rb") as f:
            declared = tomllib.load(f).get("project", {}).get("entry-points", {}).get(GROUP, {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if not declared:
        raise ValueError(f"{path} declares no plugin: it has no [project.entry-points.{GROUP}] table")
    registry.load()
    names = []
    for name, value in declared.items():
        if name not in registry.plugins:
            source = path.parent / "src" if (path.parent / "src").is_dir() else path.parent
            sys.path.insert(0, str(source.resolve()))
            _load_one(registry, _manager(), metadata.EntryPoint(name=name, value=value, group=GROUP))
        plugin = registry.plugins[name]
        if plugin.error:
            raise PluginError(f"plugin {name!r}, declared in {path}, failed to load: {plugin.error}")
        names += plugin.ops
    return names


def _refuse_op(registry: Registry, plugin: Plugin, name: str, owner: str) -> str:
    """Record that plugin's op name was refused, the name being registered by owner, as a failed plugin "plugin.name"."""
    why = ("the core's ops always win" if owner == CORE else
           "plugins load in the order of their entry-point names, and the first to offer a name keeps it")
    refused = Plugin(f"{plugin.name}.{name}", plugin.distribution, plugin.version, offered=[name])
    return registry.fail(refused, f"op {name!r} is already registered by plugin {owner!r}, which keeps it ({why}); "
                                  f"the other ops of {plugin.name!r} are loaded", strict())


def _dist_name(ep: metadata.EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return dist.metadata["Name"] if dist is not None else None


def _dist_version(ep: metadata.EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return dist.version if dist is not None else None


def _call(impl: pluggy.HookImpl) -> list:
    """What one microreg_ops() implementation returns, as a list (PluginError if not iterable)."""
    result = impl.function()
    try:
        return list(result)
    except TypeError:
        raise PluginError(f"microreg_ops() of {impl.plugin_name!r} returned {result!r}, not an iterable of Op") from None


registry = Registry(loader=load)
