"""The xp namespaces an op is written against: scalar (math), array (NumPy), symbolic (SymPy).

Each offers the same elementary functions (``ELEMENTARY``), the constants pi and e (``CONSTANTS``)
and, by name, every registered op, so an op's ``forward`` and ``vjp`` run unchanged on Python
floats, on NumPy arrays and on SymPy symbols (the audit, SymPy imported only then). The fourth
namespace, on ``Value``s (derivatives of derivatives), is engine code and lives with the engine:
``microreg.value.ValueNamespace``.

Domain policy, the same on every numeric backend: a function applied outside its domain
(``log(-1)``, ``0 ** -1``, an overflow such as ``exp(1000)``) raises; the engine turns that into a
``DomainError`` naming the op and its inputs. Between functions arithmetic is IEEE's, as on Python
floats: an overflow is an infinity that a later step may turn finite again (tanh of it is 1); the
engine refuses any result or gradient that is not finite. No NaN or infinity is produced silently.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

#: The functions every xp namespace offers, in the order docs/plugins.md lists them (a test compares the two).
ELEMENTARY = ("exp", "expm1", "log", "log1p", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh", "atan", "asinh",
              "erf", "erfc", "abs", "sign", "where", "maximum", "minimum", "pow")
#: The constants every xp namespace offers: floats, except on symbols, where they are exact.
CONSTANTS = ("pi", "e")
#: The functions of whole arrays (not elementwise) every xp namespace offers, for ops such as matmul's vjp:
#: ``sum(x, axis=None)`` (every element, or one axis) and ``transpose(x)`` (the axes reversed). On a number
#: they are the number itself; on symbols, the arrays are NumPy arrays of SymPy expressions.
ARRAY_FUNCTIONS = ("sum", "transpose")


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


_COMMON = ("exp", "log", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh")  # spelt alike in math, NumPy and SymPy


def _scalar_where(c: Any, a: Any, b: Any) -> float:
    return float(a if c else b)


def _sign(x: float) -> float:
    return float((x > 0) - (x < 0))


def _scalar_sum(x: float, axis: int | None = None) -> float:
    """A number's sum: the number (it has no axis to sum over)."""
    if axis is not None:
        raise ValueError(f"a number has no axis {axis} to sum over")
    return x


def _itself(x: Any) -> Any:
    """A number transposed: the number."""
    return x


def _array_sum(x: np.ndarray, axis: int | None = None) -> Any:
    """x's elements summed, all of them or along one axis (np.add.reduce: ndarray.sum without its wrapper)."""
    return np.add.reduce(x, axis=axis)


def _object_sum(x: Any, axis: int | None = None) -> Any:
    """An array of SymPy expressions summed, all of them or along one axis; an expression is its own sum."""
    return np.sum(x, axis=axis) if isinstance(x, np.ndarray) else _scalar_sum(x, axis)


def _object_transpose(x: Any) -> Any:
    return x.T if isinstance(x, np.ndarray) else x


def _maximum(x: float, y: float) -> float:
    return float(x if x >= y else y)


def _minimum(x: float, y: float) -> float:
    return float(x if x <= y else y)


class Scalar(Namespace):
    """Python floats and the math module; domain errors are math's ValueError/OverflowError."""

    kind = "scalar"

    def __init__(self, registry: Any) -> None:
        super().__init__(registry, {
            **{name: getattr(math, name) for name in _COMMON}, "expm1": math.expm1, "log1p": math.log1p,
            "atan": math.atan, "asinh": math.asinh, "erf": math.erf, "erfc": math.erfc,
            "abs": math.fabs, "sign": _sign, "where": _scalar_where, "maximum": _maximum, "minimum": _minimum,
            "pow": math.pow, "pi": math.pi, "e": math.e, "sum": _scalar_sum, "transpose": _itself})


def _elementwise(fn: Callable[[float], float]) -> Callable[[Any], np.ndarray]:
    """fn of math applied to each element of an array, as float64.

    Used for erf and erfc, which NumPy lacks: math's are within 1 and 2 ulps (measured against mpmath
    at 200 bits, down to the subnormal range), where scipy.special.erfc returns 0 beyond x = 26.6 (true
    values down to 5e-324) and would be a dependency of 40 MB; a loop over math costs about 75 ns an
    element, negligible beside a node's own cost.
    """
    ufunc = np.frompyfunc(fn, 1, 1)

    def elementwise(x: Any) -> np.ndarray:
        return np.asarray(ufunc(x), dtype=np.float64)

    elementwise.__name__ = fn.__name__
    return elementwise


class Array(Namespace):
    """NumPy float64 arrays, elementwise; the engine runs ops under ``np.errstate`` raising on all but underflow."""

    kind = "array"

    def __init__(self, registry: Any) -> None:
        super().__init__(registry, {
            **{name: getattr(np, name) for name in _COMMON}, "expm1": np.expm1, "log1p": np.log1p,
            "atan": np.arctan, "asinh": np.arcsinh, "erf": _elementwise(math.erf), "erfc": _elementwise(math.erfc),
            "abs": np.abs, "sign": np.sign, "where": np.where,
            "maximum": np.maximum, "minimum": np.minimum, "pow": np.power, "pi": math.pi, "e": math.e,
            "sum": _array_sum, "transpose": np.transpose})


class Symbolic(Namespace):
    """SymPy expressions, for the audit. SymPy is imported when this backend is first built. An op that is
    not elementwise (matmul) runs on NumPy arrays of SymPy expressions, with NumPy's shapes and broadcasting.

    Every function is exact: expm1(x) is exp(x) - 1, log1p(x) is log(1 + x), maximum(x, y) is
    (x + y + |x - y|) / 2 (whose derivative SymPy gives as (1 + sign(x - y)) / 2, PyTorch's even split
    at a tie), pi and e are SymPy's own.
    """

    kind = "symbolic"

    def __init__(self, registry: Any) -> None:
        import sympy

        super().__init__(registry, {
            **{name: getattr(sympy, name) for name in _COMMON}, "erf": sympy.erf, "erfc": sympy.erfc,
            "atan": sympy.atan, "asinh": sympy.asinh, "abs": sympy.Abs, "sign": sympy.sign, "pow": sympy.Pow,
            "pi": sympy.pi, "e": sympy.E, "sum": _object_sum, "transpose": _object_transpose})
        self.sympy = sympy

    def expm1(self, x: Any) -> Any:
        """exp(x) - 1."""
        return self.sympy.exp(x) - 1

    def log1p(self, x: Any) -> Any:
        """log(1 + x)."""
        return self.sympy.log(1 + x)

    def where(self, c: Any, a: Any, b: Any) -> Any:
        """a where c holds, else b, as a SymPy Piecewise."""
        return self.sympy.Piecewise((a, c), (b, True))

    def maximum(self, x: Any, y: Any) -> Any:
        """The larger of x and y: (x + y + |x - y|) / 2."""
        return (x + y + self.sympy.Abs(x - y)) / 2

    def minimum(self, x: Any, y: Any) -> Any:
        """The smaller of x and y: (x + y - |x - y|) / 2."""
        return (x + y - self.sympy.Abs(x - y)) / 2

