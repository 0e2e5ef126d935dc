"""Every registered op, through the registry: gradients against central differences, kinks, arrays, second derivatives.

Nothing here names a particular op: a plugin's ops are checked the moment it is installed. Each check
is a function returning the problems it found, so that a test of the checker itself (a deliberately
wrong vjp) can show that it fails.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import operator
import random
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from wrong_vjps import DRIFTING, HELPERS, SECOND_ORDER, WRONG, WRONG_FUSED, cases

from microreg import DomainError, Kink, Op, Value, apply, grad, registry, value

#: Sample points inside each domain: away from 0 and from round numbers, where kinks usually sit.
POINTS = {
    "real": (-1.73, -0.47, 0.31, 1.29),
    "positive": (0.29, 0.83, 1.61, 2.37),
    "nonnegative": (0.23, 0.71, 1.43, 2.19),
    "nonzero": (-1.61, -0.43, 0.53, 1.87),
}
#: Points outside each domain, and huge finite ones: the op must give a finite result or a DomainError.
HOSTILE = {
    "real": (-1e300, -1000.0, 1000.0, 1e300),
    "positive": (-0.7, 0.0, 1e-300, 1e300),
    "nonnegative": (-0.7, 1e-300, 1e300),
    "nonzero": (0.0, -1e-300, 1e300),
}
H = 1e-5  # central-difference step: truncation ~H**2, rounding ~1e-16/H, both far below the tolerances


def points(op: Op) -> list[tuple[float, ...]]:
    """Sample points inside every input's domain, none within 1e-3 of a declared kink, none with two equal inputs
    (unless an op takes more inputs than there are sample values); at most 64, drawn (seeded) from the grid
    when there are more (an op of six inputs has 4**6 grid points).

    (A binary op may branch where its inputs are equal, as maximum does along the whole line x = y.)
    """
    grid = list(itertools.product(*(POINTS[d] for d in op.domains)))
    grid = [p for p in grid if len(set(p)) == len(p)] or grid
    return at_most(64, [p for p in grid if not any(all(abs(x - a) < 1e-3 for x, a in zip(p, k.at)) for k in op.kinks)])


def at_most(n: int, found: list) -> list:
    """found, or n of its items drawn at random (seeded) if it has more."""
    return found if len(found) <= n else random.Random(0).sample(found, n)


def call(op: Op, args: Sequence[Any], params: dict[str, Any]) -> Any:
    """op applied the way a user writes it: the Value method generated for it (apply() if the first input is a constant)."""
    first, *rest = args
    if isinstance(first, Value):
        return getattr(first, op.name)(*rest, **params)
    return apply(op, tuple(args), params)


def engine_grads(op: Op, point: Sequence[float], params: dict[str, Any]) -> list[float]:
    """d op / d input at point, from backward() on fresh scalar Values."""
    xs = [Value(x) for x in point]
    call(op, xs, params).backward()
    return [x.grad for x in xs]


def central(f: Callable[[list[float]], float], point: Sequence[float], i: int) -> float:
    """The float64 central difference of f in its i-th input."""
    up, down = list(point), list(point)
    up[i] += H
    down[i] -= H
    return (f(up) - f(down)) / (2 * H)


def close(got: float, want: float, rtol: float, atol: float) -> bool:
    return math.isfinite(got) and abs(got - want) <= atol + rtol * abs(want)


def gradient_errors(op: Op, params: dict[str, Any]) -> list[str]:
    """Where backward() disagrees with central differences of the forward (rtol 1e-6)."""
    errors = []
    for p in points(op):
        got = engine_grads(op, p, params)
        for i, name in enumerate(op.inputs):
            want = central(lambda q: apply(op, tuple(q), params), p, i)
            if not close(got[i], want, rtol=1e-6, atol=1e-8):
                errors.append(f"d{op.name}/d{name} at {p}: engine {got[i]!r}, central difference {want!r}")
    return errors


def kink_errors(op: Op, kink: Kink, params: dict[str, Any]) -> list[str]:
    """Where the vjp at a declared kink (g = 1) differs from the declared value, on scalars and on arrays."""
    want = [0.0 if g is None else g for g in kink.grad]
    got = engine_grads(op, kink.at, params)
    errors = [f"scalar: {got} != declared {want}"] if got != pytest.approx(want, rel=1e-12, abs=1e-300) else []
    xs = [Value(np.full(3, a)) for a in kink.at]
    call(op, xs, params).sum().backward()
    for x, name, w in zip(xs, op.inputs, want):
        if not np.allclose(x.grad, w, rtol=1e-12, atol=1e-300):
            errors.append(f"array: d/d{name} = {x.grad} != declared {w}")
    return errors


def test_every_op_has_sample_points(op):
    assert points(op), f"{op.name}: every sample point of domains {op.domains} lies on a declared kink"


def test_examples_bind_every_static_parameter(op):
    for example in op.examples:
        bound = op.bind((), example)
        assert set(bound) == set(op.params), f"{op.name}: example {example} leaves {set(op.params) - set(bound)} unset"


def test_every_op_is_a_value_method(op):
    method = getattr(Value, op.name)
    assert method.__name__ == op.name
    assert method.__doc__ == op.doc


def test_every_op_method_shows_its_real_signature(op_case):
    """help(v.leaky_relu) shows (negative_slope=0.01), not (*args, **kw); and the call it shows works."""
    op, params = op_case
    shown = inspect.signature(getattr(Value(0.5), op.name))
    variadic = registry.get(op.name).variadic  # dot at four inputs shows (*wx): self is the first of them
    assert list(shown.parameters) == [*([variadic] if variadic else op.inputs[1:]), *op.params]
    assert {k: p.default for k, p in shown.parameters.items() if k in op.params} == dict(op.params)
    args = [Value(x) for x in points(op)[0]]
    by_signature = shown.bind(*args[1:], **params)  # the call help() describes binds ...
    out = getattr(args[0], op.name)(*by_signature.args, **by_signature.kwargs)  # ... and runs
    assert out.params == params


def test_gradient_matches_central_difference(op_case):
    errors = gradient_errors(*op_case)
    assert not errors, "\n".join(errors)


def test_kink_vjp_takes_declared_value(kink_case):
    errors = kink_errors(*kink_case)
    assert not errors, "\n".join(errors)


def test_constant_operand_gets_the_same_gradient(binary_case):
    op, params = binary_case
    for x, y in points(op):
        both = Value(x), Value(y)
        out = call(op, both, params)
        out.backward()
        left = Value(x)
        out_left = call(op, (left, y), params)
        out_left.backward()
        right = Value(y)
        out_right = call(op, (x, right), params)
        out_right.backward()
        assert out_left.data == out_right.data == out.data, (x, y)
        assert (left.grad, right.grad) == (both[0].grad, both[1].grad), (x, y)


def test_array_matches_scalar_elementwise(op_case):
    op, params = op_case
    pts = points(op)
    xs = [Value(np.array(col)) for col in zip(*pts)]
    out = call(op, xs, params)
    assert isinstance(out.data, np.ndarray) and out.data.shape == (len(pts),)
    np.testing.assert_allclose(out.data, [apply(op, p, params) for p in pts], rtol=1e-12, atol=1e-15)
    out.sum().backward()
    scalar = np.array([engine_grads(op, p, params) for p in pts])
    for i, x in enumerate(xs):
        np.testing.assert_allclose(x.grad, scalar[:, i], rtol=1e-12, atol=1e-15, err_msg=f"d{op.name}/d{op.inputs[i]}")


@pytest.mark.parametrize("scalar_input", [0, 1])
def test_array_broadcast_sums_the_scalar_inputs_gradient(binary_case, scalar_input):
    op, params = binary_case
    pts = points(op)
    fixed = pts[0][scalar_input]
    rows = [p for p in pts if p[scalar_input] == fixed]
    s = Value(fixed)
    arr = Value(np.array([p[1 - scalar_input] for p in rows]))
    out = call(op, (s, arr) if scalar_input == 0 else (arr, s), params)
    out.sum().backward()
    scalar = np.array([engine_grads(op, p, params) for p in rows])
    assert type(s.grad) is float
    assert s.grad == pytest.approx(scalar[:, scalar_input].sum(), rel=1e-12)
    np.testing.assert_allclose(arr.grad, scalar[:, 1 - scalar_input], rtol=1e-12, atol=1e-15)


def test_array_outer_broadcast_unbroadcasts_to_each_shape(binary_case):
    op, params = binary_case
    xs_, ys_ = (POINTS[d] for d in op.domains)
    x, y = Value(np.array(xs_).reshape(-1, 1)), Value(np.array(ys_).reshape(1, -1))
    out = call(op, (x, y), params)
    assert out.data.shape == (len(xs_), len(ys_))
    out.sum().backward()
    scalar = np.array([[engine_grads(op, (a, b), params) for b in ys_] for a in xs_])
    assert x.grad.shape == x.data.shape and y.grad.shape == y.data.shape
    np.testing.assert_allclose(x.grad[:, 0], scalar[:, :, 0].sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(y.grad[0], scalar[:, :, 1].sum(axis=0), rtol=1e-12)


def test_second_derivative_matches_central_difference(op_case):
    """grad(create_graph=True) is differentiable again; a plain-number gradient must be a constant one."""
    op, params = op_case
    errors = []
    for p in points(op):
        xs = [Value(x) for x in p]
        firsts = grad(call(op, xs, params), xs, create_graph=True)
        plain = engine_grads(op, p, params)
        for i, gi in enumerate(firsts):
            value = gi.data if isinstance(gi, Value) else gi
            if value != pytest.approx(plain[i], rel=1e-12, abs=1e-300):
                errors.append(f"d{op.name}/d{op.inputs[i]} at {p}: create_graph gives {value!r}, backward() {plain[i]!r}")
            seconds = grad(gi, xs) if isinstance(gi, Value) else [0.0] * op.arity
            for j, name in enumerate(op.inputs):
                want = central(lambda q, i=i: engine_grads(op, q, params)[i], p, j)
                if not close(seconds[j], want, rtol=1e-5, atol=1e-6):
                    errors.append(f"d2{op.name}/d{op.inputs[i]}d{name} at {p}: engine {seconds[j]!r}, central difference {want!r}")
    assert not errors, "\n".join(errors)


def _finite_or_domain_error(op: Op, what: str, fn: Callable[[tuple[float, ...]], Any], point: tuple[float, ...]) -> str | None:
    try:
        result = fn(point)
    except DomainError as exc:
        return None if op.name in str(exc) else f"{what} at {point}: DomainError not naming {op.name!r}: {exc}"
    except Exception as exc:  # noqa: BLE001 - any other exception is the finding
        return f"{what} at {point}: {type(exc).__name__}: {exc}"
    return None if np.all(np.isfinite(result)) else f"{what} at {point}: non-finite {result!r}"


def test_hostile_inputs_give_finite_results_or_domain_error(op_case):
    """Outside the domain and at huge inputs: a finite value and gradient, or a DomainError naming the op (never NaN/inf)."""
    op, params = op_case

    def array_grads(point: tuple[float, ...]) -> list[Any]:
        xs = [Value(np.array([x])) for x in point]
        call(op, xs, params).sum().backward()
        return [x.grad for x in xs]

    checks = {
        "forward": lambda point: apply(op, point, params),
        "scalar gradient": lambda point: engine_grads(op, point, params),
        "array gradient": array_grads,
    }
    errors = [_finite_or_domain_error(op, what, fn, p)
              for p in at_most(256, list(itertools.product(*(HOSTILE[d] for d in op.domains)))) for what, fn in checks.items()]
    errors = [e for e in errors if e]
    assert not errors, "\n".join(errors)


# -- hostile points: the scalar and the array path agree, or both refuse -------------------------------

#: Zeros of both signs, subnormals, the smallest normal, where exp overflows (710), far beyond it, and
#: where squares (1e154) and cubes (1e103) of a finite number overflow, up to the largest floats.
HOSTILE_POINTS = tuple(s * m for m in (0.0, 5e-324, 1e-310, 2.2250738585072014e-308, 710.0, 1000.0, 1e103, 1e154, 1e200, 1e308)
                       for s in (1.0, -1.0))


def hostile_points(op: Op) -> list[tuple[float, ...]]:
    """HOSTILE_POINTS and the op's kinks for each input: every combination for a binary op, 100 for more inputs."""
    per_input = [sorted(set(HOSTILE_POINTS) | {k.at[i] for k in op.kinks}, key=lambda x: (x, math.copysign(1, x)))
                 for i in range(op.arity)]
    if op.arity > 2:  # 20**n combinations: 100 of them, drawn (seeded)
        rng = random.Random(0)
        return [tuple(rng.choice(values) for values in per_input) for _ in range(100)]
    return list(itertools.product(*per_input))


def outcome(op: Op, point: tuple[float, ...], params: dict[str, Any], constant: int | None, array: bool) -> tuple:
    """('ok', value, gradients) or ('DomainError', stage), on the array path (1-element arrays) or the scalar one.

    Input number ``constant`` is a plain float, not a Value (the others are Values).
    """
    xs = [x if i == constant else Value(np.array([x]) if array else x) for i, x in enumerate(point)]
    try:
        out = call(op, xs, params)
    except DomainError:
        return ("DomainError", "forward")
    try:
        out.sum().backward()
    except DomainError:
        return ("DomainError", "backward")
    grads = tuple(float(np.sum(x.grad)) for x in xs if isinstance(x, Value))
    return ("ok", float(np.sum(out.data)), grads)


def agree(a: tuple, b: tuple) -> bool:
    """The same outcome: both refused at the same stage, or the same value and gradients (to a few ulps)."""
    if a[0] != b[0] or a[0] != "ok":
        return a == b
    want, got = (a[1], *a[2]), (b[1], *b[2])
    return all(math.isfinite(x) and math.isfinite(y) and math.isclose(x, y, rel_tol=1e-13, abs_tol=1e-300) for x, y in zip(want, got))


def path_disagreements(op: Op, params: dict[str, Any]) -> list[str]:
    """Where the scalar and the array path of op disagree at hostile points, each input a Value or a constant."""
    errors = []
    for point in hostile_points(op):
        for constant in (None, *range(op.arity)) if op.arity > 1 else (None,):
            scalar, array = (outcome(op, point, params, constant, array) for array in (False, True))
            if not agree(scalar, array):
                where = "" if constant is None else f", input {op.inputs[constant]} a constant"
                errors.append(f"{op.name}{params or ''} at {point}{where}: scalar {scalar}, array {array}")
    return errors


def test_scalar_and_array_paths_agree_at_hostile_points(op_case):
    """The same value and gradients, or a DomainError on both, never a number on one path and an error on the other."""
    errors = path_disagreements(*op_case)
    assert not errors, "\n".join(errors[:20]) + f"\n({len(errors)} in all)"


# -- ops that are not elementwise (matmul), at each example of their input shapes -----------------------


def array_inputs(op: Op, shapes: tuple, seed: int = 0) -> list[np.ndarray]:
    """Random arrays of the given shapes inside each input's domain, away from 0."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(0.3, 2.0, s) * (1.0 if d in ("positive", "nonnegative") else rng.choice((-1.0, 1.0), s))
            for s, d in zip(shapes, op.domains)]


def weighted(op: Op, params: dict[str, Any], weights: np.ndarray) -> Callable[[list[np.ndarray]], float]:
    """The scalar sum(weights * op(inputs)), a function of plain arrays, for central differences."""
    return lambda arrays: float(np.sum(weights * apply(op, tuple(arrays), params)))


def array_central(f: Callable[[list[np.ndarray]], float], arrays: list[np.ndarray], i: int, idx: tuple) -> float:
    """The central difference of f in element idx of its i-th input."""
    up, down = [a.copy() for a in arrays], [a.copy() for a in arrays]
    up[i][idx] += H
    down[i][idx] -= H
    return (f(up) - f(down)) / (2 * H)


def array_gradient_errors(op: Op, shapes: tuple, params: dict[str, Any]) -> list[str]:
    """Where backward() of sum(w * op(inputs)) on arrays disagrees with central differences, element by element."""
    arrays = array_inputs(op, shapes)
    xs = [Value(a) for a in arrays]
    out = apply(op, tuple(xs), params)
    weights = np.random.default_rng(1).uniform(-1.0, 1.0, np.shape(out.data))
    try:
        (out * weights).sum().backward()
    except TypeError as exc:  # the engine refusing a cotangent of another shape than its input's
        return [f"backward() of {op.name} at input shapes {shapes}: {exc}"]
    f = weighted(op, params, weights)
    errors = []
    for i, x in enumerate(xs):
        for idx in np.ndindex(*shapes[i]):
            want = array_central(f, arrays, i, idx)
            if not close(float(x.grad[idx]), want, rtol=1e-6, atol=1e-8):
                errors.append(f"d{op.name}/d{op.inputs[i]}{list(idx)}: engine {float(x.grad[idx])!r}, central difference {want!r}")
    return errors


def array_second_derivative_errors(op: Op, shapes: tuple, params: dict[str, Any]) -> list[str]:
    """Where d/dx_j of sum(r * d(sum(w * op))/dx_i), by grad(create_graph=True) twice, disagrees with central
    differences of the first derivative."""
    arrays = array_inputs(op, shapes)
    weights = np.random.default_rng(1).uniform(-1.0, 1.0, np.shape(apply(op, tuple(arrays), params)))

    def first(values: list[Any], i: int, create_graph: bool) -> Any:
        return grad((apply(op, tuple(values), params) * weights).sum(), values, create_graph=create_graph)[i]

    errors = []
    for i in range(op.arity):
        r = np.random.default_rng(2 + i).uniform(-1.0, 1.0, shapes[i])
        xs = [Value(a) for a in arrays]
        seconds = grad((first(xs, i, True) * r).sum(), xs)

        def f(arrays: list[np.ndarray], i: int = i, r: np.ndarray = r) -> float:
            return float(np.sum(r * first([Value(a) for a in arrays], i, False)))

        for j in range(op.arity):
            for idx in np.ndindex(*shapes[j]):
                got, want = float(np.broadcast_to(seconds[j], shapes[j])[idx]), array_central(f, arrays, j, idx)
                if not close(got, want, rtol=1e-5, atol=1e-6):
                    errors.append(f"d2{op.name}/d{op.inputs[i]}d{op.inputs[j]}{list(idx)}: engine {got!r}, central difference {want!r}")
    return errors


def test_array_op_gradient_matches_central_difference(array_case):
    errors = array_gradient_errors(*array_case)
    assert not errors, "\n".join(errors)


def test_array_op_second_derivative_matches_central_difference(array_case):
    errors = array_second_derivative_errors(*array_case)
    assert not errors, "\n".join(errors)


# -- the checks themselves must be able to fail ------------------------------------------------------


#: The wrong vjps the gradient check is not meant to catch, and why.
MISSING_G = "wrong only for g != 1, and backward() starts from g = 1"
AT_A_KINK = "wrong only at its kink, which the sample points avoid (the kink check catches it)"
NOT_CAUGHT_BY_GRADIENTS = {"tanh_missing_g": MISSING_G, "add_missing_g_second": MISSING_G,
                           "relu_wrong_kink": AT_A_KINK, "absolute_wrong_kink": AT_A_KINK}


@pytest.mark.parametrize("wrong_op", cases(WRONG, NOT_CAUGHT_BY_GRADIENTS))
def test_gradient_check_catches_a_wrong_vjp(register_op, wrong_op):
    register_op(wrong_op)
    assert any(gradient_errors(wrong_op, params) for params in wrong_op.examples)


KINKED = [pytest.param(op, kink, id=f"{op.name}@{kink.at[0]:g}", marks=[pytest.mark.xfail(
              strict=True, reason="its wrong branch is x < -1: at 1 it gives the declared 0")] if op.name == "clamp_wrong_branch"
              and kink.at == (1.0,) else []) for _, op in WRONG for kink in op.kinks]


@pytest.mark.parametrize(("wrong_op", "kink"), KINKED)
def test_kink_check_catches_a_wrong_value_at_a_declared_kink(register_op, wrong_op, kink):
    register_op(wrong_op)
    assert {e.split(":")[0] for e in kink_errors(wrong_op, kink, {})} == {"scalar", "array"}


def test_path_check_catches_a_scalar_path_that_drifted(register_op):
    register_op(DRIFTING)
    assert path_disagreements(DRIFTING, {})


def fused_cases(op: Op) -> list[tuple[Op, tuple]]:
    """(form, input shapes) for each declared shape of an op on arrays; a variadic op at each arity, on vectors of 3."""
    return [(op, shapes) for shapes in op.shapes] or [(form, ((3,),) * form.arity) for form in op.forms()]


@pytest.mark.parametrize("wrong_op", cases(WRONG_FUSED, {}))
def test_array_gradient_check_catches_a_wrong_vjp_of_a_fused_op(register_op, wrong_op):
    register_op(wrong_op)
    assert any(array_gradient_errors(form, shapes, wrong_op.examples[0]) for form, shapes in fused_cases(wrong_op))


@pytest.mark.parametrize("wrong_op", cases(SECOND_ORDER, {}))
def test_array_second_derivative_check_catches_a_helper_op_wrong_inside_the_vjp(register_op, wrong_op):
    register_op(*HELPERS, wrong_op)
    assert array_second_derivative_errors(wrong_op, ((3,),), {})
    assert not array_gradient_errors(wrong_op, ((3,),), {})  # right at first order


# -- every operand type: a TypeError naming the op and the operand -------------------------------------


def _bad_operands() -> list[Any]:
    """Things that are not real numbers, arrays of them or Values, including another engine's tensor."""
    bad = [None, "a", ["a", "b"], 1j, True, Decimal("1.5")]
    try:
        import torch
    except ImportError:
        return bad
    return [*bad, torch.tensor(1.5, dtype=torch.float64)]


BAD_OPERANDS = [pytest.param(b, id=type(b).__name__ + ("_of_str" if isinstance(b, list) else "")) for b in _bad_operands()]
#: Every binary operator, from the engine's own table, with pow (``v ** n``), as the operator module applies them.
BINARY_OPERATORS = {name: getattr(operator, dunders[0]) for name, dunders in value.OPERATORS.items() if len(dunders) == 2}
BINARY_OPERATORS["pow"] = operator.pow


def assert_refused(call: Callable[[], Any], op_name: str, operand: Any) -> None:
    with pytest.raises(TypeError) as info:
        call()
    message = str(info.value)
    assert f"{op_name}(" in message and type(operand).__name__ in message, f"{op_name} with {operand!r}: {message}"


@pytest.mark.parametrize("bad", [*BAD_OPERANDS, pytest.param([1.5], id="list_of_float")])  # an operator takes no list
@pytest.mark.parametrize("name", BINARY_OPERATORS)
def test_an_operator_refuses_an_operand_that_is_not_a_number_naming_the_op_and_the_operand(name, bad):
    fn = BINARY_OPERATORS[name]
    assert_refused(lambda: fn(Value(1.5), bad), name, bad)
    assert_refused(lambda: fn(Value(np.array([1.5, 2.5])), bad), name, bad)
    if type(bad).__module__ != "torch":  # a tensor on the left is torch's to refuse, in its own words
        assert_refused(lambda: fn(bad, Value(1.5)), name, bad)


@pytest.mark.parametrize("bad", BAD_OPERANDS)
def test_an_op_refuses_an_input_that_is_not_a_number_naming_the_op_and_the_operand(op_case, bad):
    """At every input, through apply() and through the named method (a binary op's second input)."""
    op, params = op_case
    for i in range(op.arity):
        args = [Value(1.5) for _ in op.inputs]
        args[i] = bad
        assert_refused(functools.partial(apply, op, tuple(args), params), op.name, bad)
    if op.arity == 2:
        assert_refused(lambda: getattr(Value(1.5), op.name)(bad, **params), op.name, bad)


#: Each static parameter of each registered op with each value that cannot be a number, except a value the op
#: declares valid (sum's axis=None).
BAD_PARAMS = [pytest.param((op, name, bad), id=f"{op.name}.{name}={label}")
              for op in sorted(registry.ops().values(), key=lambda op: op.name) for name in op.params
              for bad, label in ((None, "None"), ("a", "str"), (["a", "b"], "list_of_str"))
              if all(example[name] != bad for example in op.examples)]


@pytest.mark.parametrize("bad_param", BAD_PARAMS)
def test_a_static_parameter_that_cannot_be_a_number_is_an_error_naming_the_op(bad_param):
    """Static parameters are passed to the op as given (a plugin's may be a string); one that fails is named with the op."""
    op, name, bad = bad_param
    params = {**op.examples[0], name: bad}
    with pytest.raises((TypeError, DomainError)) as info:
        call(op, [Value(1.5) for _ in op.inputs], params)
    assert f"{op.name}(" in str(info.value) and repr(bad) in str(info.value), str(info.value)
