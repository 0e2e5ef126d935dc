"""Regions: where each branch of an op holds (``xp.where``, ``abs``, ``sign``, ``maximum``, ``minimum``), found by solving where
each condition changes sign, with exact sample points in each region."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import accuracy
from .model import fmt_at
from .symbols import Case, Cell, Prover

# Sample points, exact, chosen off small integers so that a wrong rule rarely agrees by coincidence.
BOTH_SIDES = ("-17/10", "-2/5", "13/20", "23/10")
FROM_EDGE = ("3/8", "13/10", "29/10")
INSIDE = ("1/4", "11/20", "17/20")  # fractions of the way across a bounded interval
NEAR_BOUNDARY = (1e-9, 1e-6, 1e-3, 0.1)  # offsets around a boundary found only numerically, relative to max(1, |boundary|)


class Unsplittable(Exception):
    """The op's branches cannot be separated into regions of constant sign (the message says why)."""


def split(case: Case, outs: list[Any], vjps: list[Any]) -> None:
    """Find the case's regions and, in each, its forward and cotangent elements with the branch that holds there.

    Where SymPy cannot separate the regions, the op is proved as a whole (``case.split`` says why), at points
    that include some close to each boundary found numerically.
    """
    sp, xs = case.prover.sp, case.elements
    case.switches = switches(sp, [*outs, *(v for c in vjps for v in c.flat)])
    case.crosses = float_signs(sp, xs, case.switches)
    try:
        case.breaks = breaks(case)
        case.cells = cells(case, case.breaks)
        case.branches = [(cell, [branch(sp, e, cell.points[0]) for e in outs],
                          [np.vectorize(lambda e, p=cell.points[0]: branch(sp, e, p), otypes=[object])(v) for v in vjps])
                         for cell in case.cells]
    except Unsplittable as exc:
        case.breaks = {x: set() for x in xs}
        case.cells = cells(case, case.breaks, near=approximate_roots(case.prover, xs, case.switches))
        case.branches = [(cell, outs, vjps) for cell in case.cells]
        case.split = str(exc)


def plain(case: Case) -> None:
    """One region, the whole domain, without solving anything: for the float checks of a case whose symbolic work did not finish."""
    case.breaks = {x: set() for x in case.elements}
    case.cells = cells(case, case.breaks)


def breaks(case: Case) -> dict[Any, set]:
    """Per input element, the exact points where a switch (see ``switches``) may change sign; Unsplittable if they cannot be found."""
    xs, sp = case.elements, case.prover.sp
    found: dict[Any, set] = {x: set() for x in xs}
    for h in case.switches:
        free = h.free_symbols
        if not free:
            continue
        if len(free) > 1 or not free <= set(xs):
            raise Unsplittable(f"the branch condition on {h} depends on {', '.join(sorted(map(str, free)))}, "
                               "not on one input alone, so its regions cannot be separated")
        x = next(iter(free))
        found[x] |= roots(sp, h, x)
    return found


def cells(case: Case, breaks: dict[Any, set], near: dict[Any, list[float]] | None = None) -> list[Cell]:
    """The regions of the domain between the breaks, with exact sample points (and points close to the ``near`` boundaries)."""
    sp, xs = case.prover.sp, case.elements
    per_input = []
    for x, domain in zip(xs, case.domains):
        lo = sp.Integer(0) if domain in ("positive", "nonnegative") else None
        edges = sorted(b for b in breaks[x] | ({sp.Integer(0)} if domain == "nonzero" else set()) if lo is None or b > lo)
        found = intervals(sp, str(x), lo, edges)
        if near and near.get(x):
            inside = accuracy.INSIDE_DOMAIN[domain]
            extra = [sp.Rational(r + s * d * max(1.0, abs(r))) for r in near[x] for d in NEAR_BOUNDARY for s in (1, -1)]
            found = [(name, pts + [p for p in extra if inside(float(p))]) for name, pts in found]
        per_input.append(found)
    result = []
    for combo in itertools.product(*per_input):
        n = max(len(pts) for _, pts in combo)
        # input j takes its (k + j)-th point, so that two inputs are not sampled on the diagonal x == y
        points = [{x: pts[(k + j) % len(pts)] for j, (x, (_, pts)) in enumerate(zip(xs, combo))} for k in range(n)]
        names = [name for name, _ in combo]
        name = "all elements" if len(names) > 2 and all(n.startswith("all ") for n in names) else " and ".join(names)
        result.append(Cell(name, points, dict(near or {})))
    return result


def switches(sp: Any, exprs: list[Any]) -> set[Any]:
    """The functions whose sign selects a branch: condition sides' differences, arguments of Abs and sign, max/min differences."""
    found = set()
    for e in exprs:
        e = sp.sympify(e)
        for pw in e.atoms(sp.Piecewise):
            for _, cond in pw.args:
                for rel in cond.atoms(sp.core.relational.Relational):
                    found.add(rel.lhs - rel.rhs)
        for a in e.atoms(sp.Abs, sp.sign):
            found.add(a.args[0])
        for m in e.atoms(sp.Max, sp.Min):
            found |= {a - b for a, b in itertools.combinations(m.args, 2)}
    return found


def roots(sp: Any, h: Any, x: Any) -> set[Any]:
    """Where h may change sign: its real roots (a superset when h itself has branches), solved by SymPy."""
    inner = next(iter(h.atoms(sp.Piecewise, sp.Abs, sp.sign, sp.Max, sp.Min)), None)
    if isinstance(inner, sp.Piecewise):
        variants = [value for value, _ in inner.args]
    elif isinstance(inner, sp.Abs):
        variants = [inner.args[0], -inner.args[0]]
    elif isinstance(inner, sp.Max | sp.Min):
        variants = list(inner.args)
    elif inner is not None:
        variants = [1, -1]
    if inner is not None:
        return set().union(*(roots(sp, h.xreplace({inner: v}), x) for v in variants)) | (
            set() if not isinstance(inner, sp.Max | sp.Min) else roots(sp, inner.args[0] - inner.args[1], x))
    try:
        return set(sp.Poly(h, x).real_roots())
    except (sp.PolynomialError, NotImplementedError):
        pass
    try:
        solved = sp.solveset(h, x, sp.S.Reals)
    except (NotImplementedError, ValueError, TypeError):
        solved = None
    if solved is sp.S.EmptySet:
        return set()
    if isinstance(solved, sp.FiniteSet) and all(r.is_number and r.is_real for r in solved):
        return set(solved)
    raise Unsplittable(f"SymPy cannot list where {h} changes sign (solving {h} = 0 for {x} gives {solved}), "
                       "so its regions cannot be separated")


def approximate_roots(prover: Prover, xs: list[Any], switches: set[Any]) -> dict[Any, list[float]]:
    """Per input, where a switch of that input alone changes sign, found numerically (dense sampling, then bisection)."""
    sp, found = prover.sp, {x: [] for x in xs}
    grid = sorted({s * 10 ** (k / 20) for k in range(-60, 61) for s in (1, -1)} | {k / 20 for k in range(-200, 201)})
    for h in switches:
        if len(h.free_symbols) != 1 or not h.free_symbols <= set(xs):
            continue
        x = next(iter(h.free_symbols))
        f = float_function(sp, [x], h)
        signs = [(v, f([v])) for v in grid]
        for (a, fa), (b, fb) in itertools.pairwise(signs):
            if fa is None or fb is None or fa * fb > 0 or fa == 0:
                continue
            for _ in range(80):
                mid = (a + b) / 2
                fm = f([mid])
                if fm is None or mid in (a, b):
                    break
                a, fa, b = (mid, fm, b) if fm * fa > 0 else (a, fa, mid)
            found[x].append(b)
    return found


def float_function(sp: Any, xs: list[Any], expr: Any) -> Callable[[list[float]], float | None]:
    """expr as a float function of a point, None where it is undefined."""
    f = sp.lambdify(xs, expr, modules="math")

    def at(point: list[float]) -> float | None:
        try:
            v = float(f(*point))
        except (ArithmeticError, ValueError, TypeError):
            return None
        return v if math.isfinite(v) else None

    return at


def float_signs(sp: Any, xs: list[Any], switches: set[Any]) -> Callable[[list[float], list[float]], bool]:
    """Whether some branch switch vanishes or changes sign between two points (so a kink may lie between), in floats."""
    fs = [float_function(sp, xs, h) for h in switches]

    def crosses(a: list[float], b: list[float]) -> bool:
        for f in fs:
            va, vb = f(a), f(b)
            if va is None or vb is None or va * vb <= 0:
                return True
        return False

    return crosses


def intervals(sp: Any, name: str, lo: Any, edges: list[Any]) -> list[tuple[str, list[Any]]]:
    """The open intervals from lo (None: minus infinity) across the edges, each named and with exact sample points."""
    exact = [sp.Rational(f) for f in (*BOTH_SIDES, *FROM_EDGE, *INSIDE)]
    both, from_edge, inside = exact[:4], exact[4:7], exact[7:]
    out = []
    for a, b in itertools.pairwise([lo, *edges, None]):
        if a is None and b is None:
            out.append((f"all {name}", both))
        elif b is None:
            out.append((f"{name} > {a}", [a + d for d in from_edge]))
        elif a is None:
            out.append((f"{name} < {b}", [b - d for d in from_edge]))
        else:
            out.append((f"{a} < {name} < {b}", [a + (b - a) * f for f in inside]))
    return out


def branch(sp: Any, expr: Any, at: dict) -> Any:
    """expr with every Piecewise, Abs, sign, Max and Min replaced by the branch that holds around the point at."""

    def pick(e: Any) -> Any:
        if isinstance(e, sp.Piecewise):
            for value, cond in e.args:
                truth = cond.xreplace(at)
                if truth is sp.true:
                    return value
                if truth is not sp.false:
                    raise Unsplittable(f"the condition {cond} cannot be decided at {fmt_at(at)}")
            raise Unsplittable(f"no branch of {e} holds at {fmt_at(at)}")
        if isinstance(e, sp.Max | sp.Min):
            values = [a.xreplace(at) for a in e.args]
            if not all(v.is_number for v in values):
                raise Unsplittable(f"the larger of {e.args} cannot be decided at {fmt_at(at)}")
            chosen = (max if isinstance(e, sp.Max) else min)(range(len(values)), key=lambda k: values[k])
            return e.args[chosen]
        s = e.args[0].xreplace(at)
        if not s.is_number:
            raise Unsplittable(f"the sign of {e.args[0]} cannot be decided at {fmt_at(at)}")
        if isinstance(e, sp.Abs):
            return e.args[0] if s >= 0 else -e.args[0]
        return sp.sign(s)

    return sp.sympify(expr).replace(lambda e: isinstance(e, sp.Piecewise | sp.Abs | sp.sign | sp.Max | sp.Min), pick)
