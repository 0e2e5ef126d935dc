"""The core primitives of microreg, shipped as a plugin like any other (entry point ``microreg_ops``).

Each op is a forward and a vjp written against ``xp``; the vjp receives the output too, so exp
reuses it. Forward mode's jvp is derived from the vjp for most elementwise ops; the arithmetic
operators, dot and the ops on whole arrays declare theirs (the derived one would run the vjp once per
input: twice as many products for mul). Convention at non-differentiable points: the vjp takes the value PyTorch uses (relu'(0) =
0, maximum's gradient split evenly at a tie), declared as a ``Kink`` and checked by the audit.

Every function of xp that is differentiable has an op here (log1p, whose domain x > -1 no op can
declare, is the log op on 1 + x, see ``ValueNamespace.log1p``), so that a vjp calling it can be
differentiated again on Values. Each is written to keep float64's precision over its whole domain:
a vjp that would overflow or cancel in its naive form says why it is written otherwise (tanh's and
sigmoid's ``1 - out * out`` and ``out * (1 - out)`` cancel to 0 for |x| above about 19 and 37, where
the true derivatives are normal floats).
"""

from __future__ import annotations

import operator

from microreg import Accuracy, Kink, Op, hookimpl


def add(xp, x, y):
    return x + y


def add_vjp(xp, g, out, x, y):
    return g, g


def add_jvp(xp, tangents, out, x, y):
    tx, ty = tangents
    return tx + ty


def sub(xp, x, y):
    return x - y


def sub_vjp(xp, g, out, x, y):
    return g, -g


def sub_jvp(xp, tangents, out, x, y):
    tx, ty = tangents
    return tx - ty


def mul(xp, x, y):
    return x * y


def mul_vjp(xp, g, out, x, y):
    return g * y, g * x


def mul_jvp(xp, tangents, out, x, y):
    tx, ty = tangents
    return tx * y + x * ty


def div(xp, x, y):
    return x / y


def div_vjp(xp, g, out, x, y):
    return g / y, -g * out / y


def div_jvp(xp, tangents, out, x, y):
    tx, ty = tangents
    # ty times out / y, not (ty * out) / y: JAX's reverse mode transposes this rule into g / y * out, which loses the
    # bits of a subnormal g / y (4.3e6 ulps in float32); transposed, g * (out / y) keeps them
    return tx / y - ty * (out / y)


def neg(xp, x):
    return -x


def neg_vjp(xp, g, out, x):
    return (-g,)


def neg_jvp(xp, tangents, out, x):
    return -tangents[0]


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
    """g * (1 - tanh(x)**2) = g * sech(x)**2, with sech(x) = 2e / (1 + e*e) and e = exp(-|x|): no cancellation."""
    e = xp.exp(-xp.abs(x))
    s = 2 * e / (1 + e * e)
    return (g * (s * s),)


def sigmoid(xp, x):
    """1 / (1 + exp(-x)), through exp(-|x|) so that no finite input overflows."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_vjp(xp, g, out, x):
    """g * sigmoid(x) * (1 - sigmoid(x)), as g * e / (1 + e)**2 with e = exp(-|x|): no cancellation."""
    e = xp.exp(-xp.abs(x))
    return (g * (e / ((1 + e) * (1 + e))),)


def exp(xp, x):
    return xp.exp(x)


def exp_vjp(xp, g, out, x):
    return (g * out,)


def log(xp, x):
    return xp.log(x)


def log_vjp(xp, g, out, x):
    return (g / x,)


def expm1(xp, x):
    """exp(x) - 1, without cancellation near 0."""
    return xp.expm1(x)


def expm1_vjp(xp, g, out, x):
    return (g * xp.exp(x),)  # not out + 1, which is 0 where exp(x) < 1.1e-16


def sqrt(xp, x):
    return xp.sqrt(x)


def sqrt_vjp(xp, g, out, x):
    return (g * 0.5 / out,)


def sin(xp, x):
    return xp.sin(x)


def sin_vjp(xp, g, out, x):
    return (g * xp.cos(x),)


def cos(xp, x):
    return xp.cos(x)


def cos_vjp(xp, g, out, x):
    return (-g * xp.sin(x),)


def tan(xp, x):
    return xp.tan(x)


def tan_vjp(xp, g, out, x):
    return (g * (1 + out * out),)


def sinh(xp, x):
    return xp.sinh(x)


def sinh_vjp(xp, g, out, x):
    return (g * xp.cosh(x),)


def cosh(xp, x):
    return xp.cosh(x)


def cosh_vjp(xp, g, out, x):
    return (g * xp.sinh(x),)


def _split_at_one(xp, x):
    """|x|, 1/|x| where |x| > 1 (else 1) and |x| where |x| <= 1 (else 1): the pieces of 1 + x^2 that cannot overflow.

    (x * x overflows from |x| = 1.4e154 on; 1 + x^2 = x^2 (1 + r^2) with r = 1/|x|. Both branches of a
    where are evaluated, so each is computed on an input clamped to its own side, by a where switching where
    the caller's does: minimum(|x|, 1) would tie at |x| = 1, and a tie splits the derivative, which halved the
    second derivative there.)
    """
    a = xp.abs(x)
    big = a > 1
    return a, 1 / xp.where(big, a, 1.0), xp.where(big, 1.0, a)


def atan(xp, x):
    return xp.atan(x)


def atan_vjp(xp, g, out, x):
    a, r, m = _split_at_one(xp, x)  # 1 / (1 + x^2) is r^2 / (1 + r^2) for |x| > 1
    return (g * xp.where(a > 1, r * r / (1 + r * r), 1 / (1 + m * m)),)


def asinh(xp, x):
    return xp.asinh(x)


# 1 / sqrt(1 + x^2) for large |x| as s / sqrt(s^2 + (s x)^2) (SymPy proves that form for a constant s > 0, where
# r / sqrt(1 + r^2) with r = 1/|x| would need the sign of x), in two tiers, each (far, s) such that (s x)^2 neither
# overflows nor underflows above far: 2**-8 serves float16 (where m * m overflows beyond |x| = 256), 2**-64 float32
# (2**-520 is 0 there, and gave NaN beyond |x| = 2**60 after export) and float64 up to 2**500, 2**-520 the rest of float64.
ASINH_TIERS = ((2.0**500, 2.0**-520), (2.0**60, 2.0**-64), (2.0**6, 2.0**-8))  # the last for float16, whose largest is 65504


def asinh_vjp(xp, g, out, x):
    a = xp.abs(x)
    near = ASINH_TIERS[-1][0]
    m = xp.where(a > near, near, a)  # clamped where the tier below switches (not minimum: see _split_at_one)
    d = 1 / xp.sqrt(1 + m * m)
    for far, scale in reversed(ASINH_TIERS):
        # s^2 is written (s * sb) * (s / sb): the float s * s would enter SymPy rounded, as the subnormal 2**-1040 prints inexactly
        sb = xp.maximum(a, far) * scale
        d = xp.where(a > far, scale / xp.sqrt((scale * sb) * (scale / sb) + sb * sb), d)
    return (g * d,)


#: torch's bfloat16 cosh and sinh kernels (which the exports call) overflow for |x| in (88.7, 89.4], where the result is
#: still a bfloat16 (they go through exp(|x|), beyond float32): measured below.
TORCH_BF16_HYPERBOLIC = Accuracy(16, "torch's own bfloat16 cosh and sinh overflow for 88.7 < |x| <= 89.4, where the result is "
                                     "a bfloat16", up_to=88.5, dtype="bfloat16")


# Dekker's split: a float times SPLIT, minus itself minus the float, is its top 26 bits, so the products
# of the halves are exact. On symbols the split is the identity and every error term below is 0.
SPLIT = 134217729.0  # 2**27 + 1
GAUSSIAN_TAIL = 38.5  # exp(-x^2/2) is subnormal beyond


def gaussian(xp, x):
    """exp(-x^2 / 2), to within a few ulps for every finite x.

    x * x rounds by up to half an ulp, which exp turns into a relative error of x^2/2 ulps (some 350
    near x = 37): the rounding error q of x * x is recovered exactly (Dekker) and the result is
    exp(-p/2) * (1 - q/2). Beyond |x| = 38.5 the result is subnormal and x * x may overflow, so it is
    exp(-|x|/2) ** |x| there. On symbols q is 0 and both branches are exp(-x^2/2).
    """
    a = xp.abs(x)
    b = xp.minimum(a, GAUSSIAN_TAIL)
    hi = SPLIT * b - (SPLIT * b - b)
    hi = xp.where(hi == hi, hi, b)  # NaN where SPLIT * b overflows (float16 after export): no split, q = 0 there
    lo = b - hi
    p = b * b
    q = ((hi * hi - p) + 2 * hi * lo) + lo * lo
    return xp.where(a > GAUSSIAN_TAIL, xp.pow(xp.exp(-0.5 * a), a), xp.exp(-0.5 * p) * (1 - 0.5 * q))


def gaussian_vjp(xp, g, out, x):
    return (-g * x * out,)


def erf(xp, x):
    return xp.erf(x)


def erf_vjp(xp, g, out, x):
    # 2/sqrt(pi) exp(-x^2), the square of an accurate exp(-x^2/2) (not exp(-x * x): see gaussian)
    e = xp.gaussian(x)
    return (g * (2 / xp.sqrt(xp.pi)) * e * e,)


def erfc(xp, x):
    """1 - erf(x), without cancellation for large x."""
    return xp.erfc(x)


def erfc_vjp(xp, g, out, x):
    e = xp.gaussian(x)
    return (-g * (2 / xp.sqrt(xp.pi)) * e * e,)


def maximum(xp, x, y):
    """The larger of x and y. At a tie the gradient is split evenly between them, as PyTorch does."""
    return xp.maximum(x, y)


def maximum_vjp(xp, g, out, x, y):
    s = xp.sign(x - y)  # 1, -1, or 0 at a tie; on symbols the derivative of (x + y + |x - y|) / 2 is (1 + s) / 2
    return g * (1 + s) * 0.5, g * (1 - s) * 0.5


def minimum(xp, x, y):
    """The smaller of x and y. At a tie the gradient is split evenly between them, as PyTorch does."""
    return xp.minimum(x, y)


def minimum_vjp(xp, g, out, x, y):
    s = xp.sign(x - y)
    return g * (1 - s) * 0.5, g * (1 + s) * 0.5


# A sum of products overflows float64 where one product does, even if the sum itself would not (1e300 * 1e300 -
# 1e300 * 1e300): dot and matmul are accurate for inputs up to 1e150, as in NumPy and PyTorch.
PRODUCTS = Accuracy(16, "a product of two inputs beyond 1e154 overflows float64, even where the sum it belongs to would not",
                    up_to=1e150)


def dot(xp, *wx):
    """w . x = w[0] * x[0] + ... + w[n-1] * x[n-1] for the 2n inputs w[0], ..., w[n-1], x[0], ..., x[n-1].

    One node for a whole neuron: microreg.nn's Neuron computes b + w . x as dot(b, w..., 1, x...).
    """
    n = len(wx) // 2
    if 2 * n != len(wx):
        raise TypeError(f"dot takes an even number of inputs, w[0..n-1] then x[0..n-1], got {len(wx)}")
    return sum(map(operator.mul, wx[:n], wx[n:]))  # w[i] * x[i] summed in order; map runs the loop in C


def dot_vjp(xp, g, out, *wx):
    n = len(wx) // 2
    return [g * v for v in wx[n:] + wx[:n]]  # d/dw[i] is x[i], d/dx[i] is w[i]


def dot_jvp(xp, tangents, out, *wx):
    """sum of t_w[i] * x[i] + w[i] * t_x[i]: the derived jvp would multiply by g = 1 first, a product per input more."""
    n = len(wx) // 2
    return sum(map(operator.mul, tangents, wx[n:] + wx[:n]))


def matmul(xp, x, y):
    """The matrix product x @ y of an (m, k) and a (k, n) array: a whole layer's W @ X in one node."""
    shapes = getattr(x, "shape", ()), getattr(y, "shape", ())
    if len(shapes[0]) != 2 or len(shapes[1]) != 2 or shapes[0][1] != shapes[1][0]:
        raise ValueError(f"matmul takes an (m, k) and a (k, n) array, got shapes {tuple(shapes[0])} and {tuple(shapes[1])}")
    return x @ y


def matmul_vjp(xp, g, out, x, y):
    return g @ xp.transpose(y), xp.transpose(x) @ g


def matmul_jvp(xp, tangents, out, x, y):
    tx, ty = tangents
    return tx @ y + x @ ty


def transpose(xp, x):
    """x with its axes reversed: a matrix transposed."""
    return xp.transpose(x)


def transpose_vjp(xp, g, out, x):
    return (xp.transpose(g),)


def transpose_jvp(xp, tangents, out, x):
    return xp.transpose(tangents[0])


def reduce_sum(xp, x, *, axis=None):
    """The sum of x's elements; with axis=0, over its first axis only (a matrix's column sums)."""
    if axis not in (None, 0):
        raise ValueError(f"sum takes axis=None (every element) or axis=0 (the first axis; transpose first for another), got {axis!r}")
    return xp.sum(x, axis=axis)


def reduce_sum_vjp(xp, g, out, x, *, axis=None):
    return (g + 0 * x,)  # g repeated over the summed elements: 0 * x has x's shape, and g broadcasts along its first axis


def reduce_sum_jvp(xp, tangents, out, x, *, axis=None):
    return xp.sum(tangents[0], axis=axis)


OPS = (
    Op("add", add, add_vjp, jvp=add_jvp),
    Op("sub", sub, sub_vjp, jvp=sub_jvp),
    Op("mul", mul, mul_vjp, jvp=mul_jvp),
    Op("div", div, div_vjp, jvp=div_jvp, domains=("real", "nonzero")),
    Op("neg", neg, neg_vjp, jvp=neg_jvp),
    Op("pow", pow, pow_vjp, domains=("positive",), examples=({"n": 2}, {"n": 3}, {"n": -1}, {"n": 0.5}, {"n": 2.5}, {"n": 0}),
       accuracy=Accuracy(16, "torch's own float32 pow kernel (which the export calls) gives 0 for x ** -2 beyond x = 1.8e19, where "
                             "the result is a subnormal float32", up_to=1.8e19, dtype="float32")),
    Op("relu", relu, relu_vjp, kinks=(Kink(0.0, 0.0),)),
    Op("tanh", tanh, tanh_vjp),
    Op("sigmoid", sigmoid, sigmoid_vjp),
    Op("exp", exp, exp_vjp),
    Op("log", log, log_vjp, domains=("positive",)),
    Op("expm1", expm1, expm1_vjp),
    Op("sqrt", sqrt, sqrt_vjp, domains=("positive",)),
    Op("sin", sin, sin_vjp),
    Op("cos", cos, cos_vjp),
    Op("tan", tan, tan_vjp),
    Op("sinh", sinh, sinh_vjp, accuracy=TORCH_BF16_HYPERBOLIC),
    Op("cosh", cosh, cosh_vjp, accuracy=TORCH_BF16_HYPERBOLIC),
    Op("atan", atan, atan_vjp),
    Op("asinh", asinh, asinh_vjp),
    Op("gaussian", gaussian, gaussian_vjp),
    Op("erf", erf, erf_vjp, accuracy=Accuracy(256, "torch's own bfloat16 erf kernel (which the export calls) gives 0 for |x| "
                                              "below 1e-8, where erf(x) is 1.13 x: 255 ulps", dtype="bfloat16")),
    Op("erfc", erfc, erfc_vjp),
    Op("maximum", maximum, maximum_vjp, kinks=(Kink((0.0, 0.0), (0.5, 0.5)),)),
    Op("minimum", minimum, minimum_vjp, kinks=(Kink((0.0, 0.0), (0.5, 0.5)),)),
    Op("dot", dot, dot_vjp, arities=(2, 4, 6), accuracy=PRODUCTS, jvp=dot_jvp),
    Op("matmul", matmul, matmul_vjp, shapes=(((2, 3), (3, 2)), ((1, 2), (2, 3))), accuracy=PRODUCTS, jvp=matmul_jvp),
    Op("transpose", transpose, transpose_vjp, shapes=(((2, 3),),), jvp=transpose_jvp),
    Op("sum", reduce_sum, reduce_sum_vjp, shapes=(((2, 3),), ((3,),)), examples=({"axis": None}, {"axis": 0}),
       jvp=reduce_sum_jvp),
)


@hookimpl
def microreg_ops():
    return OPS
