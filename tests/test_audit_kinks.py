"""Tests of microreg.audit.kinks: each declared kink checked with its value, and every point where a branch switches found.

A kink not declared, or declared where nothing branches, is refuted (the catalogue's ``KINKS``), and the
message names the point, the one-sided derivatives and the ``Kink`` to declare.
"""

from __future__ import annotations

import pytest
from wrong_vjps import KINKS, by_name, ids

from microreg import audit


def test_every_registered_op_has_its_branch_points_checked(op, audited):
    record = audited(op)
    assert [c.verdict for c in record.checks if c.kind == "branch"] == ["passed"] * len(op.forms()), record.report()


def test_each_declared_kink_is_checked_with_its_value(kink_case, audited):
    op, kink, _ = kink_case
    record = audited(op)
    at = ", ".join(f"{n}={v:g}" for n, v in zip(op.inputs, kink.at))
    checks = [c for c in record.checks if c.kind == "kink" and f"the kink {at} " in c.message]
    assert [c.input for c in checks] == list(op.inputs)
    assert all(c.verdict == "passed" for c in checks), record.report()


def test_relu_kink_convention_is_zero_at_zero(audited):
    (kink,) = [c for c in audited("relu").checks if c.kind == "kink"]
    assert kink.verdict == "passed" and "x=0" in kink.message and "gives 0, as declared" in kink.message


@pytest.mark.parametrize(("mistake", "wrong"), KINKS, ids=ids(KINKS))
def test_a_kink_undeclared_or_declared_where_nothing_branches_is_refuted(mistake, wrong):
    record = audit.audit_op(wrong, measure=False)
    assert record.verdict == "refuted", f"{mistake}: {record.report()}"
    assert {c.kind for c in record.problems()} <= {"kink", "branch"}, record.report()


def test_an_undeclared_kink_names_the_point_the_one_sided_derivatives_and_the_vjps_value():
    op = by_name("relu_undeclared_ge")
    (check,) = audit.audit_op(op, measure=False).problems()
    assert "undeclared kink at x=0" in check.message and "is 0 for x < 0 and 1 for x > 0" in check.message
    assert "the vjp gives 1.0 there" in check.message and "Kink(0.0, 1.0)" in check.message
