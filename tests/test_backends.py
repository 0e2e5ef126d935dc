"""Tests of microreg.backends: the scalar, array and symbolic xp namespaces offer the same functions, and registered ops by name."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from fakes import TWICE

from microreg import Value, grad, registry
from microreg.backends import ARRAY_FUNCTIONS, CONSTANTS, ELEMENTARY, Array, Scalar, Symbolic
from microreg.value import VALUES

NAMESPACES = {"scalar": Scalar, "array": Array, "symbolic": Symbolic}
ROOT = Path(__file__).resolve().parents[1]
#: Each function's arguments at a few points inside its domain (x; or x, y; where takes a condition).
ARGS = {name: [(x,) for x in (-2.6, -0.35, 1e-9, 0.8, 3.3)] for name in ELEMENTARY}
ARGS.update({"log": [(x,) for x in (1e-9, 0.35, 1.0, 7.5)], "sqrt": [(x,) for x in (1e-9, 0.35, 2.0, 7.5)],
             "log1p": [(x,) for x in (-0.9, -1e-9, 1e-12, 0.8, 7.5)], "pow": [(x, n) for x in (0.35, 2.0) for n in (-1.0, 0.5, 3.0)],
             "maximum": [(-1.5, 0.5), (2.0, -3.0), (0.25, 0.25)], "minimum": [(-1.5, 0.5), (2.0, -3.0), (0.25, 0.25)],
             "where": [(c, 2.5, -1.5) for c in (True, False)]})


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


@pytest.mark.parametrize("name", ELEMENTARY)
def test_each_function_gives_the_same_value_on_every_backend(name):
    """Values hold exactly what floats give; NumPy's and math's functions agree to an ulp; the symbolic value is exact."""
    scalar, array, symbolic = Scalar(registry), Array(registry), Symbolic(registry)
    inputs = slice(1) if name == "pow" else slice(None)  # pow's exponent is a constant
    for args in ARGS[name]:
        want = getattr(scalar, name)(*args)
        on_array = getattr(array, name)(*(np.array([a]) if isinstance(a, float) else a for a in args))
        on_values = getattr(VALUES, name)(*(Value(a) if isinstance(a, float) else a for a in args[inputs]), *args[len(args[inputs]):])
        exact = float(getattr(symbolic, name)(*(symbolic.sympy.Rational(a) if isinstance(a, float) else a for a in args)).evalf(30))
        assert (on_values.data if isinstance(on_values, Value) else on_values) == want, args
        assert float(np.asarray(on_array)[0]) == pytest.approx(want, rel=2.3e-16, abs=1e-300), args
        assert want == pytest.approx(exact, rel=4.5e-16, abs=1e-300), args


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


def test_erf_on_arrays_is_maths_elementwise_down_to_the_subnormal_range():
    xs = np.array([-27.0, -3.0, -1e-300, 0.0, 0.5, 6.0, 26.7, 27.2])
    xp = Array(registry)
    assert list(xp.erf(xs)) == [math.erf(x) for x in xs]
    assert list(xp.erfc(xs)) == [math.erfc(x) for x in xs]
    assert xp.erfc(np.array([27.2]))[0] > 0.0  # 1e-323, subnormal, not flushed to 0


def test_the_documented_table_lists_exactly_what_xp_offers():
    text = (ROOT / "docs" / "plugins.md").read_text()
    table = text.split("### What xp offers", 1)[1].split("\n\n| name |", 1)[1].split("\n\n", 1)[0]
    assert re.findall(r"^\| `(\w+)` \|", table, flags=re.M) == [*ELEMENTARY, *CONSTANTS]


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
