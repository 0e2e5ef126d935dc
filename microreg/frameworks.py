"""The frameworks' own elementwise gradients audited: every elementwise function of ``jax.nn`` and ``torch.nn.functional``
that has a derivative, traced (``microreg.trace``) and audited, as the table of docs/frameworks.md
(``python -m microreg.frameworks`` prints it; a test keeps the doc equal to it).

A function's kinks are listed by where they are (relu's at 0); the derivative declared there is the one the framework
gives, so the audit checks that each is where a branch switches, and the table shows what each framework takes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import trace
from .audit import OpAudit, audit_jax, audit_torch
from .backends import Scalar
from .op import Kink
from .plugins import registry


@dataclass(frozen=True)
class Function:
    """One function of a framework: ``MODULE:NAME``, static arguments it is audited with, where it has kinks, its domain."""

    framework: str
    path: str
    kwargs: tuple[tuple[str, Any], ...] = ()
    kinks: tuple[float, ...] = ()
    domain: str = "real"

    @property
    def title(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs)
        return f"{self.path}({args})" if args else self.path

    def load(self) -> Callable:
        fn, kwargs = trace.load(self.path), dict(self.kwargs)
        if not kwargs:
            return fn

        def call(x: Any) -> Any:
            return fn(x, **kwargs)

        call.__name__ = fn.__name__
        return call


def _jax(name: str, *kinks: float, module: str = "jax.nn", **kwargs: Any) -> Function:
    return Function("jax", f"{module}:{name}", tuple(kwargs.items()), kinks)


def _torch(name: str, *kinks: float, module: str = "torch.nn.functional", **kwargs: Any) -> Function:
    return Function("torch", f"{module}:{name}", tuple(kwargs.items()), kinks)


#: In the order of the table: jax.nn's elementwise functions, then torch.nn.functional's.
FUNCTIONS = (
    _jax("celu"), _jax("elu"), _jax("gelu"), _jax("gelu", approximate=False), _jax("hard_sigmoid", -3.0, 3.0),
    _jax("hard_silu", -3.0, 3.0), _jax("hard_tanh", -1.0, 1.0), _jax("identity"), _jax("leaky_relu", 0.0),
    Function("jax", "jax.nn:log1mexp", domain="positive"), _jax("log_sigmoid"), _jax("mish"), _jax("relu", 0.0),
    _jax("relu6", 0.0, 6.0), _jax("selu", 0.0), _jax("sigmoid"), _jax("silu"), _jax("soft_sign"), _jax("softplus"),
    _jax("sparse_plus"), _jax("sparse_sigmoid", -1.0, 1.0), _jax("squareplus"), _jax("tanh"),
    _torch("celu"), _torch("elu"), _torch("gelu"), _torch("gelu", approximate="tanh"), _torch("hardshrink", -0.5, 0.5),
    _torch("hardsigmoid", -3.0, 3.0), _torch("hardswish", -3.0, 3.0), _torch("hardtanh", -1.0, 1.0),
    _torch("leaky_relu", 0.0), _torch("logsigmoid"), _torch("mish"), _torch("prelu"), _torch("relu", 0.0),
    _torch("relu6", 0.0, 6.0), _torch("rrelu", 0.0), _torch("selu", 0.0), _torch("sigmoid"), _torch("silu"),
    _torch("softplus", 20.0), _torch("softshrink", -0.5, 0.5), _torch("softsign"), _torch("tanh"), _torch("tanhshrink"),
)


Audited = tuple[OpAudit, tuple[Kink, ...]] | str


def audited(function: Function) -> Audited:
    """The audit of one function and its kinks, declared with the derivative the framework gives there; or why it cannot
    be traced."""
    fn = function.load()
    make, runs = (trace.jax, audit_jax) if function.framework == "jax" else (trace.torch, audit_torch)
    try:
        op = make(fn, domains=function.domain)
        xp = Scalar(registry)
        kinks = tuple(Kink(at, op.vjp(xp, 1.0, None, at)[0]) for at in function.kinks)
        return runs(fn, domains=function.domain, kinks=kinks, title=function.title), kinks
    except trace.TraceError as exc:
        return str(exc).removeprefix(trace.title(fn)).strip()


def _worst(record: OpAudit) -> str:
    worst = record.worst()
    if worst is None or record.accuracy != "inaccurate":
        return "-" if worst is None else f"{worst['excess']:.2g} ulps"
    at = ", ".join(f"{k}={v!r}" for k, v in worst["at"].items())
    problem = worst["problem"]
    got = (repr(worst["computed"]) if worst["computed"] is not None else
           "NaN" if "nan" in problem else "infinite" if "inf" in problem else "an error")
    return f"{worst['excess']:.2g} ulps: the {worst['what']} at {at} is {got}, exact {worst['exact']!r}"


def table(records: list[Audited] | None = None) -> str:
    """docs/frameworks.md's table in Markdown: one row per function of FUNCTIONS (auditing them unless records are given)."""
    records = [audited(f) for f in FUNCTIONS] if records is None else records
    rows = [("function", "verdict", "accuracy", "worst error", "kinks: the derivative taken there"), ("---",) * 5]
    for function, found in zip(FUNCTIONS, records):
        if isinstance(found, str):
            rows.append((f"`{function.title}`", "not traced", "-", found, "-"))
            continue
        record, declared = found
        kinks = ", ".join(f"{k.at[0]:g}: {k.grad[0]:g}" for k in declared) or "-"
        rows.append((f"`{function.title}`", record.verdict, record.accuracy or "-", _worst(record), kinks))
    return "\n".join("| " + " | ".join(cell.replace("|", r"\|") for cell in row) + " |" for row in rows)


def versions() -> str:
    """The versions the table is made with, as its marker in docs/frameworks.md names them."""
    return f"PyTorch {importlib.import_module('torch').__version__.split('+')[0]}, JAX {importlib.import_module('jax').__version__}"


if __name__ == "__main__":
    print(f"<!-- generated by `python -m microreg.frameworks` ({versions()}) -->")
    print(table())
    print("<!-- end of generated table -->")
