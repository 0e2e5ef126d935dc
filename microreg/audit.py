"""The symbolic derivative audit (placeholder until issue 3 lands)."""

from __future__ import annotations

import argparse

HELP = "prove every registered derivative with SymPy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ops", nargs="*")


def run(args: argparse.Namespace) -> int:
    raise SystemExit("microreg audit is not built yet")


def refuse_unproved(ops: list, plugin: str) -> None:
    raise NotImplementedError
