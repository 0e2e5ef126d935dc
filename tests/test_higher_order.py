"""Derivatives of derivatives: grad(create_graph=True), Hessian-vector products, Newton's method."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fakes import load_example

from microreg import DomainError, Value, grad


def test_grad_without_create_graph_returns_numbers_and_leaves_grad_alone():
    x = Value(3.0)
    x.grad = 7.0
    (g,) = grad(x**3, x)
    assert g == pytest.approx(27.0)
    assert isinstance(g, float)
    assert x.grad == 7.0


def test_third_derivative_of_a_cubic_through_three_sweeps():
    x = Value(2.0)
    (d1,) = grad(x**3, x, create_graph=True)
    (d2,) = grad(d1, x, create_graph=True)
    (d3,) = grad(d2, x)
    assert (d1.data, d2.data, d3) == pytest.approx((12.0, 12.0, 6.0))


def test_second_derivative_of_tanh_through_its_output_based_vjp():
    x = Value(0.4)
    (d1,) = grad(x.tanh(), x, create_graph=True)
    (d2,) = grad(d1, x)
    t = math.tanh(0.4)
    assert d2 == pytest.approx(-2 * t * (1 - t * t), rel=1e-12)


def test_mixed_partials_are_symmetric():
    x, y = Value(0.3), Value(-0.8)
    f = (x * y).sigmoid() + x**2 * y
    gx, gy = grad(f, [x, y], create_graph=True)
    (dxy,) = grad(gx, y)
    (dyx,) = grad(gy, x)
    assert dxy == pytest.approx(dyx, rel=1e-12)


def test_an_input_the_output_does_not_depend_on_gets_a_zero_gradient():
    x, unused = Value(1.0), Value(np.array([1.0, 2.0]))
    gx, gu = grad(x * 2, [x, unused])
    assert gx == 2.0
    np.testing.assert_array_equal(gu, [0.0, 0.0])


def test_hessian_vector_product_example_matches_the_hessian_written_by_hand():
    example = load_example("hessian_vector")
    x0, y0, v = 0.7, -1.3, (1.0, 2.0)
    H = example.hessian_by_hand(x0, y0)
    expected = [H[0][0] * v[0] + H[0][1] * v[1], H[1][0] * v[0] + H[1][1] * v[1]]
    assert example.hvp(x0, y0, v) == pytest.approx(expected, rel=1e-12)


def test_newtons_method_example_converges_to_a_stationary_point_with_positive_curvature():
    example = load_example("newton")
    x, path = example.newton(2.0)
    assert len(path) < 15
    v = Value(x)
    (d1,) = grad(example.f(v), v, create_graph=True)
    (d2,) = grad(d1, v)
    assert abs(d1.data) < 1e-10
    assert d2 > 0


def test_second_derivatives_work_over_a_batch():
    x = Value(np.array([-1.0, 0.5, 2.0]))
    (d1,) = grad(x.exp().sum(), x, create_graph=True)
    (d2,) = grad(d1.sum(), x)
    np.testing.assert_allclose(d2, np.exp([-1.0, 0.5, 2.0]), rtol=1e-12)


def test_create_graph_sums_each_gradient_back_to_its_inputs_shape_under_broadcasting():
    x, y = Value(np.array([[1.0], [2.0], [3.0], [4.0]])), Value(np.array([[0.5, -1.0, 2.0]]))
    gx, gy = grad((x * y).sum(), [x, y], create_graph=True)
    assert (gx.data.shape, gy.data.shape) == ((4, 1), (1, 3))
    np.testing.assert_array_equal(gx.data, np.full((4, 1), 1.5))
    np.testing.assert_array_equal(gy.data, np.full((1, 3), 10.0))
    (hxy,) = grad((gx * gx).sum(), [y])  # d/dy of sum_i (sum_j y_j)^2 = 2 * 4 * 1.5 for each j
    np.testing.assert_array_equal(hxy, np.full((1, 3), 12.0))


@pytest.mark.parametrize("n, order", [(0, 1), (1, 2), (2, 3), (3, 4)])
def test_the_derivative_past_a_powers_degree_is_zero_at_zero(n, order):
    x = Value(0.0)
    out = x**n
    for _ in range(order - 1):
        (out,) = grad(out, x, create_graph=True)
    assert grad(out, x) == [0.0]  # as PyTorch and HIPS autograd give it


POINTS = (0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 20.0, -37.0, 38.5, 64.0, 2.0**60)  # where ops' branches and clamps switch


def exact_second_derivatives(form, params) -> list[tuple[float, float]]:
    """(x, the op's exact second derivative there) for each of POINTS in its domain where the op is twice
    differentiable: mpmath's one-sided second differences at 100 digits, on the forward as SymPy reads it, agree
    (a kink, or a jump in the second derivative, is left out), and are large enough to resolve (erf's at 20,
    8.6e-173, is not) and not subnormal in float64."""
    import mpmath
    import sympy as sp

    from microreg.accuracy import INSIDE_DOMAIN
    from microreg.audit.symbols import Prover
    from microreg.plugins import registry

    x, prover = sp.Symbol("x", real=True), Prover(registry)
    with prover.exact_floats(binary=True):  # the floats in the op's code as the binary fractions they are, as the audit
        f = sp.lambdify([x], form.forward(prover.xp, x, **params), modules="mpmath")  # enters them (no Float cached)
    found = []
    for at in (p for p in POINTS if INSIDE_DOMAIN[form.domains[0]](p)):
        with mpmath.workdps(100):
            c = mpmath.mpf(at)
            h = mpmath.mpf(10) ** -20 * max(1, abs(c))
            left = (f(c) - 2 * f(c - h) + f(c - 2 * h)) / h**2
            right = (f(c + 2 * h) - 2 * f(c + h) + f(c)) / h**2
            floor = 1e-50 * (1 + abs(f(c)))  # below, the differences are rounding: 100 digits, h**2 = 1e-40 |x|**2
        if abs(left - right) <= 1e-6 * (1 + abs(left)) and max(abs(left), abs(right)) >= floor and abs(left) >= 1e-290:
            found.append((at, float((left + right) / 2)))
    return found


def close_second(got: float, exact: float, first: float, at: float) -> bool:
    """got within 1e-8 of exact, relative to the larger of |exact| and |f'(x)| / |x| (f'' is about f' / x far out)."""
    return abs(got - exact) <= 1e-8 * max(abs(exact), abs(first) / max(1.0, abs(at)))


def test_a_second_derivative_through_the_vjp_is_right_where_the_op_is_twice_differentiable(op_case):
    """Every unary op's second derivative (its vjp differentiated by the engine) at points where vjps switch branch or
    clamp, against the exact one (``exact_second_derivatives``). A clamp that ties at the switch of the where it feeds
    (minimum(|x|, 1) in a branch taken at |x| = 1) halves its derivative there."""
    from microreg.value import apply

    form, params = op_case
    if form.arity != 1:
        pytest.skip("unary ops only")
    wrong = []
    for at, exact in exact_second_derivatives(form, params):
        v = Value(at)
        try:
            (first,) = grad(apply(form, (v,), params), [v], create_graph=True)
            (second,) = grad(first, [v])
        except DomainError:
            continue  # beyond float64 (cosh at 2**60): what the engine does there is the accuracy audit's to judge
        if not close_second(float(second), exact, float(first), at):
            wrong.append(f"at x={at}: {float(second)!r}, exact {exact!r}")
    assert not wrong, f"{form.name}{params or ''}: {'; '.join(wrong)}"
