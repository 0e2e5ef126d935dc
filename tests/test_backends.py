"""Tests of microreg.backends: the scalar, array and symbolic xp namespaces offer the same functions, and registered ops by name."""

from __future__ import annotations

import math

import numpy as np
import pytest

from microreg import registry
from microreg.backends import ELEMENTARY, Array, Scalar, Symbolic
from microreg.value import VALUES

NAMESPACES = {"scalar": Scalar, "array": Array, "symbolic": Symbolic}


@pytest.fixture(params=NAMESPACES, ids=str)
def xp(request):
    return NAMESPACES[request.param](registry)


def test_every_namespace_offers_every_elementary_function(xp):
    assert [name for name in ELEMENTARY if not callable(getattr(xp, name))] == []


def test_the_value_namespace_offers_them_too_where_they_are_differentiable():
    assert [name for name in ELEMENTARY if name not in ("sin", "cos") and not callable(getattr(VALUES, name))] == []


def test_a_registered_op_is_a_function_of_the_namespace_running_its_forward(xp):
    x = {"scalar": 0.5, "array": np.array([0.5, -2.0]), "symbolic": 0.5}[xp.kind]
    got = xp.sigmoid(x)
    assert np.allclose(np.asarray(got, dtype=float), 1 / (1 + np.exp(-np.asarray(x))))


def test_an_unknown_name_says_it_is_neither_elementary_nor_registered(xp):
    with pytest.raises(AttributeError, match=f"xp.softmaxx is neither an elementary function .* on the {xp.kind} backend"):
        xp.softmaxx  # noqa: B018


def test_private_names_are_not_looked_up_in_the_registry(xp):
    with pytest.raises(AttributeError):
        xp._secret  # noqa: B018


def test_forget_ops_drops_cached_op_lookups(register_op, xp):
    from microreg import Op

    def twice(xp, x):
        return 2 * x

    def twice_vjp(xp, g, out, x):
        return (2 * g,)

    register_op(Op("twice_for_xp", twice, twice_vjp))
    assert xp.twice_for_xp(1.5) == 3.0
    assert "twice_for_xp" in vars(xp)
    xp.forget_ops()
    assert "twice_for_xp" not in vars(xp)


def test_scalar_where_and_sign_return_floats():
    xp = Scalar(registry)
    assert (xp.where(True, 1, 2), xp.where(False, 1, 2)) == (1.0, 2.0)
    assert [xp.sign(v) for v in (-3.0, 0.0, 2.0)] == [-1.0, 0.0, 1.0]
    assert all(type(xp.where(c, 1, 2)) is float for c in (True, False))


def test_scalar_functions_raise_outside_their_domain_as_math_does():
    xp = Scalar(registry)
    with pytest.raises(ValueError):
        xp.log(-1.0)
    with pytest.raises(OverflowError):
        xp.exp(1000.0)
    assert xp.abs(-2.0) == 2.0 and xp.pow(2.0, 0.5) == math.sqrt(2.0)


def test_symbolic_where_is_a_piecewise_that_sympy_can_differentiate():
    xp = Symbolic(registry)
    x = xp.sympy.Symbol("x", real=True)
    relu = xp.where(x > 0, x, 0)
    assert isinstance(relu, xp.sympy.Piecewise)
    assert relu.subs(x, 2) == 2 and relu.subs(x, -1) == 0
    assert xp.sympy.diff(relu, x).subs(x, 3) == 1
