"""What the derivative audit costs, each figure measured in fresh processes and shown against its target.

    python benchmarks/bench_audit.py [--repeats N] [--quick] [--before DIR]

1. The whole ``microreg audit``: every installed plugin's ops (the core, the example plugin and the
   torch plugin), order 1, the accuracy audit and SymPy's import included: the wall time of a fresh
   process from start to exit, and the CPU time it used (this machine is shared: the CPU time shows
   what the audit costs, the wall time what a user waits). Target: at most 10 s. Three ways, in alternating rounds:
   the default pool of worker processes (one per core), one worker, and none (``--workers 0``: in the calling
   process, one op after another, as the audit ran before it had workers). With ``--before DIR`` (a checkout of
   an earlier commit, say ``git worktree add /tmp/before main``), that tree's audit with the default pool too, in
   the same alternating rounds, and each figure's ratio to it; both trees then run with their own plugins.
2. What a cached strict load adds to the first use of the engine: a fresh process imports microreg,
   builds y = tanh(x) and backpropagates, with ``MICROREG_STRICT=1`` and every op already proved in
   the cache, against the same without strict mode; all installed plugins load. Target: at most 50 ms.
   Measured inside the child (interpreter start-up is the same for both), runs alternating, medians
   compared. Python's bytecode cache is on, in a temporary folder, as for an installed package (this
   environment sets PYTHONDONTWRITEBYTECODE); the figure without it is shown too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

AUDIT_TARGET = 10.0
STRICT_TARGET = 0.050
FIRST_USE = """
import time
start = time.perf_counter()
import microreg
y = microreg.Value(0.5).tanh()
y.backward()
elapsed = time.perf_counter() - start
import sys
print(elapsed, 'sympy' in sys.modules)
"""


def child_env(**changes: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROREG_")}
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


POOLS = {"the default pool (one worker per core)": None, "one worker": "1", "no worker (in the calling process)": "0"}
BEFORE = "the tree before (--before), the default pool"


def tree(path: str) -> str:
    """PYTHONPATH for running microreg and its two plugins from the checkout at path."""
    return os.pathsep.join(os.path.join(path, sub) for sub in ("", "plugins_example", "plugins_torch"))


def bench_full_audit(repeats: int, before: str | None = None) -> dict[str, tuple[list[float], list[float], str]]:
    """Per way of running it (POOLS, and the tree before if given), wall and CPU times of `python -m microreg.cli audit`,
    each in a fresh process, and its summary line; the ways alternate, round by round, so that a change in the
    machine's load touches each alike."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ways = {label: (here, {"MICROREG_AUDIT_WORKERS": workers}) for label, workers in POOLS.items()}
    if before:  # each tree run from its own folder: `python -m` puts the working folder first on sys.path
        ways = {label: (here, {**env, "PYTHONPATH": tree(here)}) for label, (_, env) in ways.items()}
        ways[BEFORE] = (before, {"MICROREG_AUDIT_WORKERS": None, "PYTHONPATH": tree(before)})
    found: dict[str, tuple[list[float], list[float], str]] = {label: ([], [], "") for label in ways}
    for _ in range(repeats):
        for label, (folder, env) in ways.items():
            walls, cpus, _ = found[label]
            before_times = os.times()
            start = time.perf_counter()
            run = subprocess.run([sys.executable, "-m", "microreg.cli", "audit", "--json"], env=child_env(**env), cwd=folder,
                                 capture_output=True, text=True)
            walls.append(time.perf_counter() - start)
            after = os.times()
            cpus.append(after.children_user + after.children_system - before_times.children_user - before_times.children_system)
            if run.returncode != 0:
                raise SystemExit(f"microreg audit failed (exit {run.returncode}):\n{run.stderr}")
            found[label] = (walls, cpus, run.stderr.strip().splitlines()[-1])
    return found


def first_use(env: dict[str, str]) -> tuple[float, bool]:
    run = subprocess.run([sys.executable, "-c", FIRST_USE], env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"first use of the engine failed:\n{run.stderr}")
    elapsed, sympy_loaded = run.stdout.split()
    return float(elapsed), sympy_loaded == "True"


def bench_strict_load(repeats: int, cache: str, bytecode: str | None, path: str | None = None) -> tuple[list[float], list[float], bool]:
    """First-use times without and with a cached strict load, alternating; whether a strict run imported SymPy. path: a
    PYTHONPATH to run them with (this tree and its plugins, with --before)."""
    bytecode_env = {"PYTHONPYCACHEPREFIX": bytecode, "PYTHONDONTWRITEBYTECODE": None} if bytecode else {"PYTHONDONTWRITEBYTECODE": "1"}
    bytecode_env = {**bytecode_env, **({"PYTHONPATH": path} if path else {})}
    normal = child_env(**bytecode_env)
    strict = child_env(MICROREG_STRICT="1", MICROREG_CACHE_DIR=cache, **bytecode_env)
    first_use(strict)  # fills the audit cache (and the bytecode cache), once
    first_use(normal)
    plain, cached, sympy_seen = [], [], False
    for _ in range(repeats):
        plain.append(first_use(normal)[0])
        elapsed, loaded = first_use(strict)
        cached.append(elapsed)
        sympy_seen |= loaded
    return plain, cached, sympy_seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per figure (default 5)")
    parser.add_argument("--quick", action="store_true", help="one fresh process per figure (a smoke run)")
    parser.add_argument("--before", metavar="DIR", help="a checkout of an earlier commit: its audit measured alongside, for ratios")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 1

    runs = bench_full_audit(args.repeats, args.before)
    none = statistics.median(runs["no worker (in the calling process)"][0])
    earlier = statistics.median(runs[BEFORE][0]) if args.before else None
    for label, (walls, cpus, summary) in runs.items():
        wall = statistics.median(walls)
        ratio = f"; {wall / earlier:.2f}x the tree before" if earlier else ""
        print(f"1. the whole microreg audit, {label}, accuracy and SymPy's import included (fresh process, median of "
              f"{args.repeats}): {wall:.2f} s wall (min {min(walls):.2f}, max {max(walls):.2f}), "
              f"{statistics.median(cpus):.2f} s CPU; {wall / none:.2f}x the time with no worker{ratio}; "
              f"target {AUDIT_TARGET:.0f} s, ratio {wall / AUDIT_TARGET:.2f} [{summary}]")

    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as bytecode:
        for label, prefix in (("with a bytecode cache", bytecode), ("without a bytecode cache", None)):
            here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            plain, cached, sympy_seen = bench_strict_load(2 * args.repeats + 1, cache, prefix, tree(here) if args.before else None)
            extra = statistics.median(cached) - statistics.median(plain)
            print(f"2. first use of the engine {label} (median of {len(plain)}): normal {statistics.median(plain) * 1e3:.1f} ms, "
                  f"cached strict {statistics.median(cached) * 1e3:.1f} ms; strict adds {extra * 1e3:.1f} ms; "
                  f"target {STRICT_TARGET * 1e3:.0f} ms, ratio {extra / STRICT_TARGET:.2f}; "
                  f"SymPy imported by a cached strict load: {'yes' if sympy_seen else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
