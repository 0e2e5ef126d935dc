"""A batch in one graph: array Values, broadcasting, reductions, and batched training."""

from __future__ import annotations

import numpy as np
import pytest

from microreg import DomainError, Value, grad
from microreg.nn import MLP

POINTS = np.array([[0.3, -1.2], [1.5, 0.4], [-0.7, 0.9], [0.1, 0.05], [2.0, -0.3]])
TARGETS = np.array([1.0, -1.0, 1.0, -1.0, 1.0])


def hinge(score, y):
    return (1 + -y * score).relu()


def test_batched_gradients_equal_the_sum_of_per_point_gradients():
    model = MLP(2, [8, 8, 1], activation="tanh", seed=3)
    params = model.parameters()
    total = [0.0] * len(params)
    for x, y in zip(POINTS.tolist(), TARGETS.tolist()):
        model.zero_grad()
        hinge(model(x), y).backward()
        total = [t + p.grad for t, p in zip(total, params)]
    model.zero_grad()
    hinge(model([POINTS[:, 0], POINTS[:, 1]]), TARGETS).sum().backward()
    assert [p.grad for p in params] == pytest.approx(total, rel=1e-12, abs=1e-12)


def test_a_scalar_combined_with_an_array_broadcasts_and_its_gradient_is_summed_back():
    w = Value(2.0)
    x = Value(np.array([1.0, -2.0, 3.0]))
    out = (w * x + w).sum()
    out.backward()
    assert out.data == 2 * (1 - 2 + 3) + 3 * 2
    assert w.grad == pytest.approx(1 - 2 + 3 + 3)
    assert isinstance(w.grad, float)
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])


def test_a_row_broadcast_against_a_matrix_gets_a_row_shaped_gradient():
    row = Value(np.array([[1.0, 2.0, 3.0]]))
    mat = Value(np.arange(6.0).reshape(2, 3))
    (row * mat).sum().backward()
    assert row.grad.shape == (1, 3)
    np.testing.assert_array_equal(row.grad, [[3.0, 5.0, 7.0]])
    np.testing.assert_array_equal(mat.grad, [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])


def test_sum_and_mean_reduce_an_array_value_to_a_scalar_one():
    x = Value(np.array([1.0, 2.0, 3.0, 6.0]))
    s, m = x.sum(), x.mean()
    assert (s.data, m.data) == (12.0, 3.0)
    (gs, gm) = grad(s, x), grad(m, x)
    np.testing.assert_array_equal(gs[0], np.ones(4))
    np.testing.assert_array_equal(gm[0], np.full(4, 0.25))


def test_backward_on_an_array_value_asks_for_a_reduction_first():
    x = Value(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"scalar Value.*\.sum\(\) or \.mean\(\)"):
        (x * x).backward()


def test_the_domain_policy_is_the_same_on_arrays_as_on_scalars():
    with pytest.raises(DomainError, match=r"log\(x=array\(3,\).*domain: x > 0"):
        Value(np.array([1.0, -1.0, 2.0])).log()
    with pytest.raises(DomainError, match=r"div"):
        Value(np.array([1.0, 2.0])) / np.array([1.0, 0.0])
    with pytest.raises(DomainError, match=r"exp"):
        Value(np.array([1.0, 1000.0])).exp()


@pytest.mark.parametrize("x", [np.array([-1000.0, 0.0, 1000.0])])
@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_sigmoid_and_tanh_are_finite_over_an_array_of_extreme_inputs(name, x):
    v = Value(x)
    getattr(v, name)().sum().backward()
    assert np.isfinite(v.grad).all()


def test_non_finite_or_non_numeric_arrays_are_refused():
    with pytest.raises(ValueError, match="finite"):
        Value(np.array([1.0, np.nan]))
    with pytest.raises(TypeError, match="array of"):
        Value(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="finite"):
        Value(np.array([1.0, 2.0])) * np.array([np.inf, 1.0])


def test_the_same_mlp_trains_on_a_whole_batch_in_one_graph():
    model = MLP(2, [8, 1], activation="tanh", seed=0)
    cols = [POINTS[:, 0], POINTS[:, 1]]
    losses = []
    for _ in range(100):
        loss = hinge(model(cols), TARGETS).mean()
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= 0.2 * p.grad
        losses.append(loss.data)
    assert losses[-1] < 0.25 * losses[0]


def test_the_at_operator_is_matmul_and_an_array_constant_on_the_left_defers_to_value():
    a, b = Value(np.arange(6.0).reshape(2, 3)), Value(np.arange(6.0).reshape(3, 2))
    out = a @ b
    assert out.op == "matmul" and out.data.tolist() == (a.data @ b.data).tolist()
    assert (np.ones((1, 2)) @ a).parents == (a,)  # an array constant on the left defers to Value


def test_matmul_refuses_numbers_vectors_and_mismatched_shapes_naming_them():
    with pytest.raises(DomainError, match=r"^matmul\(x=1.0, y=2.0\) is undefined: matmul takes an \(m, k\) and a \(k, n\) array"):
        Value(1.0) @ Value(2.0)
    with pytest.raises(DomainError, match=r"got shapes \(3,\) and \(3, 2\)"):
        Value(np.ones(3)) @ np.ones((3, 2))
    with pytest.raises(DomainError, match=r"got shapes \(2, 3\) and \(2, 3\)"):
        Value(np.ones((2, 3))) @ Value(np.ones((2, 3)))


def test_sum_over_the_first_axis_and_no_other():
    x = Value(np.arange(6.0).reshape(2, 3))
    columns = x.sum(axis=0)
    assert columns.data.tolist() == [3.0, 5.0, 7.0] and columns.params == {"axis": 0}
    with pytest.raises(DomainError, match=r"sum takes axis=None \(every element\) or axis=0"):
        x.sum(axis=1)
    assert Value(2.5).sum().data == 2.5  # a number is its own sum
