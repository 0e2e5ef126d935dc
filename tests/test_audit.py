"""Tests of microreg.audit: every registered op proved and accurate, a catalogue of wrong ops caught, time limits, results as data.

The audit is tested against its own failure (HIPS autograd's habit): ``wrong_vjps`` holds
deliberately wrong ops of realistic kinds (wrong rules, numerically unstable ones, undeclared
kinks, sub-tolerance errors, hard-coded parameters, second-order-only bugs), each of which must be
caught, and ``wrong_vjps.RIGHT`` correct ones, which must be proved and accurate.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import pytest
from wrong_vjps import (
    DRIFTING,
    EXPLOSIVE,
    HARD_CODED,
    HELPERS,
    KINKS,
    MATH_TANH,
    RIGHT,
    SECOND_ORDER,
    SUB_TOLERANCE,
    UNPROVABLE,
    UNSTABLE,
    WRONG,
    WRONG_FUSED,
    by_name,
    log_guarded_vjp,
    mul,
    relu_vjp,
)

from microreg import Accuracy, Op, audit, registry
from microreg.accuracy import DEFAULT_ULPS

DOMAIN_TESTS = {"real": lambda v: True, "positive": lambda v: v > 0, "nonnegative": lambda v: v >= 0, "nonzero": lambda v: v != 0}


# -- every registered op ---------------------------------------------------------------------------


def audited_inputs(op):
    """Every input the audit proves: a variadic op's at its largest declared arity (wx[0], wx[1], ...)."""
    return max((form.inputs for form in op.forms()), key=len)


def test_every_registered_op_is_proved(op, audited):
    record = audited(op)
    assert record.verdict == "proved", record.report()
    assert {c.input for c in record.checks if c.kind == "symbolic" and c.verdict == "proved"} == set(audited_inputs(op))


def test_every_registered_op_is_proved_at_order_two(op, audited):
    record = audited(op)
    assert {c.input for c in record.checks if c.kind == "graph" and c.verdict == "passed"} == set(audited_inputs(op)), record.report()
    assert all(c.verdict == "proved" for c in record.checks if c.kind == "second-derivative"), record.report()


def test_every_registered_op_is_accurate_in_float64_on_both_backends(op, audited):
    record = audited(op)
    assert record.accuracy == "accurate", record.report()
    checks = [c for c in record.checks if c.kind == "accuracy"]
    assert len(checks) >= len(op.examples) and all(c.verdict == "accurate" for c in checks)
    assert record.worst()["excess"] <= record.bound


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


def test_pow_is_proved_for_every_example_exponent(audited):
    proved = [c.params["n"] for c in audited("pow").checks if c.kind == "symbolic" and c.verdict == "proved"]
    assert proved == [example["n"] for example in registry.get("pow").examples]


def test_a_piecewise_rule_is_proved_region_by_region(audited):
    (check,) = [c for c in audited("sigmoid").checks if c.kind == "symbolic"]
    assert check.verdict == "proved" and "x < 0" in check.message and "x > 0" in check.message


# -- the catalogue of wrong vjps -------------------------------------------------------------------


def ids(catalogue: tuple) -> list[str]:
    return [op.name for _, op in catalogue]


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
    kinds = (WRONG, UNSTABLE, KINKS, SUB_TOLERANCE, HARD_CODED, SECOND_ORDER)
    names = [op.name for kind in kinds for _, op in kind] + [op.name for op in (*RIGHT, *HELPERS, UNPROVABLE, MATH_TANH)]
    assert len(names) == len(set(names))
    assert min(map(len, kinds)) >= 2 and len(WRONG) >= 20


@pytest.mark.parametrize(("mistake", "wrong"), UNSTABLE, ids=ids(UNSTABLE))
def test_a_numerically_unstable_rule_is_proved_but_inaccurate_with_its_worst_point(mistake, wrong):
    record = audit.audit_op(wrong)
    assert (record.verdict, record.accuracy) == ("proved", "inaccurate"), f"{mistake}: {record.report()}"
    worst = record.worst()
    assert worst["excess"] > DEFAULT_ULPS and set(worst["at"]) == set(wrong.inputs)
    assert worst["problem"] or worst["ulps"] > DEFAULT_ULPS
    assert "inaccurate" in record.report() and "worst:" in record.report()


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


@pytest.mark.parametrize(("mistake", "wrong"), SECOND_ORDER, ids=ids(SECOND_ORDER))
def test_a_second_order_only_bug_is_proved_at_order_one_and_refuted_at_order_two(mistake, wrong):
    with registry.temporary(*HELPERS):
        first, second = audit.audit_op(wrong, measure=False), audit.audit_op(wrong, order=2, measure=False)
    assert first.verdict == "proved", f"{mistake}: {first.report()}"
    assert second.verdict == "refuted" and [c.kind for c in second.problems()] == ["graph"], second.report()


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


@pytest.mark.parametrize("right", RIGHT, ids=[op.name for op in RIGHT])
def test_the_correct_version_of_a_catalogue_op_is_proved_and_accurate(right):
    record = audit.audit_op(right)
    assert (record.verdict, record.accuracy) == ("proved", "accurate"), record.report()
    assert not record.problems()


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


def test_a_static_parameter_the_vjp_ignores_is_refuted_only_for_the_other_value():
    op = by_name("leaky_relu_default_slope")
    symbolic = {c.params["slope"]: c.verdict for c in audit.audit_op(op, measure=False).checks if c.kind == "symbolic"}
    assert symbolic == {0.01: "proved", 0.2: "refuted"}


# -- errors and inconclusive verdicts ----------------------------------------------------------------


def branching_relu(xp, x):
    if x > 0:
        return x
    return 0 * x


def one_cotangent_vjp(xp, g, out, x, y):
    return (g * y,)


def test_an_op_calling_math_instead_of_xp_is_an_error_that_says_so():
    record = audit.audit_op(MATH_TANH)
    assert record.verdict == "error"
    message = record.problems()[0].message
    assert "math_tanh" in message and "math" in message and "xp.tanh, not math.tanh" in message


def test_an_op_branching_with_if_is_an_error_pointing_to_xp_where():
    record = audit.audit_op(Op("branching_relu", branching_relu, relu_vjp))
    assert record.verdict == "error"
    assert "xp.where" in record.problems()[0].message


def test_a_vjp_with_the_wrong_number_of_cotangents_is_an_error():
    record = audit.audit_op(Op("short_mul", mul, one_cotangent_vjp))
    assert record.verdict == "error"
    assert "expected a tuple of 2 cotangent(s)" in record.problems()[0].message


def test_a_correct_rule_sympy_cannot_reduce_is_inconclusive_never_proved_nor_refuted():
    record = audit.audit_op(UNPROVABLE)
    assert record.verdict == "inconclusive", record.report()
    assert "it is 0 to 30 digits at every sampled point" in record.report()


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
    op = by_name("tanh_missing_g")
    record = audit.audit_op(op, order=2)
    assert "refuted" in {c.verdict for c in record.checks if c.kind == "graph"}


def test_a_backend_that_disagrees_with_the_symbolic_forward_is_refuted():
    record = audit.audit_op(DRIFTING)
    verdicts = {c.kind: c.verdict for c in record.checks if c.kind in ("scalar", "array")}
    assert verdicts == {"scalar": "refuted", "array": "passed"}
    (scalar,) = [c for c in record.checks if c.kind == "scalar"]
    assert "forward" in scalar.message and scalar.counterexample["registered"] == pytest.approx(1.001 * scalar.counterexample["expected"])
    assert record.verdict == "refuted"


# -- results as data -------------------------------------------------------------------------------


def test_the_json_record_has_op_plugin_verdict_accuracy_and_checks_per_input(audited):
    data = json.loads(json.dumps(audited("div").to_json()))
    assert (data["op"], data["plugin"], data["verdict"]) == ("div", "microreg_ops", "proved")
    assert [i["input"] for i in data["inputs"]] == ["x", "y"]
    assert {c["kind"] for c in data["inputs"][1]["checks"]} == {"symbolic", "central-difference", "second-derivative", "graph"}
    assert {c["kind"] for c in data["checks"]} == {"scalar", "array", "branch", "accuracy"}
    accuracy = data["accuracy"]
    assert (accuracy["verdict"], accuracy["bound_ulps"], accuracy["declared"]) == ("accurate", DEFAULT_ULPS, None)
    assert set(accuracy["worst"]) >= {"what", "backend", "at", "exact", "computed", "ulps", "condition", "excess"}


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


# -- the time budget -------------------------------------------------------------------------------


def test_no_op_runs_past_its_budget_and_a_step_cut_short_is_inconclusive():
    record = audit.audit_op(EXPLOSIVE, budget=1)
    assert record.verdict == "inconclusive", record.report()
    assert "timed out after 1 s" in record.report()
    assert [c.verdict for c in record.checks if c.kind == "central-difference"] == ["passed"]  # the float checks still run


def test_the_budget_comes_from_the_environment_by_default(monkeypatch):
    monkeypatch.setenv(audit.ENV_BUDGET, "0.5")
    assert audit.budget_seconds() == 0.5 and audit.budget_seconds(2) == 2
    monkeypatch.setenv(audit.ENV_BUDGET, "0")
    assert audit.budget_seconds() is None
    monkeypatch.setenv(audit.ENV_BUDGET, "soon")
    with pytest.raises(ValueError, match="MICROREG_AUDIT_BUDGET must be a number of seconds, got 'soon'"):
        audit.budget_seconds()
    monkeypatch.delenv(audit.ENV_BUDGET)
    assert audit.budget_seconds() == audit.DEFAULT_BUDGET


def test_after_a_timeout_the_next_audit_is_unaffected():
    audit.audit_op(EXPLOSIVE, budget=0.3)
    (record,) = audit.audit(["tanh"], measure=False)
    assert record.verdict == "proved", record.report()


# -- regions: conditions SymPy solves, and those it cannot -------------------------------------------------


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


# -- the accuracy bound an op declares ---------------------------------------------------------------------


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


# -- the audit runs an op the way the engine runs it ---------------------------------------------------------------


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
