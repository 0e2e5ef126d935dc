"""microreg against karpathy's micrograd (PyPI 0.1.0), side by side in one process, as ratios.

    python benchmarks/bench_engine.py [--quick]

1. One training step (forward, backward, SGD update) of an MLP 2-16-16-1 (relu hidden, linear
   output) on 100 two-moons points, hinge loss plus L2, the loss of micrograd's own demo notebook,
   the same code for every engine: micrograd; microreg building the same graph op for op
   (MLP(..., graph="ops")); microreg with one fused dot node per neuron (the default, graph="dot"); the same
   fused dot step recorded once by ``microreg.replay`` and replayed from a flat program (no graph built).
   They alternate in blocks of consecutive steps of about the same length, as in a training loop,
   each block after a gc.collect(), so each engine pays for its own garbage (micrograd's graphs are
   reference cycles freed by the collector, microreg's are freed by reference counting). Each round
   gives each engine the median step of its block, and a ratio; the median ratio over the rounds
   counts, with the spread (lowest and highest round).
2. backward through a chain of 1,000,000 nodes, and its memory per node (micrograd's recursive sort
   fails below 1,000).
3. Memory per op while the graph is alive: y = y * 0.999 repeated, measured with tracemalloc.
4. sub, div and neg as registered ops against compositions of other ops (why they are ops).
5. tanh and sigmoid per use, forward and backward (their vjps are written to stay accurate in float64,
   which costs an exp each: this is that cost), beside the same step with relu (micrograd has neither).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

import microreg
from microreg.data import make_moons
from microreg.nn import MLP


def moons(n: int) -> tuple[np.ndarray, np.ndarray]:
    """microreg.data.make_moons with the labels as -1/+1 for the hinge loss."""
    X, y = make_moons(n, noise=0.1, seed=0)
    return X, 2.0 * y - 1.0


def make_step(model, wrap):
    """A step exactly as micrograd's demo.ipynb writes it, for either engine, on plain Python lists."""
    X, Y = (a.tolist() for a in moons(100))

    def step() -> float:
        inputs = [list(map(wrap, row)) for row in X] if wrap else X
        scores = [model(x) for x in inputs]
        losses = [(1 + -yi * si).relu() for yi, si in zip(Y, scores)]
        return update(model, sum(losses) * (1.0 / len(losses)))

    return step


def make_replayed_step(model):
    """make_step's step with its loss recorded once by microreg.replay and replayed from a flat program after."""
    X, Y = (a.tolist() for a in moons(100))
    params = model.parameters()

    def loss(X, Y):
        losses = [(1 + -yi * si).relu() for yi, si in zip(Y, (model(x) for x in X))]
        return sum(losses) * (1.0 / len(losses)) + 1e-4 * sum(p * p for p in params)

    return replayed_sgd(loss, params, X, Y)


def replayed_sgd(loss, params, *inputs):
    """A training step: loss(*inputs) through microreg.replay (recorded at the first call), then SGD on params."""
    replayed = microreg.replay(loss)

    def step() -> float:
        total = replayed(*inputs)
        for p in params:
            p.data -= 0.05 * p.grad
        return total

    return step


def update(model, data_loss) -> float:
    """The rest of the step: L2 regularisation, backward, SGD; returns the total loss."""
    total = data_loss + 1e-4 * sum(p * p for p in model.parameters())
    model.zero_grad()
    total.backward()
    for p in model.parameters():
        p.data -= 0.05 * p.grad
    return total.data


def timed(steps: dict[str, Callable[[], float]], rounds: int, block_seconds: float) -> dict[str, list[float]]:
    """The CPU time of one step of each engine, in each round: the median of that round's block of steps.

    The engines take turns, each in a block of consecutive steps (as in a training loop) lasting about
    block_seconds and at least two steps, so that each is sampled over the same stretches of time:
    this machine's speed drifts by tens of percent. A block starts with a gc.collect() and an untimed
    step, so that each engine pays for its own garbage, in the steady state of a training loop (a
    micrograd step collects the reference cycles its previous step left).
    """
    per_round: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            gc.collect()
            step()
            times: list[float] = []
            while len(times) < 2 or sum(times) < block_seconds:
                t = time.process_time()
                step()
                times.append(time.process_time() - t)
            per_round[name].append(statistics.median(times))
    return per_round


def ratio(per_round: dict[str, list[float]], ours: str, theirs: str) -> tuple[float, float, float]:
    """ours / theirs: the median over the rounds, and the lowest and highest round (the spread)."""
    ratios = [a / b for a, b in zip(per_round[ours], per_round[theirs])]
    return statistics.median(ratios), min(ratios), max(ratios)


def bench_step(rounds: int, block_seconds: float) -> dict[str, list[float]]:
    """Per round, the step's CPU time on micrograd and on microreg's op-for-op and fused-dot graphs."""
    from micrograd.engine import Value as MGValue
    from micrograd.nn import MLP as MGMLP

    random.seed(0)
    return timed({"micrograd": make_step(MGMLP(2, [16, 16, 1]), MGValue),
                  "microreg, op for op": make_step(MLP(2, [16, 16, 1], activation="relu", seed=0, graph="ops"), None),
                  "microreg, fused dot": make_step(MLP(2, [16, 16, 1], activation="relu", seed=0), None),
                  "fused dot, replayed": make_replayed_step(MLP(2, [16, 16, 1], activation="relu", seed=0))}, rounds, block_seconds)


def bench_record(rounds: int) -> list[float]:
    """Per round, the CPU time of replay's first call (recording, then running the record once) over that of an
    ordinary step of the same fused dot graph, taken alternately."""
    ratios = []
    for _ in range(rounds):
        gc.collect()
        ordinary = make_step(MLP(2, [16, 16, 1], activation="relu", seed=0), None)
        t = time.process_time()
        ordinary()
        took = time.process_time() - t
        replayed = make_replayed_step(MLP(2, [16, 16, 1], activation="relu", seed=0))
        gc.collect()
        t = time.process_time()
        replayed()
        ratios.append((time.process_time() - t) / took)
    return ratios


def build_chain(value_cls, n: int, factor: float) -> tuple:
    """x and y = x * factor * ... * factor, n nodes built one by one, and the memory per node of the graph (tracemalloc)."""
    x = y = value_cls(1.0)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(n):
        y = y * factor
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return x, y, used / n


def bench_chain(n: int) -> dict:
    x, y, per_node = build_chain(microreg.Value, n, 1.0000001)
    t = time.process_time()
    y.backward()
    took = time.process_time() - t
    expected = 1.0000001**n
    assert abs(x.grad - expected) < 1e-6 * expected, (x.grad, expected)
    from micrograd.engine import Value as MGValue

    m = MGValue(1.0)
    z = m
    for _ in range(1000):
        z = z * 1.0000001
    try:
        z.backward()
        mg = "ok"
    except RecursionError:
        mg = "RecursionError"
    return {"nodes": n, "microreg_backward_s": took, "bytes_per_node": per_node, "micrograd_at_1000_nodes": mg}


def per_use(forms: dict[str, Callable], start: float, n: int) -> dict[str, float]:
    """Seconds per use of each form, forward and backward, on a chain y = form(y) of n uses from Value(start): the
    least of 3 runs, with the collector paused (the cost of the ops themselves, not of the collector walking a long chain)."""
    out = {}
    gc.disable()
    try:
        for name, form in forms.items():
            runs = []
            for _ in range(3):
                y = microreg.Value(start)
                t = time.process_time()
                for _ in range(n):
                    y = form(y)
                y.backward()
                runs.append((time.process_time() - t) / n)
                del y
            out[name] = min(runs)
    finally:
        gc.enable()
    return out


def bench_compositions(n: int) -> dict[str, float]:
    """sub, div and neg as registered ops against the compositions they could be (forward + backward)."""
    b = microreg.Value(2.5)
    return per_use({
        "a - b (op sub)": lambda y: (y - b) * 1.0,
        "a + (-b) (neg, add)": lambda y: (y + (-b)) * 1.0,
        "a / b (op div)": lambda y: (y / b) * 1.0,
        "a * b ** -1 (pow, mul)": lambda y: (y * b**-1) * 1.0,
    }, 1.5, n)


def bench_activations(n: int) -> dict[str, float]:
    """Seconds per use of relu, tanh and sigmoid, forward and backward, on a chain y = (y * 1.0).<activation>()."""
    return per_use({"relu": lambda y: (y * 1.0).relu(), "tanh": lambda y: (y * 1.0).tanh(),
                    "sigmoid": lambda y: (y * 1.0).sigmoid()}, 0.3, n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and a shorter chain (a smoke run)")
    args = parser.parse_args(argv)
    from micrograd.engine import Value as MGValue

    rounds = 1 if args.quick else 7
    step = bench_step(rounds, 0.5 if args.quick else 1.5)
    chain = bench_chain(100_000 if args.quick else 1_000_000)
    ours, theirs = build_chain(microreg.Value, 100_000, 0.999)[2], build_chain(MGValue, 100_000, 0.999)[2]
    print(f"training step, MLP 2-16-16-1 on 100 moons, median of {rounds} round(s) [lowest-highest round]:")
    for name, target in (("microreg, op for op", 0.125), ("microreg, fused dot", 0.04), ("fused dot, replayed", 0.012)):
        mid, lo, hi = ratio(step, name, "micrograd")
        print(f"  {name:20s} {statistics.median(step[name]) * 1e3:7.1f} ms, {mid:.4f} of micrograd's time [{lo:.4f}-{hi:.4f}] "
              f"(target <= {target})")
    print(f"  {'micrograd':20s} {statistics.median(step['micrograd']) * 1e3:7.1f} ms")
    mid, lo, hi = ratio(step, "microreg, fused dot", "microreg, op for op")
    print(f"  the fused dot graph: {mid:.3f} of the op-for-op graph's time [{lo:.3f}-{hi:.3f}]")
    mid, lo, hi = ratio(step, "fused dot, replayed", "microreg, fused dot")
    print(f"  replayed: {mid:.3f} of the fused dot graph's time [{lo:.3f}-{hi:.3f}]")
    record = bench_record(rounds)
    print(f"  recording (replay's first call): {statistics.median(record):.2f} ordinary steps [{min(record):.2f}-{max(record):.2f}] "
          "(target <= 3)")
    print(f"backward through a chain of {chain['nodes']:,} nodes: {chain['microreg_backward_s']:.2f} s, "
          f"{chain['bytes_per_node']:.0f} B per node while it is alive; micrograd at 1,000 nodes: {chain['micrograd_at_1000_nodes']}")
    for name, t in bench_compositions(20_000 if args.quick else 100_000).items():
        print(f"  {name:24s} {t * 1e9:6.0f} ns per use (forward + backward)")
    for name, t in bench_activations(20_000 if args.quick else 100_000).items():
        print(f"  y = (y * 1.0).{name}(){'':<{10 - len(name)}} {t * 1e9:6.0f} ns per use (forward + backward)")
    print(f"memory per op (graph alive): microreg {ours:.0f} B, micrograd {theirs:.0f} B, ratio {ours / theirs:.3f} (target <= 112 B)")
    met = ratio(step, "microreg, fused dot", "micrograd")[0] <= 0.04 and ratio(step, "microreg, op for op", "micrograd")[0] <= 0.125
    return 0 if met and max(ours, chain["bytes_per_node"]) <= 112 else 1


if __name__ == "__main__":
    sys.exit(main())
