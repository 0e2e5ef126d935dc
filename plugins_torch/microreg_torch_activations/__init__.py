"""The elementwise activations of torch.nn that plugins_example does not ship, as microreg ops (entry point ``torch_activations``).

Together with the example plugin (softplus, silu, gelu with the tanh approximation, elu, leaky_relu,
softsign, mish, hardtanh) they cover every elementwise activation of ``torch.nn`` that has a
derivative. Each takes PyTorch's parameters under PyTorch's names and, where it is not
differentiable, the gradient PyTorch's backward takes there, declared as a ``Kink``.

Written for float64 accuracy over the whole real line, not only for a proof: exponentials see only
min(x, 0) or -|x| (``xp.where`` evaluates both branches, so neither may overflow), ``expm1`` and
``log1p`` where a difference from 1 would cancel, and the exact GELU corrects the rounding of
x / sqrt(2), which erfc would otherwise magnify to hundreds of ulps in the lower tail.
"""

from __future__ import annotations

from microreg import Kink, Op, hookimpl

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
SPLIT = 134217729.0  # 2**27 + 1, Dekker's split: see _two_product


def celu(xp, x, *, alpha=1.0):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)). Differentiable at 0 (the gradient is 1 from both sides)."""
    return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0.0) / alpha))


def celu_vjp(xp, g, out, x, *, alpha=1.0):
    return (xp.where(x > 0, g, g * xp.exp(xp.minimum(x, 0.0) / alpha)),)


def selu(xp, x):
    """scale * (max(0, x) + min(0, alpha * (exp(x) - 1))), with PyTorch's alpha and scale. At 0 the vjp gives
    alpha * scale, PyTorch's x <= 0 branch."""
    return xp.where(x > 0, SELU_SCALE * x, (SELU_SCALE * SELU_ALPHA) * xp.expm1(xp.minimum(x, 0.0)))


def selu_vjp(xp, g, out, x):
    # exp(x) * alpha * scale, not out + alpha * scale (PyTorch's), which cancels for very negative x
    return (xp.where(x > 0, SELU_SCALE * g, (SELU_SCALE * SELU_ALPHA) * g * xp.exp(xp.minimum(x, 0.0))),)


def _two_product(xp, a, b):
    """a * b rounded, and its rounding error exactly (Dekker); on symbols the error is 0. |a|, |b| < 1e150."""
    p = a * b
    ah = SPLIT * a - (SPLIT * a - a)
    bh = SPLIT * b - (SPLIT * b - b)
    ah, bh = xp.where(ah == ah, ah, a), xp.where(bh == bh, bh, b)  # NaN where SPLIT * a overflows (float16 after export)
    al, bl = a - ah, b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _normal_cdf(xp, x):
    """Phi(x) = erfc(-x / sqrt(2)) / 2, to a few ulps also in the lower tail.

    y = -x / sqrt(2) is rounded, and erfc(y) has a relative condition number of 2 y^2, over 1000 near
    x = -37: so the rounding error d of y is recovered (the error of the product, exactly, plus that of
    the constant 1/sqrt(2), itself computed from its own rounding error) and erfc(y + d) taken as
    erfc(y) - d * 2/sqrt(pi) * exp(-y^2), with exp(-y^2) = exp(-x^2/2) from the core ``gaussian`` op. On
    symbols every error term is 0 and this is erfc(-x sqrt(2)/2) / 2 exactly.
    """
    r = xp.sqrt(0.5)
    rr, rr_err = _two_product(xp, r, r)
    r_lo = ((0.5 - rr) - rr_err) / (2 * r)  # 1/sqrt(2) - r: r's own rounding error
    xc = xp.minimum(xp.maximum(x, -40.0), 40.0)  # beyond, the correction is 0 and Dekker's split could overflow
    y, y_err = _two_product(xp, -xc, r)
    d = y_err - xc * r_lo
    return (xp.erfc(-x * r) - d * (2 / xp.sqrt(xp.pi)) * xp.gaussian(x)) / 2


def gelu_exact(xp, x):
    """x * Phi(x), Phi the standard normal distribution function: PyTorch's gelu with approximate='none'."""
    return x * _normal_cdf(xp, x)


def gelu_exact_vjp(xp, g, out, x):
    return (g * (_normal_cdf(xp, x) + x * xp.gaussian(x) / xp.sqrt(2 * xp.pi)),)


def logsigmoid(xp, x):
    """log(1 / (1 + exp(-x))) = min(x, 0) - log1p(exp(-|x|)), finite for every finite x."""
    return xp.minimum(x, 0.0) - xp.log1p(xp.exp(-xp.abs(x)))


def logsigmoid_vjp(xp, g, out, x):
    return (g * xp.sigmoid(-x),)


def relu6(xp, x):
    """min(max(x, 0), 6). At 0 and at 6 the vjp gives 0, as PyTorch does."""
    return xp.minimum(xp.maximum(x, 0.0), 6.0)


def relu6_vjp(xp, g, out, x):
    return (xp.where(x <= 0, 0.0, xp.where(x >= 6, 0.0, g)),)


def hardsigmoid(xp, x):
    """relu6(x + 3) / 6. At -3 and 3 the vjp gives 0, as PyTorch does."""
    return xp.where(x <= -3, 0.0, xp.where(x >= 3, 1.0, (x + 3) / 6))  # not x/6 + 1/2, which cancels near -3


def hardsigmoid_vjp(xp, g, out, x):
    return (xp.where(x <= -3, 0.0, xp.where(x >= 3, 0.0, g / 6)),)


def hardswish(xp, x):
    """x * relu6(x + 3) / 6. At -3 the vjp gives 0 and at 3 it gives 1, as PyTorch does."""
    return xp.where(x <= -3, 0.0, xp.where(x >= 3, x, x * (x + 3) / 6))


def hardswish_vjp(xp, g, out, x):
    # not x/3 + 1/2 (PyTorch's), which cancels near -3/2; and on x clamped to the middle branch by wheres on its own
    # conditions: JAX's reverse mode transposes the export's jvp, so the branch not taken still meets g, and
    # 0 * (2x + 3) was NaN where 2x + 3 overflows (|x| > 32752 in float16)
    m = xp.where(x <= -3, 0.0, xp.where(x >= 3, 0.0, x))
    return (xp.where(x <= -3, 0.0, xp.where(x >= 3, g, g * (2 * m + 3) / 6)),)


def prelu(xp, x, a):
    """x for x > 0, a * x otherwise, the slope a a second, learnable input. At x = 0 the vjp gives (a, 0), as PyTorch does."""
    return xp.where(x > 0, x, a * x)


def prelu_vjp(xp, g, out, x, a):
    return xp.where(x > 0, g, a * g), xp.where(x > 0, 0.0, x * g)


def softshrink(xp, x, *, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, 0 between. At +-lambd the vjp gives 0, as PyTorch does."""
    return xp.where(x > lambd, x - lambd, xp.where(x < -lambd, x + lambd, 0.0))


def softshrink_vjp(xp, g, out, x, *, lambd=0.5):
    return (xp.where(x > lambd, g, xp.where(x < -lambd, g, 0.0)),)


def hardshrink(xp, x, *, lambd=0.5):
    """x where |x| > lambd, 0 elsewhere (a jump at +-lambd, where the vjp gives 0, as PyTorch does)."""
    return xp.where(x > lambd, x, xp.where(x < -lambd, x, 0.0))


def hardshrink_vjp(xp, g, out, x, *, lambd=0.5):
    return (xp.where(x > lambd, g, xp.where(x < -lambd, g, 0.0)),)


# x - tanh(x) = sum of TANHSHRINK_SERIES[k] x^(2k+3): below |x| = 1/2, 18 terms are within 1.3e-18 of it
TANHSHRINK_SERIES = (1 / 3, -2 / 15, 17 / 315, -62 / 2835, 1382 / 155925, -21844 / 6081075, 929569 / 638512875,
                     -6404582 / 10854718875, 443861162 / 1856156927625, -18888466084 / 194896477400625,
                     113927491862 / 2900518163668125, -58870668456604 / 3698160658676859375,
                     8374643517010684 / 1298054391195577640625, -689005380505609448 / 263505041412702261046875,
                     129848163681107301953 / 122529844256906551386796875,
                     -1736640792209901647222 / 4043484860477916195764296875,
                     418781231495293038913922 / 2405873491984360136479756640625,
                     -56518638202982204522669764 / 801155872830791925447758961328125)


def _tanhshrink_series(x, derivative):
    """The series of x - tanh(x), or of its derivative; each coefficient meets x before any other number, so that
    on symbols it stays the exact decimal it prints as and the derivative's series is exactly the derivative."""
    u = x * x
    power, total = u, 0.0
    for k, c in enumerate(TANHSHRINK_SERIES):
        total = total + power * (2 * k + 3 if derivative else x) * c
        power = power * u
    return total


def tanhshrink(xp, x):
    """x - tanh(x), by its series below |x| = 1/2: x - tanh(x) cancels there (to 0 for |x| < 1e-8, where it is x^3/3)."""
    return xp.where(xp.abs(x) < 0.5, _tanhshrink_series(x, False), x - xp.tanh(x))


def tanhshrink_vjp(xp, g, out, x):
    t = xp.tanh(x)
    return (g * xp.where(xp.abs(x) < 0.5, _tanhshrink_series(x, True), t * t),)


def threshold(xp, x, *, threshold, value):
    """x where x > threshold, value elsewhere (a jump at threshold, where the vjp gives 0, as PyTorch does)."""
    return xp.where(x > threshold, x, 1.0 * value)  # 1.0 *: a value that is no number fails, whichever branch is taken


def threshold_vjp(xp, g, out, x, *, threshold, value):
    return (xp.where(x > threshold, g, 0.0),)


LAMBDAS = ({"lambd": 0.5}, {"lambd": 1.25})
OPS = (
    Op("celu", celu, celu_vjp, kinks=(Kink(0.0, 1.0),), examples=({"alpha": 1.0}, {"alpha": 0.5})),
    Op("selu", selu, selu_vjp, kinks=(Kink(0.0, SELU_SCALE * SELU_ALPHA),)),
    Op("gelu_exact", gelu_exact, gelu_exact_vjp),
    Op("logsigmoid", logsigmoid, logsigmoid_vjp),
    Op("relu6", relu6, relu6_vjp, kinks=(Kink(0.0, 0.0), Kink(6.0, 0.0))),
    Op("hardsigmoid", hardsigmoid, hardsigmoid_vjp, kinks=(Kink(-3.0, 0.0), Kink(3.0, 0.0))),
    Op("hardswish", hardswish, hardswish_vjp, kinks=(Kink(-3.0, 0.0), Kink(3.0, 1.0))),
    Op("prelu", prelu, prelu_vjp, kinks=(Kink((0.0, 0.25), (0.25, 0.0)),)),
    Op("softshrink", softshrink, softshrink_vjp, kinks=(Kink(-0.5, 0.0), Kink(0.5, 0.0)), examples=LAMBDAS),
    Op("hardshrink", hardshrink, hardshrink_vjp, kinks=(Kink(-0.5, 0.0), Kink(0.5, 0.0)), examples=LAMBDAS),
    Op("tanhshrink", tanhshrink, tanhshrink_vjp),
    Op("threshold", threshold, threshold_vjp, kinks=(Kink(0.5, 0.0),),
       examples=({"threshold": 0.5, "value": -1.0}, {"threshold": -2.0, "value": 3.0})),
)


@hookimpl
def microreg_ops():
    return OPS
