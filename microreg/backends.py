"""The xp namespaces an op is written against: scalar (math), array (NumPy), symbolic (SymPy).

Each offers the same elementary functions and, by name, every registered op, so an op's
``forward`` and ``vjp`` run unchanged on Python floats, on NumPy arrays and on SymPy symbols (the
audit, SymPy imported only then). The fourth namespace, on ``Value``s (derivatives of derivatives),
is engine code and lives with the engine: ``microreg.value.ValueNamespace``.

Domain policy, the same on every numeric backend: a function applied outside its domain
(``log(-1)``, ``0 ** -1``, an overflow such as ``exp(1000)``) raises; the engine turns that into a
``DomainError`` naming the op and its inputs. No NaN or infinity is produced silently.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

ELEMENTARY = ("exp", "log", "tanh", "sqrt", "sin", "cos", "abs", "sign", "where", "pow")


class Namespace:
    """An xp namespace: elementary functions as attributes, registered ops looked up by name."""

    kind = ""

    def __init__(self, registry: Any, functions: dict[str, Callable] | None = None) -> None:
        self._registry = registry
        self._cached: set[str] = set()
        self.__dict__.update(functions or {})

    def __getattr__(self, name: str) -> Callable:
        if name.startswith("_"):
            raise AttributeError(name)
        op = self._registry.find(name)
        if op is None:
            raise AttributeError(
                f"xp.{name} is neither an elementary function ({', '.join(ELEMENTARY)}) "
                f"nor a registered op on the {self.kind} backend"
            )
        fn = self._op(op)
        self.__dict__[name] = fn
        self._cached.add(name)
        return fn

    def _op(self, op: Any) -> Callable:
        forward, xp = op.forward, self

        def call(*args: Any, **params: Any) -> Any:
            return forward(xp, *args, **params)

        call.__name__ = op.name
        return call

    def forget_ops(self) -> None:
        """Drop cached op lookups (the registry changed)."""
        for name in self._cached:
            self.__dict__.pop(name, None)
        self._cached.clear()


def _module_functions(module: Any) -> dict[str, Callable]:
    return {name: getattr(module, name) for name in ("exp", "log", "tanh", "sqrt", "sin", "cos")}


def _scalar_where(c: Any, a: Any, b: Any) -> float:
    return float(a if c else b)


def _sign(x: float) -> float:
    return float((x > 0) - (x < 0))


class Scalar(Namespace):
    """Python floats and the math module; domain errors are math's ValueError/OverflowError."""

    kind = "scalar"

    def __init__(self, registry: Any) -> None:
        super().__init__(registry, {**_module_functions(math), "abs": math.fabs, "sign": _sign, "where": _scalar_where, "pow": math.pow})


class Array(Namespace):
    """NumPy float64 arrays, elementwise; the engine runs ops under ``np.errstate`` raising on all but underflow."""

    kind = "array"

    def __init__(self, registry: Any) -> None:
        super().__init__(registry, {**_module_functions(np), "abs": np.abs, "sign": np.sign, "where": np.where, "pow": np.power})


class Symbolic(Namespace):
    """SymPy expressions, for the audit. SymPy is imported when this backend is first built."""

    kind = "symbolic"

    def __init__(self, registry: Any) -> None:
        import sympy

        super().__init__(registry, {**_module_functions(sympy), "abs": sympy.Abs, "sign": sympy.sign, "pow": sympy.Pow})
        self.sympy = sympy

    def where(self, c: Any, a: Any, b: Any) -> Any:
        """a where c holds, else b, as a SymPy Piecewise."""
        return self.sympy.Piecewise((a, c), (b, True))

