"""The derivative audit: every op's vjp proved equal to SymPy's derivative of its forward, checked numerically, and measured in float64.

For each op, each example of its static parameters and each input ``x_i``:

- **symbolic**: forward and vjp run on SymPy symbols (the input's domain as assumptions, the
  cotangent a symbol ``g``, float parameters and constants read as the exact decimals they print
  as); the vjp must equal ``g * d forward / d x_i``. A rule built with ``xp.where``, ``xp.abs``,
  ``xp.sign``, ``xp.maximum`` or ``xp.minimum`` is proved region by region: the audit solves where
  each condition changes sign and proves the branch that holds in each region. ``proved`` when
  SymPy reduces the difference to 0, ``refuted`` when it is nonzero at a point inside the domain (the
  counterexample is reported; an exactly nonzero difference, however small, is found at the sampled
  point where it is largest), ``inconclusive`` otherwise (never a pass), ``error`` when the op
  cannot run on symbols.
- **parameters**: the same proof with the static parameters moved away from each example (a vjp
  that hard-codes the default slope is refuted).
- **scalar**, **array**: both float backends agree with the exact forward and vjp at the sampled
  points; **central-difference**: the scalar vjp agrees with float64 central differences away from kinks.
- **kink**, **branch**: at each declared ``Kink`` the vjp gives the declared value; every point
  where a branch switches is found (for conditions on one input), and one where the op is not
  differentiable must be declared, a declared one must be where a branch switches, and at the
  others the vjp must give the derivative.
- **accuracy** (``microreg.accuracy``): forward and vjps in float64 on both backends over a grid
  spanning the domain, against exact values at high precision: ``accurate`` within the op's bound
  in ulps, ``inaccurate`` (the worst point is reported) or ``unchecked``.
- **order 2** (``order=2``): the vjp differentiated again matches SymPy's second derivative, both
  symbolically and through ``microreg.grad(..., create_graph=True)`` twice.

Each op has a time budget (``budget`` seconds, ``MICROREG_AUDIT_BUDGET``, default ``DEFAULT_BUDGET``):
a symbolic step still running when it is spent is stopped, and what it did not finish is
``inconclusive`` ("timed out after N s"); the float-only checks still run.

Results are data: ``audit()`` returns one ``OpAudit`` per op. SymPy is imported only when an audit
runs. Strict loading (``MICROREG_STRICT=1``) runs it through ``microreg.strict``, cached on disk; the
``microreg audit`` command (``microreg.cli``) prints it.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import accuracy
from .backends import Array, Scalar
from .budget import Budget, TimedOut
from .op import REQUIRED, Op, code_names
from .plugins import registry
from .value import Value, apply, grad

VERDICTS = ("proved", "refuted", "inconclusive", "error")
ACCURACY_VERDICTS = ("accurate", "inaccurate", "unchecked")
DEFAULT_BUDGET = 5.0  # seconds per op
ENV_BUDGET = "MICROREG_AUDIT_BUDGET"

ASSUMPTIONS = {"real": {"real": True}, "positive": {"positive": True},
               "nonnegative": {"nonnegative": True}, "nonzero": {"real": True, "nonzero": True}}
# Sample points, exact, chosen off small integers so that a wrong rule rarely agrees by coincidence.
BOTH_SIDES = ("-17/10", "-2/5", "13/20", "23/10")
FROM_EDGE = ("3/8", "13/10", "29/10")
INSIDE = ("1/4", "11/20", "17/20")  # fractions of the way across a bounded interval
NEAR_BOUNDARY = (1e-9, 1e-6, 1e-3, 0.1)  # offsets around a boundary found only numerically, relative to max(1, |boundary|)
COTANGENT = 1.5  # g at sampled points: a vjp that forgets g is off by this factor
RTOL = 1e-9  # symbolic vs symbolic, in floats: a disagreement this large needs no exact evaluation
BACKEND_RTOL = 1e-8  # float64 backends vs exact values
FD_RTOL = 1e-6  # central differences, step 1e-6 * max(1, |x|)
DIGITS = 30  # exact differences are evaluated to this many significant digits
VARIED = 1.3  # a float static parameter is also audited at VARIED times each example's value (an int at one step further from 0)


def budget_seconds(budget: float | None = None) -> float | None:
    """The time budget per op in seconds: budget if given, else $MICROREG_AUDIT_BUDGET, else DEFAULT_BUDGET; None for no limit (<= 0)."""
    if budget is None:
        text = os.environ.get(ENV_BUDGET, "").strip()
        try:
            budget = float(text) if text else DEFAULT_BUDGET
        except ValueError:
            raise ValueError(f"{ENV_BUDGET} must be a number of seconds, got {text!r}") from None
    return budget if budget > 0 and math.isfinite(budget) else None


@dataclass
class Check:
    """One check of one op: its kind, which input's derivative, the static parameters, and the verdict.

    ``verdict`` is ``proved`` (symbolic kinds), ``passed`` (numeric kinds), ``refuted``,
    ``inconclusive``, ``error``, ``skipped`` (varied parameters the op does not accept), or for the
    accuracy check ``accurate``, ``inaccurate``, ``unchecked``. ``counterexample`` holds the point, g,
    and the expected and registered values there; ``worst`` the accuracy check's worst result.
    """

    kind: str
    verdict: str
    input: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    expected: str | None = None
    registered: str | None = None
    counterexample: dict[str, Any] | None = None
    worst: dict[str, Any] | None = None


@dataclass
class OpAudit:
    """The audit of one op: the verdict (one of ``VERDICTS``), the accuracy (one of ``ACCURACY_VERDICTS``, None if
    not measured) and every check behind them. A plugin that failed to load is a record too: verdict ``error``."""

    op: str
    plugin: str
    verdict: str
    inputs: tuple[str, ...]
    checks: list[Check]
    seconds: float
    accuracy: str | None = None
    bound: float | None = None  # the accuracy bound in ulps
    declared: str | None = None  # why the op declares a looser bound than the default, if it does

    def input_verdicts(self) -> dict[str, str]:
        """Each input's verdict, from the checks of its derivative."""
        return {name: _worst(c.verdict for c in self.checks if c.input == name) for name in self.inputs}

    def fails(self, strict: bool = False) -> bool:
        """Whether this record fails a run: refuted, error or inaccurate; with strict, also inconclusive or unchecked.

        The one meaning of "strict" everywhere (``microreg audit --strict``, ``MICROREG_STRICT=1``,
        ``assert_proved``): only an op that is proved, and accurate where measured, passes.
        """
        if self.verdict in ("refuted", "error") or self.accuracy == "inaccurate":
            return True
        return strict and (self.verdict == "inconclusive" or self.accuracy == "unchecked")

    def problems(self) -> list[Check]:
        """The checks that keep this op from being proved and accurate."""
        return [c for c in self.checks if c.verdict not in ("proved", "passed", "accurate", "skipped")]

    def worst(self) -> dict[str, Any] | None:
        """The accuracy checks' worst result over every example, or None."""
        found = [c.worst for c in self.checks if c.kind == "accuracy" and c.worst]
        return max(found, key=lambda w: w["excess"]) if found else None

    def to_json(self) -> dict[str, Any]:
        """This audit as JSON-ready data: the fields docs/audit.md lists under "JSON fields"."""
        per_input = self.input_verdicts()
        origin = registry.plugins.get(self.plugin)
        return {"op": self.op, "plugin": self.plugin, "version": origin.version if origin else None,
                "verdict": self.verdict, "seconds": round(self.seconds, 4),
                "accuracy": None if self.accuracy is None else {
                    "verdict": self.accuracy, "bound_ulps": self.bound, "declared": self.declared, "worst": self.worst()},
                "inputs": [{"input": n, "verdict": per_input[n], "checks": [asdict(c) for c in self.checks if c.input == n]}
                           for n in self.inputs],
                "checks": [asdict(c) for c in self.checks if c.input is None]}

    def report(self) -> str:
        """What went wrong, in words: one paragraph per problem (empty when proved and accurate)."""
        lines = []
        for c in self.problems():
            params = f" with {_fmt_params(c.params)}" if c.params else ""
            lines.append(f"{self.op} [{c.kind}{', ' + c.input if c.input else ''}{params}] {c.verdict}: {c.message}")
            if c.counterexample:
                lines.append(f"    counterexample: {_fmt_counterexample(c.counterexample)}")
            if c.expected is not None:
                lines.append(f"    expected:   {c.expected}")
                lines.append(f"    registered: {c.registered}")
        return "\n".join(lines)


def _worst(verdicts: Iterable[str]) -> str:
    found = set(verdicts)
    return next((v for v in ("refuted", "error", "inconclusive") if v in found), "proved")


def _worst_accuracy(checks: list[Check]) -> str | None:
    found = {c.verdict for c in checks if c.kind == "accuracy"}
    return next((v for v in ("inaccurate", "unchecked", "accurate") if v in found), None)


def load_failures() -> list[OpAudit]:
    """One record (verdict ``error``) for each plugin that failed to load, naming it, the ops it offered if known, and why."""
    return [OpAudit(", ".join(p.offered) or "-", p.name, "error", (),
                    [Check("load", "error", message=f"plugin {p.name!r} failed to load: {p.error}")], 0.0)
            for p in sorted(registry.plugins.values(), key=lambda p: p.name) if p.error]


# -- the audit ------------------------------------------------------------------------------------


def audit(ops: Iterable[Op | str] | None = None, *, order: int = 1, progress: Callable[[OpAudit], None] | None = None,
          resolver: Any = None, plugin: str | None = None, budget: float | None = None, measure: bool = True) -> list[OpAudit]:
    """Audit ops (registered names or ``Op`` records; every registered op by default), in order.

    ``resolver`` finds the ops they call through ``xp`` (the registry by default: strict loading passes
    one that also sees a plugin's ops before they are registered); ``plugin`` names where they come from
    (by default, the plugin that registered each); ``budget`` is the time limit per op in seconds (see
    ``budget_seconds``); ``measure=False`` leaves out the accuracy audit.
    """
    resolver = resolver if resolver is not None else registry
    chosen = [registry.get(o) if isinstance(o, str) else o for o in (sorted(registry.ops()) if ops is None else ops)]
    sym = _Prover(resolver)
    records = []
    for op in chosen:
        record = audit_op(op, plugin=plugin, order=order, resolver=resolver, sym=sym, budget=budget, measure=measure)
        records.append(record)
        if progress is not None:
            progress(record)
    return records


def audit_op(op: Op, *, plugin: str | None = None, order: int = 1, resolver: Any = None, sym: _Prover | None = None,
             budget: float | None = None, measure: bool = True) -> OpAudit:
    """Audit one op. ``resolver`` finds the ops it calls through ``xp`` (the registry by default); ``plugin`` names where
    it comes from (by default, the plugin that registered it)."""
    start = time.perf_counter()
    resolver = resolver if resolver is not None else registry
    sym = sym or _Prover(resolver)  # imports SymPy and mpmath, never inside the budget: an import cut short may not recover
    seconds = budget_seconds(budget)
    forms = op.forms()  # a variadic op at each of its declared arities, with inputs named wx[0], wx[1], ...
    runs = [_ShapedRun(op, sym, resolver, order, measure)] if op.shapes else [
        _Run(form, sym, resolver, order, measure) for form in forms]
    checks: list[Check] = []
    try:
        with Budget(seconds) as timer:
            for run in runs:
                run.symbolic(timer)
    except TimedOut:
        why = f"timed out after {seconds:g} s (the time budget per op: --budget or {ENV_BUDGET} changes it)"
        checks.append(Check("budget", "inconclusive", None, {}, f"the symbolic steps {why}; the float checks ran"))
        for run in runs:
            run.timed_out(why)
        sym.sp.core.cache.clear_cache()  # a SymPy call cut short may leave half-learned facts in its cached objects
    checks = [c for run in runs for c in run.numeric()] + checks + _kink_checks(op, resolver)
    bound = accuracy.bound(op.accuracy)
    declared = None
    if op.accuracy:
        declared = op.accuracy.reason + (f" (measured for |inputs| up to {op.accuracy.up_to:g})" if op.accuracy.up_to else "")
    inputs = max((f.inputs for f in forms), key=len)
    return OpAudit(op.name, plugin or _plugin_of(op), _worst(c.verdict for c in checks), inputs, checks,
                   time.perf_counter() - start, _worst_accuracy(checks), bound if measure else None, declared)


def _plugin_of(op: Op) -> str:
    return registry.origin(op.name).name if registry.find(op.name) is op else "(unregistered)"


_CONVERTER_LOCK = threading.Lock()


class _Unsplittable(Exception):
    """The op's branches cannot be separated into regions of constant sign (the message says why)."""


class _Prover:
    """What the symbolic checks work with: SymPy and mpmath (imported here, on first use), a Symbolic xp
    namespace resolving ops through resolver, and exact numbers."""

    def __init__(self, resolver: Any) -> None:
        # imported now, outside any time budget (an import cut short may not recover): SymPy, mpmath, and
        # the parts of SymPy that it imports only when first used by the audit's steps
        import mpmath  # noqa: F401
        import sympy.assumptions.wrapper  # noqa: F401
        import sympy.codegen.ast  # noqa: F401
        import sympy.sets.setexpr  # noqa: F401
        import sympy.solvers.solveset  # noqa: F401
        import sympy.tensor.tensor  # noqa: F401

        from .backends import Symbolic

        self.xp = Symbolic(resolver)
        self.sp = self.xp.sympy

    def exact(self, value: Any, binary: bool = False) -> Any:
        """A float as the exact decimal it prints as (0.1 -> 1/10), or with binary the exact fraction it is."""
        if not isinstance(value, float):
            return value
        if not math.isfinite(value):
            return self.sp.Float(value)
        return self.sp.Rational(value) if binary else self.sp.Rational(repr(float(value)))

    @contextmanager
    def exact_floats(self, binary: bool = False) -> Iterator[None]:
        """While op code runs on symbols, every float it mixes in (a constant, 0.5 * x) enters SymPy exact.

        Rounding each float product separately (as SymPy's Float does) would leave a forward and a vjp
        that compute the same constant in different orders unequal by 1e-16, and so unprovable; SymPy's
        documented ``converter`` hook makes them exact, for this process, only while the op runs.
        """
        from sympy.core.sympify import converter

        with _CONVERTER_LOCK:  # audits in several threads take turns with the hook
            previous = converter.get(float)
            converter[float] = lambda value: self.exact(value, binary)  # noqa: E731
            try:
                yield
            finally:
                if previous is None:
                    del converter[float]
                else:
                    converter[float] = previous

    def rationalize(self, expr: Any, binary: bool = False) -> Any:
        sp = self.sp
        expr = sp.sympify(expr)
        floats = expr.atoms(sp.Float)
        return expr.xreplace({f: self.exact(float(f), binary) for f in floats}) if floats else expr

    def value(self, expr: Any, at: dict) -> float | None:
        """expr at an exact point as a float, or None where it is not a finite real number."""
        v = self.sp.sympify(expr).xreplace(at).evalf(DIGITS)
        return float(v) if v.is_real and v.is_finite else None

    def difference(self, d: Any, at: dict) -> float | None:
        """d at an exact point, known to DIGITS significant digits, or None where SymPy cannot tell it from 0 (or it is not real)."""
        try:
            v = self.sp.sympify(d).xreplace(at).evalf(DIGITS, strict=True)
        except (self.sp.core.evalf.PrecisionExhausted, TypeError, ValueError):
            return None
        return float(v) if v.is_real and v.is_finite else None


@dataclass
class _Symbols:
    """An op run on symbols for one set of static parameters: its inputs, the cotangent, forward and vjps."""

    xs: list[Any]
    g: Any
    forward: Any
    vjps: list[Any]


def _on_symbols(sym: _Prover, op: Op, params: dict[str, Any], binary: bool = False) -> _Symbols:
    sp = sym.sp
    xs = [sp.Symbol(n, **ASSUMPTIONS[d]) for n, d in zip(op.inputs, op.domains)]
    g = sp.Symbol("g" if "g" not in op.inputs else "cotangent", real=True)
    exact_params = {k: sym.exact(v, binary) for k, v in params.items()}
    with sym.exact_floats(binary):
        forward = sym.rationalize(_call(op, "forward", op.forward, sym.xp, xs, exact_params), binary)
        vjps = [] if binary else _cotangents(op, _call(op, "vjp", op.vjp, sym.xp, [g, forward, *xs], exact_params))
    return _Symbols(xs, g, forward, [sym.rationalize(v) for v in vjps])


class _Run:
    """The audit of one op in two phases: ``symbolic`` (under the time budget, keeping what it finishes) and ``numeric``."""

    def __init__(self, op: Op, sym: _Prover, resolver: Any, order: int, measure: bool) -> None:
        self.op, self.sym, self.resolver, self.order, self.measure = op, sym, resolver, order, measure
        self.kink_params = _kink_params(op)
        self.examples = [dict(p) for p in op.examples]
        if self.kink_params not in self.examples:  # kinks are declared for the defaults: audit those too
            self.examples.append(dict(self.kink_params))
        self.checks: list[Check] = []
        self.cells: dict[int, list[_Cell]] = {}
        self.crossing: dict[int, Callable[[list[float], list[float]], bool]] = {}

    def symbolic(self, timer: Budget) -> None:
        for i, params in enumerate(self.examples):
            self._example(i, params, timer)
        for params, source in _varied_examples(self.op, self.examples):
            timer.check()
            self._varied(params, source)

    def _example(self, i: int, params: dict[str, Any], timer: Budget) -> None:
        op, sym, sp = self.op, self.sym, self.sym.sp
        try:
            s = _on_symbols(sym, op, params)
        except _OpFailed as exc:
            self.checks += [Check("symbolic", "error", name, params, str(exc)) for name in op.inputs]
            if self.measure:
                self.checks.append(Check("accuracy", "unchecked", None, params, f"no exact values: {exc}"))
            return
        switches = _switches(sp, [s.forward, *s.vjps])
        self.crossing[i] = _float_signs(sp, s.xs, switches)
        try:
            breaks = _breaks(sym, op, s.xs, switches)
            cells = _cells(sym, op, s.xs, breaks)
            branches = [(cell, [_branch(sp, e, cell.points[0]) for e in (s.forward, *s.vjps)]) for cell in cells]
            split = ""
        except _Unsplittable as exc:
            breaks = {x: set() for x in s.xs}
            cells = _cells(sym, op, s.xs, breaks, near=_approximate_roots(sym, s.xs, switches))
            branches = [(cell, [s.forward, *s.vjps]) for cell in cells]
            split = str(exc)
        self.cells[i] = cells
        for check in _symbolic_checks(sym, op, params, s, branches, split):
            self.checks.append(check)
            timer.check()
        self.checks += _backend_checks(sym, op, params, s.g, branches, self.resolver)
        floats = [{float(b) for b in breaks[x]} | {float(r) for r in cells[0].near.get(x, ())} for x in s.xs]
        if params == self.kink_params:
            floats = [f | {k.at[j] for k in op.kinks} for j, f in enumerate(floats)]
            self.checks += _branch_points(sym, op, params, s, cells, breaks, switches, self.resolver)
        timer.check()
        if self.measure:
            self.checks.append(_accuracy(sym, op, params, floats))
        if self.order >= 2:
            self.checks += _second_order(sym, op, params, s.xs, s.g, branches)

    def _varied(self, params: dict[str, Any], source: dict[str, Any]) -> None:
        """The symbolic proof at parameters moved away from an example: only a refutation counts against the op."""
        op, sym = self.op, self.sym
        note = f"(varied from the example {_fmt_params(source)})"
        try:
            s = _on_symbols(sym, op, params)
            switches = _switches(sym.sp, [s.forward, *s.vjps])
            cells = _cells(sym, op, s.xs, _breaks(sym, op, s.xs, switches))
            branches = [(cell, [_branch(sym.sp, e, cell.points[0]) for e in (s.forward, *s.vjps)]) for cell in cells]
        except (_OpFailed, _Unsplittable) as exc:
            self.checks.append(Check("parameters", "skipped", None, params, f"not audited {note}: {exc}"))
            return
        for check in _symbolic_checks(sym, op, params, s, branches, ""):
            check.kind = "parameters"
            check.message += f" {note}"
            if check.verdict not in ("proved", "refuted"):
                check.verdict = "skipped"
            self.checks.append(check)

    def timed_out(self, why: str) -> None:
        """Mark every symbolic step the budget cut short: inconclusive, never a pass."""
        for params in self.examples:
            mine = [c for c in self.checks if c.params == params]
            for name in self.op.inputs:
                if not any(c.kind == "symbolic" and c.input == name for c in mine):
                    self.checks.append(Check("symbolic", "inconclusive", name, params, why))
                if self.order >= 2 and not any(c.kind == "second-derivative" and c.input == name for c in mine):
                    self.checks.append(Check("second-derivative", "inconclusive", name, params, why))
            if self.measure and not any(c.kind == "accuracy" for c in mine):
                self.checks.append(Check("accuracy", "unchecked", None, params, f"no exact values: {why}"))

    def numeric(self) -> list[Check]:
        """The checks that need no SymPy, run whatever the symbolic phase finished: central differences and kinks."""
        for i, params in enumerate(self.examples):
            cells = self.cells.get(i)
            if cells is None:
                xs = [self.sym.sp.Symbol(n) for n in self.op.inputs]
                cells = _cells(self.sym, self.op, xs, {x: set() for x in xs})
            self.checks += _central_differences(self.op, params, cells, self.resolver, self.crossing.get(i, _never))
        return self.checks


def _never(a: list[float], b: list[float]) -> bool:
    return False


def _varied_examples(op: Op, examples: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(varied, example) for each example: every number parameter moved (a float times VARIED, an int one step away from 0)."""
    out = []
    for example in examples:
        varied = {k: (v if isinstance(v, bool) or not isinstance(v, int | float) else
                      (v + 1 if v >= 0 else v - 1) if isinstance(v, int) else (v * VARIED if v else VARIED - 1))
                  for k, v in example.items()}
        if varied != example and varied not in examples and varied not in [v for v, _ in out]:
            out.append((varied, example))
    return out


class _OpFailed(Exception):
    """The op's forward or vjp could not run symbolically; the message says why in a plugin author's words."""


def _call(op: Op, role: str, fn: Callable, xp: Any, args: Sequence[Any], params: dict[str, Any]) -> Any:
    try:
        return fn(xp, *args, **params)
    except Exception as exc:
        raise _OpFailed(_explain(op, role, fn, exc)) from None


def _explain(op: Op, role: str, fn: Callable, exc: Exception) -> str:
    code, namespace = getattr(fn, "__code__", None), getattr(fn, "__globals__", {})
    modules = sorted(n for n in code_names(code) if isinstance(namespace.get(n), types.ModuleType)) if code else []
    if modules:
        hint = (f"; it calls the module(s) {', '.join(modules)} directly: use xp's functions instead "
                f"(xp.tanh, not math.tanh), so that the same code runs on floats, arrays, symbols and Values")
    elif "truth value" in str(exc):
        hint = "; it branches on an input with if/and/or: use xp.where(condition, a, b) instead"
    else:
        hint = ""
    name = getattr(fn, "__name__", repr(fn))
    return f"the {role} {name} of op {op.name!r} cannot run on SymPy symbols: {type(exc).__name__}: {exc}{hint}"


def _cotangents(op: Op, result: Any) -> list[Any]:
    if not isinstance(result, tuple | list) or len(result) != op.arity:
        raise _OpFailed(f"the vjp {getattr(op.vjp, '__name__', repr(op.vjp))} of op {op.name!r} returned {result!r}: expected a tuple of "
                        f"{op.arity} cotangent(s), one per input {op.inputs} (None for zero)")
    return [0 if v is None else v for v in result]


# -- regions: where the op's branches hold --------------------------------------------------------


@dataclass
class _Cell:
    """A region where every branch of the op is fixed: its description and exact sample points.

    ``near`` holds, per input, boundaries found only numerically (the points include some close to each).
    """

    name: str
    points: list[dict[Any, Any]]
    near: dict[Any, list[float]] = field(default_factory=dict)


def _breaks(sym: _Prover, op: Op, xs: list[Any], switches: set[Any]) -> dict[Any, set]:
    """Per input, the exact points where a switch (see ``_switches``) may change sign; _Unsplittable if they cannot be found."""
    breaks: dict[Any, set] = {x: set() for x in xs}
    for h in switches:
        free = h.free_symbols
        if not free:
            continue
        if len(free) > 1 or not free <= set(xs):
            raise _Unsplittable(f"the branch condition on {h} depends on {', '.join(sorted(map(str, free)))}, "
                                "not on one input alone, so its regions cannot be separated")
        x = next(iter(free))
        breaks[x] |= _roots(sym.sp, h, x)
    return breaks


def _cells(sym: _Prover, op: Op, xs: list[Any], breaks: dict[Any, set], near: dict[Any, list[float]] | None = None) -> list[_Cell]:
    """The regions of the domain between the breaks, with exact sample points (and points close to the ``near`` boundaries)."""
    sp = sym.sp
    per_input = []
    for x, domain in zip(xs, op.domains):
        lo = sp.Integer(0) if domain in ("positive", "nonnegative") else None
        edges = sorted(b for b in breaks[x] | ({sp.Integer(0)} if domain == "nonzero" else set()) if lo is None or b > lo)
        intervals = _intervals(sp, str(x), lo, edges)
        if near and near.get(x):
            inside = accuracy.INSIDE_DOMAIN[domain]
            extra = [sp.Rational(r + s * d * max(1.0, abs(r))) for r in near[x] for d in NEAR_BOUNDARY for s in (1, -1)]
            intervals = [(name, pts + [p for p in extra if inside(float(p))]) for name, pts in intervals]
        per_input.append(intervals)
    cells = []
    for combo in itertools.product(*per_input):
        n = max(len(pts) for _, pts in combo)
        # input j takes its (k + j)-th point, so that two inputs are not sampled on the diagonal x == y
        points = [{x: pts[(k + j) % len(pts)] for j, (x, (_, pts)) in enumerate(zip(xs, combo))} for k in range(n)]
        cells.append(_Cell(" and ".join(name for name, _ in combo), points, dict(near or {})))
    return cells


def _switches(sp: Any, exprs: list[Any]) -> set[Any]:
    """The functions whose sign selects a branch: condition sides' differences, arguments of Abs and sign, max/min differences."""
    found = set()
    for e in exprs:
        e = sp.sympify(e)
        for pw in e.atoms(sp.Piecewise):
            for _, cond in pw.args:
                for rel in cond.atoms(sp.core.relational.Relational):
                    found.add(rel.lhs - rel.rhs)
        for a in e.atoms(sp.Abs, sp.sign):
            found.add(a.args[0])
        for m in e.atoms(sp.Max, sp.Min):
            found |= {a - b for a, b in itertools.combinations(m.args, 2)}
    return found


def _roots(sp: Any, h: Any, x: Any) -> set[Any]:
    """Where h may change sign: its real roots (a superset when h itself has branches), solved by SymPy."""
    inner = next(iter(h.atoms(sp.Piecewise, sp.Abs, sp.sign, sp.Max, sp.Min)), None)
    if isinstance(inner, sp.Piecewise):
        variants = [value for value, _ in inner.args]
    elif isinstance(inner, sp.Abs):
        variants = [inner.args[0], -inner.args[0]]
    elif isinstance(inner, sp.Max | sp.Min):
        variants = list(inner.args)
    elif inner is not None:
        variants = [1, -1]
    if inner is not None:
        return set().union(*(_roots(sp, h.xreplace({inner: v}), x) for v in variants)) | (
            set() if not isinstance(inner, sp.Max | sp.Min) else _roots(sp, inner.args[0] - inner.args[1], x))
    try:
        return set(sp.Poly(h, x).real_roots())
    except (sp.PolynomialError, NotImplementedError):
        pass
    try:
        solved = sp.solveset(h, x, sp.S.Reals)
    except (NotImplementedError, ValueError, TypeError):
        solved = None
    if solved is sp.S.EmptySet:
        return set()
    if isinstance(solved, sp.FiniteSet) and all(r.is_number and r.is_real for r in solved):
        return set(solved)
    raise _Unsplittable(f"SymPy cannot list where {h} changes sign (solving {h} = 0 for {x} gives {solved}), "
                        "so its regions cannot be separated")


def _approximate_roots(sym: _Prover, xs: list[Any], switches: set[Any]) -> dict[Any, list[float]]:
    """Per input, where a switch of that input alone changes sign, found numerically (dense sampling, then bisection)."""
    sp, found = sym.sp, {x: [] for x in xs}
    grid = sorted({s * 10 ** (k / 20) for k in range(-60, 61) for s in (1, -1)} | {k / 20 for k in range(-200, 201)})
    for h in switches:
        if len(h.free_symbols) != 1 or not h.free_symbols <= set(xs):
            continue
        x = next(iter(h.free_symbols))
        f = _float_function(sp, [x], h)
        signs = [(v, f([v])) for v in grid]
        for (a, fa), (b, fb) in itertools.pairwise(signs):
            if fa is None or fb is None or fa * fb > 0 or fa == 0:
                continue
            for _ in range(80):
                mid = (a + b) / 2
                fm = f([mid])
                if fm is None or mid in (a, b):
                    break
                a, fa, b = (mid, fm, b) if fm * fa > 0 else (a, fa, mid)
            found[x].append(b)
    return found


def _float_function(sp: Any, xs: list[Any], expr: Any) -> Callable[[list[float]], float | None]:
    """expr as a float function of a point, None where it is undefined."""
    f = sp.lambdify(xs, expr, modules="math")

    def at(point: list[float]) -> float | None:
        try:
            v = float(f(*point))
        except (ArithmeticError, ValueError, TypeError):
            return None
        return v if math.isfinite(v) else None

    return at


def _float_signs(sp: Any, xs: list[Any], switches: set[Any]) -> Callable[[list[float], list[float]], bool]:
    """Whether some branch switch vanishes or changes sign between two points (so a kink may lie between), in floats."""
    fs = [_float_function(sp, xs, h) for h in switches]

    def crosses(a: list[float], b: list[float]) -> bool:
        for f in fs:
            va, vb = f(a), f(b)
            if va is None or vb is None or va * vb <= 0:
                return True
        return False

    return crosses


def _intervals(sp: Any, name: str, lo: Any, edges: list[Any]) -> list[tuple[str, list[Any]]]:
    """The open intervals from lo (None: minus infinity) across the edges, each named and with exact sample points."""
    exact = [sp.Rational(f) for f in (*BOTH_SIDES, *FROM_EDGE, *INSIDE)]
    both, from_edge, inside = exact[:4], exact[4:7], exact[7:]
    out = []
    for a, b in itertools.pairwise([lo, *edges, None]):
        if a is None and b is None:
            out.append((f"all {name}", both))
        elif b is None:
            out.append((f"{name} > {a}", [a + d for d in from_edge]))
        elif a is None:
            out.append((f"{name} < {b}", [b - d for d in from_edge]))
        else:
            out.append((f"{a} < {name} < {b}", [a + (b - a) * f for f in inside]))
    return out


def _branch(sp: Any, expr: Any, at: dict) -> Any:
    """expr with every Piecewise, Abs, sign, Max and Min replaced by the branch that holds around the point at."""

    def pick(e: Any) -> Any:
        if isinstance(e, sp.Piecewise):
            for value, cond in e.args:
                truth = cond.xreplace(at)
                if truth is sp.true:
                    return value
                if truth is not sp.false:
                    raise _Unsplittable(f"the condition {cond} cannot be decided at {_fmt_at(at)}")
            raise _Unsplittable(f"no branch of {e} holds at {_fmt_at(at)}")
        if isinstance(e, sp.Max | sp.Min):
            values = [a.xreplace(at) for a in e.args]
            if not all(v.is_number for v in values):
                raise _Unsplittable(f"the larger of {e.args} cannot be decided at {_fmt_at(at)}")
            chosen = (max if isinstance(e, sp.Max) else min)(range(len(values)), key=lambda k: values[k])
            return e.args[chosen]
        s = e.args[0].xreplace(at)
        if not s.is_number:
            raise _Unsplittable(f"the sign of {e.args[0]} cannot be decided at {_fmt_at(at)}")
        if isinstance(e, sp.Abs):
            return e.args[0] if s >= 0 else -e.args[0]
        return sp.sign(s)

    return sp.sympify(expr).replace(lambda e: isinstance(e, sp.Piecewise | sp.Abs | sp.sign | sp.Max | sp.Min), pick)


# -- proofs ---------------------------------------------------------------------------------------


def _is_zero(sp: Any, d: Any) -> str | None:
    """How SymPy shows d == 0, trying the cheap ways first; None if it cannot."""
    if d == 0:
        return "identical"
    for name, method in (("expand", sp.expand), ("cancel", sp.cancel), ("exp", _in_exp)):
        try:
            if method(d) == 0:
                return name
        except (sp.PolynomialError, TypeError, ValueError):  # cancel refuses some unsplit Piecewise expressions
            continue
    return None


def _in_exp(d: Any) -> Any:
    """d with tanh, sinh, cosh (and the like) written in exp, then cancelled: a cheap proof for rules in exp(-|x|)."""
    from sympy import cancel, exp

    return cancel(d.rewrite(exp))


def _compare(sym: _Prover, expected: Any, registered: Any, cell: _Cell, extra: dict) -> tuple[str, dict | None]:
    """Prove registered == expected on cell: (verdict-or-method, counterexample).

    A difference SymPy does not reduce to 0 is evaluated at every sampled point, exactly to DIGITS
    digits: one that is nonzero anywhere, however small, refutes the rule at the point where it is largest.
    """
    d = registered - expected
    method = _is_zero(sym.sp, d)
    if method:
        return method, None
    found = []
    for point in cell.points:
        at = {**point, **extra}
        e, r = sym.value(expected, at), sym.value(registered, at)
        if e is not None and r is not None and not _close(e, r, RTOL):
            return "refuted", {"at": _floats(point), **_floats(extra), "region": cell.name, "expected": e, "registered": r}
        diff = sym.difference(d, at)
        if diff and e is not None and r is not None:
            found.append((abs(diff), point, e, r, diff))
    if found:
        _, point, e, r, diff = max(found, key=lambda f: f[0])
        return "refuted", {"at": _floats(point), **_floats(extra), "region": cell.name, "expected": e, "registered": r,
                           "difference": diff}
    if sym.sp.simplify(d) == 0:
        return "simplify", None
    return "inconclusive", None


def _prove(sym: _Prover, cases: list[tuple[_Cell, Any, Any]], extra: dict) -> tuple[str, str, dict | None]:
    """(verdict, how, counterexample) for registered == expected in every (cell, expected, registered) case."""
    methods = []
    for cell, expected, registered in cases:
        method, cex = _compare(sym, expected, registered, cell, extra)
        if cex is not None:
            small = f" (by {cex['difference']:.3g}, exactly)" if "difference" in cex else ""
            return "refuted", f"they differ on {cell.name}{small}", cex
        methods.append((cell.name, method))
    unproved = [c for c, m in methods if m == "inconclusive"]
    if unproved:
        return ("inconclusive", f"SymPy could not reduce their difference to 0 on {', '.join(unproved)}, "
                f"and it is 0 to {DIGITS} digits at every sampled point", None)
    return "proved", "equal on " + "; ".join(f"{c} ({m})" for c, m in methods), None


def _symbolic_checks(sym: _Prover, op: Op, params: dict, s: _Symbols, branches: list[tuple[_Cell, list[Any]]],
                     split: str) -> Iterator[Check]:
    """For each input x_i, on every region: vjp_i == g * d forward / d x_i."""
    sp = sym.sp
    for i, (x, name) in enumerate(zip(s.xs, op.inputs)):
        cases = [(cell, s.g * sp.diff(f, x), vs[i]) for cell, (f, *vs) in branches]
        verdict, how, cex = _prove(sym, cases, {s.g: sym.exact(COTANGENT)})
        note = f"; {split}" if split and verdict == "inconclusive" else ""
        yield Check("symbolic", verdict, name, params, f"vjp for {name} vs g * d{op.name}/d{name}: {how}{note}",
                    str(s.g * sp.diff(s.forward, x)), str(s.vjps[i]), cex)


def _second_order(sym: _Prover, op: Op, params: dict, xs: list[Any], g: Any,
                  branches: list[tuple[_Cell, list[Any]]]) -> list[Check]:
    """The vjp differentiated again, symbolically and through grad(create_graph=True), vs SymPy's second derivative."""
    sp, checks = sym.sp, []
    for (i, x), y in itertools.product(enumerate(xs), xs):
        cases = [(cell, sp.diff(f, x, y), sp.diff(vs[i].xreplace({g: 1}), y)) for cell, (f, *vs) in branches]
        verdict, how, cex = _prove(sym, cases, {})
        checks.append(Check("second-derivative", verdict, op.inputs[i], params,
                            f"d/d{y} of the vjp for {x} (g = 1) vs d2{op.name}/d{x}d{y}: {how}",
                            " | ".join(str(e) for _, e, _ in cases), " | ".join(str(r) for _, _, r in cases), cex))
    return checks + [_graph_check(sym, op, params, xs, i, branches) for i in range(op.arity)]


def _graph_check(sym: _Prover, op: Op, params: dict, xs: list[Any], i: int,
                 branches: list[tuple[_Cell, list[Any]]]) -> Check:
    """grad(grad(op, create_graph=True)) at the sampled points vs SymPy's second derivatives."""
    name, checked = op.inputs[i], 0
    for cell, (f, *_) in branches:
        for point in cell.points:
            at = [float(v) for v in point.values()]
            try:
                second = _graph_second(op, params, at, i)
            except Exception as exc:
                return Check("graph", "error", name, params, (
                    f"grad(..., create_graph=True) cannot differentiate the vjp for {name} again at {_fmt_at(point)}: "
                    f"{type(exc).__name__}: {exc}"))
            for j, y in enumerate(xs):
                expected = sym.value(sym.sp.diff(f, xs[i], y), point)
                if expected is not None and not _close(expected, second[j], BACKEND_RTOL):
                    return Check("graph", "refuted", name, params,
                                 f"d/d{y} of the vjp for {name} through grad(create_graph=True) differs from SymPy's on {cell.name}",
                                 counterexample={"at": _floats(point), "region": cell.name, "expected": expected,
                                                 "registered": second[j]})
                checked += 1
    return Check("graph", "passed", name, params, f"second derivatives agree with SymPy at {checked} sampled point(s)")


def _graph_second(op: Op, params: dict, point: list[float], i: int) -> list[float]:
    """d/dx_j of (d op / d x_i) for every j, by the engine: grad with create_graph=True, then grad again."""
    xs = [Value(v) for v in point]
    first = grad(apply(op, tuple(xs), params), xs, create_graph=True)[i]
    if not isinstance(first, Value):  # a constant derivative
        return [0.0] * len(xs)
    return [float(d) for d in grad(first, xs)]


# -- branch points: kinks found, declared, or neither ------------------------------------------------------


def _branch_points(sym: _Prover, op: Op, params: dict, s: _Symbols, cells: list[_Cell], breaks: dict[Any, set],
                   switches: set[Any], resolver: Any) -> list[Check]:
    """Every point where a branch of the forward or a vjp switches, against the declared kinks.

    Where the forward's one-sided derivatives differ (or the forward jumps) the op is not differentiable:
    a Kink must be declared there. Where they agree, no Kink may be declared, and the vjp must give the
    derivative. A Kink declared where nothing branches is refuted too. Other inputs take a sampled value.
    """
    sp, checks, kinks_found = sym.sp, [], []
    base = cells[0].points[0]
    for i, x in enumerate(s.xs):
        name = op.inputs[i]
        points = sorted(breaks[x])
        for k, p in enumerate(points):
            gaps = [abs(p - q) for q in (points[k - 1:k] + points[k + 1:k + 2])]
            eps = min([sp.Rational(1, 1000) * max(1, abs(p)), *(gap / 4 for gap in gaps)])
            at = {**base, x: p}
            left, right = ({**at, x: p - eps}, {**at, x: p + eps})
            sides = [_branch(sp, s.forward, side) for side in (left, right)]
            values = [sym.value(f, at) for f in sides]
            slopes = [sym.value(sp.diff(f, x), at) for f in sides]
            fp, where = float(p), _fmt_at(at)
            vjp = _vjp_at(op, params, [float(v) for v in at.values()], i, resolver)
            match = [kk for kk in op.kinks if _same(kk.at[i], fp)]
            if None in values or None in slopes:
                continue
            jump = not _close(values[0], values[1], 1e-12)
            kink = jump or not _close(slopes[0], slopes[1], 1e-12)
            if kink:
                kinks_found.append((i, fp))
                if not match:
                    how = f"{op.name} jumps from {values[0]:.6g} to {values[1]:.6g}" if jump else \
                        f"d{op.name}/d{name} is {slopes[0]:.6g} for {name} < {fp:g} and {slopes[1]:.6g} for {name} > {fp:g}"
                    other = slopes[0] if vjp is None or not _close(slopes[0], vjp, 1e-12) else slopes[1]
                    checks.append(Check("kink", "refuted", name, params,
                                        f"undeclared kink at {where}: {how}; the vjp gives {_fmt_value(vjp)} there (g = 1). "
                                        f"Declare the value it takes: Op(..., kinks=(Kink({fp!r}, {_fmt_value(vjp)}),))",
                                        counterexample={"at": _floats(at), "g": 1.0, "expected": other,
                                                        "registered": math.nan if vjp is None else vjp}))
            elif match:  # a kink for other parameters (elu's alpha = 1 is smooth at 0): its value must be the derivative
                declared = float(match[0].grad[i] or 0.0)
                if not _close(slopes[0], declared, 1e-12):
                    checks.append(Check("kink", "refuted", name, params,
                                        f"a Kink at {_fmt_point(op, match[0].at)} declares {declared:g}, but {op.name} is "
                                        f"differentiable there with these parameters: d{op.name}/d{name} = {slopes[0]:.6g} on both sides",
                                        counterexample={"at": _floats(at), "g": 1.0, "expected": slopes[0], "registered": declared}))
            elif vjp is None or not _close(slopes[0], vjp, BACKEND_RTOL):
                checks.append(Check("branch", "refuted", name, params,
                                    f"at {where}, where a branch switches but {op.name} is differentiable, the vjp for {name} gives "
                                    f"{_fmt_value(vjp)} (g = 1), the derivative is {slopes[0]:.6g}",
                                    counterexample={"at": _floats(at), "g": 1.0, "expected": slopes[0],
                                                    "registered": math.nan if vjp is None else vjp}))
    for kk in op.kinks:
        at = {x: sym.exact(float(v)) for x, v in zip(s.xs, kk.at)}
        if not any(sym.value(h, at) in (0.0, None) for h in switches):
            checks.append(Check("kink", "refuted", op.inputs[0] if op.arity == 1 else None, params,
                                f"a Kink is declared at {_fmt_point(op, kk.at)}, but nothing of {op.name} branches there "
                                f"(it switches branch at {_fmt_breaks(op, s.xs, breaks)})"))
    if not checks:
        where = ", ".join(f"{op.inputs[i]}={fp:g}" for i, fp in kinks_found) or "none"
        checks.append(Check("branch", "passed", None, params,
                            f"branch points: {_fmt_breaks(op, s.xs, breaks)}; "
                            f"kinks among them: {where}, each declared; the vjp gives the derivative at the others"))
    return checks


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=0, abs_tol=1e-12 * max(1.0, abs(b)))


def _vjp_at(op: Op, params: dict, point: list[float], i: int, resolver: Any) -> float | None:
    """The scalar backend's vjp for input i at point, g = 1 (None if it fails)."""
    xp = Scalar(resolver)
    try:
        return float(_cotangents(op, op.vjp(xp, 1.0, op.forward(xp, *point, **params), *point, **params))[i])
    except Exception:
        return None


# -- numeric checks -------------------------------------------------------------------------------


def _accuracy(sym: _Prover, op: Op, params: dict, breaks: list[set[float]]) -> Check:
    """The accuracy check of one example: microreg.accuracy's measurement against the op's bound."""
    try:
        exact = _on_symbols(sym, op, params, binary=True)
    except _OpFailed as exc:
        return Check("accuracy", "unchecked", None, params, f"no exact values: {exc}")
    backends = {"scalar": _engine(op, params, arrays=False), "array": _engine(op, params, arrays=True)}
    m = accuracy.measure(exact.xs, op.domains, exact.forward, breaks, backends, op.accuracy)
    return _judged(op, params, m, "on the scalar and array backends")


def _judged(op: Op, params: dict, m: accuracy.Measurement, results: str, where: str = "") -> Check:
    """The accuracy check that a measurement makes: unchecked where no exact value was finite, else accurate or
    inaccurate, naming the worst points. results says which results were measured, where at which shapes."""
    if not m.results:
        return Check("accuracy", "unchecked", None, params, f"no point of the grid has a finite exact value{where}")
    declared = f" (declared: {op.accuracy.reason})" if op.accuracy else ""
    worst = {**asdict(m.worst), "excess": m.worst.excess}
    if m.accurate:
        return Check("accuracy", "accurate", None, params,
                     f"{m.results} float64 results {results} within {m.bound:g} ulps{where}{declared}; "
                     f"worst: {m.worst.describe()}", worst=worst)
    failures = f"; {m.failures} of them raise, overflow or give 0 where the exact value is not 0" if m.failures else ""
    return Check("accuracy", "inaccurate", None, params,
                 f"{len(m.misses)} of {m.results} float64 results {results} are off by more than {m.bound:g} ulps{where}{declared}"
                 f"{failures}; worst: {m.worst.describe()}; also: {'; '.join(x.describe() for x in m.misses[1:3]) or 'none'}",
                 worst=worst)


def _engine(op: Op, params: dict, arrays: bool) -> accuracy.Backend:
    """op run as a user runs it, through the engine: apply() on Values, then grad() (g = 1); on arrays, all points at once
    (point by point where the engine refuses the whole array, to find the points it fails at)."""

    def run(points: list[tuple[float, ...]]) -> list[list[Any]]:
        if not arrays:
            return [_engine_row(op, params, [Value(v) for v in p]) for p in points]
        whole = _engine_row(op, params, [Value(np.array(c, dtype=np.float64)) for c in zip(*points)])
        if any(isinstance(v, str) for v in whole):
            return [_engine_row(op, params, [Value(np.array([v])) for v in p], first=True) for p in points]
        return [list(row) for row in zip(*(np.broadcast_to(np.asarray(v, dtype=np.float64), (len(points),)).tolist() for v in whole))]

    return run


def _engine_row(op: Op, params: dict, inputs: list[Value], first: bool = False) -> list[Any]:
    """The forward and each cotangent the engine computes from inputs (first: of one-element arrays, as floats), or why it fails."""
    try:
        out = apply(op, tuple(inputs), params)
    except Exception as exc:
        return [f"raises {type(exc).__name__}: {exc}"] * (1 + op.arity)
    try:
        row = [out.data, *grad(out, inputs)]
    except Exception as exc:
        row = [out.data, *[f"raises {type(exc).__name__}: {exc}"] * op.arity]
    return [float(np.asarray(v).reshape(-1)[0]) if first and not isinstance(v, str) else v for v in row]


def _backend_checks(sym: _Prover, op: Op, params: dict, g: Any, branches: list[tuple[_Cell, list[Any]]],
                    resolver: Any) -> list[Check]:
    """The scalar and array backends vs the exact forward and vjp (at g = 3/2) at every sampled point."""
    gval = sym.exact(COTANGENT)
    rows = []
    for cell, (f, *vs) in branches:
        for point in cell.points:
            at = {**point, g: gval}
            rows.append((cell.name, [float(v) for v in point.values()], sym.value(f, at), [sym.value(v, at) for v in vs]))
    rows = [r for r in rows if r[2] is not None and None not in r[3]]  # points where the exact values are real
    return [_scalar_check(op, params, rows, resolver), _array_check(op, params, rows, resolver)] if rows else []


def _scalar_check(op: Op, params: dict, rows: list, resolver: Any) -> Check:
    xp = Scalar(resolver)
    for region, point, f, vs in rows:
        try:
            out = op.forward(xp, *point, **params)
            got = [float(out), *map(float, _cotangents(op, op.vjp(xp, COTANGENT, out, *point, **params)))]
        except Exception as exc:
            return Check("scalar", "error", None, params,
                         f"the scalar backend fails at {_fmt_point(op, point)}: {type(exc).__name__}: {exc}")
        mismatch = _mismatch(op, [f, *vs], got)
        if mismatch:
            return _backend_refuted("scalar", op, params, region, point, mismatch)
    return Check("scalar", "passed", None, params, f"forward and vjp agree with SymPy at {len(rows)} sampled point(s)")


def _array_check(op: Op, params: dict, rows: list, resolver: Any) -> Check:
    xp, n = Array(resolver), len(rows)
    columns = [np.array(c) for c in zip(*(point for _, point, _, _ in rows))]
    try:
        with np.errstate(all="raise", under="ignore"):
            out = op.forward(xp, *columns, **params)
            results = [out, *_cotangents(op, op.vjp(xp, np.full(n, COTANGENT), out, *columns, **params))]
            got = np.stack([np.broadcast_to(np.asarray(r, dtype=np.float64), (n,)) for r in results], axis=1)
    except Exception as exc:
        return Check("array", "error", None, params, f"the array backend fails on the sampled points: {type(exc).__name__}: {exc}")
    for (region, point, f, vs), row in zip(rows, got):
        mismatch = _mismatch(op, [f, *vs], list(row))
        if mismatch:
            return _backend_refuted("array", op, params, region, point, mismatch)
    return Check("array", "passed", None, params, f"forward and vjp agree with SymPy on an array of {n} point(s)")


def _backend_refuted(backend: str, op: Op, params: dict, region: str, point: Sequence[float],
                     mismatch: tuple[str, float, float]) -> Check:
    what, expected, registered = mismatch
    return Check(backend, "refuted", None, params, f"the {backend} backend's {what} differs from SymPy's on {region}",
                 counterexample={"at": dict(zip(op.inputs, point)), "g": COTANGENT, "region": region,
                                 "expected": expected, "registered": registered})


def _mismatch(op: Op, expected: list[float], got: list[float]) -> tuple[str, float, float] | None:
    """The first of forward, vjp for x, vjp for y where a backend's value differs from the exact one."""
    for what, e, v in zip(["forward", *(f"vjp for {n}" for n in op.inputs)], expected, got):
        if not _close(e, float(v), BACKEND_RTOL):
            return what, e, float(v)
    return None


def _central_differences(op: Op, params: dict, cells: list[_Cell], resolver: Any,
                         crosses: Callable[[list[float], list[float]], bool]) -> list[Check]:
    """The scalar vjp (g = 1) vs float64 central differences of the forward, at points away from kinks.

    A difference is skipped where its two points straddle a declared kink or a branch switch (``crosses``).
    """
    xp = Scalar(resolver)
    checks = {}
    for i, name in enumerate(op.inputs):
        checked, failed = 0, None
        for cell in cells:
            for point in cell.points:
                at = [float(v) for v in point.values()]
                step = 1e-6 * max(1.0, abs(at[i]))
                down, up = list(at), list(at)
                down[i] -= step
                up[i] += step
                if any(down[i] <= k.at[i] <= up[i] for k in op.kinks) or crosses(down, up):
                    continue
                try:
                    cot = _cotangents(op, op.vjp(xp, 1.0, op.forward(xp, *at, **params), *at, **params))[i]
                    fd = (op.forward(xp, *up, **params) - op.forward(xp, *down, **params)) / (2 * step)
                except Exception as exc:
                    return [Check("central-difference", "error", name, params,
                                  f"the scalar backend fails at {_fmt_point(op, at)}: {type(exc).__name__}: {exc}")]
                checked += 1
                got = float(cot)
                if failed is None and abs(fd - got) > FD_RTOL * (1 + abs(got)):
                    failed = Check("central-difference", "refuted", name, params,
                                   f"the vjp for {name} (g = 1) differs from the central difference of the forward on {cell.name}",
                                   counterexample={"at": dict(zip(op.inputs, at)), "g": 1.0, "region": cell.name,
                                                   "expected": fd, "registered": got})
        checks[name] = failed or Check("central-difference", "passed", name, params,
                                       f"the vjp for {name} agrees with central differences at {checked} point(s)")
    return list(checks.values())


def _kink_checks(op: Op, resolver: Any) -> list[Check]:
    """At each declared Kink, the vjp for g = 1 and the default parameters gives the declared cotangents."""
    params = _kink_params(op)
    checks = []
    for kink in op.kinks:
        declared = [0.0 if v is None else float(v) for v in kink.grad]
        found: dict[str, list[float]] = {}
        try:
            for backend, xp, wrap in (("scalar", Scalar(resolver), float), ("array", Array(resolver), _one)):
                args = [wrap(a) for a in kink.at]
                with np.errstate(all="raise", under="ignore"):
                    cots = _cotangents(op, op.vjp(xp, wrap(1.0), op.forward(xp, *args, **params), *args, **params))
                found[backend] = [float(np.asarray(c).reshape(-1)[0]) for c in cots]
        except Exception as exc:
            message = f"the vjp cannot be evaluated at the kink {_fmt_point(op, kink.at)}: {type(exc).__name__}: {exc}"
            checks += [Check("kink", "error", name, params, message) for name in op.inputs]
            continue
        for i, name in enumerate(op.inputs):
            wrong = [(b, v[i]) for b, v in found.items() if not _close(declared[i], v[i], 1e-12)]
            at = dict(zip(op.inputs, kink.at))
            if wrong:
                backend, got = wrong[0]
                checks.append(Check("kink", "refuted", name, params,
                                    f"at the kink {_fmt_point(op, kink.at)} the {backend} vjp for {name} gives {got:g} for g = 1, "
                                    f"but the Kink declares {declared[i]:g}",
                                    counterexample={"at": at, "g": 1.0, "expected": declared[i], "registered": got}))
            else:
                checks.append(Check("kink", "passed", name, params,
                                    f"at the kink {_fmt_point(op, kink.at)} the vjp for {name} gives {declared[i]:g}, as declared"))
    return checks


def _kink_params(op: Op) -> dict[str, Any]:
    """The static parameters kinks are declared for: the first example, with every default the op has."""
    return {**op.examples[0], **{k: d for k, d in op.params.items() if d is not REQUIRED}}


def _one(v: float) -> np.ndarray:
    return np.array([float(v)])


def _close(expected: float, got: float, rtol: float) -> bool:
    return math.isclose(expected, got, rel_tol=rtol, abs_tol=rtol * 1e-3) if math.isfinite(got) else False


# -- ops that are not elementwise: proved on arrays of symbols ----------------------------------------

COTANGENTS = ("3/2", "-7/10", "11/10", "-13/20")  # the cotangent's elements at sampled points, cycled


class _ShapedRun:
    """The audit of an op that is not elementwise, as ``_Run`` does an elementwise one: at each example of its shapes
    and of its static parameters, everything under the time budget (its symbols are few, its numeric checks cheap)."""

    def __init__(self, op: Op, sym: _Prover, resolver: Any, order: int, measure: bool) -> None:
        self.op, self.sym, self.resolver, self.order, self.measure = op, sym, resolver, order, measure
        self.cases = [(shapes, dict(params)) for shapes in op.shapes for params in op.examples]
        self.checks: list[Check] = []
        self.done = 0

    def symbolic(self, timer: Budget) -> None:
        for shapes, params in self.cases:
            self.checks += _audit_shapes(self.op, shapes, params, self.sym, self.resolver, self.order, self.measure,
                                         branches=(shapes, params) == self.cases[0])
            self.done += 1
            timer.check()

    def timed_out(self, why: str) -> None:
        """Mark every example the budget cut short: inconclusive, never a pass."""
        for shapes, params in self.cases[self.done:]:
            self.checks += [Check("symbolic", "inconclusive", name, params, f"at shapes {shapes}: {why}") for name in self.op.inputs]

    def numeric(self) -> list[Check]:
        return self.checks


def _audit_shapes(op: Op, shapes: tuple, params: dict[str, Any], sym: _Prover, resolver: Any, order: int,
                  measure: bool, branches: bool) -> list[Check]:
    """Every check of an op that is not elementwise (matmul), at one example of its input shapes.

    The inputs are NumPy arrays of symbols (``x[0,1]``, ...) with the op's domains, the cotangent an
    array of symbols ``g[...]`` of the output's shape. For each element e of each input, the vjp's
    cotangent must be the vector-Jacobian product: the sum over the output's elements k of
    ``g[k] * d out[k] / d e``. Numerically, the array backend must agree with it at a sampled point,
    and with central differences; at order 2, so must the vjp differentiated again through the engine.
    """
    sp, at_shapes = sym.sp, f"at shapes {', '.join(map(str, shapes))}"
    xs = [_symbol_array(sp, name, shape, ASSUMPTIONS[d]) for name, shape, d in zip(op.inputs, shapes, op.domains)]
    exact_params = {k: sym.exact(v) for k, v in params.items()}
    try:
        with sym.exact_floats():
            out = _call(op, "forward", op.forward, sym.xp, xs, exact_params)
            g = _symbol_array(sp, "g", np.shape(out), {"real": True})
            vjps = _cotangents(op, _call(op, "vjp", op.vjp, sym.xp, [g[()] if not g.ndim else g, out, *xs], exact_params))
    except _OpFailed as exc:
        return [Check("symbolic", "error", name, params, f"{exc} ({at_shapes})") for name in op.inputs]
    outs, gs = np.asarray(out, dtype=object).reshape(-1), g.reshape(-1)
    expected = [_vjp_product(sp, outs, gs, x) for x in xs]
    point = {**{e: v for x, d in zip(xs, op.domains) for e, v in zip(x.flat, _sample(sp, d, x.size))},
             **dict(zip(gs, itertools.cycle(sp.Rational(c) for c in COTANGENTS)))}
    checks = []
    for name, x, want, got in zip(op.inputs, xs, expected, vjps):
        got = np.asarray(got, dtype=object)
        if got.shape != x.shape:
            checks.append(Check("symbolic", "refuted", name, params,
                                f"the vjp for {name} has shape {got.shape}, its input {x.shape} ({at_shapes})"))
            continue
        verdict, how, cex = _prove_elements(sym, x, want, got, point)
        checks.append(Check("symbolic", verdict, name, params,
                            f"vjp for {name} vs the vector-Jacobian product of {op.name} {at_shapes}: {how}",
                            str(want.tolist()), str(got.tolist()), cex))
    if branches:  # kinks are not declared per element: an op on arrays must not branch (matmul, sum, transpose do not)
        found = _switches(sp, [*outs, *(v for c in vjps for v in np.asarray(c, dtype=object).flat)])
        checks.append(Check("branch", "inconclusive", None, params, f"it branches on {', '.join(map(str, found))} {at_shapes}: "
                                                                    "kinks of an op on arrays cannot be declared or checked")
                      if found else Check("branch", "passed", None, params, f"branch points: none {at_shapes}"))
    if any(c.verdict == "refuted" for c in checks):
        return checks
    checks.append(_shaped_array_check(op, params, xs, gs, outs, vjps, point, at_shapes, resolver))
    checks += _shaped_central_differences(op, params, xs, gs, point, at_shapes, resolver)
    if measure:
        checks.append(_shaped_accuracy(sym, op, params, xs, outs.reshape(g.shape), at_shapes))
    if order >= 2:
        checks += [_shaped_graph_check(sym, op, params, xs, g, expected[i], point, i, at_shapes) for i in range(op.arity)]
    return checks


def _shaped_accuracy(sym: _Prover, op: Op, params: dict, xs: list[np.ndarray], out: np.ndarray, at_shapes: str) -> Check:
    """The accuracy check at one example of shapes: microreg.accuracy measures sum(c * out), and its gradient, whose
    elements are the vjp's for g = c, over its grid of values of every input element. c is 2**-m in every element,
    with 2**m at least the number of elements: exact products, and a sum that cannot overflow where its value does not."""
    sp = sym.sp
    c = np.full(out.shape, sp.Rational(1, 2 ** out.size.bit_length()), dtype=object)
    elements = [e for x in xs for e in x.flat]
    domains = [d for x, d in zip(xs, op.domains) for _ in x.flat]
    weights, starts = c.astype(np.float64), np.cumsum([0, *(x.size for x in xs)])

    def engine(points: list[tuple[float, ...]]) -> list[list[Any]]:
        rows = []
        for p in points:
            values = [Value(np.array(p[a:b]).reshape(x.shape)) for a, b, x in zip(starts, starts[1:], xs)]
            try:
                total = (apply(op, tuple(values), params) * weights).sum()
                rows.append([total.data, *(float(v) for gr in grad(total, values) for v in np.ravel(gr))])
            except Exception as exc:
                rows.append([f"raises {type(exc).__name__}: {exc}"] * (1 + len(elements)))
        return rows

    forward = sp.Add(*(ck * ok for ck, ok in zip(c.flat, out.flat)))
    m = accuracy.measure(elements, domains, forward, [set() for _ in elements], {"array": engine}, op.accuracy)
    return _judged(op, params, m, "(sum(c * out) and its gradient, the vjp for g = c)", f" {at_shapes}")


def _symbol_array(sp: Any, name: str, shape: tuple[int, ...], assumptions: dict) -> np.ndarray:
    """A NumPy array of SymPy symbols named name[i,j] (just name for shape ())."""
    arr = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        arr[idx] = sp.Symbol(f"{name}[{','.join(map(str, idx))}]" if idx else name, **assumptions)
    return arr


def _sample(sp: Any, domain: str, n: int) -> list[Any]:
    """n exact values inside a domain, the audit's sample points cycled."""
    values = FROM_EDGE if domain in ("positive", "nonnegative") else BOTH_SIDES
    return [sp.Rational(v) for v, _ in zip(itertools.cycle(values), range(n))]


def _vjp_product(sp: Any, outs: np.ndarray, gs: np.ndarray, x: np.ndarray) -> np.ndarray:
    """For each element e of x: the sum over the output's elements k of g[k] * d out[k] / d e."""
    product = np.empty(x.shape, dtype=object)
    for idx in np.ndindex(*x.shape):
        product[idx] = sp.Add(*(gk * sp.diff(ok, x[idx]) for gk, ok in zip(gs, outs)))
    return product


def _prove_elements(sym: _Prover, x: np.ndarray, want: np.ndarray, got: np.ndarray, point: dict) -> tuple[str, str, dict | None]:
    """(verdict, how, counterexample) for got == want, element by element."""
    methods = set()
    for idx in np.ndindex(*x.shape):
        method = _is_zero(sym.sp, got[idx] - want[idx])
        if method is None:
            e, r = sym.value(want[idx], point), sym.value(got[idx], point)
            if e is not None and r is not None and not _close(e, r, RTOL):
                return "refuted", f"they differ at element {x[idx]}", {"at": _floats(point), "region": f"element {x[idx]}",
                                                                       "expected": e, "registered": r}
            method = "simplify" if sym.sp.simplify(got[idx] - want[idx]) == 0 else None
        if method is None:
            return "inconclusive", f"SymPy could not reduce their difference to 0 at element {x[idx]}", None
        methods.add(method)
    return "proved", f"equal at every element ({', '.join(sorted(methods))})", None


def _numbers(xs: list[np.ndarray], point: dict) -> list[np.ndarray]:
    """The inputs' values at point, as float64 arrays."""
    return [np.array([float(point[e]) for e in x.flat]).reshape(x.shape) for x in xs]


def _shaped_array_check(op: Op, params: dict, xs: list[np.ndarray], gs: np.ndarray, outs: np.ndarray, vjps: list[Any],
                        point: dict, at_shapes: str, resolver: Any) -> Check:
    """The array backend's forward and vjp vs their exact values at the sampled point."""
    g = np.array([float(point[e]) for e in gs]).reshape(np.shape(outs) if len(gs) > 1 else ())
    want = [np.array([_at(o, point) for o in outs]), *(np.array([_at(v, point) for v in np.asarray(c).flat]) for c in vjps)]
    try:
        with np.errstate(all="raise", under="ignore"):
            args = _numbers(xs, point)
            out = op.forward(Array(resolver), *args, **params)
            g = g.reshape(np.shape(out))
            got = [np.ravel(out), *(np.ravel(c) for c in _cotangents(op, op.vjp(Array(resolver), g, out, *args, **params)))]
    except Exception as exc:
        return Check("array", "error", None, params, f"the array backend fails {at_shapes}: {type(exc).__name__}: {exc}")
    for what, w, v in zip(["forward", *(f"vjp for {n}" for n in op.inputs)], want, got):
        bad = [(a, b) for a, b in zip(w, v) if not _close(a, float(b), BACKEND_RTOL)]
        if len(w) != len(v) or bad:
            return Check("array", "refuted", None, params, f"the array backend's {what} differs from SymPy's {at_shapes}",
                         counterexample={"at": _floats(point), "expected": bad[0][0] if bad else len(w),
                                         "registered": float(bad[0][1]) if bad else len(v)})
    return Check("array", "passed", None, params, f"forward and vjp agree with SymPy {at_shapes}")


def _at(expr: Any, point: dict) -> float:
    """expr (a SymPy expression or a number) at point, as a float."""
    return float(expr.xreplace(point)) if hasattr(expr, "xreplace") else float(expr)


def _shaped_central_differences(op: Op, params: dict, xs: list[np.ndarray], gs: np.ndarray, point: dict, at_shapes: str,
                                resolver: Any) -> list[Check]:
    """Each element of each input's vjp (at the sampled g) vs the central difference of sum(g * forward) in it."""
    xp, args = Array(resolver), _numbers(xs, point)
    checks = []
    try:
        out = op.forward(xp, *args, **params)
        g = np.array([float(point[e]) for e in gs]).reshape(np.shape(out))
        cots = [np.asarray(c) for c in _cotangents(op, op.vjp(xp, g, out, *args, **params))]
    except Exception as exc:
        return [Check("central-difference", "error", name, params, f"the array backend fails {at_shapes}: {type(exc).__name__}: {exc}")
                for name in op.inputs]
    for i, name in enumerate(op.inputs):
        failed = None
        for idx in np.ndindex(*xs[i].shape):
            step = 1e-6 * max(1.0, abs(args[i][idx]))
            sides = []
            for sign in (1, -1):
                moved = [a.copy() for a in args]
                moved[i][idx] += sign * step
                sides.append(float(np.sum(g * op.forward(xp, *moved, **params))))
            fd, got = (sides[0] - sides[1]) / (2 * step), float(cots[i][idx])
            if failed is None and abs(fd - got) > FD_RTOL * (1 + abs(got)):
                failed = Check("central-difference", "refuted", name, params,
                               f"the vjp for {name} differs from the central difference of the forward at element {xs[i][idx]} {at_shapes}",
                               counterexample={"at": _floats(point), "expected": fd, "registered": got})
        agrees = f"the vjp for {name} agrees with central differences at each of its {xs[i].size} elements {at_shapes}"
        checks.append(failed or Check("central-difference", "passed", name, params, agrees))
    return checks


def _shaped_graph_check(sym: _Prover, op: Op, params: dict, xs: list[np.ndarray], g: np.ndarray, want: np.ndarray,
                        point: dict, i: int, at_shapes: str) -> Check:
    """The vjp for input i differentiated again by the engine (grad with create_graph=True, then grad) vs SymPy.

    With r a fixed array of x_i's shape, the engine's d/dx_j of sum(r * vjp_i) at the sampled point must be
    SymPy's derivative of sum(r * the vector-Jacobian product for x_i), for every input x_j.
    """
    sp, name = sym.sp, op.inputs[i]
    rs = np.array(_sample(sp, "real", xs[i].size), dtype=object).reshape(xs[i].shape)
    at_g = {e: point[e] for e in g.flat}
    target = sp.Add(*(r * w.xreplace(at_g) for r, w in zip(rs.flat, want.flat)))
    try:
        values = [Value(a) for a in _numbers(xs, point)]
        cotangent = np.array([float(point[e]) for e in g.flat]).reshape(g.shape)
        first = grad((apply(op, tuple(values), params) * cotangent).sum(), values, create_graph=True)[i]
        second = grad((first * rs.astype(np.float64)).sum(), values)
    except Exception as exc:
        return Check("graph", "error", name, params, f"grad(..., create_graph=True) cannot differentiate the vjp for {name} "
                                                     f"again {at_shapes}: {type(exc).__name__}: {exc}")
    for x, got in zip(xs, second):
        got = np.broadcast_to(np.asarray(got, dtype=np.float64), x.shape)
        for idx in np.ndindex(*x.shape):
            expected = sym.value(sp.diff(target, x[idx]), point)
            if expected is not None and not _close(expected, float(got[idx]), BACKEND_RTOL):
                return Check("graph", "refuted", name, params,
                             f"d/d{x[idx]} of the vjp for {name} through grad(create_graph=True) differs from SymPy's {at_shapes}",
                             counterexample={"at": _floats(point), "expected": expected, "registered": float(got[idx])})
    return Check("graph", "passed", name, params, f"second derivatives agree with SymPy at every element {at_shapes}")

# -- formatting -----------------------------------------------------------------------------------


def _floats(point: dict) -> dict[str, float]:
    return {str(k): float(v) for k, v in point.items()}


def _fmt_at(at: dict) -> str:
    return ", ".join(f"{k}={float(v):g}" for k, v in at.items())


def _fmt_point(op: Op, point: Sequence[float]) -> str:
    return ", ".join(f"{n}={v:g}" for n, v in zip(op.inputs, point))


def _fmt_params(params: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


def _fmt_breaks(op: Op, xs: list[Any], breaks: dict[Any, set]) -> str:
    return ", ".join(f"{n}={float(p):g}" for x, n in zip(xs, op.inputs) for p in sorted(breaks[x])) or "none"


def _fmt_value(v: float | None) -> str:
    return "nothing (it fails)" if v is None else repr(v)


def _fmt_counterexample(cex: dict) -> str:
    at = ", ".join(f"{k}={v:g}" for k, v in cex["at"].items())
    g = f", g={cex['g']:g}" if "g" in cex else ""
    small = f" (difference {cex['difference']:.6g}, exactly nonzero)" if "difference" in cex else ""
    return f"at {at}{g}: expected {cex['expected']:.12g}, registered {cex['registered']:.12g}{small}"
