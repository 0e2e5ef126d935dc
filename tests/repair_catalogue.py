"""The repair catalogue: ops written as a textbook writes them, proved but inaccurate in float64, for tests/test_rewrite.py.

Each is a naive-but-right rule: the audit proves it and finds it inaccurate (in its forward, its vjp, or the jvp it
declares for forward mode). ``UNREPAIRED`` lists those the rewrite rules cannot yet repair, with the reason.
"""

from __future__ import annotations

from microreg import Kink, Op


def sigmoid(xp, x):
    return 1 / (1 + xp.exp(-x))


def sigmoid_vjp(xp, g, out, x):
    return (g * out * (1 - out),)  # the old sigmoid vjp


def tanh(xp, x):
    return xp.tanh(x)


def tanh_vjp(xp, g, out, x):
    return (g * (1 - out * out),)  # the old tanh vjp


def tanh_by_sigmoid(xp, x):
    return 2 / (1 + xp.exp(-2 * x)) - 1


def tanh_by_sigmoid_vjp(xp, g, out, x):
    return (g * (1 - out * out),)


def softplus(xp, x):
    return xp.log(1 + xp.exp(x))


def softplus_vjp(xp, g, out, x):
    return (g * xp.exp(x) / (1 + xp.exp(x)),)


def softplus_beta(xp, x, *, beta=1.0):
    return xp.log(1 + xp.exp(beta * x)) / beta


def softplus_beta_vjp(xp, g, out, x, *, beta=1.0):
    return (g / (1 + xp.exp(-beta * x)),)


def swish(xp, x, *, beta=1.0):
    return x / (1 + xp.exp(-beta * x))


def swish_vjp(xp, g, out, x, *, beta=1.0):
    s = 1 / (1 + xp.exp(-beta * x))
    return (g * (s + beta * out * (1 - s)),)


def swish_by_out(xp, x):
    return x / (1 + xp.exp(-x))


def swish_by_out_vjp(xp, g, out, x):
    s = out / x  # out / x: 0 / 0 at x = 0, and out underflows before x does
    return (g * (s + out * (1 - s)),)


def logsigmoid(xp, x):
    return -xp.log(1 + xp.exp(-x))


def logsigmoid_vjp(xp, g, out, x):
    return (g / (1 + xp.exp(x)),)


def mish(xp, x):
    return x * xp.tanh(xp.log(1 + xp.exp(x)))


def mish_vjp(xp, g, out, x):
    sp = xp.log(1 + xp.exp(x))
    t = xp.tanh(sp)
    return (g * (t + x * (1 - t * t) * xp.exp(x) / (1 + xp.exp(x))),)


def gelu(xp, x):
    return x * (1 + xp.erf(x / xp.sqrt(2))) / 2


def gelu_vjp(xp, g, out, x):
    return (g * ((1 + xp.erf(x / xp.sqrt(2))) / 2 + x * xp.exp(-x * x / 2) / xp.sqrt(2 * xp.pi)),)


def softsign(xp, x):
    return x / (1 + xp.sqrt(x * x))


def softsign_vjp(xp, g, out, x):
    return (g / ((1 + xp.sqrt(x * x)) * (1 + xp.sqrt(x * x))),)


def div(xp, a, b):
    return a / b


def div_vjp(xp, g, out, a, b):
    return (g / b, -g * a / (b * b))


def hypot(xp, a, b):
    return xp.sqrt(a * a + b * b)


def hypot_vjp(xp, g, out, a, b):
    return (g * a / out, g * b / out)


def isru(xp, x):
    return x / xp.sqrt(1 + x * x)


def isru_vjp(xp, g, out, x):
    r = 1 / xp.sqrt(1 + x * x)
    return (g * r * r * r,)


def elu(xp, x, *, alpha=1.0):
    return xp.where(x > 0, x, alpha * (xp.exp(x) - 1))


def elu_vjp(xp, g, out, x, *, alpha=1.0):
    return (xp.where(x > 0, g, g * alpha * xp.exp(x)),)


SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def selu(xp, x):
    return SELU_SCALE * xp.where(x > 0, x, SELU_ALPHA * (xp.exp(x) - 1))


def selu_vjp(xp, g, out, x):
    return (g * SELU_SCALE * xp.where(x > 0, 1, SELU_ALPHA * xp.exp(x)),)


def celu(xp, x, *, alpha=1.0):
    return xp.where(x > 0, x, alpha * (xp.exp(x / alpha) - 1))


def celu_vjp(xp, g, out, x, *, alpha=1.0):
    return (xp.where(x > 0, g, g * xp.exp(x / alpha)),)


def expm1(xp, x):
    return xp.exp(x) - 1


def expm1_vjp(xp, g, out, x):
    return (g * xp.exp(x),)


def log1p(xp, x):
    return xp.log(1 + x)


def log1p_vjp(xp, g, out, x):
    return (g / (1 + x),)


def logcosh(xp, x):
    return xp.log(xp.cosh(x))


def logcosh_vjp(xp, g, out, x):
    return (g * xp.tanh(x),)


def tanh_exp(xp, x):
    return (xp.exp(x) - xp.exp(-x)) / (xp.exp(x) + xp.exp(-x))


def tanh_exp_vjp(xp, g, out, x):
    return (g * (1 - out * out),)


def sigmoid_exp(xp, x):
    return xp.exp(x) / (1 + xp.exp(x))


def sigmoid_exp_vjp(xp, g, out, x):
    return (g * xp.exp(x) / ((1 + xp.exp(x)) * (1 + xp.exp(x))),)


def elu_by_out(xp, x):
    return xp.where(x > 0, x, xp.exp(x) - 1)


def elu_by_out_vjp(xp, g, out, x):
    return (xp.where(x > 0, g, g * (out + 1)),)


def tanh_sech(xp, x):
    return xp.tanh(x)


def tanh_sech_vjp(xp, g, out, x):
    return (g / (xp.cosh(x) * xp.cosh(x)),)  # sech(x)**2: cosh overflows beyond 710


def logaddexp(xp, a, b):
    return xp.log(xp.exp(a) + xp.exp(b))


def logaddexp_vjp(xp, g, out, a, b):
    return (g * xp.exp(a) / (xp.exp(a) + xp.exp(b)), g * xp.exp(b) / (xp.exp(a) + xp.exp(b)))


def tanh_jvp(xp, x):
    return xp.tanh(x)


def tanh_jvp_vjp(xp, g, out, x):
    return tanh_sech_vjp(xp, g, out, x)  # the vjp as inaccurate as the jvp declared beside it


def tanh_jvp_jvp(xp, tangents, out, x):
    return tangents[0] * (1 - out * out)  # a declared jvp from out: 0 where tanh rounds to 1


def div_jvp(xp, a, b):
    return a / b


def div_jvp_vjp(xp, g, out, a, b):
    return (g / b, -g * a / b / b)  # accurate: only the jvp is naive


def div_jvp_jvp(xp, tangents, out, a, b):
    return tangents[0] / b - tangents[1] * a / (b * b)


#: What an op of the catalogue declares besides its forward and vjp (each named <op> and <op>_vjp above).
DECLARED: dict[str, dict] = {
    "softplus_beta": {"examples": ({"beta": 1.0}, {"beta": 0.5})},
    "swish": {"examples": ({"beta": 1.0}, {"beta": 0.5})},
    "div": {"domains": ("real", "nonzero")},
    "hypot": {"domains": ("positive", "positive")},
    "elu": {"examples": ({"alpha": 1.0}, {"alpha": 0.5})},
    "selu": {"kinks": (Kink(0.0, SELU_SCALE * SELU_ALPHA),)},
    "celu": {"examples": ({"alpha": 1.0}, {"alpha": 2.0})},
    "log1p": {"domains": ("nonnegative",)},
    "tanh_jvp": {"jvp": tanh_jvp_jvp},
    "div_jvp": {"domains": ("real", "nonzero"), "jvp": div_jvp_jvp},
}
NAMES = ("sigmoid tanh tanh_by_sigmoid softplus softplus_beta swish swish_by_out logsigmoid mish gelu softsign div hypot isru "
         "elu selu celu expm1 log1p logcosh tanh_exp sigmoid_exp elu_by_out tanh_sech logaddexp tanh_jvp div_jvp").split()
CATALOGUE = tuple(Op(name, globals()[name], globals()[f"{name}_vjp"], **DECLARED.get(name, {})) for name in NAMES)

#: Ops of the catalogue the rules do not repair yet, and why (a test fails if one is listed and repaired).
UNREPAIRED: dict[str, str] = {}
