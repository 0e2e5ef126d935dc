"""A catalogue of deliberately wrong ops, each a mistake that happens in practice, for the audit to catch.

``WRONG`` pairs a description of the mistake with an op whose forward is right and whose vjp has
that one mistake: the audit must refute each. The other kinds of mistakes, each a tuple of
(description, op) the same way:

- ``UNSTABLE``: rules SymPy proves that are numerically broken in float64 (they cancel, overflow or
  underflow where the true value is a normal float): proved, and ``inaccurate``;
- ``NARROW``: the same, but only in bands of inputs that the accuracy grid misses: found by the search for
  the worst input;
- ``KINKS``: a kink not declared, or declared where nothing branches, or a wrong value where a branch
  switches: refuted;
- ``SUB_TOLERANCE``: an exactly nonzero difference far below any sampling tolerance (a 1e-12 guard, a
  rounded constant): refuted, with the difference;
- ``HARD_CODED``: a vjp that ignores a static parameter, with only the default as an example: refuted
  at parameters the audit varies itself;
- ``SECOND_ORDER`` (with its ``HELPERS`` registered): right at first order, wrong only when the vjp is
  differentiated again through the engine: refuted at ``order=2``.
- ``WRONG_JVP``: a right forward and vjp with a wrong jvp (forward mode): refuted by the jvp check, the vjp proved;
- ``DRIFTING``: a forward whose scalar fast path drifted from the code that runs on arrays and symbols:
  refuted, and its scalar and array paths disagree.

``MATH_TANH`` (math instead of xp: an error), ``UNPROVABLE`` (right, but SymPy cannot reduce it: inconclusive) and
``EXPLOSIVE`` (right, with a proof that takes minutes: for time budgets) are the audit's other verdicts;
``by_name(name)`` finds an op of any kind, ``ids(catalogue)`` names a kind's test cases by op.

``RIGHT`` holds correct versions of ops that exist only here: the audit must prove them and find them
accurate (it never flags a correct rule).
"""

from __future__ import annotations

import math

import pytest

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


def stable_softplus(xp, x):
    return xp.relu(x) + xp.log1p(xp.exp(-xp.abs(x)))


def relu(xp, x):
    return xp.where(x > 0, x, 0)


def leaky_relu(xp, x, *, slope=0.01):
    return xp.where(x > 0, x, slope * x)


def elu(xp, x, *, alpha=1.0):
    return xp.where(x > 0, x, alpha * (xp.exp(x) - 1))


def stable_elu(xp, x, *, alpha=1.0):
    return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0.0)))


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
    e = xp.exp(-xp.abs(x))
    return (g * (e / ((1 + e) * (1 + e))),)


def exp2x_vjp(xp, g, out, x):
    return (2 * g * out,)


def sqrt_vjp(xp, g, out, x):
    return (g / (2 * out),)


def tanh2x_vjp(xp, g, out, x):
    e = xp.exp(-2 * xp.abs(x))
    s = 2 * e / (1 + e * e)  # sech(2x)
    return (2 * g * (s * s),)


def tanh_stable_vjp(xp, g, out, x):
    e = xp.exp(-xp.abs(x))
    s = 2 * e / (1 + e * e)
    return (g * (s * s),)


def sin_vjp(xp, g, out, x):
    return (g * xp.cos(x),)


def softplus_vjp(xp, g, out, x):
    return (g * xp.sigmoid(x),)


def leaky_relu_vjp(xp, g, out, x, *, slope=0.01):
    return (xp.where(x > 0, g, g * slope),)


def elu_vjp(xp, g, out, x, *, alpha=1.0):
    return (xp.where(x > 0, g, g * alpha * xp.exp(xp.minimum(x, 0.0))),)


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
    Op("softplus", stable_softplus, softplus_vjp),
    Op("leaky_relu", leaky_relu, leaky_relu_vjp, kinks=(Kink(0.0, 0.01),), examples=SLOPES),
    Op("elu", stable_elu, elu_vjp, kinks=(Kink(0.0, 1.0),), examples=ALPHAS),
    Op("absolute", absolute, absolute_vjp, kinks=(Kink(0.0, 0.0),)),
    Op("clamp", clamp, clamp_vjp, kinks=CLAMP_KINKS),
)


# -- fused ops: a variadic dot, and ops on arrays (proved on arrays of symbols) ----------------------


def dot(xp, *wx):
    n = len(wx) // 2
    return sum(w * x for w, x in zip(wx[:n], wx[n:]))


def dot_swapped_halves_vjp(xp, g, out, *wx):
    n = len(wx) // 2
    return [g * w for w in wx[:n]] + [g * x for x in wx[n:]]  # each cotangent takes its own input, not its partner


def dot_first_pair_only_vjp(xp, g, out, *wx):
    n = len(wx) // 2
    return [g * wx[n]] + [0] * (n - 1) + [g * wx[0]] + [0] * (n - 1)


def matmul(xp, x, y):
    return x @ y


def matmul_untransposed_vjp(xp, g, out, x, y):
    return g @ y, x @ g


def matmul_swapped_product_vjp(xp, g, out, x, y):
    return xp.transpose(y) @ g, g @ xp.transpose(x)


def matmul_missing_g_vjp(xp, g, out, x, y):
    return xp.transpose(y) * 0 + 1, xp.transpose(x) * 0 + 1


def transpose(xp, x):
    return xp.transpose(x)


def transpose_forgotten_vjp(xp, g, out, x):
    return (g,)


def column_sums(xp, x):
    return xp.sum(x, axis=0)


def column_sums_doubled_vjp(xp, g, out, x):
    return (2 * g + 0 * x,)


def dot_vjp(xp, g, out, *wx):
    n = len(wx) // 2
    return [g * v for v in wx[n:] + wx[:n]]


def matmul_vjp(xp, g, out, x, y):
    return g @ xp.transpose(y), xp.transpose(x) @ g


def transpose_vjp(xp, g, out, x):
    return (xp.transpose(g),)


def column_sums_vjp(xp, g, out, x):
    return (g + 0 * x,)


SQUARE = (((2, 2), (2, 2)),)  # square matrices: a vjp that forgets a transpose still has the right shape

#: Mistakes in fused ops, refuted element by element (or for the wrong shape): their counterexamples
#: name elements (x[0,1], wx[2]), not inputs.
WRONG_FUSED: tuple[tuple[str, Op], ...] = (
    ("each weight's cotangent from itself, not its partner", Op("dot_swapped_halves", dot, dot_swapped_halves_vjp, arities=(2, 4))),
    ("only the first pair differentiated", Op("dot_first_pair_only", dot, dot_first_pair_only_vjp, arities=(4,))),
    ("a transpose forgotten", Op("matmul_untransposed", matmul, matmul_untransposed_vjp, shapes=SQUARE)),
    ("the factors of a product swapped", Op("matmul_swapped_product", matmul, matmul_swapped_product_vjp, shapes=SQUARE)),
    ("a missing g", Op("matmul_missing_g", matmul, matmul_missing_g_vjp, shapes=SQUARE)),
    ("a transpose forgotten, square", Op("transpose_forgotten", transpose, transpose_forgotten_vjp, shapes=(((2, 2),),))),
    ("a cotangent of the wrong shape", Op("transpose_wrong_shape", transpose, transpose_forgotten_vjp, shapes=(((2, 3),),))),
    ("a factor of 2", Op("column_sums_doubled", column_sums, column_sums_doubled_vjp, shapes=(((2, 3),),))),
)


# -- numerically unstable rules: proved, yet inaccurate in float64 ----------------------------------------------


def tanh_vjp(xp, g, out, x):
    return (g * (1 - out * out),)  # 0 for |x| > 19, where tanh' is a normal float; 1e4 ulps off at x = 5


def sigmoid_out_vjp(xp, g, out, x):
    return (g * out * (1 - out),)  # 1 - out cancels: 0 for x > 37


def softplus_exp_ratio_vjp(xp, g, out, x):
    return (g * xp.exp(x) / (1 + xp.exp(x)),)  # exp(x) overflows at x = 710, where sigmoid(x) is 1


def log_one_plus_square(xp, x):
    return xp.log(1 + x * x)  # 1 + x*x is 1 for |x| < 1e-8: the result 0 where it is x**2


def log_one_plus_square_vjp(xp, g, out, x):
    return (2 * g * x / (1 + x * x),)


def elu_out_vjp(xp, g, out, x, *, alpha=1.0):
    return (xp.where(x > 0, g, g * (out + alpha)),)  # out + alpha cancels: 0 for x < -37


def power_of_input(xp, a, b):
    return xp.exp(b * xp.log(a))  # a ** b for a > 0, b an input too


def power_out_over_base_vjp(xp, g, out, a, b):
    return (g * b * out / a, g * out * xp.log(a))  # out underflows to 0 at a = 1e-200, b = 2, where b * a ** (b - 1) is 2e-200


def power_out_over_x_vjp(xp, g, out, x, *, n):
    return (g * n * (out / x),)  # for n = 3, out underflows below x = 3e-103, the cotangent only below 1e-154


def softsign(xp, x):
    return x / (1 + xp.abs(x))


def softsign_squared_vjp(xp, g, out, x):
    d = 1 + xp.abs(x)
    return (g / (d * d),)  # d * d overflows for |x| > 1.3e154, where 1 / d**2 is a float up to |x| = 4e161


UNSTABLE: tuple[tuple[str, Op], ...] = (
    ("1 - out * out for tanh'", Op("tanh_one_minus_square", tanh, tanh_vjp)),
    ("out * (1 - out) for sigmoid'", Op("sigmoid_out_times", stable_sigmoid, sigmoid_out_vjp)),
    ("exp(x) / (1 + exp(x)), overflowing", Op("softplus_exp_ratio", stable_softplus, softplus_exp_ratio_vjp)),
    ("log(1 + exp(x)), overflowing and cancelling", Op("softplus_naive", softplus, softplus_vjp)),
    ("exp(x) - 1 and out + alpha, cancelling", Op("elu_naive", elu, elu_out_vjp, kinks=(Kink(0.0, 1.0),), examples=ALPHAS)),
    ("log(1 + x*x) for tiny x", Op("log_one_plus_square", log_one_plus_square, log_one_plus_square_vjp)),
)


#: Rules inaccurate only in bands that no point of the accuracy grid falls in (an intermediate under- or overflows
#: where the result does not): the search for the worst input must find them.
NARROW: tuple[tuple[str, Op], ...] = (
    ("g * b * out / a for a ** b, out under- and overflowing", Op("power_out_over_base", power_of_input, power_out_over_base_vjp,
                                                                  domains=("positive", "real"))),
    ("n * (out / x) for x ** 3, out underflowing", Op("cube_out_over_x", power, power_out_over_x_vjp, domains=("positive",),
                                                              examples=({"n": 3},))),
    ("1 / (d * d) for softsign', d * d overflowing", Op("softsign_squared", softsign, softsign_squared_vjp)),
)


# -- kinks: undeclared, declared where nothing branches, or a wrong value where a branch switches --------------


def relu_ge_vjp(xp, g, out, x):
    return (xp.where(x >= 0, g, 0),)


def relu_vjp(xp, g, out, x):
    return (xp.where(x > 0, g, 0),)


def step_up(xp, x):
    return xp.where(x > 1, x, 0)  # a jump from 0 to 1 at x = 1


def step_up_vjp(xp, g, out, x):
    return (xp.where(x > 1, g, 0),)


def sigmoid_zero_at_zero_vjp(xp, g, out, x):
    e = xp.exp(-xp.abs(x))
    return (xp.where(x == 0, 0, g * (e / ((1 + e) * (1 + e)))),)  # a guard at 0, where sigmoid' is 1/4


KINKS: tuple[tuple[str, Op], ...] = (
    ("relu written with x >= 0, no Kink declared", Op("relu_undeclared_ge", relu, relu_ge_vjp)),
    ("relu, no Kink declared", Op("relu_undeclared", relu, relu_vjp)),
    ("abs, no Kink declared", Op("absolute_undeclared", absolute, absolute_vjp)),
    ("a jump, no Kink declared", Op("step_up_undeclared", step_up, step_up_vjp)),
    ("one of clamp's two kinks not declared", Op("clamp_one_kink", clamp, clamp_vjp, kinks=(Kink(-1.0, 0.0),))),
    ("a Kink declared where nothing branches", Op("tanh_with_a_kink", tanh, tanh_stable_vjp, kinks=(Kink(0.5, 0.0),))),
    ("a Kink declared at the wrong point", Op("relu_kink_misplaced", relu, relu_vjp, kinks=(Kink(1.0, 0.0),))),
    ("a wrong value where a branch switches but the op is smooth", Op("sigmoid_guarded", stable_sigmoid, sigmoid_zero_at_zero_vjp)),
)


# -- sub-tolerance errors: exactly nonzero, far below any sampling tolerance ------------------------------------


def log_guarded_vjp(xp, g, out, x):
    return (g / (x + 1e-12),)  # a guard against division by zero


def exp_nudged_vjp(xp, g, out, x):
    return (g * out * (1 + 1e-13),)


C_FULL = 0.7978845608028654
C_SHORT = 0.797884560803  # the same constant, rounded to 12 digits: right to 2e-13, not exactly


def scaled_tanh(xp, x):
    return xp.tanh(C_FULL * x)


def scaled_tanh_rounded_vjp(xp, g, out, x):
    return (g * C_SHORT * (1 - out * out),)


def tanh_plus_epsilon_vjp(xp, g, out, x):
    return (g * (tanh_stable_vjp(xp, 1, out, x)[0] + 1e-15),)


SUB_TOLERANCE: tuple[tuple[str, Op], ...] = (
    ("a 1e-12 guard in a denominator", Op("log_guarded", log, log_guarded_vjp, domains=("positive",))),
    ("a factor of 1 + 1e-13", Op("exp_nudged", exp, exp_nudged_vjp)),
    ("a constant rounded to 12 digits in the vjp only", Op("scaled_tanh_rounded", scaled_tanh, scaled_tanh_rounded_vjp)),
    ("1e-15 added", Op("tanh_plus_epsilon", tanh, tanh_plus_epsilon_vjp)),
)


# -- hard-coded static parameters: only the default is an example ---------------------------------------------


def elu_alpha_one_vjp(xp, g, out, x, *, alpha=1.0):
    return (xp.where(x > 0, g, g * xp.exp(xp.minimum(x, 0.0))),)  # alpha * exp(x), with alpha = 1 written in


def power_square_vjp(xp, g, out, x, *, n):
    return (2 * g * x,)  # right for n = 2 only


def clamp_with(xp, x, *, lo=-1.0, hi=1.0):
    return xp.where(x < lo, lo, xp.where(x > hi, hi, x))


def clamp_unit_vjp(xp, g, out, x, *, lo=-1.0, hi=1.0):
    return (xp.where(x <= -1, 0, xp.where(x >= 1, 0, g)),)  # the default bounds written in


HARD_CODED: tuple[tuple[str, Op], ...] = (
    ("the default slope written in", Op("leaky_relu_slope_written_in", leaky_relu, leaky_relu_default_slope_vjp,
                                        kinks=(Kink(0.0, 0.01),))),
    ("alpha = 1 written in", Op("elu_alpha_written_in", stable_elu, elu_alpha_one_vjp, kinks=(Kink(0.0, 1.0),))),
    ("n = 2 written in", Op("power_two_written_in", power, power_square_vjp, domains=("positive",), examples=({"n": 2},))),
    ("the default bounds written in", Op("clamp_bounds_written_in", clamp_with, clamp_unit_vjp, kinks=CLAMP_KINKS)),
)


# -- second-order-only bugs: a helper op whose own vjp is wrong, used inside a vjp ----------------------------


def helper_sigmoid_wrong_vjp(xp, g, out, x):
    e = xp.exp(-xp.abs(x))
    return (g * e / (1 + e),)  # should be e / (1 + e)**2: wrong, but only its forward enters softplus' first derivative


def softplus_by_helper_vjp(xp, g, out, x):
    return (g * xp.helper_sigmoid(x),)


def helper_square(xp, x):
    return x * x


def helper_square_wrong_vjp(xp, g, out, x):
    return (2 * x,)  # forgets g


def cube(xp, x):
    return x * x * x


def cube_by_helper_vjp(xp, g, out, x):
    return (3 * g * xp.helper_square(x),)


HELPERS: tuple[Op, ...] = (Op("helper_sigmoid", stable_sigmoid, helper_sigmoid_wrong_vjp),
                           Op("helper_square", helper_square, helper_square_wrong_vjp))


def atan_op(xp, x):
    return xp.atan(x)


def atan_tied_clamp_vjp(xp, g, out, x):
    a = xp.abs(x)  # minimum(|x|, 1) ties at |x| = 1, where the where switches: its derivative is split there, halved
    r, m = 1 / xp.maximum(a, 1.0), xp.minimum(a, 1.0)
    return (g * xp.where(a > 1, r * r / (1 + r * r), 1 / (1 + m * m)),)


def x_softplus(xp, x):
    return x * (xp.relu(x) + xp.log1p(xp.exp(-xp.abs(x))))


def x_softplus_vjp(xp, g, out, x):
    s = xp.relu(x) + xp.log1p(xp.exp(-xp.abs(x)))  # its derivative at 0 is relu'(0) - |x|'(0) / 2: not 1/2
    return (g * (s + x * xp.sigmoid(x)),)


SECOND_ORDER: tuple[tuple[str, Op], ...] = (
    ("a helper op with a wrong vjp, inside the vjp", Op("softplus_by_helper", stable_softplus, softplus_by_helper_vjp)),
    ("a helper op whose vjp forgets g, inside the vjp", Op("cube_by_helper", cube, cube_by_helper_vjp)),
)
#: Wrong at second order only on a break, where the op is twice differentiable but no sample point lies: the audit
#: checks the breaks (``numeric._on_breaks``); microreg.testing's sample points keep away from them.
ON_A_BREAK: tuple[tuple[str, Op], ...] = (
    ("a clamp tying at the switch of the where it feeds (atan's old vjp at |x| = 1)", Op("atan_tied", atan_op, atan_tied_clamp_vjp)),
    ("two kinks' conventions at 0 inside the vjp (mish's old softplus)", Op("x_softplus", x_softplus, x_softplus_vjp)),
)


# -- a backend path that drifted: right on symbols and arrays, wrong on floats ----------------------------------


def drifting_square(xp, x):
    if isinstance(x, float):  # a scalar fast path that drifted from the general code
        return 1.001 * x * x
    return x * x


def square_vjp(xp, g, out, x):
    return (2 * g * x,)


DRIFTING = Op("drifting_square", drifting_square, square_vjp)


# -- rules the audit cannot prove, without a counterexample: an error, a correct rule SymPy cannot reduce, and one
# -- whose proof takes minutes ----------------------------------------------------------------------------------


def math_tanh(xp, x):
    return math.tanh(x)  # math, not xp: cannot run on symbols


def root_scale(xp, x):
    return (xp.sqrt(2.0) + xp.sqrt(3.0)) * x


def root_scale_vjp(xp, g, out, x):
    return (g * xp.sqrt(5.0 + 2 * xp.sqrt(6.0)),)  # the same constant, denested the other way: SymPy cannot tell


MATH_TANH = Op("math_tanh", math_tanh, tanh_vjp)
UNPROVABLE = Op("root_scale", root_scale, root_scale_vjp)


def nested(xp, x):
    """tanh(a_10), a_k = tanh(a_(k-1)) (1 + x^2 / k): an expression whose proof keeps SymPy busy for minutes."""
    y = x
    for k in range(1, 11):
        y = xp.tanh(y * (1 + x * x / k))
    return y


def nested_vjp(xp, g, out, x):
    y, d = x, 1  # the chain rule written out: right, and hard to compare with SymPy's derivative
    for k in range(1, 11):
        a = y * (1 + x * x / k)
        da = d * (1 + x * x / k) + y * 2 * x / k
        y = xp.tanh(a)
        d = (1 - y * y) * da
    return (g * d,)


EXPLOSIVE = Op("nested_tanh", nested, nested_vjp)  # proved given minutes: for time budgets


# -- wrong jvps: the forward and the vjp right, the jvp (forward mode) wrong ------------------------------------


def exp_vjp(xp, g, out, x):
    return (g * out,)


def mul_vjp(xp, g, out, x, y):
    return g * y, g * x


def tanh_forgotten_tangent_jvp(xp, tangents, out, x):
    return 1 - out * out  # the derivative, never multiplied by the tangent


def exp_sign_flipped_jvp(xp, tangents, out, x):
    return -tangents[0] * out


def mul_first_term_only_jvp(xp, tangents, out, x, y):
    return tangents[0] * y  # the product rule's second term forgotten


def mul_swapped_partners_jvp(xp, tangents, out, x, y):
    tx, ty = tangents
    return tx * x + ty * y


def relu_ge_jvp(xp, tangents, out, x):
    return xp.where(x >= 0, tangents[0], 0)  # 1 at the kink, where the vjp (and the Kink) give 0


def dot_first_pair_only_jvp(xp, tangents, out, *wx):
    n = len(wx) // 2
    return tangents[0] * wx[n] + wx[0] * tangents[n]


def matmul_wrong_side_jvp(xp, tangents, out, x, y):
    tx, ty = tangents
    return tx @ y + ty @ x  # x @ ty written the other way round: the right shape for square matrices


def transpose_forgotten_jvp(xp, tangents, out, x):
    return tangents[0]


def column_sums_axis_ignored_jvp(xp, tangents, out, x):
    return xp.sum(tangents[0])  # every element summed, where the forward sums the columns: the wrong shape


def column_sums_doubled_jvp(xp, tangents, out, x):
    return 2 * xp.sum(tangents[0], axis=0)


WRONG_JVP: tuple[tuple[str, Op], ...] = (
    ("a forgotten tangent", Op("tanh_jvp_forgotten_tangent", tanh, tanh_stable_vjp, jvp=tanh_forgotten_tangent_jvp)),
    ("a flipped sign", Op("exp_jvp_sign_flipped", exp, exp_vjp, jvp=exp_sign_flipped_jvp)),
    ("one input's term forgotten", Op("mul_jvp_first_term_only", mul, mul_vjp, jvp=mul_first_term_only_jvp)),
    ("each input's tangent times itself, not its partner", Op("mul_jvp_swapped_partners", mul, mul_vjp, jvp=mul_swapped_partners_jvp)),
    ("the wrong value at a kink", Op("relu_jvp_ge", relu, relu_vjp, kinks=(Kink(0.0, 0.0),), jvp=relu_ge_jvp)),
    ("only the first pair", Op("dot_jvp_first_pair_only", dot, dot_vjp, arities=(4,), jvp=dot_first_pair_only_jvp)),
    ("a product on the wrong side", Op("matmul_jvp_wrong_side", matmul, matmul_vjp, shapes=SQUARE, jvp=matmul_wrong_side_jvp)),
    ("a transpose forgotten", Op("transpose_jvp_forgotten", transpose, transpose_vjp, shapes=(((2, 2),),), jvp=transpose_forgotten_jvp)),
    ("the axis ignored: the wrong shape", Op("column_sums_jvp_axis_ignored", column_sums, column_sums_vjp, shapes=(((2, 3),),),
                                            jvp=column_sums_axis_ignored_jvp)),
    ("a factor of 2", Op("column_sums_jvp_doubled", column_sums, column_sums_vjp, shapes=(((2, 3),),), jvp=column_sums_doubled_jvp)),
)


def cases(catalogue: tuple[tuple[str, Op], ...], not_caught: dict[str, str]) -> list:
    """The catalogue's ops as test cases for a check; those it is not meant to catch marked so, with the reason
    (a strict xfail: a check that starts catching one says so)."""
    return [pytest.param(op, id=op.name, marks=[pytest.mark.xfail(strict=True, reason=not_caught[op.name])]
                         if op.name in not_caught else []) for _, op in catalogue]


def ids(catalogue: tuple) -> list[str]:
    """The names of a catalogue's ops, as the ids of a test parametrized over its (description, op) pairs."""
    return [op.name for _, op in catalogue]


def by_name(name: str) -> Op:
    """The catalogue's op called name, of whichever kind of mistake."""
    kinds = (WRONG, WRONG_FUSED, WRONG_JVP, UNSTABLE, NARROW, KINKS, SUB_TOLERANCE, HARD_CODED, SECOND_ORDER, ON_A_BREAK)
    return {op.name: op for kind in kinds for _, op in kind}[name]
