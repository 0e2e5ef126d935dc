"""A catalogue of deliberately wrong vjps, each a mistake that happens in practice, for the audit to refute.

``WRONG`` pairs a description of the mistake with an op whose forward is right and whose vjp has
that one mistake. ``RIGHT`` holds the correct versions of the ops that exist only here: the audit
must prove those (it never refutes a correct rule) and refute every entry of ``WRONG``.
"""

from __future__ import annotations

import math

from microreg import Kink, Op

# -- correct forwards ------------------------------------------------------------------------------


def tanh(xp, x):
    return xp.tanh(x)


def sigmoid(xp, x):
    return 1 / (1 + xp.exp(-x))


def stable_sigmoid(xp, x):
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def exp(xp, x):
    return xp.exp(x)


def exp2x(xp, x):
    return xp.exp(2 * x)


def log(xp, x):
    return xp.log(x)


def power(xp, x, *, n):
    return xp.pow(x, n)


def sqrt(xp, x):
    return xp.sqrt(x)


def tanh2x(xp, x):
    return xp.tanh(2 * x)


def sin(xp, x):
    return xp.sin(x)


def softplus(xp, x):
    return xp.log(1 + xp.exp(x))


def relu(xp, x):
    return xp.where(x > 0, x, 0)


def leaky_relu(xp, x, *, slope=0.01):
    return xp.where(x > 0, x, slope * x)


def elu(xp, x, *, alpha=1.0):
    return xp.where(x > 0, x, alpha * (xp.exp(x) - 1))


def absolute(xp, x):
    return xp.abs(x)


def clamp(xp, x):
    return xp.where(x < -1, -1, xp.where(x > 1, 1, x))


def add(xp, x, y):
    return x + y


def sub(xp, x, y):
    return x - y


def mul(xp, x, y):
    return x * y


def div(xp, x, y):
    return x / y


# -- correct vjps ----------------------------------------------------------------------------------


def stable_sigmoid_vjp(xp, g, out, x):
    return (g * out * (1 - out),)


def exp2x_vjp(xp, g, out, x):
    return (2 * g * out,)


def sqrt_vjp(xp, g, out, x):
    return (g / (2 * out),)


def tanh2x_vjp(xp, g, out, x):
    return (2 * g * (1 - out * out),)


def sin_vjp(xp, g, out, x):
    return (g * xp.cos(x),)


def softplus_vjp(xp, g, out, x):
    return (g / (1 + xp.exp(-x)),)


def leaky_relu_vjp(xp, g, out, x, *, slope=0.01):
    return (xp.where(x > 0, g, g * slope),)


def elu_vjp(xp, g, out, x, *, alpha=1.0):
    return (xp.where(x > 0, g, g * (out + alpha)),)


def absolute_vjp(xp, g, out, x):
    return (g * xp.sign(x),)


def clamp_vjp(xp, g, out, x):
    return (xp.where(x <= -1, 0, xp.where(x >= 1, 0, g)),)


# -- wrong vjps, one mistake each ------------------------------------------------------------------


def tanh_sign_flipped_vjp(xp, g, out, x):
    return (g * (out * out - 1),)


def tanh_missing_g_vjp(xp, g, out, x):
    return (1 - out * out,)


def tanh_input_for_output_vjp(xp, g, out, x):
    return (g * (1 - x * x),)


def sigmoid_missing_factor_vjp(xp, g, out, x):
    return (g * out,)


def sigmoid_input_for_output_vjp(xp, g, out, x):
    return (g * x * (1 - x),)


def stable_sigmoid_wrong_branch_vjp(xp, g, out, x):
    return (xp.where(x >= 0, g * out * (1 - out), g * out),)


def exp_factor_1001_vjp(xp, g, out, x):
    return (1.001 * g * out,)


def exp_input_for_output_vjp(xp, g, out, x):
    return (g * x,)


def exp2x_missing_chain_factor_vjp(xp, g, out, x):
    return (g * out,)


def log_sign_flipped_vjp(xp, g, out, x):
    return (-g / x,)


def log_power_off_by_one_vjp(xp, g, out, x):
    return (g / (x * x),)


def power_exponent_off_by_one_vjp(xp, g, out, x, *, n):
    return (g * n * xp.pow(x, n),)


def power_missing_n_vjp(xp, g, out, x, *, n):
    return (g * xp.pow(x, n - 1),)


def sqrt_input_for_output_vjp(xp, g, out, x):
    return (g / (2 * x),)


def tanh2x_missing_chain_factor_vjp(xp, g, out, x):
    return (g * (1 - out * out),)


def sin_sign_flipped_vjp(xp, g, out, x):
    return (-g * xp.cos(x),)


def softplus_flipped_exponent_vjp(xp, g, out, x):
    return (g / (1 + xp.exp(x)),)


def relu_wrong_kink_vjp(xp, g, out, x):
    return (xp.where(x >= 0, g, 0),)


def relu_wrong_branch_vjp(xp, g, out, x):
    return (xp.where(x > 0, 0, g),)


def leaky_relu_swapped_branches_vjp(xp, g, out, x, *, slope=0.01):
    return (xp.where(x > 0, g * slope, g),)


def leaky_relu_default_slope_vjp(xp, g, out, x, *, slope=0.01):
    return (xp.where(x > 0, g, g * 0.01),)


def elu_missing_alpha_vjp(xp, g, out, x, *, alpha=1.0):
    return (xp.where(x > 0, g, g * out),)


def absolute_wrong_kink_vjp(xp, g, out, x):
    return (g * xp.sign(x),)


def clamp_wrong_branch_vjp(xp, g, out, x):
    return (xp.where(x <= -1, g, xp.where(x >= 1, 0, g)),)


def add_missing_g_second_vjp(xp, g, out, x, y):
    return g, 1


def sub_sign_second_vjp(xp, g, out, x, y):
    return g, g


def mul_wrong_second_vjp(xp, g, out, x, y):
    return g * y, g * y


def div_sign_second_vjp(xp, g, out, x, y):
    return g / y, g * out / y


def div_power_second_vjp(xp, g, out, x, y):
    return g / y, -g * x / y


POWERS = ({"n": 2}, {"n": 3}, {"n": -1}, {"n": 0.5}, {"n": 2.5})
SLOPES = ({"slope": 0.01}, {"slope": 0.2})
ALPHAS = ({"alpha": 1.0}, {"alpha": 0.5})
CLAMP_KINKS = (Kink(-1.0, 0.0), Kink(1.0, 0.0))

WRONG: tuple[tuple[str, Op], ...] = (
    ("a flipped sign", Op("tanh_sign_flipped", tanh, tanh_sign_flipped_vjp)),
    ("a missing g", Op("tanh_missing_g", tanh, tanh_missing_g_vjp)),
    ("the input where the output belongs", Op("tanh_input_for_output", tanh, tanh_input_for_output_vjp)),
    ("a missing factor", Op("sigmoid_missing_factor", sigmoid, sigmoid_missing_factor_vjp)),
    ("the input where the output belongs", Op("sigmoid_input_for_output", sigmoid, sigmoid_input_for_output_vjp)),
    ("a wrong branch of a piecewise rule", Op("stable_sigmoid_wrong_branch", stable_sigmoid, stable_sigmoid_wrong_branch_vjp)),
    ("a factor of 1.001", Op("exp_factor_1001", exp, exp_factor_1001_vjp)),
    ("the input where the output belongs", Op("exp_input_for_output", exp, exp_input_for_output_vjp)),
    ("a missing chain-rule factor", Op("exp2x_missing_chain_factor", exp2x, exp2x_missing_chain_factor_vjp)),
    ("a flipped sign", Op("log_sign_flipped", log, log_sign_flipped_vjp, domains=("positive",))),
    ("an exponent off by one", Op("log_power_off_by_one", log, log_power_off_by_one_vjp, domains=("positive",))),
    ("an exponent off by one", Op("power_exponent_off_by_one", power, power_exponent_off_by_one_vjp,
                                  domains=("positive",), examples=POWERS)),
    ("a missing factor n", Op("power_missing_n", power, power_missing_n_vjp, domains=("positive",), examples=POWERS)),
    ("the input where the output belongs", Op("sqrt_input_for_output", sqrt, sqrt_input_for_output_vjp, domains=("positive",))),
    ("a missing chain-rule factor", Op("tanh2x_missing_chain_factor", tanh2x, tanh2x_missing_chain_factor_vjp)),
    ("a flipped sign", Op("sin_sign_flipped", sin, sin_sign_flipped_vjp)),
    ("a flipped sign inside exp", Op("softplus_flipped_exponent", softplus, softplus_flipped_exponent_vjp)),
    ("the wrong value at a kink", Op("relu_wrong_kink", relu, relu_wrong_kink_vjp, kinks=(Kink(0.0, 0.0),))),
    ("a wrong branch of a piecewise rule", Op("relu_wrong_branch", relu, relu_wrong_branch_vjp, kinks=(Kink(0.0, 0.0),))),
    ("swapped branches", Op("leaky_relu_swapped_branches", leaky_relu, leaky_relu_swapped_branches_vjp, examples=SLOPES)),
    ("a static parameter ignored", Op("leaky_relu_default_slope", leaky_relu, leaky_relu_default_slope_vjp, examples=SLOPES)),
    ("a missing term in one branch", Op("elu_missing_alpha", elu, elu_missing_alpha_vjp, examples=ALPHAS)),
    ("the wrong value at a kink", Op("absolute_wrong_kink", absolute, absolute_wrong_kink_vjp, kinks=(Kink(0.0, 1.0),))),
    ("a wrong branch of a piecewise rule", Op("clamp_wrong_branch", clamp, clamp_wrong_branch_vjp, kinks=CLAMP_KINKS)),
    ("a missing g, second input only", Op("add_missing_g_second", add, add_missing_g_second_vjp)),
    ("a flipped sign, second input only", Op("sub_sign_second", sub, sub_sign_second_vjp)),
    ("the wrong input, second input only", Op("mul_wrong_second", mul, mul_wrong_second_vjp)),
    ("a flipped sign, second input only", Op("div_sign_second", div, div_sign_second_vjp, domains=("real", "nonzero"))),
    ("an exponent off by one, second input only", Op("div_power_second", div, div_power_second_vjp, domains=("real", "nonzero"))),
)

RIGHT: tuple[Op, ...] = (
    Op("stable_sigmoid", stable_sigmoid, stable_sigmoid_vjp),
    Op("exp2x", exp2x, exp2x_vjp),
    Op("sqrt", sqrt, sqrt_vjp, domains=("positive",)),
    Op("tanh2x", tanh2x, tanh2x_vjp),
    Op("sin", sin, sin_vjp),
    Op("softplus", softplus, softplus_vjp),
    Op("leaky_relu", leaky_relu, leaky_relu_vjp, kinks=(Kink(0.0, 0.01),), examples=SLOPES),
    Op("elu", elu, elu_vjp, kinks=(Kink(0.0, 1.0),), examples=ALPHAS),
    Op("absolute", absolute, absolute_vjp, kinks=(Kink(0.0, 0.0),)),
    Op("clamp", clamp, clamp_vjp, kinks=CLAMP_KINKS),
)


# -- rules the audit cannot prove, without a counterexample: an error, and a rule right only up to rounding --


def math_tanh(xp, x):
    return math.tanh(x)  # math, not xp: cannot run on symbols


def tanh_vjp(xp, g, out, x):
    return (g * (1 - out * out),)


C_FULL = 0.7978845608028654
C_SHORT = 0.797884560803  # the same constant, rounded to 12 digits: right to 2e-13, not exactly


def scaled_tanh(xp, x):
    return xp.tanh(C_FULL * x)


def scaled_tanh_rounded_vjp(xp, g, out, x):
    return (g * C_SHORT * (1 - out * out),)


MATH_TANH = Op("math_tanh", math_tanh, tanh_vjp)
ROUNDED = Op("scaled_tanh_rounded", scaled_tanh, scaled_tanh_rounded_vjp)
