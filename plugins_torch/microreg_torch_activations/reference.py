"""Every torch.nn activation microreg ships, beside PyTorch's own function and its exact value (mpmath, 200 bits).

For the comparison tests and the accuracy table in docs/activations.md (``python -m
microreg_torch_activations.reference`` prints it). PyTorch is imported only when asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np

from microreg import Value, registry

PREC = 200

#: microreg op (with static parameters) -> (torch.nn class as written in the docs, torch.nn.functional name, keyword arguments)
CASES: dict[str, tuple[dict[str, Any], str, str, dict[str, Any]]] = {
    "elu": ({}, "ELU()", "elu", {}),
    "celu": ({"alpha": 0.5}, "CELU(alpha=0.5)", "celu", {"alpha": 0.5}),
    "selu": ({}, "SELU()", "selu", {}),
    "gelu_exact": ({}, "GELU()", "gelu", {}),
    "gelu": ({}, "GELU(approximate='tanh')", "gelu", {"approximate": "tanh"}),
    "silu": ({}, "SiLU()", "silu", {}),
    "mish": ({}, "Mish()", "mish", {}),
    "softplus": ({}, "Softplus(threshold=40)", "softplus", {"threshold": 40.0}),
    "softsign": ({}, "Softsign()", "softsign", {}),
    "logsigmoid": ({}, "LogSigmoid()", "logsigmoid", {}),
    "hardtanh": ({}, "Hardtanh()", "hardtanh", {}),
    "relu6": ({}, "ReLU6()", "relu6", {}),
    "hardsigmoid": ({}, "Hardsigmoid()", "hardsigmoid", {}),
    "hardswish": ({}, "Hardswish()", "hardswish", {}),
    "leaky_relu": ({"negative_slope": 0.2}, "LeakyReLU(0.2)", "leaky_relu", {"negative_slope": 0.2}),
    "prelu": ({}, "PReLU(init=0.25)", "prelu", {}),
    "softshrink": ({}, "Softshrink()", "softshrink", {}),
    "hardshrink": ({}, "Hardshrink()", "hardshrink", {}),
    "tanhshrink": ({}, "Tanhshrink()", "tanhshrink", {}),
    "threshold": ({"threshold": 0.5, "value": -1.0}, "Threshold(0.5, -1.0)", "threshold", {"threshold": 0.5, "value": -1.0}),
}
PRELU_SLOPE = 0.25  # prelu's second input, fixed for the grid


def _phi(x):
    return x * mpmath.ncdf(x)


#: op name -> its exact value at an mpmath number (parameters as in CASES)
EXACT: dict[str, Callable[[Any], Any]] = {
    "elu": lambda x: x if x > 0 else mpmath.expm1(x),
    "celu": lambda x: x if x > 0 else 0.5 * mpmath.expm1(x / 0.5),
    "selu": lambda x: mpmath.mpf(SELU_SCALE) * (x if x > 0 else mpmath.mpf(SELU_ALPHA) * mpmath.expm1(x)),
    "gelu_exact": _phi,
    "gelu": lambda x: x / 2 * (1 + mpmath.tanh(mpmath.mpf(math.sqrt(2 / math.pi)) * (x + mpmath.mpf(0.044715) * x**3))),
    "silu": lambda x: x / (1 + mpmath.exp(-x)),
    "mish": lambda x: x * mpmath.tanh(mpmath.log1p(mpmath.exp(x))),
    "softplus": lambda x: mpmath.log1p(mpmath.exp(x)),
    "softsign": lambda x: x / (1 + abs(x)),
    "logsigmoid": lambda x: -mpmath.log1p(mpmath.exp(-x)),
    "hardtanh": lambda x: min(max(x, -1), 1),
    "relu6": lambda x: min(max(x, 0), 6),
    "hardsigmoid": lambda x: min(max(x + 3, 0), 6) / 6,
    "hardswish": lambda x: x * min(max(x + 3, 0), 6) / 6,
    "leaky_relu": lambda x: x if x > 0 else 0.2 * x,
    "prelu": lambda x: x if x > 0 else PRELU_SLOPE * x,
    "softshrink": lambda x: x - 0.5 if x > 0.5 else x + 0.5 if x < -0.5 else 0,
    "hardshrink": lambda x: x if abs(x) > 0.5 else 0,
    "tanhshrink": lambda x: x - mpmath.tanh(x),
    "threshold": lambda x: x if x > 0.5 else -1,
}



def _sigmoid(x):
    return 1 / (1 + mpmath.exp(-x))


_GELU_C, _GELU_A = mpmath.mpf(math.sqrt(2 / math.pi)), mpmath.mpf(0.044715)


def _gelu_tanh_derivative(x):
    t = mpmath.tanh(_GELU_C * (x + _GELU_A * x**3))
    return (1 + t) / 2 + x / 2 * (1 - t * t) * _GELU_C * (1 + 3 * _GELU_A * x * x)


def _mish_derivative(x):
    t = mpmath.tanh(mpmath.log1p(mpmath.exp(x)))
    return t + x * (1 - t * t) * _sigmoid(x)


#: op name -> its exact derivative at an mpmath number (away from kinks)
DERIVATIVE: dict[str, Callable[[Any], Any]] = {
    "elu": lambda x: 1 if x > 0 else mpmath.exp(x),
    "celu": lambda x: 1 if x > 0 else mpmath.exp(x / 0.5),
    "selu": lambda x: mpmath.mpf(SELU_SCALE) * (1 if x > 0 else mpmath.mpf(SELU_ALPHA) * mpmath.exp(x)),
    "gelu_exact": lambda x: mpmath.ncdf(x) + x * mpmath.npdf(x),
    "gelu": _gelu_tanh_derivative,
    "silu": lambda x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x))),
    "mish": _mish_derivative,
    "softplus": _sigmoid,
    "softsign": lambda x: 1 / (1 + abs(x)) ** 2,
    "logsigmoid": lambda x: _sigmoid(-x),
    "hardtanh": lambda x: 1 if -1 < x < 1 else 0,
    "relu6": lambda x: 1 if 0 < x < 6 else 0,
    "hardsigmoid": lambda x: mpmath.mpf(1) / 6 if -3 < x < 3 else 0,
    "hardswish": lambda x: 0 if x < -3 else 1 if x > 3 else (2 * x + 3) / 6,
    "leaky_relu": lambda x: 1 if x > 0 else mpmath.mpf(0.2),
    "prelu": lambda x: 1 if x > 0 else mpmath.mpf(PRELU_SLOPE),
    "softshrink": lambda x: 1 if abs(x) > 0.5 else 0,
    "hardshrink": lambda x: 1 if abs(x) > 0.5 else 0,
    "tanhshrink": lambda x: mpmath.tanh(x) ** 2,
    "threshold": lambda x: 1 if x > 0.5 else 0,
}
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
KINKS = {"elu": (0,), "celu": (0,), "selu": (0,), "hardtanh": (-1, 1), "relu6": (0, 6), "hardsigmoid": (-3, 3),
         "hardswish": (-3, 3), "leaky_relu": (0,), "prelu": (0,), "softshrink": (-0.5, 0.5), "hardshrink": (-0.5, 0.5),
         "threshold": (0.5,)}
_MAGNITUDES = (5e-324, 1e-310, 1e-300, 1e-200, 1e-100, 1e-20, 1e-8, 1e-4, 0.01, 0.1, 0.3, 0.7, 1.3, 2.2, 3.7, 6.1,
               9.9, 15.0, 21.0, 30.0, 37.0, 37.7, 38.3, 40.0, 60.0, 100.0, 300.0, 700.0, 1000.0)
#: |x| up to 1e3, the tiny and subnormal range, and every fifth of [-40, 40], both sides of each kink
GRID = np.unique(np.concatenate([[s * m for m in _MAGNITUDES for s in (-1.0, 1.0)], np.linspace(-40.0, 40.0, 401)]))


def ulps(got: float, exact: Any) -> float:
    """|got - exact| in units in the last place of the exact value rounded to float64 (subnormal ulps below 2.2e-308)."""
    want = float(exact)
    if not math.isfinite(got):
        return math.inf
    err = abs(mpmath.mpf(got) - exact)
    return float(err / max(math.ulp(abs(want)), 5e-324)) if want else (0.0 if got == 0 else math.inf)


def points(name: str) -> np.ndarray:
    """The grid, without the op's kinks (where the derivative is a convention, checked separately)."""
    return np.array([x for x in GRID if x not in KINKS.get(name, ())])


def microreg_values(name: str, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The op's value and derivative at each point, on microreg's scalar engine."""
    params = CASES[name][0]
    out, grads = [], []
    for x in xs:
        v = Value(float(x))
        y = getattr(v, name)(PRELU_SLOPE, **params) if name == "prelu" else getattr(v, name)(**params)
        y.backward()
        out.append(y.data)
        grads.append(v.grad)
    return np.array(out), np.array(grads)


def torch_values(name: str, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's value and derivative at each point, float64."""
    import torch

    _, _, functional, kwargs = CASES[name]
    t = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    fn = getattr(torch.nn.functional, functional)
    out = fn(t, torch.tensor([PRELU_SLOPE], dtype=torch.float64)) if name == "prelu" else fn(t, **kwargs)
    (g,) = torch.autograd.grad(out.sum(), t)
    return out.detach().numpy(), g.numpy()


def worst(name: str, values: tuple[np.ndarray, np.ndarray], xs: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """The worst error in ulps against the exact value, and where: ((value ulps, at x), (derivative ulps, at x))."""
    f, df = EXACT[name], DERIVATIVE[name]
    with mpmath.workprec(PREC):
        value_errs = [(ulps(float(v), f(mpmath.mpf(float(x)))), float(x)) for x, v in zip(xs, values[0])]
        grad_errs = [(ulps(float(g), df(mpmath.mpf(float(x)))), float(x)) for x, g in zip(xs, values[1])]
    return max(value_errs), max(grad_errs)


def ops() -> list[str]:
    """Every activation of CASES that is registered (both plugins installed)."""
    return [name for name in CASES if name in registry]
