"""Tests of microreg.strict: the gate that audits ops before they register, its on-disk cache and the fingerprint."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest
from wrong_vjps import RIGHT, UNPROVABLE, UNSTABLE, by_name, stable_sigmoid, stable_sigmoid_vjp, tanh, tanh_stable_vjp, tanh_vjp

import microreg
from microreg import Accuracy, Op, PluginError, audit, strict
from microreg.testing import ops_of

# -- refuse_unproved and its cache -------------------------------------------------


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
    wrong = by_name("log_sign_flipped")
    with pytest.raises(PluginError, match=r"plugin 'mine': op 'log_sign_flipped' is refuted by the audit"):
        strict.refuse_unproved([RIGHT[0], wrong], "mine")
    assert len(list(cache.glob("*.json"))) == 1


def test_refuse_unproved_refuses_an_inconclusive_op(cache):
    with pytest.raises(PluginError, match="op 'root_scale' is inconclusive"):
        strict.refuse_unproved([UNPROVABLE], "mine")


def test_refuse_unproved_refuses_a_proved_op_that_is_inaccurate_in_float64(cache):
    _, unstable = UNSTABLE[0]
    with pytest.raises(PluginError, match=rf"op '{unstable.name}' is proved by the audit \(float64 accuracy: inaccurate\)"):
        strict.refuse_unproved([unstable], "mine")
    assert not list(cache.glob("*.json"))


def silu(xp, x):
    return x * xp.halfsig(x)


def silu_vjp(xp, g, out, x):
    return (g * (xp.halfsig(x) + x * xp.halfsig(x) * xp.halfsig(-x)),)


def test_refuse_unproved_sees_a_sibling_op_of_the_same_plugin_before_it_is_registered(cache):
    strict.refuse_unproved([Op("silu_", silu, silu_vjp), Op("halfsig", stable_sigmoid, stable_sigmoid_vjp)], "mine")
    assert sorted(json.loads(p.read_text())["op"] for p in cache.glob("*.json")) == ["halfsig", "silu_"]


def test_a_cache_entry_holds_the_fingerprint_it_is_filed_under_and_the_verdict(cache):
    strict.refuse_unproved([RIGHT[0]], "mine")
    (path,) = cache.glob("*.json")
    entry = json.loads(path.read_text())
    assert (entry["fingerprint"], entry["strict"]) == (path.stem, "accepted")


def key_of(op: Op) -> str:
    """The name refuse_unproved files op's entry under, when op is offered alone."""
    return strict.fingerprint(op, strict._Batch([op]))


NOT_A_VERDICT = {
    "an empty file": lambda key, accepted: "",
    "not JSON": lambda key, accepted: "proved",
    "a JSON list": lambda key, accepted: json.dumps([key, "accepted"]),
    "an audit record without the key or the verdict (an older microreg's)": lambda key, accepted: json.dumps(
        {k: v for k, v in accepted.items() if k not in ("fingerprint", "strict")}),
    "no verdict": lambda key, accepted: json.dumps({**accepted, "fingerprint": key, "strict": None}),
    "another op's entry under this name": lambda key, accepted: json.dumps(accepted),
}


@pytest.mark.parametrize("entry", NOT_A_VERDICT)
def test_a_cache_entry_that_is_not_strict_modes_verdict_for_this_key_is_audited_again(entry, cache):
    strict.refuse_unproved([RIGHT[0]], "mine")
    (path,) = cache.glob("*.json")
    wrong = by_name("log_sign_flipped")
    (cache / f"{key_of(wrong)}.json").write_text(NOT_A_VERDICT[entry](key_of(wrong), json.loads(path.read_text())))
    with pytest.raises(PluginError, match="op 'log_sign_flipped' is refuted"):
        strict.refuse_unproved([wrong], "mine")


def test_the_fingerprint_is_stable_and_changes_with_the_vjp():
    base = Op("t", tanh, tanh_vjp)
    assert strict.fingerprint(base) == strict.fingerprint(Op("t", tanh, tanh_vjp))
    other = by_name("tanh_sign_flipped")
    assert strict.fingerprint(base) != strict.fingerprint(Op("t", tanh, other.vjp))


def test_an_edited_op_is_audited_again_despite_the_cache(cache):
    strict.refuse_unproved([Op("t", tanh, tanh_stable_vjp)], "mine")
    edited = by_name("tanh_sign_flipped").vjp
    with pytest.raises(PluginError, match="op 't' is refuted"):
        strict.refuse_unproved([Op("t", tanh, edited)], "mine")


def test_an_op_accepted_under_a_declared_bound_is_audited_again_without_it(cache):
    _, unstable = UNSTABLE[0]
    loose = Op(unstable.name, unstable.forward, unstable.vjp, accuracy=Accuracy(1e300, "loose on purpose"))
    assert strict.fingerprint(loose) != strict.fingerprint(unstable)
    strict.refuse_unproved([loose], "mine")
    with pytest.raises(PluginError, match=rf"op '{unstable.name}' is proved by the audit \(float64 accuracy: inaccurate\)"):
        strict.refuse_unproved([unstable], "mine")


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
    one = types.SimpleNamespace(find={"halfsig": Op("halfsig", stable_sigmoid, stable_sigmoid_vjp)}.get)
    two = types.SimpleNamespace(find={"halfsig": Op("halfsig", stable_sigmoid, tanh_vjp)}.get)
    assert strict.fingerprint(op, one) != strict.fingerprint(op, two)


SECH2 = """
def sech2(xp, x):  # tanh' in a form that keeps float64's precision for large |x|
    e = xp.exp(-xp.abs(x))
    s = 2 * e / (1 + e * e)
    return {factor} * s * s
"""


def define_sech2(H: Any, factor: str) -> None:
    """(Re)define H.sech2, with its body varied: as if the file of the module, or of the class, H were edited."""
    namespace: dict = {}
    exec(SECH2.format(factor=factor), namespace)
    H.sech2 = namespace["sech2"] if isinstance(H, types.ModuleType) else staticmethod(namespace["sech2"])


def vjp_calling(H: Any) -> Any:
    """A vjp in its own module that calls H.sech2, its module attribute: as `from . import helpers as H` would."""
    namespace: dict = {"H": H}
    exec("def vjp(xp, g, out, x):\n    return (g * H.sech2(xp, x),)", namespace)
    return namespace["vjp"]


@pytest.mark.parametrize("H", [types.ModuleType("helpers"), type("Helpers", (), {})], ids=["module", "class"])
def test_an_edited_helper_reached_through_a_module_attribute_is_audited_again(cache, H):
    define_sech2(H, "1")
    vjp = vjp_calling(H)
    strict.refuse_unproved([Op("t", tanh, vjp)], "mine")
    define_sech2(H, "2")
    with pytest.raises(PluginError, match="op 't' is refuted"):
        strict.refuse_unproved([Op("t", tanh, vjp)], "mine")


SCALE = {"tanh": (1.0, 1.0)}


def scaled_tanh_vjp(xp, g, out, x):
    outer, inner = SCALE["tanh"]
    return tanh_stable_vjp(xp, outer * g, out, inner * x)


def test_an_edited_dict_of_constants_the_vjp_reads_is_audited_again(cache, monkeypatch):
    strict.refuse_unproved([Op("t", tanh, scaled_tanh_vjp)], "mine")
    monkeypatch.setitem(SCALE, "tanh", (2.0, 1.0))
    with pytest.raises(PluginError, match="op 't' is refuted"):
        strict.refuse_unproved([Op("t", tanh, scaled_tanh_vjp)], "mine")


def test_the_fingerprint_changes_when_a_helper_in_a_dict_the_vjp_reads_changes():
    def vjp_through(helpers: dict) -> Any:
        namespace: dict = {"SLOPES": {"tanh": helpers}}
        exec("def vjp(xp, g, out, x):\n    return (g * SLOPES['tanh']['slope'](out),)", namespace)
        return namespace["vjp"]

    one, two = (vjp_through({"slope": helper_module(factor).slope}) for factor in ("1", "2"))
    assert strict.fingerprint(Op("t", tanh, one)) != strict.fingerprint(Op("t", tanh, two))


def test_the_fingerprint_changes_with_the_source_of_the_microreg_package(monkeypatch):
    before = strict.fingerprint(Op("t", tanh, tanh_stable_vjp))
    monkeypatch.setattr(strict, "_source_hash", lambda: "the audit, edited")
    assert strict.fingerprint(Op("t", tanh, tanh_stable_vjp)) != before


def test_the_fingerprint_follows_cycles_through_containers_and_namespaces_once():
    loop: list = [1.0]
    loop.append(loop)
    space = types.SimpleNamespace(loop=loop)
    space.space = space
    namespace: dict = {"space": space}
    exec("def vjp(xp, g, out, x):\n    return (g * space.space.loop[0],)", namespace)
    assert len(strict.fingerprint(Op("t", tanh, namespace["vjp"]))) == 64


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


def strict_run(cache: os.PathLike, code: str, pythonpath: str = "", **extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MICROREG_STRICT": "1", strict.ENV_CACHE: str(cache), "MICROREG_DISABLE_PLUGIN_AUTOLOAD": "", **extra}
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


def install_bad_cube(folder: Path) -> None:
    """BAD_PLUGIN as an installed distribution in folder (to be put on PYTHONPATH)."""
    (folder / "bad_cube.py").write_text(BAD_PLUGIN)
    info = folder / "bad_cube-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bad-cube\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[microreg]\nbad_cube = bad_cube\n")


def test_a_strict_load_refuses_a_plugin_with_a_wrong_vjp(strict_cache, tmp_path):
    install_bad_cube(tmp_path)
    run = strict_run(strict_cache, USE_ENGINE, pythonpath=str(tmp_path))
    assert run.returncode != 0
    assert "PluginError" in run.stderr
    assert "plugin 'bad_cube': op 'cube' is refuted by the audit" in run.stderr
    command = strict_run(strict_cache, "import sys; from microreg import cli; sys.exit(cli.main(['audit', 'tanh']))",
                         pythonpath=str(tmp_path))
    assert command.returncode == 1
    # a refuted op is never cached, so each load audits it again, and says so before the wait
    said, rest = _auditing(command.stderr)
    assert said == ["bad_cube"] and rest.startswith("microreg: plugin 'bad_cube' failed to load") and "Traceback" not in rest
    ops = strict_run(strict_cache, "import sys; from microreg import cli; sys.exit(cli.main(['ops']))", pythonpath=str(tmp_path))
    assert ops.returncode == 1 and ops.stdout == ""
    said, rest = _auditing(ops.stderr)
    assert said == ["bad_cube"] and rest.startswith("microreg: plugin 'bad_cube' failed to load") and rest.count("\n") == 1, ops.stderr


def _auditing(stderr: str) -> tuple[list[str], str]:
    """The plugins a strict load said it was auditing (the core's too, where a loaded machine ran out of budget on one
    of its ops before), and the rest of stderr."""
    said = re.findall(r"^microreg: strict mode: auditing \d+ op\(s\) of plugin '(\w+)' not yet proved on this machine "
                      r"\(about \d+ s; the next load reads the verdicts from .*\)\n", stderr, re.M)
    rest = re.sub(r"^microreg: strict mode: auditing .*\n", "", stderr, flags=re.M)
    return [p for p in said if p != "microreg_ops"], rest


STRICT_THEN_CORE = """
import microreg
try:
    microreg.Value(0.5)
except microreg.PluginError:
    print("refused")
y = microreg.Value(0.5).tanh()
y.backward()
print(y.grad == 1.0)
try:
    microreg.Value.cube
except AttributeError as exc:
    print(exc)
"""


def test_after_strict_mode_refuses_a_plugin_the_core_works_and_its_ops_say_why_they_are_missing(strict_cache, tmp_path):
    install_bad_cube(tmp_path)
    run = strict_run(strict_cache, STRICT_THEN_CORE, pythonpath=str(tmp_path))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[:2] == ["refused", "True"]
    assert lines[2].startswith("type object 'Value' has no attribute 'cube'; plugin(s) 'bad_cube' failed to load"), lines


EXPLOSIVE_PLUGIN = """
from microreg import Op, hookimpl
import sys
sys.path.insert(0, {tests!r})
from wrong_vjps import EXPLOSIVE

@hookimpl
def microreg_ops():
    return [EXPLOSIVE]
"""


def test_a_strict_load_stops_an_op_at_its_time_budget_and_refuses_it(strict_cache, tmp_path):
    (tmp_path / "explosive.py").write_text(EXPLOSIVE_PLUGIN.format(tests=str(Path(__file__).parent)))
    info = tmp_path / "explosive-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: explosive\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[microreg]\nexplosive = explosive\n")
    run = strict_run(strict_cache, USE_ENGINE, pythonpath=str(tmp_path), MICROREG_AUDIT_BUDGET="1")
    assert run.returncode != 0
    assert "op 'nested_tanh' is inconclusive by the audit" in run.stderr and "timed out after 1 s" in run.stderr
