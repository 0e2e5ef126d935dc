"""Tests for microreg.nn: Module, Neuron, Layer, MLP, and the four-point worked example."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fakes import SWISH, load_example

from microreg import Value, registry
from microreg.data import make_moons
from microreg.nn import MLP, Layer, Module, Neuron, check_activation
from microreg.op import REQUIRED
from microreg.viz import nodes


def activations(real: bool) -> list[str]:
    """Unary ops usable as activations: defined on all reals (real=True), or only on part of them."""
    return sorted(n for n, op in registry.ops().items()
                  if op.arity == 1 and not op.shapes and REQUIRED not in op.params.values() and (op.domains == ("real",)) == real)


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
    assert model([1.0, 2.0]).op == "dot"  # a linear neuron is its dot node


def test_output_activation_applies_to_the_last_layer_only():
    model = MLP(2, [3, 2], activation="relu", output_activation="sigmoid")
    assert [n.activation for n in model.layers[0].neurons] == ["relu"] * 3
    outs = model([1.0, 2.0])
    assert [o.op for o in outs] == ["sigmoid", "sigmoid"]


def test_single_output_is_a_value_several_are_a_list():
    assert isinstance(MLP(2, [3, 1])([1.0, 2.0]), Value)
    outs = MLP(2, [3, 2])([1.0, 2.0])
    assert isinstance(outs, list) and len(outs) == 2


def test_neuron_builds_the_graph_op_for_op_with_graph_ops():
    # b + w0*x0 + w1*x1, then the activation: the same graph as micrograd's Neuron (the benchmark relies on it)
    neuron = Neuron(2, "tanh", rng=None, graph="ops")
    out = neuron([Value(1.0), Value(2.0)])
    assert [v.op for v in nodes(out) if v.op] == ["mul", "add", "mul", "add", "tanh"]


def test_neuron_is_one_labelled_dot_node_by_default():
    neuron = Neuron(2, "tanh", name="L1N3")
    x = [Value(1.0), Value(2.0)]
    out = neuron(x)
    dot = out.parents[0]
    assert [v.op for v in nodes(out) if v.op] == ["dot", "tanh"] and dot.label == "L1N3"
    assert dot.parents == (neuron.b, *neuron.w, *x) and [w.label for w in neuron.w] == ["L1N3 w0", "L1N3 w1"]


def test_neuron_computes_activation_of_weighted_sum():
    neuron = Neuron(3, "tanh")
    x = [0.5, -1.5, 2.0]
    expected = math.tanh(neuron.b.data + sum(w.data * xi for w, xi in zip(neuron.w, x)))
    assert neuron(x).data == pytest.approx(expected, rel=1e-15)


def test_neuron_rejects_wrong_number_of_inputs():
    with pytest.raises(ValueError, match="Neuron takes 3 inputs, got 2"):
        Neuron(3)([1.0, 2.0])


def test_an_input_that_is_not_a_number_is_a_type_error_naming_it():
    for graph, op in (("dot", "dot"), ("ops", "mul")):
        with pytest.raises(TypeError, match=rf"{op}\(\) takes (real numbers|a real number).* got 'a' \(str\)"):
            MLP(3, [4, 1], seed=0, graph=graph)(["a", "b", "c"])


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


@pytest.mark.parametrize("name, reason", [("nope", r"\(no op of that name is registered\)"), ("add", r"\(it takes the inputs x, y\)"),
                                          ("log", r"\(its input must be > 0\)"), (3, r"\(a int, neither a name nor a function\)")])
def test_bad_activation_says_why_and_names_the_choices(name, reason):
    with pytest.raises(ValueError, match=rf"activation {name!r} is not a registered unary op defined on all reals {reason}") as info:
        MLP(2, [1], activation=name)
    choices = str(info.value).split("choose one of ")[1]
    assert "'relu'" in choices and "'tanh'" in choices and "'add'" not in choices and "'log'" not in choices


def test_activation_params_are_the_ops_static_parameters(register_op):
    register_op(SWISH)
    model = MLP(2, [3, 1], activation="swish", activation_params={"beta": 1.5}, seed=0)
    neuron = model.layers[0].neurons[0]
    assert (neuron.activation, neuron.activation_params) == ("swish", {"beta": 1.5})
    assert repr(neuron) == "Neuron(2, activation='swish', activation_params={'beta': 1.5})"
    assert model.layers[1].neurons[0].activation is None  # the output layer stays linear
    z = neuron.b + sum(w * x for w, x in zip(neuron.w, [0.3, -0.7]))
    assert neuron([0.3, -0.7]).data == pytest.approx(z.data / (1 + math.exp(-1.5 * z.data)), rel=1e-15)
    assert [v.params for v in nodes(model([0.3, -0.7])) if v.op == "swish"] == [{"beta": 1.5}] * 3


@pytest.mark.parametrize("activation, params, message", [
    ("swish", {"slope": 2.0}, "activation 'swish': swish() got an unexpected parameter 'slope'; it takes ['beta'] "
                              "(the op is swish(x, beta=1.0))"),
    ("swish", {"beta": "steep"}, "activation swish(beta='steep') fails at x = 0: swish(x=0.0, beta='steep') failed: can't multiply"),
    ("swish", {"beta": math.nan}, "activation swish(beta=nan) fails at x = 0: swish(x=0.0, beta=nan)"),
    ("tanh", {"beta": 2.0}, "activation 'tanh': tanh() got an unexpected parameter 'beta'; it takes []"),
    (None, {"beta": 2.0}, "activation_params {'beta': 2.0} are the static parameters of a named op, not of activation=None"),
])
def test_a_bad_parameter_is_named_with_its_op(register_op, activation, params, message):
    register_op(SWISH)
    with pytest.raises(ValueError) as info:
        MLP(2, [3, 1], activation=activation, activation_params=params)
    assert str(info.value).startswith(message), str(info.value)


def leaky(v: Value) -> Value:
    return v.relu() - 0.1 * (-v).relu()


def test_a_function_from_value_to_value_is_an_activation():
    model = MLP(2, [3, 1], activation=leaky, output_activation=Value.sigmoid, seed=0)
    out = model([0.3, -0.7])
    assert out.op == "sigmoid" and [v.op for v in nodes(out)].count("relu") == 6
    out.backward()
    assert any(p.grad != 0.0 for p in model.parameters())


def test_a_function_that_leaves_the_graph_is_refused():
    with pytest.raises(ValueError, match=r"activation <built-in function tanh> fails at x = 0: it returned 0.0, not a Value"):
        MLP(2, [3, 1], activation=math.tanh)


def steep(v: Value) -> Value:
    return v * 1e200 * 1e200  # 0 at 0, but its gradient there overflows


def test_an_activation_whose_gradient_at_0_is_not_finite_is_refused():
    with pytest.raises(ValueError, match=r"activation <function steep .*> fails at x = 0: .* the cotangent for x is inf, not finite"):
        MLP(2, [3, 1], activation=steep)


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


# -- the three graphs: a dot node per neuron, micrograd's ops, a matmul node per layer ---------------------


def flat_grads(model: MLP) -> np.ndarray:
    """Every parameter's gradient, neuron by neuron (its weights, then its bias), whatever the graph."""
    if model.graph == "matmul":
        return np.concatenate([np.hstack([layer.W.grad, layer.b.grad]).ravel() for layer in model.layers])
    return np.array([p.grad for p in model.parameters()])


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_the_three_graphs_give_the_op_for_op_graphs_loss_and_gradients(activation):
    X, y = make_moons(30, noise=0.1, seed=1)
    Y = 2.0 * y - 1.0

    def train_loss(graph: str, batch: bool) -> tuple[float, np.ndarray]:
        model = MLP(2, [8, 8, 1], activation=activation, seed=5, graph=graph)
        if batch:
            scores = model(X.T if graph == "matmul" else list(X.T))
            data = (1 + -Y * scores).relu().sum()
        else:
            data = sum((1 + -yi * model(list(xi))).relu() for xi, yi in zip(X, Y))
        loss = data + 1e-3 * sum((p * p).sum() for p in model.parameters())
        loss.backward()
        return loss.data, flat_grads(model)

    want_loss, want = train_loss("ops", batch=False)
    for graph, batch in (("dot", False), ("dot", True), ("ops", True), ("matmul", True)):
        loss, got = train_loss(graph, batch)
        assert loss == pytest.approx(want_loss, rel=1e-12), (graph, batch)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=f"graph={graph}, batch={batch}")
    assert np.array_equal(train_loss("dot", batch=False)[1], want)  # the same sums in the same order: equal to the bit


def test_a_matmul_mlp_has_the_weights_of_the_scalar_one_and_one_matmul_per_layer():
    scalar, batch = MLP(2, [3, 1], seed=7), MLP(2, [3, 1], seed=7, graph="matmul")
    assert batch.layers[0].W.data.tolist() == [[w.data for w in n.w] for n in scalar.layers[0].neurons]
    out = batch(np.array([[0.5, 1.0], [-1.0, 2.0]]))
    assert out.data.shape == (2,) and [v.op for v in nodes(out)].count("matmul") == 2
    assert out.data.tolist() == [scalar([0.5, -1.0]).data, scalar([1.0, 2.0]).data]
    assert batch([0.5, -1.0]).data.tolist() == [scalar([0.5, -1.0]).data]  # one point: a batch of one
    assert [p.data.shape for p in batch.parameters()] == [(3, 2), (3, 1), (1, 3), (1, 1)]


def test_a_matmul_mlp_names_the_shape_it_takes_and_refuses_a_list_of_values():
    model = MLP(2, [3, 1], seed=0, graph="matmul")
    with pytest.raises(ValueError, match=r"takes an array of shape \(2, N\), one point per column \(model\(X.T\).*got shape \(5, 2\)"):
        model(np.zeros((5, 2)))
    with pytest.raises(TypeError, match="not a list of Values: use graph='dot'"):
        model([Value(1.0), Value(2.0)])
    with pytest.raises(ValueError, match="graph must be one of 'dot', 'ops', 'matmul', got 'fused'"):
        MLP(2, [1], graph="fused")
