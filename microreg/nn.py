"""A small neural-network library on Value: Module, Neuron, Layer, Linear, MLP.

A model builds one of three graphs (``graph=``): ``"dot"``, one ``dot`` node per neuron (the default);
``"ops"``, a ``mul`` and an ``add`` per weight, as micrograd builds it; ``"matmul"``, one ``matmul`` node
per layer, for a whole batch at once. All three compute the same values and gradients.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .op import DOMAINS, Op
from .plugins import registry
from .value import _FAST, Value, zeros_like

#: What a model takes as an activation: the name of a registered unary op, a function from Value to Value, or None (linear).
Activation = str | Callable[[Value], Value] | None
#: The graphs a model can build: a dot node per neuron, micrograd's mul and add per weight, a matmul node per layer.
GRAPHS = ("dot", "ops", "matmul")


class Module:
    """Something with parameters: ``parameters()`` lists them, ``zero_grad()`` resets their grads."""

    def parameters(self) -> list[Value]:
        """Every trainable Value of this module."""
        return []

    def zero_grad(self) -> None:
        """Set every parameter's grad to zero (of its data's shape), before the next backward()."""
        for p in self.parameters():
            p.grad = zeros_like(p.data)


class Neuron(Module):
    """``activation(w . x + b)``: see ``check_activation`` for what ``activation`` and ``activation_params`` may be.

    With ``graph="dot"`` the neuron is one ``dot`` node, ``b * 1 + w . x`` (its inputs b, w..., 1, x...),
    labelled with the neuron's ``name``; with ``graph="ops"``, a ``mul`` and an ``add`` per input, micrograd's
    graph. Both give the same value and the same gradients, to the last bit.
    """

    def __init__(self, nin: int, activation: Activation = "relu", rng: random.Random | None = None,
                 activation_params: Mapping[str, Any] | None = None, graph: str = "dot", name: str = "") -> None:
        rng = rng or random.Random()
        self.w = [Value(rng.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.activation, self.activation_params = activation, dict(activation_params or {})
        self._activate = check_activation(activation, activation_params)
        self.graph, self.name = check_graph(graph, ("dot", "ops")), name
        if name:  # so that a picture of the graph says whose weight each box is
            for i, w in enumerate(self.w):
                w.label = f"{name} w{i}"
            self.b.label = f"{name} b"

    def __call__(self, x: Sequence[Any]) -> Value:
        if len(x) != len(self.w):
            raise ValueError(f"Neuron takes {len(self.w)} inputs, got {len(x)}")
        if self.graph == "dot":
            act = self.b.dot(*self.w, 1.0, *x)  # b * 1 + w[0] * x[0] + ...: one node, summed in the order of the ops graph
            if self.name:
                act.label = self.name
        else:
            act = self.b
            for wi, xi in zip(self.w, x):
                act = act.add(wi.mul(xi))  # act + wi * xi: the same ops, a third faster called as methods than through operators
        return self._activate(act) if self._activate else act

    def parameters(self) -> list[Value]:
        return [*self.w, self.b]

    def __repr__(self) -> str:
        params = f", activation_params={self.activation_params!r}" if self.activation_params else ""
        return f"Neuron({len(self.w)}, activation={self.activation!r}{params})"


class Layer(Module):
    """A list of neurons that see the same inputs (named ``name``1, ``name``2, ... when the layer has a name)."""

    def __init__(self, nin: int, nout: int, activation: Activation = "relu", rng: random.Random | None = None,
                 activation_params: Mapping[str, Any] | None = None, graph: str = "dot", name: str = "") -> None:
        self.neurons = [Neuron(nin, activation, rng, activation_params, graph, f"{name}{j + 1}" if name else "")
                        for j in range(nout)]

    def __call__(self, x: Sequence[Any]) -> list[Value]:
        return [n(x) for n in self.neurons]

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        return f"Layer([{', '.join(map(repr, self.neurons))}])"


class Linear(Module):
    """``activation(W @ X + b)`` for a batch ``X`` of shape (nin, N), one point per column: a layer in one ``matmul`` node.

    ``W`` is an (nout, nin) array Value whose row j holds neuron j's weights, drawn as a Layer draws them
    (so a Layer and a Linear made from the same ``rng`` state hold the same weights); ``b`` is (nout, 1),
    added to every column. The output has shape (nout, N).
    """

    def __init__(self, nin: int, nout: int, activation: Activation = "relu", rng: random.Random | None = None,
                 activation_params: Mapping[str, Any] | None = None, name: str = "") -> None:
        rng = rng or random.Random()
        self.W = Value(np.array([[rng.uniform(-1, 1) for _ in range(nin)] for _ in range(nout)]).reshape(nout, nin), f"{name} W".strip())
        self.b = Value(np.zeros((nout, 1)), f"{name} b".strip())
        self.activation, self.activation_params = activation, dict(activation_params or {})
        self._activate = check_activation(activation, activation_params)

    def __call__(self, x: Any) -> Value:
        act = self.W @ x + self.b
        return self._activate(act) if self._activate else act

    def parameters(self) -> list[Value]:
        return [self.W, self.b]

    def __repr__(self) -> str:
        params = f", activation_params={self.activation_params!r}" if self.activation_params else ""
        nout, nin = self.W.data.shape
        return f"Linear({nin}, {nout}, activation={self.activation!r}{params})"


class MLP(Module):
    """A multilayer perceptron: layers of sizes ``nin -> nouts[0] -> ... -> nouts[-1]``.

    Hidden layers use ``activation`` with its static parameters ``activation_params``
    (``activation="leaky_relu", activation_params={"negative_slope": 0.2}``), the last one
    ``output_activation`` (None: linear); either may also be a function from Value to Value. ``seed``
    makes the weights reproducible: the same seed gives the same weights whatever the graph.

    ``graph="dot"`` (the default) or ``"ops"``: layers of Neurons, named L1N1, L1N2, ... in pictures. An
    input is a sequence of ``nin`` numbers or Values, one example (a single output is returned as a
    Value, several as a list); or of ``nin`` NumPy arrays of one shape, a whole batch in one graph, each
    op elementwise over it. ``graph="matmul"``: layers of Linear, one matmul node each; an input is an
    array (or a Value) of shape (nin, N), one point per column, or anything ``np.asarray`` makes one of
    (``model(X.T)`` for rows ``X`` of shape (N, nin)); the output has shape (N,) for a single output,
    else (nouts[-1], N).
    """

    def __init__(self, nin: int, nouts: Sequence[int], activation: Activation = "relu", output_activation: Activation = None,
                 seed: int | None = None, activation_params: Mapping[str, Any] | None = None, graph: str = "dot") -> None:
        sizes = [nin, *nouts]
        if not nouts or any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in sizes):
            raise ValueError(f"MLP takes a positive int nin and a non-empty list of positive int layer sizes, "
                             f"got nin={nin!r}, nouts={nouts!r}")
        check_activation(activation, activation_params)  # even where no hidden layer uses it: a typo should not pass silently
        self.graph = check_graph(graph, GRAPHS)
        rng = random.Random(seed)
        hidden = [(activation, activation_params)] * (len(nouts) - 1) + [(output_activation, None)]
        if graph == "matmul":
            self.layers = [Linear(sizes[i], sizes[i + 1], act, rng, params, f"L{i + 1}") for i, (act, params) in enumerate(hidden)]
        else:
            self.layers = [Layer(sizes[i], sizes[i + 1], act, rng, params, graph, f"L{i + 1}N") for i, (act, params) in enumerate(hidden)]

    def __call__(self, x: Any) -> Value | list[Value]:
        if self.graph == "matmul":
            x = self._batch(x)
            for layer in self.layers:
                x = layer(x)
            return x.sum(axis=0) if x.data.shape[0] == 1 else x  # a single output: (1, N) to (N,)
        for layer in self.layers:
            x = layer(x)
        return x[0] if len(x) == 1 else x

    def _batch(self, x: Any) -> Any:
        """x as an array (or Value) of shape (nin, N); ValueError naming the shape expected otherwise."""
        nin = self.layers[0].W.data.shape[1]
        if not isinstance(x, Value):
            if isinstance(x, list | tuple) and any(isinstance(v, Value) for v in x):
                raise TypeError("an MLP with graph='matmul' takes an array of shape (nin, N), not a list of Values: "
                                "use graph='dot' for those")
            x = np.asarray(x, dtype=np.float64)
            x = x.reshape(nin, 1) if x.shape == (nin,) else x
        shape = np.shape(x.data if isinstance(x, Value) else x)
        if len(shape) != 2 or shape[0] != nin:
            raise ValueError(f"an MLP with graph='matmul' takes an array of shape ({nin}, N), one point per column "
                             f"(model(X.T) for rows X of shape (N, {nin})), got shape {shape}")
        return x

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(map(repr, self.layers))}]"


def check_graph(graph: str, choices: Sequence[str]) -> str:
    """graph if it is one of choices; a ValueError naming them otherwise."""
    if graph not in choices:
        raise ValueError(f"graph must be one of {', '.join(map(repr, choices))}, got {graph!r}")
    return graph


def check_activation(activation: Activation, params: Mapping[str, Any] | None = None) -> Callable[[Value], Value] | None:
    """The function a neuron applies: ``activation`` with its static parameters ``params``, checked once, here.

    ``activation`` is the name of a registered unary op defined on all reals (an activation sees any real
    number), a function from Value to Value (a composition of ops, say), or None for linear (None is returned).
    A ValueError names the op and what is wrong: an unknown op (with the choices), one that takes two inputs
    or is not defined on all reals, a parameter it does not take or a required one missing, or parameter
    values it fails with (it is tried forward and backward at 0, where ``where`` computes every branch).
    """
    if activation is None or callable(activation):
        if params:
            raise ValueError(f"activation_params {dict(params)!r} are the static parameters of a named op, "
                             f"not of activation={activation!r}")
        return activation if activation is None else _tried(activation, repr(activation))
    op = registry.find(activation) if isinstance(activation, str) else None
    why = _unusable(activation, op)
    if why:
        ops = sorted(n for n, o in registry.ops().items() if not _unusable(n, o))
        raise ValueError(f"activation {activation!r} is not a registered unary op defined on all reals ({why}); choose one of {ops}")
    try:
        params = op.bind((), params or {})
    except TypeError as exc:  # a parameter it does not take, or a required one missing: as v.<op>(...) says it
        raise ValueError(f"activation {op.name!r}: {exc} (the op is {op.signature})") from None
    # v.<op>() given the parameters bound here, not binding them again at every call; a bare function without any
    method = _FAST[op.name]
    call = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return _tried(functools.partial(method, _params=params) if params else method, f"{op.name}({call})")


def _unusable(activation: Any, op: Op | None) -> str:
    """Why the op named activation cannot be one ('' if it can)."""
    if not isinstance(activation, str):
        return f"a {type(activation).__name__}, neither a name nor a function"
    if op is None:
        return "no op of that name is registered"
    if op.arity != 1:
        return f"it takes the inputs {', '.join(op.inputs)}"
    if op.shapes:
        return "it is not elementwise"
    return "" if op.domains == ("real",) else f"its input must be {DOMAINS[op.domains[0]]}"


def _tried(activate: Callable[[Value], Value], what: str) -> Callable[[Value], Value]:
    """activate, once it has given a Value at 0 and backward() through it; else a ValueError naming what.

    backward() is what checks the gradient: a cotangent that is not finite is a DomainError there.
    """
    try:
        out = activate(Value(0.0))
        if type(out) is not Value:
            raise TypeError(f"it returned {out!r}, not a Value: write it with Value's ops (v.tanh(), not math.tanh(v))")
        out.backward()
    except (ArithmeticError, AttributeError, TypeError, ValueError) as exc:  # DomainError is a ValueError
        raise ValueError(f"activation {what} fails at x = 0: {exc}") from None
    return activate
