"""The derivative audit: every op's vjp proved equal to SymPy's derivative of its forward, and checked numerically.

For each op, each example of its static parameters and each input ``x_i``:

- **symbolic**: forward and vjp run on SymPy symbols (the input's domain as assumptions, the
  cotangent a symbol ``g``, float parameters and constants read as the exact decimals they print
  as); the vjp must equal ``g * d forward / d x_i``. A rule built with ``xp.where``, ``xp.abs`` or
  ``xp.sign`` is proved region by region: the audit finds where each condition changes sign and
  proves the branch that holds in each region. ``proved`` when SymPy reduces the difference to 0,
  ``refuted`` when it is nonzero at a sampled point inside the domain (the counterexample is
  reported), ``inconclusive`` otherwise (never a pass), ``error`` when the op cannot run on symbols.
- **numeric**: the scalar and array backends agree with the symbolic forward and vjp at the
  sampled points, and the scalar vjp with float64 central differences away from kinks.
- **kinks**: at each declared ``Kink`` the vjp (g = 1, default parameters) gives the declared value.
- **order 2** (``--order 2``): the vjp differentiated again matches SymPy's second derivative, both
  symbolically and through ``microreg.grad(..., create_graph=True)`` twice.

Results are data: ``audit()`` returns one ``OpAudit`` per op. SymPy is imported only when an audit
runs. Strict loading (``MICROREG_STRICT=1``) runs it through ``microreg.strict``, cached on disk; the
``microreg audit`` command (``microreg.cli``) prints it.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .backends import Array, Scalar
from .op import REQUIRED, Op, code_names
from .plugins import registry
from .value import Value, apply, grad

VERDICTS = ("proved", "refuted", "inconclusive", "error")

ASSUMPTIONS = {"real": {"real": True}, "positive": {"positive": True},
               "nonnegative": {"nonnegative": True}, "nonzero": {"real": True, "nonzero": True}}
# Sample points, exact, chosen off small integers so that a wrong rule rarely agrees by coincidence.
BOTH_SIDES = ("-17/10", "-2/5", "13/20", "23/10")
FROM_EDGE = ("3/8", "13/10", "29/10")
INSIDE = ("1/4", "11/20", "17/20")  # fractions of the way across a bounded interval
COTANGENT = 1.5  # g at sampled points: a vjp that forgets g is off by this factor
RTOL = 1e-9  # symbolic vs symbolic: exact arithmetic, so any real disagreement is far above this
BACKEND_RTOL = 1e-8  # float64 backends vs exact values
FD_RTOL = 1e-6  # central differences, step 1e-6 * max(1, |x|)


@dataclass
class Check:
    """One check of one op: its kind, which input's derivative, the static parameters, and the verdict.

    ``verdict`` is ``proved`` (symbolic), ``passed`` (numeric, kink), ``refuted``, ``inconclusive`` or
    ``error``; ``counterexample`` holds the point, g, and the expected and registered values there.
    """

    kind: str
    verdict: str
    input: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    expected: str | None = None
    registered: str | None = None
    counterexample: dict[str, Any] | None = None


@dataclass
class OpAudit:
    """The audit of one op: the overall verdict (one of ``VERDICTS``) and every check behind it."""

    op: str
    plugin: str
    verdict: str
    inputs: tuple[str, ...]
    checks: list[Check]
    seconds: float

    def input_verdicts(self) -> dict[str, str]:
        """Each input's verdict, from the checks of its derivative."""
        return {name: _worst(c.verdict for c in self.checks if c.input == name) for name in self.inputs}

    def problems(self) -> list[Check]:
        """The checks that keep this op from being proved."""
        return [c for c in self.checks if c.verdict not in ("proved", "passed")]

    def to_json(self) -> dict[str, Any]:
        """This audit as JSON-ready data: the fields docs/audit.md lists under "JSON fields"."""
        per_input = self.input_verdicts()
        origin = registry.plugins.get(self.plugin)
        return {"op": self.op, "plugin": self.plugin, "version": origin.version if origin else None,
                "verdict": self.verdict, "seconds": round(self.seconds, 4),
                "inputs": [{"input": n, "verdict": per_input[n], "checks": [asdict(c) for c in self.checks if c.input == n]}
                           for n in self.inputs],
                "checks": [asdict(c) for c in self.checks if c.input is None]}

    def report(self) -> str:
        """What went wrong, in words: one paragraph per problem (empty when proved)."""
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


# -- the audit ------------------------------------------------------------------------------------


def audit(ops: Iterable[Op | str] | None = None, *, order: int = 1, progress: Callable[[OpAudit], None] | None = None,
          resolver: Any = None, plugin: str | None = None) -> list[OpAudit]:
    """Audit ops (registered names or ``Op`` records; every registered op by default), in order.

    ``resolver`` finds the ops they call through ``xp`` (the registry by default: strict loading passes
    one that also sees a plugin's ops before they are registered); ``plugin`` names where they come from
    (by default, the plugin that registered each).
    """
    resolver = resolver if resolver is not None else registry
    chosen = [registry.get(o) if isinstance(o, str) else o for o in (sorted(registry.ops()) if ops is None else ops)]
    sym = _Prover(resolver)
    records = []
    for op in chosen:
        record = audit_op(op, plugin=plugin or _plugin_of(op), order=order, resolver=resolver, sym=sym)
        records.append(record)
        if progress is not None:
            progress(record)
    return records


def audit_op(op: Op, *, plugin: str = "", order: int = 1, resolver: Any = None, sym: _Prover | None = None) -> OpAudit:
    """Audit one op. ``resolver`` finds the ops it calls through ``xp`` (the registry by default)."""
    start = time.perf_counter()
    resolver = resolver if resolver is not None else registry
    sym = sym or _Prover(resolver)
    checks: list[Check] = []
    forms = op.forms()  # a variadic op at each of its declared arities, with inputs named wx[0], wx[1], ...
    for form in forms:
        for params in op.examples:  # each complete: Op fills in the defaults
            checks += _audit_example(form, dict(params), sym, resolver, order)
    checks += _kink_checks(op, resolver)
    inputs = max((f.inputs for f in forms), key=len)
    return OpAudit(op.name, plugin or _plugin_of(op), _worst(c.verdict for c in checks), inputs, checks,
                   time.perf_counter() - start)


def _plugin_of(op: Op) -> str:
    return registry.origin(op.name).name if registry.find(op.name) is op else "(unregistered)"


_CONVERTER_LOCK = threading.Lock()


class _Unsplittable(Exception):
    """The op's branches cannot be separated into regions of constant sign (the message says why)."""


class _Prover:
    """What the symbolic checks work with: SymPy (imported here, on first use), a Symbolic xp namespace
    resolving ops through resolver, and exact numbers."""

    def __init__(self, resolver: Any) -> None:
        from .backends import Symbolic

        self.xp = Symbolic(resolver)
        self.sp = self.xp.sympy

    def exact(self, value: Any) -> Any:
        """A float as the exact decimal it prints as (0.1 -> 1/10), so that SymPy proves identities exactly."""
        if not isinstance(value, float):
            return value
        return self.sp.Rational(repr(float(value))) if math.isfinite(value) else self.sp.Float(value)

    @contextmanager
    def exact_floats(self) -> Iterator[None]:
        """While op code runs on symbols, every float it mixes in (a constant, 0.5 * x) enters SymPy exact.

        Rounding each float product separately (as SymPy's Float does) would leave a forward and a vjp
        that compute the same constant in different orders unequal by 1e-16, and so unprovable; SymPy's
        documented ``converter`` hook makes them exact, for this process, only while the op runs.
        """
        from sympy.core.sympify import converter

        with _CONVERTER_LOCK:  # audits in several threads take turns with the hook
            previous = converter.get(float)
            converter[float] = self.exact
            try:
                yield
            finally:
                if previous is None:
                    del converter[float]
                else:
                    converter[float] = previous

    def rationalize(self, expr: Any) -> Any:
        sp = self.sp
        expr = sp.sympify(expr)
        floats = expr.atoms(sp.Float)
        return expr.xreplace({f: self.exact(f) for f in floats}) if floats else expr

    def value(self, expr: Any, at: dict) -> float | None:
        """expr at an exact point as a float, or None where it is not a finite real number."""
        v = expr.xreplace(at).evalf(30)
        return float(v) if v.is_real and v.is_finite else None


def _audit_example(op: Op, params: dict[str, Any], sym: _Prover, resolver: Any, order: int) -> list[Check]:
    """Every check of op for one set of static parameters."""
    sp = sym.sp
    xs = [sp.Symbol(n, **ASSUMPTIONS[d]) for n, d in zip(op.inputs, op.domains)]
    g = sp.Symbol("g" if "g" not in op.inputs else "cotangent", real=True)
    exact_params = {k: sym.exact(v) for k, v in params.items()}
    try:
        with sym.exact_floats():
            forward = sym.rationalize(_call(op, "forward", op.forward, sym.xp, xs, exact_params))
            vjps = _cotangents(op, _call(op, "vjp", op.vjp, sym.xp, [g, forward, *xs], exact_params))
            vjps = [sym.rationalize(v) for v in vjps]
    except _OpFailed as exc:
        failed = [Check("symbolic", "error", name, params, str(exc)) for name in op.inputs]
        return failed + _central_differences(op, params, _cells(sym, op, xs, set()), resolver, lambda a, b: False)
    switches = _switches(sym.sp, [forward, *vjps])
    try:
        cells = _cells(sym, op, xs, switches)
        branches = [(cell, [_branch(sp, e, cell.points[0]) for e in (forward, *vjps)]) for cell in cells]
        split = ""
    except _Unsplittable as exc:
        cells = _cells(sym, op, xs, set())
        branches = [(cell, [forward, *vjps]) for cell in cells]
        split = str(exc)
    checks = _symbolic_checks(sym, op, params, xs, g, forward, vjps, branches, split)
    checks += _backend_checks(sym, op, params, g, branches, resolver)
    checks += _central_differences(op, params, cells, resolver, _crossing(sym, xs, switches))
    if order >= 2:
        checks += _second_order(sym, op, params, xs, g, branches)
    return checks


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
    """A region where every branch of the op is fixed: its description and exact sample points."""

    name: str
    points: list[dict[Any, Any]]


def _cells(sym: _Prover, op: Op, xs: list[Any], switches: set[Any]) -> list[_Cell]:
    """The regions of the domain between the points where a switch (see ``_switches``) changes sign."""
    sp = sym.sp
    breaks: dict[Any, set] = {x: set() for x in xs}
    for h in switches:
        free = h.free_symbols
        if not free:
            continue
        if len(free) > 1 or not free <= set(xs):
            raise _Unsplittable(f"the branch condition on {h} depends on {', '.join(sorted(map(str, free)))}, "
                                "not on one input alone, so its regions cannot be separated")
        x = next(iter(free))
        breaks[x] |= _roots(sp, h, x)
    per_input = []
    for x, domain in zip(xs, op.domains):
        lo = sp.Integer(0) if domain in ("positive", "nonnegative") else None
        edges = sorted(b for b in breaks[x] | ({sp.Integer(0)} if domain == "nonzero" else set()) if lo is None or b > lo)
        per_input.append(_intervals(sp, str(x), lo, edges))
    cells = []
    for combo in itertools.product(*per_input):
        n = max(len(pts) for _, pts in combo)
        # input j takes its (k + j)-th point, so that two inputs are not sampled on the diagonal x == y
        points = [{x: pts[(k + j) % len(pts)] for j, (x, (_, pts)) in enumerate(zip(xs, combo))} for k in range(n)]
        cells.append(_Cell(" and ".join(name for name, _ in combo), points))
    return cells


def _switches(sp: Any, exprs: list[Any]) -> set[Any]:
    """The functions whose sign selects a branch: condition sides' differences, and the arguments of Abs and sign."""
    found = set()
    for e in exprs:
        for pw in e.atoms(sp.Piecewise):
            for _, cond in pw.args:
                for rel in cond.atoms(sp.core.relational.Relational):
                    found.add(rel.lhs - rel.rhs)
        for a in e.atoms(sp.Abs, sp.sign):
            found.add(a.args[0])
    return found


def _roots(sp: Any, h: Any, x: Any) -> set[Any]:
    """Where h may change sign: its real roots (a superset when h itself has branches)."""
    inner = next(iter(h.atoms(sp.Piecewise, sp.Abs, sp.sign)), None)
    if isinstance(inner, sp.Piecewise):
        variants = [value for value, _ in inner.args]
    elif isinstance(inner, sp.Abs):
        variants = [inner.args[0], -inner.args[0]]
    elif inner is not None:
        variants = [1, -1]
    if inner is not None:
        return set().union(*(_roots(sp, h.xreplace({inner: v}), x) for v in variants))
    try:
        return set(sp.Poly(h, x).real_roots())
    except (sp.PolynomialError, NotImplementedError):
        raise _Unsplittable(f"the branch condition on {h} is not polynomial in {x}, so where it changes cannot be found") from None


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
    """expr with every Piecewise, Abs and sign replaced by the branch that holds around the point at."""

    def pick(e: Any) -> Any:
        if isinstance(e, sp.Piecewise):
            for value, cond in e.args:
                truth = cond.xreplace(at)
                if truth is sp.true:
                    return value
                if truth is not sp.false:
                    raise _Unsplittable(f"the condition {cond} cannot be decided at {_fmt_at(at)}")
            raise _Unsplittable(f"no branch of {e} holds at {_fmt_at(at)}")
        s = e.args[0].xreplace(at)
        if not s.is_number:
            raise _Unsplittable(f"the sign of {e.args[0]} cannot be decided at {_fmt_at(at)}")
        if isinstance(e, sp.Abs):
            return e.args[0] if s >= 0 else -e.args[0]
        return sp.sign(s)

    return expr.replace(lambda e: isinstance(e, sp.Piecewise | sp.Abs | sp.sign), pick)


# -- proofs ---------------------------------------------------------------------------------------


def _is_zero(sp: Any, d: Any) -> str | None:
    """How SymPy shows d == 0, trying the cheap ways first; None if it cannot."""
    if d == 0:
        return "identical"
    for name, method in (("expand", sp.expand), ("cancel", sp.cancel)):
        try:
            if method(d) == 0:
                return name
        except (sp.PolynomialError, TypeError, ValueError):  # cancel refuses some unsplit Piecewise expressions
            continue
    return None


def _compare(sym: _Prover, expected: Any, registered: Any, cell: _Cell, extra: dict) -> tuple[str, dict | None]:
    """Prove registered == expected on cell: (verdict-or-method, counterexample)."""
    method = _is_zero(sym.sp, registered - expected)
    if method:
        return method, None
    for point in cell.points:
        at = {**point, **extra}
        e, r = sym.value(expected, at), sym.value(registered, at)
        if e is not None and r is not None and not _close(e, r, RTOL):
            return "refuted", {"at": _floats(point), **_floats(extra), "region": cell.name, "expected": e, "registered": r}
    if sym.sp.simplify(registered - expected) == 0:
        return "simplify", None
    return "inconclusive", None


def _prove(sym: _Prover, cases: list[tuple[_Cell, Any, Any]], extra: dict) -> tuple[str, str, dict | None]:
    """(verdict, how, counterexample) for registered == expected in every (cell, expected, registered) case."""
    methods = []
    for cell, expected, registered in cases:
        method, cex = _compare(sym, expected, registered, cell, extra)
        if cex is not None:
            return "refuted", f"they differ on {cell.name}", cex
        methods.append((cell.name, method))
    unproved = [c for c, m in methods if m == "inconclusive"]
    if unproved:
        return ("inconclusive", f"SymPy could not reduce their difference to 0 on {', '.join(unproved)}, "
                "and it vanished at every sampled point", None)
    return "proved", "equal on " + "; ".join(f"{c} ({m})" for c, m in methods), None


def _symbolic_checks(sym: _Prover, op: Op, params: dict, xs: list[Any], g: Any, forward: Any, vjps: list[Any],
                     branches: list[tuple[_Cell, list[Any]]], split: str) -> list[Check]:
    """For each input x_i, on every region: vjp_i == g * d forward / d x_i."""
    sp, checks = sym.sp, []
    for i, (x, name) in enumerate(zip(xs, op.inputs)):
        cases = [(cell, g * sp.diff(f, x), vs[i]) for cell, (f, *vs) in branches]
        verdict, how, cex = _prove(sym, cases, {g: sym.exact(COTANGENT)})
        note = f"; {split}" if split and verdict == "inconclusive" else ""
        checks.append(Check("symbolic", verdict, name, params,
                            f"vjp for {name} vs g * d{op.name}/d{name}: {how}{note}",
                            str(g * sp.diff(forward, x)), str(vjps[i]), cex))
    return checks


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


# -- numeric checks -------------------------------------------------------------------------------


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


def _crossing(sym: _Prover, xs: list[Any], switches: set[Any]) -> Callable[[list[float], list[float]], bool]:
    """Whether some branch switch vanishes or changes sign between two points (so a kink may lie between)."""

    def crosses(a: list[float], b: list[float]) -> bool:
        for h in switches:
            va, vb = (sym.value(h, {x: sym.exact(v) for x, v in zip(xs, p)}) for p in (a, b))
            if va is None or vb is None or va * vb <= 0:
                return True
        return False

    return crosses


def _kink_checks(op: Op, resolver: Any) -> list[Check]:
    """At each declared Kink, the vjp for g = 1 and the default parameters gives the declared cotangents."""
    params = {**op.examples[0], **{k: d for k, d in op.params.items() if d is not REQUIRED}}
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


def _one(v: float) -> np.ndarray:
    return np.array([float(v)])


def _close(expected: float, got: float, rtol: float) -> bool:
    return math.isclose(expected, got, rel_tol=rtol, abs_tol=rtol * 1e-3) if math.isfinite(got) else False


# -- formatting -----------------------------------------------------------------------------------


def _floats(point: dict) -> dict[str, float]:
    return {str(k): float(v) for k, v in point.items()}


def _fmt_at(at: dict) -> str:
    return ", ".join(f"{k}={float(v):g}" for k, v in at.items())


def _fmt_point(op: Op, point: Sequence[float]) -> str:
    return ", ".join(f"{n}={v:g}" for n, v in zip(op.inputs, point))


def _fmt_params(params: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


def _fmt_counterexample(cex: dict) -> str:
    at = ", ".join(f"{k}={v:g}" for k, v in cex["at"].items())
    g = f", g={cex['g']:g}" if "g" in cex else ""
    return f"at {at}{g}: expected {cex['expected']:.12g}, registered {cex['registered']:.12g}"
