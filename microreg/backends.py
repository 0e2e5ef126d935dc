"""The xp namespaces an op is written against: scalar (math), array (NumPy), symbolic (SymPy).

Each offers the same functions and constants, reading its column of the one table, ``microreg.functions``,
and, by name, every registered op, so an op's ``forward`` and ``vjp`` run unchanged on Python floats, on
NumPy arrays and on SymPy symbols (the audit, SymPy imported only then). The fourth namespace, on
``Value``s (derivatives of derivatives), is engine code and lives with the engine: ``microreg.value.ValueNamespace``.

Domain policy, the same on every numeric backend: a function applied outside its domain
(``log(-1)``, ``0 ** -1``, an overflow such as ``exp(1000)``) raises; the engine turns that into a
``DomainError`` naming the op and its inputs. Between functions arithmetic is IEEE's, as on Python
floats: an overflow is an infinity that a later step may turn finite again (tanh of it is 1); the
engine refuses any result or gradient that is not finite. No NaN or infinity is produced silently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .functions import ARRAY_FUNCTIONS, ELEMENTARY, column


class Namespace:
    """An xp namespace: elementary functions and constants as attributes, registered ops looked up by name."""

    kind = ""

    def __init__(self, registry: Any, functions: dict[str, Any] | None = None) -> None:
        self._registry = registry
        self._cached: set[str] = set()
        self.__dict__.update(functions or {})

    def __getattr__(self, name: str) -> Callable:
        if name.startswith("_"):
            raise AttributeError(name)
        op = self._registry.find(name)
        if op is None:
            raise AttributeError(
                f"xp.{name} is neither an elementary function ({', '.join(ELEMENTARY)}), a function of whole arrays "
                f"({', '.join(ARRAY_FUNCTIONS)}) "
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


class Scalar(Namespace):
    """Python floats and the math module; domain errors are math's ValueError/OverflowError."""

    kind = "scalar"

    def __init__(self, registry: Any) -> None:
        super().__init__(registry, column("scalar"))


class Array(Namespace):
    """NumPy float64 arrays, elementwise; the engine runs ops under ``np.errstate`` raising on all but underflow."""

    kind = "array"

    def __init__(self, registry: Any) -> None:
        super().__init__(registry, column("array"))


class Symbolic(Namespace):
    """SymPy expressions, for the audit. SymPy is imported when this backend is first built. An op that is
    not elementwise (matmul) runs on NumPy arrays of SymPy expressions, with NumPy's shapes and broadcasting.

    Every function is exact: expm1(x) is exp(x) - 1, log1p(x) is log(1 + x), maximum(x, y) is
    (x + y + |x - y|) / 2, pi and e are SymPy's own (see ``microreg.functions``).
    """

    kind = "symbolic"

    def __init__(self, registry: Any) -> None:
        import sympy

        super().__init__(registry, column("symbolic"))
        self.sympy = sympy
