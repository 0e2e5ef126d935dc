"""Custom activations for microreg, shipped as a third-party plugin (entry point ``activations``).

Each op is a named forward and vjp written only with ``xp`` and operators, so it runs on floats,
NumPy arrays, SymPy symbols (the audit) and ``Value``s (second derivatives). Two rules keep them
finite for every finite input: ``xp.where`` evaluates both of its branches, so neither may overflow
(elu takes ``exp`` of min(x, 0), never of x); and exponentials only ever see ``-|x|``.

Convention at non-differentiable points: the vjp takes the value PyTorch's backward takes there,
declared as a ``Kink`` (for the default static parameters) and checked by ``microreg audit``.
"""

from __future__ import annotations

import math

from microreg import Kink, Op, hookimpl

GELU_C = math.sqrt(2.0 / math.pi)
GELU_A = 0.044715


def softplus(xp, x):
    """log(1 + exp(x)), written as relu(x) + log(1 + exp(-|x|)) so that no finite input overflows."""
    return xp.relu(x) + xp.log(1 + xp.exp(-xp.abs(x)))


def softplus_vjp(xp, g, out, x):
    return (g * xp.sigmoid(x),)


def silu(xp, x):
    """x * sigmoid(x), also called swish (with beta = 1)."""
    return x * xp.sigmoid(x)


def silu_vjp(xp, g, out, x):
    s = xp.sigmoid(x)
    return (g * (s + out * (1 - s)),)


def gelu(xp, x):
    """The tanh approximation of GELU: x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))."""
    return 0.5 * x * (1 + xp.tanh(GELU_C * (x + GELU_A * x * x * x)))


def gelu_vjp(xp, g, out, x):
    t = xp.tanh(GELU_C * (x + GELU_A * x * x * x))
    return (g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * GELU_A * x * x)),)


def elu(xp, x, *, alpha=1.0):
    """x for x > 0, alpha * (exp(x) - 1) otherwise. At 0 the vjp gives alpha (PyTorch's x <= 0 branch).

    The negative branch takes exp(min(x, 0)) = exp(-relu(-x)), since exp(x) overflows for large x.
    """
    return xp.where(x > 0, x, alpha * (xp.exp(-xp.relu(-x)) - 1))


def elu_vjp(xp, g, out, x, *, alpha=1.0):
    return (xp.where(x > 0, g, g * (out + alpha)),)


def leaky_relu(xp, x, *, negative_slope=0.01):
    """x for x > 0, negative_slope * x otherwise. At 0 the vjp gives negative_slope, as PyTorch does."""
    return xp.where(x > 0, x, negative_slope * x)


def leaky_relu_vjp(xp, g, out, x, *, negative_slope=0.01):
    return (xp.where(x > 0, g, g * negative_slope),)


def softsign(xp, x):
    """x / (1 + |x|)."""
    return x / (1 + xp.abs(x))


def softsign_vjp(xp, g, out, x):
    d = 1 + xp.abs(x)
    return (g / (d * d),)


def mish(xp, x):
    """x * tanh(softplus(x))."""
    return x * xp.tanh(xp.softplus(x))


def mish_vjp(xp, g, out, x):
    t = xp.tanh(xp.softplus(x))
    return (g * (t + x * (1 - t * t) * xp.sigmoid(x)),)


def hardtanh(xp, x, *, min_val=-1.0, max_val=1.0):
    """x clamped to [min_val, max_val]. At min_val and max_val the vjp gives 0, as PyTorch does."""
    return xp.where(x < min_val, min_val, xp.where(x > max_val, max_val, x))


def hardtanh_vjp(xp, g, out, x, *, min_val=-1.0, max_val=1.0):
    return (xp.where(x <= min_val, 0, xp.where(x >= max_val, 0, g)),)


OPS = (
    Op("softplus", softplus, softplus_vjp),
    Op("silu", silu, silu_vjp),
    Op("gelu", gelu, gelu_vjp),
    Op("elu", elu, elu_vjp, kinks=(Kink(0.0, 1.0),), examples=({"alpha": 1.0}, {"alpha": 0.5})),
    Op("leaky_relu", leaky_relu, leaky_relu_vjp, kinks=(Kink(0.0, 0.01),),
       examples=({"negative_slope": 0.01}, {"negative_slope": 0.2})),
    Op("softsign", softsign, softsign_vjp),
    Op("mish", mish, mish_vjp),
    Op("hardtanh", hardtanh, hardtanh_vjp, kinks=(Kink(-1.0, 0.0), Kink(1.0, 0.0)),
       examples=({"min_val": -1.0, "max_val": 1.0}, {"min_val": -2.0, "max_val": 0.5})),
)


@hookimpl
def microreg_ops():
    return OPS
