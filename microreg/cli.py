"""The ``microreg`` command: ``ops``, ``plugins``, ``audit`` and ``demo``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence

from .op import REQUIRED
from .registry import PluginError, PluginWarning
from .value import registry


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def ops_records() -> list[dict]:
    """One record per registered op: name, arity, inputs, parameters, domains and provenance."""
    records = []
    for name, op in sorted(registry.ops().items()):
        plugin = registry.origin(name)
        records.append({
            "name": name, "arity": op.arity, "inputs": list(op.inputs),
            "params": {k: (None if d is REQUIRED else d) for k, d in op.params.items()},
            "domains": list(op.domains), "plugin": plugin.name,
            "distribution": plugin.distribution, "version": plugin.version,
        })
    return records


def cmd_ops(args: argparse.Namespace) -> int:
    """`microreg ops`: the registered ops as a table or JSON; exit code 0."""
    records = ops_records()
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    rows = [[r["name"], str(r["arity"]), ", ".join(f"{k}={v}" if v is not None else k for k, v in r["params"].items()),
             r["plugin"], f"{r['distribution'] or '-'} {r['version'] or ''}".strip()] for r in records]
    print(_table(rows, ["op", "arity", "params", "plugin", "distribution"]))
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    """`microreg plugins`: each plugin with its ops or its failure; exit code 1 if any plugin failed."""
    try:
        with warnings.catch_warnings():  # the table below shows each failure; no need to warn about it too
            warnings.simplefilter("ignore", PluginWarning)
            registry.load()
    except PluginError as exc:  # strict mode: the first failure stops loading
        print(f"microreg: {exc}", file=sys.stderr)
        return 1
    records = [{"plugin": p.name, "distribution": p.distribution, "version": p.version, "ops": p.ops, "error": p.error}
               for p in sorted(registry.plugins.values(), key=lambda p: p.name)]
    if args.json:
        print(json.dumps(records, indent=2))
    else:
        rows = [[r["plugin"], r["distribution"] or "-", r["version"] or "-",
                 f"FAILED: {r['error']}" if r["error"] else ", ".join(r["ops"])] for r in records]
        print(_table(rows, ["plugin", "distribution", "version", "ops"]))
    return 1 if any(r["error"] for r in records) else 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `microreg` command and its four subcommands."""
    parser = argparse.ArgumentParser(prog="microreg", description="A scalar autograd engine whose ops are audited plugins.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ops", help="list every registered op with its arity and plugin")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(run=cmd_ops)
    p = sub.add_parser("plugins", help="list each plugin with its distribution, version, ops and any failure")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(run=cmd_plugins)
    from . import audit, demo

    for name, module in (("audit", audit), ("demo", demo)):
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `microreg` command with argv (default: sys.argv[1:]); returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:  # `microreg ops | head`: the reader has gone, which is no error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
