"""The audit's results as data: ``Check`` (one check of one op), ``OpAudit`` (every check of one op, its verdicts), and the
words and numbers a report is made of."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..op import Op
from ..plugins import registry

VERDICTS = ("proved", "refuted", "inconclusive", "error")
ACCURACY_VERDICTS = ("accurate", "inaccurate", "unchecked")
DEFAULT_BUDGET = 5.0  # seconds per op
ENV_BUDGET = "MICROREG_AUDIT_BUDGET"


def budget_seconds(budget: float | None = None) -> float | None:
    """The time budget per op in seconds: budget if given, else $MICROREG_AUDIT_BUDGET, else DEFAULT_BUDGET; None for no limit (<= 0)."""
    if budget is None:
        text = os.environ.get(ENV_BUDGET, "").strip()
        try:
            budget = float(text) if text else DEFAULT_BUDGET
        except ValueError:
            raise ValueError(f"{ENV_BUDGET} must be a number of seconds, got {text!r}") from None
    return budget if budget > 0 and math.isfinite(budget) else None


@dataclass
class Check:
    """One check of one op: its kind, which input's derivative, the static parameters, and the verdict.

    ``verdict`` is ``proved`` (symbolic kinds), ``passed`` (numeric kinds), ``refuted``,
    ``inconclusive``, ``error``, ``skipped`` (varied parameters the op does not accept), or for the
    accuracy check ``accurate``, ``inaccurate``, ``unchecked``. ``counterexample`` holds the point, g,
    and the expected and registered values there; ``worst`` the accuracy check's worst result.
    """

    kind: str
    verdict: str
    input: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    expected: str | None = None
    registered: str | None = None
    counterexample: dict[str, Any] | None = None
    worst: dict[str, Any] | None = None


@dataclass
class OpAudit:
    """The audit of one op: the verdict (one of ``VERDICTS``), the accuracy (one of ``ACCURACY_VERDICTS``, None if
    not measured) and every check behind them. A plugin that failed to load is a record too: verdict ``error``."""

    op: str
    plugin: str
    verdict: str
    inputs: tuple[str, ...]
    checks: list[Check]
    seconds: float
    accuracy: str | None = None
    bound: float | None = None  # the accuracy bound in ulps
    declared: str | None = None  # why the op declares a looser bound than the default, if it does

    def input_verdicts(self) -> dict[str, str]:
        """Each input's verdict, from the checks of its derivative."""
        return {name: worst(c.verdict for c in self.checks if c.input == name) for name in self.inputs}

    def fails(self, strict: bool = False) -> bool:
        """Whether this record fails a run: refuted, error or inaccurate; with strict, also inconclusive or unchecked.

        The one meaning of "strict" everywhere (``microreg audit --strict``, ``MICROREG_STRICT=1``,
        ``assert_proved``): only an op that is proved, and accurate where measured, passes.
        """
        if self.verdict in ("refuted", "error") or self.accuracy == "inaccurate":
            return True
        return strict and (self.verdict == "inconclusive" or self.accuracy == "unchecked")

    def problems(self) -> list[Check]:
        """The checks that keep this op from being proved and accurate."""
        return [c for c in self.checks if c.verdict not in ("proved", "passed", "accurate", "skipped")]

    def worst(self) -> dict[str, Any] | None:
        """The accuracy checks' worst result over every example, or None."""
        found = [c.worst for c in self.checks if c.kind == "accuracy" and c.worst]
        return max(found, key=lambda w: w["excess"]) if found else None

    def to_json(self) -> dict[str, Any]:
        """This audit as JSON-ready data: the fields docs/audit.md lists under "JSON fields"."""
        per_input = self.input_verdicts()
        origin = registry.plugins.get(self.plugin)
        return {"op": self.op, "plugin": self.plugin, "version": origin.version if origin else None,
                "verdict": self.verdict, "seconds": round(self.seconds, 4),
                "accuracy": None if self.accuracy is None else {
                    "verdict": self.accuracy, "bound_ulps": self.bound, "declared": self.declared, "worst": self.worst()},
                "inputs": [{"input": n, "verdict": per_input[n], "checks": [asdict(c) for c in self.checks if c.input == n]}
                           for n in self.inputs],
                "checks": [asdict(c) for c in self.checks if c.input is None]}

    def report(self) -> str:
        """What went wrong, in words: one paragraph per problem (empty when proved and accurate)."""
        lines = []
        for c in self.problems():
            params = f" with {fmt_params(c.params)}" if c.params else ""
            lines.append(f"{self.op} [{c.kind}{', ' + c.input if c.input else ''}{params}] {c.verdict}: {c.message}")
            if c.counterexample:
                lines.append(f"    counterexample: {fmt_counterexample(c.counterexample)}")
            if c.expected is not None:
                lines.append(f"    expected:   {c.expected}")
                lines.append(f"    registered: {c.registered}")
        return "\n".join(lines)


def worst(verdicts: Iterable[str]) -> str:
    """The op's verdict from its checks': refuted over error over inconclusive over proved."""
    found = set(verdicts)
    return next((v for v in ("refuted", "error", "inconclusive") if v in found), "proved")


def worst_accuracy(checks: list[Check]) -> str | None:
    found = {c.verdict for c in checks if c.kind == "accuracy"}
    return next((v for v in ("inaccurate", "unchecked", "accurate") if v in found), None)


def load_failures() -> list[OpAudit]:
    """One record (verdict ``error``) for each plugin that failed to load, naming it, the ops it offered if known, and why."""
    return [OpAudit(", ".join(p.offered) or "-", p.name, "error", (),
                    [Check("load", "error", message=f"plugin {p.name!r} failed to load: {p.error}")], 0.0)
            for p in sorted(registry.plugins.values(), key=lambda p: p.name) if p.error]


def close(expected: float, got: float, rtol: float) -> bool:
    return math.isclose(expected, got, rel_tol=rtol, abs_tol=rtol * 1e-3) if math.isfinite(got) else False


# -- words ----------------------------------------------------------------------------------------


def floats(point: dict) -> dict[str, float]:
    return {str(k): float(v) for k, v in point.items()}


def fmt_at(at: dict) -> str:
    return ", ".join(f"{k}={float(v):g}" for k, v in at.items())


def fmt_point(op: Op, point: Sequence[float]) -> str:
    return ", ".join(f"{n}={v:g}" for n, v in zip(op.inputs, point))


def fmt_params(params: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


def fmt_value(v: float | None) -> str:
    return "nothing (it fails)" if v is None else repr(v)


def fmt_counterexample(cex: dict) -> str:
    at = ", ".join(f"{k}={v:g}" for k, v in cex["at"].items())
    g = f", g={cex['g']:g}" if "g" in cex else ""
    small = f" (difference {cex['difference']:.6g}, exactly nonzero)" if "difference" in cex else ""
    return f"at {at}{g}: expected {cex['expected']:.12g}, registered {cex['registered']:.12g}{small}"
