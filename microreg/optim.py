"""Optimizers that update Values from their gradients: SGD (momentum, weight decay) and Adam.

The updates follow ``torch.optim.SGD`` and ``torch.optim.Adam`` (default options) formula for formula,
so the same parameters, gradients and hyperparameters give the same new parameters; the tests check it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .value import DomainError, Value, zeros_like


class Optimizer:
    """Holds the parameters; ``zero_grad()`` resets their gradients, ``step()`` updates them."""

    def __init__(self, params: Iterable[Value], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__} got an empty list of parameters")
        for p in self.params:
            if not isinstance(p, Value):
                raise TypeError(f"{type(self).__name__} takes Values as parameters, got {p!r}")
        self.lr = _check(type(self).__name__, "lr", lr, 0.0, None)

    def zero_grad(self) -> None:
        """Set every parameter's grad to zero (of its data's shape), before the next backward()."""
        for p in self.params:
            p.grad = zeros_like(p.data)

    def step(self) -> None:
        """Update every parameter's data from its grad (each optimizer defines how)."""
        raise NotImplementedError

    def _gradients(self, weight_decay: float) -> list[Any]:
        """Each parameter's ``grad + weight_decay * data``, as arrays of the optimizer's own: never a parameter's
        ``.grad`` itself, which the user may zero in place (``p.grad[...] = 0``) while the state kept from it lives on."""
        return [p.grad + weight_decay * p.data if weight_decay else p.grad.copy() if type(p.grad) is np.ndarray else p.grad
                for p in self.params]

    def _update(self, data: list[Any], **state: list[Any]) -> None:
        """Set each parameter's data, and the optimizer's state, once all of it is known to be finite.

        Otherwise a DomainError names the parameter and nothing changes: a step never writes NaN or infinity.
        """
        for name, values in {"data": data, **state}.items():
            for i, x in enumerate(values):
                if not (math.isfinite(x) if type(x) is float else np.isfinite(x).all()):
                    raise DomainError(f"{type(self).__name__}.step(): the new {name} of parameter {i}, {self.params[i]!r}, "
                                      f"is not finite (lr={self.lr}): the gradient or the learning rate is too large")
        for p, x in zip(self.params, data):
            p.data = x
        for name, values in state.items():
            setattr(self, name, values)


class SGD(Optimizer):
    """Stochastic gradient descent: ``g = grad + weight_decay * p``; with momentum,
    ``buf = g`` on the first step and ``buf = momentum * buf + g`` after; ``p -= lr * buf``."""

    def __init__(self, params: Iterable[Value], lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.momentum = _check("SGD", "momentum", momentum, 0.0, None)
        self.weight_decay = _check("SGD", "weight_decay", weight_decay, 0.0, None)
        self.buffers: list[Any] = [None] * len(self.params)

    def step(self) -> None:
        with np.errstate(all="ignore"):  # _update checks every result, scalar or array
            gs = self._gradients(self.weight_decay)
            if self.momentum:
                gs = [g if buf is None else self.momentum * buf + g for buf, g in zip(self.buffers, gs)]
            data = [p.data - self.lr * g for p, g in zip(self.params, gs)]
        self._update(data, **({"buffers": gs} if self.momentum else {}))


class Adam(Optimizer):
    """Adam with bias correction: moments ``m``, ``v`` of ``g = grad + weight_decay * p``, and
    ``p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)`` at step t."""

    def __init__(self, params: Iterable[Value], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ValueError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}")
        self.beta1 = _check("Adam", "beta1", betas[0], 0.0, 1.0)
        self.beta2 = _check("Adam", "beta2", betas[1], 0.0, 1.0)
        self.eps = _check("Adam", "eps", eps, 0.0, None)
        self.weight_decay = _check("Adam", "weight_decay", weight_decay, 0.0, None)
        self.t = 0
        self.m: list[Any] = [zeros_like(p.data) for p in self.params]
        self.v: list[Any] = [zeros_like(p.data) for p in self.params]

    def step(self) -> None:
        t, b1, b2 = self.t + 1, self.beta1, self.beta2
        step_size = self.lr / (1 - b1**t)
        root_correction = (1 - b2**t) ** 0.5
        ms, vs, data = [], [], []
        with np.errstate(all="ignore"):  # _update checks every result, scalar or array
            for p, g, m, v in zip(self.params, self._gradients(self.weight_decay), self.m, self.v):
                m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
                try:
                    data.append(p.data - step_size * m / (v**0.5 / root_correction + self.eps))
                except ZeroDivisionError:  # 0 / 0 on floats (eps = 0, no gradient yet): NaN as on arrays, refused below
                    data.append(math.nan)
                ms.append(m)
                vs.append(v)
        self._update(data, m=ms, v=vs)
        self.t = t


def _check(owner: str, name: str, value: Any, low: float, high: float | None) -> float:
    """value as a float in [low, high) (no upper bound if high is None), or a ValueError naming it."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: {name} must be a number, got {value!r}") from None
    if not (low <= x and (high is None or x < high)) or not math.isfinite(x):
        bound = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{owner}: {name} must be {bound}, got {value!r}")
    return x
