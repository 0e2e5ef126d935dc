"""Tests of microreg.audit.proofs: each vjp proved equal to SymPy's vector-Jacobian product, or refuted with a counterexample.

The audit is tested against its own failure (HIPS autograd's habit): ``wrong_vjps`` holds
deliberately wrong ops of realistic kinds (wrong rules, numerically unstable ones, undeclared
kinks, sub-tolerance errors, hard-coded parameters, second-order-only bugs), each of which must be
caught, and ``wrong_vjps.RIGHT`` correct ones, which must be proved and accurate. The kinds the
proofs catch are tested here (wrong rules, exactly nonzero differences below any tolerance, hard-coded
static parameters, fused ops element by element); the others with the check that catches them:
unstable rules in test_audit_measure.py, kinks in test_audit_kinks.py, second-order bugs in
test_audit_numeric.py, and the correct ones in test_audit_run.py.
"""

from __future__ import annotations

import math

import pytest
from wrong_vjps import (
    HARD_CODED,
    HELPERS,
    KINKS,
    MATH_TANH,
    NARROW,
    ON_A_BREAK,
    RIGHT,
    SECOND_ORDER,
    SUB_TOLERANCE,
    UNPROVABLE,
    UNSTABLE,
    WRONG,
    WRONG_FUSED,
    by_name,
    ids,
    log_guarded_vjp,
)

from microreg import audit, registry

DOMAIN_TESTS = {"real": lambda v: True, "positive": lambda v: v > 0, "nonnegative": lambda v: v >= 0, "nonzero": lambda v: v != 0}


def test_pow_is_proved_for_every_example_exponent(audited):
    proved = [c.params["n"] for c in audited("pow").checks if c.kind == "symbolic" and c.verdict == "proved"]
    assert proved == [example["n"] for example in registry.get("pow").examples]


@pytest.mark.parametrize(("mistake", "wrong"), WRONG, ids=ids(WRONG))
def test_a_wrong_vjp_is_refuted_with_a_counterexample_inside_the_domain(mistake, wrong):
    record = audit.audit_op(wrong, measure=False)
    assert record.verdict == "refuted", f"{mistake}: {record.report()}"
    refuted = [c for c in record.checks if c.verdict == "refuted"]
    for check in refuted:
        cex = check.counterexample
        assert not math.isclose(cex["expected"], cex["registered"], rel_tol=1e-6), check
        for name, domain in zip(wrong.inputs, wrong.domains):
            assert DOMAIN_TESTS[domain](cex["at"][name]), (name, domain, cex)


def test_the_catalogue_holds_every_kind_of_mistake_with_distinct_names():
    kinds = (WRONG, UNSTABLE, NARROW, KINKS, SUB_TOLERANCE, HARD_CODED, SECOND_ORDER, ON_A_BREAK)
    names = [op.name for kind in kinds for _, op in kind] + [op.name for op in (*RIGHT, *HELPERS, UNPROVABLE, MATH_TANH)]
    assert len(names) == len(set(names))
    assert min(map(len, kinds)) >= 2 and len(WRONG) >= 20


def test_a_refutation_reports_the_point_the_values_and_both_expressions():
    op = by_name("tanh_missing_g")
    (check,) = [c for c in audit.audit_op(op).checks if c.kind == "symbolic"]
    assert check.verdict == "refuted"
    assert check.expected == "g*(1 - tanh(x)**2)" and check.registered == "1 - tanh(x)**2"
    cex = check.counterexample
    x, g = cex["at"]["x"], cex["g"]
    assert cex["expected"] == pytest.approx(g * (1 - math.tanh(x) ** 2))
    assert cex["registered"] == pytest.approx(1 - math.tanh(x) ** 2)


def test_a_wrong_derivative_of_the_second_input_only_blames_that_input():
    op = by_name("div_sign_second")
    record = audit.audit_op(op)
    assert record.input_verdicts() == {"x": "proved", "y": "refuted"}


@pytest.mark.parametrize(("mistake", "wrong"), SUB_TOLERANCE, ids=ids(SUB_TOLERANCE))
def test_an_exactly_nonzero_difference_below_any_tolerance_is_refuted_never_inconclusive(mistake, wrong):
    record = audit.audit_op(wrong, measure=False)
    assert record.verdict == "refuted", f"{mistake}: {record.report()}"
    (check,) = [c for c in record.checks if c.kind == "symbolic"]
    cex = check.counterexample
    assert cex["difference"] != 0 and abs(cex["difference"]) < 1e-9 * max(1.0, abs(cex["expected"]))
    assert "exactly nonzero" in record.report()


def test_a_refutation_by_an_exact_difference_is_at_the_sampled_point_where_it_is_largest():
    op = by_name("log_guarded")  # g/(x + 1e-12) - g/x is largest nearest 0
    (check,) = [c for c in audit.audit_op(op, measure=False).checks if c.kind == "symbolic"]
    assert check.counterexample["at"] == {"x": 0.375}  # the smallest of the sampled points 3/8, 13/10, 29/10
    g = check.counterexample["g"]
    assert check.counterexample["difference"] == pytest.approx(log_guarded_vjp(math, g, 0, 0.375)[0] - g / 0.375, rel=1e-6)


@pytest.mark.parametrize(("mistake", "wrong"), HARD_CODED, ids=ids(HARD_CODED))
def test_a_hard_coded_static_parameter_is_refuted_at_parameters_the_audit_varies(mistake, wrong):
    record = audit.audit_op(wrong, measure=False)
    assert record.verdict == "refuted", f"{mistake}: {record.report()}"
    assert [c.verdict for c in record.checks if c.kind == "symbolic"] == ["proved"] * wrong.arity  # the one example passes
    varied = [c for c in record.checks if c.kind == "parameters" and c.verdict == "refuted"]
    assert varied and all(c.params != wrong.examples[0] for c in varied) and "varied from the example" in varied[0].message


def test_a_static_parameter_the_vjp_ignores_is_refuted_only_for_the_other_value():
    op = by_name("leaky_relu_default_slope")
    symbolic = {c.params["slope"]: c.verdict for c in audit.audit_op(op, measure=False).checks if c.kind == "symbolic"}
    assert symbolic == {0.01: "proved", 0.2: "refuted"}


@pytest.mark.parametrize(("mistake", "wrong"), WRONG_FUSED, ids=[op.name for _, op in WRONG_FUSED])
def test_a_wrong_vjp_of_a_fused_op_is_refuted_element_by_element(mistake, wrong):
    record = audit.audit_op(wrong)
    assert record.verdict == "refuted", f"{mistake}: {record.report()}"
    for check in (c for c in record.checks if c.verdict == "refuted"):
        cex = check.counterexample
        assert "has shape" in check.message if cex is None else not math.isclose(cex["expected"], cex["registered"], rel_tol=1e-6)


def test_a_fused_op_is_proved_at_each_arity_and_each_shape(audited):
    dot = registry.get("dot")
    proved = [c.message for c in audited(dot).checks if c.kind == "symbolic" and c.verdict == "proved"]
    assert len(proved) == sum(form.arity for form in dot.forms())  # every input at each declared arity
    matmul = registry.get("matmul")
    record = audited(matmul)
    assert [c.message.split(": ")[0] for c in record.checks if c.kind == "symbolic"] == [
        f"vjp for {name} vs the vector-Jacobian product of matmul at shapes {', '.join(map(str, shapes))}"
        for shapes in matmul.shapes for name in matmul.inputs]
    assert record.verdict == "proved"


def test_a_correct_rule_sympy_cannot_reduce_is_inconclusive_never_proved_nor_refuted():
    record = audit.audit_op(UNPROVABLE)
    assert record.verdict == "inconclusive", record.report()
    assert "it is 0 to 30 digits at every sampled point" in record.report()
