"""A Hessian-vector product two ways, side by side in one process, as ratios: forward over reverse (``microreg.hvp``,
the jvp of a gradient built with ``create_graph=True``) against reverse over reverse (the gradient of grad f . v).

    python benchmarks/bench_hvp.py [--quick]

Three sizes: the two-input function of examples/hessian_vector.py; the Rosenbrock function of 100 scalar Values;
and the loss of an MLP 2-W-1 (tanh hidden, squared error) on N two-moons points, its weights four array Values, at
W = 16, N = 100 and W = 64, N = 1000. Each round times a block of consecutive products of each way in turn
(bench_engine.timed: CPU time, the median of the block); the ratio is the median over the rounds, with the
lowest and highest round. Both ways are checked to agree before timing.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import moons, ratio, timed  # noqa: E402

from microreg import Value, grad, hvp  # noqa: E402


def reverse_over_reverse(f: Callable[..., Value], primals: Sequence[Any], tangents: Sequence[Any]) -> list[Any]:
    """H @ v as the gradient of grad f . v: two reverse sweeps, the first with create_graph=True."""
    xs = [Value(p) for p in primals]
    gs = grad(f(*xs), xs, create_graph=True)
    total = sum(((g * v).sum() if isinstance(v, np.ndarray) else g * v) for g, v in zip(gs, tangents))
    return grad(total, xs)


def two_inputs(x: Value, y: Value) -> Value:
    return x**2 * y + (x * y).tanh()


def rosenbrock(*xs: Value) -> Value:
    return sum(100 * (b - a * a) ** 2 + (1 - a) ** 2 for a, b in zip(xs, xs[1:]))


def mlp_loss(X: np.ndarray, y: np.ndarray) -> Callable[..., Value]:
    def loss(W1: Value, b1: Value, W2: Value, b2: Value) -> Value:
        scores = (W2 @ (W1 @ X + b1).tanh() + b2).sum(axis=0)
        return ((scores - y) ** 2).mean()

    return loss


def cases(quick: bool) -> dict[str, tuple[Callable, list[Any], list[Any]]]:
    rng = np.random.default_rng(0)
    found = {"f(x, y) = x^2 y + tanh(xy), 2 scalars": (two_inputs, [0.7, -1.3], [1.0, 2.0]),
             "Rosenbrock, 100 scalars": (rosenbrock, list(rng.uniform(-1, 1, 100)), list(rng.normal(size=100)))}
    for width, n in ((16, 100),) if quick else ((16, 100), (64, 1000)):
        X, y = moons(n)
        shapes = [(width, 2), (width, 1), (1, width), (1, 1)]
        found[f"MLP 2-{width}-1 loss, {n} points, 4 array weights"] = (
            mlp_loss(X.T, y), [rng.normal(size=s) * 0.5 for s in shapes], [rng.normal(size=s) for s in shapes])
    return found


def row(name: str, f: Callable[..., Value], primals: list[Any], tangents: list[Any], rounds: int, block: float) -> str:
    """One case: both ways checked to agree, then timed side by side; the line of the table."""
    for a, b in zip(hvp(f, primals, tangents), reverse_over_reverse(f, primals, tangents)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=name)
    per_round = timed({"fwd": functools.partial(hvp, f, primals, tangents),
                       "rev": functools.partial(reverse_over_reverse, f, primals, tangents)}, rounds, block)
    mid, low, high = ratio(per_round, "fwd", "rev")
    fwd, rev = (statistics.median(per_round[k]) * 1e3 for k in ("fwd", "rev"))
    return f"{name:<48} {fwd:>19.3f} ms {rev:>19.3f} ms  {mid:.2f} [{low:.2f}-{high:.2f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and sizes (a smoke run)")
    quick = parser.parse_args(argv).quick
    print(f"{'case':<48} {'forward over reverse':>22} {'reverse over reverse':>22}  ratio (fwd/rev) [spread]")
    for name, case in cases(quick).items():
        print(row(name, *case, *((3, 0.1) if quick else (9, 0.5))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
