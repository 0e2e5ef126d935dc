"""Numeric checks: the op run as a user runs it, through the engine (``apply``, then a backward pass), on floats and on
arrays, against the exact forward and vjp at the sampled points, against central differences, and at order 2 its
vjp differentiated again by the engine against SymPy's second derivatives."""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Any

import numpy as np

from ..forward import jvp
from ..value import Value, apply, grad
from .model import Check, close, floats, fmt_at
from .proofs import products
from .regions import BOTH_SIDES
from .symbols import COTANGENTS, Case

BACKEND_RTOL = 1e-8  # float64 backends vs exact values
FD_RTOL = 1e-6  # central differences, step 1e-6 * max(1, |x|)


def engine(op: Any, params: dict, datas: list[Any], g: Any) -> list[Any]:
    """[forward, *each input's cotangent] for cotangent g, as the engine computes them: ``apply`` on Values of datas, then
    ``grad`` of sum(g * out), so the vjp receives g itself. Where a step fails, its entries say why (a str)."""
    values = [Value(d) for d in datas]
    try:
        out = apply(op, tuple(values), params)
    except Exception as exc:
        return [f"raises {type(exc).__name__}: {exc}"] * (1 + len(values))
    try:
        return [out.data, *grad(_total(out, g), values)]
    except Exception as exc:
        return [out.data, *[f"raises {type(exc).__name__}: {exc}"] * len(values)]


def forward_mode(op: Any, params: dict, datas: list[Any], tangents: list[Any]) -> list[Any]:
    """[forward, the output's tangent] of op at datas along tangents, as ``microreg.jvp`` computes them; where it fails,
    both entries say why (a str)."""
    try:
        return list(jvp(lambda *xs: apply(op, xs, params), datas, tangents))
    except Exception as exc:
        return [f"raises {type(exc).__name__}: {exc}"] * 2


def _total(v: Value, w: Any) -> Value:
    """sum(w * v): a scalar whose gradient with respect to v is w."""
    return v * w if type(v.data) is float else (v * w).sum()


def cotangent_like(shape: tuple[int, ...]) -> Any:
    """The sampled cotangent (COTANGENTS cycled) of an output of that shape, in floats: what the symbolic checks take for g."""
    values = [float(Fraction(c)) for c in COTANGENTS]
    if shape == ():
        return values[0]
    return np.array([v for v, _ in zip(itertools.cycle(values), range(int(np.prod(shape))))]).reshape(shape)


def batch(op: Any, params: dict, points: list[tuple[float, ...]], g: float) -> list[list[Any]]:
    """An elementwise op through the engine at many points at once, one array per input: a row [forward, *cotangents]
    per point, for cotangent g (point by point, on one-element arrays, where the engine refuses the whole: to find
    the points it fails at)."""
    n = len(points)
    whole = engine(op, params, [np.array(c, dtype=np.float64) for c in zip(*points)], np.full(n, g))
    if not any(isinstance(v, str) for v in whole):
        return [list(row) for row in zip(*(np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).tolist() for v in whole))]
    rows = [engine(op, params, [np.array([v]) for v in p], np.full(1, g)) for p in points]
    return [[v if isinstance(v, str) else float(np.ravel(v)[0]) for v in row] for row in rows]


def backends(case: Case) -> list[Check]:
    """The scalar (elementwise ops) and array backends, through the engine, vs the exact forward and vjp at every sampled
    point; an elementwise op on an array of all the points at once."""
    if case.misshapen:
        return []
    prover, op, params, g = case.prover, case.op, case.params, case.cotangent()
    names = ["forward"] * len(case.outs) + [f"vjp for {n}" for n, x in zip(op.inputs, case.xs) for _ in x.flat]
    rows = []
    for cell, outs, vjps in case.branches:
        for point in cell.points:
            exact = [prover.value(e, {**point, **g}) for e in [*outs, *(v for c in vjps for v in c.flat)]]
            if None not in exact:  # where the exact values are real
                rows.append((cell.name, point, exact))
    if not rows:
        return []
    cot = cotangent_like(case.g.shape)
    checks = []
    if case.elementwise:
        got = [engine(op, params, case.datas(p), cot) for _, p, _ in rows]
        checks.append(_judge("scalar", case, names, rows, got, f"at {len(rows)} sampled point(s)"))
        got = batch(op, params, [tuple(float(p[x]) for x in case.elements) for _, p, _ in rows], cot)
        checks.append(_judge("array", case, names, rows, got, f"on an array of {len(rows)} point(s)"))
    else:
        got = [[v for r in engine(op, params, case.datas(p), cot) for v in ([r] if isinstance(r, str) else np.ravel(r))]
               for _, p, _ in rows]
        checks.append(_judge("array", case, names, rows, got, f"at {len(rows)} sampled point(s){case.at_shapes}"))
    return checks


def _judge(backend: str, case: Case, names: list[str], rows: list, got: list[list[Any]], where: str) -> Check:
    for (region, point, exact), values in zip(rows, got):
        failed = next((v for v in values if isinstance(v, str)), None)
        if failed or len(values) != len(exact):
            return Check(backend, "error", None, case.params, f"the {backend} backend fails at {fmt_at(point)}{case.at_shapes}: "
                                                              f"{failed or 'a cotangent of the wrong size'}")
        for what, e, v in zip(names, exact, values):
            if not close(e, float(v), BACKEND_RTOL):
                return Check(backend, "refuted", None, case.params,
                             f"the {backend} backend's {what} differs from SymPy's on {region}{case.at_shapes}",
                             counterexample={"at": floats(point), **floats(case.cotangent()), "region": region,
                                             "expected": e, "registered": float(v)})
    return Check(backend, "passed", None, case.params, f"forward and vjp agree with SymPy {where}")


def central_differences(case: Case) -> list[Check]:
    """Each element of each input's cotangent vs the central difference of sum(g * forward) in it, at every sampled point,
    skipping a difference whose two points straddle a declared kink or a branch switch."""
    op, params, checks = case.op, case.params, []
    for i, (name, x) in enumerate(zip(op.inputs, case.xs)):
        checked, failed = 0, None
        for cell in case.cells:
            for point in cell.points:
                datas = case.datas(point)
                try:
                    g = cotangent_like(np.shape(apply(op, tuple(datas), params)))
                    row = engine(op, params, datas, g)
                    if any(isinstance(v, str) for v in row):
                        raise ValueError(next(v for v in row if isinstance(v, str)))
                    for idx in np.ndindex(*x.shape):
                        fd = _difference(case, i, idx, datas, g)
                        if fd is None:
                            continue
                        checked += 1
                        got = float(np.asarray(row[1 + i])[idx])
                        if failed is None and abs(fd - got) > FD_RTOL * (1 + abs(got)):
                            failed = Check("central-difference", "refuted", name, params,
                                           f"the vjp for {name} differs from the central difference of the forward at element "
                                           f"{x[idx]} on {cell.name}{case.at_shapes}",
                                           counterexample={"at": floats(point), "g": float(np.ravel(g)[0]), "region": cell.name,
                                                           "expected": fd, "registered": got})
                except Exception as exc:
                    return [Check("central-difference", "error", name, params,
                                  f"the engine fails at {fmt_at(point)}{case.at_shapes}: {type(exc).__name__}: {exc}")]
        checks.append(failed or Check("central-difference", "passed", name, params,
                                      f"the vjp for {name} agrees with central differences at {checked} point(s){case.at_shapes}"))
    return checks


def _difference(case: Case, i: int, idx: tuple[int, ...], datas: list[Any], g: Any) -> float | None:
    """The central difference of sum(g * forward) in element idx of input i, step 1e-6 * max(1, |x|); None where its two
    points straddle a declared kink or a branch switch."""
    step = 1e-6 * max(1.0, abs(float(np.asarray(datas[i])[idx])))
    up, down = (_moved(datas, i, idx, by) for by in (step, -step))
    if case.elementwise and (any(down[i] <= k.at[i] <= up[i] for k in case.op.kinks) or case.crosses(down, up)):
        return None
    high, low = (float(np.sum(g * apply(case.op, tuple(side), case.params))) for side in (up, down))
    return (high - low) / (2 * step)


def _moved(datas: list[Any], i: int, idx: tuple[int, ...], by: float) -> list[Any]:
    """datas with element idx of input i moved by by."""
    moved = list(datas)
    if np.ndim(datas[i]) == 0:
        moved[i] = datas[i] + by
    else:
        moved[i] = datas[i].copy()
        moved[i][idx] += by
    return moved


def graph(case: Case) -> list[Check]:
    """At order 2: each input's vjp differentiated again by the engine (grad with create_graph=True, then grad) vs SymPy.

    With r a fixed array of x_i's shape, the engine's d/dx_j of sum(r * vjp_i) at each sampled point must be
    SymPy's derivative of sum(r * the vector-Jacobian product for x_i), for every input x_j.
    """
    if case.order < 2 or case.misshapen:
        return []
    sp, op, checks = case.prover.sp, case.op, []
    g, cot = case.cotangent(), cotangent_like(case.g.shape)
    for i, (name, x) in enumerate(zip(op.inputs, case.xs)):
        rs = np.array([sp.Rational(v) for v, _ in zip(itertools.cycle(BOTH_SIDES), range(x.size))], dtype=object).reshape(x.shape)
        r = float(rs[()]) if x.ndim == 0 else rs.astype(np.float64)
        checks.append(_graph(case, i, name, rs, r, cot, g))
    return checks


def _graph(case: Case, i: int, name: str, rs: np.ndarray, r: Any, cot: Any, g: dict) -> Check:
    sp, op, checked = case.prover.sp, case.op, 0
    targets = []
    for cell, outs, _ in case.branches:
        want = products(case, outs, case.xs[i])
        targets.append((cell.name, sp.Add(*(rk * w.xreplace(g) for rk, w in zip(rs.flat, want.flat)))))
    inside = [(region, target, point, False) for (region, target), (cell, _, _) in zip(targets, case.branches) for point in cell.points]
    for region, target, point, on_break in inside + _on_breaks(case, targets):
        try:
            values = [Value(d) for d in case.datas(point)]
            first = grad(_total(apply(op, tuple(values), case.params), cot), values, create_graph=True)[i]
            second = grad(_total(first, r), values) if isinstance(first, Value) else [np.zeros(np.shape(v.data)) for v in values]
        except Exception as exc:
            if on_break:
                continue  # a break may lie where the op is not defined in floats: the points inside are checked
            return Check("graph", "error", name, case.params, f"grad(..., create_graph=True) cannot differentiate the vjp for {name} "
                                                              f"again at {fmt_at(point)}{case.at_shapes}: {type(exc).__name__}: {exc}")
        for x, got in zip(case.xs, second):
            got = np.broadcast_to(np.asarray(got, dtype=np.float64), x.shape)
            for idx in np.ndindex(*x.shape):
                expected = case.prover.value(sp.diff(target, x[idx]), point)
                if expected is not None and not close(expected, float(got[idx]), BACKEND_RTOL):
                    return Check("graph", "refuted", name, case.params,
                                 f"d/d{x[idx]} of the vjp for {name} through grad(create_graph=True) differs from SymPy's "
                                 f"on {region}{case.at_shapes}",
                                 counterexample={"at": floats(point), "region": region, "expected": expected,
                                                 "registered": float(got[idx])})
                checked += 1
    return Check("graph", "passed", name, case.params, f"second derivatives agree with SymPy at {checked} sampled point(s){case.at_shapes}")


def _on_breaks(case: Case, targets: list[tuple[str, Any]]) -> list[tuple[str, Any, dict, bool]]:
    """For an op of one scalar input: each break (where a branch switches) at which the branches on either side give the
    same second derivative, with the one below's: there the op is twice differentiable and the engine must agree, but
    no sample point lies on it (a clamp tying at the switch of the where it feeds halved atan's there)."""
    if not case.elementwise or len(case.xs) != 1:
        return []
    x, found = case.xs[0][()], []
    for b in sorted(case.breaks.get(x, ()), key=float):
        sides = []
        for below in (True, False):
            near = [(abs(float(p[x]) - float(b)), k) for k, (cell, _, _) in enumerate(case.branches) for p in cell.points
                    if float(p[x]) != float(b) and (float(p[x]) < float(b)) == below]
            sides.append(targets[min(near)[1]] if near else None)
        if None in sides:
            continue
        (name, low), (_, high) = sides
        at = {x: b}
        left, right = (case.prover.value(case.prover.sp.diff(t, x), at) for t in (low, high))
        if left is not None and right is not None and close(left, right, BACKEND_RTOL):
            found.append((f"the break {x} = {b} (beside {name})", low, at, True))
    return found
