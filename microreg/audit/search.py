"""The search for an op's worst input: every intermediate of its forward and vjp traced, the points where one under- or
overflows bisected, and a local search over float64 bit patterns, each guided by a cheap estimate of the error.

A grid misses narrow regions: ``a ** b`` with the vjp ``g * b * out / a`` is right, yet ``out`` underflows to 0 at
a = 1e-200, b = 2, where the exact cotangent is 2e-200. So the op's own code runs on arrays of ``Traced`` values that
record every result, its forward and its vjp (g = 1, out the forward's result), at many points at once:

- **boundaries**: along segments between neighbouring points of the grid, one input moving or two at once (pairs
  of inputs), wherever an intermediate is 0, subnormal, normal or infinite at one end and not at the other, the
  segment is bisected in the order of float64 bit patterns down to two points 2**14 float64 places apart (a
  relative 4e-12), one on each side, and both are measured;
- **local search**: from the points of largest estimated error and from random bit patterns, steps of 2**k
  float64 places in one input, kept when they raise the estimated error;
- the **estimate** of a result's error is its distance, in float64 ulps, from the same code run in NumPy's extended
  precision (``np.longdouble``: 64 bits of significand and an exponent range to 1e4932 on x86, so it sees an
  underflow, an overflow or a cancellation of up to 11 bits that float64 suffers), divided by the result's condition
  number, estimated by a relative difference in extended precision.

The estimate only chooses where to measure: every point the search returns is measured against exact values
(``microreg.accuracy``). Where extended precision is no wider than float64 (Windows), boundaries are kept in the
order found, and the local search climbs nothing. ``diagnose`` names the intermediates that under- or overflow at
a point, which is what tells an author how to fix an inaccurate rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..accuracy import INSIDE_DOMAIN, SMALLEST_NORMAL
from ..backends import Namespace
from ..functions import column
from ..op import Op

EXTENDED = np.longdouble if np.finfo(np.longdouble).nmant > np.finfo(np.float64).nmant else np.float64
ZERO, SUBNORMAL, NORMAL, INFINITE = range(4)
BISECTIONS = 48  # halvings of a segment: from 2**62 float64 places apart to 2**14, a relative 4e-12 of the boundary
STATUS = ("0", "subnormal", "normal", "infinite or NaN")


@dataclass(frozen=True)
class Effort:
    """How hard the search tries, per case: at most ``bisections`` boundaries bisected, ``boundary_points`` of them
    kept (the largest estimated errors first), ``walkers`` local searches of ``steps`` steps, ``climbed`` best kept."""

    bisections: int
    boundary_points: int
    walkers: int
    steps: int
    climbed: int


#: At the audit's defaults the whole `microreg audit` stays under 10 s; --thorough searches a hundred times longer.
DEFAULT = Effort(bisections=256, boundary_points=24, walkers=16, steps=24, climbed=4)
THOROUGH = Effort(bisections=8192, boundary_points=400, walkers=64, steps=1500, climbed=32)


# -- the tracer --------------------------------------------------------------------------------------------------


class Traced:
    """An array of an op's intermediate values and how it was computed (``expr``, in words when asked); every result
    it takes part in is recorded on its tape. Comparisons give plain boolean arrays (for ``where``); branching on
    one (``if x > 0``) fails."""

    __slots__ = ("v", "how", "tape")
    __array_ufunc__ = None  # NumPy's scalars and arrays defer to these operators

    def __init__(self, v: Any, how: str | tuple[str, tuple, bool], tape: list) -> None:
        self.v, self.how, self.tape = v, how, tape

    @property
    def expr(self) -> str:
        """The expression that computed it, as the op's code wrote it (shortened to 60 characters)."""
        if isinstance(self.how, str):
            return self.how
        template, operands, bare = self.how
        text = template.format(*(_text(o, bare) for o in operands))
        self.how = text if len(text) <= 60 else text[:57] + "..."  # kept: each intermediate is worded once
        return self.how

    def __bool__(self) -> bool:
        raise TypeError("the truth value of a traced array is ambiguous: branch with xp.where")

    def __float__(self) -> float:
        raise TypeError("a traced array is not a float")


def _unwrap(a: Any) -> Any:
    return a.v if isinstance(a, Traced) else a


def _text(a: Any, bare: bool = False) -> str:
    """An operand in words: in parentheses if it has spaces, unless bare (an argument of a function)."""
    if isinstance(a, Traced):
        expr = a.expr
        return expr if bare or " " not in expr else f"({expr})"
    if isinstance(a, np.ndarray):
        return "cond"  # a comparison's result, where's condition
    return f"{a:g}" if isinstance(a, float) else str(a)


def _record(tape: list, value: Any, template: str, operands: tuple, bare: bool = False) -> Any:
    value = np.asarray(value)
    if value.dtype.kind != "f":
        return value  # a comparison, or a branch's condition
    traced = Traced(value, (template, operands, bare), tape)
    tape.append(traced)
    return traced


def _binary(symbol: str, fn: Callable, reflected: bool = False) -> Callable:
    template = "{} " + symbol + " {}"

    def method(self: Traced, other: Any) -> Any:
        a, b = (other, self) if reflected else (self, other)
        return _record(self.tape, fn(_unwrap(a), _unwrap(b)), template, (a, b))

    return method


def _unary(template: str, fn: Callable) -> Callable:
    def method(self: Traced) -> Any:
        return _record(self.tape, fn(self.v), template, (self,))

    return method


for _name, _symbol, _fn in (("add", "+", np.add), ("sub", "-", np.subtract), ("mul", "*", np.multiply),
                            ("truediv", "/", np.true_divide), ("pow", "**", np.power)):
    setattr(Traced, f"__{_name}__", _binary(_symbol, _fn))
    setattr(Traced, f"__r{_name}__", _binary(_symbol, _fn, reflected=True))
for _name, _fn in (("lt", np.less), ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal)):
    setattr(Traced, f"__{_name}__", lambda self, other, fn=_fn: fn(self.v, _unwrap(other)))
Traced.__neg__ = _unary("-{}", np.negative)
Traced.__pos__ = _unary("{}", np.positive)
Traced.__abs__ = _unary("abs({})", np.abs)


class Tracing(Namespace):
    """xp on Traced arrays: NumPy's column, each function recording its result; registered ops by name run traced too."""

    kind = "traced"

    def __init__(self, resolver: Any) -> None:
        def traced(name: str, fn: Callable) -> Callable:
            def call(*args: Any, **kwargs: Any) -> Any:
                tape = next((a.tape for a in args if isinstance(a, Traced)), None)
                value = fn(*map(_unwrap, args), **kwargs)
                return value if tape is None else _record(tape, value, f"{name}({', '.join(['{}'] * len(args))})", args, bare=True)

            return call

        super().__init__(resolver, {n: traced(n, f) if callable(f) else f for n, f in column("array").items()})


def trace(op: Op, params: dict, xp: Tracing, points: np.ndarray) -> tuple[np.ndarray, list[tuple[str, Traced]]] | None:
    """op at each row of points (their dtype: float64 or EXTENDED), traced: (results, tape), results[k] the forward
    (k = 0) or the cotangent of input k (g = 1) at every point, the tape (role, intermediate) of every intermediate of
    the forward ("forward") and the vjp ("vjp"), whose values are an array of the points' shape or one value for all.
    None where the op cannot run traced (it branches on an input's value, say)."""
    n, tapes = len(points), ([], [])
    ones = np.ones(n, dtype=points.dtype)
    try:
        with np.errstate(all="ignore"):
            xs = [Traced(points[:, j], name, tapes[0]) for j, name in enumerate(op.inputs)]
            out = op.forward(xp, *xs, **params)
            out_v = _unwrap(out)
            back = [Traced(x.v, name, tapes[1]) for x, name in zip(xs, op.inputs)]
            cotangents = op.vjp(xp, Traced(ones, "g", tapes[1]), Traced(np.asarray(out_v), "out", tapes[1]), *back, **params)
        results = np.array([np.broadcast_to(np.asarray(_unwrap(r), dtype=points.dtype), (n,))
                            for r in (out_v, *(0.0 if c is None else c for c in cotangents))])
    except Exception:
        return None
    return results, [(role, t) for role, tape in zip(("forward", "vjp"), tapes) for t in tape]


def classes(tape: list[tuple[str, Traced]], n: int) -> np.ndarray:
    """The class (``status``) of every intermediate of a tape at each of n points: an array (intermediates, n)."""
    return status(np.array([t.v if t.v.shape == (n,) else np.broadcast_to(t.v, (n,)) for _, t in tape]).reshape(len(tape), n))


def status(values: np.ndarray) -> np.ndarray:
    """Each value's class: ZERO, SUBNORMAL, NORMAL or INFINITE (or NaN), as a float64 holds it."""
    a = np.abs(values.astype(np.float64))
    return np.select([a == 0, a < SMALLEST_NORMAL, np.isfinite(a)], [ZERO, SUBNORMAL, NORMAL], INFINITE)


# -- float64 bit patterns, in order -------------------------------------------------------------------------------

SIGN = np.int64(-(2**63))
LARGEST = 0x7FEFFFFFFFFFFFFF  # the ordinal of the largest float64


def ordinal(x: np.ndarray) -> np.ndarray:
    """Each float64's place in the order of all float64s (0.0 and -0.0 at 0): neighbours differ by 1."""
    bits = np.asarray(x, dtype=np.float64).view(np.int64)
    return np.where(bits >= 0, bits, -(bits & ~SIGN))


def moved_by(k: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Ordinals k moved by step places, stopped at the largest float of each sign (no int64 overflow)."""
    with np.errstate(over="ignore"):
        return np.where(step > 0, np.where(k > LARGEST - step, LARGEST, k + step), np.where(k < -LARGEST - step, -LARGEST, k + step))


def from_ordinal(k: np.ndarray) -> np.ndarray:
    k = np.asarray(k, dtype=np.int64)
    return np.where(k >= 0, k, (-k) | SIGN).view(np.float64)


# -- the estimate ---------------------------------------------------------------------------------------------------


class Probe:
    """An op traced at points, in float64 and in extended precision, for the search's estimate of the error."""

    def __init__(self, op: Op, params: dict, resolver: Any, domains: list[str]) -> None:
        self.op, self.params, self.xp, self.domains = op, params, Tracing(resolver), domains
        self.usable = trace(op, params, self.xp, np.ones((2, op.arity))) is not None  # two points: `if x > 0` fails

    def inside(self, points: np.ndarray) -> np.ndarray:
        """Which points lie in the op's domain (and are finite)."""
        ok = np.all(np.isfinite(points), axis=1)
        for j, d in enumerate(self.domains):
            ok &= np.array([INSIDE_DOMAIN[d](v) for v in points[:, j]], dtype=bool)
        return ok

    def error(self, points: np.ndarray) -> np.ndarray:
        """The estimated error at each point: the largest, over the forward and cotangents, of float64's distance from
        extended precision, in float64 ulps of the latter, divided by the result's estimated condition number where it
        exceeds 1 (1e300 where float64 is 0, infinite or NaN and the extended result a nonzero float64)."""
        n, count = len(points), points.shape[1]
        if EXTENDED is np.float64 or not n:
            return np.zeros(n)
        # the points, then each moved by a relative 2**-24 in one input: one traced run for the condition numbers too
        h = EXTENDED(2.0) ** -24
        moved = np.tile(points.astype(EXTENDED), (1 + count, 1))
        for j in range(count):
            moved[(1 + j) * n:(2 + j) * n, j] *= 1 + h
        f64, ext = trace(self.op, self.params, self.xp, points.astype(np.float64)), trace(self.op, self.params, self.xp, moved)
        if f64 is None or ext is None:
            return np.zeros(n)
        got, exact = f64[0], ext[0][:, :n]
        with np.errstate(all="ignore"):
            condition = sum(np.nan_to_num(np.abs((ext[0][:, (1 + j) * n:(2 + j) * n] - exact) / (h * exact)), posinf=0.0)
                            for j in range(count)).astype(np.float64)
            reference = exact.astype(np.float64)
            ulps = np.abs(got - reference) / np.spacing(np.abs(reference))
            ulps = np.where(np.isfinite(reference), ulps, 0.0)
            ulps = np.where(np.isfinite(ulps), ulps, np.where(got == reference, 0.0, 1e300))
            return np.max(ulps / np.maximum(1.0, condition), axis=0)


# -- the search -----------------------------------------------------------------------------------------------------


def search(probe: Probe, grid: list[tuple[float, ...]], effort: Effort, seed: int = 0) -> list[tuple[tuple[float, ...], str]]:
    """Points beyond the grid worth measuring, each with how it was found: on both sides of every under- or overflow
    boundary of an intermediate, and the best points of a local search. Deterministic for a seed."""
    if not probe.usable or not grid:
        return []
    rng = np.random.default_rng(seed)
    found = boundaries(probe, np.array(grid, dtype=np.float64), effort, rng)
    starts = np.array([p for p, _ in found] + list(grid), dtype=np.float64)
    return found + climb(probe, starts, effort, rng)


def segments(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of neighbouring grid points: one input moved to its next value on the grid, or two at once (both up, or one
    up and one down)."""
    n = grid.shape[1]
    axes = [np.unique(grid[:, j]) for j in range(n)]
    index = np.stack([np.searchsorted(a, grid[:, j]) for j, a in enumerate(axes)], axis=1)
    moves = [((j, 1),) for j in range(n)] + [((i, 1), (j, s)) for i in range(n) for j in range(i + 1, n) for s in (1, -1)]
    starts, ends = [], []
    for move in moves:
        moved = index.copy()
        for j, s in move:
            moved[:, j] += s
        ok = np.all((moved >= 0) & (moved < [len(a) for a in axes]), axis=1)
        end = np.stack([a[np.clip(moved[:, j], 0, len(a) - 1)] for j, a in enumerate(axes)], axis=1)
        starts.append(grid[ok])
        ends.append(end[ok])
    return np.concatenate(starts), np.concatenate(ends)


def boundaries(probe: Probe, grid: np.ndarray, effort: Effort, rng: np.random.Generator) -> list[tuple[tuple[float, ...], str]]:
    """Both sides of each point where an intermediate changes class (0, subnormal, normal, infinite) along a segment of
    the grid, bisected over bit patterns; boundary_points of them kept, the largest estimated errors of each kind of
    boundary in turn (``spread``)."""
    lo, hi = segments(grid)
    ends = [trace(probe.op, probe.params, probe.xp, p) for p in (lo, hi)]
    if any(e is None for e in ends):
        return []
    tape_lo = ends[0][1]
    before, after = (classes(tape, len(lo)) for _, tape in ends)
    k, m = np.nonzero(before != after)
    if not len(k):
        return []
    if len(k) > effort.bisections:
        chosen = np.sort(rng.choice(len(k), effort.bisections, replace=False))
        k, m = k[chosen], m[chosen]
    a, b = ordinal(lo[m]), ordinal(hi[m])
    t_lo, t_hi = np.zeros(len(m)), np.ones(len(m))
    want, end = before[k, m], after[k, m]

    def at(t: np.ndarray) -> np.ndarray:  # in floats: b - a may exceed int64 (from -1e300 to 1e300); 2**-52 of it is near enough
        return from_ordinal((a + (b - a.astype(np.float64)) * t[:, None]).astype(np.int64))

    rows = np.arange(len(m))
    for _ in range(BISECTIONS):
        t = (t_lo + t_hi) / 2
        traced = trace(probe.op, probe.params, probe.xp, at(t))
        if traced is None:
            break
        same = classes(traced[1], len(m))[k, rows] == want
        t_lo, t_hi = np.where(same, t, t_lo), np.where(same, t_hi, t)
    found: dict[tuple[float, ...], tuple[tuple[int, int, int], str]] = {}  # point -> (which boundary, how it was found)
    for i, p in enumerate((*at(t_lo), *at(t_hi))):
        i %= len(m)
        role, t = tape_lo[k[i]]
        how = (f"bisection on a boundary where `{t.expr}` (the {role}) goes from {STATUS[want[i]]} to {STATUS[end[i]]}, "
               f"between {_fmt(probe, lo[m[i]])} and {_fmt(probe, hi[m[i]])}")
        found.setdefault(tuple(map(float, p)), ((int(k[i]), int(want[i]), int(end[i])), how))
    if not found:
        return []
    points = np.array(list(found), dtype=np.float64)
    keep = probe.inside(points)
    points, kinds = points[keep], [v for v, ok in zip(found.values(), keep) if ok]
    return [(tuple(map(float, points[i])), kinds[i][1]) for i in spread(probe.error(points), [w for w, _ in kinds], effort.boundary_points)]


def spread(errors: np.ndarray, kinds: list, count: int) -> list[int]:
    """count indices, taking in turn from each kind (the boundary of one intermediate, from one class to another) its
    point of largest error not yet taken, the kinds of largest error first: every kind of boundary is measured."""
    groups: dict[Any, list[int]] = {}
    for i in np.argsort(-errors, kind="stable"):
        groups.setdefault(kinds[i], []).append(int(i))
    queues = sorted(groups.values(), key=lambda q: -errors[q[0]])
    chosen: list[int] = []
    while len(chosen) < count and any(queues):
        chosen += [q.pop(0) for q in queues if q][:count - len(chosen)]
    return chosen


def climb(probe: Probe, starts: np.ndarray, effort: Effort, rng: np.random.Generator) -> list[tuple[tuple[float, ...], str]]:
    """A local search over bit patterns: walkers from the starts of largest estimated error and from random bit patterns
    in the domain, each step moving one input by +-2**k float64 places (k at random), kept where the estimated error
    grows; the climbed best points, each with its start."""
    if EXTENDED is np.float64:
        return []
    n = starts.shape[1]
    half = effort.walkers // 2
    errors = probe.error(starts)
    top = starts[np.argsort(-errors, kind="stable")[:half]]
    random = from_ordinal(rng.integers(-LARGEST, LARGEST + 1, size=(8 * effort.walkers, n)))
    random = random[probe.inside(random)][:effort.walkers - len(top)]
    walkers = np.concatenate([top, random]) if len(random) else top
    origin, best = walkers.copy(), probe.error(walkers)
    for _ in range(effort.steps):
        j = rng.integers(0, n, size=len(walkers))
        step = rng.choice([-1, 1], size=len(walkers)) * (2 ** rng.integers(0, 62, size=len(walkers)).astype(np.int64))
        rows, moved = np.arange(len(walkers)), walkers.copy()
        moved[rows, j] = from_ordinal(moved_by(ordinal(walkers[rows, j]), step))
        ok = probe.inside(moved)
        err = np.where(ok, probe.error(np.where(ok[:, None], moved, walkers)), -1.0)
        better = err > best
        walkers[better], best[better] = moved[better], err[better]
    order = np.argsort(-best, kind="stable")[:effort.climbed]
    return [(tuple(map(float, walkers[i])), f"local search over bit patterns, {effort.steps} steps from {_fmt(probe, origin[i])}")
            for i in order if best[i] > 0]


def diagnose(probe: Probe, point: tuple[float, ...]) -> list[str]:
    """Words for each intermediate that underflows (to 0 or a subnormal) or overflows in float64 at point, with its value
    in extended precision (where that is no wider than float64: each subnormal or infinite intermediate). An
    intermediate whose value in extended precision is in float64's normal range is not named: it is inf or 0 only
    because what it was computed from is (`log(1 + exp(x))` after `exp(x)` overflows)."""
    if not probe.usable:
        return []
    p = np.array([point], dtype=np.float64)
    f64, ext = trace(probe.op, probe.params, probe.xp, p), trace(probe.op, probe.params, probe.xp, p.astype(EXTENDED))
    if f64 is None or ext is None:
        return []
    said: dict[tuple[str, str], str] = {}
    words = {ZERO: "underflows to 0", SUBNORMAL: "underflows to a subnormal", INFINITE: "overflows"}
    for (role, t), (_, e) in zip(f64[1], ext[1]):
        got, exact = status(np.ravel(t.v)[:1])[0], np.ravel(e.v)[0]
        if EXTENDED is np.float64 and got in (SUBNORMAL, INFINITE):
            said.setdefault((role, t.expr), f"`{t.expr}` in the {role} {words[got]}")
        elif EXTENDED is not np.float64 and got != NORMAL and exact != 0 and np.isfinite(exact) and _beyond_normal(exact):
            value = np.format_float_scientific(exact, precision=5, trim="-")
            said.setdefault((role, t.expr), f"`{t.expr}` in the {role} {words[got]} ({value} in wider precision)")
    return list(said.values())[:4]


def _beyond_normal(exact: Any) -> bool:
    """Whether an extended-precision value lies outside float64's normal range (below its smallest normal, or above
    its largest float)."""
    return bool(abs(exact) < SMALLEST_NORMAL or abs(exact) > np.finfo(np.float64).max)


def _fmt(probe: Probe, p: np.ndarray) -> str:
    return ", ".join(f"{n}={float(v)!r}" for n, v in zip(probe.op.inputs, p))


def hint(problems: list[str]) -> str:
    """How to fix an inaccurate rule, from what diagnose found at its worst point."""
    if problems:
        return (f"there, {'; '.join(problems)}: compute the result without that intermediate (from the inputs rather "
                "than from out, dividing before multiplying, in logarithms, or with exp(-|x|)), so that every step stays in "
                "float64's range wherever the result does")
    return ("no intermediate under- or overflows there, so the error is rounding or cancellation: a difference of "
            "nearly equal terms (use expm1, log1p, or a form without the subtraction), or a large argument to a "
            "periodic or steep function")

