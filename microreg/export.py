"""Export a registered op to PyTorch or JAX: its forward and its audited vjp and jvp, run on the framework's own arrays.

``microreg.export.torch("gelu")`` is a function of torch tensors whose backward is gelu's registered
vjp and whose forward-mode derivative its jvp (a ``torch.autograd.Function``); ``microreg.export.jax("gelu")``
is a ``jax.custom_jvp`` function of JAX arrays, whose jvp JAX transposes for reverse mode. Static
parameters are keyword arguments: ``f(x, negative_slope=0.2)``.

The op's functions run unchanged on an xp namespace of the framework (its column of the table
in ``microreg.functions``). A registered op called by name inside another (``xp.sigmoid`` in
softplus's vjp) is its own export there, so every derivative, of any order, comes from a registered
vjp or jvp. Neither framework is imported until an op is exported to it.

Where an op is undefined (``log`` of a negative number) the export does what the framework does
(NaN or infinity, no error: checking would stop the device); ``torch.autograd.detect_anomaly()`` and
``jax.config.update("jax_debug_nans", True)`` are the frameworks' own ways to catch it.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from typing import Any

from .backends import Namespace
from .functions import column
from .op import REQUIRED, Op
from .plugins import install_hint, registry
from .value import _sum_to


class Framework(Namespace):
    """The xp namespace of a framework: its functions from its column of the table, and each registered op as its export."""

    def __init__(self, kind: str, functions: dict[str, Any], export: Callable[[Op], Callable]) -> None:
        super().__init__(registry, functions)
        self.kind = kind
        self._export = export
        registry.subscribe(self._update)
        self._update()

    def _update(self, *change: Any) -> None:
        """Every registered op resolved to its export now, at once and again on every registry change, never while
        torch.compile traces a call: building an op's export (a class) is not something it can trace."""
        self.forget_ops()
        for name in registry.ops():
            getattr(self, name)

    def _op(self, op: Op) -> Callable:
        return _any_arity(op, self._export)


#: Each framework's namespace, built when its first op is exported. The exported functions find it
#: here, not in a closure, because torch.compile can trace a global but not a closed-over object.
XP: dict[str, Framework] = {}


def _op(op: Op | str) -> Op:
    if isinstance(op, Op):
        return op
    if isinstance(op, str):
        return registry.get(op)
    raise TypeError(f"export takes an op name or a microreg.Op, got {op!r} ({type(op).__name__})")


def _static(op: Op, inputs: tuple, params: dict[str, Any]) -> tuple:
    """The static parameters of a call, in op.params order with defaults filled in; TypeError naming the op otherwise."""
    if len(inputs) != op.arity:
        raise TypeError(f"{op.name}() takes {op.arity} input(s) ({', '.join(op.inputs)}), got {len(inputs)}")
    bound = op.bind((), params)
    return tuple(bound.get(k, d) for k, d in op.params.items())


# -- PyTorch ---------------------------------------------------------------------------------------


def _torch_functions() -> dict[str, Any]:
    """The torch column loaded; torch's functions take tensors only, but an op may call xp.sqrt(2), so numbers become tensors."""
    import torch

    def numbers_as_tensors(fn: Callable) -> Callable:
        def call(*args: Any) -> Any:
            ref = next((a for a in args if isinstance(a, torch.Tensor)), None)
            like = {"dtype": torch.float64} if ref is None else {"dtype": ref.dtype, "device": ref.device}
            return fn(*(a if isinstance(a, torch.Tensor) else torch.as_tensor(a, **like) for a in args))

        call.__name__ = fn.__name__
        return call

    functions = column("torch")
    tensors_only = ("where", "pow", "sum", "transpose")  # called with tensors, or with keyword arguments (sum's axis)
    return {name: numbers_as_tensors(fn) if callable(fn) and name not in tensors_only else fn for name, fn in functions.items()}


def _torch_unbroadcast(grad: Any, x: Any) -> Any:
    """A cotangent summed back to the shape of its input by the engine's own unbroadcast; a number first made a
    tensor, and a cotangent smaller than its input expanded, as torch's backward must return each input's shape."""
    import torch

    if not isinstance(grad, torch.Tensor):
        return x.new_full(x.shape, grad)
    return _sum_to(grad.expand(torch.broadcast_shapes(grad.shape, x.shape)), x.shape)


def _torch_broadcast(t: Any, out: Any) -> Any:
    """A jvp's tangent as a tensor of the output's shape and dtype (a number, or a smaller tensor, broadcast to it)."""
    import torch

    if not isinstance(t, torch.Tensor):
        return out.new_full(out.shape, t)
    return t.expand(out.shape).to(out.dtype) if t.shape != out.shape else t.to(out.dtype)


@functools.cache
def _torch(op: Op) -> Callable:
    import torch

    forward_fn, vjp_fn, jvp_fn, n, names = op.forward, op.vjp, op.jvp, op.arity, tuple(op.params)

    def forward(*args: Any) -> Any:
        return forward_fn(XP["torch"], *args[:n], **dict(zip(names, args[n:])))

    def setup_context(ctx: Any, args: tuple, out: Any) -> None:
        ctx.save_for_backward(*args[:n], out)
        ctx.save_for_forward(*args[:n], out)
        ctx.params = dict(zip(names, args[n:]))

    def jvp(ctx: Any, *tangents: Any) -> Any:
        if jvp_fn is None:
            raise NotImplementedError(f"op {op.name!r} declares no jvp, so it has no forward mode: Op(..., jvp=...)")
        *xs, out = ctx.saved_tensors
        ts = tuple(torch.zeros_like(x) if t is None else t for t, x in zip(tangents, xs))
        return _torch_broadcast(jvp_fn(XP["torch"], ts, out, *xs, **ctx.params), out)

    def backward(ctx: Any, g: Any) -> tuple:
        *xs, out = ctx.saved_tensors
        cotangents = vjp_fn(XP["torch"], g, out, *xs, **ctx.params)
        return (*(None if not need else _torch_unbroadcast(0.0 if c is None else c, x)
                  for c, x, need in zip(cotangents, xs, ctx.needs_input_grad)),
                *(None for _ in names))

    # a class named after the op, so that a tensor's grad_fn reads <geluBackward>; torch.func.vmap's rule generated.
    # Two: torch.compile cannot trace a Function that defines jvp, so what it traces has none (no forward mode there).
    rules = {"forward": staticmethod(forward), "setup_context": staticmethod(setup_context),
             "backward": staticmethod(backward), "generate_vmap_rule": True}
    Function = type(op.name, (torch.autograd.Function,), {**rules, "jvp": staticmethod(jvp)})
    Traced = type(op.name, (torch.autograd.Function,), rules)

    def exported(*inputs: Any, **params: Any) -> Any:
        static = _static(op, inputs, params)
        ref = next((x for x in inputs if isinstance(x, torch.Tensor)), None)
        if ref is None:
            raise TypeError(f"{op.name}() exported to torch takes tensors, got {inputs!r}")
        tensors = (x if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=ref.dtype, device=ref.device) for x in inputs)
        if not torch.is_grad_enabled():
            # nothing to differentiate, as inside another op's forward: the forward itself, since torch.compile
            # cannot trace a Function applied with static parameters inside another Function's forward
            return forward(*tensors, *static)
        return (Traced if torch.compiler.is_compiling() else Function).apply(*tensors, *static)

    return _named(exported, op, "torch")


def torch(op: Op | str) -> Callable:
    """op (a registered name or an Op) as a function of torch tensors, differentiable to any order through its vjp.

    Inputs are tensors of any floating dtype on any device (plain numbers are taken as tensors beside
    them); they broadcast, and each gradient is summed back to its input's shape. Static parameters
    are keyword arguments with the op's defaults: ``torch("leaky_relu")(x, negative_slope=0.2)``.
    """
    if "torch" not in XP:
        XP["torch"] = Framework("torch", _torch_functions(), _torch)
    return _any_arity(_op(op), _torch)


# -- JAX -------------------------------------------------------------------------------------------


@functools.cache
def _jax(op: Op) -> Callable:
    import jax
    import jax.numpy as jnp

    forward_fn, jvp_fn, n, names = op.forward, op.jvp, op.arity, tuple(op.params)

    def forward(*args: Any) -> Any:
        return forward_fn(XP["jax"], *args[:n], **dict(zip(names, args[n:])))

    def rule(*args: Any) -> tuple:
        *static, xs, ts = args
        if jvp_fn is None:
            raise NotImplementedError(f"op {op.name!r} declares no jvp, so JAX cannot differentiate its export: Op(..., jvp=...)")
        out = forward(*xs, *static)
        t = jvp_fn(XP["jax"], tuple(ts), out, *xs, **dict(zip(names, static)))
        return out, jnp.broadcast_to(t, jnp.shape(out)).astype(jnp.result_type(out))

    function = jax.custom_jvp(forward, nondiff_argnums=tuple(range(n, n + len(names))))
    function.defjvp(rule)

    def exported(*inputs: Any, **params: Any) -> Any:
        static = _static(op, inputs, params)
        traced = [k for k, v in zip(names, static) if isinstance(v, jax.core.Tracer)]
        if traced:  # a custom_jvp would take it, and its derivative would be a silent 0
            raise TypeError(f"{op.name}(): the static parameter(s) {traced} are traced by JAX (an argument of jax.jit, or "
                            "differentiated): a static parameter is a number, never differentiated; under jax.jit, mark "
                            "it static (static_argnames)")
        return function(*inputs, *static)

    return _named(exported, op, "jax")


def jax(op: Op | str) -> Callable:
    """op (a registered name or an Op) as a ``jax.custom_jvp`` function of JAX arrays, whose jvp is the op's.

    JAX transposes the jvp for reverse mode (the audit proves it the transpose of the vjp), so it works under
    ``jax.jvp``, ``jacfwd``, ``jax.grad``, ``jacrev`` and ``hessian`` (to any order), ``jax.jit`` and ``jax.vmap``;
    inputs broadcast. Static parameters are keyword arguments, not differentiated (``nondiff_argnums``):
    ``jax("leaky_relu")(x, negative_slope=0.2)``.
    """
    if "jax" not in XP:
        XP["jax"] = Framework("jax", column("jax"), _jax)
    return _any_arity(_op(op), _jax)


def _any_arity(op: Op, export: Callable[[Op], Callable]) -> Callable:
    """export(op); for a variadic op, a function of any number of inputs calling the export of op.at(n)."""
    if not op.variadic:
        return export(op)

    def exported(*inputs: Any, **params: Any) -> Any:
        return export(op.at(len(inputs)))(*inputs, **params)

    exported.__name__ = exported.__qualname__ = op.name
    exported.__doc__ = export(op.at(op.arities[0])).__doc__
    return exported


def _named(fn: Callable, op: Op, framework: str) -> Callable:
    fn.__name__ = fn.__qualname__ = op.name
    fn.__doc__ = f"{op.signature} on {framework} arrays, exported from microreg.\n\n{op.doc}"
    return fn



#: What an export is, in each framework.
KINDS = {"torch": "torch.autograd.Function", "jax": "jax.custom_jvp function"}


def usage(op: Op | str, framework: str) -> str:
    """How to use op in framework ("torch" or "jax"): the Python that ``microreg export OP --to FRAMEWORK`` prints."""
    if framework not in KINDS:
        raise ValueError(f"export to one of {sorted(KINDS)}, not {framework!r}")
    op = _op(op)
    params = "".join(f", {k}={'...' if d is REQUIRED else repr(d)}" for k, d in op.params.items())
    call = f"{op.name}({', '.join(op.inputs)}{params})"
    origin = registry.origin(op.name) if registry.find(op.name) is op else None
    source = f"from plugin {origin.name} {origin.version or ''}".rstrip() if origin else "(an op not registered)"
    rule = "backward is the op's registered vjp, its forward mode the jvp" if framework == "torch" else \
        "derivatives come from the op's registered jvp (JAX transposes it for reverse mode)"
    lines = [f"# {call}, {source}, as a {KINDS[framework]}.",
             f"# Its {rule}: `microreg audit {op.name} --order 2` proves both.",
             "# More: pydoc microreg.export"]
    if importlib.util.find_spec(framework) is None:
        lines.append(f"# {framework} is not installed here: {install_hint(framework)}")
    lines += [f"import {framework}", "from microreg import export", "", f'{op.name} = export.{framework}("{op.name}")']
    if framework == "torch":
        lines.append(f"out = {call}  # tensors of any float dtype, on any device; they broadcast")
        if op.arity == 1:
            lines += ["", "class Layer(torch.nn.Module):  # as a layer of a model", "    def forward(self, x):",
                      f"        return {op.name}(x{params})"]
    else:
        lines += [f"out = {call}  # JAX arrays; they broadcast",
                  f"grad = jax.grad(lambda {', '.join(op.inputs)}: {call}.sum())  # under jax.jit and jax.vmap too"]
    return "\n".join(lines)
