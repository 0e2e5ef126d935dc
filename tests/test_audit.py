"""Tests of microreg.audit: every registered op proved, a catalogue of wrong vjps refuted, results as data.

The audit is tested against its own failure (HIPS autograd's habit): ``wrong_vjps.WRONG`` holds
deliberately wrong rules of realistic kinds, each of which must be refuted, and ``wrong_vjps.RIGHT``
the correct versions, which must be proved.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import pytest
from wrong_vjps import MATH_TANH, RIGHT, ROUNDED, WRONG

from microreg import Op, audit

DOMAIN_TESTS = {"real": lambda v: True, "positive": lambda v: v > 0, "nonnegative": lambda v: v >= 0, "nonzero": lambda v: v != 0}


def tanh(xp, x):
    return xp.tanh(x)


def tanh_vjp(xp, g, out, x):
    return (g * (1 - out * out),)


# -- every registered op ---------------------------------------------------------------------------


def audited_inputs(op):
    """Every input the audit proves: a variadic op's at its largest declared arity (wx[0], wx[1], ...)."""
    return max((form.inputs for form in op.forms()), key=len)


def test_every_registered_op_is_proved(op, audited):
    record = audited(op)
    assert record.verdict == "proved", record.report()
    assert {c.input for c in record.checks if c.kind == "symbolic" and c.verdict == "proved"} == set(audited_inputs(op))


def test_every_registered_op_is_proved_at_order_two(op, audited):
    record = audited(op, order=2)
    assert record.verdict == "proved", record.report()
    assert {c.input for c in record.checks if c.kind == "graph" and c.verdict == "passed"} == set(audited_inputs(op))


def test_each_declared_kink_is_checked_with_its_value(kink_case, audited):
    op, kink, _ = kink_case
    record = audited(op)
    at = ", ".join(f"{n}={v:g}" for n, v in zip(op.inputs, kink.at))
    checks = [c for c in record.checks if c.kind == "kink" and f"the kink {at} " in c.message]
    assert [c.input for c in checks] == list(op.inputs)
    assert all(c.verdict == "passed" for c in checks), record.report()


def test_relu_kink_convention_is_zero_at_zero():
    (record,) = audit.audit(["relu"])
    (kink,) = [c for c in record.checks if c.kind == "kink"]
    assert kink.verdict == "passed" and "x=0" in kink.message and "gives 0, as declared" in kink.message


def test_pow_is_proved_for_every_example_exponent():
    (record,) = audit.audit(["pow"])
    proved = [c.params["n"] for c in record.checks if c.kind == "symbolic" and c.verdict == "proved"]
    assert proved == [2, 3, -1, 0.5, 2.5, 0]


def test_a_piecewise_rule_is_proved_region_by_region():
    (record,) = audit.audit(["sigmoid"])
    (check,) = [c for c in record.checks if c.kind == "symbolic"]
    assert check.verdict == "proved" and "x < 0" in check.message and "x > 0" in check.message


# -- the catalogue of wrong vjps -------------------------------------------------------------------


def test_the_catalogue_has_at_least_twenty_wrong_vjps_with_distinct_names():
    assert len(WRONG) >= 20
    assert len({op.name for _, op in WRONG}) == len(WRONG)


@pytest.mark.parametrize(("mistake", "wrong"), WRONG, ids=[op.name for _, op in WRONG])
def test_a_wrong_vjp_is_refuted_with_a_counterexample_inside_the_domain(mistake, wrong):
    record = audit.audit_op(wrong)
    assert record.verdict == "refuted", f"{mistake}: {record.report()}"
    refuted = [c for c in record.checks if c.verdict == "refuted"]
    for check in refuted:
        cex = check.counterexample
        assert not math.isclose(cex["expected"], cex["registered"], rel_tol=1e-6), check
        for name, domain in zip(wrong.inputs, wrong.domains):
            assert DOMAIN_TESTS[domain](cex["at"][name]), (name, domain, cex)


@pytest.mark.parametrize("right", RIGHT, ids=[op.name for op in RIGHT])
def test_the_correct_version_of_a_catalogue_op_is_proved(right):
    record = audit.audit_op(right)
    assert record.verdict == "proved", record.report()


def test_a_refutation_reports_the_point_the_values_and_both_expressions():
    op = dict((o.name, o) for _, o in WRONG)["tanh_missing_g"]
    (check,) = [c for c in audit.audit_op(op).checks if c.kind == "symbolic"]
    assert check.verdict == "refuted"
    assert check.expected == "g*(1 - tanh(x)**2)" and check.registered == "1 - tanh(x)**2"
    cex = check.counterexample
    x, g = cex["at"]["x"], cex["g"]
    assert cex["expected"] == pytest.approx(g * (1 - math.tanh(x) ** 2))
    assert cex["registered"] == pytest.approx(1 - math.tanh(x) ** 2)


def test_a_wrong_derivative_of_the_second_input_only_blames_that_input():
    op = dict((o.name, o) for _, o in WRONG)["div_sign_second"]
    record = audit.audit_op(op)
    assert record.input_verdicts() == {"x": "proved", "y": "refuted"}


def test_a_static_parameter_the_vjp_ignores_is_refuted_only_for_the_other_value():
    op = dict((o.name, o) for _, o in WRONG)["leaky_relu_default_slope"]
    symbolic = {c.params["slope"]: c.verdict for c in audit.audit_op(op).checks if c.kind == "symbolic"}
    assert symbolic == {0.01: "proved", 0.2: "refuted"}


# -- errors and inconclusive verdicts ----------------------------------------------------------------


def branching_relu(xp, x):
    if x > 0:
        return x
    return 0 * x


def branching_relu_vjp(xp, g, out, x):
    return (xp.where(x > 0, g, 0),)


def one_cotangent_vjp(xp, g, out, x, y):
    return (g * y,)


def mul(xp, x, y):
    return x * y


def test_an_op_calling_math_instead_of_xp_is_an_error_that_says_so():
    record = audit.audit_op(MATH_TANH)
    assert record.verdict == "error"
    message = record.problems()[0].message
    assert "math_tanh" in message and "math" in message and "xp.tanh, not math.tanh" in message


def test_an_op_branching_with_if_is_an_error_pointing_to_xp_where():
    record = audit.audit_op(Op("branching_relu", branching_relu, branching_relu_vjp))
    assert record.verdict == "error"
    assert "xp.where" in record.problems()[0].message


def test_a_vjp_with_the_wrong_number_of_cotangents_is_an_error():
    record = audit.audit_op(Op("short_mul", mul, one_cotangent_vjp))
    assert record.verdict == "error"
    assert "expected a tuple of 2 cotangent(s)" in record.problems()[0].message


def test_a_rule_right_only_up_to_rounding_is_inconclusive_never_proved_nor_refuted():
    record = audit.audit_op(ROUNDED)
    assert record.verdict == "inconclusive", record.report()


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


def test_order_two_refutes_a_vjp_that_forgets_g_through_the_chain_rule():
    op = dict((o.name, o) for _, o in WRONG)["tanh_missing_g"]
    record = audit.audit_op(op, order=2)
    assert "refuted" in {c.verdict for c in record.checks if c.kind == "graph"}


def drifting_square(xp, x):
    if isinstance(x, float):  # a scalar fast path that drifted from the general code
        return 1.001 * x * x
    return x * x


def square_vjp(xp, g, out, x):
    return (2 * g * x,)


def test_a_backend_that_disagrees_with_the_symbolic_forward_is_refuted():
    record = audit.audit_op(Op("drifting_square", drifting_square, square_vjp))
    verdicts = {c.kind: c.verdict for c in record.checks if c.input is None}
    assert verdicts == {"scalar": "refuted", "array": "passed"}
    (scalar,) = [c for c in record.checks if c.kind == "scalar"]
    assert "forward" in scalar.message and scalar.counterexample["registered"] == pytest.approx(1.001 * scalar.counterexample["expected"])
    assert record.verdict == "refuted"


# -- results as data -------------------------------------------------------------------------------


def test_the_json_record_has_op_plugin_verdict_and_checks_per_input():
    (record,) = audit.audit(["div"])
    data = json.loads(json.dumps(record.to_json()))
    assert (data["op"], data["plugin"], data["verdict"]) == ("div", "microreg_ops", "proved")
    assert [i["input"] for i in data["inputs"]] == ["x", "y"]
    assert {c["kind"] for c in data["inputs"][1]["checks"]} == {"symbolic", "central-difference"}
    assert {c["kind"] for c in data["checks"]} == {"scalar", "array"}


def test_sympy_is_imported_only_when_an_audit_runs():
    code = textwrap.dedent("""
        import sys
        import microreg, microreg.audit, microreg.cli, microreg.testing
        microreg.Value(0.5).tanh().backward()
        before = 'sympy' in sys.modules
        microreg.audit.audit(['neg'])
        print(before, 'sympy' in sys.modules)
    """)
    env = {k: v for k, v in os.environ.items() if k != "MICROREG_STRICT"}  # strict loading would audit at once
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.split() == ["False", "True"]
