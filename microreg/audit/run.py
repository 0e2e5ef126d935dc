"""The run that strings the audit together: every op's cases through the pipeline in worker processes, the float-only
checks in the calling process, and one ``OpAudit`` per op."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from .. import accuracy, trace
from ..op import Kink, Op
from ..plugins import registry
from . import kinks
from . import workers as pool
from .model import ENV_BUDGET, Check, OpAudit, budget_seconds, worst, worst_accuracy
from .pipeline import float_only
from .symbols import Case, Prover, cases

THOROUGH_BUDGET = 12  # times the default budget per op, with thorough: a minute at the default 5 s


def audit(ops: Iterable[Op | str] | None = None, *, order: int = 1, progress: Callable[[OpAudit], None] | None = None,
          resolver: Any = None, plugin: str | None = None, budget: float | None = None, measure: bool = True,
          workers: int | None = None, thorough: bool = False) -> list[OpAudit]:
    """Audit ops (registered names or ``Op`` records; every registered op by default); one record per op, in order.

    ``resolver`` finds the ops they call through ``xp`` (the registry by default: strict loading passes
    one that also sees a plugin's ops before they are registered); ``plugin`` names where they come from
    (by default, the plugin that registered each); ``budget`` is the time limit per op in seconds (see
    ``budget_seconds``); ``measure=False`` leaves out the accuracy audit; ``workers`` is how many worker
    processes prove ops at once (``workers.worker_count``: one per core by default); ``thorough`` makes the accuracy
    audit search for the worst input a hundred times longer (``microreg.audit.search``). ``progress`` is
    called with each record as its op is done, in the order they finish.
    """
    resolver = resolver if resolver is not None else registry
    chosen = [registry.get(o) if isinstance(o, str) else o for o in (sorted(registry.ops()) if ops is None else ops)]
    seconds, count = budget_seconds(budget), pool.worker_count(workers)
    if thorough and seconds and budget is None:  # the search measures some hundred more points per op
        seconds *= THOROUGH_BUDGET
    prover = Prover(resolver)  # SymPy imported here, once, before any worker is forked
    jobs = [cases(op, order, measure, resolver, thorough) for op in chosen]
    records: list[OpAudit | None] = [None] * len(chosen)
    for k, outcome in pool.symbolic(jobs, prover, seconds, count):
        records[k] = _record(chosen[k], jobs[k], outcome, prover, plugin, measure)
        if progress is not None:
            progress(records[k])
    return records


def audit_op(op: Op, *, plugin: str | None = None, order: int = 1, resolver: Any = None, budget: float | None = None,
             measure: bool = True) -> OpAudit:
    """Audit one op. ``resolver`` finds the ops it calls through ``xp`` (the registry by default); ``plugin`` names where
    it comes from (by default, the plugin that registered it)."""
    (record,) = audit([op], plugin=plugin, order=order, resolver=resolver, budget=budget, measure=measure, workers=1)
    return record


def audit_jax(fn: Callable, *, arity: int | None = None, domains: str | tuple[str, ...] = (), kinks: tuple[Kink, ...] = (),
              title: str | None = None, **options: Any) -> OpAudit:
    """Audit a JAX function of scalars (a ``custom_vjp``/``custom_jvp`` rule, ``jax.nn.sigmoid``, ...) as a registered op is
    audited: its forward and vjp traced into SymPy (``microreg.trace.jax``), proved or refuted, its kinks checked, its
    float64 accuracy measured on JAX itself. ``arity``, ``domains``, ``kinks``: its inputs, as an Op declares them;
    ``title`` names it in the report (``MODULE:FUNCTION`` by default); ``options`` as for ``audit_op``.
    ``trace.TraceError`` where it cannot be traced (naming a primitive with no row in ``trace.JAX``)."""
    return traced(trace.jax(fn, arity, domains=domains, kinks=kinks), "jax", title or trace.title(fn), **options)


def audit_torch(fn: Callable, *, arity: int | None = None, domains: str | tuple[str, ...] = (), kinks: tuple[Kink, ...] = (),
                title: str | None = None, **options: Any) -> OpAudit:
    """``audit_jax`` for PyTorch: a function of scalar tensors or an ``autograd.Function`` class, traced with ``make_fx``
    (``microreg.trace.torch``), its backward as ``torch.autograd.grad`` runs it; accuracy measured on torch in float64."""
    return traced(trace.torch(fn, arity, domains=domains, kinks=kinks), "torch", title or trace.title(fn), **options)


def traced(op: Op, framework: str, title: str, **options: Any) -> OpAudit:
    """The audit of an op traced from framework, named title, with a check saying which constants its literals were read as.

    In this process, stopped at the budget only between checks: JAX and PyTorch are multithreaded, and a worker forked
    after JAX has run here deadlocks in its first JAX call (seen: the second of two --jax functions timed out).
    """
    version = getattr(__import__(framework), "__version__", "")
    (record,) = audit([op], plugin=f"{framework} {version}".strip(), **options, workers=0)
    record.op = title
    for check in record.checks:  # the remedy asks for the repair of what was traced, by the command that traces it
        check.message = check.message.replace(f"`microreg audit --suggest {op.name}`", f"`microreg audit --{framework} {title} --suggest`")
    record.checks += [Check("constant", "passed", None, {}, f"the literal {v!r} read as {c}") for v, c in trace.constants_of(op)]
    return record


def _record(op: Op, found: list[Case], outcome: pool.Outcome, prover: Prover, plugin: str | None, measure: bool) -> OpAudit:
    checks = [c for got in outcome.checks for c in got]
    if outcome.error:
        checks.append(Check("audit", "error", None, {}, outcome.error))
    if outcome.stopped:
        why = f"{outcome.stopped} (the time budget per op: --budget or {ENV_BUDGET} changes it)"
        checks.append(Check("budget", "inconclusive", None, {}, f"the symbolic steps {why}; the float checks ran"))
        for case, got in zip(found, outcome.checks):
            checks += _unfinished(case, got, prover, why)
    checks += kinks.declared(op)
    declared, own = None, op.accuracy_in()
    if own:
        declared = own.reason + (f" (measured for |inputs| up to {own.up_to:g})" if own.up_to else "")
    inputs = max((f.inputs for f in op.forms()), key=len)
    return OpAudit(op.name, plugin or _plugin_of(op), worst(c.verdict for c in checks), inputs, checks,
                   time.perf_counter() - outcome.started,
                   worst_accuracy(checks), accuracy.bound(own) if measure else None, declared)


def _unfinished(case: Case, got: list[Check], prover: Prover, why: str) -> list[Check]:
    """What a case's symbolic work did not finish, inconclusive (never a pass), and its float-only checks, run here."""
    kinds = {(c.kind, c.input) for c in got}
    checks = []
    for name in case.op.inputs:
        if ("symbolic", name) not in kinds:
            checks.append(Check("symbolic", "inconclusive", name, case.params, f"{why}{case.at_shapes}"))
        if case.order >= 2 and ("second-derivative", name) not in kinds:
            checks.append(Check("second-derivative", "inconclusive", name, case.params, f"{why}{case.at_shapes}"))
    if case.measure and not any(k == "accuracy" for k, _ in kinds):
        checks.append(Check("accuracy", "unchecked", None, case.params, f"no exact values: {why}"))
    if not any(k == "central-difference" for k, _ in kinds):
        checks += float_only(Case(case.op, case.shapes, case.params, case.order, case.measure, case.resolver), prover)
    return checks


def _plugin_of(op: Op) -> str:
    return registry.origin(op.name).name if registry.find(op.name) is op else "(unregistered)"
