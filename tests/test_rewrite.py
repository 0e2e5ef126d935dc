"""microreg.rewrite: repair of ops the audit proves but finds inaccurate, over the catalogue of naive rules
(tests/repair_catalogue.py), and `microreg audit --suggest` end to end on a scratch plugin."""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sympy as sp

import microreg
from microreg import Accuracy, Op, cli
from microreg.accuracy import INSIDE_DOMAIN
from microreg.audit import audit_op
from microreg.backends import Scalar, Symbolic
from microreg.plugins import registry
from microreg.rewrite import CANDIDATE_BUDGET, repair

sys.path.insert(0, str(Path(__file__).parent))
from repair_catalogue import CATALOGUE, UNREPAIRED  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
POINTS = (-30.0, -5.0, -1.0, -0.1, -1e-5, 1e-5, 0.1, 1.0, 5.0, 30.0)


@pytest.fixture(scope="module")
def repairs():
    return {}


def repaired(op: Op, cache: dict):
    if op.name not in cache:
        cache[op.name] = repair(op)
    return cache[op.name]


@pytest.mark.parametrize("naive", CATALOGUE, ids=lambda op: op.name)
def test_catalogue_op_is_proved_and_inaccurate_as_written(naive):
    op = naive
    record = audit_op(op, budget=CANDIDATE_BUDGET)
    assert (record.verdict, record.accuracy) == ("proved", "inaccurate")


@pytest.mark.parametrize("naive", CATALOGUE, ids=lambda op: op.name)
def test_catalogue_op_is_repaired_or_listed_with_the_reason(naive, repairs):
    op = naive
    result = repaired(op, repairs)
    if op.name in UNREPAIRED:
        assert result.status != "repaired", f"{op.name} is repaired now: take it off UNREPAIRED"
        return
    assert result.status == "repaired", result.describe()
    new = result.op
    assert (new.name, new.inputs, new.domains, new.kinks, dict(new.params)) == (op.name, op.inputs, op.domains, op.kinks,
                                                                                 dict(op.params))
    record = audit_op(new, budget=CANDIDATE_BUDGET)  # the budget the repair audited it with
    assert (record.verdict, record.accuracy) == ("proved", "accurate")


def _agreeing(op: Op, new: Op, params: dict) -> list[str]:
    """Where the original forward or vjp is accurate (within 1e-13 of its exact value), the points at which the repaired
    op differs from it by more than 1e-12 relative."""
    floats, symbols = Scalar(registry), Symbolic(registry)
    found = []
    for x in POINTS:
        point = [x] * op.arity
        if not all(INSIDE_DOMAIN[d](x) for d in op.domains):
            continue
        for role in ("forward", "vjp"):
            def run(o: Op, xp, args, role=role, params=params):
                out = o.forward(xp, *args, **params)
                return [out] if role == "forward" else list(o.vjp(xp, 1, out, *args, **params))
            try:
                old = run(op, floats, point)
            except (ArithmeticError, ValueError):
                continue
            exact_params = {k: sp.Rational(repr(v)) if isinstance(v, float) else v for k, v in params.items()}
            with_exact = functools.partial(run, params=exact_params)
            exact = [sp.N(v, 30) for v in with_exact(op, symbols, [sp.Rational(v) for v in point])]
            got = run(new, floats, point)
            for o, e, n in zip(old, exact, got):
                if o is None or e == 0 or abs(o - float(e)) > 1e-13 * abs(float(e)):
                    continue
                if not math.isclose(n, o, rel_tol=1e-12):
                    found.append(f"{role} at {point}: {n} vs {o}")
    return found


@pytest.mark.parametrize("naive", [op for op in CATALOGUE if op.name not in UNREPAIRED], ids=lambda op: op.name)
def test_repaired_op_agrees_with_the_original_where_that_is_accurate(naive, repairs):
    op = naive
    result = repaired(op, repairs)
    assert result.status == "repaired"
    for params in op.examples:
        assert _agreeing(op, result.op, params) == []


def test_catalogue_is_at_least_80_percent_repaired_and_the_readme_says_how_much():
    done = len(CATALOGUE) - len(UNREPAIRED)
    assert done >= 0.8 * len(CATALOGUE)
    assert f"{done} of the {len(CATALOGUE)} naive rules" in (ROOT / "README.md").read_text()


def test_a_repaired_op_comes_with_its_source_against_xp_and_what_changed(repairs):
    result = repaired(CATALOGUE[0], repairs)  # sigmoid: 1 / (1 + exp(-x)), vjp out * (1 - out)
    assert result.changes and all(c.startswith(("forward: ", "vjp: ")) for c in result.changes)
    assert "def sigmoid(xp, x):" in result.source and "def sigmoid_vjp(xp, g, out, x):" in result.source
    assert "xp.exp(-xp.abs(x))" in result.source
    assert result.before["excess"] > 16 >= result.after["excess"]
    assert microreg.repair is repair and microreg.RepairResult is type(result)


def test_repair_leaves_an_accurate_op_alone():
    result = repair("tanh")
    assert (result.status, result.op, result.source) == ("accurate", None, "")


@pytest.mark.parametrize(("given", "error", "words"), [
    ("no_such_op", KeyError, "no op named 'no_such_op' is registered"),
    (42, TypeError, "repair() takes an Op or the name of a registered op, got int: 42"),
])
def test_repair_of_what_is_no_op_is_an_error_naming_it(given, error, words):
    with pytest.raises(error) as raised:
        repair(given)
    assert words in str(raised.value)


def wrong(xp, x):
    return xp.exp(x)


def wrong_vjp(xp, g, out, x):
    return (2 * g * out,)


def test_repair_refuses_an_op_the_audit_does_not_prove():
    result = repair(Op("wrong", wrong, wrong_vjp))
    assert result.status == "unrepaired" and "refuted" in result.reason


def lorentz(xp, x):
    return 1 / (1 + x * x)


def lorentz_vjp(xp, g, out, x):
    return (-2 * g * x / ((1 + x * x) * (1 + x * x)),)


def test_without_a_rewrite_the_result_is_the_largest_up_to_the_audit_accepts():
    op = Op("lorentz", lorentz, lorentz_vjp)  # the vjp's (1 + x * x)**2 overflows beyond 1e77, the result still a float
    result = repair(op)
    assert result.status == "bounded" and result.up_to == 1e50, result.describe()
    assert result.declaration.startswith("accuracy=Accuracy(16, ") and "up_to=1e+50" in result.declaration
    declared = eval(result.declaration.removeprefix("accuracy="), {"Accuracy": Accuracy})  # noqa: S307 - our own text
    assert audit_op(Op("lorentz", lorentz, lorentz_vjp, accuracy=declared)).accuracy == "accurate"
    next_size = Accuracy(16, "the grid's next magnitude", up_to=1e100)
    assert audit_op(Op("lorentz", lorentz, lorentz_vjp, accuracy=next_size)).accuracy == "inaccurate"


def test_the_inaccurate_message_names_the_remedy_and_counts_failures_among_the_misses():
    check = next(c for c in audit_op(CATALOGUE[0]).checks if c.kind == "accuracy")
    assert "microreg audit --suggest sigmoid" in check.message
    misses, failures = map(int, re.search(r"(\d+) of \d+ float64 results.*?; (\d+) of them raise", check.message).groups())
    assert failures <= misses


def test_audit_suggest_json_carries_the_repair_of_each_inaccurate_op(register_op, capsys):
    register_op(Op("naive_sigmoid", CATALOGUE[0].forward, CATALOGUE[0].vjp))
    assert cli.main(["audit", "naive_sigmoid", "exp", "--suggest", "--format", "json"]) == 1
    data = {r["op"]: r for r in json.loads(capsys.readouterr().out)}
    assert "repair" not in data["exp"]
    fix = data["naive_sigmoid"]["repair"]
    assert fix["status"] == "repaired" and "def sigmoid(xp, x):" in fix["source"]
    assert fix["before"]["excess"] > 16 >= fix["after"]["excess"]


@pytest.mark.parametrize(("form", "pasted"), [("github", "%0A    def sigmoid_vjp(xp, g, out, x):%0A"),
                                              ("junit", "\n    def sigmoid_vjp(xp, g, out, x):\n")])
def test_audit_suggest_puts_the_repair_in_the_ci_formats_after_the_report(register_op, capsys, form, pasted):
    """A team that runs the audit in CI with --suggest sees the source to paste in the annotation or the failure."""
    register_op(Op("naive_sigmoid", CATALOGUE[0].forward, CATALOGUE[0].vjp))
    assert cli.main(["audit", "naive_sigmoid", "--suggest", "--format", form]) == 1
    out = capsys.readouterr().out
    assert "naive_sigmoid: a rewrite, proved equal and accurate" in out and pasted in out
    assert out.index("naive_sigmoid [accuracy] inaccurate") < out.index("naive_sigmoid: a rewrite")


PLUGIN = '''
from microreg import Op, hookimpl


def naive_sigmoid(xp, x):
    return 1 / (1 + xp.exp(-x))


def naive_sigmoid_vjp(xp, g, out, x):
    return (g * out * (1 - out),)


def naive_softplus(xp, x):
    return xp.log(1 + xp.exp(x))


def naive_softplus_vjp(xp, g, out, x):
    return (g * xp.exp(x) / (1 + xp.exp(x)),)


@hookimpl
def microreg_ops():
    return [Op("naive_sigmoid", naive_sigmoid, naive_sigmoid_vjp), Op("naive_softplus", naive_softplus, naive_softplus_vjp)]
'''


def test_audit_suggest_prints_source_that_pasted_into_the_plugin_makes_the_audit_pass(tmp_path):
    (tmp_path / "scratch_naive.py").write_text(PLUGIN)
    info = tmp_path / "scratch_naive-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: scratch-naive\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[microreg]\nscratch = scratch_naive\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}

    def audit(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "microreg", "audit", "naive_sigmoid", "naive_softplus", *args],
                              capture_output=True, text=True, env=env, cwd=tmp_path)

    before = audit("--suggest")
    assert before.returncode == 1, before.stderr
    code = PLUGIN
    for name in ("naive_sigmoid", "naive_softplus"):
        block = before.stdout.split(f"\n{name}: a rewrite, proved equal and accurate", 1)[1]
        lines = block.split("paste in place of the op's forward and vjp:\n", 1)[1].splitlines()
        source = textwrap.dedent("\n".join(itertools.takewhile(lambda line: not line or line.startswith("    "), lines)))
        start, end = code.index(f"def {name}(xp"), code.index("\n\n\n", code.index(f"def {name}_vjp(xp"))
        code = code[:start] + source.strip() + code[end:]
    (tmp_path / "scratch_naive.py").write_text(code)
    after = audit()
    assert after.returncode == 0, after.stdout
    assert "proved    accurate" in after.stdout or after.stdout.count("accurate") >= 2
