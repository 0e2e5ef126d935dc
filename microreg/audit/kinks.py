"""Kinks and branch points: every point where a branch of an op switches is found, one where the op is not differentiable
must be declared (``Kink``), a declared one must be where a branch switches, and at each the vjp gives what it declares."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..op import Op
from .model import Check, close, floats, fmt_at, fmt_point, fmt_value
from .numeric import BACKEND_RTOL, engine
from .regions import branch
from .symbols import Case, kink_parameters


def branch_points(case: Case) -> list[Check]:
    """On the case that checks kinks: every point where a branch of the forward or a vjp switches, against the declared kinks.

    Where the forward's one-sided derivatives differ (or the forward jumps) the op is not differentiable:
    a Kink must be declared there. Where they agree, no Kink may be declared, and the vjp must give the
    derivative. A Kink declared where nothing branches is refuted too. Other inputs take a sampled value.
    An op on arrays declares no kinks: one that branches is inconclusive here.
    """
    if not case.checks_kinks or not case.cells:
        return []
    if not case.elementwise:
        if case.switches:
            return [Check("branch", "inconclusive", None, case.params, f"it branches on {', '.join(map(str, case.switches))}"
                          f"{case.at_shapes}: kinks of an op on arrays cannot be declared or checked")]
        return [Check("branch", "passed", None, case.params, f"branch points: none{case.at_shapes}")]
    sp, op, params, prover = case.prover.sp, case.op, case.params, case.prover
    xs, forward, checks, kinks_found = case.elements, case.outs[0], [], []
    base = case.cells[0].points[0]
    for i, x in enumerate(xs):
        name = op.inputs[i]
        points = sorted(case.breaks[x])
        for k, p in enumerate(points):
            gaps = [abs(p - q) for q in (points[k - 1:k] + points[k + 1:k + 2])]
            eps = min([sp.Rational(1, 1000) * max(1, abs(p)), *(gap / 4 for gap in gaps)])
            at = {**base, x: p}
            left, right = ({**at, x: p - eps}, {**at, x: p + eps})
            sides = [branch(sp, forward, side) for side in (left, right)]
            values = [prover.value(f, at) for f in sides]
            slopes = [prover.value(sp.diff(f, x), at) for f in sides]
            fp, where = float(p), fmt_at(at)
            vjp = _vjp_at(op, params, [float(v) for v in at.values()], i)
            match = [kk for kk in op.kinks if _same(kk.at[i], fp)]
            if None in values or None in slopes:
                continue
            jump = not close(values[0], values[1], 1e-12)
            if jump or not close(slopes[0], slopes[1], 1e-12):
                kinks_found.append((i, fp))
                if not match:
                    how = f"{op.name} jumps from {values[0]:.6g} to {values[1]:.6g}" if jump else \
                        f"d{op.name}/d{name} is {slopes[0]:.6g} for {name} < {fp:g} and {slopes[1]:.6g} for {name} > {fp:g}"
                    other = slopes[0] if vjp is None or not close(slopes[0], vjp, 1e-12) else slopes[1]
                    checks.append(Check("kink", "refuted", name, params,
                                        f"undeclared kink at {where}: {how}; the vjp gives {fmt_value(vjp)} there (g = 1). "
                                        f"Declare the value it takes: Op(..., kinks=(Kink({fp!r}, {fmt_value(vjp)}),))",
                                        counterexample={"at": floats(at), "g": 1.0, "expected": other,
                                                        "registered": math.nan if vjp is None else vjp}))
            elif match:  # a kink for other parameters (elu's alpha = 1 is smooth at 0): its value must be the derivative
                declared = float(match[0].grad[i] or 0.0)
                if not close(slopes[0], declared, 1e-12):
                    checks.append(Check("kink", "refuted", name, params,
                                        f"a Kink at {fmt_point(op, match[0].at)} declares {declared:g}, but {op.name} is "
                                        f"differentiable there with these parameters: d{op.name}/d{name} = {slopes[0]:.6g} on both sides",
                                        counterexample={"at": floats(at), "g": 1.0, "expected": slopes[0], "registered": declared}))
            elif vjp is None or not close(slopes[0], vjp, BACKEND_RTOL):
                checks.append(Check("branch", "refuted", name, params,
                                    f"at {where}, where a branch switches but {op.name} is differentiable, the vjp for {name} gives "
                                    f"{fmt_value(vjp)} (g = 1), the derivative is {slopes[0]:.6g}",
                                    counterexample={"at": floats(at), "g": 1.0, "expected": slopes[0],
                                                    "registered": math.nan if vjp is None else vjp}))
    for kk in op.kinks:
        at = {x: prover.exact(float(v)) for x, v in zip(xs, kk.at)}
        if not any(prover.value(h, at) in (0.0, None) for h in case.switches):
            checks.append(Check("kink", "refuted", op.inputs[0] if op.arity == 1 else None, params,
                                f"a Kink is declared at {fmt_point(op, kk.at)}, but nothing of {op.name} branches there "
                                f"(it switches branch at {_fmt_breaks(op, xs, case.breaks)})"))
    if not checks:
        where = ", ".join(f"{op.inputs[i]}={fp:g}" for i, fp in kinks_found) or "none"
        checks.append(Check("branch", "passed", None, params,
                            f"branch points: {_fmt_breaks(op, xs, case.breaks)}; "
                            f"kinks among them: {where}, each declared; the vjp gives the derivative at the others"))
    return checks


def declared(op: Op) -> list[Check]:
    """At each declared Kink, the vjp for g = 1 and the default parameters gives the declared cotangents, on floats and on
    arrays. Float work only: it runs in the calling process, whatever the symbolic work finished."""
    params = kink_parameters(op)
    checks = []
    for kink in op.kinks:
        wanted = [0.0 if v is None else float(v) for v in kink.grad]
        found = {"scalar": engine(op, params, [float(a) for a in kink.at], 1.0),
                 "array": engine(op, params, [np.array([float(a)]) for a in kink.at], np.ones(1))}
        failed = next((v for row in found.values() for v in row if isinstance(v, str)), None)
        if failed:
            message = f"the vjp cannot be evaluated at the kink {fmt_point(op, kink.at)}: {failed}"
            checks += [Check("kink", "error", name, params, message) for name in op.inputs]
            continue
        for i, name in enumerate(op.inputs):
            got = {b: float(np.ravel(row[1 + i])[0]) for b, row in found.items()}
            wrong = [(b, v) for b, v in got.items() if not close(wanted[i], v, 1e-12)]
            if wrong:
                backend, got = wrong[0]
                checks.append(Check("kink", "refuted", name, params,
                                    f"at the kink {fmt_point(op, kink.at)} the {backend} vjp for {name} gives {got:g} for g = 1, "
                                    f"but the Kink declares {wanted[i]:g}",
                                    counterexample={"at": dict(zip(op.inputs, kink.at)), "g": 1.0, "expected": wanted[i],
                                                    "registered": got}))
            else:
                checks.append(Check("kink", "passed", name, params,
                                    f"at the kink {fmt_point(op, kink.at)} the vjp for {name} gives {wanted[i]:g}, as declared"))
    return checks


def _vjp_at(op: Op, params: dict, point: list[float], i: int) -> float | None:
    """The engine's cotangent for input i at point, g = 1 (None if it fails)."""
    row = engine(op, params, point, 1.0)
    return None if isinstance(row[1 + i], str) else float(row[1 + i])


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=0, abs_tol=1e-12 * max(1.0, abs(b)))


def _fmt_breaks(op: Op, xs: list[Any], breaks: dict[Any, set]) -> str:
    return ", ".join(f"{n}={float(p):g}" for x, n in zip(xs, op.inputs) for p in sorted(breaks[x])) or "none"
