"""The core primitives of microreg, shipped as a plugin like any other (entry point ``microreg_ops``).

Each op is a forward and a vjp written against ``xp``; the vjp receives the output too, so exp,
tanh and sigmoid reuse it. Convention at non-differentiable points: the vjp takes the value PyTorch
uses (relu'(0) = 0), declared as a ``Kink`` and checked by the audit.
"""

from __future__ import annotations

from microreg import Kink, Op, hookimpl


def add(xp, x, y):
    return x + y


def add_vjp(xp, g, out, x, y):
    return g, g


def sub(xp, x, y):
    return x - y


def sub_vjp(xp, g, out, x, y):
    return g, -g


def mul(xp, x, y):
    return x * y


def mul_vjp(xp, g, out, x, y):
    return g * y, g * x


def div(xp, x, y):
    return x / y


def div_vjp(xp, g, out, x, y):
    return g / y, -g * out / y


def neg(xp, x):
    return -x


def neg_vjp(xp, g, out, x):
    return (-g,)


def pow(xp, x, *, n):
    """x to a constant power n; a Value exponent is exp(n * log(x)), see Value.__pow__."""
    return xp.pow(x, n)


def pow_vjp(xp, g, out, x, *, n):
    if n == 0:  # x ** 0 is constant, even at x = 0 where x ** (n - 1) is undefined (as PyTorch gives it)
        return (None,)
    return (g * n * xp.pow(x, n - 1),)


def relu(xp, x):
    return xp.where(x > 0, x, 0)


def relu_vjp(xp, g, out, x):
    return (xp.where(x > 0, g, 0),)


def tanh(xp, x):
    return xp.tanh(x)


def tanh_vjp(xp, g, out, x):
    return (g * (1 - out * out),)


def sigmoid(xp, x):
    """1 / (1 + exp(-x)), through exp(-|x|) so that no finite input overflows."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_vjp(xp, g, out, x):
    return (g * out * (1 - out),)


def exp(xp, x):
    return xp.exp(x)


def exp_vjp(xp, g, out, x):
    return (g * out,)


def log(xp, x):
    return xp.log(x)


def log_vjp(xp, g, out, x):
    return (g / x,)


OPS = (
    Op("add", add, add_vjp),
    Op("sub", sub, sub_vjp),
    Op("mul", mul, mul_vjp),
    Op("div", div, div_vjp, domains=("real", "nonzero")),
    Op("neg", neg, neg_vjp),
    Op("pow", pow, pow_vjp, domains=("positive",), examples=({"n": 2}, {"n": 3}, {"n": -1}, {"n": 0.5}, {"n": 2.5}, {"n": 0})),
    Op("relu", relu, relu_vjp, kinks=(Kink(0.0, 0.0),)),
    Op("tanh", tanh, tanh_vjp),
    Op("sigmoid", sigmoid, sigmoid_vjp),
    Op("exp", exp, exp_vjp),
    Op("log", log, log_vjp, domains=("positive",)),
)


@hookimpl
def microreg_ops():
    return OPS
