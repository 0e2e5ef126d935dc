"""Data-parallel training with a microreg activation exported to torch: DistributedDataParallel, gloo, 2 CPU processes.

    python examples/distributed_torch.py [--activation mish] [--steps 5]

An MLP 2-16-16-1 in float64 with the exported activation, trained by SGD on 64 two-moons points: each of two
processes takes half of the batch, and DDP averages their gradients. The same steps on the whole batch in one
process must give the same parameters (the script prints the largest difference); the suite runs it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from microreg import export
from microreg.data import make_moons

POINTS, WORLD = 64, 2


def make_model(activation: str) -> torch.nn.Module:
    torch.manual_seed(0)
    act = export.torch(activation)  # made in each process, outside any compiled code

    class Activation(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return act(x)

    return torch.nn.Sequential(torch.nn.Linear(2, 16), Activation(), torch.nn.Linear(16, 16), Activation(),
                               torch.nn.Linear(16, 1)).double()


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    X, y = make_moons(POINTS, noise=0.1, seed=0)
    return torch.tensor(X), torch.tensor(y, dtype=torch.float64)


def train(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, steps: int) -> list[torch.Tensor]:
    """SGD on the mean binary cross-entropy; the parameters after the last step."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(model(X).squeeze(1), y).backward()
        optimizer.step()
    return [p.detach().clone() for p in model.parameters()]


def worker(rank: int, activation: str, steps: int, folder: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=WORLD)
    torch.set_num_threads(1)
    X, y = batch()
    part = slice(rank * POINTS // WORLD, (rank + 1) * POINTS // WORLD)
    params = train(DistributedDataParallel(make_model(activation)), X[part], y[part], steps)
    if rank == 0:
        torch.save(params, f"{folder}/params.pt")
    dist.barrier()  # both ranks done before gloo is torn down: one rank tearing down early aborted the other, once in CI
    dist.destroy_process_group()


def difference(activation: str = "mish", steps: int = 5) -> float:
    """The largest difference between the parameters trained by DDP on two processes and by one process."""
    with tempfile.TemporaryDirectory() as folder:
        mp.spawn(worker, args=(activation, steps, folder), nprocs=WORLD)
        distributed = torch.load(Path(folder) / "params.pt")
    single = train(make_model(activation), *batch(), steps)
    return max((a - b).abs().max().item() for a, b in zip(distributed, single))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activation", default="mish")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    print(f"largest difference between 2 processes and 1: {difference(args.activation, args.steps):.3g}")
