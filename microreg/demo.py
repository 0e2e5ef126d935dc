"""Train an MLP 2-16-16-1 on two moons, showing progress, then write loss.png, decision_boundary.png and metrics.json.

The whole training set goes through the network as one graph per epoch: each input is a NumPy
array holding that coordinate of every point, so each op runs elementwise over the batch. The loss
is binary cross-entropy from the logits; Adam updates the weights.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from . import viz
from .data import make_moons
from .losses import binary_cross_entropy
from .nn import MLP, check_activation
from .optim import Adam
from .value import DomainError

SAMPLES, NOISE, HIDDEN, LR = 200, 0.1, (16, 16), 0.05


def run(args: argparse.Namespace) -> int:
    """Train and write the outputs; exit code 0, 1 if training hits a DomainError, 2 for an unusable activation."""
    try:
        check_activation(args.activation)
    except ValueError as exc:
        print(f"microreg demo: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    X, y = make_moons(SAMPLES, NOISE, seed=args.seed)
    model = MLP(2, [*HIDDEN, 1], activation=args.activation, seed=args.seed)
    optimizer = Adam(model.parameters(), lr=LR)
    columns = list(X.T)
    arch = f"MLP 2-{'-'.join(map(str, HIDDEN))}-1 ({args.activation})"
    print(f"training {arch[:-1]}, {len(model.parameters())} parameters) "
          f"on {SAMPLES} two-moons points for {args.epochs} epochs", flush=True)

    losses: list[float] = []
    accuracies: list[float] = []
    start = time.perf_counter()
    every = max(1, args.epochs // 10)
    for epoch in range(1, args.epochs + 1):
        try:
            logits = model(columns)
            loss = binary_cross_entropy(logits, y)
            optimizer.zero_grad()
            loss.backward()
        except DomainError as exc:  # an activation that overflows, say: say which op, without a traceback
            print(f"microreg demo: training stopped at epoch {epoch}: {exc}", file=sys.stderr)
            return 1
        optimizer.step()
        losses.append(loss.data)
        accuracies.append(float(np.mean((logits.data > 0) == y)))  # of the weights this epoch's loss was computed with
        if epoch % every == 0 or epoch in (1, args.epochs):
            print(f"epoch {epoch:4d}  loss {loss.data:.4f}  accuracy {accuracies[-1]:6.1%}", flush=True)
    seconds = time.perf_counter() - start

    accuracy = float(np.mean((model(columns).data > 0) == y))
    metrics = {"accuracy": accuracy, "loss": losses, "accuracy_per_epoch": accuracies, "epochs": args.epochs,
               "seed": args.seed, "activation": args.activation, "samples": SAMPLES, "noise": NOISE,
               "hidden": list(HIDDEN), "parameters": len(model.parameters()), "train_seconds": round(seconds, 3)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"final training accuracy {accuracy:.1%} after {seconds:.1f} s; wrote {out / 'metrics.json'}")

    try:
        viz.plot_loss(losses, out / "loss.png", accuracies, ylabel="binary cross-entropy",
                      title=f"Training an {arch} on two moons")
        viz.plot_decision_boundary(lambda pts: model(list(pts.T)).data, X, y, out / "decision_boundary.png",
                                   title=f"{arch}: decision regions, training accuracy {accuracy:.1%}")
    except viz.PlotsUnavailableError:
        print(f"no plots written: {viz.PLOT_HINT}")
        return 0
    print(f"wrote {out / 'loss.png'} and {out / 'decision_boundary.png'}")
    return 0

