"""The accuracy audit's measurement: an op's forward and vjps in float64, on the scalar and array backends, against exact values.

A rule SymPy proves can still be wrong in float64: ``1 - out * out`` for tanh's derivative is 0 for
``|x| > 19`` where the true value is a normal float. So each op is run in float64 over a grid that
spans its whole domain (zero, subnormal, tiny, moderate and large inputs, up to the overflow edge of
its own result, and both sides of each kink and region boundary), and every result is compared with
the exact value: the op's own SymPy expression (floats entered as the exact binary fractions they
are) and its derivative, evaluated by mpmath at ``PRECISION`` bits.

The error of a result is counted in ulps of the exact value (units in the last place of the float64
nearest to it), and judged against the op's bound (``DEFAULT_ULPS`` unless it declares its own)
times the result's condition number where that exceeds 1: the relative error that rounding the inputs
by one part in 2**53 causes by itself (``sum |x_j * dq/dx_j| / |q|``). So no op is blamed for what
its inputs' own rounding does (near a zero of gelu's derivative, say), while an error that comes from
the formula (a cancellation such as ``1 - out * out``, an overflow inside ``exp(x) / (1 + exp(x))``)
is. A point where the exact value is finite but the backend raises, overflows or gives 0 counts as
infinitely wrong, unless its condition number excuses it.

Used by ``microreg.audit``, which builds the expressions and runs the op through the engine; SymPy
and mpmath are imported only when a measurement runs.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .op import Accuracy

DEFAULT_ULPS = 16.0
PRECISION = 1200  # bits: 1 + x still has 100 bits beyond x's own for the smallest subnormal x = 2**-1074
MAX_FLOAT = 1.7976931348623157e308
# Magnitudes of the grid, each taken with both signs where the domain allows: subnormal, the
# smallest normal, tiny, moderate (where activations bend and exponentials underflow), large, the largest float.
MAGNITUDES = (5e-324, 1e-310, 2.2250738585072014e-308, 1e-300, 1e-200, 1e-100, 1e-30, 1e-16, 1e-8, 1e-4, 0.01,
              0.1, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 12.0, 19.0, 25.0, 30.0, 37.0, 40.0, 50.0, 100.0,
              300.0, 700.0, 1e3, 1e4, 1e8, 1e16, 1e50, 1e100, 1e200, 1e300, MAX_FLOAT)
COARSE = (5e-324, 1e-300, 1e-100, 1e-8, 0.3, 1.0, 2.5, 37.0, 1e8, 1e100, 1e300)  # per input, for ops of several
MAX_POINTS = 600  # an op of several inputs is measured at this many combinations of COARSE values at most
NEAR = (1e-12, 1e-6, 1e-3, 0.1)  # offsets from a kink or region boundary, relative to max(1, |boundary|)
SMALLEST_NORMAL = 2.2250738585072014e-308
EDGE = MAX_FLOAT - DEFAULT_ULPS * math.ulp(MAX_FLOAT)  # exact results beyond are not measured: see _in_range
INSIDE_DOMAIN: dict[str, Callable[[float], bool]] = {
    "real": lambda v: True, "positive": lambda v: v > 0, "nonnegative": lambda v: v >= 0, "nonzero": lambda v: v != 0}


@dataclass
class Miss:
    """One float64 result against its exact value: which result, on which backend, where, and how far off."""

    what: str  # "forward", "vjp for x" or "jvp for x"
    backend: str  # "scalar", "array" or FORWARD_MODE
    at: dict[str, float]
    exact: float  # the float64 nearest to the exact value
    computed: float | None  # None when the backend raised
    ulps: float  # inf when the backend raised or overflowed
    condition: float = 1.0
    problem: str = ""  # "raises ...", "overflows", "gives 0 for a nonzero exact value", or ""
    found: str = "the grid"  # how the point was found: the grid, the forward's overflow edge, or the search's words

    @property
    def excess(self) -> float:
        """The error measured against the bound's unit: ulps divided by the condition number where that is above 1."""
        return self.ulps / max(1.0, self.condition)

    def describe(self) -> str:
        at = ", ".join(f"{k}={v!r}" for k, v in self.at.items())
        got = self.problem if self.computed is None else f"gives {self.computed!r}{' (' + self.problem + ')' if self.problem else ''}"
        cond = f", condition number {self.condition:.3g}" if self.condition > 1 else ""
        return f"the {self.backend} {self.what} at {at} {got}, exact {self.exact!r}: {self.ulps:.3g} ulps{cond} (found by {self.found})"


@dataclass
class Measurement:
    """The accuracy of one op for one set of static parameters: how many results were compared, the worst, the misses."""

    bound: float
    results: int = 0
    worst: Miss | None = None
    misses: list[Miss] = field(default_factory=list)  # results beyond the bound, the worst first
    failures: int = 0  # results where a backend raised, overflowed or gave 0 for a nonzero exact value

    @property
    def accurate(self) -> bool:
        return not self.misses


Backend = Callable[[list[tuple[float, ...]]], list[list[Any]]]
"""Runs an op at points: per point, the forward and each cotangent (g = 1) as floats, or a string saying what failed.
The backend named ``FORWARD_MODE`` gives the output's tangent for a unit tangent in each input instead of the cotangents."""
FORWARD_MODE = "forward mode"


def bound(declared: Accuracy | None) -> float:
    """The bound in ulps an op is judged against: the one its Accuracy declares, else DEFAULT_ULPS."""
    return declared.ulps if declared else DEFAULT_ULPS


Search = Callable[[list[tuple[float, ...]]], list[tuple[tuple[float, ...], str]]]
"""Given the grid's points, more points worth measuring, each with how it was found (``microreg.audit.search``)."""


def measure(xs: Sequence[Any], domains: Sequence[str], forward: Any, breaks: Sequence[set[float]], backends: dict[str, Backend],
            declared: Accuracy | None = None, search: Search | None = None) -> Measurement:
    """Measure an op's forward and vjps on each of ``backends`` against forward, its exact SymPy expression in the
    symbols xs (its inputs, named as the op names them, each in its domain from ``domains``).

    ``breaks`` holds, per input, the values where a branch of the op switches (its kinks and region
    boundaries): the grid samples both sides of each, and the vjps are not measured exactly on them
    (the derivative may not exist there; ``microreg.audit`` checks those points). The results are judged
    against the bound the op ``declared`` (see ``bound``); where that Accuracy has ``up_to``, only points
    whose inputs are all at most that large are measured. ``search``, given the grid, finds more points to measure
    (the worst inputs it can find); each result says how its point was found.
    """
    import mpmath
    import sympy as sp

    quantities = [forward, *(_derivative(sp, forward, x) for x in xs)]
    exact = [_lambdify(sp, xs, q) for q in quantities]
    slopes: dict[int, list[Callable]] = {}  # the derivatives of quantity k, built the first time a condition number is needed
    with mpmath.workprec(PRECISION):
        points = grid(domains, breaks)
        found = dict.fromkeys(points, "the grid")
        if len(xs) == 1:
            edges = _overflow_edges(mpmath, exact[0], [p[0] for p in points])
            found.update(((v,), "bisection on the forward's overflow edge") for v in edges)
        for p, how in search(list(found)) if search else ():
            found.setdefault(p, how)
        up_to = declared.up_to if declared else None
        points = sorted(p for p in found if up_to is None or max(map(abs, p)) <= up_to)
        args = [tuple(map(mpmath.mpf, p)) for p in points]  # floats are exact in mpmath: converted once, used by every quantity
        values = [[_evaluate(mpmath, f, a) for f in exact] for a in args]
        inputs = [str(x) for x in xs]
        result = Measurement(bound(declared))
        for backend, run in backends.items():
            mode = "jvp" if backend == FORWARD_MODE else "vjp"  # the derivative for input x, in the mode the backend runs
            names = ["forward", *(f"{mode} for {n}" for n in inputs)]
            computed = run(points)
            for p, a, exact_row, got_row in zip(points, args, values, computed):
                floats = [_in_range(e) for e in exact_row]
                if floats[0] is None:
                    continue  # outside the domain, or the result itself overflows float64: nothing to compute
                on_break = any(v in b for v, b in zip(p, breaks))
                subnormal = 0 < abs(floats[0]) < SMALLEST_NORMAL  # a vjp reusing out cannot beat out's own precision
                overflowing = any(e is not None and f is None for e, f in zip(exact_row[1:], floats[1:]))
                for k, (what, e, e_float, got) in enumerate(zip(names, exact_row, floats, got_row)):
                    if e_float is None or (k and (on_break or subnormal)) or (not k and mode == "jvp"):
                        continue  # (forward mode runs the same forward, measured on the other backends)
                    if k and overflowing and isinstance(got, str):
                        continue  # another cotangent overflows float64 here: the vjp may well raise for all of them
                    miss = _miss(what, backend, dict(zip(inputs, p)), e_float, got, found[p])
                    if miss.ulps > 2:  # make sure of the exact value, then see whether the condition number excuses the error
                        e = exact_row[k] = _confirmed(mpmath, exact[k], a, e)
                        e_float = _in_range(e)
                        if e_float is None:
                            continue
                        miss = _miss(what, backend, dict(zip(inputs, p)), e_float, got, found[p])
                        if k not in slopes:
                            slopes[k] = [_lambdify(sp, xs, _derivative(sp, quantities[k], x)) for x in xs]
                        miss.condition = _condition(mpmath, a, e, [_evaluate(mpmath, f, a) for f in slopes[k]])
                    result.results += 1
                    result.failures += bool(miss.problem)
                    if result.worst is None or miss.excess > result.worst.excess:
                        result.worst = miss
                    if miss.excess > result.bound:
                        result.misses.append(miss)
    result.misses.sort(key=lambda m: -m.excess)
    return result


def grid(domains: Sequence[str], breaks: Sequence[set[float]]) -> list[tuple[float, ...]]:
    """The points to measure: for one input every magnitude, for several a sample of combinations of coarser ones."""
    one = len(domains) == 1
    axes = [_axis(d, b, MAGNITUDES if one else COARSE) for d, b in zip(domains, breaks)]
    if math.prod(map(len, axes)) <= MAX_POINTS:
        return list(itertools.product(*axes))
    rng = random.Random(0)  # the same sample every run; drawn point by point, never listing the whole product
    return sorted({tuple(rng.choice(axis) for axis in axes) for _ in range(MAX_POINTS)})


def _axis(domain: str, breaks: set[float], magnitudes: Sequence[float]) -> list[float]:
    values = {s * m for m in magnitudes for s in (1.0, -1.0)} | {0.0}
    for b in breaks:
        scale = max(1.0, abs(b))
        values |= {b, math.nextafter(b, math.inf), math.nextafter(b, -math.inf)}
        values |= {b + s * d * scale for d in NEAR for s in (1.0, -1.0)}
    inside = INSIDE_DOMAIN[domain]
    return sorted(v for v in values if inside(v) and math.isfinite(v))


def _overflow_edges(mpmath: Any, forward: Callable, values: list[float]) -> list[float]:
    """Points just below where forward's exact result first overflows float64, on each side of 0.

    Found at 64 bits: where a value overflows needs no more precision than the float64 it is compared with.
    """
    found = []
    with mpmath.workprec(64):
        for side in (1.0, -1.0):
            ordered = sorted((v for v in values if v * side > 0), key=abs)
            for a, b in itertools.pairwise(ordered):
                if _as_float(_evaluate(mpmath, forward, (mpmath.mpf(b),))) is None:
                    if _as_float(_evaluate(mpmath, forward, (mpmath.mpf(a),))) is None or not _overflows(mpmath, forward, b):
                        break  # undefined rather than overflowing
                    for _ in range(64):  # bisect on the magnitude's exponent
                        mid = side * math.sqrt(abs(a)) * math.sqrt(abs(b))
                        if mid in (a, b):
                            break
                        a, b = (mid, b) if _as_float(_evaluate(mpmath, forward, (mpmath.mpf(mid),))) is not None else (a, mid)
                    found += [a * f for f in (0.5, 0.9, 0.99, 0.999, 1.0)]
                    break
    return found


def _overflows(mpmath: Any, forward: Callable, v: float) -> bool:
    value = _evaluate(mpmath, forward, (mpmath.mpf(v),))
    return value is not None and abs(value) > MAX_FLOAT


def _derivative(sp: Any, expr: Any, x: Any) -> Any:
    """d expr / dx, with max/min as piecewise and the distributions at kinks (where nothing is measured) dropped."""
    expr = expr.replace(lambda e: isinstance(e, sp.Max | sp.Min), lambda e: e.rewrite(sp.Piecewise))
    d = sp.diff(expr, x)
    return d.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero).replace(
        lambda e: isinstance(e, sp.Heaviside), lambda e: (1 + sp.sign(e.args[0])) / 2)


def _lambdify(sp: Any, xs: Sequence[Any], expr: Any) -> Callable:
    return sp.lambdify(list(xs), expr, modules=[_CHEAPER, "mpmath"])


# Two kinds of values cost mpmath far more at PRECISION bits than they are worth, and are computed with
# fewer: exponentials of arguments beyond FAR (exp(1e300) alone costs 35 ms), which lie so far outside
# float64's range, and so far below PRECISION bits of 1, that more bits change no float64 result; and
# the tails of erf and erfc (beyond TAIL), where erfc is known to TAIL_BITS bits relative to its own
# tiny size, which is what a float64 result computed from it can use, at a tenth of the cost.
FAR = 1e4
TAIL = 4.0
TAIL_BITS = 256


def _far(name: str) -> Callable:
    def f(z: Any) -> Any:
        import mpmath

        if abs(z) > FAR:
            with mpmath.workprec(128):
                return getattr(mpmath, name)(z)
        return getattr(mpmath, name)(z)

    f.__name__ = name
    return f


def _erfc(z: Any) -> Any:
    """erfc(z), its tails at TAIL_BITS bits (an asymptotic series beyond 1e8, where mpmath's fails)."""
    import mpmath

    if z < -TAIL:
        return 2 - _erfc(-z)
    if z <= TAIL:
        return mpmath.erfc(z)
    with mpmath.workprec(TAIL_BITS):
        if z > 1e8:  # exp(-z^2) / (z sqrt(pi)) (1 - 1/(2 z^2)), relatively within 1e-32
            return mpmath.exp(-z * z) / (z * mpmath.sqrt(mpmath.pi)) * (1 - 1 / (2 * z * z))
        return mpmath.erfc(z)


def _erf(z: Any) -> Any:
    import mpmath

    return mpmath.erf(z) if abs(z) <= TAIL else mpmath.sign(z) * (1 - _erfc(abs(z)))


_CHEAPER = {**{name: _far(name) for name in ("exp", "sinh", "cosh", "expm1")}, "erf": _erf, "erfc": _erfc}


def _evaluate(mpmath: Any, f: Callable, args: Sequence[Any]) -> Any:
    """f at a point (its coordinates as mpmath numbers) as an mpmath real, or None where it is undefined or not real."""
    try:
        value = f(*args)
    except (ArithmeticError, ValueError, TypeError):
        return None
    if isinstance(value, bool | int | float):
        value = mpmath.mpf(value)
    if not isinstance(value, mpmath.mpf) or not mpmath.isfinite(value):
        return None
    return value


def _confirmed(mpmath: Any, f: Callable, args: Sequence[Any], value: Any) -> Any:
    """value evaluated again at 2 and 4 times PRECISION bits while that changes it (a cancellation deeper than
    PRECISION bits, such as max(x, y) written (x + y + |x - y|) / 2 at x = -1e300, y = -1e-100)."""
    for bits in (2 * PRECISION, 4 * PRECISION):
        with mpmath.workprec(bits):
            again = _evaluate(mpmath, f, args)
            if again is None or value is None or abs(again - value) <= abs(again) * mpmath.mpf(2) ** -80:
                return again
        value = again
    return value


def _in_range(value: Any) -> float | None:
    """The float64 nearest to an exact value, or None if it is within DEFAULT_ULPS ulps of overflowing (or beyond): there
    an error within the bound may round a result past the largest float, and raising is then no worse than that error."""
    f = _as_float(value)
    return None if f is None or abs(f) > EDGE else f


def _as_float(value: Any) -> float | None:
    """The float64 nearest to an exact value, or None if there is none (undefined, or beyond the largest float)."""
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _condition(mpmath: Any, args: Sequence[Any], value: Any, slopes: list[Any]) -> float:
    """sum |x_j * dq/dx_j| / |q|: the relative error of q caused by relative errors of 1 in its inputs (1 if unknown)."""
    if value is None or value == 0 or any(s is None for s in slopes):
        return 1.0
    return float(mpmath.fsum(abs(x * s) for x, s in zip(args, slopes)) / abs(value))


def _miss(what: str, backend: str, at: dict[str, float], e_float: float, got: Any, found: str) -> Miss:
    """How far a result is from the correctly rounded exact value, in ulps of that value."""
    if isinstance(got, str):
        return Miss(what, backend, at, e_float, None, math.inf, problem=got, found=found)
    if not math.isfinite(got):
        return Miss(what, backend, at, e_float, got, math.inf, problem="overflows" if math.isinf(got) else "is not a number", found=found)
    ulps = abs(got - e_float) / math.ulp(e_float)
    problem = "gives 0 for a nonzero exact value" if got == 0 and e_float != 0 else ""
    return Miss(what, backend, at, e_float, got, ulps, problem=problem, found=found)
