"""Tests of microreg.audit.search: the tracer, float64 bit patterns in order, the boundaries of every intermediate (one input
and pairs), the local search, and the words that tell an author which intermediate under- or overflows.

The issue's example (``a ** b`` with the vjp ``g * b * out / a``): ``out`` underflows to 0 at a = 1e-200, b = 2 and at
a = 1e-120, b = 3, where the exact cotangents 2e-200 and 3e-240 are floats, and no point of the grid falls there.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from wrong_vjps import by_name

from microreg import Op
from microreg.accuracy import grid
from microreg.audit import search
from microreg.plugins import registry

needs_wider = pytest.mark.skipif(search.EXTENDED is np.float64, reason="NumPy's longdouble is float64 here (Windows)")


def probe_of(op: Op, params: dict | None = None) -> search.Probe:
    return search.Probe(op, params or {}, registry, list(op.domains))


def in_the_band(a: float, b: float) -> bool:
    """Where a ** b underflows to 0 in float64 but b * a ** (b - 1) is a normal float: the rule gives 0 there."""
    power = b * math.log(a)  # the forward's exponent: out is exp(power), computed as the op computes it
    return power < 0 and math.exp(power) == 0 and -690 < math.log(abs(b)) + (b - 1) * math.log(a) < 690


def test_bit_patterns_are_ordered_and_neighbours_differ_by_one():
    xs = np.array([-math.inf, -1e300, -1.0, -5e-324, 0.0, 5e-324, 1.0, 1e300])
    k = search.ordinal(xs[1:])
    assert np.all(np.diff(k) > 0) and search.ordinal(np.array([-0.0]))[0] == 0
    assert np.array_equal(search.from_ordinal(k), xs[1:])
    assert search.from_ordinal(search.ordinal(np.array([1.0])) + 1)[0] == math.nextafter(1.0, 2)


def test_the_tracer_records_every_intermediate_of_the_forward_and_the_vjp_with_its_expression():
    op = by_name("power_out_over_base")
    results, tape = search.trace(op, {}, search.Tracing(registry), np.array([[1e-200, 2.0], [3.0, 2.0]]))
    assert results.shape == (3, 2) and results[0, 1] == pytest.approx(9.0) and results[1, 0] == 0.0  # the silent 0
    exprs = [(role, t.expr) for role, t in tape]
    assert ("forward", "exp(b * log(a))") in exprs and ("vjp", "(g * b) * out") in exprs


def test_an_op_that_branches_in_python_cannot_be_traced_and_the_search_finds_nothing():
    def branching(xp, x):
        return x if x > 0 else 0 * x

    def branching_vjp(xp, g, out, x):
        return (g if x > 0 else 0 * g,)

    probe = probe_of(Op("branching", branching, branching_vjp))
    assert not probe.usable and search.search(probe, [(1.0,), (2.0,)], search.DEFAULT) == []


def test_bisection_finds_both_sides_of_the_band_where_out_underflows_for_a_power_of_two_inputs():
    probe = probe_of(by_name("power_out_over_base"))
    found = search.boundaries(probe, np.array(grid(("positive", "real"), [set(), set()])), search.THOROUGH, np.random.default_rng(0))
    inside = [(p, how) for p, how in found if in_the_band(*p)]
    assert inside, "no point where out is 0 and the cotangent a float"
    assert any("goes from normal to" in how or "goes from 0 to" in how for _, how in inside)


def test_an_op_with_no_intermediate_has_no_boundary():
    def itself(xp, x):
        return x

    def itself_vjp(xp, g, out, x):
        return (g,)

    probe = probe_of(Op("itself", itself, itself_vjp))
    assert probe.usable and search.boundaries(probe, np.array([[1.0], [2.0]]), search.DEFAULT, np.random.default_rng(0)) == []


def test_segments_move_one_input_or_two_at_once():
    starts, ends = search.segments(np.array([[1.0, 1.0], [1.0, 2.0], [2.0, 1.0], [2.0, 2.0]]))
    moves = sorted(tuple(np.sign(b - a)) for a, b in zip(starts, ends))
    assert moves == [(0.0, 1.0), (0.0, 1.0), (1.0, -1.0), (1.0, 0.0), (1.0, 0.0), (1.0, 1.0)]


@needs_wider
def test_the_estimate_sees_the_issue_points_and_not_a_right_rule():
    probe = probe_of(by_name("power_out_over_base"))
    points = np.array([[1e-200, 2.0], [1e-120, 3.0], [0.5, 2.0]])
    assert list(probe.error(points) > 1e10) == [True, True, False]


@needs_wider
def test_the_local_search_climbs_from_a_good_point_into_a_narrow_band():
    probe = probe_of(by_name("softsign_squared"))
    climbed = search.climb(probe, np.array([[1e100], [1e200]]), search.Effort(0, 0, 8, 400, 2), np.random.default_rng(1))
    assert climbed and 1.3e154 < abs(climbed[0][0][0]) < 4.5e161, climbed  # the best first
    assert all(how.startswith("local search over bit patterns, 400 steps from x=") for _, how in climbed)


@needs_wider
def test_diagnose_names_the_intermediate_that_underflows_and_the_hint_says_how_to_fix_it():
    probe = probe_of(by_name("power_out_over_base"))
    said = search.diagnose(probe, (1e-200, 2.0))
    assert any(s.startswith("`(g * b) * out` in the vjp underflows to 0 (2e-400") for s in said), said
    assert search.diagnose(probe, (0.5, 2.0)) == []
    assert "from the inputs rather than from out" in search.hint(said)
    assert "cancellation" in search.hint([])


@needs_wider
def test_diagnose_names_only_what_leaves_float64s_range_not_what_is_computed_from_it():
    def softplus(xp, x):
        return xp.log(1 + xp.exp(x))

    def softplus_vjp(xp, g, out, x):
        return (g * xp.exp(x) / (1 + xp.exp(x)),)

    said = search.diagnose(probe_of(Op("naive_softplus", softplus, softplus_vjp)), (709.79,))
    assert any(s.startswith("`exp(x)` in the forward overflows") for s in said), said
    assert not any(s.startswith("`log(") for s in said), said  # inf only because exp(x) is: its own value is 709.79


def test_a_right_rule_stays_accurate_under_the_search():
    from microreg import audit

    record = audit.audit_op(registry.get("pow"))
    assert record.accuracy == "accurate", record.report()
