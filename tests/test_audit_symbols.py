"""Tests of microreg.audit.symbols: an op that cannot run on SymPy symbols is an error that says why and what to write instead.

Math instead of xp, an ``if`` on an input, or a vjp that returns the wrong number of cotangents: each is the
``error`` verdict, with the fix in its message.
"""

from __future__ import annotations

from wrong_vjps import MATH_TANH, mul, relu_vjp

from microreg import Op, audit


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
