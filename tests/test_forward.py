"""Tests of microreg.forward: jvp() through every registered op against reverse mode, hvp() against reverse over reverse,
and the errors that name what is wrong."""

from __future__ import annotations

import math

import numpy as np
import pytest

from microreg import DomainError, Op, Value, apply, grad, hvp, jvp, registry


def points(op: Op) -> list[float]:
    """One point inside each input's domain, away from kinks."""
    return [0.7 + 0.45 * i if d != "real" else -0.35 + 0.8 * i for i, d in enumerate(op.domains)]


def test_jvp_of_every_op_is_the_gradient_dotted_with_the_tangent_on_floats_and_arrays(op_case):
    op, params = op_case
    xs = points(op)
    tangents = [1.25 - 0.5 * i for i in range(op.arity)]
    values = [Value(x) for x in xs]
    want = sum(g * t for g, t in zip(grad(apply(op, tuple(values), params), values), tangents))
    out, got = jvp(lambda *a: apply(op, a, params), xs, tangents)
    assert out == apply(op, tuple(xs), params) and got == pytest.approx(want, rel=1e-14, abs=1e-300)
    arrays = [np.array([x, x + 0.1]) for x in xs]
    _, got_arrays = jvp(lambda *a: apply(op, a, params), arrays, [np.full(2, t) for t in tangents])
    assert got_arrays.shape == (2,) and got_arrays[0] == pytest.approx(want, rel=1e-14, abs=1e-300)


def test_jvp_of_an_op_on_arrays_is_the_gradient_dotted_with_the_tangent(array_case):
    op, shapes, params = array_case
    rng = np.random.default_rng(3)
    xs, ts = [rng.uniform(-2, 2, s) for s in shapes], [rng.normal(size=s) for s in shapes]
    out, tangent = jvp(lambda *a: apply(op, a, params), xs, ts)
    weights = rng.normal(size=np.shape(out))
    values = [Value(x) for x in xs]
    grads = grad((apply(op, tuple(values), params) * weights).sum(), values)
    assert np.sum(weights * tangent) == pytest.approx(sum(np.sum(g * t) for g, t in zip(grads, ts)), rel=1e-12)


def test_jvp_of_a_composite_function_with_a_constant_and_several_outputs():
    def f(x, y):
        return (x * y + 3.0).tanh(), x.exp()

    (a, b), (ta, tb) = jvp(f, [0.5, -1.0], [2.0, 0.0])
    assert a == math.tanh(2.5) and b == math.exp(0.5)
    assert ta == pytest.approx((1 - math.tanh(2.5) ** 2) * -2.0) and tb == pytest.approx(2 * math.exp(0.5))


def test_a_node_that_depends_on_no_primal_has_tangent_zero():
    w = Value(np.ones(3))  # a parameter the function closes over
    _, t = jvp(lambda x: (w * 2.0).sum() + x, [1.0], [1.0])
    assert t == 1.0
    assert jvp(lambda x: w.sum(), [1.0], [1.0])[1] == 0.0


def test_hvp_equals_reverse_over_reverse_on_floats_and_arrays():
    def f(x, y):
        return x**2 * y + (x * y).tanh()

    x, y = Value(0.7), Value(-1.3)
    gx, gy = grad(f(x, y), [x, y], create_graph=True)
    assert hvp(f, [0.7, -1.3], [1.0, 2.0]) == pytest.approx(grad(gx * 1.0 + gy * 2.0, [x, y]), rel=1e-14)
    w, v = np.linspace(-1, 1, 5), np.arange(5.0)
    (got,) = hvp(lambda a: (a.sigmoid() * a).sum(), [w], [v])
    s = 1 / (1 + np.exp(-w))
    np.testing.assert_allclose(got, (2 * s * (1 - s) + w * s * (1 - s) * (1 - 2 * s)) * v, rtol=1e-13)


def test_bad_tangents_are_named():
    with pytest.raises(ValueError, match="one tangent per primal: 2 primal"):
        jvp(lambda x, y: x * y, [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="tangent 0 has shape \\(3,\\), its primal \\(\\)"):
        jvp(lambda x: x.exp(), [1.0], [np.ones(3)])
    with pytest.raises(TypeError, match="tangent 0"):
        jvp(lambda x: x.exp(), [1.0], ["a"])


def overflowing_jvp(xp, tangents, out, x):
    return tangents[0] * xp.exp(1000.0 * x)


def test_a_jvp_that_overflows_is_a_domain_error_naming_the_op():
    op = Op("twice", lambda xp, x: 2 * x, lambda xp, g, out, x: (2 * g,), jvp=overflowing_jvp)
    with pytest.raises(DomainError, match="twice jvp\\(x=1.0\\) is undefined"):
        jvp(lambda x: apply(op, (x,)), [1.0], [1.0])
    with pytest.raises(DomainError, match="twice jvp\\(x=array"):
        jvp(lambda x: apply(op, (x,)), [np.ones(2)], [np.ones(2)])


def test_an_op_on_arrays_without_a_jvp_is_refused_by_name():
    base = registry.get("transpose")
    op = Op("transpose_no_jvp", base.forward, base.vjp, shapes=base.shapes)
    with pytest.raises(TypeError, match="op 'transpose_no_jvp' has no jvp"):
        jvp(lambda x: apply(op, (x,)), [np.ones((2, 3))], [np.ones((2, 3))])


@pytest.mark.parametrize(("returned", "error", "words"), [
    (lambda xp, tangents, out, x: np.float32(1.0) * np.ones(3, dtype=np.float32), TypeError, "returned an array of float32"),
    (lambda xp, tangents, out, x: np.ones(2), TypeError, "returned a tangent of shape (2,), the output (3,)"),
    (lambda xp, tangents, out, x: tangents[0] * np.nan, DomainError, "the tangent is array"),
])
def test_a_jvps_result_goes_through_the_engines_one_error_policy(returned, error, words):
    """As a forward's result and a vjp's cotangents do (value._check): float32 refused, not widened; the output's shape
    or one that broadcasts to it; finite."""
    def its_jvp(xp, tangents, out, x):
        return returned(xp, tangents, out, x)

    op = Op("bad_jvp", lambda xp, x: 2 * x, lambda xp, g, out, x: (2 * g,), jvp=its_jvp)
    with pytest.raises(error) as raised:
        jvp(lambda x: apply(op, (x,)), [np.ones(3)], [np.ones(3)])
    assert words in str(raised.value) and "bad_jvp" in str(raised.value)
