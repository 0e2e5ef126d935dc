"""Train an MLP 2-16-16-1 on two moons, showing progress, then write loss.png, decision_boundary.png and metrics.json.

The whole training set goes through the network as one graph per epoch: the points are the columns
of one array, and each layer is one matmul node over all of them (``MLP(..., graph="matmul")``). The
loss is binary cross-entropy from the logits; Adam updates the weights.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import viz
from .data import make_moons
from .losses import binary_cross_entropy
from .nn import MLP, check_activation
from .optim import Adam
from .plugins import registry
from .value import DomainError, Value

SAMPLES, NOISE, HIDDEN, LR = 200, 0.1, (16, 16), 0.05


def run(args: argparse.Namespace) -> int:
    """Train and write the outputs; exit code 0, 1 if training hits a DomainError, 2 for an unusable activation or --out."""
    try:
        activation, params = parse_activation(args.activation)
        check_activation(activation, params)
    except ValueError as exc:
        print(f"microreg demo: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file of that name, or no permission: said before any training, not as a traceback
        print(f"microreg demo: --out {args.out}: {exc.strerror}; it must name a directory to write the plots and metrics.json in",
              file=sys.stderr)
        return 2
    X, y = make_moons(SAMPLES, NOISE, seed=args.seed)
    model = MLP(2, [*HIDDEN, 1], activation=activation, activation_params=params, seed=args.seed, graph="matmul")
    optimizer = Adam(model.parameters(), lr=LR)
    columns = X.T  # one point per column: each layer is one matmul over the whole batch
    arch = f"MLP 2-{'-'.join(map(str, HIDDEN))}-1 ({args.activation})"
    size = sum(np.size(p.data) for p in model.parameters())  # weights and biases: 6 array Values hold 337 numbers
    _say(f"training {arch[:-1]}, {size} parameters) "
         f"on {SAMPLES} two-moons points for {args.epochs} epochs")

    def evaluate() -> tuple[Value, float]:
        """The loss of the current weights (a graph to step from) and their training accuracy."""
        logits = model(columns)
        return binary_cross_entropy(logits, y), float(np.mean((logits.data > 0) == y))

    losses: list[float] = []
    accuracies: list[float] = []
    start = time.perf_counter()
    every = max(1, args.epochs // 10)
    epoch = 1
    try:
        loss, _ = evaluate()
        for epoch in range(1, args.epochs + 1):
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            # each epoch reports the weights it ends with, so the last line is the final model's accuracy
            loss, accuracy = evaluate()
            losses.append(loss.data)
            accuracies.append(accuracy)
            if epoch % every == 0 or epoch in (1, args.epochs):
                _say(f"epoch {epoch:4d}  loss {loss.data:.4f}  accuracy {accuracy:6.1%}")
    except DomainError as exc:  # an activation that overflows, say: say which op, without a traceback
        print(f"microreg demo: training stopped at epoch {epoch}: {exc}", file=sys.stderr)
        return 1
    except TypeError as exc:  # the engine's error naming an op that runs on floats only (math.tanh in its forward, say)
        print(f"microreg demo: activation {args.activation} cannot train on arrays, as the demo does (one matmul a layer): "
              f"{exc}; an op computes with xp's functions, not math's", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start

    metrics = {"accuracy": accuracy, "loss": losses, "accuracy_per_epoch": accuracies, "epochs": args.epochs,
               "seed": args.seed, "activation": args.activation, "samples": SAMPLES, "noise": NOISE,
               "hidden": list(HIDDEN), "parameters": size, "train_seconds": round(seconds, 3)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    _say(f"final training accuracy {accuracy:.1%} after {seconds:.1f} s; wrote {out / 'metrics.json'}")

    try:
        viz.plot_loss(losses, out / "loss.png", accuracies, ylabel="binary cross-entropy",
                      title=f"Training an {arch} on two moons")
        viz.plot_decision_boundary(lambda pts: model(pts.T).data, X, y, out / "decision_boundary.png",
                                   title=f"{arch}: decision regions, training accuracy {accuracy:.1%}")
    except viz.PlotsUnavailableError as exc:
        _say(f"no plots written: {exc}")
        return 0
    _say(f"wrote {out / 'loss.png'} and {out / 'decision_boundary.png'}")
    return 0


def parse_activation(spec: str) -> tuple[str, dict[str, Any]]:
    """The op name and static parameters of ``--activation``, written as the method call would be: ``"relu"`` gives
    ("relu", {}), ``"leaky_relu(0.2)"`` and ``"leaky_relu(negative_slope=0.2)"`` give ("leaky_relu",
    {"negative_slope": 0.2}). Values are Python literals; parameters given by position are named by the op's
    signature (an op not registered takes none); a ValueError says what is malformed."""
    try:
        tree = ast.parse(spec.strip(), mode="eval").body
    except SyntaxError:
        tree = None
    if isinstance(tree, ast.Name):
        return tree.id, {}
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and all(k.arg for k in tree.keywords)
            and not any(isinstance(a, ast.Starred) for a in tree.args)):
        raise ValueError(f"activation {spec!r} is not NAME or NAME(value, ..., parameter=value, ...), e.g. leaky_relu(0.2)")
    name = tree.func.id

    def literal(node: ast.expr, what: str) -> Any:
        try:
            return ast.literal_eval(node)
        except ValueError:
            raise ValueError(f"activation {spec!r}: {what} must be a number, got {ast.unparse(node)}") from None

    args = tuple(literal(a, f"parameter {i + 1}") for i, a in enumerate(tree.args))
    params = {k.arg: literal(k.value, f"parameter {k.arg}") for k in tree.keywords}
    op = registry.find(name)
    if not args or op is None:  # by name only, or an unknown op, which check_activation names with the choices
        return name, params
    try:
        return name, op.bind(args, params)
    except TypeError as exc:  # as v.<op>(...) says it
        raise ValueError(f"activation {name!r}: {exc} (the op is {op.signature})") from None


def _say(line: str) -> None:
    """Print a line of progress; once the reader has gone (`microreg demo | head -2`), print nothing more but
    go on training and writing the files: the outputs, not the progress, are the demo's work."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

