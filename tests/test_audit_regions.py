"""Tests of microreg.audit.regions: a rule built with xp.where proved region by region, with conditions SymPy solves and those it cannot.

A condition SymPy can solve (a polynomial or not) splits the line at exact points; one it cannot solve is
sampled densely near where it changes, so a rule wrong in one region only is still refuted.
"""

from __future__ import annotations

import math

from microreg import Op, audit


def test_a_piecewise_rule_is_proved_region_by_region(audited):
    (check,) = [c for c in audited("sigmoid").checks if c.kind == "symbolic"]
    assert check.verdict == "proved" and "x < 0" in check.message and "x > 0" in check.message


T = 0.999


def tanh_two_ways(xp, x):
    """tanh, written 1 - 2 / (exp(2x) + 1) where tanh(x) > 0.999: a condition that is no polynomial."""
    return xp.where(xp.tanh(x) > T, 1 - 2 / (xp.exp(2 * x) + 1), xp.tanh(x))


def tanh_two_ways_vjp(xp, g, out, x):
    e = xp.exp(-xp.abs(x))
    s = 2 * e / (1 + e * e)
    return (xp.where(xp.tanh(x) > T, g * (s * s), g * (s * s)),)


def tanh_two_ways_wrong_vjp(xp, g, out, x):
    e = xp.exp(-xp.abs(x))
    s = 2 * e / (1 + e * e)
    return (xp.where(xp.tanh(x) > T, g * s, g * (s * s)),)  # wrong beyond x = atanh(0.999) = 3.8 only


def test_a_condition_sympy_can_solve_splits_the_regions_even_if_it_is_no_polynomial():
    record = audit.audit_op(Op("tanh_two_ways", tanh_two_ways, tanh_two_ways_vjp), measure=False)
    assert record.verdict == "proved", record.report()
    (check,) = [c for c in record.checks if c.kind == "symbolic"]
    assert "x > atanh(999/1000)" in check.message
    wrong = audit.audit_op(Op("tanh_two_ways_wrong", tanh_two_ways, tanh_two_ways_wrong_vjp), measure=False)
    (check,) = [c for c in wrong.checks if c.kind == "symbolic"]
    assert check.verdict == "refuted" and check.counterexample["at"]["x"] > math.atanh(T)


def wavy(xp, x):
    return xp.where(x + xp.sin(x) > 5, x, x)  # SymPy cannot solve x + sin(x) = 5 (x = 5.61...)


def wavy_wrong_vjp(xp, g, out, x):
    return (xp.where(x + xp.sin(x) > 5, 2 * g, g),)  # wrong only beyond 5.61, where no default point lies


def test_a_condition_sympy_cannot_solve_is_sampled_densely_near_where_it_changes():
    record = audit.audit_op(Op("wavy_wrong", wavy, wavy_wrong_vjp), measure=False)
    (check,) = [c for c in record.checks if c.kind == "symbolic"]
    assert check.verdict == "refuted", record.report()
    x = check.counterexample["at"]["x"]
    assert x + math.sin(x) > 5 and abs(x - 5.6) < 1
