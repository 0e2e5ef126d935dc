"""A small neural-network library on Value: Module, Neuron, Layer, MLP."""

from __future__ import annotations

import operator
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .op import DOMAINS, REQUIRED, Op
from .plugins import registry
from .value import Value, zeros_like

#: What a model takes as an activation: the name of a registered unary op, a function from Value to Value, or None (linear).
Activation = str | Callable[[Value], Value] | None


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
    """``activation(w . x + b)``: see ``check_activation`` for what ``activation`` and ``activation_params`` may be."""

    def __init__(self, nin: int, activation: Activation = "relu", rng: random.Random | None = None,
                 activation_params: Mapping[str, Any] | None = None) -> None:
        rng = rng or random.Random()
        self.w = [Value(rng.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.activation, self.activation_params = activation, dict(activation_params or {})
        self._activate = check_activation(activation, activation_params)

    def __call__(self, x: Sequence[Any]) -> Value:
        if len(x) != len(self.w):
            raise ValueError(f"Neuron takes {len(self.w)} inputs, got {len(x)}")
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
    """A list of neurons that see the same inputs."""

    def __init__(self, nin: int, nout: int, activation: Activation = "relu", rng: random.Random | None = None,
                 activation_params: Mapping[str, Any] | None = None) -> None:
        self.neurons = [Neuron(nin, activation, rng, activation_params) for _ in range(nout)]

    def __call__(self, x: Sequence[Any]) -> list[Value]:
        return [n(x) for n in self.neurons]

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        return f"Layer([{', '.join(map(repr, self.neurons))}])"


class MLP(Module):
    """A multilayer perceptron: layers of sizes ``nin -> nouts[0] -> ... -> nouts[-1]``.

    Hidden layers use ``activation`` with its static parameters ``activation_params``
    (``activation="leaky_relu", activation_params={"negative_slope": 0.2}``), the last one
    ``output_activation`` (None: linear); either may also be a function from Value to Value. A single
    output is returned as a Value.

    An input is a sequence of ``nin`` numbers or Values, one example; or of ``nin`` NumPy arrays of
    one shape, a whole batch in one graph (``model(list(X.T))`` for rows ``X`` of shape (N, nin)),
    whose outputs are then Values holding arrays of that shape. ``seed`` makes the weights reproducible.
    """

    def __init__(self, nin: int, nouts: Sequence[int], activation: Activation = "relu", output_activation: Activation = None,
                 seed: int | None = None, activation_params: Mapping[str, Any] | None = None) -> None:
        sizes = [nin, *nouts]
        if not nouts or any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in sizes):
            raise ValueError(f"MLP takes a positive int nin and a non-empty list of positive int layer sizes, "
                             f"got nin={nin!r}, nouts={nouts!r}")
        check_activation(activation, activation_params)  # even where no hidden layer uses it: a typo should not pass silently
        rng = random.Random(seed)
        self.layers = [Layer(sizes[i], sizes[i + 1], activation, rng, activation_params) for i in range(len(nouts) - 1)]
        self.layers.append(Layer(sizes[-2], sizes[-1], output_activation, rng))

    def __call__(self, x: Sequence[Any]) -> Value | list[Value]:
        for layer in self.layers:
            x = layer(x)
        return x[0] if len(x) == 1 else x

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(map(repr, self.layers))}]"


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
    params = dict(params or {})
    takes = ", ".join(f"{k}={d!r}" if d is not REQUIRED else k for k, d in op.params.items()) or "none"
    unknown = sorted(params.keys() - op.params.keys())
    if unknown:
        raise ValueError(f"activation {op.name!r} has no parameter {', '.join(map(repr, unknown))}; its parameters: {takes}")
    missing = [k for k, d in op.params.items() if d is REQUIRED and k not in params]
    if missing:
        raise ValueError(f"activation {op.name!r} needs the parameter(s) {', '.join(missing)} in activation_params "
                         f"(its parameters: {takes})")
    call = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return _tried(operator.methodcaller(op.name, **params), f"{op.name}({call})")


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
    """activate, once it has given a Value with a finite gradient at 0; else a ValueError naming what."""
    try:
        out = activate(Value(0.0))
        if type(out) is not Value:
            raise TypeError(f"it returned {out!r}, not a Value: write it with Value's ops (v.tanh(), not math.tanh(v))")
        out.backward()
    except (ArithmeticError, AttributeError, TypeError, ValueError) as exc:  # DomainError is a ValueError
        raise ValueError(f"activation {what} fails at x = 0: {exc}") from None
    return activate
