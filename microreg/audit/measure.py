"""The accuracy check: the op run through the engine in float64, on floats (elementwise ops) and on arrays, measured by
``microreg.accuracy`` against exact values over a grid spanning its domain, and judged against the op's bound in ulps."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from .. import accuracy
from ..op import Op
from . import search
from .model import Check
from .numeric import batch, engine, forward_mode
from .symbols import Case, OpFailed, on_symbols


def accuracy_check(case: Case) -> list[Check]:
    """Forward and cotangents in float64 against their exact values: for an op with one output element its forward and
    vjp (g = 1); otherwise sum(c * out) and its gradient, the vjp for g = c, with c = 2**-m in every element and 2**m
    at least the number of elements (exact products, and a sum that cannot overflow where its value does not)."""
    if not case.measure or case.misshapen:
        return []
    op, params, sp = case.op, case.params, case.prover.sp
    try:
        outs, _ = on_symbols(case, case.prover, binary=True)  # floats in the op's code as the fractions they are
    except OpFailed as exc:
        return [Check("accuracy", "unchecked", None, params, f"no exact values: {exc}")]
    size = len(outs)
    c = sp.Integer(1) if size == 1 else sp.Rational(1, 2 ** size.bit_length())
    forward = sp.Add(*(c * o for o in outs))
    if case.elementwise:
        near = case.cells[0].near if case.cells else {}
        breaks = [{float(b) for b in case.breaks.get(x, ())} | {float(r) for r in near.get(x, ())} for x in case.elements]
        if case.checks_kinks:
            breaks = [b | {k.at[j] for k in op.kinks} for j, b in enumerate(breaks)]
        backends = {"scalar": _scalar(op, params), "array": _batch(op, params)}
        if op.declares_jvp:  # a derived jvp computes what the vjp does (unit tangents): measured with it
            backends[accuracy.FORWARD_MODE] = _forward_mode(op, params)
        probe = search.Probe(op, params, case.resolver, case.domains)
        effort = search.THOROUGH if case.thorough else search.DEFAULT
        m = accuracy.measure(case.elements, case.domains, forward, breaks, backends, op.accuracy_in(),
                             lambda grid: search.search(probe, grid, effort))
        fix = search.hint(search.diagnose(probe, tuple(m.worst.at.values()))) if m.misses else ""
        where = "on the scalar and array backends" + (" and in forward mode" if op.declares_jvp else "")
        return [judged(op, params, m, where, fix=fix)]
    m = accuracy.measure(case.elements, case.domains, forward, [set() for _ in case.elements], {"array": _shaped(case, float(c))},
                         op.accuracy_in())
    return [judged(op, params, m, "(sum(c * out) and its gradient, the vjp for g = c)", case.at_shapes)]


def _scalar(op: Op, params: dict) -> accuracy.Backend:
    def run(points: list[tuple[float, ...]]) -> list[list[Any]]:
        return [engine(op, params, list(p), 1.0) for p in points]

    return run


def _batch(op: Op, params: dict) -> accuracy.Backend:
    def run(points: list[tuple[float, ...]]) -> list[list[Any]]:
        return batch(op, params, points, 1.0)

    return run


def _forward_mode(op: Op, params: dict) -> accuracy.Backend:
    """The op in forward mode (``microreg.jvp``): per point, the output's tangent for a unit tangent in each input, the
    others 0 (and in place of the forward None: forward mode runs the same forward, which the other backends measure)."""
    def run(points: list[tuple[float, ...]]) -> list[list[Any]]:
        units = [[float(i == j) for j in range(op.arity)] for i in range(op.arity)]
        return [[None, *(forward_mode(op, params, list(p), t)[1] for t in units)] for p in points]

    return run


def _shaped(case: Case, c: float) -> accuracy.Backend:
    starts, weights = np.cumsum([0, *(x.size for x in case.xs)]), np.full(case.g.shape, c)

    def run(points: list[tuple[float, ...]]) -> list[list[Any]]:
        rows = []
        for p in points:
            row = engine(case.op, case.params, [np.array(p[a:b]).reshape(x.shape) for a, b, x in zip(starts, starts[1:], case.xs)],
                         float(weights) if weights.ndim == 0 else weights)
            failed = next((v for v in row if isinstance(v, str)), None)
            rows.append([failed] * (1 + int(starts[-1])) if failed else
                        [float(np.sum(weights * row[0])), *(float(v) for gr in row[1:] for v in np.ravel(gr))])
        return rows

    return run


def judged(op: Op, params: dict, m: accuracy.Measurement, results: str, where: str = "", fix: str = "") -> Check:
    """The accuracy check that a measurement makes: unchecked where no exact value was finite, else accurate or
    inaccurate, naming the worst points. results says which results were measured, where at which shapes, fix how
    to mend an inaccurate rule."""
    if not m.results:
        return Check("accuracy", "unchecked", None, params, f"no point of the grid has a finite exact value{where}")
    declared = f" (declared: {op.accuracy_in().reason})" if op.accuracy_in() else ""
    worst = {**asdict(m.worst), "excess": m.worst.excess}
    if m.accurate:
        return Check("accuracy", "accurate", None, params,
                     f"{m.results} float64 results {results} within {m.bound:g} ulps{where}{declared}; "
                     f"worst: {m.worst.describe()}", worst=worst)
    failed = sum(bool(x.problem) for x in m.misses)  # of the misses: a failure its condition number excuses is no miss
    failures = f"; {failed} of them raise, overflow or give 0 where the exact value is not 0" if failed else ""
    return Check("accuracy", "inaccurate", None, params,
                 f"{len(m.misses)} of {m.results} float64 results {results} are off by more than {m.bound:g} ulps{where}{declared}"
                 f"{failures}; worst: {m.worst.describe()}{'; ' + fix if fix else ''}; "
                 f"also: {'; '.join(x.describe() for x in m.misses[1:3]) or 'none'}; {REMEDY.format(op=op.name)}", worst=worst)


#: What an inaccurate op's message says to do about it.
REMEDY = ("to fix: `microreg audit --suggest {op}` (or `microreg.repair(op)`) offers a rewrite proved equal and accurate, "
          "or the largest up_to to declare in Accuracy(...) where none is found")
