"""Proofs: each cotangent of the vjp equal to the vector-Jacobian product of the forward (``g * d forward / d x`` for an
elementwise op), region by region, at the op's examples and at parameters moved away from them, and at order 2 the vjp
differentiated again equal to SymPy's second derivative. ``proved``, ``refuted`` with a counterexample, or ``inconclusive``."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from .model import Check, close, floats, fmt_params
from .regions import Unsplittable, split
from .symbols import DIGITS, Case, Cell, OpFailed, Prover, kink_parameters, on_symbols

RTOL = 1e-9  # symbolic vs symbolic, in floats: a disagreement this large needs no exact evaluation
VARIED = 1.3  # a float static parameter is also audited at VARIED times each example's value (an int at one step further from 0)


def is_zero(sp: Any, d: Any) -> str | None:
    """How SymPy shows d == 0, trying the cheap ways first; None if it cannot."""
    if d == 0:
        return "identical"
    for name, method in (("expand", sp.expand), ("cancel", sp.cancel), ("exp", _in_exp)):
        try:
            if method(d) == 0:
                return name
        except (sp.PolynomialError, TypeError, ValueError):  # cancel refuses some unsplit Piecewise expressions
            continue
    return None


def _in_exp(d: Any) -> Any:
    """d with tanh, sinh, cosh (and the like) written in exp, then cancelled: a cheap proof for rules in exp(-|x|)."""
    from sympy import cancel, exp

    return cancel(d.rewrite(exp))


def compare(prover: Prover, expected: Any, registered: Any, cell: Cell, extra: dict) -> tuple[str, dict | None]:
    """Prove registered == expected on cell: (verdict-or-method, counterexample).

    A difference SymPy does not reduce to 0 is evaluated at every sampled point, exactly to DIGITS
    digits: one that is nonzero anywhere, however small, refutes the rule at the point where it is largest.
    """
    d = registered - expected
    method = is_zero(prover.sp, d)
    if method:
        return method, None
    found = []
    for point in cell.points:
        at = {**point, **extra}
        e, r = prover.value(expected, at), prover.value(registered, at)
        if e is not None and r is not None and not close(e, r, RTOL):
            return "refuted", {"at": floats(point), **floats(extra), "region": cell.name, "expected": e, "registered": r}
        diff = prover.difference(d, at)
        if diff and e is not None and r is not None:
            found.append((abs(diff), point, e, r, diff))
    if found:
        _, point, e, r, diff = max(found, key=lambda f: f[0])
        return "refuted", {"at": floats(point), **floats(extra), "region": cell.name, "expected": e, "registered": r,
                           "difference": diff}
    if prover.sp.simplify(d) == 0:
        return "simplify", None
    return "inconclusive", None


def prove(prover: Prover, cases: list[tuple[Cell, Any, Any]], extra: dict) -> tuple[str, str, dict | None]:
    """(verdict, how, counterexample) for registered == expected in every (cell, expected, registered) case."""
    methods: dict[str, list[str]] = {}
    for cell, expected, registered in cases:
        method, cex = compare(prover, expected, registered, cell, extra)
        if cex is not None:
            small = f" (by {cex['difference']:.3g}, exactly)" if "difference" in cex else ""
            return "refuted", f"they differ on {cell.name}{small}", cex
        found = methods.setdefault(cell.name, [])
        if method not in found:
            found.append(method)
    unproved = [c for c, m in methods.items() if "inconclusive" in m]
    if unproved:
        return ("inconclusive", f"SymPy could not reduce their difference to 0 on {', '.join(unproved)}, "
                f"and it is 0 to {DIGITS} digits at every sampled point", None)
    return "proved", "equal on " + "; ".join(f"{c} ({', '.join(m)})" for c, m in methods.items()), None


def products(case: Case, outs: list[Any], x: np.ndarray) -> np.ndarray:
    """For each element e of x: the vector-Jacobian product, the sum over the output's elements k of g[k] * d out[k] / d e."""
    sp, want = case.prover.sp, np.empty(x.shape, dtype=object)
    for idx in np.ndindex(*x.shape):
        want[idx] = sp.Add(*(gk * sp.diff(ok, x[idx]) for gk, ok in zip(case.g.flat, outs)))
    return want


def symbolic(case: Case) -> list[Check]:
    """For each input, on every region: its cotangent equals the vector-Jacobian product of the forward."""
    op, prover, checks = case.op, case.prover, []
    for i, (name, x) in enumerate(zip(op.inputs, case.xs)):
        if name in case.misshapen:
            checks.append(Check("symbolic", "refuted", name, case.params, case.misshapen[name]))
            continue
        cases = [(cell, want, got) for cell, outs, vjps in case.branches
                 for want, got in zip(products(case, outs, x).flat, vjps[i].flat)]
        verdict, how, cex = prove(prover, cases, case.cotangent())
        note = f"; {case.split}" if case.split and verdict == "inconclusive" else ""
        what = f"g * d{op.name}/d{name}" if case.elementwise else f"the vector-Jacobian product of {op.name}{case.at_shapes}"
        want = products(case, case.outs, x)
        checks.append(Check("symbolic", verdict, name, case.params, f"vjp for {name} vs {what}: {how}{note}",
                            str(want.tolist()), str(case.vjps[i].tolist()), cex))
    return checks


def parameters(case: Case) -> list[Check]:
    """The symbolic proof at parameters moved away from the case's (a float times VARIED, an int one step away from 0):
    only a refutation counts against the op (a vjp that hard-codes the default slope is refuted)."""
    example = case.params
    varied = {k: (v if isinstance(v, bool) or not isinstance(v, int | float) else
                  (v + 1 if v >= 0 else v - 1) if isinstance(v, int) else (v * VARIED if v else VARIED - 1))
              for k, v in example.items()}
    if varied == example or varied in [*case.op.examples, kink_parameters(case.op)]:
        return []
    note = f"(varied from the example {fmt_params(example)})"
    other = Case(case.op, case.shapes, varied, resolver=case.resolver)
    try:
        outs, vjps = on_symbols(other, case.prover)
        other.outs, other.vjps = outs, vjps
        split(other, outs, vjps)
        if other.split:
            raise Unsplittable(other.split)
    except (OpFailed, Unsplittable) as exc:
        return [Check("parameters", "skipped", None, varied, f"not audited {note}: {exc}")]
    checks = symbolic(other)
    for check in checks:
        check.kind = "parameters"
        check.message += f" {note}"
        if check.verdict not in ("proved", "refuted"):
            check.verdict = "skipped"
    return checks


def second_derivatives(case: Case) -> list[Check]:
    """At order 2: d/dy of the vjp for x (g = 1) equals SymPy's d2 forward / dx dy, for every pair of inputs."""
    if case.order < 2 or case.misshapen:
        return []
    sp, op, checks = case.prover.sp, case.op, []
    ones = {gk: 1 for gk in case.g.flat}
    for (i, x), (j, y) in itertools.product(enumerate(case.xs), enumerate(case.xs)):
        cases = [(cell, sp.diff(sp.Add(*outs), e, f), sp.diff(vjps[i][idx].xreplace(ones), f))
                 for cell, outs, vjps in case.branches for idx, e in np.ndenumerate(x) for f in y.flat]
        verdict, how, cex = prove(case.prover, cases, {})
        xn, yn = op.inputs[i], op.inputs[j]
        checks.append(Check("second-derivative", verdict, xn, case.params,
                            f"d/d{yn} of the vjp for {xn} (g = 1) vs d2{op.name}/d{xn}d{yn}{case.at_shapes}: {how}",
                            " | ".join(str(e) for _, e, _ in cases), " | ".join(str(r) for _, _, r in cases), cex))
    return checks
