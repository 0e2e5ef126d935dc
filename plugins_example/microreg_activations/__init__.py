"""Custom activations for microreg, shipped as a third-party plugin (entry point ``activations``).

Each op is a named forward and vjp written only with ``xp`` and operators, so it runs on floats,
NumPy arrays, SymPy symbols (the audit) and ``Value``s (second derivatives). Three rules keep them
finite and accurate to a few ulps for every finite input (``microreg audit`` measures it):
``xp.where`` evaluates both of its branches, so neither may overflow (elu takes ``expm1`` of
min(x, 0), never of x); exponentials only ever see ``-|x|``; and no formula subtracts two nearly
equal numbers (``log1p(e)``, not ``log(1 + e)``; ``sigmoid(-x)``, not ``1 - sigmoid(x)``).

Convention at non-differentiable points: the vjp takes the value PyTorch's backward takes there,
declared as a ``Kink`` (for the default static parameters) and checked by ``microreg audit``.
"""

from __future__ import annotations

import math

from microreg import Kink, Op, hookimpl

GELU_C = math.sqrt(2.0 / math.pi)
GELU_A = 0.044715
GELU_LIMIT = 50.0  # |x| beyond which gelu's tanh has saturated far below float64's resolution


def _log1p_exp(xp, z):
    """log(1 + exp(z)), softplus without a threshold, shared with mish: z + log1p(exp(-z)) for z > 0, log1p(exp(z))
    else, each branch on an input clamped by a where switching where the outer one does (no exp that overflows).

    mish's vjp calls this, so its derivative is what mish's second derivative takes. At z = 0 it is exp(0) / 2 = 1/2,
    from one smooth branch. The form relu(z) + log1p(exp(-|z|)) takes relu'(0) - |z|'(0) / 2 there, right only if
    the two conventions at 0 agree (they do not: microreg's |z|' is 1 at 0, torch's 0): mish''(0) came out 0 or
    0.32 for 0.64. Written z/2 + |z|/2 + ..., the derivatives of the halves cancel for z < 0, and lose what is
    added between them (0.4% of mish'' at z = -37).
    """
    pos = z > 0
    return xp.where(pos, z + xp.log1p(xp.exp(-xp.where(pos, z, 0.0))), xp.log1p(xp.exp(xp.where(pos, 0.0, z))))


def softplus(xp, x, *, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold, as PyTorch's Softplus(beta, threshold).

    Written as (relu(z) + log1p(exp(-|z|))) / beta, z = beta x: no finite input overflows, and the
    result keeps its precision where it is tiny (softplus(-40) is 4.248354255291589e-18, not 0). At
    x = threshold / beta it steps by log1p(exp(-threshold)) / beta (2e-9 by default) and the vjp gives
    sigmoid(threshold), PyTorch's branch below the threshold.
    """
    z = beta * x
    return xp.where(z > threshold, x, _log1p_exp(xp, z) / beta)


def softplus_vjp(xp, g, out, x, *, beta=1.0, threshold=20.0):
    return (xp.where(beta * x > threshold, g, g * xp.sigmoid(beta * x)),)


def silu(xp, x):
    """x * sigmoid(x), also called swish (with beta = 1)."""
    return x * xp.sigmoid(x)


def silu_vjp(xp, g, out, x):
    # s + x s (1 - s), with 1 - s as sigmoid(-x): computed as 1 - s it is 0 for x > 37, a 14-ulp error
    return (g * (xp.sigmoid(x) + out * xp.sigmoid(-x)),)


def _gelu_z(x):
    """2u = 2 sqrt(2/pi) (x + 0.044715 x^3), the argument of gelu's sigmoid."""
    return 2 * GELU_C * (x + GELU_A * x * x * x)


def gelu(xp, x):
    """The tanh approximation of GELU: x/2 * (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3).

    Written x * sigmoid(2u), the same function: 1 + tanh(u) cancels to 0 for x below about -5. Beyond
    |x| = GELU_LIMIT it is x or 0: sigmoid(2u) is there within exp(-9000) of 1 or 0, which changes no
    float64 result, and x^3 no longer overflows into the vjp's 0 * inf.
    """
    return xp.where(x < -GELU_LIMIT, 0.0, xp.where(x > GELU_LIMIT, x, x * xp.sigmoid(_gelu_z(x))))


def gelu_vjp(xp, g, out, x):
    z = _gelu_z(x)
    s = xp.sigmoid(z)
    inside = s + x * s * xp.sigmoid(-z) * (2 * GELU_C * (1 + 3 * GELU_A * x * x))  # sigmoid' = s (1 - s), 1 - s = sigmoid(-z)
    return (g * xp.where(x < -GELU_LIMIT, 0.0, xp.where(x > GELU_LIMIT, 1.0, inside)),)


def elu(xp, x, *, alpha=1.0):
    """x for x > 0, alpha * (exp(x) - 1) otherwise. At 0 the vjp gives alpha (PyTorch's x <= 0 branch).

    The negative branch is alpha * expm1(min(x, 0)): exp(x) would overflow for large x (both branches
    are evaluated on arrays), and exp(x) - 1 cancels to 0 for tiny x.
    """
    return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0.0)))


def elu_vjp(xp, g, out, x, *, alpha=1.0):
    return (xp.where(x > 0, g, g * alpha * xp.exp(xp.minimum(x, 0.0))),)  # not out + alpha: it cancels for x << 0


def leaky_relu(xp, x, *, negative_slope=0.01):
    """x for x > 0, negative_slope * x otherwise. At 0 the vjp gives negative_slope, as PyTorch does."""
    return xp.where(x > 0, x, negative_slope * x)


def leaky_relu_vjp(xp, g, out, x, *, negative_slope=0.01):
    return (xp.where(x > 0, g, g * negative_slope),)


def softsign(xp, x):
    """x / (1 + |x|)."""
    return x / (1 + xp.abs(x))


def softsign_vjp(xp, g, out, x):
    """g / (1 + |x|)**2, dividing twice: d * d overflows for |x| > 1.3e154, where the derivative is a float up to 4e161."""
    d = 1 + xp.abs(x)
    return (g / d / d,)


def mish(xp, x):
    """x * tanh(softplus(x)), softplus without the switch to x at a threshold (PyTorch's Mish has none)."""
    return x * xp.tanh(_log1p_exp(xp, x))


def mish_vjp(xp, g, out, x):
    t = xp.tanh(_log1p_exp(xp, x))
    return (g * (t + x * (1 - t * t) * xp.sigmoid(x)),)


def hardtanh(xp, x, *, min_val=-1.0, max_val=1.0):
    """x clamped to [min_val, max_val]. At min_val and max_val the vjp gives 0, as PyTorch does."""
    return xp.where(x < min_val, min_val, xp.where(x > max_val, max_val, x))


def hardtanh_vjp(xp, g, out, x, *, min_val=-1.0, max_val=1.0):
    return (xp.where(x <= min_val, 0, xp.where(x >= max_val, 0, g)),)


OPS = (
    Op("softplus", softplus, softplus_vjp, kinks=(Kink(20.0, 1 / (1 + math.exp(-20.0))),),
       examples=({"beta": 1.0, "threshold": 20.0}, {"beta": 2.0, "threshold": 10.0}, {"beta": 0.5, "threshold": 30.0})),
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
