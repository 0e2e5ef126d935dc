"""Op: the record of one differentiable operation (forward, vjp, jvp, domains, kinks, accuracy bound)."""

from __future__ import annotations

import copy
import inspect
import keyword
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Input domains an op may declare, with the condition a value must meet.
DOMAINS: dict[str, str] = {
    "real": "any real number",
    "positive": "> 0",
    "nonnegative": ">= 0",
    "nonzero": "!= 0",
}

REQUIRED = inspect.Parameter.empty


class OpError(TypeError):
    """An op record is malformed: the message names the op and what is wrong."""


@dataclass(frozen=True)
class Kink:
    """A point where the op is not differentiable, and the cotangents its vjp returns there for g = 1.

    ``Kink(at=0.0, grad=0.0)`` for a unary op; tuples, one entry per input, for a binary one.
    Checked with the op's default static parameters.
    """

    at: tuple[float, ...]
    grad: tuple[float | None, ...]

    def __init__(self, at: float | tuple[float, ...], grad: float | None | tuple[float | None, ...]):
        object.__setattr__(self, "at", tuple(at) if isinstance(at, tuple | list) else (at,))
        object.__setattr__(self, "grad", tuple(grad) if isinstance(grad, tuple | list) else (grad,))


@dataclass(frozen=True)
class Accuracy:
    """An accuracy an op declares on purpose, looser than the audit's default, and why.

    ``ulps``: the bound on its error (the audit's default is 16); ``up_to``: the largest |input| it is
    meant for, where it cannot be accurate beyond (``x * x`` overflows for |x| above 1.3e154), None
    for every float; ``dtype``: the float type it is for, "float64" (the audit's) or one an exported op
    runs in ("float32", "float16", "bfloat16": ``microreg audit --dtype``). The audit judges the op against
    these and shows the reason: ``Op(..., accuracy=Accuracy(16, "x * x overflows beyond", up_to=1e150))``;
    a tuple of them declares several dtypes.
    """

    ulps: float
    reason: str
    up_to: float | None = None
    dtype: str = "float64"


DTYPES = ("float64", "float32", "float16", "bfloat16")


@dataclass(frozen=True, eq=False)
class Op:
    """One differentiable operation.

    ``forward(xp, *inputs, **params)`` computes the output; ``vjp(xp, g, out, *inputs, **params)``
    returns one cotangent per input (``None`` for zero). Both use only ``xp`` and the operators on
    their arguments, so they run on floats, NumPy arrays, SymPy symbols and ``Value``s alike.
    Inputs are the positional parameters after ``xp``; static parameters are keyword-only.

    ``jvp(xp, tangents, out, *inputs, **params)``, for forward mode, returns the output's tangent for a tuple of
    tangents, one per input of its shape. An elementwise op need not declare it: its jvp is then derived from the
    vjp, which is linear in ``g`` (``derived_jvp``). An op with ``shapes`` declares its own, or has none.

    Variadic: a ``*name`` parameter (in both functions) takes any number of further inputs; such an op
    declares ``arities``, the input counts it is audited and tested at, and ``op.at(n)`` is the op
    with n named inputs (``name[0]``, ``name[1]``, ...). ``shapes`` marks an op that is not
    elementwise (matmul): example shapes of its inputs, at which the audit proves it on arrays of symbols.
    """

    name: str
    forward: Callable[..., Any]
    vjp: Callable[..., tuple[Any, ...]]
    domains: tuple[str, ...] = ()
    kinks: tuple[Kink, ...] = ()
    examples: tuple[Mapping[str, Any], ...] = ()
    doc: str = ""
    arities: tuple[int, ...] = ()
    shapes: tuple[tuple[tuple[int, ...], ...], ...] = ()
    accuracy: Accuracy | tuple[Accuracy, ...] | None = None
    jvp: Callable[..., Any] | None = None  # derived from the vjp for an elementwise op that declares none
    inputs: tuple[str, ...] = field(init=False)
    params: Mapping[str, Any] = field(init=False)
    variadic: str | None = field(init=False)
    arity: int | None = field(init=False)  # the number of inputs; None for a variadic op (at(n) has n)
    _fixed: dict[int, Op] = field(init=False, repr=False, compare=False)  # at(n) of a variadic op, made once per n

    def __post_init__(self) -> None:
        name = self.name
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_") or keyword.iskeyword(name):
            raise OpError(f"op name {name!r} must be a Python identifier, not a keyword, not starting with '_'")
        for role in ("forward", "vjp"):
            if not callable(getattr(self, role)):
                raise OpError(f"op {name!r}: {role} must be callable, got {getattr(self, role)!r}")
        inputs, params = _signature(name, "forward", self.forward, lead=("xp",))
        vjp_inputs, vjp_params = _signature(name, "vjp", self.vjp, lead=("xp", "g", "out"))
        if len(vjp_inputs) != len(inputs) or inputs[-1].startswith("*") != vjp_inputs[-1].startswith("*"):
            raise OpError(
                f"op {name!r}: vjp must take (xp, g, out, {', '.join(inputs)}), one argument per input "
                f"of forward, but takes (xp, g, out, {', '.join(vjp_inputs)})"
            )
        if set(vjp_params) != set(params):
            raise OpError(f"op {name!r}: forward's static parameters {sorted(params)} differ from vjp's {sorted(vjp_params)}")
        if self.jvp is not None:
            if not callable(self.jvp):
                raise OpError(f"op {name!r}: jvp must be callable or None, got {self.jvp!r}")
            jvp_inputs, jvp_params = _signature(name, "jvp", self.jvp, lead=("xp", "tangents", "out"))
            if jvp_inputs != inputs or set(jvp_params) != set(params):
                raise OpError(f"op {name!r}: jvp must take (xp, tangents, out, {', '.join(inputs)}) and the static parameters "
                              f"{sorted(params)}, as forward does, but takes (xp, tangents, out, {', '.join(jvp_inputs)}) "
                              f"and {sorted(jvp_params)}")
        domains = (self.domains,) if isinstance(self.domains, str) else tuple(self.domains) or ("real",) * len(inputs)
        if len(domains) != len(inputs) or not set(domains) <= DOMAINS.keys():
            raise OpError(f"op {name!r}: domains must be a tuple with one of {sorted(DOMAINS)} per input {inputs}, got {self.domains!r}")
        variadic = inputs[-1][1:] if inputs[-1].startswith("*") else None
        arities, shapes = tuple(self.arities), tuple(tuple(tuple(s) for s in example) for example in self.shapes)
        if variadic and (not arities or not all(isinstance(n, int) and n >= len(inputs) for n in arities)):
            raise OpError(f"op {name!r}: a variadic op declares arities, the input counts (at least {len(inputs)}) "
                          f"it is audited at, got {self.arities!r}")
        if not variadic and arities:
            raise OpError(f"op {name!r}: arities are for an op with a *{inputs[-1]} input; this one takes {len(inputs)}")
        if shapes and (variadic or not all(len(example) == len(inputs) and all(n >= 1 for s in example for n in s)
                                           for example in shapes)):
            raise OpError(f"op {name!r}: shapes must give one shape (a tuple of sizes >= 1) per input {inputs} "
                          f"in each example, for an op that is not variadic, got {self.shapes!r}")
        kinks = tuple(self.kinks)
        if kinks and (variadic or shapes):
            raise OpError(f"op {name!r}: a variadic op, or one with shapes, cannot declare kinks")
        for k in kinks:
            if (not isinstance(k, Kink) or len(k.at) != len(inputs) or len(k.grad) != len(inputs)
                    or not all(isinstance(v, int | float) for v in (*k.at, *(g for g in k.grad if g is not None)))):
                raise OpError(f"op {name!r}: kinks must be Kink(at, grad) with one number per input {inputs}, got {k!r}")
        bounds = self.accuracy if isinstance(self.accuracy, tuple) else () if self.accuracy is None else (self.accuracy,)
        for bound in bounds:
            if (not isinstance(bound, Accuracy) or not _positive(bound.ulps) or not isinstance(bound.reason, str)
                    or not bound.reason.strip() or not (bound.up_to is None or _positive(bound.up_to)) or bound.dtype not in DTYPES):
                raise OpError(f"op {name!r}: accuracy must be Accuracy(ulps, reason, up_to=None, dtype='float64') with a positive "
                              f"number of ulps, the reason in words, a positive up_to if any and a dtype of {DTYPES} (or a tuple "
                              f"of them), got {bound!r}")
        if len({b.dtype for b in bounds}) != len(bounds):
            raise OpError(f"op {name!r}: one Accuracy per dtype, got {self.accuracy!r}")
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "variadic", variadic)
        object.__setattr__(self, "arity", None if variadic else len(inputs))
        object.__setattr__(self, "arities", arities)
        object.__setattr__(self, "shapes", shapes)
        object.__setattr__(self, "jvp", self.jvp if self.jvp is not None or shapes else derived_jvp(self.vjp))
        object.__setattr__(self, "_fixed", {})
        object.__setattr__(self, "domains", domains)
        object.__setattr__(self, "kinks", kinks)
        examples = tuple(dict(e) for e in self.examples) or ({},)
        for example in examples:
            unknown = example.keys() - params.keys()
            missing = [k for k, d in params.items() if d is REQUIRED and k not in example]
            if unknown or missing:
                raise OpError(
                    f"op {name!r}: each example must give values for the static parameters {sorted(params)} "
                    f"(required: {[k for k, d in params.items() if d is REQUIRED]}), got {example!r}"
                )
        object.__setattr__(self, "examples", tuple({**{k: d for k, d in params.items() if d is not REQUIRED}, **e} for e in examples))
        object.__setattr__(self, "doc", self.doc or inspect.getdoc(self.forward) or "")

    @property
    def declares_jvp(self) -> bool:
        """Whether the op has a jvp of its own, not the one derived from its vjp (``derived_jvp``)."""
        return self.jvp is not None and getattr(self.jvp, "transposes", None) is not self.vjp

    def accuracy_in(self, dtype: str = "float64") -> Accuracy | None:
        """The Accuracy the op declares for dtype, or None (the audit's default bound)."""
        bounds = self.accuracy if isinstance(self.accuracy, tuple) else (self.accuracy,)
        return next((b for b in bounds if b is not None and b.dtype == dtype), None)

    def forms(self) -> tuple[Op, ...]:
        """The op at each arity it is audited and tested at: ``(self,)`` unless it is variadic."""
        return tuple(self.at(n) for n in self.arities) if self.variadic else (self,)

    def at(self, n: int) -> Op:
        """This op taking n inputs: itself for an op of that arity; for a variadic op, the op with its
        variadic inputs named ``name[0]``, ``name[1]``, ... (made once per n). TypeError naming the op otherwise."""
        if not self.variadic:
            if n == len(self.inputs):
                return self
            raise TypeError(f"{self.name}() takes {len(self.inputs)} input(s) {self.inputs}, got {n}")
        fixed = self._fixed.get(n)
        if fixed is None:
            if not isinstance(n, int) or n < len(self.inputs) - 1 or n < 1:
                raise TypeError(f"{self.name}() takes at least {max(1, len(self.inputs) - 1)} input(s) {self.inputs}, got {n}")
            fixed = copy.copy(self)
            k = n - len(self.inputs) + 1
            object.__setattr__(fixed, "inputs", self.inputs[:-1] + tuple(f"{self.variadic}[{i}]" for i in range(k)))
            object.__setattr__(fixed, "domains", self.domains[:-1] + self.domains[-1:] * k)
            object.__setattr__(fixed, "variadic", None)
            object.__setattr__(fixed, "arity", n)
            object.__setattr__(fixed, "arities", ())
            fixed = self._fixed.setdefault(n, fixed)
        return fixed

    def bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Static parameters from a method call's extra arguments, checked against the signature."""
        names = list(self.params)
        if len(args) > len(names):
            raise TypeError(f"{self.name}() takes {len(names)} static parameter(s) {names}, got {len(args)}: {args}")
        bound = dict(zip(names, args))
        for key, val in kwargs.items():
            if key not in self.params:
                raise TypeError(f"{self.name}() got an unexpected parameter {key!r}; it takes {names}")
            if key in bound:
                raise TypeError(f"{self.name}() got parameter {key!r} twice")
            bound[key] = val
        missing = [n for n, d in self.params.items() if d is REQUIRED and n not in bound]
        if missing:
            raise TypeError(f"{self.name}() is missing static parameter(s) {missing}")
        return bound

    @property
    def signature(self) -> str:
        """The op as a call: ``leaky_relu(x, negative_slope=0.01)``, a required static parameter by its name alone."""
        params = "".join(f", {k}" if d is REQUIRED else f", {k}={d!r}" for k, d in self.params.items())
        return f"{self.name}({', '.join(self.inputs)}{params})"

    def __repr__(self) -> str:
        return f"Op({self.signature})"


def derived_jvp(vjp: Callable[..., tuple[Any, ...]]) -> Callable[..., Any]:
    """The jvp of an elementwise op, from its vjp: the vjp is linear in g, so its cotangent for input i at g = t_i is
    t_i * d out / d x_i, and the output's tangent is the sum of these over the inputs (a None cotangent is zero). Each
    tangent stands where a cotangent would, of the same type, so the vjp runs as it always does (exact on symbols)."""

    def jvp(xp: Any, tangents: tuple[Any, ...], out: Any, *inputs: Any, **params: Any) -> Any:
        total = None
        for i, t in enumerate(tangents):
            part = vjp(xp, t, out, *inputs, **params)[i]
            if part is not None:
                total = part if total is None else total + part
        return 0 * out if total is None else total

    jvp.__name__ = jvp.__qualname__ = f"{getattr(vjp, '__name__', 'vjp')}_transposed"
    jvp.transposes = vjp  # type: ignore[attr-defined]  # marks it derived: at a unit tangent it computes what the vjp does at g = 1
    return jvp


def _positive(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and 0 < v < float("inf")


def _signature(name: str, role: str, fn: Callable[..., Any], lead: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Split fn's parameters into the leading ones, the inputs and the static keyword parameters."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise OpError(f"op {name!r}: cannot read the signature of {role}: {exc}") from None
    positional: list[str] = []
    params: dict[str, Any] = {}
    for p in sig.parameters.values():
        if p.kind == p.VAR_KEYWORD or p.kind == p.VAR_POSITIONAL and len(positional) < len(lead):
            raise OpError(f"op {name!r}: {role} may not take **kwargs, nor *args in place of {', '.join(lead)} ({p})")
        if p.kind == p.VAR_POSITIONAL:
            positional.append(f"*{p.name}")
        elif p.kind == p.KEYWORD_ONLY:
            params[p.name] = p.default
        elif p.default is not p.empty:
            raise OpError(f"op {name!r}: {role}'s static parameter {p.name!r} must be keyword-only (after a '*')")
        else:
            positional.append(p.name)
    if len(positional) < len(lead) + 1:
        raise OpError(f"op {name!r}: {role} must take ({', '.join(lead)}, <inputs>...), takes {tuple(positional)}")
    return tuple(positional[len(lead):]), params


def code_names(code: types.CodeType) -> set[str]:
    """Every global or attribute name a function's code (and the code nested in it) refers to."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= code_names(const)
    return names
