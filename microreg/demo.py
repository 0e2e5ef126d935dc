"""The two-moons demo (placeholder until issue 5 lands)."""

from __future__ import annotations

import argparse

HELP = "train an MLP on two moons and plot it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="out")


def run(args: argparse.Namespace) -> int:
    raise SystemExit("microreg demo is not built yet")
