"""A JAX model trained with a microreg plugin activation, exported to JAX: microreg's forward, microreg's proved vjp.

    python examples/export_jax.py [--activation mish] [--steps 300] [--seed 0]

An MLP 2-32-32-1 on 200 two-moons points in float32, with binary cross-entropy and Adam written out
in a few lines: plain JAX (``jax.jit``, ``jax.value_and_grad``), except that the hidden layers'
activation is ``microreg.export.jax(name)``, a ``jax.custom_vjp`` function.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from microreg import export
from microreg.data import make_moons

Params = list[tuple[jax.Array, jax.Array]]


def init(seed: int, sizes: tuple[int, ...] = (2, 32, 32, 1)) -> Params:
    """Weights and biases uniform in +-1/sqrt(fan_in), as torch.nn.Linear draws them (drawn by NumPy: nothing to compile)."""
    rng = np.random.default_rng(seed)
    return [tuple(jnp.asarray(rng.uniform(-fan_in ** -0.5, fan_in ** -0.5, shape), dtype=jnp.float32)
                  for shape in ((fan_in, fan_out), (fan_out,)))
            for fan_in, fan_out in zip(sizes[:-1], sizes[1:])]


def train(activation: str = "mish", steps: int = 300, seed: int = 0, lr: float = 0.01,
          report: Callable[[int, float], None] | None = None) -> tuple[Params, list[float], float]:
    """Train a fresh model; returns its parameters, the loss before each step and after the last, and the training accuracy."""
    act = export.jax(activation)
    X, y = make_moons(200, noise=0.1, seed=seed)
    X, y = jnp.asarray(X, dtype=jnp.float32), jnp.asarray(y, dtype=jnp.float32)

    def logits(params: Params, X: jax.Array) -> jax.Array:
        *hidden, (w, b) = params
        for wh, bh in hidden:
            X = act(X @ wh + bh)
        return (X @ w + b)[:, 0]

    def loss(params: Params) -> jax.Array:
        z = logits(params, X)
        return jnp.mean(jax.nn.softplus(z) - y * z)  # binary cross-entropy with logits

    @jax.jit
    def step(params: Params, m: Params, v: Params, t: int) -> tuple:
        value, grads = jax.value_and_grad(loss)(params)
        m = jax.tree.map(lambda m, g: 0.9 * m + 0.1 * g, m, grads)
        v = jax.tree.map(lambda v, g: 0.999 * v + 0.001 * g * g, v, grads)
        scale = lr * jnp.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        params = jax.tree.map(lambda p, m, v: p - scale * m / (jnp.sqrt(v) + 1e-8), params, m, v)
        return params, m, v, value

    @jax.jit
    def evaluate(params: Params) -> tuple[jax.Array, jax.Array]:
        return loss(params), jnp.mean((logits(params, X) > 0) == (y > 0.5))

    params = init(seed)
    m = v = [tuple(jnp.asarray(np.zeros(p.shape, np.float32)) for p in layer) for layer in params]
    losses = []
    for t in range(1, steps + 1):
        params, m, v, value = step(params, m, v, t)
        losses.append(float(value))
        if report:
            report(t - 1, losses[-1])
    final, accuracy = evaluate(params)
    return params, [*losses, float(final)], float(accuracy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activation", default="mish")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    def report(step: int, loss: float) -> None:
        if step % 50 == 0:
            print(f"step {step:4d}  loss {loss:.4f}")

    _, losses, accuracy = train(args.activation, args.steps, args.seed, report=report)
    print(f"final loss {losses[-1]:.4f}, training accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
