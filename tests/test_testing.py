"""Tests of microreg.testing: the register_op fixture, assert_proved and ops_of; each check fails on a deliberately wrong
op; check_op and checks_of, the plugin author's one call. (tests/test_ops.py runs the checks on every registered op.)"""

from __future__ import annotations

import sys

import pytest
from fakes import TRIPLE
from wrong_vjps import DRIFTING, EXPLOSIVE, HELPERS, RIGHT, SECOND_ORDER, UNPROVABLE, UNSTABLE, WRONG, WRONG_FUSED, by_name, cases

import microreg
from microreg import Op, Value, registry
from microreg.testing import (
    CHECKS,
    array_errors,
    array_gradient_errors,
    array_second_derivative_errors,
    assert_proved,
    check_op,
    checks_of,
    gradient_errors,
    hostile_errors,
    kink_errors,
    ops_of,
    param_error,
    path_disagreements,
    refusal_error,
    second_derivative_errors,
    torch_graph_errors,
)

pytest_plugins = ["pytester"]


def test_register_op_fixture_registers_for_the_calling_test(register_op):
    (op,) = register_op(TRIPLE)
    assert op is TRIPLE
    assert Value(1.0).triple().data == 3.0


def test_register_op_fixture_removes_the_op_after_the_test(pytester):
    pytester.makepyfile(
        """
        from microreg import Op, Value, registry

        def triple(xp, x):
            return 3 * x

        def triple_vjp(xp, g, out, x):
            return (3 * g,)

        def test_uses_it(register_op):
            register_op(Op("triple", triple, triple_vjp))
            assert Value(1.0).triple().data == 3.0

        def test_it_is_gone():
            assert "triple" not in registry
            assert not hasattr(Value, "triple")
        """
    )
    pytester.runpytest_inprocess("-p", "no:randomly").assert_outcomes(passed=2)


# -- assert_proved and ops_of -----------------------------------------------------------------------------


def test_assert_proved_passes_for_registered_names_and_op_records_and_returns_their_audits():
    records = assert_proved("tanh", "relu", RIGHT[0])
    assert [(r.op, r.verdict) for r in records] == [("tanh", "proved"), ("relu", "proved"), (RIGHT[0].name, "proved")]


def test_assert_proved_fails_with_the_report():
    wrong = by_name("sigmoid_missing_factor")
    with pytest.raises(AssertionError, match=r"does not prove and find accurate sigmoid_missing_factor \(refuted, (.|\n)*counterexample"):
        assert_proved("tanh", wrong)


def test_assert_proved_fails_for_a_proved_rule_that_is_inaccurate_in_float64():
    _, unstable = UNSTABLE[0]
    with pytest.raises(AssertionError, match=rf"{unstable.name} \(proved, inaccurate\)(.|\n)*worst: "):
        assert_proved(unstable)


def test_assert_proved_fails_for_an_inconclusive_rule_and_one_that_runs_out_of_time():
    with pytest.raises(AssertionError, match=r"root_scale \(inconclusive, accurate\)"):
        assert_proved(UNPROVABLE)
    with pytest.raises(AssertionError, match="timed out after 0.5 s"):
        assert_proved(EXPLOSIVE, budget=0.5)


def test_assert_proved_with_nothing_to_audit_refuses_to_pass():
    with pytest.raises(TypeError, match="at least one op"):
        assert_proved()


def test_ops_of_lists_a_plugins_ops_for_parametrize():
    assert ops_of("microreg_ops") == sorted(microreg.registry.plugins["microreg_ops"].ops)
    with pytest.raises(LookupError, match="no plugin named 'nope'"):
        ops_of("nope")


# -- the checks themselves must be able to fail ------------------------------------------------------


#: The wrong vjps the gradient check is not meant to catch, and why.
MISSING_G = "wrong only for g != 1, and backward() starts from g = 1"
AT_A_KINK = "wrong only at its kink, which the sample points avoid (the kink check catches it)"
NOT_CAUGHT_BY_GRADIENTS = {"tanh_missing_g": MISSING_G, "add_missing_g_second": MISSING_G,
                           "relu_wrong_kink": AT_A_KINK, "absolute_wrong_kink": AT_A_KINK}


@pytest.mark.parametrize("wrong_op", cases(WRONG, NOT_CAUGHT_BY_GRADIENTS))
def test_gradient_check_catches_a_wrong_vjp(register_op, wrong_op):
    register_op(wrong_op)
    assert any(gradient_errors(wrong_op, params) for params in wrong_op.examples)


KINKED = [pytest.param(op, kink, id=f"{op.name}@{kink.at[0]:g}", marks=[pytest.mark.xfail(
              strict=True, reason="its wrong branch is x < -1: at 1 it gives the declared 0")] if op.name == "clamp_wrong_branch"
              and kink.at == (1.0,) else []) for _, op in WRONG for kink in op.kinks]


@pytest.mark.parametrize(("wrong_op", "kink"), KINKED)
def test_kink_check_catches_a_wrong_value_at_a_declared_kink(register_op, wrong_op, kink):
    register_op(wrong_op)
    assert {e.split(":")[0] for e in kink_errors(wrong_op, kink, {})} == {"scalar", "array"}


def test_path_check_catches_a_scalar_path_that_drifted(register_op):
    register_op(DRIFTING)
    assert path_disagreements(DRIFTING, {})


def fused_cases(op: Op) -> list[tuple[Op, tuple]]:
    """(form, input shapes) for each declared shape of an op on arrays; a variadic op at each arity, on vectors of 3."""
    return [(op, shapes) for shapes in op.shapes] or [(form, ((3,),) * form.arity) for form in op.forms()]


@pytest.mark.parametrize("wrong_op", cases(WRONG_FUSED, {}))
def test_array_gradient_check_catches_a_wrong_vjp_of_a_fused_op(register_op, wrong_op):
    register_op(wrong_op)
    assert any(array_gradient_errors(form, shapes, wrong_op.examples[0]) for form, shapes in fused_cases(wrong_op))


@pytest.mark.parametrize("wrong_op", cases(SECOND_ORDER, {}))
def test_array_second_derivative_check_catches_a_helper_op_wrong_inside_the_vjp(register_op, wrong_op):
    register_op(*HELPERS, wrong_op)
    assert array_second_derivative_errors(wrong_op, ((3,),), {})
    assert not array_gradient_errors(wrong_op, ((3,),), {})  # right at first order


@pytest.mark.parametrize("wrong_op", cases(SECOND_ORDER, {}))
def test_second_derivative_check_catches_a_helper_op_wrong_inside_the_vjp(register_op, wrong_op):
    register_op(*HELPERS, wrong_op)
    assert second_derivative_errors(wrong_op, {})
    assert not gradient_errors(wrong_op, {})  # right at first order


def test_array_check_catches_a_scalar_path_that_drifted(register_op):
    register_op(DRIFTING)
    assert array_errors(DRIFTING, {})


GRAPH_AT_A_KINK = "wrong only at its kink, which the random graphs keep MARGIN away from (the kink checks catch it)"


@pytest.mark.parametrize("wrong_op", cases(WRONG, {"relu_wrong_kink": GRAPH_AT_A_KINK, "absolute_wrong_kink": GRAPH_AT_A_KINK}))
def test_the_random_graph_check_catches_a_wrong_vjp(register_op, wrong_op):
    pytest.importorskip("torch")
    register_op(wrong_op)
    (error,) = torch_graph_errors(wrong_op, wrong_op.examples[-1])
    assert "derivative of order" in error and "-> node" in error  # a missing g: at order 2, where g != 1; the graph drawn


def loud(xp, x):
    """x, but a RuntimeError beyond 100: not the DomainError the engine turns arithmetic errors into."""
    if abs(x) > 100:
        raise RuntimeError("too big")
    return x


def loud_vjp(xp, g, out, x):
    return (g,)


def deaf(xp, x, *, k=1.0):
    """x, whatever k is: a static parameter it never reads."""
    return x


def deaf_vjp(xp, g, out, x, *, k=1.0):
    return (g,)


def test_the_hostile_input_check_catches_an_error_other_than_a_domain_error(register_op):
    (op,) = register_op(Op("loud", loud, loud_vjp))
    assert any("RuntimeError: too big" in e for e in hostile_errors(op, {}))


def test_the_operand_checks_catch_an_operand_or_parameter_taken_without_error(register_op):
    assert refusal_error(lambda: None, "add", None) == ["add with None: no error"]
    assert "does not name" in refusal_error(lambda: 1 + None, "add", None)[0]
    (op,) = register_op(Op("deaf", deaf, deaf_vjp))
    assert param_error(op, "k", None) == ["deaf(k=None): no TypeError or DomainError"]


# -- check_op and checks_of: every check in one call, or one test per op and check ---------------------


def test_check_op_runs_every_check_on_a_right_op_and_returns_their_names():
    pytest.importorskip("torch")
    assert check_op("tanh") == list(CHECKS)


def test_check_op_fails_a_wrong_op_naming_each_check_that_caught_it():
    wrong = by_name("sigmoid_missing_factor")
    with pytest.raises(AssertionError, match="sigmoid_missing_factor fails") as info:
        check_op(wrong, "audit", "gradients", "hostile_points")
    lines = str(info.value).splitlines()
    assert any(line.startswith("audit: ") for line in lines) and any(line.startswith("gradients: d") for line in lines)
    assert "sigmoid_missing_factor" not in registry  # registered for the call only


def test_check_op_leaves_out_a_check_whose_dependency_is_missing_and_skips_if_none_is_left(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert check_op("tanh", "kinks", "torch_graphs") == ["kinks"]
    with pytest.raises(pytest.skip.Exception, match="torch_graphs"):
        check_op("tanh", "torch_graphs")


def test_check_op_refuses_an_unknown_check():
    with pytest.raises(ValueError, match="no check named 'gradient'; the checks: audit, gradients"):
        check_op("tanh", "gradient")


def test_checks_of_gives_one_case_per_op_and_check():
    params = checks_of("microreg_ops")
    assert len(params) == len(ops_of("microreg_ops")) * len(CHECKS)
    assert params[0].id == f"{ops_of('microreg_ops')[0]}-audit" and params[0].values == (ops_of("microreg_ops")[0], "audit")


def test_checks_of_a_plugin_with_no_op_refuses_to_pass_vacuously(register_op):
    registry.plugins["empty"] = microreg.opregistry.Plugin("empty")
    try:
        with pytest.raises(LookupError, match="plugin 'empty' registers no op"):
            checks_of("empty")
    finally:
        del registry.plugins["empty"]
