"""Fake plugins for the tests: plugin modules made on the fly, and a fresh Registry to load them into; and load_example.

Installed as fake distributions by the ``install`` fixture (conftest.py); pluggy's own tests fake
``importlib.metadata.entry_points`` the same way.
"""

from __future__ import annotations

import importlib.util
import types
from pathlib import Path

from microreg import Op, hookimpl, plugins, strict
from microreg.opregistry import Registry
from microreg.value import RESERVED


def twice(xp, x):
    return 2 * x


def twice_vjp(xp, g, out, x):
    return (2 * g,)


def halve(xp, x):
    return x / 2


def halve_vjp(xp, g, out, x):
    return (g / 2,)


def triple(xp, x):
    return 3 * x


def triple_vjp(xp, g, out, x):
    return (3 * g,)


TWICE, HALVE, TRIPLE = Op("twice", twice, twice_vjp), Op("halve", halve, halve_vjp), Op("triple", triple, triple_vjp)


def swish(xp, x, *, beta=1.0):
    """x * sigmoid(beta * x): an activation with a static parameter, as a user writes one."""
    return x * xp.sigmoid(beta * x)


def swish_vjp(xp, g, out, x, *, beta=1.0):
    s = xp.sigmoid(beta * x)
    return (g * (s + beta * out * (1 - s)),)


SWISH = Op("swish", swish, swish_vjp, examples=({"beta": 1.0}, {"beta": 1.5}))


def module(name: str, hook=None) -> types.ModuleType:
    """A plugin module whose ``@hookimpl microreg_ops()`` is hook (no hook at all if None)."""
    mod = types.ModuleType(name)
    if hook is not None:
        mod.microreg_ops = hookimpl(hook)
    return mod


def returning(*items):
    """A microreg_ops hook returning items."""

    def microreg_ops():
        return list(items)

    return microreg_ops


def raising_hook():
    raise ValueError("config file missing")


def fresh() -> Registry:
    reg = Registry(loader=plugins.load, gate=strict.gate)
    reg.reserved = RESERVED
    return reg


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str) -> types.ModuleType:
    """examples/<name>.py, imported as a module (examples/ is no package)."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
