"""Repair: an op that the audit proves but finds inaccurate, rewritten into one that is proved and accurate.

``repair(op)`` reads the op's forward and its derivatives as SymPy expressions, rewrites them with a few
rules (the table ``RULES``: the float64 habits docs/plugins.md teaches), prints each candidate back as Python
source against ``xp``, and audits it with the public audit (``microreg.audit.audit``). A candidate is kept
only if its forward is proved equal to the op's own, its vjp is proved (the audit: the derivative of that
forward, so the op's own derivative) and the audit finds it accurate. When no rewrite is, the result gives the
largest ``up_to`` the audit accepts instead, as the declaration to paste.
"""

from __future__ import annotations

import inspect
import linecache
import math
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import accuracy, trace
from .audit import OpAudit, audit
from .audit.numeric import engine, forward_mode
from .audit.symbols import ASSUMPTIONS
from .op import REQUIRED, Accuracy, Op
from .plugins import registry

CANDIDATE_BUDGET = 30.0  # seconds: the audit's time budget for the op and each candidate unless repair is given one
#                          (proofs with maximum and minimum can take SymPy longer than the audit's default of 5 s)
MAX_TRIES = 12  # candidates audited at most, besides the op itself (each audit takes about 0.5 s)
PROBES = (-1000.0, -37.0, -1e-8, 1e-8, 37.0, 1000.0)  # where a candidate is tried before it is audited
OVER = ", over one denominator"  # the label of a rule applied to the derivatives put over one denominator
MAX_SECONDS = 30.0  # no further candidate is tried after this long (SymPy's proofs of some take seconds each)


@dataclass
class RepairResult:
    """What ``repair`` found for one op.

    ``status``: ``accurate`` (nothing to repair), ``repaired`` (``op`` is the rewrite, proved and accurate, and
    ``source`` its forward and vjp to paste), ``bounded`` (no rewrite was accurate; ``declaration`` is the
    largest honest ``up_to``, ``op`` the op declaring it) or ``unrepaired`` (``reason`` says why). ``before`` and
    ``after`` are the audit's worst accuracy results (``OpAudit.worst``) of the op and of the result.
    """

    name: str
    status: str
    op: Op | None = None
    source: str = ""
    changes: list[str] = field(default_factory=list)
    before: dict | None = None
    after: dict | None = None
    declaration: str = ""
    up_to: float | None = None
    reason: str = ""
    tried: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The result as JSON-ready data (the `repair` field of ``microreg audit --suggest --format json``)."""
        return {"status": self.status, "source": self.source, "changes": self.changes, "before": self.before,
                "after": self.after, "declaration": self.declaration, "up_to": self.up_to, "reason": self.reason,
                "tried": self.tried, "seconds": round(self.seconds, 3)}

    def describe(self) -> str:
        """The result in words, with the source or the declaration to paste."""
        worst = f"worst before: {_worst(self.before)}" + (f"\n    after: {_worst(self.after)}" if self.after else "")
        parts = "the op's forward, vjp and jvp" if self.op is not None and self.op.declares_jvp else "the op's forward and vjp"
        lead = f"paste in place of {parts}"
        if self.op is not None and trace.is_traced(self.op):  # no plugin code to paste into: the rule as a plugin writes it
            lead = (f"as a plugin's forward and vjp, to register as Op(NAME, {self.name}, {self.name}_vjp) under a name of "
                    "your own (microreg.export.torch or microreg.export.jax hands it back to the framework)")
        if self.status == "repaired":
            return (f"{self.name}: a rewrite, proved equal and accurate ({'; '.join(self.changes)}; "
                    f"{self.tried} candidate(s) audited in {self.seconds:.1f} s)\n    {worst}\n"
                    f"  {lead}:\n\n{textwrap.indent(self.source, '    ')}\n")
        if self.status == "bounded":
            return (f"{self.name}: no rewrite found accurate ({self.reason}); the op is accurate for |inputs| up to "
                    f"{self.up_to:g}: declare it\n    {worst}\n\n    Op({self.name!r}, ..., {self.declaration})\n")
        return f"{self.name}: {self.status}: {self.reason}"


def _worst(w: dict | None) -> str:
    if not w:
        return "-"
    at = ", ".join(f"{k}={v!r}" for k, v in w["at"].items())
    got = w["problem"] if w["computed"] is None else f"gives {w['computed']!r}"
    return f"the {w['what']} at {at} {got}, exact {w['exact']!r} ({w['excess']:.3g} ulps beyond the condition number)"


def repair(op: Op | str, *, budget: float | None = None, audited: OpAudit | None = None) -> RepairResult:
    """A rewrite of op (an ``Op`` or a registered name) that is proved equal to it and accurate, if one is found.

    The op is audited first (``audited``: its audit, already run): an op the audit does not prove is not repaired (its
    derivative is wrong, or not shown right; fix that first), nor one it finds accurate. ``budget`` is the audit's
    time limit per op, for the op and for each candidate (default: ``CANDIDATE_BUDGET``).
    """
    start = time.perf_counter()
    op = registry.get(op) if isinstance(op, str) else op
    if not isinstance(op, Op):
        raise TypeError(f"repair() takes an Op or the name of a registered op, got {type(op).__name__}: {op!r}")
    first = audited if audited is not None else _audit(op, CANDIDATE_BUDGET if budget is None else budget)
    result = RepairResult(op.name, "unrepaired", before=first.worst())
    if first.verdict != "proved" or first.accuracy != "inaccurate":
        result.status = "accurate" if first.verdict == "proved" and first.accuracy == "accurate" else "unrepaired"
        result.reason = (f"the audit finds it {first.verdict}, {first.accuracy or 'not measured'}: only an op it proves and "
                         f"finds inaccurate is repaired" if result.status == "unrepaired" else "proved and accurate already")
        return _done(result, start)
    try:
        search = Search(op, budget)
        found = search.run(first)
    except Unrepairable as exc:
        search, found = None, None
        result.reason = str(exc)
    if found is not None:
        new, record, source = found
        result.status, result.op, result.source, result.after = "repaired", new, source, record.worst()
        result.changes = search.changes
    else:
        if search is not None:
            result.reason = search.why()
        _bounded(op, first, result, budget)
    result.tried = search.tried if search is not None else 0
    return _done(result, start)


def _done(result: RepairResult, start: float) -> RepairResult:
    result.seconds = time.perf_counter() - start
    return result


def _bounded(op: Op, first: OpAudit, result: RepairResult, budget: float | None) -> None:
    """The largest magnitude of the accuracy grid up to which the audit finds op accurate (bisection: accurate up to a
    bound means accurate up to any smaller one), as the declaration to add; the result's status becomes ``bounded``."""
    bound = accuracy.bound(op.accuracy)
    below = abs(max(first.worst()["at"].values(), key=abs))
    sizes = [m for m in accuracy.MAGNITUDES if m < below and m >= 1.0]
    lo, hi, best = 0, len(sizes) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        reason = f"inaccurate beyond |inputs| = {sizes[mid]:g}: {_worst(first.worst())}"
        declared = Accuracy(bound, reason, up_to=sizes[mid])
        candidate = _like(op, op.forward, op.vjp, declared, op.jvp if op.declares_jvp else None)
        record = _audit(candidate, budget, traced=trace.is_traced(op))
        if record.verdict == "proved" and record.accuracy == "accurate":
            best, lo = (candidate, record, declared), mid + 1
        else:
            hi = mid - 1
    if best is None:
        result.reason += "; and no bound up_to >= 1 makes it accurate"
        return
    candidate, record, declared = best
    result.status, result.op, result.after, result.up_to = "bounded", candidate, record.worst(), declared.up_to
    result.declaration = f"accuracy=Accuracy({declared.ulps:g}, {declared.reason!r}, up_to={declared.up_to!r})"


def _like(op: Op, forward: Callable, vjp: Callable, declared: Accuracy | None, jvp: Callable | None = None) -> Op:
    """op with another forward, vjp and jvp (None: derived from the vjp) and the accuracy declared: its name, domains,
    kinks, parameters and the rest kept."""
    return Op(op.name, forward, vjp, domains=op.domains, kinks=op.kinks, examples=op.examples, doc=op.doc,
              arities=op.arities, shapes=op.shapes, accuracy=declared, jvp=jvp)


class Unrepairable(Exception):
    """The op cannot be rewritten by these rules at all: the message says why."""


class Unprintable(Exception):
    """A candidate expression has a part with no xp spelling (a DiracDelta, a condition with and/or)."""


class Search:
    """The op as SymPy expressions, the candidates from the rules, and the greedy search through their audits."""

    def __init__(self, op: Op, budget: float | None) -> None:
        import sympy as sp

        from .audit.symbols import Prover

        if op.variadic or op.shapes:
            raise Unrepairable("only elementwise ops of fixed arity are repaired")
        self.sp, self.op, self.budget = sp, op, CANDIDATE_BUDGET if budget is None else budget
        self.tried, self.changes, self.failed, self.proved = 0, [], [], {}
        self.prover = Prover(registry)  # its xp, and floats entered exact while op code runs on symbols (as the audit's)
        self.xp = self.prover.xp
        self.xs = [sp.Symbol(n, **ASSUMPTIONS[d]) for n, d in zip(op.inputs, op.domains)]
        self.params = {k: sp.Symbol(k, real=True) for k in op.params}
        try:
            with self.prover.exact_floats():
                self.forward = _exact(sp, op.forward(self.xp, *self.xs, **self.params))
        except Exception as exc:  # noqa: BLE001 - the op's own code on symbols: anything it raises is the reason
            raise Unrepairable(f"its forward does not run on symbols with its static parameters as symbols: "
                               f"{type(exc).__name__}: {exc}") from None
        self.derivatives = [_no_distributions(sp, sp.diff(self.forward, x)) for x in self.xs]

    def run(self, first: OpAudit) -> tuple[Op, OpAudit, str] | None:
        """Greedy: rewrite the part (forward, vjp or a declared jvp) where the worst result is, alone or with the other
        parts rewritten by the same rule, and keep the first candidate that is proved and accurate or moves the worst
        result to another part; again until accurate, or out of candidates. A part left as it is is None."""
        forward, vjp, jvp, record, kept, seen = None, None, None, first, None, set()
        start = time.perf_counter()
        forwards, vjps = self.candidates("forward"), self.candidates("vjp")
        while record.accuracy == "inaccurate":
            part = _part(record)
            if part == "forward":  # with the derivatives of the new forward first: those the audit proves at once
                options = [(r, (f, v, jvp)) for r, f in forwards.items()
                           for v in (self.derived(f), *(d for k, d in vjps.items() if k.removesuffix(OVER) == r), vjp)]
            elif part == "vjp":  # a declared jvp rewritten the same way too, first
                options = [(r, (f, v, v if same else jvp)) for r, v in vjps.items()
                           for f in (forward, forwards.get(r.removesuffix(OVER)))
                           for same in ((True, False) if self.op.declares_jvp else (False,))]
            else:  # a declared jvp: the output's tangent from the derivatives as the vjp's candidates have them
                options = [(r, (forward, vjp, d)) for r, d in vjps.items()]
            for rule, parts in options:
                if self.tried >= MAX_TRIES or time.perf_counter() - start > MAX_SECONDS:
                    self.failed.append(f"stopped after {self.tried} candidates and {time.perf_counter() - start:.0f} s")
                    return None
                try:
                    new, source, forward_source = self.build(*parts)
                except Unprintable as exc:
                    self.failed.append(f"{rule}: {exc}")
                    continue
                if source in seen:
                    continue
                seen.add(source)
                if not self.mends(new, record, tuple(p is not None for p in parts)):
                    self.failed.append(f"{rule}: still wrong at the worst point")
                    continue
                if parts[0] is not None and not self.equal(new, forward_source):
                    self.failed.append(f"{rule}: its forward is not proved equal to the op's")
                    continue
                self.tried += 1
                got = _audit(new, self.budget, _plugin(self.op), traced=trace.is_traced(self.op))
                if got.verdict != "proved":
                    self.failed.append(f"{rule}: {got.verdict}")
                    continue
                if got.accuracy == "accurate" or _part(got) != part:
                    changed = [p for p, old, now in zip(PARTS, (forward, vjp, jvp), parts) if old is not now]
                    self.changes = [c for c in self.changes if c.split(":")[0] not in changed]
                    self.changes += [f"{p}: {rule}" for p in changed]
                    (forward, vjp, jvp), record, kept = parts, got, (new, got, source)
                    break
                self.failed.append(f"{rule}: still inaccurate ({_worst(got.worst())})")
            else:
                return None
        return kept

    def derived(self, forward: Any) -> list | None:
        """The derivatives of a candidate forward as SymPy gives them (run on symbols, so maximum(a, b) is
        (a + b + |a - b|) / 2 and its derivative is in sign(a - b): the form the audit can prove), or None."""
        try:
            new, _, _ = self.build(forward, None)
            with self.prover.exact_floats():
                on_symbols = _exact(self.sp, new.forward(self.xp, *self.xs, **self.params))
        except Exception:  # noqa: BLE001 - a candidate that does not run has no derivatives
            return None
        return [_no_distributions(self.sp, self.sp.diff(on_symbols, x)) for x in self.xs]

    def mends(self, new: Op, record: OpAudit, rewritten: tuple[bool, ...]) -> bool:
        """Whether new computes the result of record's worst right (within 1e-9 relative of the exact value) at its point
        and at PROBES (pairs of them for two inputs), and each result of the parts it rewrote (``rewritten``: its forward,
        its vjp, its jvp) at PROBES too, through the engine as the accuracy audit does: a cheap test that spares the audit
        of a candidate that cannot pass it. Exact values by mpmath at 600 and 1200 bits; a point where the two differ, or
        give 0 (a cancellation deeper than that), is not tried."""
        import itertools

        import mpmath

        sp, inputs = self.sp, self.op.inputs
        check = max((c for c in record.checks if c.kind == "accuracy" and c.worst), key=lambda c: c.worst["excess"])
        names = [["forward"], *([f"{mode} for {n}" for n in inputs] for mode in ("vjp", "jvp"))]
        checked = {name for part, done in zip(names, rewritten) if done for name in part}
        at = {self.params[n]: _exact(sp, v) for n, v in check.params.items()}
        exact = sp.lambdify(self.xs, [e.xreplace(at) for e in (self.forward, *self.derivatives)], modules="mpmath")
        inside = [[v for v in PROBES if accuracy.INSIDE_DOMAIN[d](v)] for d in self.op.domains]
        units = [[float(i == j) for j in range(self.op.arity)] for i in range(self.op.arity)]
        for n, point in enumerate([tuple(check.worst["at"].values()), *itertools.product(*inside)]):
            values = []
            for bits in (600, 1200):
                with mpmath.workprec(bits):
                    try:
                        values.append([mpmath.mpmathify(v) for v in exact(*map(mpmath.mpf, point))])
                    except (ArithmeticError, TypeError, ValueError):
                        values.append(None)
            if None in values:
                continue
            got = dict(zip(names[0] + names[1], engine(new, check.params, list(point), 1.0)))
            for what in {check.worst["what"], *checked} if n else {check.worst["what"]}:
                k = 0 if what == "forward" else 1 + inputs.index(what.split(" for ")[1])
                low, high = values[0][k], values[1][k]
                if (high == 0 or not (mpmath.isfinite(high) and mpmath.im(high) == 0)
                        or abs(low - high) > abs(high) * 2.0 ** -80 or abs(high) > accuracy.MAX_FLOAT):
                    continue
                want = float(mpmath.re(high))
                if what not in got:  # a jvp: forward mode, at a unit tangent in its input
                    got[what] = forward_mode(new, check.params, list(point), units[k - 1])[1]
                if not isinstance(got[what], float) or abs(got[what] - want) > 1e-9 * abs(want) + 1e-300:
                    return False
        return True

    def why(self) -> str:
        tried = "; ".join(self.failed[-6:]) or "no rule applies to its expressions"
        return f"{self.tried} candidate(s) audited, none proved and accurate ({tried})"

    def candidates(self, part: str) -> dict[str, Any]:
        """Rule -> expressions for the part: the forward, or a list of one derivative per input, for each rule that
        applies. The derivatives are the forward's (never the op's own vjp, which may divide by out), as SymPy's diff
        gives them and put over one denominator (x / sqrt(1 + x**2) has (1 + x**2)**(-3/2))."""
        sp, found = self.sp, {}
        sources = {"": [self.forward]} if part == "forward" else {
            "": self.derivatives, OVER: [sp.together(d) for d in self.derivatives]}
        for name, rule in RULES:
            for how, exprs in sources.items():
                try:
                    new = [rule(sp, e) for e in exprs]
                except Unprintable:
                    continue
                if None not in new and new not in found.values():
                    found[name + how] = new if part == "vjp" else new[0]
        return found

    def build(self, forward: Any, vjp: Any, jvp: Any = None) -> tuple[Op, str, str]:
        """The op with the forward expression, the derivatives for its vjp and for its jvp (each None: the op's own);
        the source of all three (the jvp where the op declares one) to paste, and of the forward alone."""
        op, sp = self.op, self.sp
        params = "".join(f", {k}" if d is REQUIRED else f", {k}={d!r}" for k, d in op.params.items())
        params = f", *{params}" if params else ""
        inputs = ", ".join(op.inputs)
        written, names = {}, _function_names(op)
        if forward is not None:
            written["forward"] = (f"def {names['forward']}(xp, {inputs}{params}):\n"
                                  + _body(sp, [forward], self._names(), "return {}"))
        # g and each tangent inside the product, divided last: g / b, where g * (1 / b) overflows for a subnormal b
        if vjp is not None:
            cotangents = ", ".join("None" if d == 0 else "{}" for d in vjp) + ("," if len(vjp) == 1 else "")
            written["vjp"] = (f"def {names['vjp']}(xp, g, out, {inputs}{params}):\n"
                              + _body(sp, [sp.Symbol("g") * d for d in vjp if d != 0], self._names(), f"return ({cotangents})"))
        if jvp is not None and op.declares_jvp:
            terms = [sp.Symbol(f"tangents[{i}]") * d for i, d in enumerate(jvp) if d != 0]
            written["jvp"] = (f"def {names['jvp']}(xp, tangents, out, {inputs}{params}):\n"
                              + _body(sp, [sp.Add(*terms)], {*self._names(), "tangents"}, "return {}" if terms else "return 0 * out"))
        code = "\n\n".join(written.values())
        filename = f"<repair of {op.name}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)  # tracebacks show the code
        namespace: dict[str, Any] = {}
        exec(compile(code, filename, "exec"), namespace)  # noqa: S102 - the code printed above from SymPy expressions
        fns = {part: namespace[names[part]] if part in written else getattr(op, part) for part in PARTS}
        theirs = _traced_sources(op)
        own = [written[part].strip() if part in written else theirs[part] if theirs else _own_source(fns[part])
               for part in PARTS if part != "jvp" or op.declares_jvp]
        if None in own:
            raise Unprintable("the op's own source is not available to paste beside the rewrite")
        new = _like(op, fns["forward"], fns["vjp"], op.accuracy, fns["jvp"] if op.declares_jvp else None)
        return new, "\n\n\n".join(own), own[0]

    def _names(self) -> set[str]:
        return {*self.op.inputs, *self.op.params, "xp", "g", "out"}

    def equal(self, new: Op, key: str) -> bool:
        """Whether new's forward (its source: key) is proved equal to the op's (each forward proved once)."""
        if key not in self.proved:
            self.proved[key] = self._equal(new)
        return self.proved[key]

    def _equal(self, new: Op) -> bool:
        """Whether new's forward is proved equal to the op's, at every example of its static parameters: SymPy reduces
        their difference to 0 on each branch, over the region where the branch holds (``_zero``)."""
        sp = self.sp
        for example in self.op.examples:
            at = {self.params[k]: _exact(sp, v) for k, v in example.items()}
            try:
                with self.prover.exact_floats():
                    got = _exact(sp, new.forward(self.xp, *self.xs, **example)).xreplace(at)
            except Exception:  # noqa: BLE001 - a candidate that does not run is not equal
                return False
            if not _zero(sp, sp.piecewise_fold(got - self.forward.xreplace(at)), self.xs):
                return False
        return True


PARTS = ("forward", "vjp", "jvp")


def _audit(op: Op, budget: float | None, plugin: str | None = None, traced: bool = False) -> OpAudit:
    """The audit of op (or of a candidate), in a worker process unless it was traced from a framework: JAX is
    multithreaded, and a worker forked after JAX has run deadlocks in its first JAX call (see ``audit.run.traced``)."""
    return audit([op], budget=budget, plugin=plugin, workers=0 if traced or trace.is_traced(op) else 1)[0]


def _function_names(op: Op) -> dict[str, str]:
    """The names the rewrite gives the forward, vjp and jvp: the op's own (a traced op's are <name> and <name>_vjp, as
    ``trace.source`` writes them)."""
    if trace.is_traced(op):
        return {"forward": op.name, "vjp": f"{op.name}_vjp", "jvp": f"{op.name}_jvp"}
    return {part: getattr(getattr(op, part), "__name__", part) for part in PARTS}


def _traced_sources(op: Op) -> dict[str, str] | None:
    """A traced op's forward and vjp as ``trace.source`` writes them, by part; None for any other op (or one that cannot
    be written so)."""
    try:
        forward, vjp = trace.functions(op)
    except trace.TraceError:
        return None
    return {"forward": forward.strip(), "vjp": vjp.strip()}


def _part(record: OpAudit) -> str:
    """Which part of the op gives the worst result: its forward, its vjp or its jvp."""
    return record.worst()["what"].split(" for ")[0]


def _plugin(op: Op) -> str | None:
    return None if registry.find(op.name) is op else "(repair)"


def _exact(sp: Any, v: Any) -> Any:
    """An expression with its floats as the decimals they print as (0.1 -> 1/10), as the audit enters them."""
    v = sp.sympify(v)
    found = v.atoms(sp.Float)
    return v.xreplace({f: sp.Rational(repr(float(f))) for f in found}) if found else v


def _no_distributions(sp: Any, e: Any) -> Any:
    """A derivative with the distributions at kinks dropped (the audit checks kinks apart)."""
    return e.replace(lambda s: isinstance(s, sp.DiracDelta), lambda s: sp.S.Zero).replace(
        lambda s: isinstance(s, sp.Heaviside), lambda s: (1 + sp.sign(s.args[0])) / 2)


def _zero(sp: Any, d: Any, xs: list) -> bool:
    """d == 0 shown by SymPy, branch by branch of a Piecewise, each branch over the region its condition (or, for the
    last branch, the negation of the one before) gives one input (``_region``), and where an input's sign matters (|x|,
    sign(x)), for each sign of it and at 0."""
    d = sp.piecewise_fold(d)
    if isinstance(d, sp.Piecewise):
        return all(_zero(sp, piece.xreplace(at), xs) for piece, cond in _conditions(sp, d) for at in _region(sp, cond, xs) or [{}])
    for _ in range(3):  # |(p - 1)/(p + 1) + 1| is 2 p / (p + 1) once its argument is one fraction (p > 0)
        d = d.replace(lambda s: isinstance(s, sp.Abs | sp.exp), lambda s: s.func(sp.factor(sp.cancel(s.args[0]))))
    for f in sorted(d.atoms(sp.Abs, sp.sign), key=sp.count_ops):  # split on the sign of what |.| or sign(.) holds
        region = _region(sp, f.args[0] > 0, xs)
        if region is not None:
            return all(_zero(sp, d.xreplace(at), xs) for cond in (f.args[0] > 0, f.args[0] < 0, sp.Eq(f.args[0], 0))
                       for at in _region(sp, cond, xs) or [])
    return _simplifies(sp, d)


def _conditions(sp: Any, pw: Any) -> list[tuple[Any, Any]]:
    """A Piecewise's (piece, condition), the default branch's condition the negation of the one just before it where that
    is a relation. Each is a region that holds the piece's own (which excludes every condition before it): a proof over
    it is a proof over the piece's."""
    found = []
    for k, (piece, cond) in enumerate(pw.args):
        if cond is sp.true and k and isinstance(pw.args[k - 1][1], sp.core.relational.Relational):
            cond = pw.args[k - 1][1].negated
        found.append((piece, cond))
    return found


def _region(sp: Any, cond: Any, xs: list) -> list[dict] | None:
    """Substitutions that together cover where cond holds, for a condition on an expression L linear in an input x
    (L > c, |L| < c, ...), each in a positive symbol p: x where L = c + p for L > c, where L = c (1 - p) / (1 + p) for
    |L| < c, ..., and the boundary where cond includes it; None for any other condition."""
    if not isinstance(cond, sp.core.relational.Relational) or not cond.rhs.is_number:
        return None
    within_abs = isinstance(cond.lhs, sp.Abs)
    lhs, rel, c = (cond.lhs.args[0] if within_abs else cond.lhs), cond.rel_op, cond.rhs
    for x in xs:
        k = sp.diff(lhs, x)
        if k.is_number and k != 0:
            break
    else:
        return None

    def where(target: Any) -> dict:  # x where lhs, linear in x, is target
        return {x: x + (target - lhs) / k}

    p, closed = sp.Dummy("p", positive=True), rel in (">=", "<=")
    if rel == "==" and not within_abs:
        return [where(c)]
    if rel not in (">", ">=", "<", "<="):
        return None
    if not within_abs:
        return [where(c + p if rel in (">", ">=") else c - p), *([where(c)] if closed else [])]
    inside = [where(c * (1 - p) / (1 + p))] if rel in ("<", "<=") else [where(c + p), where(-c - p)]
    return inside + ([where(c), where(-c)] if closed else [])


def _simplifies(sp: Any, d: Any) -> bool:
    """d == 0 by expansion, by cancelling it as a rational function of one exponential (tanh, sinh, cosh written in
    exp; logs of factored rational functions of it split into logs of their factors where those are positive), or by
    SymPy's simplify, with erfc written as 1 - erf."""
    if d == 0 or sp.expand(d) == 0:
        return True
    try:
        powers = _in_powers(sp, d.rewrite(sp.exp))
        if powers is not None:
            in_t = powers[0].replace(lambda s: isinstance(s, sp.log), lambda s: sp.log(sp.factor(sp.cancel(s.args[0]))))
            if sp.cancel(in_t) == 0 or sp.cancel(sp.expand_log(in_t).xreplace({sp.log(powers[1]): powers[2]})) == 0:
                return True  # logs of positive factors split, log(T) = u
        return sp.simplify(d.rewrite(sp.erf)) == 0
    except (TypeError, ValueError, RecursionError, sp.PolynomialError):
        return False


def _own_source(fn: Callable) -> str | None:
    try:
        return textwrap.dedent(inspect.getsource(fn)).rstrip()
    except (OSError, TypeError):
        return None


# -- the rules: each a function of (sympy, expression) -> a rewritten expression, or None where it does not apply ----


def _as_written(sp: Any, e: Any) -> Any:
    """The expression as it is: the printer alone writes log(1 + u) as log1p(u), exp(u) - 1 as expm1(u), 1 + erf(u) as
    erfc(-u), a / (b * b) as a / b / b, and x**2 as x * x."""
    return e


def _in_exp_of_minus_abs(sp: Any, e: Any, expanded: bool = False) -> Any:
    """Exponentials (tanh, sinh, cosh written in them) of multiples of one u as powers of t = exp(-|u|), a branch for
    each sign of u: every exponential lies in (0, 1], log(t) is -|u| (as -u or u in each branch), and rational
    functions of t are cancelled and factored (so 1 - t**2 is (1 - t)(1 + t), and 1 - t is -expm1(-|u|) in print); with
    expanded, their numerators expanded instead (t (4 + 4 x) as 4 t + 4 t x: no sum that overflows times a t that is 0)."""
    e = e.replace(lambda s: isinstance(s, sp.tanh | sp.sinh | sp.cosh), lambda s: s.rewrite(sp.exp))
    e = sp.piecewise_fold(e)
    if isinstance(e, sp.Piecewise):
        pieces = [(_in_exp_of_minus_abs(sp, p, expanded) or p, c) for p, c in e.args]
        return sp.Piecewise(*pieces) if any(p != q for (p, _), (q, _) in zip(pieces, e.args)) else None
    powers = _in_powers(sp, e)
    if powers is None:
        return None
    in_t, T, u = powers
    t = sp.Dummy("t", positive=True)  # exp(-u) where u >= 0, exp(u) where u < 0: log(t) is -u, u in each branch
    branches = [_tidy(sp, in_t.xreplace({T: 1 / t}), t, u, expanded), _tidy(sp, in_t.xreplace({T: t}), t, -u, expanded)]
    back = [b.xreplace({t: sp.exp(-sp.Abs(u))}) for b in branches]
    return back[0] if back[0] == back[1] else sp.Piecewise((back[0], u >= 0), (back[1], True))


def _in_powers(sp: Any, e: Any) -> tuple[Any, Any, Any] | None:
    """(e with exp(k u) as T**k for a positive symbol T, T, u) where every exponential in e is of an integer multiple of
    one u (e itself, which SymPy keeps apart from exp(k), is exp(1)); None where e has none, or of arguments not
    multiples of one."""
    exps = list(e.atoms(sp.exp)) + ([sp.E] if e.has(sp.E) else [])
    if not exps:
        return None
    args = [s.args[0] if isinstance(s, sp.exp) else sp.S.One for s in exps]
    u = args[0].as_content_primitive()[1]
    u = -u if u.could_extract_minus_sign() else u
    ratios = [sp.cancel(a / u) for a in args]  # each argument a rational multiple of u, or not
    if not all(r.is_Rational for r in ratios):
        return None
    step = sp.Rational(math.gcd(*(r.p for r in ratios)), math.lcm(*(r.q for r in ratios)))
    T = sp.Dummy("T", positive=True)
    return e.xreplace({s: T ** (r / step) for s, r in zip(exps, ratios)}), T, step * u


def _tidy(sp: Any, e: Any, t: Any, a: Any, expanded: bool) -> Any:
    """A branch in t: each log of a rational function of t split into logs of its factors (log t is -a, a = |u| in the
    branch, written as u or -u so that it cancels with what it can: a + |b - a| is b where b > a), the rest
    cancelled and factored (with expanded, its numerator expanded)."""
    def split_log(s: Any) -> Any:
        num, den = sp.fraction(sp.factor(sp.cancel(s.args[0])))
        return _log_of_product(sp, num, t, a) - _log_of_product(sp, den, t, a)

    e = e.replace(lambda s: isinstance(s, sp.log) and s.args[0].has(t), split_log)
    terms = sp.Add.make_args(sp.expand(e, deep=False, mul=True, multinomial=False, power_exp=False, log=False))
    logs = sp.Add(*(s for s in terms if s.has(sp.log)))
    rest = sp.Add(*(s for s in terms if not s.has(sp.log)))
    if expanded:
        num, den = sp.fraction(sp.cancel(rest))
        return logs + sp.expand(num) / sp.factor(den)
    return logs + sp.factor(sp.cancel(rest))


def _log_of_product(sp: Any, p: Any, t: Any, a: Any) -> Any:
    total = sp.S.Zero
    for factor in sp.Mul.make_args(p):
        base, n = factor.as_base_exp()
        total += n * (-a if base == t else sp.log(base))
    return total


def _by_sign(sp: Any, e: Any) -> Any:
    """An expression in |x| or sign(x), x an input, simplified for x > 0 and for x < 0 apart, where both come to one
    expression in |x| (x sign(x) is |x|: the derivative of x / (1 + |x|), a difference that cancels, is 1 / (1 + |x|)**2)."""
    found = sorted({s.args[0] for s in e.atoms(sp.Abs, sp.sign) if s.args[0].is_Symbol}, key=sp.default_sort_key)
    if not found:
        return None
    x, p = found[0], sp.Dummy("p", positive=True)
    pos, neg = (sp.factor(sp.cancel(sp.simplify(e.xreplace({x: s * p})))).xreplace({p: sp.Abs(x)}) for s in (1, -1))
    return pos if pos != e and sp.cancel(pos - neg) == 0 else None


def _clamped(sp: Any, e: Any) -> Any:
    """In each branch of a Piecewise chosen by x > c (or <, >=, <=), x as maximum(x, c) (minimum): the branch is computed
    for every x, so it must stay finite where the other branch is the one used."""
    def clamp(pw: Any) -> Any:
        pieces, changed = [], False
        for (piece, cond), (_, own) in zip(_conditions(sp, pw), pw.args):
            if (isinstance(cond, sp.core.relational.Relational) and cond.lhs.is_Symbol and cond.rhs.is_number
                    and piece.has(sp.exp, sp.log, sp.sinh, sp.cosh)):
                x, c = cond.lhs, cond.rhs
                bound = _MAXIMUM(x, c) if cond.rel_op in (">", ">=") else _MINIMUM(x, c)
                piece, changed = piece.xreplace({x: bound}), True
            pieces.append((piece, own))
        return sp.Piecewise(*pieces) if changed else pw

    new = e.replace(lambda s: isinstance(s, sp.Piecewise), clamp)
    return None if new == e else new


def _scaled_hypot(sp: Any, e: Any) -> Any:
    """sqrt(a**2 + b**2) as s * sqrt(1 + (r/s)**2), s = max(|a|, |b|), r = min(|a|, |b|), so that nothing squared
    overflows; a positive constant c counts as sqrt(c)**2, and a power n/2 of the sum is the n-th power of that."""
    def square_root(q: Any) -> Any:
        return q.base if isinstance(q, sp.Pow) and q.exp == 2 else sp.sqrt(q) if q.is_number and q.is_positive else None

    def scaled(s: Any) -> Any:
        roots = [square_root(q) for q in sp.Add.make_args(s.base)]
        if len(roots) != 2 or None in roots:
            return s
        a, b = (sp.Abs(r) for r in roots)
        big, small = _MAXIMUM(a, b), _MINIMUM(a, b)
        # the ratio squared as it is (not small**2 / big**2), divided by big itself (not by 1 / big, which overflows)
        ratio = sp.UnevaluatedExpr(small / _function("where")(big > 0, big, 1))
        return (big * sp.sqrt(1 + ratio ** 2)) ** (2 * s.exp)

    new = e.replace(lambda s: isinstance(s, sp.Pow) and s.base.is_Add and s.exp.is_Rational and s.exp.q == 2, scaled)
    return None if new == e else new


def _log_near_one(sp: Any, e: Any) -> Any:
    """log(R), R a rational function of exp(u) that is 1 at u = 0, as log1p(R - 1) for |u| < 1, with R - 1 written in
    E = expm1(u) on u clamped to [-1, 1] (log(cosh(x)) is log1p(E**2 / (2 (1 + E)))), and in exp(-|u|) beyond: no
    cancellation near u = 0, no overflow far from it."""
    def near_one(s: Any) -> Any:
        powers = _in_powers(sp, s.args[0].replace(lambda f: isinstance(f, sp.tanh | sp.sinh | sp.cosh),
                                                  lambda f: f.rewrite(sp.exp)))
        if powers is None or sp.cancel(powers[0].xreplace({powers[1]: 1})) != 1:
            return s
        in_t, T, u = powers
        E = sp.Dummy("E")
        excess = sp.factor(sp.cancel((in_t - 1).xreplace({T: 1 + E})))
        clamped = _MAXIMUM(-1, _MINIMUM(u, 1))
        near = sp.log(1 + excess.xreplace({E: _function("expm1")(clamped)}))
        return sp.Piecewise((near, sp.Abs(u) < 1), (_in_exp_of_minus_abs(sp, s) or s, True))

    new = e.replace(lambda s: isinstance(s, sp.log) and s.args[0].has(sp.exp, sp.cosh, sp.sinh, sp.tanh), near_one)
    return None if new == e else new


def _one_exponential(sp: Any, e: Any) -> Any:
    """Exponentials of unrelated arguments a, b, ... as exp(b) times exponentials of a - b, ...: exp(b) cancels or its
    log is b (log(exp(a) + exp(b)) is b + log(1 + exp(a - b))), and what is left goes in exp(-|a - b|), a branch per sign."""
    exps = sorted(e.atoms(sp.exp), key=sp.default_sort_key)
    if len(exps) < 2 or _in_powers(sp, e) is not None:
        return None
    T = sp.Dummy("T", positive=True)
    base = exps[0].args[0]
    others = {s: sp.Dummy("V", positive=True) for s in exps[1:]}
    in_t = e.xreplace({exps[0]: T, **{s: T * v for s, v in others.items()}})
    in_t = in_t.replace(lambda s: isinstance(s, sp.log), lambda s: sp.expand_log(sp.log(sp.factor(sp.cancel(s.args[0])))))
    in_t = sp.cancel(in_t.xreplace({sp.log(T): base}))
    if in_t.has(T):
        return None
    one = in_t.xreplace({v: sp.exp(s.args[0] - base) for s, v in others.items()})
    split = _in_exp_of_minus_abs(sp, one) or one
    if len(exps) == 2 and isinstance(split, sp.Piecewise) and len(split.args) == 2:  # a + L where a >= b, else b + L
        (first, _), (second, _) = split.args
        other = exps[1].args[0]
        if sp.expand(first - base - (second - other)) == 0:
            return first - base + _MAXIMUM(base, other)  # L + max(a, b): SymPy's derivative has no branch on a - b
    return split


#: The rules, in the order the search tries them: (what it does, rule).
RULES: tuple[tuple[str, Callable[[Any, Any], Any]], ...] = (
    ("as written, with log1p, expm1, erfc and a / b / b", _as_written),
    ("in exp(-|u|), a branch per sign of u", _in_exp_of_minus_abs),
    ("in exp(-|u|), numerators expanded", lambda sp, e: _in_exp_of_minus_abs(sp, e, expanded=True)),
    ("where's branches fed clamped inputs", _clamped),
    ("hypot scaled by the larger input", _scaled_hypot),
    ("log near 1 as log1p of expm1", _log_near_one),
    ("exponentials of several inputs as one", _one_exponential),
    ("simplified for each sign of an input", _by_sign),
    ("in exp(-|u|), with clamped branches", lambda sp, e: _clamped(sp, _in_exp_of_minus_abs(sp, e) or e)),
)


# -- the printer: an expression as Python source against xp ----------------------------------------------------------


def _function(name: str) -> Any:
    """An xp function SymPy must not evaluate (erfc(-u) would become 2 - erfc(u)): printed as xp.<name>, proved through
    the generated code on the symbolic xp, where it is exact."""
    import sympy as sp

    return sp.Function(name)


def _MAXIMUM(x: Any, y: Any) -> Any:  # noqa: N802
    return _function("maximum")(x, y)


def _MINIMUM(x: Any, y: Any) -> Any:  # noqa: N802
    return _function("minimum")(x, y)


def _marked(sp: Any, e: Any) -> Any:
    """log(1 + u) as log1p(u), c exp(u) - c as c expm1(u), c + c erf(u) as c erfc(-u), c - c erf(u) as c erfc(u)."""
    log1p, expm1, erfc = _function("log1p"), _function("expm1"), _function("erfc")

    def add(s: Any) -> Any:
        k, terms = s.as_coeff_Add()
        if k == 0:
            return s
        for term in sp.Add.make_args(terms):
            c, f = term.as_coeff_Mul()
            if isinstance(f, sp.exp) and c == -k:
                return c * expm1(f.args[0]) + (terms - term)
            if isinstance(f, sp.erf) and abs(c) == abs(k):
                return k * erfc(-f.args[0] if c == k else f.args[0]) + (terms - term)
        return s

    e = e.replace(lambda s: s.is_Add, add)
    return e.replace(lambda s: isinstance(s, sp.log) and s.args[0].is_Add and s.args[0].as_coeff_Add()[0] == 1,
                     lambda s: log1p(s.args[0] - 1))


def _body(sp: Any, exprs: list, taken: set[str], ret: str) -> str:
    """The lines computing exprs (common subexpressions first, as v0, v1, ...) and ret with their sources filled in."""
    exprs = [_marked(sp, e) for e in exprs]
    prefix = next(p for p in ("v", "v_", "v__") if not any(n.startswith(p) for n in taken))
    found, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("_"), optimizations=None)
    shared = []
    for name, value in found:  # a reciprocal shared is put back: a / b prints as a division, 1 / b may overflow
        if value.is_Pow and value.exp.is_negative:
            found = [(n, v.xreplace({name: value})) for n, v in found]
            reduced = [r.xreplace({name: value}) for r in reduced]
        else:
            shared.append((name, dict(found)[name]))
    names = {old: sp.Symbol(f"{prefix}{k}") for k, (old, _) in enumerate(shared)}
    shared = [(names[n], v.xreplace(names)) for n, v in shared]
    reduced = [r.xreplace(names) for r in reduced]
    small: set = set()  # the shared values with an exponential in them: a sum adds those last
    for name, value in shared:
        if value.has(sp.exp, *small):
            small.add(name)
    lines = [f"    {s} = {_bare(_src(sp, small, v))}" for s, v in shared]
    lines.append("    " + ret.format(*(_bare(_src(sp, small, r)) for r in reduced)))
    return "\n".join(lines) + "\n"


_NAMES = {"Abs": "abs", "exp": "exp", "log": "log", "sin": "sin", "cos": "cos", "tan": "tan", "sinh": "sinh", "cosh": "cosh",
          "tanh": "tanh", "atan": "atan", "asinh": "asinh", "erf": "erf", "erfc": "erfc", "sign": "sign", "log1p": "log1p",
          "expm1": "expm1", "maximum": "maximum", "minimum": "minimum", "Max": "maximum", "Min": "minimum", "where": "where"}
_RELATIONS = {">": ">", ">=": ">=", "<": "<", "<=": "<=", "==": "==", "!=": "!="}


def _src(sp: Any, small: set, e: Any) -> str:
    """e as a Python expression against xp: exact wherever the audit computes it on symbols. small: the names of shared
    values with an exponential in them, which a sum adds last and a product multiplies first."""
    if e.is_Symbol:
        return e.name
    if e is sp.pi:
        return "xp.pi"
    if e is sp.E:
        return "xp.e"
    if e.is_Integer:
        return str(int(e))
    if e.is_Rational:
        return _rational(e)
    if e.is_Float:
        return repr(float(e))
    if isinstance(e, sp.UnevaluatedExpr):
        return _src(sp, small, e.args[0])
    if isinstance(e, sp.Piecewise):
        (piece, cond), rest = e.args[0], e.args[1:]
        if cond is sp.true:
            return _src(sp, small, piece)
        other = sp.Piecewise(*rest) if rest else None
        if other is None:
            raise Unprintable("a Piecewise without a default branch")
        return f"xp.where({_bare(_src(sp, small, cond))}, {_bare(_src(sp, small, piece))}, {_bare(_src(sp, small, other))})"
    if isinstance(e, sp.core.relational.Relational):
        return f"({_src(sp, small, e.lhs)} {_RELATIONS[e.rel_op]} {_src(sp, small, e.rhs)})"
    if e.is_Add:
        out = ""
        # terms with an exponential last: 1/2 - sign(u)/2 is exactly 0 before exp(-|u|) / (1 + exp(-|u|)) is added to it
        for k, term in enumerate(sorted(e.args, key=lambda s: (s.has(sp.exp, *small), s.could_extract_minus_sign()))):
            if k and term.could_extract_minus_sign():
                out += f" - {_src(sp, small, -term)}"
            else:
                out += (" + " if k else "") + _src(sp, small, term)
        return f"({out})"
    if e.is_Mul:
        return _mul(sp, small, e)
    if e.is_Pow:
        return _pow(sp, small, e)
    name = _NAMES.get(type(e).__name__)
    if name is None or not e.args:
        raise Unprintable(f"{type(e).__name__} has no xp spelling")
    return f"xp.{name}({', '.join(_bare(_src(sp, small, a)) for a in e.args)})"


def _bare(text: str) -> str:
    """text without the parentheses around all of it, where it has them."""
    if not text.startswith("("):
        return text
    depth = 0
    for k, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            return text[1:-1] if k == len(text) - 1 else text
    return text


def _rational(r: Any) -> str:
    if _as_float(r):
        return repr(float(r))
    raise Unprintable(f"the constant {r} is no float")


def _as_float(r: Any) -> bool:
    """Whether the rational r is the decimal a float prints as, so that the audit reads the literal back as r exactly."""
    import sympy as sp

    return r == sp.Rational(repr(float(r)))


def _mul(sp: Any, small: set, e: Any) -> str:
    """A product: g (or a tangent) first, exponentials next, then the coefficient, then the other factors, then one
    division per factor of the denominator (a / (b * b) as a / b / b, and g / b, not g * (1 / b), which overflows for a
    subnormal b). exp(-|x|) * 4 * x is 0 where the exponential is, where 4 * x * exp(-|x|) may be inf * 0; and
    0.5 * x * sqrt(2) stays finite where x * sqrt(2) * 0.5 overflows."""
    coeff, factors = e.as_coeff_mul()
    lead, first, other, den = [], [], [], []
    for f in factors:
        base, n = f.as_base_exp()
        if f.is_Symbol and (f.name == "g" or f.name.startswith("tangents[")):  # the chain rule's factor, as one writes it
            lead.append(f.name)
        elif n.is_Integer and n < 0:
            den += [_src(sp, small, base)] * int(-n) if -n <= 4 else [_pow(sp, small, base ** -n)]
        elif n == -sp.S.Half:
            den.append(f"xp.sqrt({_bare(_src(sp, small, base))})")
        else:
            (first if f.has(sp.exp, *small) else other).append(_src(sp, small, f))
    size = abs(coeff)
    if size.is_Rational and not _as_float(size):  # p / q: times p, then divided by q, exact on symbols
        coefficient, den = [str(size.p)] if size.p != 1 else [], [str(size.q), *den]
    else:
        coefficient = [_src(sp, small, size)] if size != 1 else []
    out = " * ".join(lead + first + coefficient + other) or "1"
    if den:
        out = f"{out} / " + " / ".join(den)
    return f"(-{out})" if coeff < 0 else f"({out})"


def _pow(sp: Any, small: set, e: Any) -> str:
    base, n = e.as_base_exp()
    b = _src(sp, small, base)
    if n.is_Integer and 0 < n <= 4:
        return "(" + " * ".join([b] * int(n)) + ")"
    if n == sp.S.Half:
        return f"xp.sqrt({_bare(b)})"
    if n == -sp.S.Half:
        return f"(1 / xp.sqrt({_bare(b)}))"
    if n.is_Integer and -4 <= n < 0:  # 1 / b / b: no b * b that overflows
        return "(1 / " + " / ".join([b] * int(-n)) + ")"
    if n.is_Integer and n < 0:
        return f"(1 / {_pow(sp, small, base ** -n)})"
    return f"xp.pow({b}, {_src(sp, small, n)})"
