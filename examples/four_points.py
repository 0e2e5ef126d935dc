"""The small worked example: an MLP 3-4-4-1 with tanh everywhere learns four points by gradient descent.

    python examples/four_points.py [--seed S]

41 parameters, four inputs with targets 1, -1, -1, 1, the sum of squared errors as the loss and 50
steps of plain gradient descent at rate 0.05, written out as the loop users know from micrograd.
"""

from __future__ import annotations

import argparse

from microreg.nn import MLP

XS = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
YS = [1.0, -1.0, -1.0, 1.0]


def train(seed: int | None = None, steps: int = 50, lr: float = 0.05) -> tuple[MLP, list[float]]:
    """Train a fresh model; returns it and the loss before each step plus the final loss."""
    model = MLP(3, [4, 4, 1], activation="tanh", output_activation="tanh", seed=seed)
    losses = []
    for _ in range(steps):
        ypred = [model(x) for x in XS]
        loss = sum((yout - ygt) ** 2 for ygt, yout in zip(YS, ypred))
        losses.append(loss.data)
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= lr * p.grad
    losses.append(sum((model(x) - ygt) ** 2 for x, ygt in zip(XS, YS)).data)
    return model, losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    seed = parser.parse_args().seed
    model, losses = train(seed)
    print(f"{len(model.parameters())} parameters, seed {seed}")
    for step in (0, 1, 2, 5, 10, 20, 30, 40, 50):
        print(f"step {step:2d}  loss {losses[step]:.4f}")
    print("predictions:", ", ".join(f"{model(x).data:+.3f}" for x in XS), "targets:", ", ".join(f"{y:+.0f}" for y in YS))


if __name__ == "__main__":
    main()
