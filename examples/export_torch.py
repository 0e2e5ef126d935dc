"""A PyTorch model trained with a microreg plugin activation, exported to torch: microreg's forward, microreg's proved vjp.

    python examples/export_torch.py [--activation mish] [--steps 300] [--seed 0]

An MLP 2-32-32-1 on 200 two-moons points in float32, with binary cross-entropy and Adam: plain
PyTorch, except that the hidden layers' activation is ``microreg.export.torch(name)``. Any
registered op with one real input works (``microreg ops`` lists them); with ``--device cuda`` the
same code trains on a GPU.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch

from microreg import export
from microreg.data import make_moons


class Activation(torch.nn.Module):
    """An exported op as a layer, with its static parameters fixed: ``Activation("leaky_relu", negative_slope=0.2)``."""

    def __init__(self, name: str, **params: float) -> None:
        super().__init__()
        self.name, self.params, self.fn = name, params, export.torch(name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x, **self.params)

    def extra_repr(self) -> str:
        return ", ".join([repr(self.name), *(f"{k}={v}" for k, v in self.params.items())])


def train(activation: str = "mish", steps: int = 300, seed: int = 0, device: str = "cpu",
          report: Callable[[int, float], None] | None = None) -> tuple[torch.nn.Module, list[float], float]:
    """Train a fresh model; returns it, the loss before each step and after the last, and the training accuracy."""
    torch.manual_seed(seed)
    X, y = make_moons(200, noise=0.1, seed=seed)
    X = torch.tensor(X, dtype=torch.float32, device=device)
    y = torch.tensor(y, dtype=torch.float32, device=device)
    model = torch.nn.Sequential(torch.nn.Linear(2, 32), Activation(activation), torch.nn.Linear(32, 32),
                                Activation(activation), torch.nn.Linear(32, 1)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    losses = []
    for step in range(steps):
        loss = loss_fn(model(X).squeeze(1), y)
        losses.append(loss.item())
        if report:
            report(step, losses[-1])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        logits = model(X).squeeze(1)
        losses.append(loss_fn(logits, y).item())
        accuracy = ((logits > 0).float() == y).float().mean().item()
    return model, losses, accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activation", default="mish")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    def report(step: int, loss: float) -> None:
        if step % 50 == 0:
            print(f"step {step:4d}  loss {loss:.4f}")

    model, losses, accuracy = train(args.activation, args.steps, args.seed, args.device, report)
    print(model)
    print(f"final loss {losses[-1]:.4f}, training accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
