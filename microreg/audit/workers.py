"""Symbolic work in worker processes with a time limit: ``workers`` processes (one per core by default), forked when an
audit starts, each auditing one op after another; a worker still running when its op's budget is spent is killed and
replaced.

SymPy offers no way to interrupt a long ``simplify``, and a thread cannot be stopped from outside; a process can. So
nothing is ever raised into the caller's threads, and what the op's code and SymPy do to SymPy's globals (the audit
reads floats exactly through SymPy's ``converter`` hook) and caches stays in the worker. A forked worker runs the op
exactly as the caller has it (an op defined in a notebook or a test, not importable, registered for the moment)
and shares the SymPy the caller imported. Each check is sent back as it finishes, so a killed worker's finished checks
are kept.

With ``workers=0``, or where ``fork`` is not available (Windows), the cases run in the calling process, one after
another, stopped at the budget only between checks.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import time
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from typing import Any

from .model import Check
from .pipeline import run
from .symbols import Case, Prover

ENV_WORKERS = "MICROREG_AUDIT_WORKERS"
FORK = "fork" in multiprocessing.get_all_start_methods()


def worker_count(workers: int | None = None) -> int:
    """How many worker processes: workers if given, else $MICROREG_AUDIT_WORKERS, else one per core; 0 for none (the
    audit then runs in the calling process)."""
    if workers is None:
        text = os.environ.get(ENV_WORKERS, "").strip()
        try:
            workers = int(text) if text else len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        except ValueError:
            raise ValueError(f"{ENV_WORKERS} must be a whole number of processes, got {text!r}") from None
    if workers < 0:
        raise ValueError(f"the audit takes 0 worker processes (audit in this process) or more, got {workers}")
    return workers


class Outcome:
    """What the workers did for one op: the checks of each case, and why they stopped early (None if they did not)."""

    def __init__(self, cases: list[Case]) -> None:
        self.checks: list[list[Check]] = [[] for _ in cases]
        self.stopped: str | None = None
        self.error: str | None = None
        self.started = time.perf_counter()


def symbolic(jobs: list[list[Case]], prover: Prover, seconds: float | None, workers: int) -> Iterator[tuple[int, Outcome]]:
    """Run each job (an op's cases) in a worker; yield (job index, Outcome) as each job ends, in whatever order they end.

    The workers are forked once the jobs are known, so each has them all and is sent only a job's index; a worker
    serves one job after another, keeping what SymPy learns (its cache) from one op to the next. A worker killed
    at a budget, or that died, is replaced by a new fork while jobs remain.
    """
    if not FORK or workers == 0:
        for k, cases in enumerate(jobs):
            yield k, _in_process(cases, prover, seconds)
        return
    context = multiprocessing.get_context("fork")

    def start() -> tuple[Any, Connection]:
        mine, theirs = context.Pipe()
        process = context.Process(target=_serve, args=(theirs, jobs, prover), daemon=True, name="microreg-audit")
        process.start()
        theirs.close()
        return process, mine

    todo = list(enumerate(jobs))
    idle = [start() for _ in range(min(workers, len(jobs)))]
    running: dict[Connection, tuple[Any, int, float, Outcome]] = {}
    try:
        while todo or running:
            while todo and idle:
                (process, conn), (k, cases) = idle.pop(), todo.pop(0)
                conn.send(k)
                running[conn] = (process, k, time.monotonic() + seconds if seconds else float("inf"), Outcome(cases))
            soonest = min(deadline for _, _, deadline, _ in running.values())
            ready = wait(list(running), timeout=None if soonest == float("inf") else max(0.0, soonest - time.monotonic()))
            for conn in ready:
                process, k, _, outcome = running[conn]
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    process.join()
                    message = ("died", f"the worker process auditing it stopped (exit code {process.exitcode}) before it finished")
                if message[0] == "check":
                    outcome.checks[message[1]].append(message[2])
                    continue
                del running[conn]
                if message[0] == "died":
                    conn.close()
                    if todo:
                        idle.append(start())
                else:
                    idle.append((process, conn))
                outcome.error = message[1] if message[0] != "done" else None
                yield k, outcome
            now = time.monotonic()
            for conn, (process, k, deadline, outcome) in list(running.items()):
                if now >= deadline:
                    _stop(process, conn)
                    del running[conn]
                    if todo:
                        idle.append(start())
                    outcome.stopped = f"timed out after {seconds:g} s"
                    yield k, outcome
    finally:  # also when the caller stops early (its progress callback raised): no worker outlives the audit
        for process, conn in [*idle, *((p, c) for c, (p, _, _, _) in running.items())]:
            _stop(process, conn)


def _stop(process: Any, conn: Connection) -> None:
    process.kill()
    process.join()
    conn.close()


def _serve(conn: Connection, jobs: list[list[Case]], prover: Prover) -> None:
    """In a worker: run each job whose index arrives, sending each check as it finishes, then ("done",) or ("error", why)."""
    gc.freeze()  # objects the caller left for the collector are its own: their finalizers must not run here
    while True:
        k = conn.recv()
        try:
            for i, check in _checks(jobs[k], prover):
                conn.send(("check", i, check))
            conn.send(("done", None))
        except Exception as exc:  # a bug of the audit's, or an op that breaks it: said, never lost in the worker
            conn.send(("error", f"the audit itself failed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def _in_process(cases: list[Case], prover: Prover, seconds: float | None) -> Outcome:
    outcome, deadline = Outcome(cases), time.monotonic() + seconds if seconds else float("inf")
    for i, check in _checks(cases, prover):
        outcome.checks[i].append(check)
        if time.monotonic() > deadline:
            outcome.stopped = f"timed out after {seconds:g} s"
            break
    return outcome


def _checks(cases: list[Case], prover: Prover) -> Iterator[tuple[int, Check]]:
    """(case index, check) for every check of an op's cases, as each finishes: what a worker sends, or the caller keeps."""
    for i, case in enumerate(cases):
        for check in run(case, prover):
            yield i, check
