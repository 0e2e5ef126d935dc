"""Tests of microreg.audit.measure: every op accurate in float64 on both backends, unstable rules inaccurate, declared bounds.

A rule SymPy proves may still be numerically broken in float64 (the catalogue's ``UNSTABLE``): proved, and
``inaccurate`` with its worst point. An op may declare a wider bound in ulps, why, and how far it is measured.
"""

from __future__ import annotations

import pytest
from wrong_vjps import NARROW, UNSTABLE, ids

from microreg import Accuracy, Op, audit
from microreg.accuracy import DEFAULT_ULPS
from microreg.audit import search


def test_every_registered_op_is_accurate_in_float64_on_both_backends(op, audited):
    record = audited(op)
    assert record.accuracy == "accurate", record.report()
    checks = [c for c in record.checks if c.kind == "accuracy"]
    assert len(checks) >= len(op.examples) and all(c.verdict == "accurate" for c in checks)
    assert record.worst()["excess"] <= record.bound


@pytest.mark.parametrize(("mistake", "wrong"), UNSTABLE, ids=ids(UNSTABLE))
def test_a_numerically_unstable_rule_is_proved_but_inaccurate_with_its_worst_point(mistake, wrong):
    record = audit.audit_op(wrong)
    assert (record.verdict, record.accuracy) == ("proved", "inaccurate"), f"{mistake}: {record.report()}"
    worst = record.worst()
    assert worst["excess"] > DEFAULT_ULPS and set(worst["at"]) == set(wrong.inputs)
    assert worst["problem"] or worst["ulps"] > DEFAULT_ULPS
    assert "inaccurate" in record.report() and "worst:" in record.report()


@pytest.mark.parametrize(("mistake", "wrong"), NARROW, ids=ids(NARROW))
def test_a_rule_inaccurate_only_in_a_narrow_band_is_found_by_the_search_with_its_worst_point_and_a_fix(mistake, wrong):
    record = audit.audit_op(wrong, budget=120)  # exact values of exp and log at 1200 bits over two inputs take seconds
    assert (record.verdict, record.accuracy) == ("proved", "inaccurate"), f"{mistake}: {record.report()}"
    worst = record.worst()
    assert worst["excess"] > DEFAULT_ULPS and worst["found"].startswith(("bisection on a boundary", "local search"))
    assert f"(found by {worst['found']})" in record.report()
    assert "compute the result without that intermediate" in record.report()  # the intermediate that under- or overflows, named


@pytest.mark.parametrize(("mistake", "wrong"), NARROW, ids=ids(NARROW))
def test_the_grid_alone_misses_a_narrow_band(mistake, wrong, monkeypatch):
    monkeypatch.setattr(search, "DEFAULT", search.Effort(0, 0, 0, 0, 0))
    record = audit.audit_op(wrong, budget=120)
    assert record.accuracy == "accurate", f"{mistake}: {record.report()}"


def cube_root_ish(xp, x):
    return x * x * x


def cube_vjp(xp, g, out, x):
    return (3 * g * x * x,)


def test_an_op_declares_how_far_its_accuracy_reaches_and_why_and_the_record_says_so():
    plain = audit.audit_op(Op("cube_plain", cube_root_ish, cube_vjp))
    assert plain.accuracy == "accurate" and plain.declared is None
    bound = Accuracy(4, "a product of three roundings", up_to=1e100)
    declared = audit.audit_op(Op("cube_declared", cube_root_ish, cube_vjp, accuracy=bound))
    assert (declared.accuracy, declared.bound) == ("accurate", 4)
    assert declared.declared == "a product of three roundings (measured for |inputs| up to 1e+100)"
    assert max(abs(declared.worst()["at"]["x"]), 1) <= 1e100
    assert declared.to_json()["accuracy"]["declared"] == declared.declared
