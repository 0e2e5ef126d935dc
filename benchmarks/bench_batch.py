"""The whole batch in one graph: microreg's batched training step against PyTorch's (and micrograd's scalar
step), side by side in one process, as ratios.

    python benchmarks/bench_batch.py [--quick]

The step is bench_engine's (MLP 2-W-W-1, relu hidden, linear output, hinge loss plus L2, SGD) on N
two-moons points, at widths W of 16 and 64 and at 100 and 1000 points. microreg runs it with one
matmul node per layer (MLP(..., graph="matmul"), the points as the columns of one array); PyTorch with
nn.Linear layers on an (N, 2) tensor, float64, on one thread; NumPy's BLAS runs on one thread too (set
below, before NumPy loads), so that both do the same arithmetic on the same one core. micrograd's
scalar step is timed at W = 16, N = 100 only (a second a step). Times are CPU time of this process,
per round the median of a block of consecutive steps; each ratio is the median over the rounds, with
the lowest and highest round (the spread).
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # before NumPy is imported
    os.environ.setdefault(_variable, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")  # JAX on one thread

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import make_step, moons, ratio, replayed_sgd, timed  # noqa: E402

from microreg.nn import MLP  # noqa: E402
from microreg.plugins import install_hint  # noqa: E402

SIZES = ((16, 100), (64, 100), (16, 1000), (64, 1000))  # (width, points)


def batched_step(width: int, n: int) -> Callable[[], float]:
    """microreg's step on the whole batch: one matmul node per layer, the points as columns."""
    X, Y = moons(n)
    model = MLP(2, [width, width, 1], seed=0, graph="matmul")
    params, columns = model.parameters(), X.T.copy()

    def step() -> float:
        total = (1 + -Y * model(columns)).relu().mean() + 1e-4 * sum((p * p).sum() for p in params)
        model.zero_grad()
        total.backward()
        for p in params:
            p.data -= 0.05 * p.grad
        return total.data

    return step


def replayed_step(width: int, n: int) -> Callable[[], float]:
    """batched_step's loss through microreg.replay: recorded at the first call, replayed from a flat program after."""
    X, Y = moons(n)
    model = MLP(2, [width, width, 1], seed=0, graph="matmul")
    params = model.parameters()
    return replayed_sgd(lambda X, Y: (1 + -Y * model(X)).relu().mean() + 1e-4 * sum((p * p).sum() for p in params), params,
                        X.T.copy(), Y)


def initial_weights(width: int) -> list[np.ndarray]:
    """W1, b1, W2, b2, W3, b3 as MLP(..., seed=0, graph="matmul") draws them."""
    return [p.data.copy() for p in MLP(2, [width, width, 1], seed=0, graph="matmul").parameters()]


def numpy_step(width: int, n: int) -> Callable[[], float]:
    """The same step written by hand in NumPy: the forward, its derivatives by the chain rule, SGD (the limit)."""
    X, Y = moons(n)
    X = X.T.copy()
    params = initial_weights(width)

    def step() -> float:
        W1, b1, W2, b2, W3, b3 = params
        z1 = W1 @ X + b1
        h1 = np.maximum(z1, 0.0)
        z2 = W2 @ h1 + b2
        h2 = np.maximum(z2, 0.0)
        margin = 1.0 + -Y * (W3 @ h2 + b3)[0]
        loss = np.maximum(margin, 0.0).mean() + 1e-4 * sum(float((p * p).sum()) for p in params)
        ds = (-Y * (margin > 0) / n)[None, :]
        dz2 = (W3.T @ ds) * (z2 > 0)
        dz1 = (W2.T @ dz2) * (z1 > 0)
        grads = (dz1 @ X.T, dz1.sum(axis=1, keepdims=True), dz2 @ h1.T, dz2.sum(axis=1, keepdims=True), ds @ h2.T,
                 ds.sum(axis=1, keepdims=True))
        for p, g in zip(params, grads):
            p -= 0.05 * (g + 2e-4 * p)
        return float(loss)

    return step


def jax_step(width: int, n: int) -> Callable[[], float] | None:
    """The same step in JAX, float64, jax.grad and the update under one jax.jit (None where jax is not installed)."""
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    X, Y = moons(n)
    X, Y = jnp.asarray(X.T), jnp.asarray(Y)

    def loss(params: list) -> Any:
        W1, b1, W2, b2, W3, b3 = params
        h = jnp.maximum(W2 @ jnp.maximum(W1 @ X + b1, 0.0) + b2, 0.0)
        return jnp.maximum(1.0 + -Y * (W3 @ h + b3)[0], 0.0).mean() + 1e-4 * sum((p * p).sum() for p in params)

    @jax.jit
    def update(params: list) -> tuple:
        value, grads = jax.value_and_grad(loss)(params)
        return value, [p - 0.05 * g for p, g in zip(params, grads)]

    state = [[jnp.asarray(p) for p in initial_weights(width)]]

    def step() -> float:
        value, state[0] = update(state[0])
        return float(value)

    return step


def torch_step(width: int, n: int) -> Callable[[], float] | None:
    """The same step in PyTorch, float64, one thread (None where torch is not installed)."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, width), torch.nn.ReLU(), torch.nn.Linear(width, width), torch.nn.ReLU(),
                                torch.nn.Linear(width, 1)).double()
    X, Y = moons(n)
    x, y = torch.tensor(X), torch.tensor(Y)

    def step() -> float:
        total = (1 + -y * model(x)[:, 0]).relu().mean() + 1e-4 * sum((p * p).sum() for p in model.parameters())
        model.zero_grad()
        total.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.05 * p.grad
        return total.item()

    return step


PEERS = ("replayed", "numpy by hand", "jax.jit")  # columns beside the graph path, each as a ratio to torch's time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round, short blocks (a smoke run)")
    args = parser.parse_args(argv)
    rounds, block = (1, 0.3) if args.quick else (7, 0.5)
    print(f"training step on the whole batch, median of {rounds} round(s) [lowest-highest round]; target <= 1.5x torch's time:")
    met = True
    for width, n in SIZES:
        steps = {"microreg": batched_step(width, n), "replayed": replayed_step(width, n), "numpy by hand": numpy_step(width, n)}
        for name, make in (("jax.jit", jax_step), ("torch", torch_step)):
            step = make(width, n)
            if step is not None:
                steps[name] = step
        if (width, n) == (16, 100):
            from micrograd.engine import Value as MGValue
            from micrograd.nn import MLP as MGMLP

            random.seed(0)
            steps["micrograd (scalar)"] = make_step(MGMLP(2, [16, 16, 1]), MGValue)
        times = timed(steps, rounds, block)
        line = f"  MLP 2-{width}-{width}-1, {n:4d} points: microreg {statistics.median(times['microreg']) * 1e3:6.2f} ms"
        if "torch" in times:
            mid, lo, hi = ratio(times, "microreg", "torch")
            met &= mid <= 1.5
            line += f", torch {statistics.median(times['torch']) * 1e3:6.2f} ms: {mid:.2f}x torch's time [{lo:.2f}-{hi:.2f}]"
            for peer in PEERS:
                if peer in times:
                    mid, lo, hi = ratio(times, peer, "torch")
                    line += f"\n    {peer:14s} {statistics.median(times[peer]) * 1e3:6.2f} ms: {mid:.2f}x torch's time [{lo:.2f}-{hi:.2f}]"
        mid, lo, hi = ratio(times, "replayed", "microreg")
        line += f"\n    replayed: {mid:.2f} of the graph path's time [{lo:.2f}-{hi:.2f}]"
        if "micrograd (scalar)" in times:
            mid, lo, hi = ratio(times, "micrograd (scalar)", "microreg")
            line += f"\n    the graph path {mid:.0f}x faster than micrograd's scalar step [{lo:.0f}-{hi:.0f}]"
        print(line, flush=True)
    if "torch" not in steps:
        print(f"torch not installed: {install_hint('torch')} for that comparison")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
