"""The ``microreg`` command: ``ops``, ``plugins``, ``audit``, ``demo``, ``new-plugin``, ``export``: each subcommand's options and output."""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import textwrap
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from . import accuracy, demo, export, newplugin, plugins, trace
from .audit import ACCURACY_VERDICTS, DEFAULT_BUDGET, ENV_BUDGET, ENV_WORKERS, VERDICTS, OpAudit, audit, dtypes, load_failures
from .audit.run import traced as traced_audit
from .op import DOMAINS, REQUIRED, Kink, Op, OpError
from .opregistry import PluginError, PluginWarning
from .plugins import __version__, registry
from .rewrite import RepairResult, repair


def _table(rows: list[list[str]], header: list[str], wrap: int | None = None) -> str:
    """rows under header in aligned columns; with wrap, the last column wrapped onto more lines so that a line
    is at most wrap characters long (the last column at least 20 wide)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    if wrap is not None:
        widths[-1] = min(widths[-1], max(20, wrap - sum(w + 2 for w in widths[:-1])))
        rows = [[*(r[:-1] if i == 0 else [""] * (len(r) - 1)), part]
                for r in rows for i, part in enumerate(textwrap.wrap(str(r[-1]), widths[-1], break_on_hyphens=False) or [""])]
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
    rows = [[r["name"], _arity(registry.get(r["name"])), ", ".join(f"{k}={v}" if v is not None else k for k, v in r["params"].items()),
             r["plugin"], f"{r['distribution'] or '-'} {r['version'] or ''}".strip()] for r in records]
    print(_table(rows, ["op", "arity", "params", "plugin", "distribution"]))
    return 0


def _arity(op: Op) -> str:
    """The number of inputs an op takes: "2", or "1+" for a variadic op (dot takes any number)."""
    return f"{len(op.inputs)}+" if op.variadic else str(op.arity)


def cmd_plugins(args: argparse.Namespace) -> int:
    """`microreg plugins`: each plugin with its ops or its failure; exit code 1 if any plugin failed."""
    with warnings.catch_warnings():  # the table below shows each failure; no need to warn about it too
        warnings.simplefilter("ignore", PluginWarning)
        _load()
    records = [{"plugin": p.name, "distribution": p.distribution, "version": p.version, "ops": p.ops, "error": p.error}
               for p in sorted(registry.plugins.values(), key=lambda p: p.name)]
    if args.json:
        print(json.dumps(records, indent=2))
    else:
        rows = [[r["plugin"], r["distribution"] or "-", r["version"] or "-",
                 f"FAILED: {r['error']}" if r["error"] else ", ".join(r["ops"])] for r in records]
        print(_table(rows, ["plugin", "distribution", "version", "ops"], wrap=shutil.get_terminal_size().columns))
    return 1 if any(r["error"] for r in records) else 0


def _load() -> bool:
    """Load the plugins for a command that reports each failure itself (`plugins`, `audit`): a plugin refused in
    strict mode is said in one line on stderr, and the command goes on to write its whole report, the refused
    plugin in it as an error, and to exit 1. Whether strict mode refused one."""
    try:
        registry.load()
    except PluginError as exc:  # raised once every plugin was tried: what loaded stays loaded
        print(f"microreg: {exc}", file=sys.stderr)
        return True
    return False


def audit_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `microreg audit`: OP ..., --format (--json), --strict, --order, --budget, --workers, --thorough; and its
    help text."""
    parser.description = ("Prove with SymPy that each op's vjp is g times the derivative of its forward, check it numerically, "
                          "and measure its float64 accuracy against exact values.")
    parser.epilog = textwrap.dedent(f"""\
        verdicts: proved; refuted (a counterexample is shown); inconclusive (not proved, never a pass: SymPy
                  could not decide, or the time budget ran out); error (the op cannot be audited, e.g. it calls
                  math.tanh instead of xp.tanh, or its plugin failed to load)
        accuracy: accurate (within {accuracy.DEFAULT_ULPS:g} ulps, or the bound the op declares); inaccurate (the worst
                  point is shown, how it was found, and which intermediate under- or overflows there); unchecked
                  (no exact values to compare with). Measured over a grid and at the worst inputs a search finds:
                  where any intermediate under- or overflows, and by a local search over float64 bit patterns
        exit codes: 0 nothing refuted, in error or inaccurate, and every plugin loaded (with --strict: nothing
                    inconclusive or unchecked either); 1 otherwise; 2 usage error or unknown op
        strict: one meaning everywhere: only ops proved and accurate pass. --strict applies it to this exit
                code; MICROREG_STRICT=1 applies it when plugins load, and implies --strict.
        what each check does: pydoc microreg.audit""")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("ops", nargs="*", metavar="OP", help="ops to audit (default: every registered op, unless --jax/--torch is given)")
    parser.add_argument("--project", metavar="DIR",
                        help="also (without OP: only) the ops of the plugins DIR/pyproject.toml declares, imported from DIR "
                             "where they are not installed (the pre-commit hook: --project .)")
    parser.set_defaults(traced=[])
    for framework, example in (("jax", "a custom_vjp rule, jax.nn:sigmoid"), ("torch", "an autograd.Function class, torch:sigmoid")):
        parser.add_argument(f"--{framework}", action=_Traced, metavar="MODULE:FUNCTION",
                            help=f"also audit a {framework} function of scalars ({example}), traced into SymPy")
    parser.add_argument("--kink", action=_Traced, type=_kink, metavar="AT=GRAD",
                        help="a kink of the --jax/--torch function before it, and the derivative it gives there (0=0 for relu)")
    parser.add_argument("--domain", action=_Traced, choices=sorted(DOMAINS),
                        help="the inputs' domain of the --jax/--torch function before it (default: real)")
    parser.add_argument("--format", choices=FORMATS, default="table",
                        help="table (default); json: one object per op; github: workflow annotations; junit: JUnit XML")
    parser.add_argument("--json", action="store_const", const="json", dest="format", help="the same as --format json")
    parser.add_argument("--strict", action="store_true", default=plugins.strict(),
                        help="also fail when a verdict is inconclusive or the accuracy unchecked (on with MICROREG_STRICT=1)")
    parser.add_argument("--order", type=int, choices=(1, 2), default=1, help="2: also check second derivatives")
    parser.add_argument("--budget", type=_at_least(float, 0, "a number of seconds, 0 or more"), default=None, metavar="SECONDS",
                        help=f"time limit per op for the symbolic steps (default: ${ENV_BUDGET}, else {DEFAULT_BUDGET:g}; 0: none)")
    parser.add_argument("--suggest", action="store_true",
                        help="for each op proved but inaccurate, a rewrite proved equal and accurate to paste (microreg.repair), "
                             "or the up_to to declare; with --format json, each record's 'repair'; with github and junit, "
                             "after the op's report")
    parser.add_argument("--workers", type=_at_least(int, 0, "a number of processes, 0 or more"), default=None, metavar="N",
                        help=f"worker processes proving ops at once (default: ${ENV_WORKERS}, else one per core; 0: in this process)")
    parser.add_argument("--dtype", action="append", choices=dtypes.DTYPES, default=[], metavar="DTYPE",
                        help="instead of the float64 audit, measure each op exported to torch and JAX in this dtype "
                             f"({', '.join(dtypes.DTYPES)}; repeatable) beside torch's own op")
    parser.add_argument("--thorough", action="store_true",
                        help="search for each op's worst input a hundred times longer (more boundaries, longer local searches), "
                             "with 12 times the default budget per op")


FORMATS = ("table", "json", "github", "junit")


class _Traced(argparse.Action):
    """--jax/--torch add a function to trace (args.traced: [framework, path, kinks, domain]); --kink and --domain
    describe the one given last."""

    def __call__(self, parser: argparse.ArgumentParser, args: argparse.Namespace, value: Any, option: str | None = None) -> None:
        if self.dest in ("jax", "torch"):
            args.traced = [*args.traced, [self.dest, value, [], "real"]]
        elif not args.traced:
            parser.error(f"{option} describes the --jax or --torch function given before it; none is")
        elif self.dest == "kink":
            args.traced[-1][2].append(value)
        else:
            args.traced[-1][3] = value


def _kink(text: str) -> Kink:
    """An argparse type: AT=GRAD as a Kink of a unary function."""
    at, _, slope = text.partition("=")
    try:
        return Kink(float(at), float(slope))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be AT=GRAD, two numbers (0=0: at 0 the derivative given is 0), got {text}") from None


def _traced(args: argparse.Namespace) -> dict[str, tuple[Op, OpAudit]] | None:
    """The --jax and --torch functions traced into ops, and their audits, by title; None (having said why) where one
    cannot be loaded or traced."""
    found = {}
    for framework, path, kinks, domain in args.traced:
        tracer = trace.jax if framework == "jax" else trace.torch
        try:
            op = tracer(trace.load(path), domains=domain, kinks=tuple(kinks))
            found[path] = op, traced_audit(op, framework, path, order=args.order, budget=args.budget)
        except (trace.TraceError, OpError, ImportError) as exc:
            print(f"microreg audit: --{framework} {path}: {exc}", file=sys.stderr)
            return None
    return found


def cmd_audit(args: argparse.Namespace) -> int:
    """`microreg audit`: audit, print the results in the chosen format, and return the exit code (see audit_arguments)."""
    start = time.perf_counter()
    traced = _traced(args)
    if traced is None:
        return 2
    refused = _load()
    names = list(dict.fromkeys(args.ops))
    if args.project is not None:
        try:
            names += [n for n in plugins.load_project(args.project) if n not in names]
        except (ValueError, PluginError) as exc:
            print(f"microreg audit: {exc}", file=sys.stderr)
            return 1 if isinstance(exc, PluginError) else 2
        if not names:
            print(f"microreg audit: the plugins of {args.project} register no op", file=sys.stderr)
            return 2
    failures = load_failures()
    unknown = [n for n in names if n not in registry]
    for name in unknown:
        print(f"microreg audit: {_unknown(name)}", file=sys.stderr)
    if unknown and not any(p.error and (not p.offered or set(p.offered) & set(unknown)) for p in registry.plugins.values()):
        return 2
    if args.dtype and not unknown:
        return _audit_dtypes([registry.get(n) for n in names or sorted(registry.ops())], args.dtype, args.format)
    records = [] if unknown or (traced and not names) else audit(names or None, order=args.order, progress=_progress,
                                                                  budget=args.budget, workers=args.workers, thorough=args.thorough)
    if unknown or not (names or traced) or refused:  # a plugin that failed to load fails the run: it may hold the op asked for,
        records += failures  # and in strict mode every plugin must load
    records += [record for _, record in traced.values()]
    summary = _summary(records, time.perf_counter() - start)
    repairs = _suggest(records, args.budget, {title: op for title, (op, _) in traced.items()}) if args.suggest else {}
    _print(records, args.format, args.strict, summary, repairs)
    return 1 if unknown or any(r.fails(args.strict) for r in records) else 0


def _audit_dtypes(ops: list[Op], chosen: list[str], form: str) -> int:
    """`microreg audit --dtype ...`: each op's exports measured in each dtype; exit 1 if any is inaccurate."""
    missing = dtypes.missing()
    if "torch is not installed" in " ".join(missing):
        print(f"microreg audit --dtype measures ops exported to torch (and JAX where installed); {'; '.join(missing)}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    rows = dtypes.audit(ops, list(dict.fromkeys(chosen)))
    if form == "json":
        print(json.dumps([asdict(r) for r in rows], indent=2, default=str))
    else:
        print(_table(dtypes.table(rows), dtypes.HEADER))
        print("\n".join(["", *dtypes.notes(rows), *(["", *missing] if missing else [])]))
        counts = {v: sum(r.verdict == v for r in rows) for v in ACCURACY_VERDICTS}
        print(f"{len(rows)} op(s) x dtype(s) measured in {time.perf_counter() - start:.2f} s (worst ulps divided by the condition number "
              "where it exceeds 1): " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    return 1 if any(r.verdict == "inaccurate" for r in rows) else 0


def _unknown(name: str) -> str:
    """Why op name is not registered: the plugin that offers it failed to load, or no such op (naming plugins that failed)."""
    for plugin in registry.plugins.values():
        if plugin.error and name in plugin.offered:
            return f"op {name!r} is not registered: plugin {plugin.name!r}, which offers it, failed to load: {plugin.error}"
    try:
        registry.get(name)
    except KeyError as exc:
        return exc.args[0]


def _progress(record: OpAudit) -> None:
    accuracy = f", {record.accuracy}" if record.accuracy else ""
    print(f"audit: {record.op} {record.verdict}{accuracy} ({record.seconds:.2f} s)", file=sys.stderr, flush=True)


def _summary(records: list[OpAudit], seconds: float) -> str:
    audited = [r for r in records if not _is_failure(r)]
    counts = {v: sum(r.verdict == v for r in audited) for v in VERDICTS}
    measured = {v: sum(r.accuracy == v for r in audited) for v in ACCURACY_VERDICTS}
    failed = len(records) - len(audited)
    return (f"{len(audited)} op(s) audited in {seconds:.2f} s: " + ", ".join(f"{n} {v}" for v, n in counts.items())
            + "; " + ", ".join(f"{n} {v}" for v, n in measured.items())
            + (f"; {failed} plugin(s) failed to load" if failed else ""))


def _is_failure(record: OpAudit) -> bool:
    return any(c.kind == "load" for c in record.checks)


def _suggest(records: list[OpAudit], budget: float | None, traced: dict[str, Op]) -> dict[str, RepairResult]:
    """The repair of each op the audit proves and finds inaccurate, registered or traced (by title), by name (`--suggest`)."""
    found = {}
    for r in records:
        if r.verdict == "proved" and r.accuracy == "inaccurate" and (r.op in registry or r.op in traced):
            print(f"suggest: repairing {r.op}", file=sys.stderr, flush=True)
            found[r.op] = repair(traced.get(r.op) or r.op, budget=budget, audited=r)
    return found


def _print(records: list[OpAudit], form: str, strict: bool, summary: str, repairs: dict[str, RepairResult]) -> None:
    if form == "json":
        print(json.dumps([{**r.to_json(), **({"repair": repairs[r.op].to_json()} if r.op in repairs else {})} for r in records],
                         indent=2, default=str))
    elif form == "github":
        print("\n".join(_github(r, strict, repairs.get(r.op)) for r in records if r.problems()))
        print(f"::notice title=microreg audit::{_escape(summary)}")
    elif form == "junit":
        print(_junit(records, strict, summary, repairs))
    else:
        print(_render(records))
        if repairs:
            print("\nSuggested repairs (microreg.repair):\n\n" + "\n".join(r.describe() for r in repairs.values()))
        print(summary)
        return
    print(summary, file=sys.stderr)


def _render(records: list[OpAudit]) -> str:
    rows, notes = [], []
    for r in records:
        kinks = [c for c in r.checks if c.kind == "kink"]
        origin = registry.plugins.get(r.plugin)
        plugin = f"{r.plugin} {origin.version}" if origin and origin.version else r.plugin
        worst = r.worst()
        ulps = "-" if worst is None else f"{worst['excess']:.2g}" + (f" (<= {r.bound:g})" if r.declared else "")
        if r.declared:
            notes.append(f"{r.op} declares an accuracy bound of {r.bound:g} ulps: {r.declared}")
        notes += [f"{r.op}: {c.message}" for c in r.checks if c.kind == "constant"]
        rows.append([r.op, plugin, r.verdict, r.accuracy or "-", ulps, _inputs(r.input_verdicts()),
                     f"{sum(c.verdict == 'passed' for c in kinks)}/{len(kinks)}" if kinks else "-", f"{r.seconds:.2f}"])
    reports = [r.report() for r in records if r.problems()]
    table = _table(rows, ["op", "plugin", "verdict", "accuracy", "worst ulps", "inputs", "kinks", "seconds"])
    return "\n\n".join([table, *(["\n".join(notes)] if notes else []), *reports])


def _inputs(verdicts: dict[str, str]) -> str:
    """'x, y proved' when the inputs agree ('6 inputs proved' for many), else each input's verdict."""
    if len(set(verdicts.values())) == 1:
        (verdict,) = set(verdicts.values())
        return f"{', '.join(verdicts) if len(verdicts) <= 3 else f'{len(verdicts)} inputs'} {verdict}"
    return ", ".join(f"{n} {v}" for n, v in verdicts.items()) or "-"


def _escape(text: str, properties: bool = False) -> str:
    """Text for a GitHub workflow command (its message, or with properties, a property value)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if properties else text


def _github(record: OpAudit, strict: bool, repair: RepairResult | None = None) -> str:
    """One workflow annotation for an op with problems: an error if it fails the run, a warning otherwise, on its vjp's
    line; with --suggest, its repair after the report."""
    level = "error" if record.fails(strict) else "warning"
    where = ""
    op = registry.find(record.op)
    code = getattr(getattr(op, "vjp", None), "__code__", None)
    if code is not None:
        path = os.path.relpath(code.co_filename)
        if not path.startswith(".."):
            where = f"file={_escape(path, True)},line={code.co_firstlineno},"
    title = f"microreg audit: {record.op} {record.verdict}" + (f", {record.accuracy}" if record.accuracy else "")
    text = record.report() + (f"\n\n{repair.describe()}" if repair else "")
    return f"::{level} {where}title={_escape(title, True)}::{_escape(text)}"


def _junit(records: list[OpAudit], strict: bool, summary: str, repairs: dict[str, RepairResult]) -> str:
    """The records as JUnit XML, one test case per op: failure (refuted, inaccurate), error, or skipped (inconclusive);
    with --suggest, an op's repair after its report."""
    suite = ElementTree.Element("testsuite", name="microreg audit", tests=str(len(records)),
                                time=f"{sum(r.seconds for r in records):.3f}")
    counts = {"failure": 0, "error": 0, "skipped": 0}
    for r in records:
        case = ElementTree.SubElement(suite, "testcase", classname=f"microreg.audit.{r.plugin}", name=r.op, time=f"{r.seconds:.3f}")
        outcome = ("error" if r.verdict == "error" else "failure" if r.fails(strict) else
                   "skipped" if r.problems() else None)
        if outcome:
            counts[outcome] += 1
            first = r.problems()[0]
            element = ElementTree.SubElement(case, outcome, message=f"{first.verdict}: {first.message}"[:500], type=first.verdict)
            if outcome != "skipped":
                element.text = r.report() + (f"\n\n{repairs[r.op].describe()}" if r.op in repairs else "")
        ElementTree.SubElement(case, "system-out").text = f"verdict {r.verdict}, accuracy {r.accuracy or '-'}"
    suite.set("failures", str(counts["failure"]))
    suite.set("errors", str(counts["error"]))
    suite.set("skipped", str(counts["skipped"]))
    root = ElementTree.Element("testsuites", name="microreg audit")
    root.append(suite)
    ElementTree.SubElement(suite, "system-out").text = summary
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True)


def demo_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `microreg demo`: --out, --epochs, --seed, --activation."""
    parser.add_argument("--out", default="out", metavar="DIR", help="where to write the plots and metrics.json (default: out)")
    parser.add_argument("--epochs", type=_at_least(int, 1, "a positive number of epochs"), default=100, metavar="N",
                        help="training epochs (default: 100)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed for the data and the initial weights (default: 0)")
    parser.add_argument("--activation", default="relu", metavar="NAME",
                        help="hidden activation: any registered unary op defined on all reals, "
                             "e.g. tanh or a plugin's gelu, with its static parameters as in the method call if it "
                             "takes any, e.g. 'leaky_relu(0.2)' or 'leaky_relu(negative_slope=0.2)' (default: relu)")


def _at_least(kind: type, least: float, what: str) -> Callable[[str], Any]:
    """An argparse type: text as kind (int or float), finite and at least least; else a usage error saying it must be what."""

    def convert(text: str) -> Any:
        try:
            n = kind(text)
        except ValueError:
            n = None
        if n is None or not math.isfinite(n) or n < least:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return n

    convert.__name__ = kind.__name__  # argparse names the type in its own messages
    return convert


def cmd_new_plugin(args: argparse.Namespace) -> int:
    """`microreg new-plugin NAME`: write the plugin package NAME into ./NAME; exit code 2, one line, if it cannot be."""
    try:
        root = newplugin.write(args.name, Path.cwd())
    except ValueError as exc:
        print(f"microreg new-plugin: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {root}: the plugin {args.name}, its op {args.name}, its tests, a CI workflow and a pre-commit config. Next:\n"
          f"  cd {args.name}\n  pip install -e '.[test]'\n  pytest\n  microreg audit {args.name}")
    return 0


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


class _Command(argparse.ArgumentParser):
    """The top-level parser: an unknown option is named as one (`microreg --bogus`), before a missing command is."""

    commands: dict[str, argparse.ArgumentParser] = {}

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None) -> tuple:
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        if namespace.command is None:
            self.error(f"a command is required: {', '.join(self.commands)}")
        return namespace, extras


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `microreg` command and its six subcommands."""
    parser = _Command(prog="microreg", description="A scalar autograd engine whose ops are audited plugins.")
    parser.add_argument("--version", action="version", version=f"microreg {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Subcommand)
    parser.commands = sub.choices
    p = sub.add_parser("ops", help="list every registered op with its arity and plugin",
                       description="List every registered op: its number of inputs (1+ for any number), its static "
                                   "parameters with their defaults, and the plugin and distribution it comes from.")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(run=cmd_ops)
    p = sub.add_parser("plugins", help="list each plugin with its distribution, version, ops and any failure",
                       description="List each plugin, with the distribution and version it comes from and its ops, "
                                   "or why it failed to load; exit code 1 if any failed.")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(run=cmd_plugins)
    p = sub.add_parser("audit", help="prove every registered derivative with SymPy")
    audit_arguments(p)
    p.set_defaults(run=cmd_audit)
    p = sub.add_parser("demo", help="train an MLP on two moons and plot it", description=demo.__doc__)
    demo_arguments(p)
    p.set_defaults(run=demo.run)
    p = sub.add_parser("new-plugin", help="write a ready plugin package: an activation, its tests, CI and pre-commit",
                       description="Write a plugin package into a new folder ./NAME: pyproject.toml with the microreg entry "
                                   "point, a module with one worked activation, tests running every check of microreg.testing, "
                                   "a GitHub workflow and a .pre-commit-config.yaml. Installed with pip install -e, its tests "
                                   "pass and `microreg audit` proves its op, with no edit.")
    p.add_argument("name", metavar="NAME", help="the plugin's name: its package, entry point and op (a Python identifier)")
    p.set_defaults(run=cmd_new_plugin)
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
    except PluginError as exc:  # strict mode refused a plugin (`ops`, `export`, ...): one line, as `plugins` says it
        print(f"microreg: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `microreg ops | head`: the reader has gone, which is no error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
