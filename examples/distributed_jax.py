"""Data-parallel training with a microreg activation exported to JAX: jax.pmap over 2 host devices.

    XLA_FLAGS=--xla_force_host_platform_device_count=2 python examples/distributed_jax.py [--activation mish] [--steps 5]

An MLP 2-16-16-1 in float64 with the exported activation, trained by SGD on 64 two-moons points: each device takes
half of the batch and ``jax.lax.pmean`` averages the gradients. The same steps on the whole batch on one device
must give the same parameters (the script prints the largest difference); the suite runs it. JAX reads XLA_FLAGS
when it starts: set it in the environment, before Python imports jax.
"""

from __future__ import annotations

import argparse
import functools
import sys
from typing import Any

import jax
import jax.numpy as jnp

from microreg import export
from microreg.data import make_moons

POINTS, DEVICES = 64, 2


def init(seed: int = 0) -> list[jnp.ndarray]:
    keys = jax.random.split(jax.random.PRNGKey(seed), 3)
    sizes = [(2, 16), (16, 16), (16, 1)]
    return [w for key, (m, n) in zip(keys, sizes) for w in (jax.random.normal(key, (m, n)) / jnp.sqrt(m), jnp.zeros(n))]


def loss(act: Any, params: list[jnp.ndarray], X: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
    W1, b1, W2, b2, W3, b3 = params
    logits = (act(act(X @ W1 + b1) @ W2 + b2) @ W3 + b3)[:, 0]
    return jnp.mean(jnp.logaddexp(0.0, logits) - y * logits)  # binary cross-entropy with logits


def difference(activation: str = "mish", steps: int = 5) -> float:
    """The largest difference between the parameters trained on DEVICES devices (jax.pmap) and on one."""
    act = export.jax(activation)  # made once, outside the compiled functions
    X, y = (jnp.asarray(a, dtype=jnp.float64) for a in make_moons(POINTS, noise=0.1, seed=0))

    @functools.partial(jax.pmap, axis_name="devices")
    def parallel_step(params: list, X: jnp.ndarray, y: jnp.ndarray) -> list:
        grads = jax.lax.pmean(jax.grad(functools.partial(loss, act))(params, X, y), "devices")
        return [p - 0.5 * g for p, g in zip(params, grads)]

    @jax.jit
    def step(params: list, X: jnp.ndarray, y: jnp.ndarray) -> list:
        return [p - 0.5 * g for p, g in zip(params, jax.grad(functools.partial(loss, act))(params, X, y))]

    single, replicated = init(), [jnp.stack([p] * DEVICES) for p in init()]
    shards = X.reshape(DEVICES, -1, 2), y.reshape(DEVICES, -1)
    for _ in range(steps):
        single, replicated = step(single, X, y), parallel_step(replicated, *shards)
    return max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(single, replicated) for b in b)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activation", default="mish")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    if jax.local_device_count() < DEVICES:
        sys.exit(f"JAX sees {jax.local_device_count()} device(s); run with XLA_FLAGS=--xla_force_host_platform_device_count={DEVICES}")
    print(f"largest difference between {DEVICES} devices and 1: {difference(args.activation, args.steps):.3g}")
