"""microreg: a scalar reverse-mode autograd engine whose every op is a plugin-registered, audited record.

Everything a plugin author needs is here: ``Op``, ``Kink``, ``Accuracy`` and ``hookimpl``.
"""

from __future__ import annotations

from .forward import hvp, jvp
from .hookspecs import hookimpl
from .op import Accuracy, Kink, Op, OpError
from .opregistry import PluginError, PluginWarning
from .plugins import __version__, registry
from .replay import replay
from .strict import gate
from .value import DomainError, Value, apply, grad

registry.gate = gate  # strict mode (MICROREG_STRICT=1) audits ops before they register; see microreg.strict


def register(*ops: Op) -> None:
    """Register ops in this process without packaging them (a notebook, a script)."""
    registry.register(*ops)


def ops() -> dict[str, Op]:
    """Every registered op, by name."""
    return registry.ops()


def __getattr__(name: str) -> object:
    """``repair`` and ``RepairResult`` (``microreg.rewrite``), imported on first use: the audit they run is not
    imported with the engine."""
    if name in ("repair", "RepairResult"):
        from . import rewrite

        return getattr(rewrite, name)
    raise AttributeError(f"module 'microreg' has no attribute {name!r}")


__all__ = ["Accuracy", "DomainError", "Kink", "Op", "OpError", "PluginError", "PluginWarning", "RepairResult", "Value", "apply",
           "grad", "hookimpl", "hvp", "jvp", "ops", "register", "registry", "repair", "replay", "__version__"]
