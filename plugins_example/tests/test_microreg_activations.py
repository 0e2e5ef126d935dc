"""The plugin's own tests, as a plugin author writes them: against the installed plugin, with microreg's pytest plugin.

Run with ``pytest plugins_example/tests`` once the package is installed (``pip install -e plugins_example``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import microreg
from microreg import Op, Value, grad
from microreg.nn import MLP
from microreg.testing import ops_of

OURS = ("softplus", "silu", "gelu", "elu", "leaky_relu", "softsign", "mish", "hardtanh")
# Each op with its default parameters and one other choice, as PyTorch names them.
CASES = [(name, {}) for name in OURS] + [("elu", {"alpha": 0.5}), ("leaky_relu", {"negative_slope": 0.2}),
                                         ("hardtanh", {"min_val": -2.0, "max_val": 0.5}),
                                         ("softplus", {"beta": 2.0, "threshold": 10.0}), ("softplus", {"beta": 1.5, "threshold": 5.0})]
# Points including the kinks (0, +-1, and the non-default hardtanh bounds), large inputs, and tiny ones.
POINTS = [-1000.0, -30.0, -2.0, -1.0, -0.3, -1e-9, 0.0, 1e-9, 0.3, 0.5, 1.0, 2.0, 30.0, 1000.0]


def call(v: Value, name: str, params: dict) -> Value:
    return getattr(v, name)(**params)


def value_and_grad(name: str, params: dict, x: float) -> tuple[float, float]:
    v = Value(x)
    y = call(v, name, params)
    y.backward()
    return y.data, v.grad


def test_this_plugin_registers_exactly_its_ops():
    assert ops_of("activations") == sorted(OURS)
    assert microreg.registry.plugins["activations"].distribution == "microreg-activations"


@pytest.mark.parametrize("name", ops_of("activations"))
def test_proved_and_accurate_by_the_audit_with_second_derivatives(name, audited):
    record = audited(name)  # assert_proved(name, order=2), the audit shared with any other test of the session
    assert not record.fails(strict=True), record.report()


@pytest.mark.parametrize(("name", "params"), CASES)
def test_value_and_gradient_match_pytorch_at_every_point_and_kink(name, params):
    torch = pytest.importorskip("torch")
    functional = {"gelu": lambda t, **p: torch.nn.functional.gelu(t, approximate="tanh")}
    fn = functional.get(name, getattr(torch.nn.functional, name))
    for x in POINTS:
        t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        expected = fn(t, **params)
        expected.backward()
        data, g = value_and_grad(name, params, x)
        assert data == pytest.approx(expected.item(), rel=1e-12, abs=1e-12), x
        assert g == pytest.approx(t.grad.item(), rel=1e-9, abs=1e-12), x


@pytest.mark.parametrize(("name", "params"), CASES)
def test_gradient_matches_central_differences(name, params):
    def f(x: float) -> float:
        return call(Value(x), name, params).data

    for x in (-3.7, -1.3, -0.6, 0.2, 0.7, 1.6, 4.1):
        h = 1e-6
        assert value_and_grad(name, params, x)[1] == pytest.approx((f(x + h) - f(x - h)) / (2 * h), rel=1e-6, abs=1e-8), x


@pytest.mark.parametrize("name", OURS)
def test_finite_for_large_inputs(name):
    for x in (-1000.0, 1000.0, -1e6, 1e6):
        data, g = value_and_grad(name, {}, x)
        assert np.isfinite(data) and np.isfinite(g), (x, data, g)


@pytest.mark.parametrize(("name", "params"), CASES)
def test_a_batch_in_one_graph_equals_each_point_alone(name, params):
    xs = np.array(POINTS)
    v = Value(xs)
    y = call(v, name, params)
    y.sum().backward()
    alone = [value_and_grad(name, params, x) for x in POINTS]
    np.testing.assert_allclose(y.data, [a for a, _ in alone], rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(v.grad, [b for _, b in alone], rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize(("name", "params"), CASES)
def test_second_derivative_matches_pytorch(name, params):
    torch = pytest.importorskip("torch")
    functional = {"gelu": lambda t, **p: torch.nn.functional.gelu(t, approximate="tanh")}
    fn = functional.get(name, getattr(torch.nn.functional, name))
    for x in (-2.3, -0.4, 0.3, 0.45, 1.7):
        v = Value(x)
        (d1,) = grad(call(v, name, params), v, create_graph=True)
        (d2,) = grad(d1, v)
        t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        (t1,) = torch.autograd.grad(fn(t, **params), t, create_graph=True)
        t2 = torch.autograd.grad(t1, t)[0].item() if t1.requires_grad else 0.0
        assert float(d2) == pytest.approx(t2, rel=1e-9, abs=1e-12), x


def test_softplus_keeps_its_precision_far_below_zero():
    exact = math.log1p(math.exp(-40.0))  # the exact value rounded to float64 (as mpmath at 200 bits gives it)
    v = Value(-40.0)
    y = v.softplus()
    assert y.data == exact  # log(1 + exp(-40)) would be 0
    z = y.log()
    z.backward()
    assert z.data == pytest.approx(math.log(exact), rel=1e-15)
    assert v.grad == pytest.approx(1.0, rel=1e-15)  # sigmoid(x) / softplus(x), which tends to 1 as x falls


@pytest.mark.parametrize("x", [1.5e154, -1e160])
def test_softsign_gradient_is_not_0_where_the_square_of_its_denominator_overflows(x):
    v = Value(x)
    v.softsign().backward()
    assert v.grad == pytest.approx(1 / abs(x) / abs(x), rel=1e-12) and v.grad > 0  # found by the audit's search (issue 20)


@pytest.mark.parametrize(("beta", "threshold"), [(1.0, 20.0), (2.0, 10.0), (1.5, 5.0), (0.5, 30.0)])
def test_softplus_is_x_itself_above_its_threshold_as_in_pytorch(beta, threshold):
    torch = pytest.importorskip("torch")
    edge = threshold / beta
    for x in (math.nextafter(edge, -math.inf), edge, math.nextafter(edge, math.inf), edge + 0.5, edge - 0.5):
        t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        expected = torch.nn.functional.softplus(t, beta=beta, threshold=threshold)
        expected.backward()
        data, g = value_and_grad("softplus", {"beta": beta, "threshold": threshold}, x)
        assert data == pytest.approx(expected.item(), rel=1e-15), x
        assert g == pytest.approx(t.grad.item(), rel=1e-15), x  # sigmoid(threshold) at the edge: the same to an ulp


def test_static_parameters_are_positional_or_keyword():
    assert Value(-2.0).leaky_relu(0.2).data == pytest.approx(-0.4)
    assert Value(-2.0).leaky_relu(negative_slope=0.2).data == pytest.approx(-0.4)
    assert Value(-2.0).leaky_relu().data == pytest.approx(-0.02)
    with pytest.raises(TypeError, match="leaky_relu\\(\\) got an unexpected parameter 'slope'"):
        Value(-2.0).leaky_relu(slope=0.2)


@pytest.mark.parametrize("name", OURS)
def test_usable_as_an_mlp_activation(name):
    model = MLP(2, [4, 1], activation=name, seed=0)
    model([0.5, -1.5]).backward()
    assert all(n.activation == name for n in model.layers[0].neurons)
    assert any(p.grad != 0.0 for p in model.layers[0].parameters())


def scaled_gelu(xp, x):
    """A variant being tried out before it ships: it calls the plugin's gelu through xp."""
    return 2 * xp.gelu(x)


def scaled_gelu_vjp(xp, g, out, x):
    return microreg.registry.get("gelu").vjp(xp, 2 * g, out / 2, x)


def test_a_new_op_built_on_these_ones_can_be_tried_in_a_test(register_op):
    register_op(Op("scaled_gelu", scaled_gelu, scaled_gelu_vjp))
    v = Value(0.8)
    v.scaled_gelu().backward()
    assert v.grad == pytest.approx(2 * value_and_grad("gelu", {}, 0.8)[1], rel=1e-12)
