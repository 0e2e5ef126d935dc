"""replay(): record a loss function's graph once, then run later calls from a flat program of its ops.

    step = microreg.replay(loss)        # loss(*inputs) builds a graph from parameters and inputs, returns a scalar Value
    for epoch in range(100):
        value = step(X, Y)              # the loss as a float; every parameter's .grad holds its gradient
        for p in params:
            p.data -= 0.05 * p.grad

A call does what ``zero_grad(); loss(*inputs).backward()`` does for the parameters (the leaves of the graph: Values
the function reads but does not make from its inputs), without building the graph: the ops' forwards and vjps are
called straight from lists, in the order the graph path runs them (forwards in the order of the graph, vjps in the
sweep's order, cotangents summed in the same order), so the loss and every gradient are equal to the graph path's
to the bit. Parameters are read from their ``.data`` at each call; gradients are written to their ``.grad`` only
once the whole call has succeeded.

While recording, the function sees its inputs as Values (floats, ints and float64 arrays, in lists and tuples,
each a leaf), as ``jax.jit`` gives a traced function tracers: what it computes from them is recorded; what it
computes from anything else (a global, a counter) is a constant of the record.

Guarded, never silently stale: a call RECORDS AGAIN (``recordings`` counts them) when an input differs in kind
(float or array), shape or nesting from the record, when a parameter's data does (a float become an array, an
array of another shape), or when a comparison the function made on a Value (``<``, ``<=``, ``>``, ``>=``,
``bool()``, ``float()``: its Python control flow) comes out otherwise. Reading ``.data`` and branching on it is not
seen: write the comparison on the Value.

The error policy is the graph path's (``value._run`` runs every op that does not give a finite float, ``_check``
checks every array result and cotangent): an overflow or an input out of an op's domain raises the same
DomainError naming the op, and no ``.grad`` changes. Where the function compared Values, an op that fails records
again instead (its branch may not be the one the function takes now), and the error, if any, is the graph path's.
"""

from __future__ import annotations

import functools
import operator
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from .value import (
    _MANY,
    _NO_PARAMS,
    ARRAY,
    SCALAR,
    WATCH,
    DomainError,
    Value,
    _Bound,
    _check,
    _data,
    _fit,
    _node,
    _raise_fp,
    _restore_fp,
    _run,
    _short,
    _vjp,
    postorder,
    zeros_like,
)


def replay(fn: Callable[..., Value]) -> Replay:
    """fn, recorded at its first call and replayed from then on (see this module's docstring)."""
    return Replay(fn)


class Replay:
    """A loss function and its record: call it as the function, with inputs of the recorded kinds and shapes."""

    def __init__(self, fn: Callable[..., Value]) -> None:
        self.fn = fn
        self.recordings = 0  # how many times the function has been recorded (1 after the first call)
        self._program: _Program | None = None

    def __call__(self, *args: Any) -> float:
        flat: list[Any] = []
        shape = _flatten(args, flat)
        program = self._program
        if program is None or shape != program.shape:
            return self._record(args)
        result = program.run(flat)
        return self._record(args) if result is None else result

    def _record(self, args: Any) -> float:
        self._program = None
        self._program = _Program(self.fn, args)
        self.recordings += 1
        flat: list[Any] = []
        _flatten(args, flat)
        result = self._program.run(flat, recorded=True)
        if result is None:
            raise RuntimeError(f"{getattr(self.fn, '__name__', self.fn)!r} made other comparisons of its Values on "
                               "the same inputs: it cannot be replayed")
        return result


def _flatten(x: Any, flat: list[Any]) -> Any:
    """x's numbers appended to flat; what the record guards of x: its nesting, and each number's kind or array shape."""
    if isinstance(x, list | tuple):
        return tuple(_flatten(v, flat) for v in x)
    flat.append(x)
    if type(x) is np.ndarray:
        return (x.shape, x.dtype.str)
    return type(x).__name__


def _wrap(x: Any) -> Any:
    return [_wrap(v) for v in x] if isinstance(x, list | tuple) else Value(x)


class _Program:
    """A recorded graph as lists: slots for every leaf, constant and node's data; a forward and a backward program."""

    def __init__(self, fn: Callable[..., Value], args: tuple) -> None:
        self.shape = _flatten(args, [])
        wrapped = tuple(_wrap(a) for a in args)
        inputs: list[Value] = []
        _flatten(wrapped, inputs)
        compared: list[tuple[Value, str, Any, Any]] = []
        previous, WATCH.seen = WATCH.seen, compared  # the function's control flow: its comparisons of Values
        try:
            loss = fn(*wrapped)
        finally:
            WATCH.seen = previous
        if type(loss) is not Value or type(loss.data) is not float:
            raise TypeError(f"replay() takes a function returning a scalar Value (a loss), got {loss!r:.80}")
        # The collector is not paused while the record is compiled, though its thousands of new tuples and lists make
        # it walk the graph again and again (2.9 ordinary steps to compile against 0.9 paused, MLP 2-16-16-1 on 100 moons,
        # a dot node per neuron): the switch is process-wide, and turning it back on would undo another thread's
        # gc.disable(). Compiling happens once per recording.
        self._compile(loss, inputs, compared)

    def _compile(self, loss: Value, inputs: list[Value], compared: list[tuple]) -> None:
        nodes = postorder([loss, *(c[0] for c in compared), *(c[2] for c in compared if type(c[2]) is Value)])
        slot = {id(v): i for i, v in enumerate(nodes)}
        ins = {id(v) for v in inputs}
        self.loss = slot[id(loss)]
        self.template: list[Any] = [None] * len(nodes)
        self.inputs = [slot.get(id(v), -1) for v in inputs]
        self.params = [(slot[id(v)], v, _kind(v.data)) for v in nodes if v._fn is None and id(v) not in ins]
        self.leaves = {i for i, _, _ in self.params}
        needs = set(self.leaves)  # the slots a parameter's gradient flows through
        floats = [type(v.data) is float for v in nodes]  # per slot, whether its data is a float
        template, forward, slot_of = self.template, [], slot.__getitem__
        for i, v in enumerate(nodes):
            if v._fn is None:
                continue
            fn_, a, b = v._fn, v._a, v._b
            op, kw = (fn_.op, fn_.params) if type(fn_) is _Bound else (fn_, _NO_PARAMS)
            args_ = a if b is _MANY else (a,) if b is None else (a, b)
            if all(type(x) is Value for x in args_):
                ix = list(map(slot_of, map(id, args_)))
            else:
                ix = []
                for x in args_:
                    if type(x) is Value:
                        ix.append(slot[id(x)])
                    else:  # a constant: a slot of its own
                        ix.append(len(template))
                        template.append(x)
                        floats.append(type(x) is float)
            if not needs.isdisjoint(ix):
                needs.add(i)
            xp = SCALAR if floats[i] and all(map(floats.__getitem__, ix)) else ARRAY
            # the forward with xp and the static parameters bound (a partial is called in C)
            forward.append((op, functools.partial(op.forward, xp, **kw), kw, xp, operator.itemgetter(*ix), len(ix), tuple(ix), i))
        self.forward = forward
        self.needs = needs
        # each slot's cotangents, appended in the sweep's order and summed left to right when its vjp runs (the sum the
        # sweep builds one addition at a time); a constant's go to a list of their own, emptied at every call
        self.cotangents: list[list[Any]] = [[] for _ in self.template]
        self.dropped = self.cotangents[-1] if len(self.template) > len(nodes) else []
        self.backward = []
        for op, _, kw, xp, get, n, ix, o in self._sweep_order(nodes, slot):
            if o in needs:
                targets = tuple(j if j in needs else -1 for j in ix)
                appenders = tuple(self.cotangents[j].append if j >= 0 else self.dropped.append for j in targets)
                self.backward.append((op, functools.partial(op.vjp, xp, **kw), kw, xp, get, n, ix, o, targets, appenders))
        # (slot, comparison, the other operand's slot or -1, the other operand, the result recorded)
        self.compared = [(slot[id(v)], name, slot[id(w)] if type(w) is Value else -1, w, result) for v, name, w, result in compared]
        self.recorded = nodes  # until the first run has checked that the program computes what the graph holds

    def _sweep_order(self, nodes: list[Value], slot: dict[int, int]) -> list[tuple]:
        """The forward program's entries in the order value._walk runs their vjps (Kahn's order, a stack)."""
        by_slot = {entry[-1]: entry[6] for entry in self.forward}
        entries = {entry[-1]: entry for entry in self.forward}
        n = len(nodes)
        count = [0] * n  # each node's consumers among the nodes the loss depends on
        seen, stack = {self.loss}, [self.loss]
        while stack:
            for j in by_slot.get(stack.pop(), ()):
                if j < n:
                    count[j] += 1
                    if j not in seen:
                        seen.add(j)
                        stack.append(j)
        order, ready = [], [self.loss]
        while ready:
            i = ready.pop()
            ix = by_slot.get(i)
            if ix is None:
                continue
            order.append(entries[i])
            for j in ix:
                if j < n:
                    count[j] -= 1
                    if not count[j]:
                        ready.append(j)
        return order

    def run(self, flat: list[Any], recorded: bool = False) -> float | None:
        """The loss at these inputs, with every parameter's .grad set; None if the function would branch otherwise."""
        vals = self.template[:]
        for i, x in zip(self.inputs, flat):
            if i >= 0:
                vals[i] = _data(x, "replay()", copy=False)
        for i, p, kind in self.params:
            d = vals[i] = p.data
            if _kind(d) != kind:
                return None
        token = _raise_fp()
        try:
            for op, fwd, kw, xp, get, n, _, o in self.forward:
                args = (get(vals),) if n == 1 else get(vals)
                try:
                    out = fwd(*args)
                    if type(out) is float and out - out == 0.0:  # the engine's fast path: a finite float is the result
                        vals[o] = out
                        continue
                except Exception:  # noqa: BLE001 - the checked call below says what is wrong
                    out = None
                try:
                    if out is None or xp is SCALAR:
                        out = _run(op, "forward", xp, args, kw, args)
                    vals[o] = _check(op, "forward", out, args, kw)
                except (ArithmeticError, ValueError, TypeError):
                    if self.compared and not recorded:  # the function might have taken another branch: it says
                        return None
                    raise
            if recorded:
                self._same_as_recorded(vals)
            for i, name, j, other, result in self.compared:
                now = getattr(_Plain, name)(vals[i], vals[j] if j >= 0 else other)
                if not (np.array_equal(now, result) if type(now) is np.ndarray else now == result):
                    return None
            cotangents, dropped, leaves = self.cotangents, self.dropped, self.leaves
            cotangents[self.loss].append(1.0)
            for op, vjp, kw, xp, get, n, ix, o, targets, appenders in self.backward:
                received = cotangents[o]
                if not received:
                    continue
                g = received[0] if len(received) == 1 else functools.reduce(operator.add, received)
                received.clear()
                args = (get(vals),) if n == 1 else get(vals)
                if xp is SCALAR:  # the engine's fast path: floats in, finite floats out (anything else: the checked call)
                    try:
                        gs = vjp(g, vals[o], *args)
                        if n == 1:
                            (ga,) = gs
                            if type(ga) is float and ga - ga == 0.0:
                                appenders[0](ga)
                                continue
                        elif n == 2:
                            ga, gb = gs
                            if type(ga) is float and type(gb) is float and ga - ga + (gb - gb) == 0.0:
                                appenders[0](ga)
                                appenders[1](gb)
                                continue
                        else:  # the sweep's test: a finite float sum (a None is a TypeError; an int is kept, exact)
                            total = sum(gs)
                            if type(total) is float and total - total == 0.0 and len(gs) == n:
                                deque(map(operator.call, appenders, gs), 0)
                                continue
                    except (ArithmeticError, ValueError, TypeError):
                        pass
                else:  # arrays: the vjp straight, NumPy raising (set above); each cotangent through _check and _fit as in _vjp
                    try:
                        gs = vjp(g, vals[o], *args)
                    except Exception:  # noqa: BLE001 - the checked call below retries as floats, or says what is wrong
                        gs = None
                    if type(gs) in (tuple, list) and len(gs) == n:
                        kept: list[Any] = []
                        for t, append, gp, d, name in zip(targets, appenders, gs, args, op.inputs):
                            if t >= 0 and gp is not None:
                                gp = _fit(op, gp if gp is g else _check(op, "vjp", gp, args, kw, name), g, d, name)
                                if t in leaves and type(gp) is np.ndarray and (gp is g or any(gp is k for k in kept)):
                                    gp = gp.copy()  # a parameter's grad is its own array, as on the graph path
                                kept.append(gp)
                                append(gp)
                        continue
                # the checked call: value._vjp on a node of this op, its inputs Values where a gradient flows
                inputs = tuple(_node(vals[j], None, None, None) if t >= 0 else vals[j] for j, t in zip(ix, targets))
                fn = _Bound(op, kw) if kw else op
                gs = _vjp(_node(vals[o], fn, *((inputs, _MANY) if n > 2 else (*inputs, None)[:2])), g, False)
                for t, append, gp in zip(targets, appenders, gs):
                    if t >= 0 and gp is not None:
                        append(gp)
            dropped.clear()
            grads = []
            for i, p, _ in self.params:
                received = cotangents[i]
                g = None if not received else received[0] if len(received) == 1 else functools.reduce(operator.add, received)
                received.clear()
                if type(g) is float and g - g:
                    raise DomainError(f"the gradient of {p!r} overflowed: its cotangents sum to {g}")
                grads.append(g)
        except BaseException as exc:
            for received in self.cotangents:
                received.clear()
            if type(exc) is FloatingPointError:  # summing array cotangents overflowed
                raise DomainError(f"a gradient overflowed while summing cotangents: {exc}") from None
            raise
        finally:
            _restore_fp(token)
        for (_, p, _), g in zip(self.params, grads):
            p.grad = zeros_like(p.data) if g is None else g
        return vals[self.loss]

    def _same_as_recorded(self, vals: list[Any]) -> None:
        """A ValueError naming the op if the forward program computed other data than a node of the graph holds (a
        node whose data the engine set itself: ``x ** Value`` keeps the correctly rounded power, not its exp's result)."""
        for op, *_, o in self.forward:
            want, got = self.recorded[o].data, vals[o]
            if not (got == want if type(want) is float else np.array_equal(got, want)):
                raise ValueError(f"replay() cannot replay this function: its {op.name} node holds {_short(want)}, which is "
                                 f"not its forward's result {_short(got)} (a ** with a Value exponent keeps the correctly "
                                 "rounded power, say); build the graph at every step instead")
        self.recorded = []


class _Plain:
    """Value's comparisons on plain data, to check a recorded one again."""

    __lt__, __le__, __gt__, __ge__ = operator.lt, operator.le, operator.gt, operator.ge

    @staticmethod
    def __bool__(x: Any, other: Any) -> bool:
        return bool(x)

    @staticmethod
    def __float__(x: Any, other: Any) -> float:
        return float(x)


def _kind(d: Any) -> Any:
    return d.shape if type(d) is np.ndarray else type(d)


