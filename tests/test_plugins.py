"""Tests of microreg.plugins: loading entry points one by one, surviving broken plugins, the switches.

Plugins here are fake distributions (a ``*.dist-info`` folder in tmp_path, so each entry point has a
real distribution name and version) whose entry points point at modules made on the fly; pluggy's
own tests fake ``importlib.metadata.entry_points`` the same way. Each test loads into a fresh
``Registry``, so the global one (and the methods of ``Value``) stay untouched.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from fakes import HALVE, TWICE, fresh, halve, halve_vjp, module, raising_hook, returning, twice, twice_vjp

import microreg
from microreg import Op, PluginError, PluginWarning, Value, plugins
from microreg.opregistry import Registry


@pytest.fixture(autouse=True)
def no_switches(monkeypatch):
    for var in (plugins.ENV_DISABLE, plugins.ENV_BLOCK, plugins.ENV_STRICT):
        monkeypatch.delenv(var, raising=False)


def load_expecting_failure(reg: Registry, match: str) -> None:
    with pytest.warns(PluginWarning, match=match) as caught:
        reg.load()
    assert len(caught) == 1, [str(w.message) for w in caught]


def core_ops() -> set[str]:
    return set(microreg.registry.plugins["microreg_ops"].ops)


# -- a good plugin -----------------------------------------------------------------------------
def test_a_good_plugin_loads_with_its_distribution_and_version(install):
    install("doubling", module("fake_doubling", returning(TWICE, HALVE)), dist="fake-doubling", version="2.3")
    reg = fresh()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ops = reg.ops()
    assert set(ops) == core_ops() | {"twice", "halve"}
    plugin = reg.origin("twice")
    assert (plugin.name, plugin.distribution, plugin.version, plugin.ops, plugin.error) == (
        "doubling", "fake-doubling", "2.3", ["twice", "halve"], None)
    assert reg.origin("relu").name == "microreg_ops"


def test_a_skipped_plugins_warning_points_at_the_users_line(install):
    install("broken", module("fake_mod", raising_hook))
    reg = fresh()
    with pytest.warns(PluginWarning) as caught:
        reg.ops(); line = sys._getframe().f_lineno  # noqa: E702 - the line the warning must name
    assert (caught[0].filename, caught[0].lineno) == (__file__, line)


# -- each failure: reported with the plugin's name and the reason, the others load ---------------
def bad_import_module(tmp_path, monkeypatch) -> str:
    (tmp_path / "fake_raises_on_import.py").write_text("raise RuntimeError('no GPU found')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "fake_raises_on_import"


def wrong_arity_hook():
    def bad_vjp(xp, g, out, x, y):
        return g, g

    return [TWICE, Op("bad", twice, bad_vjp)]


def uncallable_forward_hook():
    return [TWICE, Op("bad", 2.0, twice_vjp)]


def not_an_op_hook():
    return [TWICE, "relu"]


def wrong_signature_hook(registry):
    return [TWICE]


FAILURES = {
    "missing module": (lambda tmp_path, mp: "fake_no_such_module", "cannot import 'fake_no_such_module': ModuleNotFoundError"),
    "import raises": (bad_import_module, "cannot import 'fake_raises_on_import': RuntimeError: no GPU found"),
    "hook raises": (lambda *_: module("fake_mod", raising_hook), "ValueError: config file missing"),
    "no hook": (lambda *_: module("fake_mod"), "'fake_mod' has no @hookimpl microreg_ops"),
    "hook with arguments": (lambda *_: module("fake_mod", wrong_signature_hook),
                            r"PluginValidationError: .* Argument\(s\) \{'registry'\} are declared in the hookimpl"),
    "returns None": (lambda *_: module("fake_mod", lambda: None), "returned None, not an iterable of Op"),
    "returns a non-op": (lambda *_: module("fake_mod", not_an_op_hook), "returned 'relu', which is not a microreg.Op"),
    "vjp of wrong arity": (lambda *_: module("fake_mod", wrong_arity_hook), r"OpError: op 'bad': vjp must take \(xp, g, out, x\)"),
    "forward not callable": (lambda *_: module("fake_mod", uncallable_forward_hook), "OpError: op 'bad': forward must be callable"),
    "op name shadows Value.backward": (lambda *_: module("fake_mod", returning(TWICE, Op("backward", twice, twice_vjp))),
                                       "op name 'backward' would shadow Value.backward"),
    "op name shadows Value.data": (lambda *_: module("fake_mod", returning(Op("data", twice, twice_vjp))),
                                   "op name 'data' would shadow Value.data"),
}


@pytest.mark.parametrize("case", FAILURES)
def test_a_broken_plugin_is_reported_and_skipped_whole_while_the_others_load(case, install, tmp_path, monkeypatch):
    make, reason = FAILURES[case]
    install("broken", make(tmp_path, monkeypatch), dist="fake-broken", version="0.9")
    install("zgood", module("fake_good", returning(HALVE)))
    reg = fresh()
    load_expecting_failure(reg, f"plugin 'broken' skipped: .*{reason}")
    assert set(reg.ops()) == core_ops() | {"halve"}  # nothing of 'broken' (not even its valid 'twice')
    broken = reg.plugins["broken"]
    assert (broken.distribution, broken.version, broken.ops) == ("fake-broken", "0.9", [])
    assert re.search(reason, broken.error)


def test_an_invalid_op_built_at_import_is_reported_as_an_import_failure(install, tmp_path, monkeypatch):
    (tmp_path / "fake_builds_bad_op.py").write_text(
        "from microreg import Op\n"
        "def f(xp, x):\n    return x\n"
        "def f_vjp(xp, g, x):\n    return (g,)\n"
        "OPS = [Op('ident', f, f_vjp)]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    install("broken", "fake_builds_bad_op")
    reg = fresh()
    load_expecting_failure(reg, r"'broken' skipped: cannot import 'fake_builds_bad_op': OpError: op 'ident': vjp must take \(xp, g, out")
    assert "ident" not in reg.ops()


def test_ops_a_failing_plugin_registered_by_itself_are_removed_too(install):
    reg = fresh()

    def sneaky_hook():
        reg.register(TWICE)  # registering behind the host's back, then failing
        raise RuntimeError("half way")

    install("sneaky", module("fake_sneaky", sneaky_hook))
    load_expecting_failure(reg, "plugin 'sneaky' skipped: RuntimeError: half way")
    assert set(reg.ops()) == core_ops()
    assert "__main__" not in reg.plugins


# -- duplicates: both named, and the outcome independent of install order ----------------------
@pytest.mark.parametrize("order", list(itertools.permutations(["beta", "alpha", "gamma"])))
def test_a_duplicate_op_is_refused_alone_naming_the_plugin_that_keeps_it_whatever_the_install_order(order, install):
    offers = {"alpha": (TWICE,), "beta": (Op("twice", halve, halve_vjp), HALVE), "gamma": (Op("thrice", twice, twice_vjp),)}
    for name in order:
        install(name, module(f"fake_{name}", returning(*offers[name])), dist=f"fake-{name}")
    reg = fresh()
    load_expecting_failure(reg, "plugin 'beta.twice' skipped: op 'twice' is already registered by plugin 'alpha', which keeps it "
                                "[(]plugins load in the order of their entry-point names, and the first to offer a name keeps it[)]; "
                                "the other ops of 'beta' are loaded")
    assert reg.get("twice") is TWICE and reg.get("halve") is HALVE
    assert (reg.plugins["beta"].ops, reg.plugins["beta"].error) == (["halve"], None)
    assert (reg.plugins["beta.twice"].distribution, reg.plugins["beta.twice"].offered) == ("fake-beta", ["twice"])
    assert reg.origin("thrice").name == "gamma"


def test_an_op_named_like_a_core_op_is_refused_alone_and_the_core_keeps_it(install):
    install("acts", module("fake_acts", returning(TWICE, Op("relu", twice, twice_vjp))), dist="fake-acts")
    reg = fresh()
    load_expecting_failure(reg, "plugin 'acts.relu' skipped: op 'relu' is already registered by plugin 'microreg_ops', "
                                "which keeps it [(]the core's ops always win[)]")
    assert reg.origin("relu").name == "microreg_ops" and reg.origin("twice").name == "acts"


@pytest.mark.parametrize("order", [("fake-one", "fake-two"), ("fake-two", "fake-one")])
def test_two_distributions_with_one_entry_point_name_keep_one_whatever_the_install_order(order, install):
    targets = {"fake-one": module("fake_mod_b", returning(TWICE)), "fake-two": module("fake_mod_a", returning(HALVE))}
    for dist in order:
        install("acts", targets[dist], dist=dist)
    reg = fresh()
    load_expecting_failure(reg, "plugin 'acts [(]fake-one[)]' skipped: entry point name 'acts' [(]'fake_mod_b'[)] is already used "
                                "by 'fake_mod_a' of distribution 'fake-two'")
    assert reg.origin("halve").distribution == "fake-two"
    assert "twice" not in reg.ops()


# -- the core: found by its distribution, never by its entry-point name ------------------------------
def test_the_core_is_the_microreg_distributions_entry_point(install):
    install("microreg_ops", "microreg_ops", dist="microreg", version="0.1.0")
    reg = fresh()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert set(reg.ops()) == core_ops()
    assert (reg.origin("add").name, reg.origin("add").distribution) == ("microreg_ops", "microreg")


@pytest.mark.parametrize("core_installed", [True, False], ids=["core installed", "source tree"])
def test_another_distributions_entry_point_named_like_the_core_is_a_broken_plugin_and_the_core_loads(core_installed, install):
    if core_installed:
        install("microreg_ops", "microreg_ops", dist="microreg", version="0.1.0")
    install("microreg_ops", module("acme_ops", returning(TWICE)), dist="acme")  # 'acme_ops' sorts before 'microreg_ops'
    reg = fresh()
    load_expecting_failure(reg, "plugin 'microreg_ops [(]acme[)]' skipped: entry point name 'microreg_ops' is microreg's own, "
                                "for its core ops [(]distribution 'microreg'[)]; 'acme_ops' of distribution 'acme' is not loaded")
    assert set(reg.ops()) == core_ops()
    assert reg.origin("add").name == "microreg_ops" and reg.plugins["microreg_ops (acme)"].ops == []


def test_disabling_autoload_loads_the_core_even_when_another_distribution_claims_its_name(install, monkeypatch):
    install("microreg_ops", "fake_never_imported", dist="acme")
    monkeypatch.setenv(plugins.ENV_DISABLE, "1")
    reg = fresh()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert set(reg.ops()) == core_ops()
    assert list(reg.plugins) == ["microreg_ops"] and "fake_never_imported" not in sys.modules


def shipped_op_names() -> set[str]:
    """Every op name registered here, and every one the repository's packages and notebooks declare (installed or not)."""
    root = Path(__file__).resolve().parents[1]
    sources = [*root.glob("microreg_ops/**/*.py"), *root.glob("plugins_*/**/*.py"), *root.glob("notebooks/*.ipynb")]
    return set(microreg.registry.ops()) | {m for p in sources for m in re.findall(r'Op\(\\?"(\w+)\\?"', p.read_text())}


def test_the_plugin_tutorials_ops_are_named_like_nothing_that_ships():
    guide = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()
    code = guide.split("\n## 2. The package\n", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "docs/plugins.md, 2. The package", "exec"), namespace)
    names = {op.name for op in namespace["OPS"]}
    assert len(names) == 2 and not names & shipped_op_names(), names & shipped_op_names()


# -- the switches --------------------------------------------------------------------------------
def test_disabling_autoload_loads_the_core_ops_only_and_imports_no_plugin(install, monkeypatch):
    install("other", "fake_never_imported")
    monkeypatch.setenv(plugins.ENV_DISABLE, "1")
    reg = fresh()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert set(reg.ops()) == core_ops()
    assert list(reg.plugins) == ["microreg_ops"]


def test_blocking_skips_the_named_plugins_but_never_the_core(install, monkeypatch):
    install("blocked", "fake_never_imported")
    install("kept", module("fake_kept", returning(TWICE)))
    monkeypatch.setenv(plugins.ENV_BLOCK, " blocked , microreg_ops")
    reg = fresh()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert set(reg.ops()) == core_ops() | {"twice"}
    assert "blocked" not in reg.plugins


def test_strict_mode_raises_every_failure_once_and_keeps_the_core_and_the_good_plugins(install, audit_stub):
    install("broken", module("fake_mod", raising_hook))
    install("doubling", module("fake_doubling", returning(TWICE)))  # refused by the audit stub
    install("halving", module("fake_halving", returning(HALVE)))
    reg = fresh()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an error, not a warning too
        with pytest.raises(PluginError, match="plugin 'broken' failed to load: ValueError: config file missing; "
                                              "plugin 'doubling' failed to load: op 'twice' is refuted"):
            reg.find("relu")
    assert set(reg.ops()) == core_ops() | {"halve"}  # no error on the next use: the engine works without them
    assert [p for p in sorted(reg.plugins) if reg.plugins[p].error] == ["broken", "doubling"]
    with pytest.raises(KeyError, match=r"no op named 'twice'.*plugin\(s\) 'broken', 'doubling' failed to load"):
        reg.get("twice")


def test_strict_mode_refuses_a_plugin_whose_op_the_audit_does_not_prove(install, audit_stub):
    install("doubling", module("fake_doubling", returning(HALVE, TWICE)))
    with pytest.raises(PluginError, match="plugin 'doubling' failed to load: op 'twice' is refuted by the audit"):
        fresh().load()
    assert audit_stub == [("microreg_ops", microreg.registry.plugins["microreg_ops"].ops), ("doubling", ["halve", "twice"])]


def test_strict_mode_raises_for_a_duplicate_op_and_audits_and_loads_the_rest_of_its_plugin(install, audit_stub):
    install("alpha", module("fake_alpha", returning(HALVE)))
    install("beta", module("fake_beta", returning(Op("halve", twice, twice_vjp), Op("thrice", twice, twice_vjp))))
    reg = fresh()
    with pytest.raises(PluginError, match="plugin 'beta.halve' failed to load: op 'halve' is already registered by plugin 'alpha'"):
        reg.load()
    assert reg.get("halve") is HALVE and reg.origin("thrice").name == "beta"
    assert audit_stub[1:] == [("alpha", ["halve"]), ("beta", ["thrice"])]


# -- a vjp that breaks its promise at run time ----------------------------------------------------
def two_cotangents_vjp(xp, g, out, x):
    return g, g


def bare_cotangent_vjp(xp, g, out, x):
    return g


def one_cotangent_vjp(xp, g, out, x, y):
    return (g,)


def plus(xp, x, y):
    return x + y


@pytest.mark.parametrize("broken", [Op("broken_vjp", twice, two_cotangents_vjp), Op("broken_vjp", twice, bare_cotangent_vjp),
                                Op("broken_vjp", plus, one_cotangent_vjp)], ids=["two for one", "bare", "one for two"])
@pytest.mark.parametrize("data", [1.5, np.array([1.0, -2.0])], ids=["scalar", "array"])
@pytest.mark.parametrize("create_graph", [False, True])
def test_a_vjp_returning_the_wrong_number_of_cotangents_fails_naming_the_op(broken, data, create_graph, register_op):
    register_op(broken)
    x = Value(data)
    y = x.broken_vjp() if broken.arity == 1 else x.broken_vjp(Value(data))
    expected = f"broken_vjp's vjp {broken.vjp.__name__} returned .*: expected a tuple of {broken.arity} cotangent"
    with pytest.raises(TypeError, match=expected):
        microreg.grad(y.sum(), x, create_graph=create_graph)


def three_ones_vjp(xp, g, out, x):
    return (np.ones(3),)


def first_row_vjp(xp, g, out, x):
    return (xp.sum(g, axis=0),)


@pytest.mark.parametrize("vjp", [three_ones_vjp, first_row_vjp], ids=["another shape", "fewer axes"])
@pytest.mark.parametrize("create_graph", [False, True])
def test_a_vjp_returning_a_cotangent_of_the_wrong_shape_fails_naming_the_op_and_both_shapes(vjp, create_graph, register_op):
    """It was summed as far as it would go and stored in .grad, shape and all, until the next backward() failed in NumPy."""
    register_op(Op("misshapen", twice, vjp))
    x = Value(np.ones((2, 2)))
    expected = rf"misshapen's vjp {vjp.__name__} returned a cotangent of shape \((3|2),\) for input x, of shape \(2, 2\)"
    with pytest.raises(TypeError, match=expected):
        microreg.grad(x.misshapen().sum(), x, create_graph=create_graph)
    assert x.grad.shape == (2, 2) and not x.grad.any()


# -- end to end: real distributions found on sys.path by a fresh interpreter ------------------------
END_TO_END = """
import json, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from microreg import Value, registry
    v = Value(2.0)
print(json.dumps({
    "twice": v.twice().data if hasattr(v, "twice") else None,
    "halve": hasattr(v, "halve"),
    "warnings": [str(w.message) for w in caught],
    "plugins": {p.name: [p.distribution, p.version, p.ops, p.error] for p in registry.plugins.values()},
}))
"""


def test_end_to_end_a_broken_distribution_is_skipped_and_a_good_one_adds_value_methods(tmp_path):
    """No monkeypatching: two installed distributions, found by importlib.metadata in a fresh interpreter."""
    for dist, ep, source in [("fake-good", "good", "def twice(xp, x):\n    return 2 * x\n\n"
                                                   "def twice_vjp(xp, g, out, x):\n    return (2 * g,)\n\n"
                                                   "@hookimpl\ndef microreg_ops():\n    return [Op('twice', twice, twice_vjp)]\n"),
                             ("fake-bad", "bad", "def halve(xp, x):\n    return x / 2\n\n"
                                                 "@hookimpl\ndef microreg_ops():\n    return [Op('halve', halve, halve)]\n")]:
        (tmp_path / f"{ep}_plugin.py").write_text("from microreg import Op, hookimpl\n\n" + source)
        info = tmp_path / f"{dist.replace('-', '_')}-3.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 3.1\n")
        (info / "entry_points.txt").write_text(f"[microreg]\n{ep} = {ep}_plugin\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROREG_")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    run = subprocess.run([sys.executable, "-c", END_TO_END], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["twice"] == 4.0 and result["halve"] is False
    assert result["plugins"]["good"] == ["fake-good", "3.1", ["twice"], None]
    reason = "OpError: op 'halve': vjp must take (xp, g, out, <inputs>...), takes ('xp', 'x')"
    assert result["plugins"]["bad"] == ["fake-bad", "3.1", [], reason]
    assert result["warnings"] == [f"microreg: plugin 'bad' skipped: {reason}"]


class Installed:
    """A microreg distribution as importlib.metadata shows it, with the direct_url.json pip wrote (None: none)."""

    def __init__(self, direct_url: str | None) -> None:
        self.direct_url = direct_url

    def read_text(self, name: str) -> str | None:
        return self.direct_url if name == "direct_url.json" else None


@pytest.mark.parametrize("source, direct_url, hint", [
    ("clone", None, "pip install -e '{clone}[plot]'"),
    ("site-packages", '{"url": "file:///home/me/src/microreg", "dir_info": {}}', "pip install '/home/me/src/microreg[plot]'"),
    ("site-packages", None, "pip install 'microreg[plot]'"),
], ids=["from_a_clone", "from_a_local_directory", "from_the_package_index"])
def test_the_install_hint_follows_how_microreg_was_installed(tmp_path, monkeypatch, source, direct_url, hint):
    clone = tmp_path / "my clone"
    clone.mkdir()
    if source == "clone":
        (clone / "pyproject.toml").write_text("[project]\nname = 'microreg'\n")
    monkeypatch.setattr(plugins, "SOURCE", clone)
    monkeypatch.setattr(plugins.metadata, "distribution", lambda name: Installed(direct_url))
    assert plugins.install_hint("plot") == hint.format(clone=clone)
