"""The whole batch in one graph: microreg's batched training step against micrograd's scalar step
and PyTorch's batched step, side by side in one process, as ratios.

    python benchmarks/bench_batch.py [--quick]

The step is bench_engine's (MLP 2-16-16-1, relu hidden, linear output, 100 two-moons points, hinge
loss plus L2, SGD): microreg feeds the two input columns as NumPy arrays, so every op of the same
MLP code runs once over the batch; micrograd runs its demo's per-point scalar step; PyTorch (when
installed) runs the same model with nn.Linear layers on a (100, 2) tensor. Times are CPU time of
this process (robust to other load on the machine), medians over blocks of consecutive steps.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import make_step, moons, timed, update  # noqa: E402

from microreg.nn import MLP  # noqa: E402


def batched_step(model: MLP) -> Callable[[], float]:
    X, Y = moons(100)
    cols = [c.copy() for c in np.asarray(X).T]
    y = np.asarray(Y)

    def step() -> float:
        return update(model, (1 + -y * model(cols)).relu().mean())

    return step


def torch_step() -> Callable[[], float] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    X, Y = moons(100)
    x, y = torch.tensor(X, dtype=torch.float64), torch.tensor(Y, dtype=torch.float64)
    model = model.double()

    def step() -> float:
        scores = model(x)[:, 0]
        total = (1 + -y * scores).relu().mean() + 1e-4 * sum((p * p).sum() for p in model.parameters())
        model.zero_grad()
        total.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.05 * p.grad
        return total.item()

    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    args = parser.parse_args(argv)
    from micrograd.engine import Value as MGValue
    from micrograd.nn import MLP as MGMLP

    random.seed(0)
    steps = {
        "micrograd (scalar)": make_step(MGMLP(2, [16, 16, 1]), MGValue),
        "microreg (batch)": batched_step(MLP(2, [16, 16, 1], seed=0)),
    }
    torch = torch_step()
    if torch is not None:
        steps["torch (batch)"] = torch
    med = timed(steps, 1 if args.quick else 5, 0.5 if args.quick else 1.0)
    ours = med["microreg (batch)"]
    for name, t in med.items():
        print(f"{name:20s} {t * 1e3:9.2f} ms/step")
    speedup = med["micrograd (scalar)"] / ours
    print(f"microreg batch vs micrograd scalar: {speedup:.0f}x faster (target >= 100x)")
    if torch is not None:
        print(f"microreg batch / torch batch: {ours / med['torch (batch)']:.1f}x torch's time")
    else:
        print("torch not installed: pip install torch==2.13.0 for that comparison")
    return 0 if speedup >= 100 else 1


if __name__ == "__main__":
    sys.exit(main())
