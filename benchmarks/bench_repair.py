"""What repairing one op costs: ``microreg.repair`` on the ops of the repair catalogue (tests/repair_catalogue.py), each
timed from its first audit to its result, wall time and CPU time of this process (the audits run in forked workers: the
wall time is what a user waits). Target: at most 10 s per op.

    python benchmarks/bench_repair.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

TARGET = 10.0
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three ops only (a smoke run)")
    args = parser.parse_args()
    from repair_catalogue import CATALOGUE

    from microreg import repair

    repair("tanh")  # SymPy and the audit imported before the clock starts
    times = []
    for op in CATALOGUE[:3] if args.quick else CATALOGUE:
        start, cpu = time.perf_counter(), time.process_time()
        result = repair(op)
        wall = time.perf_counter() - start
        times.append(wall)
        print(f"{op.name:16} {result.status:10} {result.tried:2} candidate(s)  {wall:5.1f} s  (CPU here {time.process_time() - cpu:4.1f} s)"
              f"{'  over target' if wall > TARGET else ''}")
    print(f"median {statistics.median(times):.1f} s, max {max(times):.1f} s, {sum(t <= TARGET for t in times)} of {len(times)} "
          f"within {TARGET:g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
