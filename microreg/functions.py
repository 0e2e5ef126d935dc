"""The math functions of ``xp``, one table: a row per function, a column per backend, and the docs' text.

Every xp namespace is built by reading its column: ``Scalar`` (Python floats, ``math``), ``Array``
(NumPy), ``Symbolic`` (SymPy, for the audit), ``ValueNamespace`` (``Value``s, through registered ops),
the array path's retry namespace (the NumPy column, raising where ``math`` raises) and the export's
``Framework`` for PyTorch and JAX. Adding a function is adding a row; docs/plugins.md's table under
"What xp offers" is rendered from the rows (``markdown_table``), and a test keeps the two equal.

A cell is the function (or constant) itself, or a ``"module:attr"`` string imported when its namespace
is built: SymPy, torch and JAX are imported only when the audit or an export needs them. Where a
backend has no function of its own, the cell is a small named function below.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np


@dataclass(frozen=True)
class Function:
    """One function of xp: its name, what it computes (docs), and how each backend spells it."""

    name: str
    what: str
    #: Python floats: math's function (or a constant).
    scalar: Any
    #: NumPy float64 arrays, elementwise.
    array: Any
    #: SymPy expressions, exact: a "sympy:attr" string or a function.
    symbolic: Any
    #: Values: the registered op of that name (looked up by name, as every op is, so the vjp it runs is an
    #: audited one); None where ``microreg.value.ValueNamespace`` defines it (a method; a constant is its float).
    values: str | None
    #: "module:attr" in PyTorch and in JAX, the Array API standard's names where it has them, or a function below.
    torch: Any
    jax: str
    #: What the function is on Values, for the docs; for an op, by default "the `<op>` op".
    on_values: str = ""
    #: "elementwise", "array" (a function of whole arrays: a number is its own sum and transpose) or "constant".
    kind: Literal["elementwise", "array", "constant"] = "elementwise"

    def __post_init__(self) -> None:
        if not self.on_values:
            if self.values is None:
                raise ValueError(f"xp.{self.name} is no op on Values: say what it is there (on_values)")
            object.__setattr__(self, "on_values", f"the `{self.values}` op")


def _float_sign(x: float) -> float:
    return float((x > 0) - (x < 0))


def _float_where(c: Any, a: Any, b: Any) -> float:
    return float(a if c else b)


def _array_where(c: Any, a: Any, b: Any) -> Any:
    """np.where(c, a, b); where b is the number 0 and a a finite float64 array of c's shape (relu and its vjp), computed
    as a * c + 0.0: the same floats but for a -0.0 kept where c holds (+0.0 here). np.where's loop branches on each
    element: on a random mask of 64 x 1000 it takes 310 us to this 70 (the finiteness test included)."""
    if (type(b) in (int, float) and b == 0 and type(a) is np.ndarray and type(c) is np.ndarray and a.dtype == np.float64
            and c.dtype == np.bool_ and a.shape == c.shape and np.isfinite(a).all()):
        return a * c + 0.0
    return np.where(c, a, b)


def _float_maximum(x: float, y: float) -> float:
    return float(x if x >= y else y)


def _float_minimum(x: float, y: float) -> float:
    return float(x if x <= y else y)


def _float_sum(x: float, axis: int | None = None) -> float:
    """A number's sum: the number (it has no axis to sum over)."""
    if axis is not None:
        raise ValueError(f"a number has no axis {axis} to sum over")
    return x


def _itself(x: Any) -> Any:
    """A number transposed: the number."""
    return x


def _elementwise(fn: Any) -> Any:
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


def _array_sum(x: np.ndarray, axis: int | None = None) -> Any:
    """x's elements summed, all of them or along one axis (np.add.reduce: ndarray.sum without its wrapper)."""
    return np.add.reduce(x, axis=axis)


def _sympy_expm1(x: Any) -> Any:
    """exp(x) - 1."""
    import sympy

    return sympy.exp(x) - 1


def _sympy_log1p(x: Any) -> Any:
    """log(1 + x)."""
    import sympy

    return sympy.log(1 + x)


def _sympy_where(c: Any, a: Any, b: Any) -> Any:
    """a where c holds, else b, as a SymPy Piecewise."""
    import sympy

    return sympy.Piecewise((a, c), (b, True))


def _sympy_maximum(x: Any, y: Any) -> Any:
    """The larger of x and y: (x + y + |x - y|) / 2, whose derivative SymPy gives as (1 + sign(x - y)) / 2,
    PyTorch's even split at a tie."""
    import sympy

    return (x + y + sympy.Abs(x - y)) / 2


def _sympy_minimum(x: Any, y: Any) -> Any:
    """The smaller of x and y: (x + y - |x - y|) / 2."""
    import sympy

    return (x + y - sympy.Abs(x - y)) / 2


def _object_sum(x: Any, axis: int | None = None) -> Any:
    """An array of SymPy expressions summed, all of them or along one axis; an expression is its own sum."""
    return np.sum(x, axis=axis) if isinstance(x, np.ndarray) else _float_sum(x, axis)


def _torch_transpose(x: Any) -> Any:
    """A tensor's axes reversed, as np.transpose does (torch.t takes at most two, and Tensor.T warns on more)."""
    return x.permute(*range(x.dim() - 1, -1, -1))


def _object_transpose(x: Any) -> Any:
    return x.T if isinstance(x, np.ndarray) else x


#: In the order docs/plugins.md lists them. Cells: name, what, float, NumPy, SymPy, Values, torch, JAX.
FUNCTIONS = (
    Function("exp", "e^x", math.exp, np.exp, "sympy:exp", "exp", "torch:exp", "jax.numpy:exp"),
    Function("expm1", "e^x - 1, exact near 0", math.expm1, np.expm1, _sympy_expm1, "expm1", "torch:expm1", "jax.numpy:expm1"),
    Function("log", "natural logarithm, x > 0", math.log, np.log, "sympy:log", "log", "torch:log", "jax.numpy:log"),
    Function("log1p", "log(1 + x), exact near 0, x > -1", math.log1p, np.log1p, _sympy_log1p, None, "torch:log1p",
             "jax.numpy:log1p", on_values="the `log` op on 1 + x, holding log1p's value"),
    Function("sqrt", "square root, x >= 0", math.sqrt, np.sqrt, "sympy:sqrt", "sqrt", "torch:sqrt", "jax.numpy:sqrt"),
    Function("sin", "sine", math.sin, np.sin, "sympy:sin", "sin", "torch:sin", "jax.numpy:sin"),
    Function("cos", "cosine", math.cos, np.cos, "sympy:cos", "cos", "torch:cos", "jax.numpy:cos"),
    Function("tan", "tangent", math.tan, np.tan, "sympy:tan", "tan", "torch:tan", "jax.numpy:tan"),
    Function("sinh", "hyperbolic sine", math.sinh, np.sinh, "sympy:sinh", "sinh", "torch:sinh", "jax.numpy:sinh"),
    Function("cosh", "hyperbolic cosine", math.cosh, np.cosh, "sympy:cosh", "cosh", "torch:cosh", "jax.numpy:cosh"),
    Function("tanh", "hyperbolic tangent", math.tanh, np.tanh, "sympy:tanh", "tanh", "torch:tanh", "jax.numpy:tanh"),
    Function("atan", "arctangent", math.atan, np.arctan, "sympy:atan", "atan", "torch:atan", "jax.numpy:arctan"),
    Function("asinh", "inverse hyperbolic sine", math.asinh, np.arcsinh, "sympy:asinh", "asinh", "torch:asinh", "jax.numpy:arcsinh"),
    Function("erf", "error function", math.erf, _elementwise(math.erf), "sympy:erf", "erf", "torch.special:erf",
             "jax.scipy.special:erf"),
    Function("erfc", "1 - erf(x), exact for large x", math.erfc, _elementwise(math.erfc), "sympy:erfc", "erfc", "torch.special:erfc",
             "jax.scipy.special:erfc"),
    Function("abs", "|x|", math.fabs, np.abs, "sympy:Abs", None, "torch:abs", "jax.numpy:abs", on_values="`where(x >= 0, x, -x)`"),
    Function("sign", "-1, 0 or 1", _float_sign, np.sign, "sympy:sign", None, "torch:sign", "jax.numpy:sign",
             on_values="a constant (derivative 0)"),
    Function("where", "`where(c, a, b)`: a where c holds, else b (both are computed)", _float_where, _array_where, _sympy_where, None,
             "torch:where", "jax.numpy:where", on_values="the branch that holds"),
    Function("maximum", "the larger of x and y (`maximum(x, 0)` is relu)", _float_maximum, np.maximum, _sympy_maximum, "maximum",
             "torch:maximum", "jax.numpy:maximum", on_values="the `maximum` op: a tie splits the gradient evenly, as PyTorch does"),
    Function("minimum", "the smaller of x and y", _float_minimum, np.minimum, _sympy_minimum, "minimum", "torch:minimum",
             "jax.numpy:minimum", on_values="the `minimum` op, likewise"),
    Function("pow", "`pow(x, n)`: x to a constant power n", math.pow, np.power, "sympy:Pow", None, "torch:pow", "jax.numpy:power",
             on_values="the `pow` op"),
    Function("sum", "`sum(x, axis=None)`: every element summed, or along one axis (a number is its own sum)", _float_sum, _array_sum,
             _object_sum, "sum", "torch:sum", "jax.numpy:sum", kind="array"),
    Function("transpose", "the axes reversed (a number is itself)", _itself, np.transpose, _object_transpose, "transpose", _torch_transpose,
             "jax.numpy:transpose", kind="array"),
    Function("pi", "3.14159... (exact on symbols)", math.pi, math.pi, "sympy:pi", None, "math:pi", "math:pi", on_values="a float",
             kind="constant"),
    Function("e", "2.71828... (exact on symbols)", math.e, math.e, "sympy:E", None, "math:e", "math:e", on_values="a float",
             kind="constant"),
)

ELEMENTARY = tuple(f.name for f in FUNCTIONS if f.kind == "elementwise")
#: Floats, except on symbols, where they are exact.
CONSTANTS = tuple(f.name for f in FUNCTIONS if f.kind == "constant")
#: Not elementwise, for ops such as matmul's vjp; on symbols, the arrays are NumPy arrays of SymPy expressions.
ARRAY_FUNCTIONS = tuple(f.name for f in FUNCTIONS if f.kind == "array")


def load(path: str) -> Any:
    """The object a "module:attr" string names, its module imported now."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def column(backend: Literal["scalar", "array", "symbolic", "torch", "jax"]) -> dict[str, Any]:
    """Name -> function or constant on backend, every "module:attr" cell imported now."""
    return {f.name: load(cell) if isinstance(cell := getattr(f, backend), str) else cell for f in FUNCTIONS}


def backend_of(*datas: Any) -> Literal["scalar", "array"]:
    """The xp namespace that computes on engine data: "scalar" if every datum is a Python float, else "array"
    (NumPy float64 arrays, beside floats or not).

    The engine's hot paths (``apply``, the operators' and the sweep's fast paths) test ``type(x) is float``
    inline instead: the same rule, where a call would cost more than the test.
    """
    return "scalar" if all(type(d) is float for d in datas) else "array"


def markdown_table() -> str:
    """docs/plugins.md's table under "What xp offers", rendered from FUNCTIONS."""
    rows = [("name", "what", "on `Value`s"), ("---",) * 3, *((f"`{f.name}`", f.what, f.on_values) for f in FUNCTIONS)]
    return "\n".join("| " + " | ".join(cell.replace("|", r"\|") for cell in row) + " |" for row in rows)
