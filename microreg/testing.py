"""The checks microreg runs on every op, for a plugin author's tests and the project's own (also a pytest plugin).

Every check the project runs on its own ops, in five lines of a plugin author's test file::

    import pytest
    from microreg.testing import check_op, checks_of

    @pytest.mark.parametrize(("name", "check"), checks_of("my_plugin"))
    def test_microregs_checks(name, check):
        check_op(name, check)

one test per op and check (``softplus-hostile_points``); or ``check_op("softplus")``, every check in one call. The
checks, in ``CHECKS``: the audit (SymPy's proof at order 2 and the float64 accuracy, strict), gradients and second
derivatives against central differences, declared kinks, arrays against scalars (broadcast both ways), ops on whole
arrays, hostile inputs (a finite result or a ``DomainError`` naming the op), hostile points (the scalar and the array
path agree at ±0, subnormals, 710, 1e154, 1e308 and the kinks, or both refuse), operand types (None, a string, a
complex, a bool, a Decimal, a torch tensor: a ``TypeError`` naming the op and the operand) and random graphs around
the op against torch's autograd of its own forward, to the third derivative (where torch and hypothesis are installed;
skipped otherwise). Each check of a case is also a function returning the problems it found (``gradient_errors(op,
params)``, ...), which is what the project's tests call.

Fixtures: ``register_op(op, ...)`` registers ops for the duration of one test; ``audited(op)`` is the audit of an op at
order 2, accuracy included, run once per test session for every test that reads it. ``assert_proved(*ops)`` is the
audit alone, ``ops_of(plugin)`` a plugin's op names.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pytest

from . import export, value
from .backends import Namespace
from .op import REQUIRED, Kink, Op
from .plugins import registry
from .value import DomainError, Value, apply, grad

if TYPE_CHECKING:
    from hypothesis.strategies import DataObject

    from .audit import OpAudit

T = TypeVar("T")
Shapes = tuple[tuple[int, ...], ...]  # an example of the input shapes of an op on whole arrays, one per input


@pytest.fixture
def register_op() -> Iterator[Callable[..., tuple[Op, ...]]]:
    """Register ops only for the calling test: ``register_op(Op("twice", ...))``; removed afterwards."""
    with ExitStack() as stack:

        def register(*ops: Op) -> tuple[Op, ...]:
            return stack.enter_context(registry.temporary(*ops))

        yield register


@functools.cache
def _audit_once(op: Op) -> OpAudit:
    """The audit of op at order 2, accuracy included, once per process. A generous time budget: a loaded machine must
    not turn a slow proof into a failure here."""
    from .audit import audit

    (record,) = audit([op], order=2, budget=120)
    return record


@pytest.fixture(scope="session")
def audited() -> Callable[[Op | str], OpAudit]:
    """``audited(op)`` (an Op, or the name of a registered one): its audit at order 2 with the accuracy audit, run
    once per session for every test that reads it; a project's tests and its plugins' own then share one audit."""

    def audited(op: Op | str) -> OpAudit:
        return _audit_once(registry.get(op) if isinstance(op, str) else op)  # by the Op: a name may be registered again

    return audited


def assert_proved(*ops: Op | str, order: int = 1, budget: float | None = None) -> list[OpAudit]:
    """Fail with the audit's report unless every op (a registered name or an ``Op``) is proved and accurate; return the audits.

    "Strict" in the one sense microreg uses everywhere: an inconclusive verdict, or an accuracy the audit
    could not measure, fails too. ``order=2`` also checks second derivatives; ``budget`` is the time limit
    per op in seconds (default: $MICROREG_AUDIT_BUDGET, else the audit's default). Called with no op it
    raises TypeError rather than pass vacuously (``assert_proved(*ops_of("mine"))`` for a plugin that
    registered nothing).
    """
    __tracebackhide__ = True
    if not ops:
        raise TypeError("assert_proved() needs at least one op or op name; assert_proved(*ops_of()) audits every registered op")
    from .audit import audit

    records = audit(ops, order=order, budget=budget)
    failed = [r for r in records if r.fails(strict=True)]
    if failed:
        raise AssertionError("the microreg audit does not prove and find accurate "
                             + ", ".join(f"{r.op} ({r.verdict}, {r.accuracy})" for r in failed)
                             + ":\n" + "\n".join(r.report() for r in failed))
    return records


def ops_of(plugin: str | None = None) -> list[str]:
    """The names of the registered ops, sorted; only those of plugin (its entry-point name) if given."""
    names = sorted(registry.ops())
    if plugin is None:
        return names
    if plugin not in registry.plugins:
        raise LookupError(f"no plugin named {plugin!r} is loaded; loaded: {', '.join(sorted(registry.plugins))}")
    if registry.plugins[plugin].error:
        raise LookupError(f"plugin {plugin!r} failed to load: {registry.plugins[plugin].error}")
    return [n for n in names if registry.origin(n).name == plugin]


# -- the cases of an op ----------------------------------------------------------------------------


def cases(op: Op) -> list[tuple[Op, dict[str, Any]]]:
    """(form, params) for each example of op's static parameters, a variadic op at each arity it declares (``Op.forms``);
    none for an op on whole arrays (``array_cases``)."""
    return [] if op.shapes else [(form, dict(p)) for form in op.forms() for p in op.examples]


def kink_params(op: Op) -> dict[str, Any]:
    """The static parameters a kink is declared for: the defaults, required ones from the first example."""
    defaults = {k: d for k, d in op.params.items() if d is not REQUIRED}
    return {**{k: v for k, v in op.examples[0].items() if k not in defaults}, **defaults}


def kink_cases(op: Op) -> list[tuple[Op, Kink, dict[str, Any]]]:
    """(op, kink, params) for each declared kink."""
    return [(op, k, kink_params(op)) for k in op.kinks]


def array_cases(op: Op) -> list[tuple[Op, Shapes, dict[str, Any]]]:
    """(op, input shapes, params) for an op on whole arrays, at each example of its shapes and parameters."""
    return [(op, shapes, dict(p)) for shapes in op.shapes for p in op.examples]


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


def at_most(n: int, found: list[T]) -> list[T]:
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
    return [float(x.grad) for x in xs]


def central(f: Callable[[list[float]], float], point: Sequence[float], i: int) -> float:
    """The float64 central difference of f in its i-th input."""
    up, down = list(point), list(point)
    up[i] += H
    down[i] -= H
    return (f(up) - f(down)) / (2 * H)


def close(got: float, want: float, rtol: float, atol: float) -> bool:
    return math.isfinite(got) and abs(got - want) <= atol + rtol * abs(want)


def differ(got: Any, want: Any, what: str, rtol: float = 1e-12, atol: float = 1e-15) -> list[str]:
    """[what, both values] if got and want (numbers or arrays) differ in shape or beyond the tolerances, else []."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    same = got.shape == want.shape and np.allclose(got, want, rtol=rtol, atol=atol)
    return [] if same else [f"{what}: got {got.tolist()}, expected {want.tolist()}"]


# -- checks of an elementwise op at one example of its parameters ----------------------------------


def gradient_errors(op: Op, params: dict[str, Any]) -> list[str]:
    """Where backward() disagrees with central differences of the forward (rtol 1e-6)."""
    found = points(op)
    if not found:
        return [f"{op.name}: every sample point of domains {op.domains} lies on a declared kink"]
    errors = []
    for p in found:
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
    errors = [f"scalar: {got} != declared {want}"] if differ(got, want, "", rtol=1e-12, atol=1e-300) else []
    xs = [Value(np.full(3, a)) for a in kink.at]
    call(op, xs, params).sum().backward()
    for x, name, w in zip(xs, op.inputs, want):
        if not np.allclose(x.grad, w, rtol=1e-12, atol=1e-300):
            errors.append(f"array: d/d{name} = {x.grad} != declared {w}")
    return errors


def second_derivative_errors(op: Op, params: dict[str, Any]) -> list[str]:
    """Where grad(create_graph=True) differs from backward(), or its derivative from central differences of the first
    derivative; a plain-number gradient must be a constant one."""
    errors = []
    for p in points(op):
        xs = [Value(x) for x in p]
        firsts = grad(call(op, xs, params), xs, create_graph=True)
        plain = engine_grads(op, p, params)
        for i, gi in enumerate(firsts):
            value = float(gi.data if isinstance(gi, Value) else gi)
            if not close(value, plain[i], rtol=1e-12, atol=1e-300):
                errors.append(f"d{op.name}/d{op.inputs[i]} at {p}: create_graph gives {value!r}, backward() {plain[i]!r}")
            seconds = grad(gi, xs) if isinstance(gi, Value) else [0.0] * len(xs)
            def first(q: Sequence[float], i: int = i) -> float:
                return engine_grads(op, q, params)[i]

            for j, name in enumerate(op.inputs):
                want = central(first, p, j)
                if not close(seconds[j], want, rtol=1e-5, atol=1e-6):
                    errors.append(f"d2{op.name}/d{op.inputs[i]}d{name} at {p}: engine {seconds[j]!r}, central difference {want!r}")
    return errors


def array_errors(op: Op, params: dict[str, Any]) -> list[str]:
    """Where op on arrays differs from op on each point's scalars, in value or gradient."""
    pts = points(op)
    xs = [Value(np.array(col)) for col in zip(*pts)]
    out = call(op, xs, params)
    errors = differ(out.data, [apply(op, p, params) for p in pts], f"{op.name} on arrays")
    out.sum().backward()
    scalar = np.array([engine_grads(op, p, params) for p in pts])
    for i, x in enumerate(xs):
        errors += differ(x.grad, scalar[:, i], f"d{op.name}/d{op.inputs[i]} on arrays")
    return errors


def broadcast_errors(op: Op, params: dict[str, Any]) -> list[str]:
    """A binary op: a constant operand changes no value or gradient; a scalar against an array gets the sum of the
    array's gradients; a column against a row gets each summed back to its own shape."""
    if op.arity != 2:
        return []
    errors = []
    for x, y in points(op):
        both, left, right = (Value(x), Value(y)), Value(x), Value(y)
        outs = [call(op, both, params), call(op, (left, y), params), call(op, (x, right), params)]
        for out in outs:
            out.backward()
        errors += differ([outs[1].data, outs[2].data, left.grad, right.grad], [outs[0].data, outs[0].data, *(v.grad for v in both)],
                         f"{op.name}{x, y}, one input a constant (value, value, gradients)", 0, 0)
    pts = points(op)
    for i in (0, 1):
        rows = [p for p in pts if p[i] == pts[0][i]]
        s, arr = Value(pts[0][i]), Value(np.array([p[1 - i] for p in rows]))
        call(op, (s, arr) if i == 0 else (arr, s), params).sum().backward()
        scalar = np.array([engine_grads(op, p, params) for p in rows])
        if type(s.grad) is not float:
            errors.append(f"{op.name}: the gradient of scalar input {op.inputs[i]} is a {type(s.grad).__name__}, not a float")
        errors += differ(s.grad, scalar[:, i].sum(), f"d{op.name}/d{op.inputs[i]}, a scalar against an array")
        errors += differ(arr.grad, scalar[:, 1 - i], f"d{op.name}/d{op.inputs[1 - i]}, an array against a scalar")
    column, row = (POINTS[d] for d in op.domains)
    xs, ys = Value(np.array(column).reshape(-1, 1)), Value(np.array(row).reshape(1, -1))
    call(op, (xs, ys), params).sum().backward()
    scalar = np.array([[engine_grads(op, (a, b), params) for b in row] for a in column])
    errors += differ(xs.grad, scalar[:, :, 0].sum(axis=1, keepdims=True), f"d{op.name}/d{op.inputs[0]}, a column against a row")
    errors += differ(ys.grad, scalar[:, :, 1].sum(axis=0, keepdims=True), f"d{op.name}/d{op.inputs[1]}, a row against a column")
    return errors


def _finite_or_domain_error(op: Op, what: str, fn: Callable[[tuple[float, ...]], Any], point: tuple[float, ...]) -> str | None:
    try:
        result = fn(point)
    except DomainError as exc:
        return None if op.name in str(exc) else f"{what} at {point}: DomainError not naming {op.name!r}: {exc}"
    except Exception as exc:  # noqa: BLE001 - any other exception is the finding
        return f"{what} at {point}: {type(exc).__name__}: {exc}"
    return None if np.all(np.isfinite(result)) else f"{what} at {point}: non-finite {result!r}"


def hostile_errors(op: Op, params: dict[str, Any]) -> list[str]:
    """Outside the domain and at huge inputs: where the value or a gradient is not finite and no DomainError names the op."""

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
    return [e for e in errors if e]


#: Zeros of both signs, subnormals, the smallest normal, where exp overflows (710), far beyond it, and
#: where squares (1e154) and cubes (1e103) of a finite number overflow, up to the largest floats.
HOSTILE_POINTS = tuple(s * m for m in (0.0, 5e-324, 1e-310, 2.2250738585072014e-308, 710.0, 1000.0, 1e103, 1e154, 1e200, 1e308)
                       for s in (1.0, -1.0))


def hostile_points(op: Op) -> list[tuple[float, ...]]:
    """HOSTILE_POINTS and the op's kinks for each input: every combination for a binary op, 100 for more inputs."""
    per_input = [sorted(set(HOSTILE_POINTS) | {k.at[i] for k in op.kinks}, key=lambda x: (x, math.copysign(1, x)))
                 for i in range(len(op.inputs))]
    if len(per_input) > 2:  # 20**n combinations: 100 of them, drawn (seeded)
        rng = random.Random(0)
        return [tuple(rng.choice(values) for values in per_input) for _ in range(100)]
    return list(itertools.product(*per_input))


def outcome(op: Op, point: tuple[float, ...], params: dict[str, Any], constant: int | None, array: bool) -> tuple[Any, ...]:
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


def agree(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """The same outcome: both refused at the same stage, or the same value and gradients (to a few ulps)."""
    if a[0] != b[0] or a[0] != "ok":
        return a == b
    want, got = (a[1], *a[2]), (b[1], *b[2])
    return all(math.isfinite(x) and math.isfinite(y) and math.isclose(x, y, rel_tol=1e-13, abs_tol=1e-300) for x, y in zip(want, got))


def path_disagreements(op: Op, params: dict[str, Any]) -> list[str]:
    """Where the scalar and the array path of op disagree at hostile points, each input a Value or a constant."""
    errors = []
    arity = len(op.inputs)
    for point in hostile_points(op):
        for constant in (None, *range(arity)) if arity > 1 else (None,):
            scalar, array = (outcome(op, point, params, constant, array) for array in (False, True))
            if not agree(scalar, array):
                where = "" if constant is None else f", input {op.inputs[constant]} a constant"
                errors.append(f"{op.name}{params or ''} at {point}{where}: scalar {scalar}, array {array}")
    return errors


# -- every operand type: a TypeError naming the op and the operand ---------------------------------


def _method(name: str, operand: Any, params: dict[str, Any]) -> Any:
    """Value(1.5).name(operand, **params): an op method given operand as its second input."""
    return getattr(Value(1.5), name)(operand, **params)


def bad_operands() -> list[Any]:
    """Things that are not real numbers, arrays of them or Values, including another engine's tensor (where torch is installed)."""
    bad = [None, "a", ["a", "b"], 1j, True, Decimal("1.5")]
    try:
        import torch
    except ImportError:
        return bad
    return [*bad, torch.tensor(1.5, dtype=torch.float64)]


#: Every binary operator, from the engine's own table, with pow (``v ** n``), as the operator module applies them.
BINARY_OPERATORS = {name: getattr(operator, dunders[0]) for name, dunders in value.OPERATORS.items() if len(dunders) == 2}
BINARY_OPERATORS["pow"] = operator.pow


def refusal_error(run: Callable[[], Any], op_name: str, operand: Any) -> list[str]:
    """[the problem] unless run() raises a TypeError naming op_name( and the operand's type."""
    try:
        run()
    except TypeError as exc:
        if f"{op_name}(" in str(exc) and type(operand).__name__ in str(exc):
            return []
        return [f"{op_name} with {operand!r}: the TypeError does not name {op_name}( and {type(operand).__name__}: {exc}"]
    except Exception as exc:  # noqa: BLE001 - any other exception is the finding
        return [f"{op_name} with {operand!r}: {type(exc).__name__} instead of a TypeError: {exc}"]
    return [f"{op_name} with {operand!r}: no error"]


def operand_errors(op: Op, params: dict[str, Any], operands: Sequence[Any] | None = None) -> list[str]:
    """Where an input that is not a number (each of bad_operands(), or operands) is not refused with a TypeError naming
    the op and the operand: at every input through apply(), and as a binary op method's second input."""
    errors = []
    for bad in bad_operands() if operands is None else operands:
        for i in range(len(op.inputs)):
            args = [Value(1.5) for _ in op.inputs]
            args[i] = bad
            errors += refusal_error(functools.partial(apply, op, tuple(args), params), op.name, bad)
        if len(op.inputs) == 2:
            errors += refusal_error(functools.partial(_method, op.name, bad, params), op.name, bad)
    return errors


def bad_params(op: Op) -> list[tuple[str, Any, str]]:
    """(parameter, value, label) for each static parameter and each value that cannot be a number (None, a string, a
    list of strings), but a value the op declares valid in its examples (sum's axis=None)."""
    return [(name, bad, label) for name in op.params for bad, label in ((None, "None"), ("a", "str"), (["a", "b"], "list_of_str"))
            if bad not in [example[name] for example in op.examples]]


def param_error(op: Op, name: str, bad: Any) -> list[str]:
    """[the problem] unless static parameter name given bad is a TypeError or DomainError naming the op and the value."""
    params = {**op.examples[0], name: bad}
    try:
        call(op, [Value(1.5) for _ in op.inputs], params)
    except (TypeError, DomainError) as exc:
        if f"{op.name}(" in str(exc) and repr(bad) in str(exc):
            return []
        return [f"{op.name}({name}={bad!r}): the error does not name {op.name}( and {bad!r}: {exc}"]
    return [f"{op.name}({name}={bad!r}): no TypeError or DomainError"]


# -- ops on whole arrays (matmul), at each example of their input shapes ---------------------------


def array_inputs(op: Op, shapes: Shapes, seed: int = 0) -> list[np.ndarray]:
    """Random arrays of the given shapes inside each input's domain, away from 0."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(0.3, 2.0, s) * (1.0 if d in ("positive", "nonnegative") else rng.choice((-1.0, 1.0), s))
            for s, d in zip(shapes, op.domains)]


def weighted(op: Op, params: dict[str, Any], weights: np.ndarray) -> Callable[[list[np.ndarray]], float]:
    """The scalar sum(weights * op(inputs)), a function of plain arrays, for central differences."""
    return lambda arrays: float(np.sum(weights * apply(op, tuple(arrays), params)))


def array_central(f: Callable[[list[np.ndarray]], float], arrays: list[np.ndarray], i: int, idx: tuple[int, ...]) -> float:
    """The central difference of f in element idx of its i-th input."""
    up, down = [a.copy() for a in arrays], [a.copy() for a in arrays]
    up[i][idx] += H
    down[i][idx] -= H
    return (f(up) - f(down)) / (2 * H)


def array_gradient_errors(op: Op, shapes: Shapes, params: dict[str, Any]) -> list[str]:
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
            got = float(np.asarray(x.grad)[idx])
            if not close(got, want, rtol=1e-6, atol=1e-8):
                errors.append(f"d{op.name}/d{op.inputs[i]}{list(idx)}: engine {got!r}, central difference {want!r}")
    return errors


def array_second_derivative_errors(op: Op, shapes: Shapes, params: dict[str, Any]) -> list[str]:
    """Where d/dx_j of sum(r * d(sum(w * op))/dx_i), by grad(create_graph=True) twice, disagrees with central
    differences of the first derivative."""
    arrays = array_inputs(op, shapes)
    weights = np.random.default_rng(1).uniform(-1.0, 1.0, np.shape(apply(op, tuple(arrays), params)))

    def first(values: list[Any], i: int, create_graph: bool) -> Any:
        return grad((apply(op, tuple(values), params) * weights).sum(), values, create_graph=create_graph)[i]

    errors = []
    for i in range(len(op.inputs)):
        r = np.random.default_rng(2 + i).uniform(-1.0, 1.0, shapes[i])
        xs = [Value(a) for a in arrays]
        seconds = grad((first(xs, i, True) * r).sum(), xs)

        def f(arrays: list[np.ndarray], i: int = i, r: np.ndarray = r) -> float:
            return float(np.sum(r * first([Value(a) for a in arrays], i, False)))

        for j in range(len(op.inputs)):
            for idx in np.ndindex(*shapes[j]):
                got, want = float(np.broadcast_to(seconds[j], shapes[j])[idx]), array_central(f, arrays, j, idx)
                if not close(got, want, rtol=1e-5, atol=1e-6):
                    errors.append(f"d2{op.name}/d{op.inputs[i]}d{op.inputs[j]}{list(idx)}: engine {got!r}, central difference {want!r}")
    return errors


# -- random graphs around an op, against torch's autograd of its own forward -----------------------
#
# Each op's forward runs on torch tensors too (xp on torch, each registered op its own forward), so
# torch's autograd differentiates the forward itself: the reference owes nothing to the op's vjp. The
# graphs mix the op under test with other registered ops, constants, scalars and arrays of shapes
# that broadcast, and are compared at first order and, through create_graph, at second and third.

SHAPES = ((), (3,), (2, 1), (1, 3), (2, 3))  # they broadcast to (2, 3) in any mix
MARGIN = 1e-3  # from a declared kink, a domain's boundary and, for a binary op, a tie


class TorchForward(Namespace):
    """xp on torch float64 tensors, every registered op resolved to its own forward (never its vjp)."""

    kind = "torch"


def usable(op: Op, args: list[Any]) -> bool:
    """Whether op's inputs are inside its domain, off its kinks and off ties, by MARGIN, element by element."""
    datas = [np.asarray(a.data if isinstance(a, Value) else a) for a in args]
    bounds = {"positive": 0.05, "nonnegative": 0.05, "nonzero": MARGIN}
    for d, domain in zip(datas, op.domains):
        if domain in ("positive", "nonnegative") and np.any(d < bounds[domain]) or domain == "nonzero" and np.any(abs(d) < MARGIN):
            return False
    near_kink = any(np.any(functools.reduce(np.logical_and, [abs(d - at) < MARGIN for d, at in zip(datas, k.at)])) for k in op.kinks)
    tie = len(datas) == 2 and np.any(abs(datas[0] - datas[1]) < MARGIN)
    return not near_kink and not tie


def tensor(x: Any) -> Any:
    """x as a float64 torch tensor that requires its gradient."""
    import torch

    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def number(data: DataObject, shape: tuple[int, ...]) -> float | np.ndarray:
    """A value in [-2.5, 2.5], moved off round numbers (where undeclared kinks of ops with parameters sit)."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    x: Any = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-2.5, 2.5)) if shape else st.floats(-2.5, 2.5))
    moved: float | np.ndarray = x * 0.9731 + 0.0137
    return moved


def leaf(data: DataObject, shape: tuple[int, ...], domain: str = "real") -> tuple[Value, Any]:
    x: Any = number(data, shape)
    if domain != "real":
        x = abs(x) + 0.1
    return Value(x), tensor(x)


def apply_both(op: Op, args: list[tuple[Any, Any]], params: dict[str, Any], txp: TorchForward) -> tuple[Value, Any] | None:
    """op on microreg's operands and on torch's, or None where it is undefined or its result is large."""
    mine = [a for a, _ in args]
    if not usable(op, mine):
        return None
    try:
        out = apply(op, tuple(mine), params)
    except DomainError:
        return None
    if not isinstance(out, Value) or np.any(abs(np.asarray(out.data)) > 1e3):
        return None
    return out, op.forward(txp, *(t for _, t in args), **params)


def operands(data: DataObject, op: Op, pool: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """One operand per input: a node of the pool, or now and then a plain-number constant (never all constants)."""
    from hypothesis import strategies as st

    args: list[tuple[Any, Any]] = []
    for domain in op.domains:
        if args and data.draw(st.integers(0, 4)) == 0:
            c = float(number(data, ()))
            c = abs(c) + 0.1 if domain != "real" else c
            args.append((c, c))
        else:
            args.append(pool[data.draw(st.integers(0, len(pool) - 1))])
    return args


def random_graph(data: DataObject, op: Op, params: dict[str, Any], txp: TorchForward) -> tuple[list[tuple[Value, Any]], Value, Any]:
    """Leaves, and the sum of every node of a graph built around op (random ops before and after it), in both engines."""
    from hypothesis import assume, event, note
    from hypothesis import strategies as st

    arrays = data.draw(st.booleans())
    event("arrays" if arrays else "scalars")

    def shape() -> tuple[int, ...]:
        return data.draw(st.sampled_from(SHAPES)) if arrays else ()

    leaves = [leaf(data, shape()) for _ in range(data.draw(st.integers(1, 3)))]
    pool, applied = list(leaves), 0
    others = sorted((form for o in registry.ops().values() if not o.shapes for form in o.forms()), key=lambda o: (o.name, o.arity))
    for stage in ("before", "op", "after"):
        for _ in range(1 if stage == "op" else data.draw(st.integers(0, 3))):
            chosen = op if stage == "op" else data.draw(st.sampled_from(others))
            chosen_params = params if stage == "op" else dict(data.draw(st.sampled_from(chosen.examples)))
            result = apply_both(chosen, operands(data, chosen, pool), chosen_params, txp)
            if result is None and stage == "op":  # the op under test takes fresh leaves inside its domain instead
                fresh = [leaf(data, shape(), d) for d in chosen.domains]
                leaves += fresh
                result = apply_both(chosen, fresh, chosen_params, txp)
                assume(result is not None)
            if result is not None:
                note(f"{chosen.name}{chosen_params or ''} -> node {len(pool)}")
                pool.append(result)
                applied += 1
    event(f"{applied} ops")
    mine, theirs = Value(0.0), tensor(0.0)
    for v, t in pool:
        mine, theirs = mine + v.sum(), theirs + t.sum()
    return leaves, mine, theirs


def torch_grads(out: Any, ts: list[Any], create_graph: bool) -> list[Any]:
    """d out / d t for each t: zeros where out does not depend on t (or on anything)."""
    import torch

    if not out.requires_grad:
        return [torch.zeros_like(t) for t in ts]
    gs = torch.autograd.grad(out, ts, create_graph=create_graph, allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for g, t in zip(gs, ts)]


def contraction(shape: tuple[int, ...]) -> float | np.ndarray:
    """Fixed weights for contracting a gradient to a scalar (a Hessian-vector product), of a leaf's shape."""
    return np.linspace(0.3, 1.1, int(np.prod(shape))).reshape(shape) if shape else 0.7


def assert_matches(mine: list[Any], theirs: list[Any], what: str) -> None:
    for i, (m, t) in enumerate(zip(mine, theirs)):
        m, t = np.asarray(m.data if isinstance(m, Value) else m), t.detach().numpy()
        if m.shape != t.shape or not np.allclose(m, t, rtol=1e-8, atol=1e-10):  # allclose alone: a tenth of the cost
            np.testing.assert_allclose(m, t, rtol=1e-8, atol=1e-10, err_msg=f"{what}, leaf {i}", strict=True)


def compare_with_torch(data: DataObject, op: Op, params: dict[str, Any]) -> None:
    """A random graph around op (drawn from hypothesis's data), its value and its derivatives of orders 1 to 3 against
    torch's; an AssertionError naming the order that differs."""
    import torch

    txp = TorchForward(registry, export._torch_functions())
    leaves, mine, theirs = random_graph(data, op, params, txp)
    xs, ts = [v for v, _ in leaves], [t for _, t in leaves]
    assert_matches([mine], [theirs], "value")
    for order in (1, 2, 3):
        gs, tgs = grad(mine, xs, create_graph=order < 3), torch_grads(theirs, ts, create_graph=order < 3)
        assert_matches(gs, tgs, f"derivative of order {order}")
        if order < 3:  # contract the gradient with fixed weights, and differentiate that
            w = [contraction(np.shape(x.data)) for x in xs]
            mine = sum(((g * wi).sum() for g, wi in zip(gs, w)), Value(0.0))
            theirs = sum(((g * torch.as_tensor(wi, dtype=torch.float64)).sum() for g, wi in zip(tgs, w)), tensor(0.0))


def torch_graph_errors(op: Op, params: dict[str, Any], examples: int = 10) -> list[str]:
    """compare_with_torch on examples random graphs (the same on every run, no shrinking): the first difference, with
    the graph drawn. Skips (pytest.skip) where torch or hypothesis is not installed."""
    pytest.importorskip("torch", reason="the random-graph check needs torch")
    pytest.importorskip("hypothesis", reason="the random-graph check needs hypothesis")
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(data=st.data())
    def run(data: DataObject) -> None:
        compare_with_torch(data, op, params)

    try:
        run()
    except AssertionError as exc:
        return [f"{op.name}{params or ''} against torch: {exc}" + "".join(f"\n{n}" for n in getattr(exc, "__notes__", []))]
    return []


# -- the checks of an op, as a table: a name, a function of the op returning its problems --------------


def _each(check: Callable[..., list[str]], over: Callable[[Op], Sequence[tuple[Any, ...]]]) -> Callable[[Op], list[str]]:
    """A check of one case made a check of the whole op: every case over(op) gives."""
    return lambda op: [e for case in over(op) for e in check(*case)]


def audit_errors(op: Op) -> list[str]:
    """The audit's report, unless op is proved (at order 2) and accurate: strict, as assert_proved."""
    record = _audit_once(op)
    return [record.report()] if record.fails(strict=True) else []


#: Every check microreg runs on an op, by name, each a function of the op giving a list of problems ([] if none).
CHECKS: dict[str, Callable[[Op], list[str]]] = {
    "audit": audit_errors,
    "gradients": _each(gradient_errors, cases),
    "second_derivatives": _each(second_derivative_errors, cases),
    "kinks": _each(kink_errors, kink_cases),
    "arrays": _each(array_errors, cases),
    "broadcasting": _each(broadcast_errors, cases),
    "array_ops": lambda op: [e for case in array_cases(op) for e in array_gradient_errors(*case) + array_second_derivative_errors(*case)],
    "hostile_inputs": _each(hostile_errors, cases),
    "hostile_points": _each(path_disagreements, cases),
    "operand_types": lambda op: [e for form, p in cases(op) for e in operand_errors(form, p)]
                                + [e for name, bad, _ in bad_params(op) for e in param_error(op, name, bad)],
    "torch_graphs": _each(torch_graph_errors, cases),
}


def check_op(op: Op | str, *checks: str) -> list[str]:
    """Run the named checks of ``CHECKS`` on op (a registered op's name, or an ``Op``, registered for the call if it is
    not); every check by default. Raises AssertionError listing each problem under its check; returns the names of the
    checks that ran: a check whose optional dependency (torch) is missing is left out, and if that leaves none, the
    calling test is skipped."""
    __tracebackhide__ = True
    unknown = [c for c in checks if c not in CHECKS]
    if unknown:
        raise ValueError(f"no check named {', '.join(map(repr, unknown))}; the checks: {', '.join(CHECKS)}")
    with ExitStack() as stack:
        if isinstance(op, str):
            op = registry.get(op)
        elif registry.find(op.name) is not op:
            stack.enter_context(registry.temporary(op))
        ran, skipped, problems = [], [], []
        for name in checks or tuple(CHECKS):
            try:
                found = CHECKS[name](op)
            except pytest.skip.Exception as exc:
                skipped.append(f"{name} ({exc.msg})")
                continue
            ran.append(name)
            problems += [f"{name}: {e}" for e in found]
    if problems:
        raise AssertionError(f"{op.name} fails {len(problems)} of microreg's checks:\n" + "\n".join(problems))
    if not ran:
        pytest.skip(f"{op.name}: " + "; ".join(skipped))
    return ran


def checks_of(plugin: str | None = None) -> list[Any]:
    """(op name, check name) for each registered op (only plugin's, its entry-point name, if given) and each check: the
    cases for ``@pytest.mark.parametrize(("name", "check"), checks_of("my_plugin"))``, with ids such as 'softplus-kinks'."""
    names = ops_of(plugin)
    if not names:
        raise LookupError(f"plugin {plugin!r} registers no op: nothing to check")
    return [pytest.param(name, check, id=f"{name}-{check}") for name in names for check in CHECKS]
