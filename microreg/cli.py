"""The ``microreg`` command: ``ops``, ``plugins``, ``audit``, ``demo`` and ``export``, each subcommand's options and output."""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time
import warnings
from collections.abc import Sequence

from . import demo, export
from .audit import VERDICTS, OpAudit, audit
from .op import REQUIRED
from .opregistry import PluginError, PluginWarning
from .plugins import __version__, registry


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
    except PluginError as exc:  # strict mode: raised once every plugin was tried; the table shows each failure too
        print(f"microreg: {exc}", file=sys.stderr)
    records = [{"plugin": p.name, "distribution": p.distribution, "version": p.version, "ops": p.ops, "error": p.error}
               for p in sorted(registry.plugins.values(), key=lambda p: p.name)]
    if args.json:
        print(json.dumps(records, indent=2))
    else:
        rows = [[r["plugin"], r["distribution"] or "-", r["version"] or "-",
                 f"FAILED: {r['error']}" if r["error"] else ", ".join(r["ops"])] for r in records]
        print(_table(rows, ["plugin", "distribution", "version", "ops"]))
    return 1 if any(r["error"] for r in records) else 0


def audit_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `microreg audit`: OP ..., --json, --strict, --order; and its help text."""
    parser.description = "Prove with SymPy that each op's vjp is g times the derivative of its forward, and check it numerically."
    parser.epilog = textwrap.dedent("""\
        verdicts: proved; refuted (a counterexample is shown); inconclusive (not proved, never a pass);
                  error (the op cannot be audited, e.g. it calls math.tanh instead of xp.tanh)
        exit codes: 0 nothing refuted or in error (with --strict: nothing inconclusive either),
                    1 otherwise, 2 usage error or unknown op
        what each check does: pydoc microreg.audit""")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("ops", nargs="*", metavar="OP", help="ops to audit (default: every registered op)")
    parser.add_argument("--json", action="store_true", help="print a JSON list, one object per op")
    parser.add_argument("--strict", action="store_true", help="also fail when a verdict is inconclusive")
    parser.add_argument("--order", type=int, choices=(1, 2), default=1, help="2: also check second derivatives")


def cmd_audit(args: argparse.Namespace) -> int:
    """`microreg audit`: audit, print a table (or JSON), and exit 0 if nothing is refuted or in error, 1 otherwise, 2 for an unknown op."""
    try:
        registry.load()
    except PluginError as exc:  # strict mode refused a plugin (or one failed): nothing to audit until it is fixed
        print(f"microreg audit: {exc}", file=sys.stderr)
        return 1
    names = list(dict.fromkeys(args.ops))
    unknown = [n for n in names if n not in registry]
    for name in unknown:
        try:
            registry.get(name)
        except KeyError as exc:
            print(f"microreg audit: {exc.args[0]}", file=sys.stderr)
    if unknown:
        return 2
    start = time.perf_counter()
    records = audit(names or None, order=args.order, progress=_progress)
    counts = {v: sum(r.verdict == v for r in records) for v in VERDICTS}
    summary = (f"{len(records)} op(s) audited in {time.perf_counter() - start:.2f} s: "
               + ", ".join(f"{n} {v}" for v, n in counts.items()))
    if args.json:
        print(json.dumps([r.to_json() for r in records], indent=2, default=str))
        print(summary, file=sys.stderr)
    else:
        print(_render(records))
        print(summary)
    failing = {"refuted", "error"} | ({"inconclusive"} if args.strict else set())
    return 1 if any(r.verdict in failing for r in records) else 0


def _progress(record: OpAudit) -> None:
    print(f"audit: {record.op} {record.verdict} ({record.seconds:.2f} s)", file=sys.stderr, flush=True)


def _render(records: list[OpAudit]) -> str:
    rows = []
    for r in records:
        kinks = [c for c in r.checks if c.kind == "kink"]
        origin = registry.plugins.get(r.plugin)
        plugin = f"{r.plugin} {origin.version}" if origin and origin.version else r.plugin
        rows.append([r.op, plugin, r.verdict, ", ".join(f"{n} {v}" for n, v in r.input_verdicts().items()),
                     f"{sum(c.verdict == 'passed' for c in kinks)}/{len(kinks)}" if kinks else "-", f"{r.seconds:.2f}"])
    reports = [r.report() for r in records if r.verdict != "proved"]
    return "\n\n".join([_table(rows, ["op", "plugin", "verdict", "inputs", "kinks", "seconds"]), *reports])


def demo_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `microreg demo`: --out, --epochs, --seed, --activation."""
    parser.add_argument("--out", default="out", metavar="DIR", help="where to write the plots and metrics.json (default: out)")
    parser.add_argument("--epochs", type=_positive_int, default=100, metavar="N", help="training epochs (default: 100)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed for the data and the initial weights (default: 0)")
    parser.add_argument("--activation", default="relu", metavar="NAME",
                        help="hidden activation: any registered unary op defined on all reals, "
                             "e.g. tanh or a plugin's gelu, with its static parameters by name if it takes any, "
                             "e.g. 'leaky_relu(negative_slope=0.2)' (default: relu)")


def _positive_int(text: str) -> int:
    """argparse type for --epochs: an int of at least 1."""
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number of epochs, got {text}")
    return n


def cmd_export(args: argparse.Namespace) -> int:
    """`microreg export OP --to torch|jax`: print how to use the op in that framework; exit code 2 for an unknown op."""
    try:
        print(export.usage(args.op, args.to))
    except KeyError as exc:
        print(f"microreg export: {exc.args[0]}", file=sys.stderr)
        return 2
    return 0


class _Subcommand(argparse.ArgumentParser):
    """A subcommand's parser: an option it does not know is its own usage error (`microreg audit --oder 2`
    shows audit's usage, not the top-level one)."""

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None) -> tuple:
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `microreg` command and its five subcommands."""
    parser = argparse.ArgumentParser(prog="microreg", description="A scalar autograd engine whose ops are audited plugins.")
    parser.add_argument("--version", action="version", version=f"microreg {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Subcommand)
    p = sub.add_parser("ops", help="list every registered op with its arity and plugin")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(run=cmd_ops)
    p = sub.add_parser("plugins", help="list each plugin with its distribution, version, ops and any failure")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(run=cmd_plugins)
    p = sub.add_parser("audit", help="prove every registered derivative with SymPy")
    audit_arguments(p)
    p.set_defaults(run=cmd_audit)
    p = sub.add_parser("demo", help="train an MLP on two moons and plot it", description=demo.__doc__)
    demo_arguments(p)
    p.set_defaults(run=demo.run)
    p = sub.add_parser("export", help="print how to use an op in PyTorch or JAX, its backward the op's vjp",
                       description="Print the Python that runs OP in PyTorch or JAX (pydoc microreg.export).")
    p.add_argument("op", metavar="OP", help="a registered op (see `microreg ops`)")
    p.add_argument("--to", choices=sorted(export.KINDS), default="torch", help="the framework (default: torch)")
    p.set_defaults(run=cmd_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `microreg` command with argv (default: sys.argv[1:]); returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except PluginError as exc:  # strict mode refused a plugin: one line, as `plugins` and `audit` say it
        print(f"microreg: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `microreg ops | head`: the reader has gone, which is no error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
