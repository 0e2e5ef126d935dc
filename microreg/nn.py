"""A small neural-network library on Value: Module, Neuron, Layer, MLP."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from .op import REQUIRED, Op
from .plugins import registry
from .value import Value, zeros_like


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
    """``activation(w . x + b)``; ``activation`` is the name of any registered unary op, or None for linear."""

    def __init__(self, nin: int, activation: str | None = "relu", rng: random.Random | None = None) -> None:
        rng = rng or random.Random()
        self.w = [Value(rng.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.activation = check_activation(activation)

    def __call__(self, x: Sequence[Any]) -> Value:
        if len(x) != len(self.w):
            raise ValueError(f"Neuron takes {len(self.w)} inputs, got {len(x)}")
        act = self.b
        for wi, xi in zip(self.w, x):
            act = act.add(wi.mul(xi))  # act + wi * xi: the same ops, a third faster called as methods than through operators
        return getattr(act, self.activation)() if self.activation else act

    def parameters(self) -> list[Value]:
        return [*self.w, self.b]

    def __repr__(self) -> str:
        return f"Neuron({len(self.w)}, activation={self.activation!r})"


class Layer(Module):
    """A list of neurons that see the same inputs."""

    def __init__(self, nin: int, nout: int, activation: str | None = "relu", rng: random.Random | None = None) -> None:
        self.neurons = [Neuron(nin, activation, rng) for _ in range(nout)]

    def __call__(self, x: Sequence[Any]) -> list[Value]:
        return [n(x) for n in self.neurons]

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        return f"Layer([{', '.join(map(repr, self.neurons))}])"


class MLP(Module):
    """A multilayer perceptron: layers of sizes ``nin -> nouts[0] -> ... -> nouts[-1]``.

    Hidden layers use ``activation``, the last one ``output_activation`` (None: linear). A single
    output is returned as a Value.

    An input is a sequence of ``nin`` numbers or Values, one example; or of ``nin`` NumPy arrays of
    one shape, a whole batch in one graph (``model(list(X.T))`` for rows ``X`` of shape (N, nin)),
    whose outputs are then Values holding arrays of that shape. ``seed`` makes the weights reproducible.
    """

    def __init__(self, nin: int, nouts: Sequence[int], activation: str | None = "relu", output_activation: str | None = None,
                 seed: int | None = None) -> None:
        sizes = [nin, *nouts]
        if not nouts or any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in sizes):
            raise ValueError(f"MLP takes a positive int nin and a non-empty list of positive int layer sizes, "
                             f"got nin={nin!r}, nouts={nouts!r}")
        check_activation(activation)  # even where no hidden layer uses it: a typo should not pass silently
        rng = random.Random(seed)
        self.layers = [
            Layer(sizes[i], sizes[i + 1], activation if i < len(nouts) - 1 else output_activation, rng) for i in range(len(nouts))
        ]

    def __call__(self, x: Sequence[Any]) -> Value | list[Value]:
        for layer in self.layers:
            x = layer(x)
        return x[0] if len(x) == 1 else x

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(map(repr, self.layers))}]"


def check_activation(name: str | None) -> str | None:
    """name if it is a registered unary op defined on all reals, with no required parameters (or None).

    A ValueError names the choices otherwise: an activation sees any real number.
    """
    if name is None:
        return None
    if not _usable(registry.find(name)):
        ops = sorted(n for n, o in registry.ops().items() if _usable(o))
        raise ValueError(f"activation {name!r} is not a registered unary op defined on all reals; choose one of {ops}")
    return name


def _usable(op: Op | None) -> bool:
    return op is not None and op.arity == 1 and op.domains == ("real",) and REQUIRED not in op.params.values()
