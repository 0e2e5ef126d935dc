"""Tests of microreg.audit.numeric: the op run through the engine vs exact values on both backends, and at order 2 through grad().

A backend whose forward drifted from the symbolic one is refuted; a branch the engine computes but does not
take may overflow, as in the engine; at order 2 the vjp differentiated again by the engine
(``grad(..., create_graph=True)``) must match SymPy, which catches the catalogue's second-order-only bugs.
"""

from __future__ import annotations

import pytest
from wrong_vjps import DRIFTING, HELPERS, ON_A_BREAK, SECOND_ORDER, by_name, ids

from microreg import Op, audit, registry


def test_a_backend_that_disagrees_with_the_symbolic_forward_is_refuted():
    record = audit.audit_op(DRIFTING)
    verdicts = {c.kind: c.verdict for c in record.checks if c.kind in ("scalar", "array")}
    assert verdicts == {"scalar": "refuted", "array": "passed"}
    (scalar,) = [c for c in record.checks if c.kind == "scalar"]
    assert "forward" in scalar.message and scalar.counterexample["registered"] == pytest.approx(1.001 * scalar.counterexample["expected"])
    assert record.verdict == "refuted"


def guarded(xp, x):
    """x, written with a branch the engine computes but does not take: for x > 0.8, 1e308 * (1 + x) overflows to inf in
    floats, and inf * 0 is nan, which where() drops, as on Python floats."""
    return xp.where(x > 0, x, x + 1e308 * (1 + x) * 0.0)


def guarded_vjp(xp, g, out, x):
    return (g,)


def test_an_overflow_in_a_branch_not_taken_is_no_error_in_the_audit_as_in_the_engine():
    op = Op("guarded", guarded, guarded_vjp)
    record = audit.audit_op(op, measure=False)
    assert {c.kind: c.verdict for c in record.checks if c.kind in ("scalar", "array")} == {"scalar": "passed", "array": "passed"}
    assert record.verdict == "proved", record.report()


@pytest.mark.parametrize(("mistake", "wrong"), SECOND_ORDER + ON_A_BREAK, ids=ids(SECOND_ORDER + ON_A_BREAK))
def test_a_second_order_only_bug_is_proved_at_order_one_and_refuted_at_order_two(mistake, wrong):
    with registry.temporary(*HELPERS):
        first, second = audit.audit_op(wrong, measure=False), audit.audit_op(wrong, order=2, measure=False)
    assert first.verdict == "proved", f"{mistake}: {first.report()}"
    assert second.verdict == "refuted" and [c.kind for c in second.problems()] == ["graph"], second.report()


def test_order_two_refutes_a_vjp_that_forgets_g_through_the_chain_rule():
    op = by_name("tanh_missing_g")
    record = audit.audit_op(op, order=2)
    assert "refuted" in {c.verdict for c in record.checks if c.kind == "graph"}


def signed_square(xp, x):
    return x * xp.abs(x)


def signed_square_builtin_abs_vjp(xp, g, out, x):
    return (2 * g * abs(x),)  # Python's abs, not xp.abs: fine on floats, arrays and symbols, not on Values


def test_order_two_is_an_error_when_the_engine_cannot_differentiate_the_vjp_again():
    op = Op("signed_square", signed_square, signed_square_builtin_abs_vjp)
    assert audit.audit_op(op).verdict == "proved"
    record = audit.audit_op(op, order=2)
    assert record.verdict == "error"
    assert [c.kind for c in record.problems()] == ["graph"] and "create_graph=True" in record.problems()[0].message
