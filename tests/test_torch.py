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
from hypothesis import given
from hypothesis import strategies as st

from microreg import DomainError, Op, Value, registry
from microreg.nn import MLP
from microreg.op import REQUIRED
from microreg.testing import compare_with_torch, tensor

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
# (microreg.testing.compare_with_torch; seeded and bounded by the hypothesis profile in conftest.py; a failure
# prints the drawn graph)


@given(data=st.data())
def test_random_graphs_match_torch_to_the_third_derivative(op_case, data):
    compare_with_torch(data, *op_case)
