"""microreg: a scalar reverse-mode autograd engine whose every op is a plugin-registered, audited record.

Everything a plugin author needs is here: ``Op``, ``Kink`` and ``hookimpl``.
"""

from __future__ import annotations

from importlib import metadata

from .hookspecs import hookimpl
from .op import Kink, Op, OpError
from .registry import PluginError, PluginWarning
from .value import DomainError, Value, apply, grad, registry

try:
    __version__ = metadata.version("microreg")
except metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"


def register(*ops: Op) -> None:
    """Register ops in this process without packaging them (a notebook, a script)."""
    registry.register(*ops)


def ops() -> dict[str, Op]:
    """Every registered op, by name."""
    return registry.ops()


__all__ = ["DomainError", "Kink", "Op", "OpError", "PluginError", "PluginWarning", "Value", "apply",
           "grad", "hookimpl", "ops", "register", "registry", "__version__"]
