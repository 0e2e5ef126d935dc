"""Tests for microreg.nn: Module, Neuron, Layer, MLP, and the four-point worked example."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from microreg import Value, registry
from microreg.nn import MLP, Layer, Module, Neuron, check_activation
from microreg.op import REQUIRED
from microreg.viz import nodes

ROOT = Path(__file__).resolve().parent.parent


def activations(real: bool) -> list[str]:
    """Unary ops usable as activations: defined on all reals (real=True), or only on part of them."""
    return sorted(n for n, op in registry.ops().items()
                  if op.arity == 1 and REQUIRED not in op.params.values() and (op.domains == ("real",)) == real)


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mlp_3_4_4_1_has_41_parameters():
    assert len(MLP(3, [4, 4, 1]).parameters()) == 41


@pytest.mark.parametrize("nin, nouts", [(2, [16, 16, 1]), (1, [1]), (5, [3, 2])])
def test_parameter_count_is_weights_plus_biases(nin, nouts):
    sizes = [nin, *nouts]
    expected = sum((sizes[i] + 1) * sizes[i + 1] for i in range(len(nouts)))
    assert len(MLP(nin, nouts).parameters()) == expected


def test_parameters_are_distinct_values():
    params = MLP(2, [3, 1]).parameters()
    assert len({id(p) for p in params}) == len(params)
    assert all(isinstance(p, Value) for p in params)


def test_zero_grad_resets_every_gradient():
    model = MLP(2, [4, 1], activation="tanh", seed=1)
    model([0.5, -1.0]).backward()
    assert any(p.grad != 0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0 for p in model.parameters())


def test_module_base_has_no_parameters():
    assert Module().parameters() == []


def test_same_seed_same_weights_other_seed_other_weights():
    data = lambda m: [p.data for p in m.parameters()]  # noqa: E731
    assert data(MLP(2, [4, 1], seed=3)) == data(MLP(2, [4, 1], seed=3))
    assert data(MLP(2, [4, 1], seed=3)) != data(MLP(2, [4, 1], seed=4))


def test_hidden_layers_use_activation_and_the_last_layer_is_linear_by_default():
    model = MLP(2, [3, 3, 1], activation="tanh")
    assert [n.activation for layer in model.layers for n in layer.neurons] == ["tanh"] * 6 + [None]
    assert model([1.0, 2.0]).op == "add"  # the last op of a linear neuron is its sum


def test_output_activation_applies_to_the_last_layer_only():
    model = MLP(2, [3, 2], activation="relu", output_activation="sigmoid")
    assert [n.activation for n in model.layers[0].neurons] == ["relu"] * 3
    outs = model([1.0, 2.0])
    assert [o.op for o in outs] == ["sigmoid", "sigmoid"]


def test_single_output_is_a_value_several_are_a_list():
    assert isinstance(MLP(2, [3, 1])([1.0, 2.0]), Value)
    outs = MLP(2, [3, 2])([1.0, 2.0])
    assert isinstance(outs, list) and len(outs) == 2


def test_neuron_builds_the_graph_op_for_op():
    # b + w0*x0 + w1*x1, then the activation: the same graph as micrograd's Neuron (the benchmark relies on it)
    neuron = Neuron(2, "tanh", rng=None)
    out = neuron([Value(1.0), Value(2.0)])
    assert [v.op for v in nodes(out) if v.op] == ["mul", "add", "mul", "add", "tanh"]


def test_neuron_computes_activation_of_weighted_sum():
    neuron = Neuron(3, "tanh")
    x = [0.5, -1.5, 2.0]
    expected = math.tanh(neuron.b.data + sum(w.data * xi for w, xi in zip(neuron.w, x)))
    assert neuron(x).data == pytest.approx(expected, rel=1e-15)


def test_neuron_rejects_wrong_number_of_inputs():
    with pytest.raises(ValueError, match="Neuron takes 3 inputs, got 2"):
        Neuron(3)([1.0, 2.0])


def test_an_input_that_is_not_a_number_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match=r"mul\(\) takes real numbers.* got 'a' \(str\)"):
        MLP(3, [4, 1], seed=0)(["a", "b", "c"])


def test_layer_outputs_one_value_per_neuron():
    assert len(Layer(2, 5)([1.0, 2.0])) == 5


@pytest.mark.parametrize("name", activations(real=True))
def test_every_registered_unary_op_works_as_activation(name):
    """Forward and backward through an MLP using the op; the gradient of one weight agrees with central differences."""
    model = MLP(2, [3, 1], activation=name, seed=0)
    assert model.layers[0].neurons[0].activation == name
    x = [0.3, -0.7]
    out = model(x)
    assert [v.op for v in nodes(out)].count(name) == 3
    model.zero_grad()
    out.backward()
    w = model.layers[0].neurons[1].w[0]
    h, w0 = 1e-6, w.data
    w.data = w0 + h
    up = model(x).data
    w.data = w0 - h
    down = model(x).data
    w.data = w0
    assert w.grad == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-8)


@pytest.mark.parametrize("name", activations(real=False))
def test_an_activation_not_defined_on_all_reals_is_refused(name):
    with pytest.raises(ValueError, match=rf"activation '{name}' is not a registered unary op defined on all reals"):
        MLP(2, [3, 1], activation=name, seed=0)


@pytest.mark.parametrize("name, reason", [("nope", "not a registered unary op"), ("add", "not a registered unary op"),
                                          ("pow", "not a registered unary op")])
def test_bad_activation_names_the_choices(name, reason):
    with pytest.raises(ValueError, match=reason) as info:
        MLP(2, [1], activation=name)
    assert "relu" in str(info.value) and "tanh" in str(info.value)


def test_check_activation_accepts_none_as_linear():
    assert check_activation(None) is None


@pytest.mark.parametrize("nin, nouts", [(0, [1]), (2, []), (2, [0]), (2.0, [1]), (2, [True])])
def test_mlp_rejects_bad_sizes(nin, nouts):
    with pytest.raises(ValueError, match="positive int"):
        MLP(nin, nouts)


def test_batch_of_numpy_columns_matches_one_graph_per_point():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 2))
    targets = rng.normal(size=7)
    model = MLP(2, [5, 1], activation="tanh", seed=2)

    batch = model(list(X.T))
    assert batch.data.shape == (7,)
    np.testing.assert_allclose(batch.data, [model(list(row)).data for row in X], rtol=1e-12)

    ((batch - targets) * (batch - targets)).mean().backward()
    batch_grads = [p.grad for p in model.parameters()]
    model.zero_grad()
    per_point = [model(list(row)) for row in X]
    total = sum((p - t) * (p - t) for p, t in zip(per_point, targets)) * (1 / 7)
    total.backward()
    np.testing.assert_allclose(batch_grads, [p.grad for p in model.parameters()], rtol=1e-10)


@pytest.mark.parametrize("seed", range(10))
def test_four_point_example_loss_falls_below_0_05(seed):
    example = load_example("four_points")
    model, losses = example.train(seed)
    assert len(model.parameters()) == 41
    assert len(losses) == 51
    assert losses[-1] < 0.05
    assert losses[-1] < losses[0] / 10
