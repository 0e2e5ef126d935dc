"""Training with microreg.replay: micrograd's moons loop, the graph recorded at the first step and replayed after.

    python examples/replay_moons.py [--steps N]

An MLP 2-16-16-1 (one dot node per neuron) on 100 two-moons points, hinge loss plus L2, plain SGD: trained
twice from the same weights, once building the graph at every step and once replaying it. The losses
agree to the bit, and the replayed loop takes less time. Replay pays where the same graph is built at
every step; a loop whose graph changes at every step (a batch of another size each time) would record
at every call, and cost more than building the graph.
"""

from __future__ import annotations

import argparse
import time

import microreg
from microreg.data import make_moons
from microreg.nn import MLP


def hinge(model: MLP, X: list[list[float]], Y: list[float]) -> microreg.Value:
    losses = [(1 + -y * model(x)).relu() for x, y in zip(X, Y)]
    return sum(losses) * (1.0 / len(losses)) + 1e-4 * sum(p * p for p in model.parameters())


def train(steps: int, replayed: bool) -> tuple[list[float], float]:
    """The loss at each step and the seconds the loop took."""
    X, y = make_moons(100, noise=0.1, seed=0)
    X, Y = X.tolist(), (2.0 * y - 1.0).tolist()
    model = MLP(2, [16, 16, 1], seed=0)
    params = model.parameters()
    step = microreg.replay(lambda X, Y: hinge(model, X, Y))
    losses = []
    start = time.process_time()
    for _ in range(steps):
        if replayed:
            losses.append(step(X, Y))  # the loss; every parameter's .grad set
        else:
            loss = hinge(model, X, Y)
            model.zero_grad()
            loss.backward()
            losses.append(loss.data)
        for p in params:
            p.data -= 0.05 * p.grad
    return losses, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    steps = parser.parse_args().steps
    (graph, graph_s), (replay, replay_s) = train(steps, replayed=False), train(steps, replayed=True)
    print(f"{steps} steps: loss {graph[0]:.4f} -> {graph[-1]:.4f}; building the graph {graph_s:.2f} s, "
          f"replaying it {replay_s:.2f} s (recording included); the same losses to the bit: {graph == replay}")


if __name__ == "__main__":
    main()
