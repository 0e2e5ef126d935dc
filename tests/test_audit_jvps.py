"""Tests of microreg.audit.jvps: each op's jvp proved the transpose of its vjp, run through the engine, and right at kinks.

Every registered op's jvp is proved (derived from the vjp for the elementwise ops, declared by dot, matmul,
transpose and sum); each wrong jvp of the catalogue (``wrong_vjps.WRONG_JVP``, the forward and vjp right)
is refuted by the jvp checks alone.
"""

from __future__ import annotations

import math

import pytest
from test_audit_run import audited_inputs
from wrong_vjps import WRONG_JVP, by_name, ids

from microreg import Op, audit, registry


def test_every_registered_ops_jvp_is_proved_the_transpose_of_its_vjp(op, audited):
    record = audited(op)
    jvps = [c for c in record.checks if c.kind.startswith("jvp")]
    assert jvps and all(c.verdict in ("proved", "passed") for c in jvps), record.report()
    assert {c.input for c in jvps if c.kind == "jvp"} == set(audited_inputs(op))


@pytest.mark.parametrize(("mistake", "wrong"), WRONG_JVP, ids=ids(WRONG_JVP))
def test_a_wrong_jvp_is_refuted_and_the_right_vjp_beside_it_proved(mistake, wrong):
    record = audit.audit_op(wrong, measure=False)
    assert record.verdict == "refuted", f"{mistake}: {record.report()}"
    refuted = [c for c in record.checks if c.verdict == "refuted"]
    assert refuted and all(c.kind.startswith("jvp") for c in refuted), record.report()
    assert all(c.verdict == "proved" for c in record.checks if c.kind == "symbolic")
    for check in refuted:
        cex = check.counterexample
        assert cex is None or not math.isclose(cex["expected"], cex["registered"], rel_tol=1e-6), check


def test_a_wrong_jvp_is_refuted_at_a_point_naming_the_input_and_both_expressions():
    record = audit.audit_op(by_name("mul_jvp_first_term_only"), measure=False)
    assert record.input_verdicts() == {"x": "proved", "y": "refuted"}
    (check,) = [c for c in record.checks if c.kind == "jvp" and c.verdict == "refuted"]
    assert check.expected == "g*t_y*x" and check.registered == "0"
    assert "<g, jvp(t_y)> vs <vjp for y, t_y>" in check.message


def test_a_jvp_of_the_wrong_shape_is_refuted_saying_so():
    record = audit.audit_op(by_name("column_sums_jvp_axis_ignored"), measure=False)
    assert "the jvp's result has shape ()" in record.report()


def test_an_op_on_arrays_without_a_jvp_is_audited_with_its_jvp_skipped():
    base = registry.get("transpose")
    op = Op("transpose_no_jvp", base.forward, base.vjp, shapes=base.shapes)
    assert op.jvp is None
    record = audit.audit_op(op, measure=False)
    assert record.verdict == "proved"
    assert [c.verdict for c in record.checks if c.kind == "jvp"] == ["skipped"]


def test_a_declared_jvp_that_is_proved_but_inaccurate_fails_the_accuracy_check_naming_forward_mode():
    """A jvp proved right but computed from out (1 - out**2, which is 0 where tanh rounds to 1) is measured in forward
    mode, at a unit tangent per input, as the vjp is at g = 1; the derived jvp is measured with the vjp."""
    def tanh_vjp(xp, g, out, x):
        e = xp.exp(-xp.abs(x))
        s = 2 * e / (1 + e * e)
        return (g * (s * s),)

    def naive_jvp(xp, tangents, out, x):
        return tangents[0] * (1 - out * out)

    naive = audit.audit_op(Op("tanh_naive_jvp", lambda xp, x: xp.tanh(x), tanh_vjp, jvp=naive_jvp))
    assert (naive.verdict, naive.accuracy) == ("proved", "inaccurate"), naive.report()
    assert naive.worst()["what"] == "jvp for x" and naive.worst()["backend"] == "forward mode", naive.worst()
    assert "and in forward mode are off by more than" in naive.report()
    derived = audit.audit_op(Op("tanh_derived_jvp", lambda xp, x: xp.tanh(x), tanh_vjp))
    assert derived.accuracy == "accurate" and "forward mode" not in derived.report(), derived.report()
