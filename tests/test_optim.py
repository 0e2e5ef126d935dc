"""Tests for microreg.optim: SGD and Adam against torch.optim, by hand, and on bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from microreg import DomainError, Value
from microreg.optim import SGD, Adam

X = [0.5, -1.0, 2.0, 1.5]
Y = [1.0, -2.0, 3.5, 2.0]
START = [0.3, -0.8, 1.2]

CONFIGS = [
    (SGD, "SGD", {"lr": 0.05}),
    (SGD, "SGD", {"lr": 0.05, "momentum": 0.9}),
    (SGD, "SGD", {"lr": 0.05, "weight_decay": 0.1}),
    (SGD, "SGD", {"lr": 0.02, "momentum": 0.5, "weight_decay": 0.01}),
    (Adam, "Adam", {"lr": 0.1}),
    (Adam, "Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6}),
    (Adam, "Adam", {"lr": 0.05, "weight_decay": 0.1}),
]


def loss_of(w, b, c, ops):
    """A small nonlinear regression: mean of (c * tanh(w x + b) - y)^2, in either engine."""
    total = 0.0
    for x, y in zip(X, Y):
        err = c * ops(w * x + b) - y
        total = total + err * err
    return total * (1.0 / len(X))


def run_ours(cls, options, steps):
    params = [Value(v) for v in START]
    opt = cls(params, **options)
    history = []
    for _ in range(steps):
        loss = loss_of(*params, lambda v: v.tanh())
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append([p.data for p in params])
    return history


@pytest.mark.parametrize("cls, name, options", CONFIGS, ids=[f"{n}-{o}" for _, n, o in CONFIGS])
def test_updates_match_torch_optim(cls, name, options):
    torch = pytest.importorskip("torch")
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in START]
    opt = getattr(torch.optim, name)(params, **options)
    expected = []
    for _ in range(20):
        loss = loss_of(*params, torch.tanh)
        opt.zero_grad()
        loss.backward()
        opt.step()
        expected.append([p.item() for p in params])
    np.testing.assert_allclose(run_ours(cls, options, 20), expected, rtol=1e-12, atol=1e-14)


def test_sgd_step_is_minus_lr_times_grad():
    p = Value(1.0)
    p.grad = 4.0
    SGD([p], lr=0.25).step()
    assert p.data == 0.0


def test_sgd_momentum_accumulates_the_gradient():
    p = Value(0.0)
    opt = SGD([p], lr=1.0, momentum=0.5)
    p.grad = 1.0
    opt.step()  # buf = 1
    opt.step()  # buf = 0.5 * 1 + 1 = 1.5
    assert p.data == -2.5


def test_sgd_weight_decay_adds_decay_times_parameter():
    p = Value(2.0)
    p.grad = 0.0
    SGD([p], lr=0.5, weight_decay=0.1).step()
    assert p.data == pytest.approx(2.0 - 0.5 * 0.1 * 2.0)


@pytest.mark.parametrize("grad", [1e-6, -3.0, 250.0])
def test_adam_first_step_is_lr_times_sign_thanks_to_bias_correction(grad):
    p = Value(1.0)
    p.grad = grad
    Adam([p], lr=0.1, eps=0.0).step()
    assert p.data == pytest.approx(1.0 - 0.1 * np.sign(grad), rel=1e-12)


def test_zero_grad_resets_gradients():
    params = [Value(1.0), Value(np.array([1.0, 2.0]))]
    params[0].grad, params[1].grad = 3.0, np.array([1.0, 1.0])
    SGD(params, lr=0.1).zero_grad()
    assert params[0].grad == 0.0 and np.all(params[1].grad == 0.0)


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_array_parameter_updates_like_scalar_parameters(cls):
    options = {"lr": 0.1, "momentum": 0.9} if cls is SGD else {"lr": 0.1}
    vec, scalars = Value(np.array(START)), [Value(v) for v in START]
    opt_vec, opt_scalars = cls([vec], **options), cls(scalars, **options)
    for step in range(3):
        grads = np.array(START) * (step + 1) - 0.4
        vec.grad = grads.copy()
        for s, g in zip(scalars, grads):
            s.grad = float(g)
        opt_vec.step()
        opt_scalars.step()
    np.testing.assert_allclose(vec.data, [s.data for s in scalars], rtol=1e-15)


@pytest.mark.parametrize("make, message", [
    (lambda: SGD([], lr=0.1), "SGD got an empty list of parameters"),
    (lambda: SGD([1.0], lr=0.1), "SGD takes Values as parameters, got 1.0"),
    (lambda: SGD([Value(1.0)], lr=-0.1), r"SGD: lr must be >= 0.0, got -0.1"),
    (lambda: SGD([Value(1.0)], lr=float("nan")), "SGD: lr must be"),
    (lambda: SGD([Value(1.0)], lr=0.1, momentum=-1), "SGD: momentum must be >= 0.0"),
    (lambda: Adam([Value(1.0)], betas=(0.9, 1.0)), r"Adam: beta2 must be in \[0.0, 1.0\), got 1.0"),
    (lambda: Adam([Value(1.0)], betas=(0.9,)), "Adam: betas must be a pair"),
    (lambda: Adam([Value(1.0)], eps=-1e-8), "Adam: eps must be >= 0.0"),
    (lambda: Adam([Value(1.0)], lr="fast"), "Adam: lr must be a number, got 'fast'"),
])
def test_bad_hyperparameters_are_named(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


STEPS_THAT_OVERFLOW = {
    "SGD, huge lr": (lambda ps: SGD(ps, lr=1e308), 10.0),
    "SGD momentum, huge grad": (lambda ps: SGD(ps, lr=1.0, momentum=0.9), 1.7e308),
    "Adam, squared grad overflows": (lambda ps: Adam(ps, lr=0.1), 1e200),  # v = inf, so the step itself is 0
}


@pytest.mark.parametrize("kind", ["scalar", "array"])
@pytest.mark.parametrize("case", STEPS_THAT_OVERFLOW)
def test_a_step_that_would_write_a_non_finite_number_is_a_domain_error_and_changes_nothing(case, kind):
    make, grad = STEPS_THAT_OVERFLOW[case]
    p = Value(-1.7e308 if kind == "scalar" else [-1.7e308, 1.0])
    p.grad = grad if kind == "scalar" else np.array([grad, 0.0])
    opt = make([p])
    state = {k: v for k, v in vars(opt).items() if k != "params"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DomainError, match=rf"{type(opt).__name__}.step\(\).*parameter 0.*not finite"):
            opt.step()
    np.testing.assert_array_equal(p.data, -1.7e308 if kind == "scalar" else [-1.7e308, 1.0])
    assert repr({k: v for k, v in vars(opt).items() if k != "params"}) == repr(state)


def test_an_infinite_hyperparameter_is_refused():
    with pytest.raises(ValueError, match="SGD: lr must be >= 0.0, got inf"):
        SGD([Value(1.0)], lr=float("inf"))


def test_sgd_momentum_survives_grads_zeroed_in_place():
    w = Value(np.array([1.0, -2.0, 0.5]))
    opt = SGD([w], lr=0.1, momentum=0.9)
    for _ in range(2):
        w.grad[...] = 0
        ((w * w) * np.array([1.0, 2.0, 3.0])).sum().backward()
        opt.step()
    np.testing.assert_allclose(w.data, [0.46, 0.0, -0.19], atol=1e-15)  # torch.optim.SGD's result


@pytest.mark.parametrize("cls, name, options", CONFIGS, ids=[f"{n}-{o}" for _, n, o in CONFIGS])
def test_optimizer_state_shares_no_memory_with_grads_or_data(cls, name, options):
    w = Value(np.array(START))
    opt = cls([w], **options)
    for _ in range(2):
        w.grad = np.array(START) - 0.4
        opt.step()
        for state in (v for k, v in vars(opt).items() if k != "params" and isinstance(v, list)):
            for x in state:
                assert not np.shares_memory(x, w.grad) and not np.shares_memory(x, w.data)
