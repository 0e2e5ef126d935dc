"""Tests for microreg.losses: values, gradients, stability, both input forms, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from microreg import Value
from microreg.losses import binary_cross_entropy, hinge_loss, mse_loss

LOSSES = [mse_loss, binary_cross_entropy, hinge_loss]
PRED = [0.3, -1.2, 2.5, 0.0]
TARGETS = {mse_loss: [0.5, -1.0, 1.0, 0.25], binary_cross_entropy: [1.0, 0.0, 1.0, 0.5], hinge_loss: [1.0, -1.0, -1.0, 1.0]}


def reference(loss, z: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-example loss and d(loss)/d(prediction), written directly in NumPy."""
    if loss is mse_loss:
        return (z - t) ** 2, 2 * (z - t)
    if loss is binary_cross_entropy:
        return np.logaddexp(0, z) - t * z, np.exp(-np.logaddexp(0, -z)) - t
    return np.maximum(0, 1 - t * z), np.where(1 - t * z > 0, -t, 0.0)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("loss", LOSSES, ids=lambda f: f.__name__)
def test_list_form_matches_reference_value_and_gradient(loss, reduction):
    preds = [Value(p) for p in PRED]
    out = loss(preds, TARGETS[loss], reduction=reduction)
    value, grad = reference(loss, np.array(PRED), np.array(TARGETS[loss]))
    scale = 1 / len(PRED) if reduction == "mean" else 1.0
    assert out.data == pytest.approx(value.sum() * scale, rel=1e-12)
    out.backward()
    np.testing.assert_allclose([p.grad for p in preds], grad * scale, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("loss", LOSSES, ids=lambda f: f.__name__)
def test_batch_form_matches_list_form(loss):
    batch = Value(np.array(PRED))
    out = loss(batch, np.array(TARGETS[loss]))
    out.backward()
    preds = [Value(p) for p in PRED]
    expected = loss(preds, TARGETS[loss])
    expected.backward()
    assert out.data == pytest.approx(expected.data, rel=1e-12)
    np.testing.assert_allclose(batch.grad, [p.grad for p in preds], rtol=1e-12)


@pytest.mark.parametrize("z", [-1000.0, -745.5, -40.0, -1.0, 0.0, 1e-9, 2.0, 40.0, 710.0, 1000.0])
@pytest.mark.parametrize("t", [0.0, 1.0])
def test_binary_cross_entropy_is_finite_and_exact_for_any_logit(z, t):
    logit = Value(z)
    out = binary_cross_entropy([logit], [t])
    out.backward()
    value, grad = reference(binary_cross_entropy, np.array(z), np.array(t))
    # without log1p, log(1 + tiny) rounds to 0: the loss is exact to within 1e-16 absolute, the gradient relatively
    assert out.data == pytest.approx(float(value), rel=1e-12, abs=1e-16)
    assert logit.grad == pytest.approx(float(grad), rel=1e-12, abs=1e-300)


def test_binary_cross_entropy_gradient_at_zero_logit_is_one_half_minus_target():
    # the relu kink at 0 must not leak into the gradient: d/dz softplus(z) = sigmoid(0) = 0.5
    z = Value(0.0)
    binary_cross_entropy([z], [1.0]).backward()
    assert z.grad == -0.5


def test_binary_cross_entropy_matches_torch():
    torch = pytest.importorskip("torch")
    z = np.array([-50.0, -3.0, -0.2, 0.0, 0.7, 4.0, 60.0])
    t = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    ours = Value(z)
    out = binary_cross_entropy(ours, t)
    out.backward()
    theirs = torch.tensor(z, requires_grad=True)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(theirs, torch.tensor(t))
    expected.backward()
    assert out.data == pytest.approx(expected.item(), rel=1e-12)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12, atol=1e-18)


def test_mse_of_scalar_value_and_number():
    assert mse_loss(Value(3.0), 1.0).data == 4.0


def test_plain_numbers_are_accepted_as_predictions():
    assert hinge_loss([0.5, -2.0], [1, -1]).data == pytest.approx(0.25)


@pytest.mark.parametrize("loss", LOSSES, ids=lambda f: f.__name__)
def test_bad_reduction_is_named(loss):
    with pytest.raises(ValueError, match=rf"{loss.__name__}: reduction must be 'mean' or 'sum', got 'max'"):
        loss([Value(0.5)], [1.0], reduction="max")


@pytest.mark.parametrize("loss", LOSSES, ids=lambda f: f.__name__)
def test_length_mismatch_is_named(loss):
    with pytest.raises(ValueError, match=f"{loss.__name__}: 2 predictions but targets of shape"):
        loss([Value(0.5), Value(0.1)], [1.0, 1.0, 1.0])


@pytest.mark.parametrize("loss", LOSSES, ids=lambda f: f.__name__)
def test_batch_shape_mismatch_is_named(loss):
    with pytest.raises(ValueError, match="shape"):
        loss(Value(np.zeros(3)), np.ones(4))


@pytest.mark.parametrize("loss", LOSSES, ids=lambda f: f.__name__)
def test_no_predictions_is_an_error(loss):
    with pytest.raises(ValueError, match="no predictions"):
        loss([], [])


def test_non_numeric_targets_are_named():
    with pytest.raises(TypeError, match="mse_loss takes targets as numbers"):
        mse_loss([Value(1.0)], ["a"])


def test_binary_cross_entropy_rejects_targets_outside_0_1():
    with pytest.raises(ValueError, match=r"targets in \[0, 1\].*-1\.0"):
        binary_cross_entropy([Value(0.5), Value(0.2)], [1.0, -1.0])


def test_hinge_loss_rejects_0_1_targets():
    with pytest.raises(ValueError, match=r"hinge_loss takes targets -1 and \+1, got \[0\.0, 1\.0\]"):
        hinge_loss([Value(0.5), Value(0.2)], [0, 1])
