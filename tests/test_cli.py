"""Tests of microreg.cli: every subcommand's output, exit codes and usage errors (`microreg demo` in test_demo.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from fakes import TWICE, fresh, module, raising_hook, returning, twice, twice_vjp
from wrong_vjps import EXPLOSIVE, MATH_TANH, UNPROVABLE, UNSTABLE, by_name

import microreg
import microreg.audit.model
import microreg.audit.run
from microreg import Op, cli, registry
from microreg.audit import search
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
        op = registry.get(name)
        assert row["arity"] == (f"{len(op.inputs)}+" if op.variadic else str(op.arity))
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


def test_an_unknown_option_before_the_command_is_named(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--bogus"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.endswith("microreg: error: unrecognized arguments: --bogus\n")


def test_no_command_is_a_usage_error_naming_the_commands(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2
    assert capsys.readouterr().err.endswith(f"microreg: error: a command is required: {', '.join(subcommands())}\n")


@pytest.mark.parametrize("argv, what", [(["audit", "--budget", "-1"], "--budget: must be a number of seconds, 0 or more, got -1"),
                                        (["audit", "--budget", "nan"], "--budget: must be a number of seconds, 0 or more, got nan"),
                                        (["audit", "--workers", "-2"], "--workers: must be a number of processes, 0 or more, got -2"),
                                        (["demo", "--epochs", "x"], "--epochs: must be a positive number of epochs, got x")])
def test_a_negative_or_malformed_number_is_a_usage_error(argv, what, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2 and f"error: argument {what}" in capsys.readouterr().err


def test_ops_shows_a_variadic_ops_arity_as_its_fewest_inputs_and_more(capsys):
    assert cli.main(["ops"]) == 0
    assert table_rows(capsys.readouterr().out)["dot"]["arity"] == "1+"


def subcommands() -> list[str]:
    """The subcommands, as `microreg --help` lists them."""
    return re.search(r"\{([\w,-]+)\}", cli.build_parser().format_usage()).group(1).split(",")


def test_version_prints_microregs_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out == f"microreg {microreg.__version__}\n"


def test_python_dash_m_microreg_runs_the_command():
    done = subprocess.run([sys.executable, "-m", "microreg", "--version"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, f"microreg {microreg.__version__}\n")


@pytest.mark.parametrize("command", subcommands())
def test_a_bad_flag_shows_the_subcommands_own_usage(command, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--oder", "2"])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.startswith(f"usage: microreg {command} ") and f"microreg {command}: error: unrecognized arguments: --oder" in err


@pytest.mark.parametrize("command", subcommands())
def test_help_sends_nobody_to_a_file_of_the_repository(command, capsys):
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    out = capsys.readouterr().out
    assert not re.search(r"\b(docs|examples|notebooks|benchmarks)/", out), out


@pytest.mark.parametrize("command", subcommands())
def test_each_subcommands_help_describes_it(command, capsys):
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    usage, description, *_ = capsys.readouterr().out.split("\n\n")
    assert not description.startswith(("positional arguments:", "options:")), description


def test_the_audit_help_points_to_documentation_that_comes_with_the_package(capsys):
    with pytest.raises(SystemExit):
        cli.main(["audit", "--help"])
    assert "pydoc microreg.audit" in capsys.readouterr().out
    from microreg import audit

    assert all(word in audit.__doc__ for word in ("symbolic", "central differences", "Kink", "order 2"))


def test_the_installed_console_script_prints_the_same_json():
    script = shutil.which("microreg", path=str(Path(sys.executable).parent))
    assert script, f"no microreg console script next to {sys.executable}: is the package installed?"
    out = subprocess.run([script, "ops", "--json"], capture_output=True, text=True, timeout=60, check=True).stdout
    records = json.loads(out)
    assert [r["name"] for r in records] == sorted(registry.ops())
    assert [{k: r[k] for k in ("name", "arity", "plugin", "distribution", "version")} for r in records] == [
        expected_record(r["name"]) for r in records]


# -- microreg audit -----------------------------------------------------------------------------------


def test_cli_json_lists_one_object_per_op_and_exits_0(capsys):
    assert cli.main(["audit", "tanh", "relu", "--json"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert [(d["op"], d["plugin"], d["verdict"]) for d in data] == [("tanh", "microreg_ops", "proved"),
                                                                       ("relu", "microreg_ops", "proved")]
    assert "audit: tanh proved" in err and "2 op(s) audited" in err


def test_cli_table_shows_each_op_its_accuracy_and_a_summary(capsys):
    assert cli.main(["audit", "exp", "log"]) == 0
    out = capsys.readouterr().out
    assert re.split(r"\s{2,}", out.splitlines()[0]) == ["op", "plugin", "verdict", "accuracy", "worst ulps", "inputs", "kinks", "seconds"]
    rows = table_rows(out.split("\n\n")[0])
    assert (rows["exp"]["verdict"], rows["exp"]["accuracy"], rows["exp"]["inputs"]) == ("proved", "accurate", "x proved")
    assert float(rows["log"]["worst ulps"]) <= 16
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("2 op(s) audited in ") and "2 proved, 0 refuted" in summary and "2 accurate, 0 inaccurate" in summary


def test_cli_exits_1_for_an_inaccurate_op_even_when_it_is_proved(register_op, capsys):
    _, unstable = UNSTABLE[0]
    register_op(unstable)
    assert cli.main(["audit", unstable.name]) == 1
    out = capsys.readouterr().out
    assert table_rows(out.split("\n\n")[0])[unstable.name]["accuracy"] == "inaccurate"
    assert "worst: the " in out and "1 proved" in out and "1 inaccurate" in out


def test_cli_thorough_searches_with_the_thorough_effort(register_op, capsys, monkeypatch):
    monkeypatch.setattr(search, "DEFAULT", search.Effort(0, 0, 0, 0, 0))  # no search at the defaults: the grid misses it
    narrow = by_name("softsign_squared")
    register_op(narrow)
    assert cli.main(["audit", narrow.name]) == 0
    assert cli.main(["audit", narrow.name, "--thorough"]) == 1
    out = capsys.readouterr().out
    assert "(found by bisection on a boundary" in out or "(found by local search" in out
    assert "`(1 + abs(x)) * (1 + abs(x))` in the vjp overflows" in out


def test_cli_json_has_the_accuracy_with_its_worst_point(register_op, capsys):
    _, unstable = UNSTABLE[0]
    register_op(unstable)
    assert cli.main(["audit", unstable.name, "--format", "json"]) == 1
    (data,) = json.loads(capsys.readouterr().out)
    assert data["accuracy"]["verdict"] == "inaccurate" and data["accuracy"]["worst"]["excess"] > 16


def test_cli_exits_1_and_shows_the_counterexample_for_a_refuted_op(register_op, capsys):
    register_op(by_name("exp_factor_1001"))
    assert cli.main(["audit", "exp", "exp_factor_1001"]) == 1
    out = capsys.readouterr().out
    assert "refuted" in out and "counterexample: at x=" in out and "registered:" in out


def test_cli_exits_1_for_an_op_in_error(register_op, capsys):
    register_op(MATH_TANH)
    assert cli.main(["audit", "math_tanh"]) == 1
    assert "math.tanh" in capsys.readouterr().out


def test_cli_strict_fails_on_inconclusive_and_plain_does_not(register_op, capsys, monkeypatch):
    register_op(UNPROVABLE)
    monkeypatch.delenv("MICROREG_STRICT", raising=False)
    assert cli.main(["audit", "root_scale"]) == 0
    assert cli.main(["audit", "root_scale", "--strict"]) == 1
    assert "inconclusive" in capsys.readouterr().out
    monkeypatch.setenv("MICROREG_STRICT", "1")  # one meaning of strict: the environment's implies --strict
    assert cli.main(["audit", "root_scale"]) == 1


def test_cli_budget_limits_each_op_and_says_what_timed_out(register_op, capsys):
    register_op(EXPLOSIVE)
    assert cli.main(["audit", EXPLOSIVE.name, "--budget", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "inconclusive" in out and "timed out after 0.5 s" in out
    assert cli.main(["audit", EXPLOSIVE.name, "--budget", "0.5", "--strict"]) == 1


def test_cli_github_format_annotates_each_problem_on_its_vjp_line(register_op, capsys, monkeypatch):
    monkeypatch.chdir(Path(__file__).parent)
    wrong = by_name("exp_factor_1001")
    register_op(wrong, UNPROVABLE)
    assert cli.main(["audit", "exp", wrong.name, "root_scale", "--format", "github"]) == 1
    lines = capsys.readouterr().out.splitlines()
    error, warning, notice = lines
    line = wrong.vjp.__code__.co_firstlineno
    assert error.startswith(f"::error file=wrong_vjps.py,line={line},title=microreg audit%3A exp_factor_1001 refuted%2C ")
    assert "::exp_factor_1001 [symbolic, x] refuted" in error and "%0A    counterexample: at x=" in error and "\n" not in error
    assert warning.startswith("::warning file=wrong_vjps.py,") and "root_scale" in warning
    assert notice.startswith("::notice title=microreg audit::3 op(s) audited in ")


def test_cli_junit_format_is_one_test_case_per_op(register_op, capsys):
    from xml.etree import ElementTree

    wrong = by_name("exp_factor_1001")
    register_op(wrong, UNPROVABLE, MATH_TANH)
    assert cli.main(["audit", "exp", wrong.name, "root_scale", "math_tanh", "--format", "junit"]) == 1
    suite = ElementTree.fromstring(capsys.readouterr().out).find("testsuite")
    counts = {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")}
    assert counts == {"tests": "4", "failures": "1", "errors": "1", "skipped": "1"}
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases["exp"].find("failure") is None and cases["exp"].get("classname") == "microreg.audit.microreg_ops"
    assert "counterexample" in cases[wrong.name].find("failure").text
    assert cases["math_tanh"].find("error").get("type") == "error"
    assert cases["root_scale"].find("skipped").get("message").startswith("inconclusive: ")


def test_cli_unknown_op_exits_2_with_a_suggestion(capsys):
    assert cli.main(["audit", "tanh", "tahn"]) == 2
    captured = capsys.readouterr()
    assert "no op named 'tahn'" in captured.err and "did you mean tan, tanh" in captured.err and captured.out == ""


def test_cli_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["audit", "--order", "3"])
    assert exc.value.code == 2


def test_cli_order_two_adds_second_derivative_checks(capsys):
    assert cli.main(["audit", "tanh", "--order", "2", "--json"]) == 0
    (data,) = json.loads(capsys.readouterr().out)
    kinds = {c["kind"] for c in data["inputs"][0]["checks"]}
    assert {"second-derivative", "graph"} <= kinds


# -- microreg audit with a plugin that failed to load ---------------------------------------------------------


@pytest.fixture
def broken(install, monkeypatch):
    """A fake environment: a core of one op (neg), a plugin whose hook raises, one offering 'twice' and a name Value holds."""
    install("microreg_ops", module("fake_core", returning(registry.get("neg"))), dist="microreg")
    install("broken", module("fake_mod", raising_hook), dist="fake-broken", version="0.9")
    install("clashing", module("fake_clash", returning(TWICE, Op("backward", twice, twice_vjp))), dist="fake-clash", version="2.0")
    reg = fresh()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg.load()
    monkeypatch.setattr(cli, "registry", reg)
    for part in (microreg.audit.model, microreg.audit.run):  # the records' plugins, and which ops there are
        monkeypatch.setattr(part, "registry", reg)
    return reg


def test_audit_exits_1_with_an_error_row_naming_each_plugin_that_failed_to_load(broken, capsys):
    assert cli.main(["audit"]) == 1
    out = capsys.readouterr().out
    rows = table_rows(out.split("\n\n")[0])
    assert rows["neg"]["verdict"] == "proved"
    assert (rows["-"]["plugin"], rows["-"]["verdict"]) == ("broken 0.9", "error")
    assert (rows["twice, backward"]["plugin"], rows["twice, backward"]["verdict"]) == ("clashing 2.0", "error")
    assert "plugin 'broken' failed to load: ValueError: config file missing" in out
    assert "1 op(s) audited" in out and "2 plugin(s) failed to load" in out
    assert cli.main(["audit", "--format", "json"]) == 1
    failed = {r["plugin"]: r for r in json.loads(capsys.readouterr().out) if r["verdict"] == "error"}
    assert failed["broken"]["checks"][0]["message"] == "plugin 'broken' failed to load: ValueError: config file missing"


def test_audit_of_an_op_whose_plugin_failed_names_the_plugin_and_why(broken, capsys):
    assert cli.main(["audit", "twice"]) == 1
    captured = capsys.readouterr()
    assert ("op 'twice' is not registered: plugin 'clashing', which offers it, failed to load: "
            "plugin 'clashing': op name 'backward' would shadow") in captured.err
    assert "clashing 2.0" in captured.out and "error" in captured.out


def test_audit_of_a_name_no_plugin_offers_still_fails_while_a_plugin_is_broken(broken, capsys):
    assert cli.main(["audit", "nosuch"]) == 1  # 'broken' failed before it said which ops it offers
    assert "no op named 'nosuch'" in capsys.readouterr().err


@pytest.fixture
def refused(install, monkeypatch, audit_stub):
    """Strict mode, a core of one op (neg) and a plugin the audit refuses (it offers 'twice'), not loaded yet."""
    install("microreg_ops", module("fake_core", returning(registry.get("neg"))), dist="microreg")
    install("doubling", module("fake_doubling", returning(TWICE)), dist="fake-doubling", version="2.3")
    reg = fresh()
    monkeypatch.setattr(cli, "registry", reg)
    for part in (microreg.audit.model, microreg.audit.run):
        monkeypatch.setattr(part, "registry", reg)
    return reg


def test_strict_audit_writes_a_refused_plugin_as_an_error_in_the_table(refused, capsys):
    assert cli.main(["audit", "--workers", "0"]) == 1
    captured = capsys.readouterr()
    rows = table_rows(captured.out.split("\n\n")[0])
    assert rows["neg"]["verdict"] == "proved"
    assert (rows["twice"]["plugin"], rows["twice"]["verdict"]) == ("doubling 2.3", "error")
    assert "1 plugin(s) failed to load" in captured.out
    assert "microreg: plugin 'doubling'" in captured.err


def test_strict_audit_writes_a_refused_plugin_as_an_error_in_json(refused, capsys):
    assert cli.main(["audit", "--workers", "0", "--format", "json"]) == 1
    records = {r["plugin"]: r for r in json.loads(capsys.readouterr().out)}
    assert records["microreg_ops"]["verdict"] == "proved"
    assert records["doubling"]["verdict"] == "error" and "refuted by the audit" in records["doubling"]["checks"][0]["message"]


def test_strict_audit_writes_a_refused_plugin_as_an_error_annotation(refused, capsys):
    assert cli.main(["audit", "--workers", "0", "--format", "github"]) == 1
    error, notice = capsys.readouterr().out.splitlines()
    assert error.startswith("::error title=microreg audit%3A twice error::") and "plugin 'doubling' failed to load" in error
    assert notice.startswith("::notice title=microreg audit::1 op(s) audited in ")


def test_strict_audit_writes_a_refused_plugin_as_a_junit_error(refused, capsys):
    from xml.etree import ElementTree

    assert cli.main(["audit", "--workers", "0", "--format", "junit"]) == 1
    suite = ElementTree.fromstring(capsys.readouterr().out).find("testsuite")
    assert {k: suite.get(k) for k in ("tests", "failures", "errors")} == {"tests": "2", "failures": "0", "errors": "1"}
    cases = {case.get("classname"): case for case in suite.iter("testcase")}
    assert cases["microreg.audit.microreg_ops"].find("error") is None
    assert "plugin 'doubling' failed to load" in cases["microreg.audit.doubling"].find("error").text


def test_ops_of_a_plugin_that_failed_to_load_says_why(broken, monkeypatch):
    from microreg import testing

    monkeypatch.setattr(testing, "registry", broken)
    with pytest.raises(LookupError, match="plugin 'broken' failed to load: ValueError: config file missing"):
        testing.ops_of("broken")


# -- microreg plugins ------------------------------------------------------------------------------
def test_microreg_plugins_lists_distribution_version_ops_and_failures(install, monkeypatch, capsys):
    install("doubling", module("fake_doubling", returning(TWICE)), dist="fake-doubling", version="2.3")
    install("broken", module("fake_mod", raising_hook), dist="fake-broken", version="0.9")
    reg = fresh()
    monkeypatch.setattr(cli, "registry", reg)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the table shows the failure; a warning would repeat it
        assert cli.main(["plugins"]) == 1
    rows = {line.split()[0]: line.split(None, 3)[1:] for line in capsys.readouterr().out.splitlines()[2:]}
    assert rows["doubling"] == ["fake-doubling", "2.3", "twice"]
    assert rows["broken"] == ["fake-broken", "0.9", "FAILED: ValueError: config file missing"]
    assert rows["microreg_ops"][2].startswith("add, sub, mul")
    assert cli.main(["plugins", "--json"]) == 1
    records = {r["plugin"]: r for r in json.loads(capsys.readouterr().out)}
    assert records["broken"] == {"plugin": "broken", "distribution": "fake-broken", "version": "0.9", "ops": [],
                                 "error": "ValueError: config file missing"}


@pytest.mark.parametrize("columns", [80, 120])
def test_microreg_plugins_table_fits_the_terminal_and_wraps_the_ops(columns, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", str(columns))
    assert cli.main(["plugins"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= columns
    start = lines[0].index("ops")
    listed = " ".join(line[start:] for line in lines[2:]).replace(",", " ").split()
    assert sorted(listed) == sorted(registry.ops())


def test_microreg_plugins_in_strict_mode_reports_the_failure_without_a_traceback(install, monkeypatch, capsys, audit_stub):
    install("broken", module("fake_mod", raising_hook))
    monkeypatch.setattr(cli, "registry", fresh())
    assert cli.main(["plugins"]) == 1
    assert "plugin 'broken' failed to load: ValueError: config file missing" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["ops"], ["ops", "--json"]])
def test_microreg_ops_in_strict_mode_reports_a_broken_plugin_in_one_line(command, install, monkeypatch, capsys, audit_stub):
    install("broken", module("fake_mod", raising_hook))
    monkeypatch.setattr(cli, "registry", fresh())
    assert cli.main(command) == 1
    err = capsys.readouterr().err
    assert err == "microreg: plugin 'broken' failed to load: ValueError: config file missing\n"


def test_microreg_plugins_with_only_good_plugins_exits_0(install, monkeypatch, capsys):
    install("doubling", module("fake_doubling", returning(TWICE)))
    monkeypatch.setattr(cli, "registry", fresh())
    assert cli.main(["plugins"]) == 0
    assert "doubling" in capsys.readouterr().out


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_export_prints_how_to_use_the_op_in_the_framework(framework, capsys):
    from microreg import export

    assert cli.main(["export", "leaky_relu", "--to", framework]) == 0
    out = capsys.readouterr().out
    assert out == export.usage("leaky_relu", framework) + "\n"
    assert f'leaky_relu = export.{framework}("leaky_relu")' in out and "negative_slope=0.01" in out


def test_export_of_an_unknown_op_exits_2_with_a_suggestion(capsys):
    assert cli.main(["export", "gleu", "--to", "jax"]) == 2
    assert "no op named 'gleu' is registered; did you mean gelu" in capsys.readouterr().err


def test_export_of_a_name_like_no_op_suggests_nothing(capsys):
    assert cli.main(["export", "nosuch", "--to", "jax"]) == 2
    err = capsys.readouterr().err
    assert "no op named 'nosuch' is registered" in err and "did you mean" not in err  # difflib's 0.6 offered cosh


# -- audit --project DIR: the ops of the plugins a source tree declares (the pre-commit hook) -------------


def test_audit_project_audits_the_ops_of_the_plugins_its_pyproject_declares(capsys):
    example = Path(__file__).resolve().parents[1] / "plugins_example"
    assert cli.main(["audit", "--project", str(example), "--format", "json"]) == 0
    assert sorted(r["op"] for r in json.loads(capsys.readouterr().out)) == sorted(registry.plugins["activations"].ops)


@pytest.mark.parametrize(("pyproject", "says"), [
    (None, "cannot read {path}"),
    ("[project]\nname = 'x'\n", "{path} declares no plugin: it has no [project.entry-points.microreg] table"),
])
def test_audit_project_without_a_plugin_to_audit_is_a_usage_error(tmp_path, capsys, pyproject, says):
    if pyproject is not None:
        (tmp_path / "pyproject.toml").write_text(pyproject)
    assert cli.main(["audit", "--project", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("microreg audit: " + says.format(path=tmp_path / "pyproject.toml"))
