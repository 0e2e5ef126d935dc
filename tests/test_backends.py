"""Tests of microreg.backends: the scalar, array and symbolic xp namespaces offer the same functions, and registered ops by name."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fakes import TWICE
from test_functions import ARGS

from microreg import Value, grad, registry
from microreg.backends import Array, Scalar, Symbolic
from microreg.functions import ARRAY_FUNCTIONS, CONSTANTS, ELEMENTARY
from microreg.value import VALUES

NAMESPACES = {"scalar": Scalar, "array": Array, "symbolic": Symbolic}


@pytest.fixture(params=NAMESPACES, ids=str)
def xp(request):
    return NAMESPACES[request.param](registry)


def test_every_namespace_offers_every_elementary_function_array_function_and_constant(xp):
    assert [name for name in (*ELEMENTARY, *ARRAY_FUNCTIONS) if not callable(getattr(xp, name))] == []
    assert [float(getattr(xp, name)) for name in CONSTANTS] == [math.pi, math.e]


def test_the_value_namespace_offers_them_too():
    assert [name for name in (*ELEMENTARY, *ARRAY_FUNCTIONS) if not callable(getattr(VALUES, name))] == []
    assert (VALUES.pi, VALUES.e) == (math.pi, math.e)


def test_the_symbolic_constants_are_exact():
    xp = Symbolic(registry)
    assert (xp.pi, xp.e) == (xp.sympy.pi, xp.sympy.E)


@pytest.mark.parametrize("name", [n for n in ELEMENTARY if n not in ("sign", "where", "pow")])
def test_each_function_is_differentiable_on_values(name):
    """Through its op (or a composition of ops): the derivative by backward() matches a central difference."""
    f = getattr(Scalar(registry), name)
    for args in ARGS[name]:
        if (args[0] == args[-1] and len(args) == 2) or min(map(abs, args)) < 1e-6:
            continue  # a tie of maximum/minimum has no derivative; a tiny input, no useful central difference
        xs = [Value(a) for a in args]
        gs = grad(getattr(VALUES, name)(*xs), xs)
        for i, g in enumerate(gs):
            h = 1e-5 * abs(args[i])
            up, down = list(args), list(args)
            up[i] += h
            down[i] -= h
            assert g == pytest.approx((f(*up) - f(*down)) / (2 * h), rel=1e-6, abs=1e-9), (name, args, i)


def test_log1p_on_values_keeps_its_precision_and_its_derivative():
    x = Value(1e-20)
    y = VALUES.log1p(x)
    assert y.data == 1e-20 and grad(y, x) == [1.0]
    (d1,) = grad(VALUES.log1p(x), x, create_graph=True)
    assert grad(d1, x) == [pytest.approx(-1.0)]


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
    register_op(TWICE)
    assert xp.twice(1.5) == 3.0
    assert "twice" in vars(xp)
    xp.forget_ops()
    assert "twice" not in vars(xp)


def test_scalar_functions_raise_outside_their_domain_as_math_does():
    xp = Scalar(registry)
    with pytest.raises(ValueError):
        xp.log(-1.0)
    with pytest.raises(OverflowError):
        xp.exp(1000.0)
    assert xp.abs(-2.0) == 2.0 and xp.pow(2.0, 0.5) == math.sqrt(2.0)
