"""Forward mode: ``jvp()`` pushes tangents through the graph a function records, one registered jvp per node, and
``hvp()``, a Hessian-vector product forward over reverse (the jvp of a gradient built with ``create_graph=True``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .functions import backend_of
from .op import Op
from .value import (
    _NO_PARAMS,
    ARRAY,
    SCALAR,
    Value,
    _check,
    _data,
    _inputs,
    _raise_fp,
    _restore_fp,
    _run,
    _shape,
    grad,
    postorder,
    zeros_like,
)


def jvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """(f(*primals), its directional derivative along tangents), as ``jax.jvp`` and ``torch.func.jvp`` give them.

    f takes one Value per primal (a number or a float64 array) and returns a Value, or a tuple or list of them
    (then both results are tuples). Each tangent has its primal's shape. The graph f records is swept once from
    the inputs up, each node's tangent its op's jvp of its inputs' tangents; a node that depends on no primal
    (a model's other parameters, a constant) has tangent zero and costs no jvp. Domain errors and tangents that
    are not finite raise ``DomainError`` naming the op, as in ``backward()``.
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp() takes one tangent per primal: {len(primals)} primal(s), {len(tangents)} tangent(s)")
    xs = [Value(p) for p in primals]
    known: dict[int, Any] = {}
    for i, (x, t) in enumerate(zip(xs, tangents)):
        t = _data(t, f"jvp()'s tangent {i}")
        if np.shape(t) != np.shape(x.data):
            raise ValueError(f"jvp()'s tangent {i} has shape {np.shape(t)}, its primal {np.shape(x.data)}: they must be equal")
        known[id(x)] = t
    result = f(*xs)
    outs = tuple(result) if isinstance(result, tuple | list) else (result,)
    token = _raise_fp()
    try:
        for node in postorder(outs):
            if node._fn is not None:
                t = _push(node, known)
                if t is not None:
                    known[id(node)] = t
    finally:
        _restore_fp(token)
    datas = [o.data if type(o) is Value else o for o in outs]
    found = [known.get(id(o)) if type(o) is Value else None for o in outs]
    pairs = [(d, zeros_like(d) if t is None else t) for d, t in zip(datas, found)]
    if isinstance(result, tuple | list):
        return tuple(d for d, _ in pairs), tuple(t for _, t in pairs)
    return pairs[0]


def hvp(f: Callable[..., Value], primals: Sequence[Any], tangents: Sequence[Any]) -> list[Any]:
    """The Hessian of the scalar f at primals times the vector tangents, one entry per primal, without forming the Hessian.

    Forward over reverse: ``jvp`` of the gradient that ``grad(f(*xs), xs, create_graph=True)`` builds as Values.
    benchmarks/bench_hvp.py measures it against reverse over reverse (the gradient of grad f . v).
    """

    def gradient(*xs: Value) -> tuple:
        return tuple(grad(f(*xs), list(xs), create_graph=True))

    return list(jvp(gradient, primals, tangents)[1])


def _push(node: Value, known: dict[int, Any]) -> Any:
    """node's tangent from its inputs' (None when none of them has one), checked: a finite float or float64 array of its shape.

    The engine's one error policy, as for a forward and a vjp: ``value._run`` runs the jvp (on arrays, again as Python
    floats compute where NumPy raises) and ``value._check`` checks its result.
    """
    inputs = _inputs(node)
    ts, datas, found, scalar = [], [], False, type(node.data) is float
    for p in inputs:
        if type(p) is Value:
            t, d = known.get(id(p)), p.data
            if t is not None:
                found = True
        else:
            t, d = None, p
        if type(d) is float:
            ts.append(0.0 if t is None else t)
        else:
            scalar = False
            ts.append(np.zeros_like(d) if t is None else t)
        datas.append(d)
    if not found:
        return None
    fn = node._fn
    op, params = (fn, _NO_PARAMS) if type(fn) is Op else (fn.op, fn.params)
    if op.jvp is None:
        raise TypeError(f"op {op.name!r} has no jvp: an op with shapes (not elementwise) declares its own, "
                        "Op(..., jvp=...), for forward mode")
    ts = tuple(ts)
    if scalar:  # every input and the output floats: the common case, tested first
        try:
            t = op.jvp(SCALAR, ts, node.data, *datas, **params)
            if type(t) is float and t - t == 0.0:
                return t
        except (ArithmeticError, ValueError, TypeError):
            pass  # the checked path below names the error
    xp = SCALAR if backend_of(*datas, *ts) == "scalar" else ARRAY
    t = _check(op, "jvp", _run(op, "jvp", xp, (ts, node.data, *datas), params, datas), datas, params)
    if _shape(t) == _shape(node.data):
        return t
    if type(node.data) is float:  # one element of the output's shape: a float's tangent
        if t.size == 1:
            return float(t.reshape(-1)[0])
    else:  # a tangent that broadcasts to the output (a derived jvp of an op that broadcasts its inputs)
        try:
            return np.broadcast_to(t, node.data.shape).copy()
        except ValueError:
            pass
    raise TypeError(f"{op.name}'s jvp {op.jvp.__name__} returned a tangent of shape {_shape(t)}, the output "
                    f"{_shape(node.data)}: it must have the output's shape")
