"""Tests for microreg.replay: the replayed loss and gradients equal the graph path's to the bit; the guards record
again; the error policy holds."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from fakes import load_example

from microreg import DomainError, Value, replay
from microreg.data import make_moons
from microreg.nn import MLP
from microreg.testing import array_inputs, call, points


def hinge(model, X, Y):
    """micrograd's demo loss: hinge on each point (a list of scores, or an array of them) plus L2."""
    params = model.parameters()
    if model.graph == "matmul":
        return (1 + -Y * model(X)).relu().mean() + 1e-4 * sum((p * p).sum() for p in params)
    scores = model(X) if isinstance(X[0], np.ndarray | Value) else [model(x) for x in X]
    if not isinstance(scores, list):  # a batch of arrays through a dot or ops graph: one array of scores
        data = (1 + -Y * scores).relu().mean()
    else:
        data = sum((1 + -y * s).relu() for y, s in zip(Y, scores)) * (1.0 / len(scores))
    return data + 1e-4 * sum(p * p for p in params)


def data(graph: str, arrays: bool, n: int = 30) -> tuple:
    X, y = make_moons(n, noise=0.1, seed=0)
    Y = 2.0 * y - 1.0
    if graph == "matmul":
        return X.T.copy(), Y
    if arrays:  # a dot or ops graph on arrays: nin arrays, one element per point
        return [X[:, 0].copy(), X[:, 1].copy()], Y
    return X.tolist(), Y.tolist()


def same(a, b) -> bool:
    """Equal to the bit (the sign of a zero included)."""
    return np.asarray(a).tobytes() == np.asarray(b).tobytes() and np.shape(a) == np.shape(b)


@pytest.mark.parametrize(("graph", "arrays"), [("dot", False), ("ops", False), ("dot", True), ("ops", True), ("matmul", True)])
def test_replay_equals_the_graph_path_to_the_bit_step_after_step(graph, arrays):
    X, Y = data(graph, arrays)
    ours, theirs = MLP(2, [8, 8, 1], seed=0, graph=graph), MLP(2, [8, 8, 1], seed=0, graph=graph)
    step = replay(lambda X, Y: hinge(ours, X, Y))
    for _ in range(3):  # the first call records, the others replay; the parameters change between them
        loss = hinge(theirs, X, Y)
        theirs.zero_grad()
        loss.backward()
        assert same(step(X, Y), loss.data)
        for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
            assert same(p.grad, q.grad)
            p.data -= 0.05 * p.grad
            q.data -= 0.05 * q.grad
    assert step.recordings == 1


def graph_grads(loss_fn, params, *args):
    for p in params:
        p.grad = 0.0 * p.data
    loss = loss_fn(*args)
    loss.backward()
    return loss.data, [p.grad for p in params]


def test_every_op_replays_to_the_bit_on_floats_and_arrays(op_case):
    form, params = op_case
    for arrays in (False, True):
        point = points(form)[0]
        xs = [Value(np.full(3, x) * np.array([1.0, 0.9, 1.1]) if arrays else x) for x in point]

        def loss(w, xs=xs, arrays=arrays):
            out = call(form, [xs[0] * w, *xs[1:]], params)
            return out.sum() if arrays else out

        step = replay(loss)
        for w in (1.0, 0.97):
            want, grads = graph_grads(loss, xs, w)
            assert same(step(w), want)
            assert all(same(x.grad, g) for x, g in zip(xs, grads))
        assert step.recordings == 1


def test_every_op_on_whole_arrays_replays_to_the_bit(array_case):
    op, shapes, params = array_case
    xs = [Value(a) for a in array_inputs(op, shapes)]

    def loss():
        out = call(op, xs, params)
        return out.sum() if type(out.data) is np.ndarray else out

    step = replay(loss)
    for _ in range(2):
        want, grads = graph_grads(loss, xs)
        assert same(step(), want)
        assert all(same(x.grad, g) for x, g in zip(xs, grads))
        for x in xs:
            x.data = x.data * 0.9


def test_a_changed_branch_records_again():
    w = Value(2.0)

    def loss(x):
        return (w * x).relu() if x > 0 else (w * x).exp()  # Python control flow on a Value

    step = replay(loss)
    assert step(1.5) == 3.0 and w.grad == 1.5
    assert step(-0.5) == np.exp(-1.0) and w.grad == -0.5 * np.exp(-1.0)  # the exp branch: recorded again
    assert step.recordings == 2
    assert step(-0.25) == np.exp(-0.5) and step.recordings == 2  # the same branch: replayed


def test_a_comparison_of_arrays_is_guarded_too():
    w = Value(np.array([1.0, -2.0]))

    def loss(x):
        y = w * x
        return y.sum() if bool((y > 0).all()) else (y * y).sum()

    step = replay(loss)
    assert step(np.array([1.0, -1.0])) == 3.0
    assert step(np.array([1.0, 1.0])) == 5.0 and step.recordings == 2


@pytest.mark.parametrize("change", ["shape", "kind", "parameter shape", "nesting"])
def test_changed_shapes_or_kinds_record_again(change):
    w = Value(np.ones(3))

    def loss(x, extra=()):
        return (w * x).sum() + sum(extra)

    step = replay(loss)
    step(np.arange(3.0))
    if change == "shape":
        assert step(np.ones((2, 3))) == 6.0
        assert same(w.grad, np.full(3, 2.0))
    elif change == "kind":
        assert step(2.0) == 6.0
        assert same(w.grad, np.full(3, 2.0))
    elif change == "parameter shape":
        w.data = np.ones(4)
        assert step(np.arange(4.0)) == 6.0
        assert same(w.grad, np.arange(4.0))
    else:
        assert step(np.arange(3.0), [1.0]) == 4.0
    assert step.recordings == 2


def test_inputs_are_read_at_every_call_not_baked_in():
    w = Value(3.0)
    step = replay(lambda x, ys: w * x + ys[0] * ys[1])
    assert step(2.0, [1.0, 5.0]) == 11.0 and w.grad == 2.0
    assert step(4.0, (2.0, 0.5)) == 13.0 and w.grad == 4.0 and step.recordings == 1


@pytest.mark.parametrize("arrays", [False, True])
@pytest.mark.parametrize(("fn", "name"), [(lambda w, x: (w * x).log(), "log"), (lambda w, x: (w * x).exp(), "exp"),
                                        (lambda w, x: (w * x).sqrt() * 0.0, "sqrt vjp")])
def test_the_error_policy_holds_on_replay(fn, name, arrays):
    """Out of the domain, an overflow, a vjp that fails: the graph path's DomainError, word for word; no grad changes."""
    wrap = (lambda v: np.array([1.0, v])) if arrays else float
    w = Value(wrap(1.0))

    def loss(x):
        out = fn(w, x)
        return out.sum() if arrays else out

    step = replay(loss)
    step(wrap(0.5))
    before = w.grad
    bad = {"log": -1.0, "exp": 1000.0, "sqrt vjp": 0.0}[name]
    with pytest.raises(DomainError) as replayed:
        step(wrap(bad))
    assert w.grad is before
    with pytest.raises(DomainError) as graphed:
        loss(wrap(bad)).backward()
    assert str(replayed.value) == str(graphed.value) and str(replayed.value).startswith(name)


def test_a_function_that_returns_no_scalar_value_is_refused():
    with pytest.raises(TypeError, match="scalar Value"):
        replay(lambda: 1.0)()
    with pytest.raises(TypeError, match="scalar Value"):
        replay(lambda: Value(np.ones(2)) * 2.0)()


def test_the_example_trains_to_the_same_losses_with_and_without_replay():
    example = load_example("replay_moons")
    graph, _ = example.train(4, replayed=False)
    replayed, _ = example.train(4, replayed=True)
    assert graph == replayed and graph[-1] < graph[0]


def test_a_node_whose_data_is_not_its_forwards_result_is_refused_at_recording():
    w = Value(2.0)
    with pytest.raises(ValueError, match="exp node holds"):
        replay(lambda x: 3.0 ** (w * x))(1.7)  # the exp node keeps 3 ** 3.4 correctly rounded, one ulp from exp(3.4 log 3)


def test_an_error_on_a_branch_the_function_would_not_take_is_no_error():
    w = Value(2.0)
    step = replay(lambda x: (w * x).log() if x > 0 else (w * x).exp())
    step(1.0)
    assert step(-1.0) == np.exp(-2.0) and step.recordings == 2  # replaying the log branch at -1 fails: recorded again
    w.data = -2.0  # the log branch taken, out of its domain: the graph path's error
    with pytest.raises(DomainError, match=r"^log\(x=-2.0\)"):
        step(1.0)
    w.data = -400.0  # the exp branch (x <= 0) taken, overflowing: the graph path's error
    with pytest.raises(DomainError, match=r"^exp\(x=800.0\)"):
        step(-2.0)


def test_recording_watches_this_threads_comparisons_without_changing_value():
    """replay() sees the function's control flow per thread: Value's class is never patched while it records, and a
    comparison another thread makes meanwhile is not taken for the function's."""

    methods = {name: Value.__dict__[name] for name in ("__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__float__")}
    other_thread_compared = threading.Event()

    def loss(x):
        assert {name: Value.__dict__[name] for name in methods} == methods  # nothing patched while recording
        worker = threading.Thread(target=lambda: (Value(5.0) > 0, other_thread_compared.set()))
        worker.start()
        worker.join()
        return x.relu() if x > 0 else x.tanh()

    step = replay(loss)
    assert step(2.0) == 2.0 and other_thread_compared.is_set()
    assert step(3.0) == 3.0 and step.recordings == 1  # only x > 0 was recorded: the other thread's 5 > 0 was not
    assert step(-1.0) == pytest.approx(np.tanh(-1.0)) and step.recordings == 2  # the branch changed: recorded again
