"""Tests of microreg.audit: every registered op proved, a catalogue of wrong vjps refuted, the CLI, strict loading.

The audit is tested against its own failure (HIPS autograd's habit): ``wrong_vjps.WRONG`` holds
deliberately wrong rules of realistic kinds, each of which must be refuted, and ``wrong_vjps.RIGHT``
the correct versions, which must be proved.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import types

import pytest
from wrong_vjps import RIGHT, WRONG

import microreg
from microreg import Op, PluginError, audit, cli, strict
from microreg.testing import assert_proved, ops_of

DOMAIN_TESTS = {"real": lambda v: True, "positive": lambda v: v > 0, "nonnegative": lambda v: v >= 0, "nonzero": lambda v: v != 0}


def tanh(xp, x):
    return xp.tanh(x)


def tanh_vjp(xp, g, out, x):
    return (g * (1 - out * out),)


# -- every registered op ---------------------------------------------------------------------------


def test_every_registered_op_is_proved(op):
    (record,) = audit.audit([op])
    assert record.verdict == "proved", record.report()
    assert {c.input for c in record.checks if c.kind == "symbolic" and c.verdict == "proved"} == set(op.inputs)


def test_every_registered_op_is_proved_at_order_two(op):
    (record,) = audit.audit([op], order=2)
    assert record.verdict == "proved", record.report()
    assert {c.input for c in record.checks if c.kind == "graph" and c.verdict == "passed"} == set(op.inputs)


def test_each_declared_kink_is_checked_with_its_value(kink_case):
    op, kink, _ = kink_case
    (record,) = audit.audit([op])
    at = ", ".join(f"{n}={v:g}" for n, v in zip(op.inputs, kink.at))
    checks = [c for c in record.checks if c.kind == "kink" and f"the kink {at} " in c.message]
    assert [c.input for c in checks] == list(op.inputs)
    assert all(c.verdict == "passed" for c in checks), record.report()


def test_relu_kink_convention_is_zero_at_zero():
    (record,) = audit.audit(["relu"])
    (kink,) = [c for c in record.checks if c.kind == "kink"]
    assert kink.verdict == "passed" and "x=0" in kink.message and "gives 0, as declared" in kink.message


def test_pow_is_proved_for_every_example_exponent():
    (record,) = audit.audit(["pow"])
    proved = [c.params["n"] for c in record.checks if c.kind == "symbolic" and c.verdict == "proved"]
    assert proved == [2, 3, -1, 0.5, 2.5]


def test_a_piecewise_rule_is_proved_region_by_region():
    (record,) = audit.audit(["sigmoid"])
    (check,) = [c for c in record.checks if c.kind == "symbolic"]
    assert check.verdict == "proved" and "x < 0" in check.message and "x > 0" in check.message


# -- the catalogue of wrong vjps -------------------------------------------------------------------


def test_the_catalogue_has_at_least_twenty_wrong_vjps_with_distinct_names():
    assert len(WRONG) >= 20
    assert len({op.name for _, op in WRONG}) == len(WRONG)


@pytest.mark.parametrize(("mistake", "wrong"), WRONG, ids=[op.name for _, op in WRONG])
def test_a_wrong_vjp_is_refuted_with_a_counterexample_inside_the_domain(mistake, wrong):
    record = audit.audit_op(wrong)
    assert record.verdict == "refuted", f"{mistake}: {record.report()}"
    refuted = [c for c in record.checks if c.verdict == "refuted"]
    for check in refuted:
        cex = check.counterexample
        assert not math.isclose(cex["expected"], cex["registered"], rel_tol=1e-6), check
        for name, domain in zip(wrong.inputs, wrong.domains):
            assert DOMAIN_TESTS[domain](cex["at"][name]), (name, domain, cex)


@pytest.mark.parametrize("right", RIGHT, ids=[op.name for op in RIGHT])
def test_the_correct_version_of_a_catalogue_op_is_proved(right):
    record = audit.audit_op(right)
    assert record.verdict == "proved", record.report()


def test_a_refutation_reports_the_point_the_values_and_both_expressions():
    op = dict((o.name, o) for _, o in WRONG)["tanh_missing_g"]
    (check,) = [c for c in audit.audit_op(op).checks if c.kind == "symbolic"]
    assert check.verdict == "refuted"
    assert check.expected == "g*(1 - tanh(x)**2)" and check.registered == "1 - tanh(x)**2"
    cex = check.counterexample
    x, g = cex["at"]["x"], cex["g"]
    assert cex["expected"] == pytest.approx(g * (1 - math.tanh(x) ** 2))
    assert cex["registered"] == pytest.approx(1 - math.tanh(x) ** 2)


def test_a_wrong_derivative_of_the_second_input_only_blames_that_input():
    op = dict((o.name, o) for _, o in WRONG)["div_sign_second"]
    record = audit.audit_op(op)
    assert record.input_verdicts() == {"x": "proved", "y": "refuted"}


def test_a_static_parameter_the_vjp_ignores_is_refuted_only_for_the_other_value():
    op = dict((o.name, o) for _, o in WRONG)["leaky_relu_default_slope"]
    symbolic = {c.params["slope"]: c.verdict for c in audit.audit_op(op).checks if c.kind == "symbolic"}
    assert symbolic == {0.01: "proved", 0.2: "refuted"}


# -- errors and inconclusive verdicts ----------------------------------------------------------------


def math_tanh(xp, x):
    return math.tanh(x)


def branching_relu(xp, x):
    if x > 0:
        return x
    return 0 * x


def branching_relu_vjp(xp, g, out, x):
    return (xp.where(x > 0, g, 0),)


def one_cotangent_vjp(xp, g, out, x, y):
    return (g * y,)


def mul(xp, x, y):
    return x * y


def test_an_op_calling_math_instead_of_xp_is_an_error_that_says_so():
    record = audit.audit_op(Op("math_tanh", math_tanh, tanh_vjp))
    assert record.verdict == "error"
    message = record.problems()[0].message
    assert "math_tanh" in message and "math" in message and "xp.tanh, not math.tanh" in message


def test_an_op_branching_with_if_is_an_error_pointing_to_xp_where():
    record = audit.audit_op(Op("branching_relu", branching_relu, branching_relu_vjp))
    assert record.verdict == "error"
    assert "xp.where" in record.problems()[0].message


def test_a_vjp_with_the_wrong_number_of_cotangents_is_an_error():
    record = audit.audit_op(Op("short_mul", mul, one_cotangent_vjp))
    assert record.verdict == "error"
    assert "expected a tuple of 2 cotangent(s)" in record.problems()[0].message


C_FULL = 0.7978845608028654
C_SHORT = 0.797884560803  # the same constant, rounded to 12 digits: right to 2e-13, not exactly


def scaled_tanh(xp, x):
    return xp.tanh(C_FULL * x)


def scaled_tanh_rounded_vjp(xp, g, out, x):
    return (g * C_SHORT * (1 - out * out),)


ROUNDED = Op("scaled_tanh_rounded", scaled_tanh, scaled_tanh_rounded_vjp)


def test_a_rule_right_only_up_to_rounding_is_inconclusive_never_proved_nor_refuted():
    record = audit.audit_op(ROUNDED)
    assert record.verdict == "inconclusive", record.report()


def sin(xp, x):
    return xp.sin(x)


def sin_vjp(xp, g, out, x):
    return (g * xp.cos(x),)


def test_order_two_is_an_error_when_the_engine_cannot_differentiate_the_vjp_again():
    op = Op("sine", sin, sin_vjp)
    assert audit.audit_op(op).verdict == "proved"
    record = audit.audit_op(op, order=2)
    assert record.verdict == "error"
    assert [c.kind for c in record.problems()] == ["graph"] and "create_graph=True" in record.problems()[0].message


def test_order_two_refutes_a_vjp_that_forgets_g_through_the_chain_rule():
    op = dict((o.name, o) for _, o in WRONG)["tanh_missing_g"]
    record = audit.audit_op(op, order=2)
    assert "refuted" in {c.verdict for c in record.checks if c.kind == "graph"}


def drifting_square(xp, x):
    if isinstance(x, float):  # a scalar fast path that drifted from the general code
        return 1.001 * x * x
    return x * x


def square_vjp(xp, g, out, x):
    return (2 * g * x,)


def test_a_backend_that_disagrees_with_the_symbolic_forward_is_refuted():
    record = audit.audit_op(Op("drifting_square", drifting_square, square_vjp))
    verdicts = {c.kind: c.verdict for c in record.checks if c.input is None}
    assert verdicts == {"scalar": "refuted", "array": "passed"}
    (scalar,) = [c for c in record.checks if c.kind == "scalar"]
    assert "forward" in scalar.message and scalar.counterexample["registered"] == pytest.approx(1.001 * scalar.counterexample["expected"])
    assert record.verdict == "refuted"


# -- results as data -------------------------------------------------------------------------------


def test_the_json_record_has_op_plugin_verdict_and_checks_per_input():
    (record,) = audit.audit(["div"])
    data = json.loads(json.dumps(record.to_json()))
    assert (data["op"], data["plugin"], data["verdict"]) == ("div", "microreg_ops", "proved")
    assert [i["input"] for i in data["inputs"]] == ["x", "y"]
    assert {c["kind"] for c in data["inputs"][1]["checks"]} == {"symbolic", "central-difference"}
    assert {c["kind"] for c in data["checks"]} == {"scalar", "array"}


def test_sympy_is_imported_only_when_an_audit_runs():
    code = textwrap.dedent("""
        import sys
        import microreg, microreg.audit, microreg.cli, microreg.testing
        microreg.Value(0.5).tanh().backward()
        before = 'sympy' in sys.modules
        microreg.audit.audit(['neg'])
        print(before, 'sympy' in sys.modules)
    """)
    env = {k: v for k, v in os.environ.items() if k != "MICROREG_STRICT"}  # strict loading would audit at once
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.split() == ["False", "True"]


# -- the command -----------------------------------------------------------------------------------


def test_cli_json_lists_one_object_per_op_and_exits_0(capsys):
    assert cli.main(["audit", "tanh", "relu", "--json"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert [(d["op"], d["plugin"], d["verdict"]) for d in data] == [("tanh", "microreg_ops", "proved"),
                                                                       ("relu", "microreg_ops", "proved")]
    assert "audit: tanh proved" in err and "2 op(s) audited" in err


def test_cli_table_shows_each_op_and_a_summary(capsys):
    assert cli.main(["audit", "exp", "log"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["op", "plugin", "verdict", "inputs", "kinks", "seconds"]
    assert "exp" in out and "x proved" in out
    assert out.strip().splitlines()[-1].startswith("2 op(s) audited in ") and "2 proved, 0 refuted" in out


def test_cli_exits_1_and_shows_the_counterexample_for_a_refuted_op(register_op, capsys):
    register_op(dict((o.name, o) for _, o in WRONG)["exp_factor_1001"])
    assert cli.main(["audit", "exp", "exp_factor_1001"]) == 1
    out = capsys.readouterr().out
    assert "refuted" in out and "counterexample: at x=" in out and "registered:" in out


def test_cli_exits_1_for_an_op_in_error(register_op, capsys):
    register_op(Op("math_tanh", math_tanh, tanh_vjp))
    assert cli.main(["audit", "math_tanh"]) == 1
    assert "math.tanh" in capsys.readouterr().out


def test_cli_strict_fails_on_inconclusive_and_plain_does_not(register_op, capsys):
    register_op(ROUNDED)
    assert cli.main(["audit", "scaled_tanh_rounded"]) == 0
    assert cli.main(["audit", "scaled_tanh_rounded", "--strict"]) == 1
    assert "inconclusive" in capsys.readouterr().out


def test_cli_unknown_op_exits_2_with_a_suggestion(capsys):
    assert cli.main(["audit", "tanh", "tahn"]) == 2
    captured = capsys.readouterr()
    assert "no op named 'tahn'" in captured.err and "did you mean tanh" in captured.err and captured.out == ""


def test_cli_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["audit", "--order", "3"])
    assert exc.value.code == 2


def test_cli_order_two_adds_second_derivative_checks(capsys):
    assert cli.main(["audit", "tanh", "--order", "2", "--json"]) == 0
    (data,) = json.loads(capsys.readouterr().out)
    kinds = {c["kind"] for c in data["inputs"][0]["checks"]}
    assert {"second-derivative", "graph"} <= kinds


# -- the pytest plugin -----------------------------------------------------------------------------


def test_assert_proved_passes_for_registered_names_and_op_records():
    assert_proved("tanh", "relu", RIGHT[0])


def test_assert_proved_fails_with_the_report():
    wrong = dict((o.name, o) for _, o in WRONG)["sigmoid_missing_factor"]
    with pytest.raises(AssertionError, match=r"does not prove sigmoid_missing_factor \(refuted\)(.|\n)*counterexample"):
        assert_proved("tanh", wrong)


def test_assert_proved_with_nothing_to_audit_refuses_to_pass():
    with pytest.raises(TypeError, match="at least one op"):
        assert_proved()


def test_ops_of_lists_a_plugins_ops_for_parametrize():
    assert ops_of("microreg_ops") == sorted(microreg.registry.plugins["microreg_ops"].ops)
    with pytest.raises(LookupError, match="no plugin named 'nope'"):
        ops_of("nope")


# -- strict loading: refuse_unproved and its cache -------------------------------------------------


@pytest.fixture
def cache(monkeypatch, tmp_path):
    monkeypatch.setenv(strict.ENV_CACHE, str(tmp_path))
    return tmp_path / "audit"


def test_refuse_unproved_accepts_proved_ops_and_caches_them(cache):
    strict.refuse_unproved(RIGHT[:3], "mine")
    assert len(list(cache.glob("*.json"))) == 3
    record = json.loads(next(cache.glob("*.json")).read_text())
    assert record["verdict"] == "proved" and record["plugin"] == "mine"


def test_refuse_unproved_does_not_audit_a_cached_op_again(cache, monkeypatch):
    strict.refuse_unproved(RIGHT[:2], "mine")

    def no_audit(*args, **kwargs):
        raise AssertionError("audited again despite the cache")

    monkeypatch.setattr(audit, "audit_op", no_audit)
    strict.refuse_unproved(RIGHT[:2], "mine")


def test_refuse_unproved_names_plugin_op_and_verdict_and_caches_nothing_for_it(cache):
    wrong = dict((o.name, o) for _, o in WRONG)["log_sign_flipped"]
    with pytest.raises(PluginError, match=r"plugin 'mine': op 'log_sign_flipped' is refuted by the audit"):
        strict.refuse_unproved([RIGHT[0], wrong], "mine")
    assert len(list(cache.glob("*.json"))) == 1


def test_refuse_unproved_refuses_an_inconclusive_op(cache):
    with pytest.raises(PluginError, match="op 'scaled_tanh_rounded' is inconclusive"):
        strict.refuse_unproved([ROUNDED], "mine")


def silu(xp, x):
    return x * xp.halfsig(x)


def silu_vjp(xp, g, out, x):
    s = xp.halfsig(x)
    return (g * (s + x * s * (1 - s)),)


def halfsig(xp, x):
    return 1 / (1 + xp.exp(-x))


def halfsig_vjp(xp, g, out, x):
    return (g * out * (1 - out),)


def test_refuse_unproved_sees_a_sibling_op_of_the_same_plugin_before_it_is_registered(cache):
    strict.refuse_unproved([Op("silu_", silu, silu_vjp), Op("halfsig", halfsig, halfsig_vjp)], "mine")


def test_the_fingerprint_is_stable_and_changes_with_the_vjp():
    base = Op("t", tanh, tanh_vjp)
    assert strict.fingerprint(base) == strict.fingerprint(Op("t", tanh, tanh_vjp))
    other = dict((o.name, o) for _, o in WRONG)["tanh_sign_flipped"]
    assert strict.fingerprint(base) != strict.fingerprint(Op("t", tanh, other.vjp))


def test_an_edited_op_is_audited_again_despite_the_cache(cache):
    strict.refuse_unproved([Op("t", tanh, tanh_vjp)], "mine")
    edited = dict((o.name, o) for _, o in WRONG)["tanh_sign_flipped"].vjp
    with pytest.raises(PluginError, match="op 't' is refuted"):
        strict.refuse_unproved([Op("t", tanh, edited)], "mine")


def test_the_fingerprint_is_the_same_in_another_process_with_another_hash_seed():
    code = "import microreg; from microreg import strict; print(strict.fingerprint(microreg.registry.get('sigmoid')))"
    prints = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert prints == {strict.fingerprint(microreg.registry.get("sigmoid")) + "\n"}


def helper_module(factor: str) -> types.SimpleNamespace:
    """A vjp calling a module-level helper, with the helper's body varied: as if its file were edited."""
    namespace: dict = {}
    exec(textwrap.dedent(f"""
        def slope(out):
            return {factor} * (1 - out * out)

        def vjp(xp, g, out, x):
            return (g * slope(out),)
    """), namespace)
    return types.SimpleNamespace(**namespace)


def test_the_fingerprint_changes_when_a_helper_the_vjp_calls_changes():
    a, b = helper_module("1"), helper_module("2")
    assert strict.fingerprint(Op("t", tanh, a.vjp)) != strict.fingerprint(Op("t", tanh, b.vjp))


def test_the_fingerprint_changes_when_an_op_called_through_xp_changes():
    op = Op("silu_", silu, silu_vjp)
    one = types.SimpleNamespace(find={"halfsig": Op("halfsig", halfsig, halfsig_vjp)}.get)
    two = types.SimpleNamespace(find={"halfsig": Op("halfsig", halfsig, tanh_vjp)}.get)
    assert strict.fingerprint(op, one) != strict.fingerprint(op, two)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG cache folder is the Linux convention")
def test_the_cache_folder_defaults_to_the_platform_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(strict.ENV_CACHE, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert strict.cache_dir() == tmp_path / "microreg"


# -- strict loading, end to end in fresh processes -------------------------------------------------

BAD_PLUGIN = '''
from microreg import Op, hookimpl

def cube(xp, x):
    return x * x * x

def cube_vjp(xp, g, out, x):
    return (2 * g * x * x,)

@hookimpl
def microreg_ops():
    return [Op("cube", cube, cube_vjp)]
'''


@pytest.fixture(scope="module")
def strict_cache(tmp_path_factory):
    """One cache folder for the strict-load tests, so that the core ops are audited once for all of them."""
    return tmp_path_factory.mktemp("strict-cache")


def strict_run(cache: os.PathLike, code: str, pythonpath: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "MICROREG_STRICT": "1", strict.ENV_CACHE: str(cache), "MICROREG_DISABLE_PLUGIN_AUTOLOAD": ""}
    env["MICROREG_BLOCK_PLUGINS"] = "activations"  # the core ops suffice here, and each extra plugin costs an audit
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


USE_ENGINE = "import sys, microreg; y = microreg.Value(0.5).tanh(); y.backward(); print('sympy' in sys.modules)"


def test_a_cached_strict_load_imports_no_sympy(strict_cache):
    first = strict_run(strict_cache, USE_ENGINE)
    assert first.returncode == 0, first.stderr
    cached = len(list((strict_cache / "audit").glob("*.json")))
    assert cached >= len(ops_of("microreg_ops"))
    second = strict_run(strict_cache, USE_ENGINE)
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["False"]
    assert len(list((strict_cache / "audit").glob("*.json"))) == cached


def test_a_strict_load_refuses_a_plugin_with_a_wrong_vjp(strict_cache, tmp_path):
    (tmp_path / "bad_cube.py").write_text(BAD_PLUGIN)
    info = tmp_path / "bad_cube-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bad-cube\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[microreg]\nbad_cube = bad_cube\n")
    run = strict_run(strict_cache, USE_ENGINE, pythonpath=str(tmp_path))
    assert run.returncode != 0
    assert "PluginError" in run.stderr
    assert "plugin 'bad_cube': op 'cube' is refuted by the audit" in run.stderr
    command = strict_run(strict_cache, "import sys; from microreg import cli; sys.exit(cli.main(['audit', 'tanh']))",
                         pythonpath=str(tmp_path))
    assert command.returncode == 1
    assert command.stderr.startswith("microreg audit: plugin 'bad_cube' failed to load") and "Traceback" not in command.stderr
