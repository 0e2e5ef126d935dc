"""Derivative rules written for PyTorch or JAX, traced into an ``Op`` the audit proves, refutes and measures.

``jax(fn)`` traces ``fn`` and its vjp with ``jax.make_jaxpr`` (the vjp as ``jax.vjp(fn, *xs)[1](g)`` with the
cotangent ``g`` an input, so a backward that ignores g is caught); ``torch(fn)`` with ``make_fx`` (fn, then
``torch.autograd.grad(y, xs, g)``: an ``autograd.Function``'s backward is traced as it runs). Either gives an
``Op`` whose forward and vjp:

- on SymPy symbols and on ``Value``s, walk the traced graph, each primitive one row of its framework's table
  (``JAX``, ``ATEN``: a function of ``xp``, the inputs and the primitive's parameters), so the audit proves or
  refutes what the framework computes;
- on floats and NumPy arrays, call the framework itself in float64, so the accuracy the audit measures is the
  framework's own.

``native=True`` computes on every backend from the rows (an op to register, use on Values and export), and
``source(op)`` writes the traced rule as a plugin's ``forward`` and ``vjp`` against ``xp``.

A primitive with no row is a ``TraceError`` naming it, never a guess; a row is added by assigning to the table
(``microreg.trace.JAX["my_prim"] = fn``). A float literal in the traced code that is the correctly rounded value of a
constant in ``CONSTANTS`` (JAX's erf derivative holds -1.1283791670955126, -2/sqrt(pi)) is read as that constant on
symbols; the op's ``doc`` says which it took. torch and JAX are imported only when a function is traced.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import keyword
import operator
import re
from collections.abc import Callable, Sequence
from typing import Any

from .op import Kink, Op


class TraceError(ValueError):
    """A function cannot be traced into an op: the message names the function and what was wrong (an unknown primitive, ...)."""


# ---- the rows: each primitive as a function of xp, exact on symbols ----

def _sigmoid(xp: Any, x: Any) -> Any:
    """The logistic function: exact on symbols, the registered sigmoid op (no overflow for any float) elsewhere."""
    return 1 / (1 + xp.exp(-x)) if xp.kind == "symbolic" else xp.sigmoid(x)


def _compare(relation: Callable[[Any, Any], Any], symbolic: str) -> Callable:
    """A comparison row: SymPy's relation on symbols (``==`` would compare expressions), the operator on numbers and Values' data."""

    def compare(xp: Any, a: Any, b: Any, **_: Any) -> Any:
        if xp.kind == "symbolic":
            return getattr(xp.sympy, symbolic)(a, b)
        return relation(getattr(a, "data", a), getattr(b, "data", b))

    compare.__name__ = symbolic
    return compare


def _logic(relation: Callable[..., Any], symbolic: str) -> Callable:
    """A boolean row (and, or, not): SymPy's on relations, the operator on booleans."""

    def logic(xp: Any, *args: Any, **_: Any) -> Any:
        return getattr(xp.sympy, symbolic)(*args) if xp.kind == "symbolic" else relation(*args)

    logic.__name__ = symbolic
    return logic


def _identity(xp: Any, x: Any, *_: Any, **__: Any) -> Any:
    return x


def _select_n(xp: Any, which: Any, *cases: Any) -> Any:
    if len(cases) != 2:
        raise TraceError(f"select_n with {len(cases)} cases: only a choice between two (a boolean predicate) is supported")
    return xp.where(which, cases[1], cases[0])


def _clamp(xp: Any, x: Any, lo: Any = None, hi: Any = None) -> Any:
    x = x if lo is None else xp.maximum(x, lo)
    return x if hi is None else xp.minimum(x, hi)


#: JAX primitives (jaxpr equations) -> a function of (xp, *inputs, **params). jit, custom_jvp_call, custom_vjp_call
#: and cond are followed into their sub-jaxprs (``_JAX_CALLS``).
JAX: dict[str, Callable[..., Any]] = {
    "add": lambda xp, a, b: a + b, "add_any": lambda xp, a, b: a + b, "sub": lambda xp, a, b: a - b,
    "mul": lambda xp, a, b, **_: a * b, "div": lambda xp, a, b: a / b, "neg": lambda xp, a: -a,
    "max": lambda xp, a, b: xp.maximum(a, b), "min": lambda xp, a, b: xp.minimum(a, b),
    "exp": lambda xp, x, **_: xp.exp(x), "exp2": lambda xp, x, **_: 2 ** x, "log": lambda xp, x, **_: xp.log(x),
    "log1p": lambda xp, x, **_: xp.log1p(x), "expm1": lambda xp, x, **_: xp.expm1(x), "tanh": lambda xp, x, **_: xp.tanh(x),
    "logistic": lambda xp, x, **_: _sigmoid(xp, x), "sqrt": lambda xp, x, **_: xp.sqrt(x),
    "rsqrt": lambda xp, x, **_: 1 / xp.sqrt(x),
    "integer_pow": lambda xp, x, y: x ** y, "pow": lambda xp, x, y: x ** y, "square": lambda xp, x: x * x,
    "sin": lambda xp, x, **_: xp.sin(x), "cos": lambda xp, x, **_: xp.cos(x), "tan": lambda xp, x, **_: xp.tan(x),
    "sinh": lambda xp, x, **_: xp.sinh(x), "cosh": lambda xp, x, **_: xp.cosh(x), "atan": lambda xp, x, **_: xp.atan(x),
    "asinh": lambda xp, x, **_: xp.asinh(x), "erf": lambda xp, x, **_: xp.erf(x), "erfc": lambda xp, x, **_: xp.erfc(x),
    "abs": lambda xp, x: xp.abs(x), "sign": lambda xp, x: xp.sign(x), "select_n": _select_n,
    "gt": _compare(operator.gt, "StrictGreaterThan"), "lt": _compare(operator.lt, "StrictLessThan"),
    "ge": _compare(operator.ge, "GreaterThan"), "le": _compare(operator.le, "LessThan"),
    "eq": _compare(operator.eq, "Eq"), "ne": _compare(operator.ne, "Ne"),
    "and": _logic(operator.and_, "And"), "or": _logic(operator.or_, "Or"), "not": _logic(operator.not_, "Not"),
    "clamp": lambda xp, lo, x, hi: _clamp(xp, x, lo, hi),
    "convert_element_type": _identity, "stop_gradient": _identity, "copy": _identity, "copy_p": _identity,
    "reduce_precision": _identity, "broadcast_in_dim": _identity, "reshape": _identity, "squeeze": _identity,
    "empty2": lambda xp, **_: 0.0,  # an uninitialised buffer of a cond branch that does not use it
}

#: ATen ops (``torch.ops.aten.<name>``, any overload) -> a function of (xp, *args, **kwargs), the fused backward kernels
#: by the formulas of PyTorch's kernels (aten/src/ATen/native/cpu/*Kernel.cpp).
ATEN: dict[str, Callable[..., Any]] = {
    "add": lambda xp, a, b, alpha=1: a + alpha * b, "sub": lambda xp, a, b, alpha=1: a - alpha * b,
    "rsub": lambda xp, a, b, alpha=1: b - alpha * a,
    "mul": lambda xp, a, b: a * b, "div": lambda xp, a, b: a / b, "neg": lambda xp, a: -a,
    "reciprocal": lambda xp, a: 1 / a, "exp": lambda xp, x: xp.exp(x), "expm1": lambda xp, x: xp.expm1(x),
    "log": lambda xp, x: xp.log(x), "log1p": lambda xp, x: xp.log1p(x), "tanh": lambda xp, x: xp.tanh(x),
    "sigmoid": _sigmoid, "sqrt": lambda xp, x: xp.sqrt(x), "rsqrt": lambda xp, x: 1 / xp.sqrt(x),
    "pow": lambda xp, x, y: x ** y, "square": lambda xp, x: x * x, "abs": lambda xp, x: xp.abs(x),
    "sign": lambda xp, x: xp.sign(x), "sgn": lambda xp, x: xp.sign(x), "sin": lambda xp, x: xp.sin(x),
    "cos": lambda xp, x: xp.cos(x), "tan": lambda xp, x: xp.tan(x), "sinh": lambda xp, x: xp.sinh(x),
    "cosh": lambda xp, x: xp.cosh(x), "atan": lambda xp, x: xp.atan(x), "asinh": lambda xp, x: xp.asinh(x),
    "erf": lambda xp, x: xp.erf(x), "erfc": lambda xp, x: xp.erfc(x),
    "special_erf": lambda xp, x: xp.erf(x), "special_erfc": lambda xp, x: xp.erfc(x),
    "maximum": lambda xp, a, b: xp.maximum(a, b), "minimum": lambda xp, a, b: xp.minimum(a, b),
    "clamp": lambda xp, x, min=None, max=None: _clamp(xp, x, min, max),
    "where": lambda xp, c, a, b: xp.where(c, a, b),
    "gt": _compare(operator.gt, "StrictGreaterThan"), "lt": _compare(operator.lt, "StrictLessThan"),
    "ge": _compare(operator.ge, "GreaterThan"), "le": _compare(operator.le, "LessThan"),
    "eq": _compare(operator.eq, "Eq"), "ne": _compare(operator.ne, "Ne"),
    "detach": _identity, "alias": _identity, "clone": _identity, "lift_fresh_copy": _identity, "_to_copy": _identity,
    "view": _identity, "expand": _identity, "scalar_tensor": _identity,
    "zeros_like": lambda xp, x, **_: 0 * x, "ones_like": lambda xp, x, **_: 0 * x + 1,
    "logical_and": _logic(operator.and_, "And"), "logical_or": _logic(operator.or_, "Or"),
    "logical_not": _logic(operator.not_, "Not"),
    "relu": lambda xp, x: xp.where(x > 0, x, 0), "silu": lambda xp, x: x * _sigmoid(xp, x),
    "gelu": lambda xp, x, approximate="none": _gelu(xp, x, approximate)[0],
    "softplus": lambda xp, x, beta=1, threshold=20: xp.where(x * beta > threshold, x, xp.log1p(xp.exp(x * beta)) / beta),
    "elu": lambda xp, x, alpha=1, scale=1, input_scale=1: xp.where(x > 0, scale * x, (alpha * scale) * xp.expm1(x * input_scale)),
    "celu": lambda xp, x, alpha=1: xp.where(x > 0, x, alpha * xp.expm1(x / alpha)),
    "leaky_relu": lambda xp, x, negative_slope=0.01: xp.where(x > 0, x, x * negative_slope),
    "hardtanh": lambda xp, x, min_val=-1, max_val=1: _clamp(xp, x, min_val, max_val),
    "sigmoid_backward": lambda xp, g, y: g * (1 - y) * y,
    "tanh_backward": lambda xp, g, y: g * (1 - y * y),
    "threshold_backward": lambda xp, g, x, threshold: xp.where(x <= threshold, 0, g),
    "gelu_backward": lambda xp, g, x, approximate="none": g * _gelu(xp, x, approximate)[1],
    "softplus_backward": lambda xp, g, x, beta, threshold:
        xp.where(x * beta > threshold, g, g * xp.exp(x * beta) / (xp.exp(x * beta) + 1)),
    "elu_backward": lambda xp, g, alpha, scale, input_scale, is_result, x:  # alpha * scale rounded once, as the kernel does
        xp.where(x <= 0, g * input_scale * (x + alpha * scale) if is_result else
                 g * input_scale * (alpha * scale) * xp.exp(x * input_scale), g * scale),
    "hardshrink": lambda xp, x, lambd=0.5: xp.where(x < -lambd, x, xp.where(x > lambd, x, 0)),
    "hardshrink_backward": lambda xp, g, x, lambd: xp.where(x < -lambd, g, xp.where(x > lambd, g, 0)),
    "softshrink": lambda xp, x, lambd=0.5: xp.where(x < -lambd, x + lambd, xp.where(x > lambd, x - lambd, 0)),
    "softshrink_backward": lambda xp, g, x, lambd: xp.where(x < -lambd, g, xp.where(x > lambd, g, 0)),
    "hardsigmoid": lambda xp, x: _clamp(xp, x + 3, 0, 6) / 6,
    "hardsigmoid_backward": lambda xp, g, x: xp.where(x > -3, xp.where(x < 3, g / 6, 0), 0),
    "hardswish": lambda xp, x: x * _clamp(xp, x + 3, 0, 6) / 6,
    "hardswish_backward": lambda xp, g, x: xp.where(x < -3, 0, xp.where(x <= 3, g * (x / 3 + 0.5), g)),
    "log_sigmoid_forward": lambda xp, x: (xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x))), xp.exp(-xp.abs(x))),
    "log_sigmoid_backward": lambda xp, g, x, buffer:
        g * (xp.where(x < 0, 1, 0) - xp.where(x < 0, 1, -1) * xp.exp(-xp.abs(x)) / (1 + xp.exp(-xp.abs(x)))),
    "getitem": lambda xp, items, i: items[i],
    "mish": lambda xp, x: x * xp.tanh(xp.log1p(xp.exp(x))),
    "mish_backward": lambda xp, g, x: g * (xp.tanh(xp.log1p(xp.exp(x)))
                                           + x * _sigmoid(xp, x) * (1 - xp.tanh(xp.log1p(xp.exp(x))) ** 2)),
    "empty_like": lambda xp, x, **_: 0 * x,
    "rrelu_with_noise": lambda xp, x, noise, lower=1 / 8, upper=1 / 3, training=False, generator=None:
        xp.where(x > 0, x, x * _rrelu_slope(lower, upper, training)),
    "rrelu_with_noise_backward": lambda xp, g, x, noise, lower, upper, training, self_is_result:
        xp.where(x > 0, g, g * _rrelu_slope(lower, upper, training)),
    "silu_backward": lambda xp, g, x: g * _sigmoid(xp, x) * (1 + x * (1 - _sigmoid(xp, x))),
    "leaky_relu_backward": lambda xp, g, x, negative_slope, self_is_result: xp.where(x > 0, g, g * negative_slope),
    "hardtanh_backward": lambda xp, g, x, min_val, max_val: xp.where(x <= min_val, 0, xp.where(x >= max_val, 0, g)),
}


def _rrelu_slope(lower: float, upper: float, training: bool) -> float:
    """rrelu's slope out of training, (lower + upper) / 2; in training it is random: no function to prove."""
    if training:
        raise TraceError("rrelu in training mode draws a random slope: trace it with training=False")
    return (lower + upper) / 2


def _gelu(xp: Any, x: Any, approximate: str) -> tuple[Any, Any]:
    """PyTorch's gelu and its derivative (GeluKernel.cpp), exact (tanh) or by the tanh approximation."""
    if approximate == "tanh":
        beta, kappa = xp.sqrt(2 / xp.pi), 0.044715
        t = xp.tanh(beta * (x + kappa * x * x * x))
        return 0.5 * x * (1 + t), 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * beta * (1 + 3 * kappa * x * x)
    cdf = (1 + xp.erf(x / xp.sqrt(2))) / 2
    return x * cdf, cdf + x * xp.exp(-x * x / 2) / xp.sqrt(2 * xp.pi)


#: Constants a float literal may be the correctly rounded value of (SymPy's spelling), with their negatives.
CONSTANTS = ("pi", "E", "sqrt(2)", "1/sqrt(2)", "sqrt(2/pi)", "2/sqrt(pi)", "1/sqrt(pi)", "sqrt(pi)", "sqrt(2*pi)",
             "1/sqrt(2*pi)", "log(2)", "1/log(2)", "log(10)", "pi/2", "pi/4", "1/pi", "sqrt(3)", "log(2)/2", "log(2*pi)/2")


@functools.cache
def _constant_values() -> dict[float, str]:
    import sympy

    found = {}
    for text in CONSTANTS:
        value = float(sympy.N(sympy.sympify(text), 40))
        found[value], found[-value] = text, f"-({text})"
    return found


def constants_in(literals: Sequence[Any]) -> dict[float, str]:
    """The float literals that are a known constant correctly rounded, each with the constant it is read as."""
    known, numbers = _constant_values(), [v.item() if getattr(v, "size", None) == 1 else v for v in literals]
    return {float(v): known[float(v)] for v in numbers if isinstance(v, float) and float(v) in known}


# ---- the walkers: a traced graph evaluated on any xp ----

def _literal(xp: Any, value: Any, constants: dict[float, str]) -> Any:
    """A literal of the traced code: a Python number, or on symbols the exact constant it is the rounded value of."""
    value = value.item() if hasattr(value, "item") else value
    value = float(value) if isinstance(value, float) else value  # JAX's TypedFloat prints as itself
    if isinstance(value, float) and value in constants and xp.kind in ("symbolic", "source"):
        return xp.sympy.sympify(constants[value]) if xp.kind == "symbolic" else xp.constant(constants[value])
    return value


def _eval_jaxpr(jaxpr: Any, consts: Sequence[Any], args: Sequence[Any], xp: Any, constants: dict[float, str]) -> list[Any]:
    env: dict[Any, Any] = {}

    def read(v: Any) -> Any:
        return _literal(xp, v.val, constants) if hasattr(v, "val") else env[v]

    for var, val in zip(jaxpr.constvars, consts):
        env[var] = _literal(xp, val, constants)
    for var, val in zip(jaxpr.invars, args):
        env[var] = val
    for eqn in jaxpr.eqns:
        ins, name = [read(v) for v in eqn.invars], eqn.primitive.name
        if name in _JAX_CALLS:
            outs = _JAX_CALLS[name](xp, ins, eqn.params, constants)
        else:
            params = {k: v for k, v in eqn.params.items() if k not in ("accuracy", "out_dtype", "new_dtype", "weak_type", "sharding")}
            out = JAX[name](xp, *ins, **params)
            outs = out if eqn.primitive.multiple_results else [out]
        for var, val in zip(eqn.outvars, outs):
            env[var] = val
    return [read(v) for v in jaxpr.outvars]


def _closed(xp: Any, closed: Any, args: Sequence[Any], constants: dict[float, str]) -> list[Any]:
    inner = getattr(closed, "jaxpr", closed)
    return _eval_jaxpr(inner, getattr(closed, "consts", ()), args, xp, constants)


def _cond(xp: Any, ins: list[Any], params: dict, constants: dict[float, str]) -> list[Any]:
    index, operands, branches = ins[0], ins[1:], params["branches"]
    if len(branches) != 2:
        raise TraceError(f"cond with {len(branches)} branches: only two (a boolean predicate) are supported")
    false, true = (_closed(xp, b, operands, constants) for b in branches)
    return [xp.where(index, t, f) for t, f in zip(true, false)]


_JAX_CALLS: dict[str, Callable[..., list[Any]]] = {
    "jit": lambda xp, ins, p, c: _closed(xp, p["jaxpr"], ins, c), "pjit": lambda xp, ins, p, c: _closed(xp, p["jaxpr"], ins, c),
    "closed_call": lambda xp, ins, p, c: _closed(xp, p["call_jaxpr"], ins, c),
    "custom_jvp_call": lambda xp, ins, p, c: _closed(xp, p["call_jaxpr"], ins, c),
    "custom_vjp_call": lambda xp, ins, p, c: _closed(xp, p["call_jaxpr"], ins, c),
    "custom_vjp_call_jaxpr": lambda xp, ins, p, c: _closed(xp, p["fun_jaxpr"], ins, c),
    "cond": _cond,
}


def _jax_parts(closed: Any) -> tuple[set[str], list[Any]]:
    """Every primitive a (closed) jaxpr uses, and every literal and constant in it, its sub-jaxprs' included."""
    jaxpr = getattr(closed, "jaxpr", closed)
    names, literals = set(), list(getattr(closed, "consts", ()))
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        literals += [v.val for v in eqn.invars if hasattr(v, "val")]
        for value in eqn.params.values():
            for sub in value if isinstance(value, tuple | list) else (value,):
                if hasattr(getattr(sub, "jaxpr", sub), "eqns"):
                    more = _jax_parts(sub)
                    names |= more[0]
                    literals += more[1]
    return names, literals


def _aten_name(target: Any) -> str:
    return target.overloadpacket.__name__ if hasattr(target, "overloadpacket") else getattr(target, "__name__", str(target))


def _eval_fx(module: Any, args: Sequence[Any], xp: Any, constants: dict[float, str]) -> list[Any]:
    env: dict[Any, Any] = {}
    placeholders = iter(args)

    def read(a: Any) -> Any:
        if isinstance(a, tuple | list):
            return type(a)(read(v) for v in a)
        return env[a] if a in env else _literal(xp, a, constants)

    for node in module.graph.nodes:
        if node.op == "placeholder":
            env[node] = next(placeholders)
        elif node.op == "call_function":
            kwargs = {k: read(v) for k, v in node.kwargs.items() if k not in ("dtype", "layout", "device", "pin_memory", "memory_format")}
            env[node] = ATEN[_aten_name(node.target)](xp, *(read(a) for a in node.args), **kwargs)
        elif node.op == "output":
            out = read(node.args[0])
            return list(out) if isinstance(out, tuple | list) else [out]
    raise TraceError("the traced torch graph has no output")


def _fx_literals(module: Any) -> list[Any]:
    return [a for node in module.graph.nodes for a in (*node.args, *node.kwargs.values()) if isinstance(a, float)]


# ---- tracing ----

def _names(fn: Callable, arity: int | None) -> tuple[str, ...]:
    """The input names: fn's first ``arity`` positional parameters (by default those without defaults); x, or x0, x1, ...
    where its signature cannot be read or does not name them."""
    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and (arity or p.default is p.empty)]
    except (TypeError, ValueError):
        params = []
    k = arity or len(params) or 1
    if len(params) < k or any(not n.isidentifier() or n in ("xp", "g", "out") or n.startswith("_") for n in params[:k]):
        return ("x",) if k == 1 else tuple(f"x{i}" for i in range(k))
    return tuple(params[:k])


def title(fn: Callable) -> str:
    """MODULE:NAME of fn (an autograd.Function's apply by its class), as ``load`` takes it."""
    fn = _owner(fn) or fn
    name = getattr(fn, "__name__" if inspect.isbuiltin(fn) else "__qualname__", None) or getattr(fn, "__name__", None)
    module = getattr(fn, "__module__", None)
    return f"{module}:{name}" if module and name else repr(fn)


def _owner(fn: Callable) -> type | None:
    """The class whose ``apply`` fn is (an autograd.Function), or None."""
    owner = getattr(fn, "__self__", None)
    return owner if isinstance(owner, type) and getattr(fn, "__name__", "") == "apply" else None


def _op_name(fn: Callable) -> str:
    raw = getattr(_owner(fn) or fn, "__name__", "") or "traced"
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in raw).strip("_")
    return name if name[:1].isalpha() and not keyword.iskeyword(name) else f"traced_{name}".rstrip("_")


def _make_op(fn: Callable, framework: str, inputs: tuple[str, ...], walk_forward: Callable, walk_vjp: Callable,
             run: Callable, constants: dict[float, str], domains: str | Sequence[str], kinks: Sequence[Kink], name: str | None,
             native: bool) -> Op:
    """The Op: on floats and arrays the framework runs (``run(kind, xs, g)``) unless native; otherwise the graph is walked."""
    framed = () if native else ("scalar", "array")

    def forward(xp: Any, *xs: Any) -> Any:
        if xp.kind in framed:
            return run(xp.kind, xs, None)
        return walk_forward(xp, xs)

    def vjp(xp: Any, g: Any, out: Any, *xs: Any) -> tuple:
        if xp.kind in framed:
            return tuple(run(xp.kind, xs, g))
        return tuple(walk_vjp(xp, xs, g))

    P = inspect.Parameter
    forward.__signature__ = inspect.Signature([P(n, P.POSITIONAL_ONLY) for n in ("xp", *inputs)])  # type: ignore[attr-defined]
    vjp.__signature__ = inspect.Signature([P(n, P.POSITIONAL_ONLY) for n in ("xp", "g", "out", *inputs)])  # type: ignore[attr-defined]
    forward.__name__, vjp.__name__ = f"{framework}_forward", f"{framework}_vjp"
    forward.constants = tuple(sorted(constants.items(), key=lambda kv: abs(kv[0])))  # type: ignore[attr-defined]
    forward.walks = (walk_forward, walk_vjp)  # type: ignore[attr-defined]
    read = "; ".join(f"{v!r} read as {c}" for v, c in forward.constants)  # type: ignore[attr-defined]
    doc = f"{title(fn)}, traced from {framework}" + (f" (constants: {read})" if read else "")
    domains = (domains,) * len(inputs) if isinstance(domains, str) else tuple(domains)
    return Op(name or _op_name(fn), forward, vjp, domains=domains, kinks=tuple(kinks), doc=doc)


def source(op: Op) -> str:
    """A traced rule as Python source: its forward and vjp written against ``xp``, one line per primitive, as a plugin
    ships them (``Op(name, name_fn, name_vjp)``); the framework is not needed to run it. Constants read as known ones
    are written exactly (``2 / xp.sqrt(xp.pi)``). TraceError where a primitive cannot be written so."""
    return "\n\n".join(functions(op))


def is_traced(op: Op) -> bool:
    """Whether op was traced by this module (its forward and vjp call the framework on floats and arrays)."""
    return getattr(op.forward, "walks", None) is not None


def functions(op: Op) -> tuple[str, str]:
    """``source``'s two functions apart: the forward's source and the vjp's."""
    if not is_traced(op):
        raise TraceError(f"op {op.name!r} was not traced by microreg.trace")
    walk_forward, walk_vjp = op.forward.walks  # type: ignore[attr-defined]
    inputs = ", ".join(op.inputs)
    written = []
    for fn_name, params, walk in ((op.name, inputs, lambda xp, xs: [walk_forward(xp, xs)]),
                                  (f"{op.name}_vjp", f"g, out, {inputs}", lambda xp, xs: walk_vjp(xp, xs, _Code("g", xp.lines)))):
        xp = _Source()
        outs = walk(xp, [_Code(n, xp.lines) for n in op.inputs])
        result = _text(outs[0]) if fn_name == op.name else "(" + "".join(f"{_text(o)}, " for o in outs).rstrip(" ") + ")"
        body = "".join(f"    {line}\n" for line in _used(xp.lines, result))
        written.append(f"def {fn_name}(xp, {params}):\n{body}    return {result}\n")
    return written[0], written[1]


def _used(lines: list[str], result: str) -> list[str]:
    """The lines the result needs (a fused kernel's row computes what its caller may not use)."""
    needed, kept = set(re.findall(r"\bt\d+\b", result)), []
    for line in reversed(lines):
        target, _, expression = line.partition(" = ")
        if target in needed:
            kept.append(line)
            needed |= set(re.findall(r"\bt\d+\b", expression))
    return kept[::-1]


def _text(value: Any) -> str:
    if isinstance(value, float) and value != value * 0:  # inf and nan: repr gives a name the source does not define
        return f"float({str(value)!r})"
    return value.text if isinstance(value, _Code) else repr(value)


class _Code:
    """A value in generated source: the expression that holds it; each operation on it writes one line to ``lines``."""

    def __init__(self, text: str, lines: list[str]) -> None:
        self.text, self.lines = text, lines

    def emit(self, template: str, *args: Any) -> _Code:
        name = f"t{len(self.lines)}"
        self.lines.append(f"{name} = {template.format(*map(_text, args))}")
        return _Code(name, self.lines)

    def __neg__(self) -> _Code:
        return self.emit("-{}", self)

    def __bool__(self) -> bool:
        raise TraceError(f"generated source cannot branch on {self.text} in Python (a 'not' of a condition, say)")

    __hash__ = object.__hash__


# the operators the rows use, each writing one line
for _name, _symbol in (("add", "+"), ("sub", "-"), ("mul", "*"), ("truediv", "/"), ("pow", "**"), ("gt", ">"), ("lt", "<"),
                       ("ge", ">="), ("le", "<="), ("eq", "=="), ("ne", "!="), ("and", "&"), ("or", "|")):
    setattr(_Code, f"__{_name}__", lambda a, b, s=_symbol: a.emit(f"{{}} {s} {{}}", a, b))
    setattr(_Code, f"__r{_name}__", lambda a, b, s=_symbol: a.emit(f"{{}} {s} {{}}", b, a))


class _Source:
    """The xp namespace that writes source: each function call a line ``tN = xp.name(...)``."""

    kind = "source"

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.pi, self.e = _Code("xp.pi", self.lines), _Code("xp.e", self.lines)

    def __getattr__(self, name: str) -> Callable[..., _Code]:
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args: Any) -> _Code:
            return _Code("", self.lines).emit(f"xp.{name}({', '.join(['{}'] * len(args))})", *args)

        return call

    def constant(self, text: str) -> _Code:
        """A constant of CONSTANTS (SymPy's spelling) in xp's."""
        code = re.sub(r"\bE\b", "xp.e", re.sub(r"\bpi\b", "xp.pi", re.sub(r"\b(sqrt|log)\(", r"xp.\1(", text)))
        return _Code(f"({code})", self.lines)


def constants_of(op: Op) -> tuple[tuple[float, str], ...]:
    """The literals of a traced op's code read as known constants on symbols: (value, the constant), smallest first."""
    return getattr(op.forward, "constants", ())


def _unknown(fn: Callable, framework: str, table: str, names: set[str]) -> None:
    if names:
        raise TraceError(f"{title(fn)} uses the {framework} primitive(s) {', '.join(sorted(names))}, which microreg.trace.{table} "
                         f"has no row for: add one (a function of xp, the inputs and the primitive's parameters) to audit it")


def jax(fn: Callable, arity: int | None = None, *, domains: str | Sequence[str] = (), kinks: Sequence[Kink] = (),
        name: str | None = None, native: bool = False) -> Op:
    """A JAX function of scalars (elementwise on arrays; a ``custom_vjp``/``custom_jvp`` rule or a plain function) as an Op:
    forward and vjp traced with ``jax.make_jaxpr`` in float64. ``arity`` is its number of inputs (by default, its
    positional parameters without defaults); ``domains``, ``kinks`` and ``name`` are the Op's. ``native``: the traced rule
    as a microreg op, computed by microreg on every backend (floats and arrays too) from the rows, so that it can be
    registered, used on Values and exported (the JAX function still traced, JAX still needed); by default JAX computes
    on floats and arrays, so the audit measures JAX's own accuracy. TraceError where it cannot be traced or uses a
    primitive with no row in ``JAX``."""
    jx = importlib.import_module("jax")
    inputs = _names(fn, arity)
    n = len(inputs)

    def pullback(*xg: Any) -> Any:
        return jx.vjp(fn, *xg[:n])[1](xg[n])

    try:
        with jx.enable_x64(True):
            closed = [jx.make_jaxpr(fn)(*[1.0] * n), jx.make_jaxpr(pullback)(*[1.0] * (n + 1))]
    except Exception as exc:
        raise TraceError(f"{title(fn)} cannot be traced by jax.make_jaxpr with {n} scalar input(s) {inputs}: "
                         f"{type(exc).__name__}: {exc}") from None
    parts = [_jax_parts(c) for c in closed]
    _unknown(fn, "JAX", "JAX", set().union(*(names for names, _ in parts)) - JAX.keys() - _JAX_CALLS.keys())
    constants = constants_in([v for _, literals in parts for v in literals])
    # on arrays, the function of scalars mapped over their elements (vmap): elementwise, whatever it does inside (lax.cond)
    compiled = {"scalar": (jx.jit(fn), jx.jit(pullback)), "array": (jx.jit(jx.vmap(fn)), jx.jit(jx.vmap(pullback)))}

    def run(kind: str, xs: Sequence[Any], g: Any) -> Any:
        import numpy as np

        forward, backward = compiled[kind]
        args = [*xs] if g is None else [*xs, g]
        shape = np.broadcast_shapes(*(np.shape(a) for a in args))
        flat = [a if kind == "scalar" else np.broadcast_to(a, shape).ravel() for a in args]
        with jx.enable_x64(True):
            got = forward(*flat) if g is None else backward(*flat)
        if kind == "scalar":
            return float(got) if g is None else [float(v) for v in got]
        return np.asarray(got, dtype=np.float64).reshape(shape) if g is None else [
            np.asarray(v, dtype=np.float64).reshape(shape) for v in got]

    return _make_op(fn, "jax", inputs,
                    lambda xp, xs: _closed(xp, closed[0], xs, constants)[0],
                    lambda xp, xs, g: _closed(xp, closed[1], (*xs, g), constants),
                    run, constants, domains, kinks, name, native)


def torch(fn: Callable, arity: int | None = None, *, domains: str | Sequence[str] = (), kinks: Sequence[Kink] = (),
          name: str | None = None, native: bool = False) -> Op:
    """A PyTorch function of scalar tensors (elementwise on tensors; an ``autograd.Function`` class, its ``apply``, or a
    plain function) as an Op: forward and backward traced with ``make_fx`` in float64, the backward as
    ``torch.autograd.grad(fn(*xs), xs, g)``. Arguments as for ``jax``; TraceError naming an ATen op with no row in ``ATEN``."""
    tc = importlib.import_module("torch")
    make_fx = importlib.import_module("torch.fx.experimental.proxy_tensor").make_fx
    if isinstance(fn, type) and issubclass(fn, tc.autograd.Function):
        fn = getattr(fn, "apply")  # noqa: B009 (mypy does not know the apply of torch's Function classes)
    owner: Any = _owner(fn)
    inputs = _names(fn, arity) if owner is None or arity else _names(owner.forward, None)[1:] or ("x",)  # forward(ctx, *inputs)
    n = len(inputs)

    def call(*xs: Any) -> Any:  # make_fx traces one input per parameter of what it traces: these, not fn's defaults
        return fn(*xs)

    def pullback(*xg: Any) -> Any:
        xs = [x.detach().requires_grad_(True) for x in xg[:n]]
        with tc.enable_grad():
            return tc.autograd.grad(call(*xs), xs, xg[n], allow_unused=True)

    ones = [tc.tensor(1.0, dtype=tc.float64) for _ in range(n + 1)]  # one tensor each: make_fx would trace one tensor as one input
    try:
        graphs = [make_fx(call)(*ones[:n]), make_fx(pullback)(*ones)]
    except Exception as exc:
        raise TraceError(f"{title(fn)} cannot be traced by make_fx with {n} scalar tensor(s) {inputs}: "
                         f"{type(exc).__name__}: {exc}") from None
    _unknown(fn, "ATen", "ATEN", {_aten_name(node.target) for gm in graphs for node in gm.graph.nodes
                                   if node.op == "call_function"} - ATEN.keys())
    constants = constants_in([v for gm in graphs for v in _fx_literals(gm)])

    def run(kind: str, xs: Sequence[Any], g: Any) -> Any:
        import numpy as np

        ts = [tc.as_tensor(x, dtype=tc.float64) for x in xs]
        if g is None:
            with tc.no_grad():
                got = call(*ts)
            return float(got) if kind == "scalar" else got.numpy().astype(np.float64)
        got = pullback(*ts, tc.as_tensor(g, dtype=tc.float64))
        zero = [tc.zeros_like(t) if v is None else v for t, v in zip(ts, got)]
        return [float(v) if kind == "scalar" else v.detach().numpy().astype(np.float64) for v in zero]

    return _make_op(fn, "torch", inputs,
                    lambda xp, xs: _eval_fx(graphs[0], xs, xp, constants)[0],
                    lambda xp, xs, g: _eval_fx(graphs[1], (*xs, g), xp, constants),
                    run, constants, domains, kinks, name, native)


def load(path: str) -> Callable:
    """The function (or autograd.Function class) ``MODULE:FUNCTION`` names (``jax.nn:sigmoid``), its module imported;
    TraceError saying what is missing."""
    module, sep, attr = path.partition(":")
    if not sep or not module or not attr:
        raise TraceError(f"expected MODULE:FUNCTION (jax.nn:sigmoid), got {path!r}")
    try:
        found: Any = importlib.import_module(module)
    except ImportError as exc:
        raise TraceError(f"cannot import {module!r} for {path!r}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(found, part):
            raise TraceError(f"module {module!r} has no {attr!r} (for {path!r})")
        found = getattr(found, part)
    if not callable(found):
        raise TraceError(f"{path!r} is {found!r}, not a function")
    return found
