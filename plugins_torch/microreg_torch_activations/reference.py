"""Every torch.nn activation microreg ships, beside PyTorch's own function and its exact value (mpmath, 200 bits).

For the comparison tests and the accuracy table in docs/activations.md (``python -m
microreg_torch_activations.reference`` prints it). PyTorch is imported only when asked for. Each
measurement is made once per process (``ours``, ``theirs``), so the tests and the table share it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np

from microreg import Value, registry
from microreg_torch_activations import SELU_ALPHA, SELU_SCALE

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
    "softplus": ({}, "Softplus()", "softplus", {}),
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


def _tanhshrink(x):
    """x - tanh(x), which is x^3/3 near 0: 2 |log2 x| more bits, so that the difference keeps PREC of its own."""
    with mpmath.extraprec(2 * max(0, -int(mpmath.log(abs(x), 2))) if x else 0):
        return x - mpmath.tanh(x)


def _phi(x):
    return x * mpmath.ncdf(x)


#: op name -> its exact value at an mpmath number (parameters as in CASES)
EXACT: dict[str, Callable[[Any], Any]] = {
    "elu": lambda x: x if x > 0 else mpmath.expm1(x),
    "celu": lambda x: x if x > 0 else 0.5 * mpmath.expm1(x / 0.5),
    "selu": lambda x: mpmath.mpf(SELU_SCALE) * (x if x > 0 else mpmath.mpf(SELU_ALPHA) * mpmath.expm1(x)),
    "gelu_exact": _phi,
    "gelu": lambda x: x * _sigmoid(2 * _GELU_C * (x + _GELU_A * x**3)),  # x/2 (1 + tanh(u)), which cancels below x = -20 even at PREC bits
    "silu": lambda x: x / (1 + mpmath.exp(-x)),
    "mish": lambda x: x * mpmath.tanh(mpmath.log1p(mpmath.exp(x))),
    "softplus": lambda x: x if x > 20 else mpmath.log1p(mpmath.exp(x)),  # PyTorch's threshold: x above 20
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
    "tanhshrink": _tanhshrink,
    "threshold": lambda x: x if x > 0.5 else -1,
}



def _sigmoid(x):
    return 1 / (1 + mpmath.exp(-x))


_GELU_C, _GELU_A = mpmath.mpf(math.sqrt(2 / math.pi)), mpmath.mpf(0.044715)


def _gelu_tanh_derivative(x):
    z = 2 * _GELU_C * (x + _GELU_A * x**3)  # (1 + tanh(z/2)) / 2 = sigmoid(z): no cancellation at PREC bits
    return _sigmoid(z) + x * _sigmoid(z) * _sigmoid(-z) * 2 * _GELU_C * (1 + 3 * _GELU_A * x * x)


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
    "softplus": lambda x: 1 if x > 20 else _sigmoid(x),
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


def kinks(name: str) -> tuple[float, ...]:
    """Where the registered op declares a kink in x (its Kinks, declared for the default parameters: at the same x
    with those of CASES)."""
    return tuple(kink.at[0] for kink in registry.get(name).kinks)


def points(name: str) -> np.ndarray:
    """The grid, without the op's kinks (where the derivative is a convention, checked separately)."""
    return np.array([x for x in GRID if x not in kinks(name)])


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


@dataclass(frozen=True)
class Measured:
    """One engine's value and derivative at each of ``xs``, and their errors in ulps against the exact ones."""

    xs: np.ndarray
    values: np.ndarray
    grads: np.ndarray
    value_ulps: np.ndarray
    grad_ulps: np.ndarray

    def worst(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The largest errors and where: ((value ulps, at x), (derivative ulps, at x))."""
        i, j = int(np.argmax(self.value_ulps)), int(np.argmax(self.grad_ulps))
        return (float(self.value_ulps[i]), float(self.xs[i])), (float(self.grad_ulps[j]), float(self.xs[j]))


@functools.cache
def exact(name: str) -> tuple[list, list]:
    """The exact value and derivative (mpmath numbers of PREC bits) at each of points(name)."""
    with mpmath.workprec(PREC):
        xs = [mpmath.mpf(float(x)) for x in points(name)]
        return [EXACT[name](x) for x in xs], [DERIVATIVE[name](x) for x in xs]


def condition(name: str, x: float, derivative: bool = False) -> float:
    """The condition number of the op's value (or derivative) at x: |x q'(x) / q(x)|, the relative error that
    rounding x alone causes, in units of x's own; as microreg.accuracy counts it (inf at a zero of q)."""
    q = DERIVATIVE[name] if derivative else EXACT[name]
    with mpmath.workprec(PREC):
        x_ = mpmath.mpf(x)
        value = q(x_)
        return float(abs(x_ * mpmath.diff(q, x_) / value)) if value else math.inf


def _measured(name: str, values: np.ndarray, grads: np.ndarray) -> Measured:
    xs, (f, df) = points(name), exact(name)
    with mpmath.workprec(PREC):
        value_ulps = [ulps(float(v), e) for v, e in zip(values, f)]
        grad_ulps = [ulps(float(g), e) for g, e in zip(grads, df)]
    return Measured(xs, values, grads, np.array(value_ulps), np.array(grad_ulps))


@functools.cache
def ours(name: str) -> Measured:
    """microreg's values and derivatives over points(name), and their errors."""
    return _measured(name, *microreg_values(name, points(name)))


@functools.cache
def theirs(name: str) -> Measured:
    """PyTorch's (float64) values and derivatives over points(name), and their errors."""
    return _measured(name, *torch_values(name, points(name)))


def apart(name: str) -> tuple[float, float]:
    """The largest distance between microreg and PyTorch, in ulps of PyTorch's value and derivative."""
    mine, torch = ours(name), theirs(name)
    with mpmath.workprec(PREC):
        value = max(ulps(float(a), mpmath.mpf(float(b))) for a, b in zip(mine.values, torch.values))
        grad = max(ulps(float(a), mpmath.mpf(float(b))) for a, b in zip(mine.grads, torch.grads))
    return value, grad


def _fmt(u: float) -> str:
    """An error in ulps to two significant figures or so: 0.50, 26, 9.0e15, inf."""
    if not math.isfinite(u):
        return "inf"
    return f"{u:.2f}" if u < 10 else f"{u:.0f}" if u < 1e4 else f"{u:.1e}".replace("e+", "e")


def table() -> str:
    """The accuracy table of docs/activations.md, in Markdown: one row per activation of CASES."""
    rows = ["| microreg | torch.nn | gradient at a kink | microreg vs exact: value, derivative | "
            "torch vs exact: value, derivative | microreg vs torch: value, derivative |", "|---|---|---|---|---|---|"]
    for name, (params, module, _, _) in CASES.items():
        args = [f"x, {PRELU_SLOPE}"] if name == "prelu" else [f"{k}={v!r}" for k, v in params.items()]
        call = f"{name}({', '.join(args)})" if args else name
        at = ", ".join(f"{g:.10g} at {k:g}" for k, g in zip(kinks(name), microreg_values(name, np.array(kinks(name)))[1]))
        (mine_v, _), (mine_g, _) = ours(name).worst()
        (torch_v, _), (torch_g, _) = theirs(name).worst()
        cells = [f"`{call}`", f"`{module}`", at or "smooth", *(f"{_fmt(v)}, {_fmt(g)}" for v, g in
                                                              ((mine_v, mine_g), (torch_v, torch_g), apart(name)))]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def ops() -> list[str]:
    """Every activation of CASES that is registered (both plugins installed)."""
    return [name for name in CASES if name in registry]


if __name__ == "__main__":
    print(table())
