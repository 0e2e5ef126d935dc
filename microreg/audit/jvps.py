"""Forward mode: each op's jvp proved the transpose of its vjp, ``<g, jvp(t)> == <vjp(g)_i, t_i>`` for each input i (the
other tangents zero), region by region on symbols; then run through the engine (``microreg.jvp``) at the sampled points
against its exact values, and a declared jvp at each declared kink against the value the Kink declares."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import numpy as np

from .model import Check, close, floats, fmt_at
from .numeric import BACKEND_RTOL, forward_mode
from .proofs import prove
from .regions import split
from .symbols import Case, OpFailed, call, kink_parameters, symbol_array

TANGENTS = ("5/4", "-3/8", "7/16", "-9/8")  # the tangents' elements at sampled points, cycled: exact in binary, as in the engine


def transposed(case: Case) -> list[Check]:
    """The jvp against the vjp, for every input: proved on symbols, then through the engine (see the module's docstring)."""
    op = case.op
    if case.misshapen:
        return []
    if op.jvp is None:
        return [Check("jvp", "skipped", None, case.params, f"{op.name} has no jvp, so forward mode refuses it: an op with shapes "
                                                           "declares its own, Op(..., jvp=...)")]
    sp, prover = case.prover.sp, case.prover
    ts = [symbol_array(sp, f"t_{name}", x.shape, {"real": True}) for name, x in zip(op.inputs, case.xs)]
    try:
        tangent = _on_symbols(case, ts)
    except OpFailed as exc:
        return [Check("jvp", "error", name, case.params, f"{exc}{case.at_shapes}") for name in op.inputs]
    if tangent.shape != case.g.shape:
        return [Check("jvp", "refuted", None, case.params, f"the jvp's result has shape {tangent.shape}, the output "
                                                           f"{case.g.shape}{case.at_shapes}")]
    other = copy.copy(case)  # the regions again, with the jvp's own branches among them
    split(other, case.outs, [*case.vjps, tangent])
    values = {**case.cotangent(), **dict(zip((t for a in ts for t in a.flat), itertools.cycle(sp.Rational(v) for v in TANGENTS)))}
    checks = []
    for i, name in enumerate(op.inputs):
        others = {t: 0 for j, a in enumerate(ts) if j != i for t in a.flat}
        rows = [(cell, sp.Add(*(v * t for v, t in zip(vjps[i].flat, ts[i].flat))),
                 sp.Add(*(g * t.xreplace(others) for g, t in zip(case.g.flat, vjps[-1].flat))))
                for cell, _, vjps in other.branches]
        verdict, how, cex = prove(prover, rows, values)
        checks.append(Check("jvp", verdict, name, case.params,
                            f"<g, jvp(t_{name})> vs <vjp for {name}, t_{name}>{case.at_shapes}: {how}",
                            " | ".join(str(e) for _, e, _ in rows), " | ".join(str(r) for _, _, r in rows), cex))
    return checks + _engine(other, ts, values)


def _on_symbols(case: Case, ts: list[np.ndarray]) -> np.ndarray:
    """The jvp on the case's symbols and the tangents ts: the output's tangent (an array of the output's shape, if right)."""
    op, prover = case.op, case.prover
    args = [x[()] if x.ndim == 0 else x for x in case.xs]
    out = case.outs[0] if case.g.ndim == 0 else np.array(case.outs, dtype=object).reshape(case.g.shape)
    params = {k: prover.exact(v) for k, v in case.params.items()}
    with prover.exact_floats():
        result = call(op, "jvp", op.jvp, prover.xp, [tuple(t[()] if t.ndim == 0 else t for t in ts), out, *args], params)
    result = np.asarray(result, dtype=object)
    return np.vectorize(prover.rationalize, otypes=[object])(result) if result.size else result


def _engine(case: Case, ts: list[np.ndarray], values: dict) -> list[Check]:
    """``microreg.jvp`` of the op at every sampled point against the exact tangent, and at each declared kink (unit tangents,
    the case that checks kinks) against the Kink's value."""
    op, params, prover = case.op, case.params, case.prover
    tangents = [np.array([float(values[t]) for t in a.flat]).reshape(a.shape) if a.ndim else float(values[a[()]]) for a in ts]
    checked = 0
    for cell, _, vjps in case.branches:
        for point in cell.points:
            exact = [prover.value(e, {**point, **values}) for e in vjps[-1].flat]
            if None in exact:
                continue
            got = forward_mode(op, params, case.datas(point), tangents)[1]
            if isinstance(got, str):
                return [Check("jvp-engine", "error", None, params, f"microreg.jvp fails at {fmt_at(point)}{case.at_shapes}: {got}")]
            for e, v in zip(exact, np.ravel(got)):
                if not close(e, float(v), BACKEND_RTOL):
                    return [Check("jvp-engine", "refuted", None, params,
                                  f"microreg.jvp's tangent differs from SymPy's jvp on {cell.name}{case.at_shapes}",
                                  counterexample={"at": floats(point), "region": cell.name, "expected": e, "registered": float(v)})]
            checked += 1
    checks = [Check("jvp-engine", "passed", None, params, f"microreg.jvp agrees with SymPy at {checked} sampled point(s){case.at_shapes}")]
    # a derived jvp at a unit tangent computes what the vjp does at g = 1, which kinks.declared checks at each kink
    if case.checks_kinks and params == kink_parameters(op) and op.declares_jvp:
        checks += [_kink(op, params, kink, i, name) for kink in op.kinks for i, name in enumerate(op.inputs)]
    return checks


def _kink(op: Any, params: dict, kink: Any, i: int, name: str) -> Check:
    """At a declared kink, the jvp for a unit tangent in input i gives the Kink's value for it, as the vjp does (g = 1)."""
    unit = [float(j == i) for j in range(op.arity)]
    got = forward_mode(op, params, [float(a) for a in kink.at], unit)[1]
    wanted = float(kink.grad[i] or 0.0)
    where = ", ".join(f"{n}={a:g}" for n, a in zip(op.inputs, kink.at))
    if isinstance(got, str) or not close(wanted, float(got), 1e-12):
        said = got if isinstance(got, str) else format(float(got), "g")
        return Check("jvp-kink", "refuted", name, params,
                     f"at the kink {where} the jvp for a unit tangent in {name} gives {said}, but the Kink declares {wanted:g}",
                     counterexample=None if isinstance(got, str) else
                     {"at": dict(zip(op.inputs, kink.at)), "expected": wanted, "registered": float(got)})
    return Check("jvp-kink", "passed", name, params,
                 f"at the kink {where} the jvp for a unit tangent in {name} gives {wanted:g}, as declared")
