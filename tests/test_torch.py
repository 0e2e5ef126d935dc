"""microreg against PyTorch (float64): every registered op torch has an equivalent for, random expressions, an MLP,
and random graphs around every registered op to the third derivative (property-based, with hypothesis).

Skipped where torch is not installed. Ops with no torch equivalent in TORCH (another plugin's) are left to the
central-difference tests in test_ops.py.
"""

from __future__ import annotations

import functools
import random
from typing import Any

import numpy as np
import pytest
from hypothesis import Phase, assume, event, given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from wrong_vjps import WRONG, cases

from microreg import DomainError, Op, Value, apply, export, grad, registry
from microreg.backends import Namespace
from microreg.nn import MLP
from microreg.op import REQUIRED

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _pow(x: Any, *, n: float) -> Any:
    return x**n


def _gelu_tanh(x: Any) -> Any:
    return F.gelu(x, approximate="tanh")


def _gaussian(x: Any) -> Any:
    return torch.exp(-x * x / 2)


def _maximum(x: Any, y: Any) -> Any:
    return torch.maximum(torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64))


def _minimum(x: Any, y: Any) -> Any:
    return torch.minimum(torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64))


def _dot(*wx: Any) -> Any:
    n = len(wx) // 2
    return sum(w * x for w, x in zip(wx[:n], wx[n:]))


def _prelu(x: Any, a: Any) -> Any:
    """torch's prelu with a slope per element: its weight is one per channel, dimension 1 of a batch of one."""
    x, a = torch.broadcast_tensors(torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(a, dtype=torch.float64))
    return F.prelu(x.reshape(1, -1), a.reshape(-1)).reshape(x.shape)


def _plugin_equivalents() -> dict[str, Any]:
    """The torch.nn plugin's torch.nn.functional equivalents of its activations (and the example plugin's), where it
    is installed; torch's keyword arguments that are no static parameter of the op (gelu's approximate='tanh') bound."""
    try:
        from microreg_torch_activations.reference import CASES
    except ImportError:
        return {}
    return {name: functools.partial(getattr(F, function), **{k: v for k, v in kwargs.items() if k not in params})
            for name, (params, _, function, kwargs) in CASES.items()}


#: op name -> the torch function; static parameters are passed through by name, so the names must match.
TORCH = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "neg": torch.neg, "pow": _pow,
    "dot": _dot, "matmul": torch.matmul, "transpose": torch.t, "sum": torch.sum,
    "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "exp": torch.exp, "log": torch.log,
    "expm1": torch.expm1, "sqrt": torch.sqrt, "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "sinh": torch.sinh,
    "cosh": torch.cosh, "atan": torch.atan, "asinh": torch.asinh, "gaussian": _gaussian, "erf": torch.erf,
    "erfc": torch.erfc, "maximum": _maximum, "minimum": _minimum,
    "softplus": F.softplus, "silu": F.silu, "gelu": _gelu_tanh, "elu": F.elu, "leaky_relu": F.leaky_relu,
    "softsign": F.softsign, "mish": F.mish, "hardtanh": F.hardtanh,
}
TORCH = {**_plugin_equivalents(), "prelu": _prelu, **TORCH}
#: torch gradients less exact than float64 on purpose, and by how much (docs/activations.md, docs/export.md):
#: hardsigmoid's backward multiplies by 1/6 rounded to float32. Compared alone, at this tolerance, and left out of
#: the composed expressions and MLPs below, where its error would compound past theirs.
GRAD_RTOL = {"hardsigmoid": 3e-8}


def torch_equivalent(op: Op) -> Any:
    if op.name not in TORCH:
        pytest.skip(f"no torch equivalent of {op.name!r} in TORCH (checked against central differences in test_ops.py)")
    return TORCH[op.name]


def sample(domain: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """n points inside a domain, at least 0.1 away from its boundary."""
    x = rng.uniform(0.1, 3.0, n)
    return x if domain in ("positive", "nonnegative") else x * rng.choice((-1.0, 1.0), n)


def tensor(x: Any) -> Any:
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def test_every_core_op_has_a_torch_equivalent():
    core = {name for name in registry.ops() if registry.origin(name).name == "microreg_ops"}
    assert core <= TORCH.keys(), f"add {sorted(core - TORCH.keys())} to TORCH"


@pytest.mark.parametrize("backend", ["scalar", "array"])
def test_op_matches_torch(op_case, backend):
    op, params = op_case
    fn = torch_equivalent(op)
    rng = np.random.default_rng(sum(map(ord, op.name)))
    cols = [sample(d, rng, 40) for d in op.domains]
    ts = [tensor(c) for c in cols]
    want = fn(*ts, **params)
    want.sum().backward()
    if backend == "array":
        xs = [Value(c) for c in cols]
        out = getattr(xs[0], op.name)(*xs[1:], **params)
        out.sum().backward()
        got, grads = out.data, [x.grad for x in xs]
    else:
        got, grads = [], [[] for _ in cols]
        for point in zip(*cols):
            xs = [Value(float(x)) for x in point]
            out = getattr(xs[0], op.name)(*xs[1:], **params)
            out.backward()
            got.append(out.data)
            for i, x in enumerate(xs):
                grads[i].append(x.grad)
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-12, atol=1e-14)
    for i, t in enumerate(ts):
        np.testing.assert_allclose(grads[i], t.grad.numpy(), rtol=GRAD_RTOL.get(op.name, 1e-12), atol=1e-14,
                                   err_msg=f"d{op.name}/d{op.inputs[i]}")


def test_array_op_matches_torch(array_case):
    op, shapes, params = array_case
    rng = np.random.default_rng(sum(map(ord, op.name)))
    arrays = [rng.uniform(-2.0, 2.0, s) for s in shapes]
    ts = [tensor(a) for a in arrays]
    want = TORCH[op.name](*ts, **params)
    weights = rng.uniform(-1.0, 1.0, tuple(want.shape))
    (want * tensor(weights)).sum().backward()
    xs = [Value(a) for a in arrays]
    out = getattr(xs[0], op.name)(*xs[1:], **params)
    (out * weights).sum().backward()
    np.testing.assert_allclose(out.data, want.detach().numpy(), rtol=1e-12, atol=1e-14)
    for x, t, name in zip(xs, ts, op.inputs):
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-12, atol=1e-14, err_msg=f"d{op.name}/d{name}")


def test_declared_kink_values_are_torchs(kink_case):
    op, kink, params = kink_case
    fn = torch_equivalent(op)
    ts = [tensor(a) for a in kink.at]
    fn(*ts, **params).backward()
    # the same branch, its value to an ulp: softplus's at its threshold is sigmoid(20), which torch rounds its own way
    assert [t.grad.item() for t in ts] == pytest.approx([0.0 if g is None else g for g in kink.grad], rel=2.3e-16, abs=0)


def _in_domain(x: float, domain: str) -> bool:
    return {"real": True, "positive": x > 0.05, "nonnegative": x > 0.05, "nonzero": abs(x) > 0.05}[domain]


def random_expression(seed: int, steps: int = 14) -> tuple[list[str], list[tuple[Value, Any]], Value, Any]:
    """The same random expression built in microreg and in torch, from ops both know, inside their domains.

    Returns the tape (for the failure message), the leaves as (Value, tensor) pairs and the sum of
    every node, in each engine.
    """
    rng = random.Random(seed)
    ops = [form for name, op in sorted(registry.ops().items())
           if name in TORCH and name not in GRAD_RTOL and not op.shapes for form in op.forms()]
    leaves = [(Value(x), tensor(x)) for x in (rng.uniform(0.3, 2.0) * rng.choice((-1, 1)) for _ in range(3))]
    pool, tape = list(leaves), []
    while len(tape) < steps:
        op = rng.choice(ops)
        params = dict(rng.choice(op.examples))
        args = []
        for domain in op.domains:
            if rng.random() < 0.2:  # a plain-number constant instead of a node
                c = rng.uniform(0.3, 2.0) * (1 if domain in ("positive", "nonnegative") else rng.choice((-1, 1)))
                args.append((c, c))
            else:
                args.append(rng.choice(pool))
        if not isinstance(args[0][0], Value) or not all(
                _in_domain(a.data if isinstance(a, Value) else a, d) for (a, _), d in zip(args, op.domains)):
            continue
        try:
            out = getattr(args[0][0], op.name)(*(a for a, _ in args[1:]), **params)
        except DomainError:
            continue
        if abs(out.data) > 1e3:
            continue
        pool.append((out, TORCH[op.name](*(t for _, t in args), **params)))
        tape.append(f"{op.name}({', '.join(repr(a) if not isinstance(a, Value) else 'node' for a, _ in args)}, {params})")
    mine, theirs = pool[0]
    for v, t in pool[1:]:  # every node, leaves included, so that each leaf has a gradient in torch too
        mine, theirs = mine + v, theirs + t
    return tape, leaves, mine, theirs


@pytest.mark.parametrize("seed", range(40))
def test_random_expression_matches_torch(seed):
    tape, leaves, mine, theirs = random_expression(seed)
    mine.backward()
    theirs.backward()
    where = "\n".join(tape)
    assert mine.data == pytest.approx(theirs.item(), rel=1e-10, abs=1e-12), where
    for v, t in leaves:
        assert v.grad == pytest.approx(t.grad.item(), rel=1e-9, abs=1e-12), where


ACTIVATIONS = sorted(name for name, op in registry.ops().items()
                     if name in TORCH and name not in GRAD_RTOL and op.arity == 1 and not op.shapes and op.domains == ("real",)
                     and REQUIRED not in op.params.values())


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_mlp_loss_and_every_parameter_gradient_match_torch(activation):
    model = MLP(3, [6, 5, 1], activation=activation, seed=1)
    rng = np.random.default_rng(0)
    X, Y = rng.uniform(-1.5, 1.5, (12, 3)), rng.choice((-1.0, 1.0), 12)
    scores = [model(list(x)) for x in X]
    loss = sum((1 + -y * s).relu() for y, s in zip(Y, scores)) * (1.0 / len(Y)) + 1e-3 * sum(p * p for p in model.parameters())
    loss.backward()

    layers = [(tensor([[w.data for w in n.w] for n in layer.neurons]), tensor([n.b.data for n in layer.neurons]),
               layer.neurons[0].activation) for layer in model.layers]
    h = torch.tensor(X, dtype=torch.float64)
    for W, b, act in layers:
        h = h @ W.T + b
        h = TORCH[act](h) if act else h
    params = [t for W, b, _ in layers for t in (W, b)]
    t_loss = F.relu(1 - torch.tensor(Y) * h[:, 0]).mean() + 1e-3 * sum((p * p).sum() for p in params)
    t_loss.backward()

    assert loss.data == pytest.approx(t_loss.item(), rel=1e-12)
    for layer, (W, b, _) in zip(model.layers, layers):
        np.testing.assert_allclose([[w.grad for w in n.w] for n in layer.neurons], W.grad.numpy(), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose([n.b.grad for n in layer.neurons], b.grad.numpy(), rtol=1e-10, atol=1e-14)


# -- property-based: random graphs around every registered op, against torch's autograd of its forward --
#
# Each op's forward runs on torch tensors too (xp on torch, each registered op its own forward), so
# torch's autograd differentiates the forward itself: the reference owes nothing to the op's vjp. The
# graphs mix the op under test with other registered ops, constants, scalars and arrays of shapes
# that broadcast, and are compared at first order and, through create_graph, at second and third.
# Seeded and bounded by the hypothesis profile in conftest.py; a failure prints the drawn graph.

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


def number(data: st.DataObject, shape: tuple[int, ...]) -> float | np.ndarray:
    """A value in [-2.5, 2.5], moved off round numbers (where undeclared kinks of ops with parameters sit)."""
    x = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-2.5, 2.5)) if shape else st.floats(-2.5, 2.5))
    return x * 0.9731 + 0.0137


def leaf(data: st.DataObject, shape: tuple[int, ...], domain: str = "real") -> tuple[Value, Any]:
    x = number(data, shape)
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


def operands(data: st.DataObject, op: Op, pool: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """One operand per input: a node of the pool, or now and then a plain-number constant (never all constants)."""
    args = []
    for domain in op.domains:
        if args and data.draw(st.integers(0, 4)) == 0:
            c = float(number(data, ()))
            c = abs(c) + 0.1 if domain != "real" else c
            args.append((c, c))
        else:
            args.append(pool[data.draw(st.integers(0, len(pool) - 1))])
    return args


def random_graph(data: st.DataObject, op: Op, params: dict[str, Any], txp: TorchForward) -> tuple[list, Value, Any]:
    """Leaves, and the sum of every node of a graph built around op (random ops before and after it), in both engines."""
    arrays = data.draw(st.booleans())
    event("arrays" if arrays else "scalars")
    shape = (lambda: data.draw(st.sampled_from(SHAPES))) if arrays else (lambda: ())
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
    if not out.requires_grad:
        return [torch.zeros_like(t) for t in ts]
    gs = torch.autograd.grad(out, ts, create_graph=create_graph, allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for g, t in zip(gs, ts)]


def weights(shape: tuple[int, ...]) -> float | np.ndarray:
    """Fixed weights for contracting a gradient to a scalar (a Hessian-vector product), of a leaf's shape."""
    return np.linspace(0.3, 1.1, int(np.prod(shape))).reshape(shape) if shape else 0.7


def assert_matches(mine: list[Any], theirs: list[Any], what: str) -> None:
    for i, (m, t) in enumerate(zip(mine, theirs)):
        m, t = np.asarray(m.data if isinstance(m, Value) else m), t.detach().numpy()
        if m.shape != t.shape or not np.allclose(m, t, rtol=1e-8, atol=1e-10):  # allclose alone: a tenth of the cost
            np.testing.assert_allclose(m, t, rtol=1e-8, atol=1e-10, err_msg=f"{what}, leaf {i}", strict=True)


@given(data=st.data())
def test_random_graphs_match_torch_to_the_third_derivative(op_case, data):
    compare_with_torch(data, *op_case)


AT_A_KINK = "wrong only at its kink, which the random graphs keep MARGIN away from (the kink checks catch it)"


@pytest.mark.parametrize("wrong_op", cases(WRONG, {"relu_wrong_kink": AT_A_KINK, "absolute_wrong_kink": AT_A_KINK}))
def test_the_random_graph_check_catches_a_wrong_vjp(register_op, wrong_op):
    register_op(wrong_op)

    @settings(phases=[Phase.generate], max_examples=3)  # no shrinking: the first failure will do
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        compare_with_torch(data, wrong_op, wrong_op.examples[-1])

    with pytest.raises(AssertionError, match="derivative of order [123]"):  # a missing g: at order 2, where g != 1
        check()


def compare_with_torch(data: st.DataObject, op: Op, params: dict[str, Any]) -> None:
    """A random graph around op, its value and its derivatives of orders 1 to 3 against torch's."""
    txp = TorchForward(registry, export._torch_functions())
    leaves, mine, theirs = random_graph(data, op, params, txp)
    xs, ts = [v for v, _ in leaves], [t for _, t in leaves]
    assert_matches([mine], [theirs], "value")
    for order in (1, 2, 3):
        gs, tgs = grad(mine, xs, create_graph=order < 3), torch_grads(theirs, ts, create_graph=order < 3)
        assert_matches(gs, tgs, f"derivative of order {order}")
        if order < 3:  # contract the gradient with fixed weights, and differentiate that
            w = [weights(np.shape(x.data)) for x in xs]
            mine = sum(((g * wi).sum() for g, wi in zip(gs, w)), Value(0.0))
            theirs = sum(((g * torch.as_tensor(wi, dtype=torch.float64)).sum() for g, wi in zip(tgs, w)), tensor(0.0))
