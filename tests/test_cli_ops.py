"""`microreg ops`: the table and the JSON list of every registered op with its arity and provenance."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import microreg
from microreg import Op, cli, registry
from microreg.op import REQUIRED


def expected_record(name: str) -> dict:
    op, plugin = registry.get(name), registry.origin(name)
    return {"name": name, "arity": op.arity, "plugin": plugin.name, "distribution": plugin.distribution, "version": plugin.version}


def run_json(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    assert cli.main(["ops", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def table_rows(text: str) -> dict[str, dict[str, str]]:
    """The table's rows by op name, each cell cut at the columns the dashed rule under the header marks."""
    header, rule, *rows = text.splitlines()
    spans, start = [], 0
    for dashes in rule.split("  "):
        spans.append((start, start + len(dashes)))
        start += len(dashes) + 2
    names = [header[a:b].strip() for a, b in spans]
    cells = [{n: row[a:b].strip() for n, (a, b) in zip(names, spans)} for row in rows]
    return {c["op"]: c for c in cells}


def test_ops_json_lists_every_registered_op_with_its_provenance(capsys):
    records = run_json(capsys)
    assert [r["name"] for r in records] == sorted(registry.ops())
    for r in records:
        assert {k: r[k] for k in ("name", "arity", "plugin", "distribution", "version")} == expected_record(r["name"])
        op = registry.get(r["name"])
        assert r["inputs"] == list(op.inputs) and r["domains"] == list(op.domains)
        assert r["params"] == {k: None if d is REQUIRED else d for k, d in op.params.items()}


def test_core_ops_come_from_the_microreg_distribution(capsys):
    core = {r["name"]: r for r in run_json(capsys) if r["plugin"] == "microreg_ops"}
    assert {"add", "mul", "pow", "relu", "tanh", "sigmoid", "exp", "log"} <= core.keys()
    assert {(r["distribution"], r["version"]) for r in core.values()} == {("microreg", microreg.__version__)}


def test_ops_table_has_a_row_per_op_with_arity_params_plugin_and_distribution(capsys):
    assert cli.main(["ops"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert list(rows) == sorted(registry.ops())
    for name, row in rows.items():
        want = expected_record(name)
        assert row["arity"] == str(want["arity"])
        assert row["plugin"] == want["plugin"]
        assert row["distribution"] == f"{want['distribution']} {want['version']}"
        assert [p.split("=")[0] for p in row["params"].split(", ") if p] == list(registry.get(name).params)
    assert rows["pow"]["params"] == "n"


def _twice(xp, x, *, k=2.0):
    return k * x


def _twice_vjp(xp, g, out, x, *, k=2.0):
    return (k * g,)


def test_an_op_registered_at_run_time_is_listed_without_a_distribution(register_op, capsys):
    register_op(Op("twice_cli", _twice, _twice_vjp))
    assert cli.main(["ops"]) == 0
    row = table_rows(capsys.readouterr().out)["twice_cli"]
    assert row == {"op": "twice_cli", "arity": "1", "params": "k=2.0", "plugin": "__test__", "distribution": "-"}
    (record,) = [r for r in run_json(capsys) if r["name"] == "twice_cli"]
    assert (record["plugin"], record["distribution"], record["version"], record["params"]) == ("__test__", None, None, {"k": 2.0})


@pytest.mark.parametrize("argv", [[], ["ops", "--bogus"], ["nosuchcommand"]])
def test_bad_command_lines_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "usage: microreg" in capsys.readouterr().err


def test_the_installed_console_script_prints_the_same_json():
    script = shutil.which("microreg", path=str(Path(sys.executable).parent))
    assert script, f"no microreg console script next to {sys.executable}: is the package installed?"
    out = subprocess.run([script, "ops", "--json"], capture_output=True, text=True, timeout=60, check=True).stdout
    records = json.loads(out)
    assert [r["name"] for r in records] == sorted(registry.ops())
    assert [{k: r[k] for k in ("name", "arity", "plugin", "distribution", "version")} for r in records] == [
        expected_record(r["name"]) for r in records]
