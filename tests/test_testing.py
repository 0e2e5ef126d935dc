"""Tests of microreg.testing, the pytest plugin: the register_op fixture, assert_proved and ops_of."""

from __future__ import annotations

import pytest
from fakes import TRIPLE
from wrong_vjps import EXPLOSIVE, RIGHT, UNPROVABLE, UNSTABLE, by_name

import microreg
from microreg import Value
from microreg.testing import assert_proved, ops_of

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
