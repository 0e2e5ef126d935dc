"""Value: a number (or NumPy array) in a computation graph; every operation dispatches through the registry.

Also the fourth xp namespace, ``ValueNamespace``: ops run on Values, so a vjp builds a graph of its own
(``grad(..., create_graph=True)``) and can be differentiated again.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import platform
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .backends import Array, Namespace, Scalar
from .functions import ELEMENTARY, FUNCTIONS, backend_of
from .op import DOMAINS, Op
from .plugins import registry

SCALAR, ARRAY = Scalar(registry), Array(registry)  # VALUES, the namespace on Values, is built after Value
XP = {"scalar": SCALAR, "array": ARRAY}  # the namespace of each functions.backend_of(...)
_ERRSTATE = {"all": "raise", "under": "ignore"}
_NO_PARAMS: dict[str, Any] = {}  # shared, never written to
# Array ops run with NumPy raising on overflow, invalid operations and division by zero:
# token = _raise_fp() ... _restore_fp(token), the effect of np.errstate(**_ERRSTATE).
try:  # NumPy 2 keeps that state in a context variable; setting it directly costs a tenth of np.errstate
    from numpy._core._multiarray_umath import _make_extobj
    from numpy._core._ufunc_config import _extobj_contextvar

    _raise_fp = functools.partial(_extobj_contextvar.set, _make_extobj(**_ERRSTATE))
    _restore_fp = _extobj_contextvar.reset
except ImportError:  # another NumPy: the public way
    _raise_fp = functools.partial(np.seterr, **_ERRSTATE)

    def _restore_fp(old: dict) -> None:
        np.seterr(**old)


def _raising(fn: Callable) -> Callable:
    """fn, raising on an overflow or an invalid operation, as math's functions do."""

    def call(*args: Any) -> Any:
        with np.errstate(over="raise", invalid="raise"):
            return fn(*args)

    call.__name__ = fn.__name__
    return call


class _ArrayAsFloats(Array):
    """NumPy computing as Python floats do: its elementwise functions raise where math's do, and between them
    arithmetic is IEEE's (an overflow is an infinity, which tanh or a division may turn finite)."""

    def __init__(self, registry: Any) -> None:
        super().__init__(registry)
        self.__dict__.update({name: _raising(getattr(self, name)) for name in ELEMENTARY})


ARRAY_AS_FLOATS = _ArrayAsFloats(registry)


def _as_floats(fn: Callable, args: Sequence[Any], kw: dict) -> Any:
    """fn(xp, *args) on arrays again, computed as Python floats compute: the array path's second try.

    The array path first runs with NumPy raising on every floating-point error, which is fast but
    stricter than Python floats, whose products overflow to infinity silently. When it raises, the op
    runs again this way, so that an array gives what each of its elements gives on the scalar path:
    an overflow that a later step hides is no error on either, a result or cotangent that is not
    finite is a DomainError on both.
    """
    with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="raise"):
        return fn(ARRAY_AS_FLOATS, *args, **kw)


ENV_KEEP_MEMORY = "MICROREG_KEEP_MEMORY"
_memory_kept = False


def _keep_freed_memory() -> None:
    """On glibc, keep freed memory for reuse instead of returning it to the system at once (``mallopt``): once, at the
    first op on arrays, unless ``MICROREG_KEEP_MEMORY=0``.

    A training step allocates its intermediate arrays afresh and frees them all at its end. By default glibc hands the
    freed heap back to the kernel as soon as 128 kB of it lie free (or unmaps each large array), so every step's arrays
    are fresh pages, each zero-filled by a page fault: 1,100 faults, half the step's time, for an MLP 2-64-64-1 on 1,000
    points. With this, arrays up to 32 MB come from the heap and up to 64 MB of it stay free for reuse.
    """
    global _memory_kept
    _memory_kept = True
    if os.environ.get(ENV_KEEP_MEMORY, "").strip() in ("0", "false", "no") or platform.libc_ver()[0] != "glibc":
        return
    import ctypes

    mallopt = ctypes.CDLL(None).mallopt
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 64 << 20)


class DomainError(ValueError):
    """An op was applied where it is not defined: the message names the op, the values and the domain."""


_F64 = np.dtype(np.float64)
_isfinite, _dot = np.isfinite, np.dot


def _finite(a: np.ndarray) -> bool:
    """Whether every element of a float64 array is finite: NaN and infinities carry into its dot product with itself,
    which is cheaper than a test of each element (BLAS: half the time of a sum on a 64 x 1000 array); that test runs
    only when the product is not finite or overflows (elements beyond 1e154: raised, never warned, whatever the
    caller's NumPy error state)."""
    token = _raise_fp()
    try:
        flat = a.reshape(-1)
        total = _dot(flat, flat)
        if total - total == 0.0:
            return True
    except FloatingPointError:
        pass
    finally:
        _restore_fp(token)
    return bool(_isfinite(a).all())


def _data(x: Any, what: str = "Value()", copy: bool = True) -> float | np.ndarray:
    """x as engine data: a finite float, or a finite float64 array; TypeError/ValueError otherwise."""
    if type(x) is float:
        if x - x == 0.0:
            return x
        raise ValueError(f"{what} takes finite numbers, got {x!r}")
    if type(x) is np.ndarray and x.dtype is _F64 and x.ndim:
        data = x.copy() if copy else x
    elif isinstance(x, bool | np.bool_ | Value):
        raise TypeError(f"{what} takes a real number or an array of them, got {x!r} ({type(x).__name__})")
    elif isinstance(x, int | float | np.integer | np.floating):
        try:
            data = float(x)
        except OverflowError:
            raise ValueError(f"{what} takes finite numbers, got {x!r}, which is too large for a float64") from None
    elif isinstance(x, np.ndarray | list | tuple):
        arr = np.asarray(x)
        if arr.dtype.kind not in "iuf":
            raise TypeError(f"{what} takes a real number or an array of them, got {x!r:.80} ({type(x).__name__}), "
                            f"an array of {arr.dtype}")
        data = float(arr) if arr.ndim == 0 else arr.astype(np.float64)
    else:
        raise TypeError(f"{what} takes a real number or an array of them, got {x!r} ({type(x).__name__})")
    if not (math.isfinite(data) if type(data) is float else np.isfinite(data).all()):
        raise ValueError(f"{what} takes finite numbers, got {_short(data)}")
    return data


def _describe(op: Op, role: str, datas: Sequence[Any], params: dict, exc: BaseException) -> str:
    domain = ", ".join(f"{n} {DOMAINS[d]}" for n, d in zip(op.inputs, op.domains) if d != "real")
    where = f"; its domain: {domain}" if domain else ""
    return f"{op.name}{'' if role == 'forward' else ' ' + role}({_arguments(op, datas, params)}) is undefined: {exc}{where}"


def _arguments(op: Op, datas: Sequence[Any], params: dict) -> str:
    return ", ".join(f"{n}={_short(d)}" for n, d in zip(op.inputs, datas)) + "".join(f", {k}={v!r}" for k, v in params.items())


def _refused(name: str, operand: Any) -> TypeError:
    return TypeError(f"{name}() takes real numbers, NumPy arrays of them and Values, got {operand!r:.80} ({type(operand).__name__})")


def _short(d: Any) -> str:
    if isinstance(d, np.ndarray):
        return f"array{d.shape} (min {d.min():g}, max {d.max():g})" if d.size else f"array{d.shape}"
    return repr(d)


# -- THE ERROR POLICY: every op the engine runs goes through _run, and every result it keeps through _check ----------
# (apply() for forwards, _vjp() for vjps, forward._push for jvps). The fast paths below run an op on floats and keep
# only a finite float; anything else they hand to these, which say what is wrong.


def _run(op: Op, role: str, xp: Any, args: tuple, kw: dict, datas: Sequence[Any]) -> Any:
    """op's forward (role "forward", args its inputs' data), its vjp (role "vjp", args (g, out, *inputs)) or its jvp
    (role "jvp", args (tangents, out, *inputs)) on xp.

    On arrays NumPy raises on every floating-point error; where it does, the op runs again as Python floats compute
    (``_as_floats``), so that an array gives what each of its elements gives on floats. An ArithmeticError or
    ValueError is a DomainError, a TypeError (a static parameter of the wrong type, say) one naming the op and what it
    was given; a DomainError from an op a vjp calls on Values passes as it is.
    """
    fn = getattr(op, role)
    try:
        if xp is not ARRAY:
            return fn(xp, *args, **kw)
        if not _memory_kept:
            _keep_freed_memory()
        token = _raise_fp()
        try:
            return fn(ARRAY, *args, **kw)
        except FloatingPointError:
            return _as_floats(fn, args, kw)
        finally:
            _restore_fp(token)
    except DomainError:
        raise
    except (ArithmeticError, ValueError) as exc:
        raise DomainError(_describe(op, role, datas, kw, exc)) from None
    except TypeError as exc:
        raise TypeError(f"{op.name}{'' if role == 'forward' else ' ' + role}({_arguments(op, datas, kw)}) failed: {exc}") from exc


def _check(op: Op, role: str, x: Any, datas: Sequence[Any], kw: dict, name: str = "") -> float | np.ndarray:
    """x, op's result (role "forward"), its cotangent for input ``name`` (role "vjp") or its tangent (role "jvp"), as
    engine data: a finite float
    or a finite float64 array (an int, a NumPy float64 or integer, a 0-d array become a float, an integer
    array a float64 one; float32 and the like are refused, not widened: the op computed in less precision than it claims).

    Not finite or complex is a DomainError naming the op and its arguments; anything else, a TypeError naming the op's
    function and what it returned. NaN made without an invalid operation (a NaN constant in the op's code, or in data
    written after its Value was made) raises no NumPy flag: this is what catches it.
    """
    what = {"forward": "the result", "vjp": f"the cotangent for {name}", "jvp": "the tangent"}[role]
    if type(x) is float:
        if x - x == 0.0:
            return x
    elif type(x) is np.ndarray and x.dtype is _F64:
        if x.ndim:
            if _finite(x):
                return x
            x = _short(x)
        else:
            return _check(op, role, float(x), datas, kw, name)
    elif isinstance(x, complex | np.complexfloating) or (type(x) is np.ndarray and x.dtype.kind == "c"):
        raise DomainError(_describe(op, role, datas, kw, ArithmeticError(f"{what} is {_short(x)}, complex")))
    elif isinstance(x, int | float | np.integer) and not isinstance(x, bool | np.bool_):  # float: NumPy's float64 too
        try:
            return _check(op, role, float(x), datas, kw, name)
        except OverflowError:
            pass
    elif type(x) is np.ndarray and x.dtype.kind in "iu":
        return _check(op, role, x.astype(np.float64), datas, kw, name)
    else:
        fn = getattr(op, role)
        given = f"an array of {x.dtype}" if type(x) is np.ndarray else f"{x!r:.80} ({type(x).__name__})"
        raise TypeError(f"{op.name}'s {role} {fn.__name__} returned {given}{f' for input {name}' if name else ''}: "
                        "expected a real number or a float64 array of them")
    raise DomainError(_describe(op, role, datas, kw, ArithmeticError(f"{what} is {x}, not finite")))


def _vjp(node: Value, g: Any, create_graph: bool) -> list:
    """node's vjp at cotangent g, through _run and _check: one cotangent per input (None for a constant or a zero one),
    each of its input's shape. Runs with NumPy raising on floating-point errors, as the sweep sets it."""
    op, a, b = node._fn, node._a, node._b
    op, kw = (op.op, op.params) if type(op) is _Bound else (op, _NO_PARAMS)
    if b is _MANY:
        inputs = a
        datas = tuple(p.data if type(p) is Value else p for p in inputs)
    else:  # the common cases unrolled: no generators on the batch path
        inputs = (a,) if b is None else (a, b)
        da = a.data if type(a) is Value else a
        datas = (da,) if b is None else (da, b.data if type(b) is Value else b)
    if create_graph:
        gs = _run(op, "vjp", VALUES, (g, node, *inputs), kw, datas)
    else:  # backend_of(g, *datas), with g tested first: on the batch path an array cotangent decides it without a call
        xp = SCALAR if type(g) is float and backend_of(*datas) == "scalar" else ARRAY
        gs = _run(op, "vjp", xp, (g, node.data, *datas), kw, datas)
    if not isinstance(gs, tuple | list) or len(gs) != len(inputs):
        raise TypeError(f"{op.name}'s vjp {op.vjp.__name__} returned {gs!r:.80}: "
                        f"expected a tuple of {len(inputs)} cotangent(s), one per input {op.inputs}")
    out: list[Any] = []
    for p, gp, d, name in zip(inputs, gs, datas, op.inputs):
        if type(p) is not Value or gp is None:
            out.append(None)
            continue
        if type(gp) is not Value and gp is not g:  # g is a sum of cotangents checked already
            gp = _check(op, "vjp", gp, datas, kw, name)
        gp = _fit(op, gp, g, d, name)
        # a vjp may pass an array through (add gives (g, g)): a leaf, whose grad users may update in
        # place, gets an array of its own (the sweep itself never writes into a grad array)
        if type(gp) is np.ndarray and p._fn is None and (gp is g or any(gp is o for o in out)):
            gp = gp.copy()
        out.append(gp)
    return out


def _fit(op: Op, gp: Any, g: Any, d: Any, name: str) -> Any:
    """A cotangent for the input holding d, in d's shape: one in the output's shape (g's) is summed down to it (the
    input was broadcast), a number for an array input is that number at every element; any other shape is a TypeError."""
    if type(gp) is type(d) and (type(d) is float or gp.shape == d.shape):  # the common case, tested first
        return gp
    shape, want = _shape(gp), _shape(d)
    if shape == want:
        return gp
    if shape == ():
        return gp + np.zeros_like(d)
    if shape == _shape(g):
        gp = _unbroadcast(gp, d)
        if _shape(gp) == want:
            return gp
    raise TypeError(f"{op.name}'s vjp {op.vjp.__name__} returned a cotangent of shape {shape} for input {name}, "
                    f"of shape {want}: it must have the input's shape, or the output's")


def apply(op: Op, args: tuple, params: dict | None = None) -> Any:
    """Apply op to Values and constants; the result is a new graph node (a plain number if no input is a Value).

    A variadic op takes any number of inputs (``op.at(len(args))``); another number of inputs than an
    op takes is a TypeError naming it. On arrays the op runs under ``np.errstate(all="raise")``: from
    finite inputs, any overflow, invalid operation or division by zero raises, so no NaN or infinity
    comes out silently.
    """
    kw = params or _NO_PARAMS
    n = len(args)
    if n != op.arity:
        op = op.at(n)
    # the common cases unrolled: no generators on the batch path, and backend_of's rule inline (a call costs more)
    if n == 1:
        x = args[0]
        datas = (x.data if type(x) is Value else _data(x, op.name + "()", copy=False),)
        scalar = type(datas[0]) is float
    elif n == 2:
        x, y = args
        datas = (x.data if type(x) is Value else _data(x, op.name + "()", copy=False),
                 y.data if type(y) is Value else _data(y, op.name + "()", copy=False))
        scalar = type(datas[0]) is float and type(datas[1]) is float
    else:
        datas = tuple(x.data if type(x) is Value else _data(x, op.name + "()", copy=False) for x in args)
        scalar = backend_of(*datas) == "scalar"
    out = _check(op, "forward", _run(op, "forward", SCALAR if scalar else ARRAY, datas, kw, datas), datas, kw)
    if n <= 2:
        a = args[0] if type(args[0]) is Value else datas[0]
        b = None if n == 1 else args[1] if type(args[1]) is Value else datas[1]
        if type(a) is not Value and type(b) is not Value:
            return out
        return _node(out, _Bound(op, params) if params else op, a, b)
    inputs = tuple(x if type(x) is Value else d for x, d in zip(args, datas))
    if Value not in map(type, inputs):
        return out
    return _node(out, _Bound(op, params) if params else op, inputs, _MANY)


# A node of an op with more than two inputs keeps them as a tuple in _a, with this marker in _b: a unary or
# binary node, the common case, stores no tuple (48 bytes more per node) and the sweep tests only _b for it.
class _Many:
    """The marker in ``_b`` of a node whose inputs are a tuple in ``_a``."""

    __slots__ = ()


_MANY = _Many()


def _inputs(node: Value) -> tuple:
    """A node's inputs, Values and constants, in argument order (() for a leaf)."""
    a, b = node._a, node._b
    return a if b is _MANY else () if node._fn is None else (a,) if b is None else (a, b)


def postorder(roots: Sequence[Any], keep: set[int] | None = None) -> list[Value]:
    """Every Value the roots depend on, each after its inputs (an iterative depth-first post-order: no recursion
    limit); with keep, only the Values whose ids it holds below the roots. Numbers among the roots are skipped."""
    order: list[Value] = []
    seen: set[int] = set()
    stack = [(r, False) for r in reversed(roots) if type(r) is Value]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in reversed(_inputs(node))
                         if type(p) is Value and id(p) not in seen and (keep is None or id(p) in keep))
    return order


def _node(data: Any, fn: Op | _Bound, a: Any, b: Any) -> Value:
    """A new graph node: data made by fn from a and b (b None for a unary op), grad 0."""
    node = _new(Value)
    node.data = data
    node.grad = 0.0
    node._fn = fn
    node._a = a
    node._b = b
    return node


class _Bound:
    """An op as a node called it, with static parameters: ``vjp`` has them bound, so the sweep calls it like an Op's."""

    __slots__ = ("op", "params", "vjp")

    def __init__(self, op: Op, params: dict[str, Any]) -> None:
        self.op, self.params = op, params
        self.vjp = functools.partial(op.vjp, **params)


def _record(node: Value) -> Op:
    """The Op that made node (its _fn, unwrapped)."""
    op = node._fn
    return op.op if type(op) is _Bound else op


def _float(n: int) -> float | int:
    """An int constant as a float; one too large for a float stays an int, for apply() to refuse naming the op."""
    try:
        return float(n)
    except OverflowError:
        return n


def _signature(op: Op) -> inspect.Signature:
    """What help() and inspect show for ``v.<op>``: self, the other inputs (``*wx`` for a variadic op, self
    being its first), the static parameters (keyword-only for an op of more than two inputs)."""
    P = inspect.Parameter
    others = op.inputs if op.variadic and len(op.inputs) == 1 else op.inputs[1:]
    params = [P("self", P.POSITIONAL_ONLY)]
    params += [P(name[1:], P.VAR_POSITIONAL) if name.startswith("*") else P(name, P.POSITIONAL_ONLY) for name in others]
    kind = P.POSITIONAL_OR_KEYWORD if op.arity in (1, 2) else P.KEYWORD_ONLY
    for name, default in op.params.items():
        if default is P.empty and params[-1].default is not P.empty:
            kind = P.KEYWORD_ONLY  # a required parameter after one with a default: by keyword
        params.append(P(name, kind, default=default))
    return inspect.Signature(params)


# THE FAST PATH, written once: floats in, the op's forward on floats, and a finite float out is the new node; anything
# else (an array, a constant to check, an error, NaN) goes to apply(), the checked call, which says what is wrong.
# It is made into each kind of method below, unrolled for its number of inputs, as dataclasses writes __init__: the
# same code generic over a tuple of inputs costs 0.6 to 0.9 µs an op more (measured: a * b, v.relu()). The op and its
# forward are a closure's cells and every method shares one globals dict: CPython caches a global name's lookup per
# code object and globals dict, so methods of one code object with a globals dict each would miss at every call
# (measured: 13% more instructions in the op-for-op training step).
_FAST_PATH = """
def make(op, forward):
    def method(self{signature}):
        {gather}
        if {floats}:
            try:
                out = forward(SCALAR, {datas})
            except (ArithmeticError, ValueError, TypeError):
                out = None
            if type(out) is float and out - out == 0.0:
                return _node(out, {node})
        {checked}
    return method
"""
_CONSTANT = "int | float | np.ndarray | np.integer | np.floating"
_KINDS = {  # the parts of _FAST_PATH for each kind of method
    "unary": dict(  # v.<op>()
        signature="", gather="a = self.data", floats="type(a) is float", datas="a", node="op, self, None",
        checked="return apply(op, (self,))"),
    "unary with parameters": dict(  # v.<op>(p) binds them into _params (a call with ** costs 7% of an op more)
        signature=", *, _params=_NO_PARAMS", gather="a = self.data", floats="type(a) is float", datas="a, **_params",
        node="_Bound(op, _params) if _params else op, self, None", checked="return apply(op, (self,), _params)"),
    "binary": dict(  # a <op> b; micrograd's code writes x * 2: an int constant is its float, as fast
        signature=", other", gather="a, b = self.data, other.data if type(other) is Value else other\n"
        "        if type(b) is int:\n            b = other = _float(b)", floats="type(a) is float and type(b) is float",
        datas="a, b", node="op, self, other", checked=f"if not isinstance(other, Value | {_CONSTANT}) or isinstance(other, bool):\n"
        "            raise _refused(op.name, other)\n        return apply(op, (self, other))"),
    "reflected": dict(  # b <op> a for a constant b: 1 + x
        signature=", other", gather="a, b = self.data, other\n        if type(b) is int:\n            b = other = _float(b)",
        floats="type(a) is float and type(b) is float", datas="b, a", node="op, other, self",
        checked=f"if not isinstance(other, {_CONSTANT}) or isinstance(other, bool):\n            raise _refused(op.name, other)\n"
        "        return apply(op, (other, self))"),
    "nary": dict(  # v.<op>(*others): more than two inputs, or a variadic op; data that is not a float is None, so the forward fails
        signature=", *others, **params", gather="args = (self, *others)", floats="len(args) > 2 and not params",
        datas="*[d if type(d := x.data if type(x) is Value else x) is float else None for x in args]",
        node="op.at(len(args)), args, _MANY", checked="return apply(op, args, op.bind((), params) if params else None)"),
}


def _makers() -> dict[str, Callable]:
    """For each kind of method, the function that makes an op's method of that kind from _FAST_PATH (compiled here, once)."""
    scope = {"SCALAR": SCALAR, "np": np, "Value": Value, "_NO_PARAMS": _NO_PARAMS, "_Bound": _Bound, "_MANY": _MANY,
             "_node": _node, "_float": _float, "_refused": _refused, "apply": apply}
    makers = {}
    for kind, parts in _KINDS.items():
        exec(compile(_FAST_PATH.format(**parts), f"<the fast path of a {kind} op>", "exec"), scope)  # noqa: S102
        makers[kind] = scope.pop("make")
    return makers


def _fast(op: Op, kind: str) -> Callable:
    """The method of op of this kind (see _KINDS)."""
    method = _MAKERS[kind](op, op.forward)
    method.__name__ = f"r{op.name}" if kind == "reflected" else op.name
    return method


def _methods(op: Op) -> tuple[Any, ...]:
    """op's methods on Value, for ``(op.name, *OPERATORS.get(op.name, ()))``: ``v.<op>(...)``, which binds the
    static parameters, if it has any; the fast method, which takes them as a dict (``_FAST``); a binary op's reflected
    form."""
    kind = ("unary with parameters" if op.params else "unary") if op.arity == 1 else "binary" if op.arity == 2 else "nary"
    fast = _fast(op, kind)
    named = fast
    if kind == "unary with parameters":
        def named(self: Value, *args: Any, **kw: Any) -> Any:
            return fast(self, _params=op.bind(args, kw))
    elif op.params and kind == "binary":
        def named(self: Value, other: Any, *args: Any, **kw: Any) -> Any:
            return apply(op, (self, other), op.bind(args, kw))
    named.__name__, named.__doc__, named.__signature__ = op.name, op.doc, _signature(op)
    if kind == "binary":
        return named, fast, _fast(op, "reflected")
    return named, fast


class _ValueType(type):
    def __getattr__(cls, name: str) -> Any:
        # Op methods are installed as the plugins load, on first use; asking the class for one
        # (help(Value.tanh)) is a first use. Only a missing class attribute gets here: no cost elsewhere.
        if not name.startswith("_") and not registry._loaded:
            try:
                registry.load()  # waits while another thread loads; returns at once in the loading thread itself
            finally:
                _mark_refused()
            if registry._loaded:
                return getattr(cls, name)
        raise AttributeError(f"type object 'Value' has no attribute {name!r}{registry.failed()}")


class _Refused:
    """In place of the method of an op whose plugin failed to load: asking a Value for it is an AttributeError
    naming the plugin. (A ``__getattr__`` on Value would do it for every name, but CPython would then no longer
    specialize attribute access on Values: see Value's slots.)"""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, cls: Any = None) -> Any:
        who = "type object 'Value'" if obj is None else "'Value' object"
        raise AttributeError(f"{who} has no attribute {self.name!r}{registry.failed()}")


def _mark_refused() -> None:
    """A _Refused in Value for each op a plugin that failed to load offered, where no op of that name is installed."""
    for plugin in list(registry.plugins.values()):
        if plugin.error:
            for name in plugin.offered:
                if name.isidentifier() and not name.startswith("_") and name not in Value.__dict__:
                    setattr(Value, name, _Refused(name))


class Value(metaclass=_ValueType):
    """A number in a computation graph: ``data``, its gradient ``grad``, an optional ``label``.

    Arithmetic (``+ - * / **``, unary minus and the reflected forms) and one method per registered
    op (``v.tanh()``, ``v.leaky_relu(0.2)``) build the graph; ``backward()`` fills in ``grad``.
    Plain numbers in an expression are constants, not graph nodes. ``data`` may be a NumPy array:
    then every op runs elementwise over it.

    ``<``, ``<=``, ``>``, ``>=`` compare ``data`` (not differentiable); ``==`` is identity, so Values
    can be dict keys. ``bool(v)`` (nonzero data), ``float(v)`` and ``round(v, n)`` read ``data`` as
    NumPy and torch scalars do. One graph is not to be differentiated from two threads at once.
    """

    # A node stores data, grad, _fn (the Op that made it, or a _Bound with static parameters) and its
    # inputs _a, _b; _label and the sweep's consumer count _k stay unset until needed, so the collector skips them.
    __slots__ = ("data", "grad", "_fn", "_a", "_b", "_label", "_k")
    # No __getattr__ for instances (to name a plugin that failed, say): CPython would no longer specialize
    # attribute access on Values, and the training step would take half as long again. The class has one, and
    # each op a failed plugin offered is a _Refused, whose error names the plugin.

    if TYPE_CHECKING:  # what a type checker sees of the methods generated as ops register (nothing at run time)
        def __getattr__(self, name: str) -> Callable[..., Value]: ...  # v.tanh(), v.leaky_relu(0.2), v.sum(): one per op
        def __add__(self, other: Any) -> Value: ...
        def __radd__(self, other: Any) -> Value: ...
        def __sub__(self, other: Any) -> Value: ...
        def __rsub__(self, other: Any) -> Value: ...
        def __mul__(self, other: Any) -> Value: ...
        def __rmul__(self, other: Any) -> Value: ...
        def __truediv__(self, other: Any) -> Value: ...
        def __rtruediv__(self, other: Any) -> Value: ...
        def __matmul__(self, other: Any) -> Value: ...
        def __rmatmul__(self, other: Any) -> Value: ...
        def __neg__(self) -> Value: ...

    def __init_subclass__(cls, **kwargs: Any) -> None:
        raise TypeError(f"Value cannot be subclassed (by {cls.__name__}): the engine's fast paths test type(x) is Value; "
                        "hold a Value in an attribute instead")
    __array_ufunc__ = None  # numpy scalars and arrays defer to Value's reflected operators

    def __init__(self, data: Any, label: str = "") -> None:
        if not registry._loaded:
            try:
                registry.load()
            finally:
                _mark_refused()
        self.data = _data(data)
        self.grad = zeros_like(self.data)
        self._fn, self._a, self._b = None, None, None
        if label:
            self._label = str(label)

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label else ""
        op = f", op={self.op!r}" if self._fn is not None else ""
        return f"Value(data={_short(self.data)}, grad={_short(self.grad)}{label}{op})"

    def _repr_svg_(self) -> str | None:
        """This Value's graph as SVG for notebooks, bounded (None, so the text repr shows, where drawing is
        off or impossible: see ``microreg.viz.set_display``)."""
        from .viz import notebook_svg

        return notebook_svg(self)

    @property
    def label(self) -> str:
        """A name for this node, shown in its repr and its graph ('' by default)."""
        return getattr(self, "_label", "")

    @label.setter
    def label(self, label: str) -> None:
        self._label = str(label)

    @property
    def op(self) -> str:
        """The name of the op that made this node ('' for a leaf)."""
        return _record(self).name if self._fn is not None else ""

    @property
    def params(self) -> dict[str, Any]:
        """The static parameters the op that made this node was called with (``{}`` for none)."""
        return dict(self._fn.params) if type(self._fn) is _Bound else {}

    @property
    def parents(self) -> tuple[Value, ...]:
        """The Values this node was computed from, in argument order."""
        return tuple(p for p in _inputs(self) if type(p) is Value)

    # The names of micrograd's lecture, for learners following it: _prev, _op, _backward().
    @property
    def _prev(self) -> set[Value]:
        """The set of Values this node was computed from (micrograd's name; ``parents`` keeps their order)."""
        return set(self.parents)

    @property
    def _op(self) -> str:
        """The op that made this node as micrograd writes it: '+', '-', '*', '/', '**2', else its name ('' for a leaf)."""
        if self._fn is None:
            return ""
        name = self.op
        return f"**{self.params['n']:g}" if name == "pow" else _SYMBOLS.get(name, name)

    def _backward(self) -> None:
        """One node's step of backprop, by hand: add this node's ``grad`` times its local derivatives into its inputs' ``grad``.

        The lecture's ``o._backward()``: set ``o.grad = 1.0``, then call ``_backward()`` on each node from
        the output back (``reversed(microreg.viz.nodes(o))`` is that order); ``backward()`` does it all.
        A leaf has no step. Numbers in the expression are constants and get no gradient.
        """
        if self._fn is None:
            return
        token = _raise_fp()
        try:
            cotangents = _vjp(self, self.grad, create_graph=False)
            totals: dict[Value, Any] = {}  # an input used twice (a + a) gets both cotangents
            for p, gp in zip(_inputs(self), cotangents):
                if type(p) is Value and gp is not None:
                    totals[p] = totals.get(p, p.grad) + gp
            sums = list(totals.items())
            for p, total in sums:
                if type(total) is float and total - total:
                    raise FloatingPointError(f"the gradient of {p!r} would be {total}")
        except FloatingPointError as exc:  # no grad changes, as in backward()
            raise DomainError(f"a gradient overflowed in {self.op}'s step: {exc}") from None
        finally:
            _restore_fp(token)
        for p, total in sums:
            p.grad = total

    # A Value as a number, as a NumPy or torch scalar is one: these read data and are not differentiable. Each tells
    # _seen what it found, for a replay() recording in this thread: the function's control flow.
    def __bool__(self) -> bool:
        """True when data is nonzero; an array of one element is its element, of more (or none) ambiguous."""
        data = self.data
        if type(data) is float:
            return _seen(self, "__bool__", None, data != 0.0)
        if data.size != 1:
            raise ValueError(f"the truth value of a Value holding {_short(data)} is ambiguous: "
                             "test v.data.any() or v.data.all()")
        return _seen(self, "__bool__", None, bool(data.flat[0]))

    def __float__(self) -> float:
        if type(self.data) is not float:
            raise TypeError(f"float() takes a scalar Value, this one holds {_short(self.data)}")
        return _seen(self, "__float__", None, self.data)

    def __round__(self, ndigits: int | None = None) -> float | int:
        return round(float(self), ndigits)

    # Comparisons compare data (for xp.where conditions and user code); they are not differentiable.
    def __lt__(self, other: Any) -> Any:
        return _seen(self, "__lt__", other, self.data < _plain(other))

    def __le__(self, other: Any) -> Any:
        return _seen(self, "__le__", other, self.data <= _plain(other))

    def __gt__(self, other: Any) -> Any:
        return _seen(self, "__gt__", other, self.data > _plain(other))

    def __ge__(self, other: Any) -> Any:
        return _seen(self, "__ge__", other, self.data >= _plain(other))

    def __pow__(self, other: Any) -> Value:
        """``v ** n`` is the ``pow`` op with exponent n; ``v ** w`` for a Value w is ``exp(w * log(v))``."""
        if not isinstance(other, Value):
            if isinstance(other, np.ndarray):
                raise TypeError(f"pow(): the exponent of v ** n is a number (the pow op) or a Value (exp(n * log(v))), "
                                f"got {_short(other)}; for exponents that vary by element, write v ** Value(n)")
            if not isinstance(other, int | float | np.integer | np.floating) or isinstance(other, bool):
                raise _refused("pow", other)
            return _FAST["pow"](self, _params={"n": float(other)})
        if np.any(np.asarray(self.data) <= 0):
            raise DomainError(
                f"pow(x={_short(self.data)}, y={_short(other.data)}) with a Value exponent needs x > 0, "
                "since d(x**y)/dy = x**y * log(x); use a number exponent for x <= 0"
            )
        return _power(self, other)

    def __rpow__(self, base: Any) -> Value:
        if not isinstance(base, int | float | np.integer | np.floating | np.ndarray) or isinstance(base, bool):
            raise _refused("pow", base)
        base = _data(base, "pow()", copy=False)
        if np.any(np.asarray(base) <= 0):
            raise DomainError(f"pow(x={_short(base)}, y={_short(self.data)}) with a Value exponent needs x > 0, "
                              "since d(x**y)/dy = x**y * log(x)")
        return _power(base, self)

    # sum() is the registered op sum: v.sum() adds every element, v.sum(axis=0) sums over the first axis.

    def mean(self) -> Value:
        """The mean of an array Value's elements, as a scalar Value (a scalar Value is returned as is)."""
        if type(self.data) is float:
            return self
        if not self.data.size:
            raise DomainError("the mean of an empty array is undefined (0 / 0)")
        return self.sum() * (1.0 / self.data.size)

    def backward(self) -> None:
        """Add d(self)/d(node) into ``node.grad`` for every node of the graph that produced self.

        Like PyTorch, gradients accumulate: a second call adds the same gradients again (each node's
        grad doubles), so call ``zero_grad()`` on a model, or set ``grad = 0``, between steps. self
        must be a scalar (reduce an array Value with ``sum()`` or ``mean()`` first). A leaf's array
        grad is its own; intermediate nodes may share one (copy it before writing into it).
        """
        if type(self.data) is not float:
            raise ValueError(f"backward() needs a scalar Value, this one holds an array of shape {self.data.shape}; "
                             "call .sum() or .mean() first")
        visited, saved = _sweep((self,), (1.0,), create_graph=False)
        if saved:
            _accumulate(visited, saved)


class _Watch(threading.local):
    """What a replay() recording in this thread sees of its function's control flow: each comparison of Values it makes
    (``seen``: None where none is recording). Per thread, so another thread's comparisons are never taken for the
    function's, and Value's class is never changed to watch them."""

    seen: list[tuple[Value, str, Any, Any]] | None = None


WATCH = _Watch()


def _seen(v: Value, name: str, other: Any, result: Any) -> Any:
    """result, that v.<name>(other) found, noted where a recording in this thread is watching."""
    seen = WATCH.seen
    if seen is not None:
        seen.append((v, name, other, result))
    return result


def _accumulate(visited: list[Value], saved: list[tuple[Value, Any]]) -> None:
    """Add to each saved grad what the sweep left; if a sum overflows, a DomainError, and every grad as it was before."""
    sums = []
    token = _raise_fp()
    try:
        for node, old in saved:
            total = old + node.grad
            if type(total) is float and total - total:
                raise FloatingPointError(f"{old!r} + {node.grad!r} is {total}")
            sums.append(total)
    except FloatingPointError as exc:
        _restore(visited, saved)
        raise DomainError(f"the gradient of {node!r} overflowed when added to the one a previous backward() left "
                          f"(zero the grads between steps): {exc}") from None
    finally:
        _restore_fp(token)
    for (node, _), total in zip(saved, sums):
        node.grad = total


def _power(x: Any, y: Value) -> Value:
    """x ** y for x > 0 and a Value y: the node exp(y * log(x)), holding the correctly rounded power; DomainError if it overflows."""
    base, exponent = _plain(x), y.data
    token = _raise_fp()
    try:
        power = np.power(base, exponent)
        node = (y * (x.log() if type(x) is Value else np.log(base))).exp()
    except (ArithmeticError, ValueError) as exc:
        raise DomainError(f"pow(x={_short(base)}, y={_short(exponent)}) is undefined: {exc}") from None
    finally:
        _restore_fp(token)
    # exp(y * log(x)) carries the gradient for both sides but rounds (2 ** 3 would be 7.999999999999998);
    # the node keeps the correctly rounded power, which its exp vjp (g * out) then uses too.
    node.data = _data(power, "pow()", copy=False)
    return node


def zeros_like(data: float | np.ndarray) -> float | np.ndarray:
    """A zero gradient for data: 0.0, or an array of zeros of its shape (never -0.0)."""
    return np.zeros_like(data) if type(data) is np.ndarray else 0.0


def _plain(x: Any) -> Any:
    return x.data if isinstance(x, Value) else x


class ValueNamespace(Namespace):
    """xp on ``Value``s: every function builds graph nodes through registered ops, so vjps are differentiable."""

    kind = "graph"

    def __init__(self, registry: Any) -> None:
        # functions.FUNCTIONS' Values column: a constant is its float; a function is the registered op of its name,
        # looked up as any op is, or a method below
        super().__init__(registry, {f.name: f.scalar for f in FUNCTIONS if f.kind == "constant"})

    def _op(self, op: Op) -> Callable:
        def call(*args: Any, **params: Any) -> Any:
            return apply(op, args, params)

        call.__name__ = op.name
        return call

    def pow(self, x: Any, n: Any) -> Any:
        """x ** n for a constant n, through the pow op."""
        return apply(self._registry.get("pow"), (x,), {"n": n})

    def log1p(self, x: Any) -> Any:
        """log(1 + x) through the log op (whose vjp, g / (1 + x), is as accurate), holding log1p(x) as its value.

        Not an op of its own: its domain, x > -1, is none an op can declare. The node keeps the
        correctly rounded log1p(x), as pow keeps the correctly rounded power (see ``_power``).
        """
        if not isinstance(x, Value):
            return XP[backend_of(x)].log1p(x)
        node = self.log(1 + x)  # raises the DomainError for x <= -1; where it succeeds, log1p cannot fail
        node.data = XP[backend_of(x.data)].log1p(x.data)
        return node

    def abs(self, x: Any) -> Any:
        """|x| as where(x >= 0, x, -x): its derivative is the sign, and 1 at 0."""
        return self.where(x >= 0, x, -x)

    def sign(self, x: Any) -> Any:
        """The sign of x's data, a constant: its derivative is 0 wherever it exists."""
        data = x.data if isinstance(x, Value) else x
        return np.sign(data) if isinstance(data, np.ndarray) else SCALAR.sign(data)

    def where(self, c: Any, a: Any, b: Any) -> Any:
        """a where c holds, else b; on arrays a * c + b * (1 - c), so both branches stay in the graph."""
        if isinstance(c, np.ndarray):
            c = c.astype(np.float64)
            return a * c + b * (1.0 - c)
        return a if c else b


VALUES = ValueNamespace(registry)


_new = object.__new__  # nodes skip __init__; their slots are stored one statement each (a tuple would cost more)
RESERVED = frozenset(dir(Value))
registry.reserved = RESERVED

# Python operators and the ops they dispatch to; methods for every op are generated as ops register.
OPERATORS = {"add": ("__add__", "__radd__"), "sub": ("__sub__", "__rsub__"), "mul": ("__mul__", "__rmul__"),
             "div": ("__truediv__", "__rtruediv__"), "neg": ("__neg__",), "matmul": ("__matmul__", "__rmatmul__")}
_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "neg": "-", "matmul": "@"}  # Value._op, as micrograd's lecture writes them


_MAKERS = _makers()
_FAST: dict[str, Any] = {}  # op name -> its fast method, taking static parameters as a dict


def _install(name: str, op: Op | None) -> None:
    for ns in (SCALAR, ARRAY, ARRAY_AS_FLOATS, VALUES):
        ns.forget_ops()
    names = (name, *OPERATORS.get(name, ()))
    if op is None:
        _FAST.pop(name, None)
        for attr in names:
            if attr in Value.__dict__:
                delattr(Value, attr)
        return
    methods = _methods(op)
    _FAST[name] = methods[1]
    for attr, fn in zip(names, methods):
        if attr == name:
            fn.__qualname__ = f"Value.{name}"
        setattr(Value, attr, fn)


registry.subscribe(_install)


_sum_all = np.add.reduce  # ndarray.sum without its Python wrapper, a third of the cost on small arrays


def _shape(x: Any) -> tuple[int, ...]:
    """The shape of engine data, or of a Value's: () for a number (np.shape costs ten times as much)."""
    if type(x) is Value:
        x = x.data
    return x.shape if type(x) is np.ndarray else ()


def _unbroadcast(g: Any, data: Any) -> Any:
    """A cotangent in the output's shape summed down to the shape of its input, broadcast to the output's (autograd's
    unbroadcast): an array, or a Value when a vjp runs on Values."""
    if type(g) is np.ndarray:
        return float(_sum_all(g, axis=None)) if type(data) is float else _sum_to(g, data.shape)
    return g.sum() if type(data) is float else apply(_SUM_TO, (g,), {"shape": data.shape})


def _sweep(roots: Sequence[Value], seeds: Sequence[Any], create_graph: bool) -> tuple[list[Value], list[tuple[Value, Any]]]:
    """One reverse-mode sweep from roots, iterative (no recursion limit).

    Leaves d(roots)/d(node) in node.grad for every node of the graph and returns the nodes visited
    and, for those whose grad was not 0, the grad each held before. Nodes are visited in Kahn's
    order: a node's vjp runs once all its consumers have sent their cotangents, counted in the node's
    ``_k`` slot (0 again afterwards).
    """
    token = _raise_fp()
    try:
        return _walk(roots, seeds, create_graph)
    finally:
        _restore_fp(token)


def _walk(roots: Sequence[Value], seeds: Sequence[Any], create_graph: bool) -> tuple[list[Value], list[tuple[Value, Any]]]:
    zero = float("0")  # a new object: marks the nodes this sweep has reached, and a cotangent not yet received
    visited, saved = [], []
    record, keep = visited.append, saved.append
    unique = list(dict.fromkeys(roots))
    try:
        for r in unique:
            old = r.grad
            if type(old) is not float or old:
                keep((r, old))
            record(r)
            r.grad, r._k = zero, 0
        stack = list(unique)
        push, pop = stack.append, stack.pop
        while stack:
            node = pop()
            b = node._b
            for p in (node._a, b) if b is not _MANY else node._a:
                if type(p) is Value:
                    if p.grad is zero:
                        p._k += 1
                    else:
                        old = p.grad
                        if type(old) is not float or old:
                            keep((p, old))
                        record(p)  # after saving its grad: the restore below sets every visited node's grad
                        p.grad, p._k = zero, 1
                        push(p)
        for r, s in zip(roots, seeds):
            r.grad = s if r.grad is zero else r.grad + s
        ready = [r for r in unique if not r._k]
        push, pop = ready.append, ready.pop
        fast = not create_graph
        while ready:
            node = pop()
            op = node._fn
            a, b, g = node._a, node._b, node.grad
            if op is None:  # a leaf: its grad is a sum no vjp checked, and finite cotangents can overflow in it
                if type(g) is float and g - g:
                    raise DomainError(f"the gradient of {node!r} overflowed: its cotangents sum to {g}")
                continue
            if b is _MANY:  # three or more inputs, a tuple in a
                gs = None
                if g is zero:
                    gs = (None,) * len(a)
                elif fast and type(g) is float:  # THE FAST PATH of a vjp: floats in, finite floats (or None) out
                    try:
                        gs = op.vjp(SCALAR, g, node.data, *[p.data if type(p) is Value else p for p in a])
                        # a finite float sum: every cotangent a finite number (a None is a TypeError here), in one C
                        # loop (a test of each in Python cost a neuron's step 7% more); an int among them is kept, exact
                        total = sum(gs)
                        if type(total) is not float or total - total or len(gs) != len(a):
                            raise ArithmeticError  # the checked call says what is wrong
                    except (ArithmeticError, ValueError, TypeError):
                        gs = None
                if gs is None:
                    gs = _vjp(node, g, create_graph)
                for p, gp in zip(a, gs):
                    if type(p) is Value:
                        if gp is not None:
                            p.grad = gp if p.grad is zero else p.grad + gp
                        p._k -= 1
                        if not p._k:
                            push(p)
                continue
            # one or two inputs (b None for one), unrolled: the common case, with no tuple and no loop (the step
            # above for them costs 75% more instructions a node)
            ga = gb = None
            if g is not zero:
                if fast and type(g) is float and (b is not None or type(a.data) is float):  # the same fast path
                    try:
                        if b is None:
                            (ga,) = op.vjp(SCALAR, g, node.data, a.data)
                        else:
                            ga, gb = op.vjp(SCALAR, g, node.data, a.data if type(a) is Value else a, b.data if type(b) is Value else b)
                        if ((ga is not None and (type(ga) is not float or ga - ga))
                                or (gb is not None and (type(gb) is not float or gb - gb))):
                            raise ArithmeticError  # not a finite float: the checked call says what is wrong
                    except (ArithmeticError, ValueError, TypeError):
                        ga, gb = (*_vjp(node, g, create_graph), None)[:2]
                else:
                    ga, gb = (*_vjp(node, g, create_graph), None)[:2]
            if type(a) is Value:
                if ga is not None:
                    a.grad = ga if a.grad is zero else a.grad + ga
                a._k -= 1
                if not a._k:
                    push(a)
            if type(b) is Value:
                if gb is not None:
                    b.grad = gb if b.grad is zero else b.grad + gb
                b._k -= 1
                if not b._k:
                    push(b)
    except BaseException as exc:
        for node in visited:
            node._k = 0
        _restore(visited, saved)
        if type(exc) is FloatingPointError:  # summing array cotangents overflowed
            raise DomainError(f"a gradient overflowed while summing cotangents: {exc}") from None
        raise
    return visited, saved


def grad(outputs: Value | Sequence[Value], inputs: Value | Sequence[Value], create_graph: bool = False) -> list[Any]:
    """Gradients of the sum of outputs with respect to each input, as ``torch.autograd.grad`` gives them.

    Leaves ``.grad`` as it was. An input the outputs do not depend on gets a zero gradient. With
    ``create_graph=True`` every vjp runs on Values, so each gradient is a Value with a graph of its
    own that can be differentiated again; otherwise gradients are plain numbers (or arrays).
    """
    outs = tuple(outputs) if isinstance(outputs, list | tuple) else (outputs,)
    ins = tuple(inputs) if isinstance(inputs, list | tuple) else (inputs,)
    for v in (*outs, *ins):
        if not isinstance(v, Value):
            raise TypeError(f"grad() takes Values as outputs and inputs, got {v!r}")
    seeds = tuple(1.0 if type(o.data) is float else np.ones_like(o.data) for o in outs)
    visited, saved = _sweep(outs, seeds, create_graph)
    reached = {id(node) for node in visited}
    result = []
    for v in ins:
        g = v.grad if id(v) in reached else 0.0
        # an array input no cotangent reached holds the sweep's float 0 marker
        result.append(zeros_like(v.data) if type(g) is float and type(v.data) is np.ndarray else g)
    if create_graph:  # a constant gradient is still a Value (a leaf), so it can be differentiated again
        result = [g if isinstance(g, Value) else Value(g) for g in result]
    _restore(visited, saved)
    return result


def _restore(visited: list[Value], saved: list[tuple[Value, Any]]) -> None:
    """Every grad a sweep touched as it was before: 0, or what ``saved`` kept."""
    for node in visited:
        node.grad = 0.0
    for node, old in saved:
        node.grad = old


def _sum_to(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """g summed over the axes it was broadcast along from shape."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


def _sum_down(xp: Any, x: Any, *, shape: tuple[int, ...]) -> Any:
    return _sum_to(x, shape)


def _sum_down_vjp(xp: Any, g: Any, out: Any, x: Any, *, shape: tuple[int, ...]) -> tuple:
    return (g + 0.0 * x,)


def _sum_down_jvp(xp: Any, tangents: tuple, out: Any, x: Any, *, shape: tuple[int, ...]) -> Any:
    return _sum_to(tangents[0], shape)


_SUM_TO = Op("sum_to", forward=_sum_down, vjp=_sum_down_vjp, jvp=_sum_down_jvp, examples=({"shape": (1,)},),
             doc="An array summed down to a shape it was broadcast from (the engine's unbroadcast on Values).")
