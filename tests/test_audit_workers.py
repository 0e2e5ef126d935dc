"""Tests of microreg.audit.workers: the symbolic work in worker processes, killed at the budget, never raising into the caller."""

from __future__ import annotations

import gc
import os
import sys
import threading
import time

import pytest
from wrong_vjps import EXPLOSIVE

from microreg import Op, audit
from microreg.audit import workers


class Slow:
    """An object in a reference cycle whose finalizer takes 60 ms and records that it started and finished."""

    log: list[str] = []
    seconds = 0.06

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        Slow.log.append("start")
        time.sleep(self.seconds)
        Slow.log.append("end")


def test_a_budget_overrun_interrupts_no_finalizer_of_the_auditing_thread_and_raises_nothing_into_it():
    """An op over its budget, audited in one thread while another keeps leaving cyclic garbage with slow finalizers, which
    the collector finalizes in whichever thread allocates (the auditing one included): every finalizer finishes, nothing
    escapes, the op is inconclusive. (The budget once raised an exception into the auditing thread, again every 50 ms
    until the audit let go, inside whatever ran there: a finalizer, cut short, said "Exception ignored in ...__del__".)"""
    Slow.log, results, unraisable = [], [], []
    hook, done = sys.unraisablehook, threading.Event()

    def run() -> None:
        try:
            results.append(audit.audit_op(EXPLOSIVE, budget=1, measure=False))
        except BaseException as exc:  # noqa: BLE001 - whatever escapes is the failure this test looks for
            results.append(exc)
        done.set()

    def litter() -> None:
        while not done.wait(0.1):  # 60 ms of finalizing every 100 ms, most of it in the thread that allocates most
            Slow()

    sys.unraisablehook = unraisable.append
    try:
        threads = [threading.Thread(target=run), threading.Thread(target=litter)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        gc.collect()
    finally:
        sys.unraisablehook = hook
    (record,) = results
    assert isinstance(record, audit.OpAudit), record
    assert record.verdict == "inconclusive" and "timed out after 1 s" in record.report()
    assert unraisable == [], [u.exc_value for u in unraisable]
    assert Slow.log.count("start") == Slow.log.count("end") > 0


def test_the_op_over_its_budget_is_stopped_within_about_its_budget():
    start = time.perf_counter()
    record = audit.audit_op(EXPLOSIVE, budget=0.5, measure=False)
    assert record.verdict == "inconclusive" and time.perf_counter() - start < 10


def test_several_workers_give_the_same_records_as_one_and_as_none():
    names = ["tanh", "relu", "div", "matmul"]
    runs = [audit.audit(names, workers=n) for n in (0, 1, 2)]
    summaries = [[(r.op, r.verdict, r.accuracy, [(c.kind, c.verdict, c.input) for c in r.checks]) for r in run] for run in runs]
    assert summaries[0] == summaries[1] == summaries[2]
    assert [r.verdict for r in runs[0]] == ["proved"] * 4


def dies_on_symbols(xp, x):
    if not isinstance(x, float | int) and type(x).__module__.startswith("sympy"):
        os._exit(3)  # an op that takes its process down: in a worker, only the worker
    return x


def identity_vjp(xp, g, out, x):
    return (g,)


def test_a_worker_that_dies_is_an_error_naming_its_exit_code_and_the_caller_goes_on():
    (died, fine) = audit.audit([Op("dies_on_symbols", dies_on_symbols, identity_vjp), "neg"], measure=False, workers=2)
    assert died.verdict == "error" and "exit code 3" in died.report()
    assert fine.verdict == "proved"


def test_the_number_of_workers_comes_from_the_environment_by_default(monkeypatch):
    monkeypatch.setenv(workers.ENV_WORKERS, "3")
    assert workers.worker_count() == 3 and workers.worker_count(1) == 1
    monkeypatch.setenv(workers.ENV_WORKERS, "many")
    with pytest.raises(ValueError, match="MICROREG_AUDIT_WORKERS must be a whole number of processes, got 'many'"):
        workers.worker_count()
    with pytest.raises(ValueError, match="0 worker processes .* or more, got -1"):
        workers.worker_count(-1)
    monkeypatch.delenv(workers.ENV_WORKERS)
    assert workers.worker_count() >= 1


def test_no_global_of_sympy_is_changed_in_the_callers_process():
    from sympy.core.sympify import converter

    before = dict(converter)
    audit.audit(["tanh", "gelu"], measure=False)
    assert dict(converter) == before
