"""An op on SymPy symbols: the ``Prover`` (SymPy, mpmath, exact numbers) and the ``Case``, one op at one example of its input
shapes and static parameters, run on arrays of symbols.

An elementwise op is the shape-``()`` case of an op on arrays: its inputs are arrays of one symbol each, its
cotangent ``g`` too, and the vector-Jacobian product it must equal is ``g * d forward / d x``. So every
check of the audit is written once, over the elements of its inputs.
"""

from __future__ import annotations

import itertools
import math
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..op import REQUIRED, Op, code_names

ASSUMPTIONS = {"real": {"real": True}, "positive": {"positive": True},
               "nonnegative": {"nonnegative": True}, "nonzero": {"real": True, "nonzero": True}}
COTANGENTS = ("3/2", "-7/10", "11/10", "-13/20")  # the cotangent's elements at sampled points, cycled: a vjp that forgets g is off
DIGITS = 30  # exact differences are evaluated to this many significant digits


class Prover:
    """What the symbolic checks work with: SymPy and mpmath (imported here, on first use), a Symbolic xp
    namespace resolving ops through resolver, and exact numbers."""

    def __init__(self, resolver: Any) -> None:
        # imported now, before a worker process is forked from this one: SymPy, mpmath, and the parts of SymPy
        # that it imports only when first used by the audit's steps (each worker would import them again)
        import mpmath  # noqa: F401
        import sympy.assumptions.wrapper  # noqa: F401
        import sympy.codegen.ast  # noqa: F401
        import sympy.sets.setexpr  # noqa: F401
        import sympy.solvers.solveset  # noqa: F401
        import sympy.tensor.tensor  # noqa: F401

        from ..backends import Symbolic

        self.xp = Symbolic(resolver)
        self.sp = self.xp.sympy

    def exact(self, value: Any, binary: bool = False) -> Any:
        """A float as the exact decimal it prints as (0.1 -> 1/10), or with binary the exact fraction it is."""
        if not isinstance(value, float):
            return value
        if not math.isfinite(value):
            return self.sp.Float(value)
        return self.sp.Rational(value) if binary else self.sp.Rational(repr(float(value)))

    @contextmanager
    def exact_floats(self, binary: bool = False) -> Iterator[None]:
        """While op code runs on symbols, every float it mixes in (a constant, 0.5 * x) enters SymPy exact.

        Rounding each float product separately (as SymPy's Float does) would leave a forward and a vjp
        that compute the same constant in different orders unequal by 1e-16, and so unprovable; SymPy's
        documented ``converter`` hook makes them exact while the op runs. It is a global of SymPy: this runs
        in the audit's worker process (``microreg.audit.workers``), never in the user's.
        """
        from sympy.core.sympify import converter

        previous = converter.get(float)
        converter[float] = lambda value: self.exact(value, binary)  # noqa: E731
        try:
            yield
        finally:
            if previous is None:
                del converter[float]
            else:
                converter[float] = previous

    def rationalize(self, expr: Any, binary: bool = False) -> Any:
        sp = self.sp
        expr = sp.sympify(expr)
        found = expr.atoms(sp.Float)
        return expr.xreplace({f: self.exact(float(f), binary) for f in found}) if found else expr

    def value(self, expr: Any, at: dict) -> float | None:
        """expr at an exact point as a float, or None where it is not a finite real number."""
        v = self.sp.sympify(expr).xreplace(at).evalf(DIGITS)
        return float(v) if v.is_real and v.is_finite else None

    def difference(self, d: Any, at: dict) -> float | None:
        """d at an exact point, known to DIGITS significant digits, or None where SymPy cannot tell it from 0 (or it is not real)."""
        try:
            v = self.sp.sympify(d).xreplace(at).evalf(DIGITS, strict=True)
        except (self.sp.core.evalf.PrecisionExhausted, TypeError, ValueError):
            return None
        return float(v) if v.is_real and v.is_finite else None


class OpFailed(Exception):
    """The op's forward or vjp could not run symbolically; the message says why in a plugin author's words."""


@dataclass
class Cell:
    """A region where every branch of the op is fixed: its description and exact sample points.

    ``near`` holds, per input element, boundaries found only numerically (the points include some close to each).
    """

    name: str
    points: list[dict[Any, Any]]
    near: dict[Any, list[float]] = field(default_factory=dict)


@dataclass
class Case:
    """One op (one form of a variadic op) at one example of its input shapes and static parameters.

    ``on_symbols`` fills in the op run on symbols; ``regions.split`` the regions where its branches are fixed
    (``cells``), and in each the forward and cotangent elements with their branches chosen (``branches``).
    ``checks_kinks`` marks the case whose branch points are checked (for an elementwise op, the parameters its
    Kinks are declared for).
    """

    op: Op
    shapes: tuple[tuple[int, ...], ...]
    params: dict[str, Any]
    order: int = 1
    measure: bool = True
    resolver: Any = None
    checks_kinks: bool = False
    thorough: bool = False  # the accuracy check searches for the worst input a hundred times longer
    xs: list[np.ndarray] = field(default_factory=list)  # each input, an array of symbols of its shape
    g: np.ndarray | None = None  # the cotangent: an array of symbols of the output's shape
    outs: list[Any] = field(default_factory=list)  # the forward's elements
    vjps: list[np.ndarray] = field(default_factory=list)  # each input's cotangent, of the input's shape
    misshapen: dict[str, str] = field(default_factory=dict)  # input -> why its cotangent does not have its shape
    cells: list[Cell] = field(default_factory=list)
    branches: list[tuple[Cell, list[Any], list[np.ndarray]]] = field(default_factory=list)
    breaks: dict[Any, set] = field(default_factory=dict)
    switches: set[Any] = field(default_factory=set)
    split: str = ""  # why the regions could not be separated, if they could not
    crosses: Callable[[list[float], list[float]], bool] = lambda a, b: False  # noqa: E731
    prover: Any = None

    @property
    def elementwise(self) -> bool:
        return all(s == () for s in self.shapes)

    @property
    def at_shapes(self) -> str:
        """' at shapes (2, 3), (3, 2)' for an op on arrays, '' for an elementwise one."""
        return "" if self.elementwise else f" at shapes {', '.join(map(str, self.shapes))}"

    @property
    def elements(self) -> list[Any]:
        return [e for x in self.xs for e in x.flat]

    @property
    def domains(self) -> list[str]:
        return [d for x, d in zip(self.xs, self.op.domains) for _ in x.flat]

    def cotangent(self) -> dict[Any, Any]:
        """The cotangent's elements at sampled points, exact: COTANGENTS cycled."""
        return dict(zip(self.g.flat, itertools.cycle(self.prover.sp.Rational(c) for c in COTANGENTS)))

    def datas(self, point: dict) -> list[Any]:
        """The inputs at an exact point, as the engine takes them: floats, or float64 arrays of their shapes."""
        return [float(point[x.flat[0]]) if x.ndim == 0 else np.array([float(point[e]) for e in x.flat]).reshape(x.shape)
                for x in self.xs]


def cases(op: Op, order: int, measure: bool, resolver: Any, thorough: bool = False) -> list[Case]:
    """Every case the audit runs for op: each form, each example of its shapes, each example of its static parameters
    (with the parameters its kinks are declared for, for an elementwise op)."""
    found = []
    kink_params = kink_parameters(op)
    for form in op.forms():
        examples = [dict(p) for p in op.examples]
        if not op.shapes and kink_params not in examples:  # kinks are declared for the defaults: audit those too
            examples.append(dict(kink_params))
        for k, (shapes, params) in enumerate(itertools.product(op.shapes or [((),) * form.arity], examples)):
            first = k == 0 if op.shapes else params == kink_params
            found.append(Case(form, tuple(shapes), params, order, measure, resolver, first, thorough))
    return found


def kink_parameters(op: Op) -> dict[str, Any]:
    """The static parameters kinks are declared for: the first example, with every default the op has."""
    return {**op.examples[0], **{k: d for k, d in op.params.items() if d is not REQUIRED}}


def symbol_array(sp: Any, name: str, shape: tuple[int, ...], assumptions: dict) -> np.ndarray:
    """A NumPy array of SymPy symbols named name[i,j] (just name for shape ())."""
    arr = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        arr[idx] = sp.Symbol(f"{name}[{','.join(map(str, idx))}]" if idx else name, **assumptions)
    return arr


def inputs(case: Case, prover: Prover) -> None:
    """The case's inputs as arrays of symbols, without running the op (what the float checks need)."""
    case.prover = prover
    case.xs = [symbol_array(prover.sp, n, s, ASSUMPTIONS[d]) for n, s, d in zip(case.op.inputs, case.shapes, case.op.domains)]


def on_symbols(case: Case, prover: Prover, binary: bool = False) -> tuple[list[Any], list[np.ndarray]]:
    """Run the case's forward and vjp on its symbols: (forward's elements, each input's cotangent); OpFailed if they cannot.

    Floats in the op's code and parameters enter exact: as the decimals they print as, or with binary as the
    exact fractions they are (the accuracy audit's exact values).
    """
    op, sp = case.op, prover.sp
    if not case.xs:
        inputs(case, prover)
    args = [x[()] if x.ndim == 0 else x for x in case.xs]
    params = {k: prover.exact(v, binary) for k, v in case.params.items()}
    with prover.exact_floats(binary):
        out = call(op, "forward", op.forward, prover.xp, args, params)
        if case.g is None:
            name = "g" if "g" not in op.inputs else "cotangent"
            case.g = symbol_array(sp, name, np.shape(out), {"real": True})
        outs = [prover.rationalize(o, binary) for o in np.asarray(out, dtype=object).reshape(-1)]
        if binary:
            return outs, []
        g = case.g[()] if case.g.ndim == 0 else case.g
        vjps = cotangents(op, call(op, "vjp", op.vjp, prover.xp, [g, out, *args], params))
    shaped = []
    for name, x, v in zip(op.inputs, case.xs, vjps):
        v = np.asarray(v, dtype=object)
        if v.shape != x.shape:
            case.misshapen[name] = f"the vjp for {name} has shape {v.shape}, its input {x.shape}{case.at_shapes}"
            v = np.broadcast_to(v, x.shape) if v.size == 1 else np.zeros(x.shape, dtype=object)
        shaped.append(np.vectorize(prover.rationalize, otypes=[object])(v) if v.size else v)
    return outs, shaped


def call(op: Op, role: str, fn: Callable, xp: Any, args: Sequence[Any], params: dict[str, Any]) -> Any:
    try:
        return fn(xp, *args, **params)
    except Exception as exc:
        raise OpFailed(explain(op, role, fn, exc)) from None


def explain(op: Op, role: str, fn: Callable, exc: Exception) -> str:
    code, namespace = getattr(fn, "__code__", None), getattr(fn, "__globals__", {})
    modules = sorted(n for n in code_names(code) if isinstance(namespace.get(n), types.ModuleType)) if code else []
    if modules:
        hint = (f"; it calls the module(s) {', '.join(modules)} directly: use xp's functions instead "
                f"(xp.tanh, not math.tanh), so that the same code runs on floats, arrays, symbols and Values")
    elif "truth value" in str(exc):
        hint = "; it branches on an input with if/and/or: use xp.where(condition, a, b) instead"
    else:
        hint = ""
    name = getattr(fn, "__name__", repr(fn))
    return f"the {role} {name} of op {op.name!r} cannot run on SymPy symbols: {type(exc).__name__}: {exc}{hint}"


def cotangents(op: Op, result: Any) -> list[Any]:
    """A vjp's result as a list with one cotangent per input (0 for None); OpFailed if it is not such a tuple."""
    if not isinstance(result, tuple | list) or len(result) != op.arity:
        raise OpFailed(f"the vjp {getattr(op.vjp, '__name__', repr(op.vjp))} of op {op.name!r} returned {result!r}: expected a tuple of "
                       f"{op.arity} cotangent(s), one per input {op.inputs} (None for zero)")
    return [0 if v is None else v for v in result]
