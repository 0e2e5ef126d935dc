"""Accuracy in the dtypes an exported op runs in: the op after ``export.torch`` and ``export.jax`` in float32, float16 or
bfloat16, forward and every gradient, against the exact value, in ulps of that dtype; beside it the framework's own op.

A model that outgrows microreg runs in PyTorch or JAX, in float32 by default, or in 16 bits: a cutoff written for
float64 can be wrong there. So ``measure(op, dtype)`` runs the export on arrays of inputs of that dtype:

- **float16, bfloat16**: every one of the 65,536 values (for an op of two inputs, every pair on a lattice of every
  256th value);
- **float32**: a dense sample: the special values, subnormals, four values in every binade, and 4,096 random bit
  patterns (for two inputs, pairs of 256 of them).

The exact value is the op's float64 result at the same (exactly representable) inputs, through the float64 export:
the float64 audit measures that against mpmath, and its error (16 float64 ulps at most, times the condition number)
is 2**-28 of a float32 ulp. The error is counted in ulps of the dtype at the exact value and, as in float64,
divided by the result's condition number where that exceeds 1 (from the float64 export's second derivatives), so
that an op is not blamed for the rounding of its inputs to the dtype. Results whose exact value overflows the dtype
are not measured. An op is ``accurate`` when every result of its export to torch is within its bound (16 ulps, or
the ``Accuracy`` it declares for the dtype, with a reason). JAX's export is measured too and reported beside it, not
judged: XLA flushes subnormal numbers to 0 on CPU, its own ops as much as any export, so an intermediate that is
subnormal (sigmoid(-87) inside silu) makes a normal result 0 there; inputs and results that are subnormal are left
out of its column, intermediates cannot be.

Where the framework has a native op of the same name (``NATIVE``: torch.tanh for tanh, torch.nn.functional.gelu with
approximate="tanh" for gelu), it is measured the same way, so a row reads "microreg's export vs torch's kernel".
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import export
from ..accuracy import DEFAULT_ULPS, INSIDE_DOMAIN
from ..op import Op
from ..plugins import install_hint

#: dtype -> (bits of significand with the implicit one, smallest normal exponent, largest finite value)
FORMATS = {"float32": (24, -126, 3.4028234663852886e38), "float16": (11, -14, 65504.0), "bfloat16": (8, -126, 3.3895313892515355e38)}
DTYPES = tuple(FORMATS)
FRAMEWORKS = ("torch", "jax")
PAIRS = 256  # values per input on the lattice of an op of several inputs

#: op name -> (torch function as "module:attr", its keyword arguments, the op's static parameters it equals at)
NATIVE: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    **{n: (f"torch:{n}", {}, {}) for n in ("exp", "expm1", "log", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh", "atan",
                                           "asinh", "sigmoid", "relu", "add", "sub", "mul", "div", "neg", "maximum", "minimum")},
    "erf": ("torch.special:erf", {}, {}), "erfc": ("torch.special:erfc", {}, {}),
    **{n: (f"torch.nn.functional:{n}", {}, {}) for n in ("elu", "selu", "silu", "mish", "softplus", "softsign", "logsigmoid",
                                                         "hardtanh", "relu6", "hardsigmoid", "hardswish", "softshrink",
                                                         "hardshrink", "tanhshrink")},
    "gelu": ("torch.nn.functional:gelu", {"approximate": "tanh"}, {}),
    "gelu_exact": ("torch.nn.functional:gelu", {}, {}),
    "celu": ("torch.nn.functional:celu", {"alpha": 0.5}, {"alpha": 0.5}),
    "leaky_relu": ("torch.nn.functional:leaky_relu", {"negative_slope": 0.2}, {"negative_slope": 0.2}),
}


@dataclass
class Worst:
    """The worst result of one function (forward or a gradient) in one dtype: where, what it gave, and how far off."""

    what: str
    at: dict[str, float]
    exact: float
    computed: float
    ulps: float
    condition: float

    @property
    def excess(self) -> float:
        return self.ulps / max(1.0, self.condition)

    def describe(self) -> str:
        at = ", ".join(f"{k}={v!r}" for k, v in self.at.items())
        cond = f", condition number {self.condition:.3g}" if self.condition > 1 else ""
        return f"the {self.what} at {at} gives {self.computed!r}, exact {self.exact!r}: {self.ulps:.3g} ulps{cond}"


@dataclass
class Row:
    """One op (one example of its static parameters) in one dtype: the worst forward and gradient error of each
    framework's export (and of torch's native op, where there is one), and the verdict on the exports."""

    op: str
    dtype: str
    params: dict[str, Any]
    results: int = 0
    exports: dict[str, tuple[Worst | None, Worst | None]] = field(default_factory=dict)  # framework -> (forward, gradient)
    native: tuple[Worst | None, Worst | None] | None = None
    bound: float = DEFAULT_ULPS
    declared: str | None = None
    verdict: str = "unchecked"
    why: str = ""

    def worst(self) -> Worst | None:
        """The worst result of the torch export, which the verdict judges."""
        found = [w for w in self.exports.get("torch", ()) if w]
        return max(found, key=lambda w: w.excess) if found else None


def missing() -> list[str]:
    """Words for each framework that is not installed, with the command that installs it."""
    return [f"{f} is not installed: {install_hint(f)}" for f in FRAMEWORKS if importlib.util.find_spec(f) is None]


def values(dtype: str, seed: int = 0) -> np.ndarray:
    """The inputs of one input, as float64: every finite value of a 16-bit dtype; float32's dense sample."""
    if dtype == "float16":
        v = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float64)
    elif dtype == "bfloat16":  # the upper half of a float32
        with np.errstate(invalid="ignore"):  # the NaN bit patterns, dropped below
            v = (np.arange(2**16, dtype=np.uint32) << 16).view(np.float32).astype(np.float64)
    else:
        f32 = np.finfo(np.float32)
        binades = np.ldexp(np.array([1.0, 4 / 3, 1.5, 1.9999999])[:, None], np.arange(-149, 128)[None, :]).ravel()
        specials = [0.0, float(f32.smallest_subnormal), float(f32.smallest_normal), float(f32.max), 1.0, 0.5, 2.0]
        random = np.random.default_rng(seed).integers(0, 2**32, size=4096, dtype=np.uint64).astype(np.uint32).view(np.float32)
        with np.errstate(invalid="ignore"):  # NaN bit patterns among the random ones, dropped below
            v = np.concatenate([binades, specials, random.astype(np.float64)])
        v = np.concatenate([v, -v]).astype(np.float32).astype(np.float64)
    return np.unique(v[np.isfinite(v)])


def points(dtype: str, domains: tuple[str, ...]) -> np.ndarray:
    """The points to measure, (count, inputs): every value for one input, pairs on a lattice for several."""
    axes = []
    for domain in domains:
        v = values(dtype)
        v = v[np.vectorize(INSIDE_DOMAIN[domain], otypes=[bool])(v)]
        axes.append(v if len(domains) == 1 else v[np.linspace(0, len(v) - 1, PAIRS).astype(int)])
    return np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], axis=1)


def ulp(x: np.ndarray, dtype: str) -> np.ndarray:
    """The ulp of the dtype at each value (its spacing there, subnormals included)."""
    bits, emin, _ = FORMATS[dtype]
    _, e = np.frexp(np.abs(x))
    return np.ldexp(1.0, np.where(x == 0, emin, np.maximum(e - 1, emin)) - bits + 1)


def subnormal(x: np.ndarray, dtype: str) -> np.ndarray:
    """Which values are subnormal in the dtype (nonzero, below its smallest normal)."""
    _, emin, _ = FORMATS[dtype]
    return (x != 0) & (np.abs(x) < 2.0**emin)


# -- running an op in a framework -------------------------------------------------------------------------------------


def _torch_run(fn: Any, xs: np.ndarray, dtype: str, params: dict, order: int = 1) -> list[np.ndarray] | None:
    """[forward, *gradients (g = 1)] at the points (and with order 2, the derivatives of each gradient in each input),
    as float64 arrays; None where the function fails."""
    import torch

    ts = [torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True) for x in xs.T]
    try:
        out = fn(*ts, **params)
        grads = torch.autograd.grad(out, ts, torch.ones_like(out), create_graph=order > 1, allow_unused=True)
        grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, ts)]
        found = [out, *grads]
        if order > 1:
            for g in grads:
                second = torch.autograd.grad(g.sum(), ts, allow_unused=True) if g.requires_grad else [None] * len(ts)
                found += [torch.zeros_like(t) if s is None else s for s, t in zip(second, ts)]
    except Exception:
        return None
    return [np.broadcast_to(f.detach().to(torch.float64).numpy(), (len(xs),)) for f in found]


def _jax_run(fn: Any, xs: np.ndarray, dtype: str, params: dict) -> list[np.ndarray] | None:
    import jax
    import jax.numpy as jnp

    args = [jnp.asarray(x, dtype=getattr(jnp, dtype)) for x in xs.T]
    try:
        out, pullback = jax.vjp(lambda *a: fn(*a, **params), *args)
        grads = pullback(jnp.ones_like(out))
    except Exception:
        return None
    return [np.broadcast_to(np.asarray(f, dtype=np.float64), (len(xs),)) for f in (out, *grads)]


def _native(name: str) -> tuple[Any, dict[str, Any], dict[str, Any]] | None:
    if name not in NATIVE or importlib.util.find_spec("torch") is None:
        return None
    path, kwargs, params = NATIVE[name]
    module, _, attr = path.partition(":")
    fn = getattr(importlib.import_module(module), attr)
    return (lambda *ts, **_: fn(*ts, **kwargs)), kwargs, params


# -- measuring --------------------------------------------------------------------------------------------------------


def measure(op: Op, dtype: str, params: dict[str, Any] | None = None) -> Row:
    """op (an elementwise op; a variadic one at its first arity) in dtype after each installed framework's export,
    and torch's native op of that name where there is one, against the float64 export's results."""
    form = op.forms()[0]
    params = dict(op.examples[0]) if params is None else params
    row = Row(op.name, dtype, params)
    declared = op.accuracy_in(dtype)
    row.bound, row.declared = (declared.ulps, declared.reason) if declared else (DEFAULT_ULPS, None)
    if op.shapes:
        row.why = "not elementwise: measured in float64 only"
        return row
    if importlib.util.find_spec("torch") is None:
        row.why = "the exact values come from the float64 export to torch: " + "; ".join(missing())
        return row
    xs = points(dtype, form.domains)
    if declared and declared.up_to:
        xs = xs[np.all(np.abs(xs) <= declared.up_to, axis=1)]
    exact = _torch_run(export.torch(form), xs, "float64", params, order=2)
    if exact is None:
        row.why = "the float64 export fails at these points"
        return row
    n = form.arity
    quantities, slopes = exact[:1 + n], [exact[1:1 + n], *(exact[1 + n + k * n:1 + n + (k + 1) * n] for k in range(n))]
    condition = [_condition(xs, q, s) for q, s in zip(quantities, slopes)]
    names = ["forward", *(f"gradient for {x}" for x in form.inputs)]
    _, _, largest = FORMATS[dtype]
    # as in float64: results whose exact value overflows the dtype (or is within 16 ulps of overflowing) are not
    # measured, nor gradients where the forward is subnormal (a gradient computed from out cannot beat out's precision)
    edge = largest - DEFAULT_ULPS * ulp(np.array(largest), dtype)
    usable = [np.isfinite(q) & (np.abs(q) <= edge) for q in quantities]
    usable[1:] = [u & ~subnormal(quantities[0], dtype) for u in usable[1:]]
    # XLA flushes subnormal inputs and results to 0 on CPU, in its own ops as in any export: not measured in JAX
    flushed = np.any(subnormal(xs, dtype), axis=1)
    in_jax = [u & ~flushed & ~subnormal(q, dtype) for u, q in zip(usable, quantities)]
    row.results = int(sum(u.sum() for u in usable))
    runs = {f: _run(f, form, xs, dtype, params) for f in FRAMEWORKS if importlib.util.find_spec(f) is not None}
    for framework, got in runs.items():
        row.exports[framework] = _worst(form, xs, names, quantities, condition, in_jax if framework == "jax" else usable, got, dtype)
    native = _native(op.name)
    if native and all(params.get(k) == (native[2][k] if k in native[2] else op.examples[0][k]) for k in params):
        # torch's op at its defaults is the op at its first example, except where NATIVE says which parameters
        row.native = _worst(form, xs, names, quantities, condition, usable, _torch_run(native[0], xs, dtype, {}), dtype)
    judged = [w for w in row.exports.get("torch", ()) if w]
    if runs.get("torch", 0) is None:
        row.verdict, row.why = "inaccurate", "the export to torch fails"
    elif judged:
        row.verdict = "accurate" if max(w.excess for w in judged) <= row.bound else "inaccurate"
    return row


def _run(framework: str, op: Op, xs: np.ndarray, dtype: str, params: dict) -> list[np.ndarray] | None:
    if framework == "torch":
        return _torch_run(export.torch(op), xs, dtype, params)
    return _jax_run(export.jax(op), xs, dtype, params)


def _condition(xs: np.ndarray, q: np.ndarray, slopes: list[np.ndarray]) -> np.ndarray:
    with np.errstate(all="ignore"):
        c = sum(np.abs(x * s) for x, s in zip(xs.T, slopes)) / np.abs(q)
    return np.where(np.isfinite(c), c, 1.0)


def _worst(op: Op, xs: np.ndarray, names: list[str], quantities: list[np.ndarray], condition: list[np.ndarray],
           usable: list[np.ndarray], got: list[np.ndarray] | None, dtype: str) -> tuple[Worst | None, Worst | None]:
    """The worst forward and the worst gradient (over every input) of results got against the exact ones."""
    if got is None:
        return None, None
    found: list[Worst | None] = []
    for name, q, c, ok, g in zip(names, quantities, condition, usable, got):
        with np.errstate(all="ignore"):
            ulps = np.where(np.isfinite(g), np.abs(g - q) / ulp(q, dtype), math.inf)
        excess = np.where(ok, ulps / np.maximum(1.0, c), -1.0)
        i = int(np.argmax(excess))
        w = None if excess[i] < 0 else Worst(name, dict(zip(op.inputs, map(float, xs[i]))), float(q[i]), float(g[i]),
                                             float(ulps[i]), float(c[i]))
        found.append(w)
    gradients = [w for w in found[1:] if w]
    return found[0], max(gradients, key=lambda w: w.excess) if gradients else None


# -- the report -------------------------------------------------------------------------------------------------------


def audit(ops: list[Op], dtypes: list[str]) -> list[Row]:
    """A Row for each op (each example of its static parameters), in each dtype."""
    return [measure(op, dtype, dict(params)) for op in ops for params in op.examples for dtype in dtypes]


def _pair(pair: tuple[Worst | None, Worst | None] | None) -> str:
    if pair is None:
        return "-"
    return ", ".join("-" if w is None else f"{w.excess:.3g}" for w in pair)


def table(rows: list[Row], markdown: bool = False) -> list[list[str]]:
    """The rows as cells: op (with its parameters), dtype, verdict, and the worst ulps (divided by the condition number
    where it exceeds 1) of the forward and the gradients, for each export and torch's native op."""
    cells = []
    for r in rows:
        params = ", ".join(f"{k}={v!r}" for k, v in r.params.items())
        name = f"{r.op}({params})" if params else r.op
        cells.append([f"`{name}`" if markdown else name, r.dtype, r.verdict + (f" (<= {r.bound:g})" if r.declared else ""),
                      _pair(r.exports.get("torch")), _pair(r.exports.get("jax")), _pair(r.native)])
    return cells


HEADER = ["op", "dtype", "accuracy", "torch export: value, gradient", "jax export: value, gradient",
          "torch's own op: value, gradient"]


def markdown(rows: list[Row]) -> str:
    """The docs' table (docs/export.md): one line per op and dtype."""
    lines = [HEADER, ["---"] * len(HEADER), *table(rows, markdown=True)]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def notes(rows: list[Row]) -> list[str]:
    """Why each op that is not accurate is not, and what each declared bound says."""
    found = []
    for r in rows:
        if r.declared:
            found.append(f"{r.op} in {r.dtype} declares {r.bound:g} ulps: {r.declared}")
        if r.verdict != "accurate":
            w = r.worst()
            found.append(f"{r.op} in {r.dtype} {r.verdict}: " + (r.why or (w.describe() if w else "")))
    return list(dict.fromkeys(found))


if __name__ == "__main__":  # python -m microreg.audit.dtypes: the table in docs/export.md
    from ..plugins import registry

    print(markdown(audit([registry.get(n) for n in sorted(registry.ops()) if n in NATIVE], list(DTYPES))))
