"""Tests of microreg.opregistry and the registry instance: registering, replacing, removing, temporary ops, loading once."""

from __future__ import annotations

import threading

import pytest
from fakes import TRIPLE

import microreg
from microreg import Kink, Op, PluginError, Value, plugins
from microreg.opregistry import Plugin, Registry
from microreg.value import RESERVED


def quadruple(xp, x):
    return 4 * x


def quadruple_vjp(xp, g, out, x):
    return (4 * g,)


def test_register_in_one_call_makes_a_value_method_and_an_xp_function():
    microreg.register(TRIPLE)
    try:
        v = Value(2.0)
        y = v.triple()
        y.backward()
        assert (y.data, v.grad) == (6.0, 3.0)
        assert microreg.registry.origin("triple").name == "__main__"
        assert "triple" in microreg.registry.plugins["__main__"].ops
    finally:
        microreg.registry.unregister("triple")
    assert not hasattr(Value, "triple")
    assert "__main__" not in microreg.registry.plugins


def test_registering_again_from_the_same_place_replaces_the_op():
    """Re-running a notebook cell that registers an op must not fail on its own earlier definition."""
    microreg.register(TRIPLE)
    try:
        microreg.register(Op("triple", quadruple, quadruple_vjp))
        assert Value(2.0).triple().data == 8.0
        assert microreg.registry.plugins["__main__"].ops == ["triple"]
    finally:
        microreg.registry.unregister("triple")


def test_register_refuses_a_name_held_by_another_plugin_and_registers_nothing():
    reg = Registry()
    reg.register(TRIPLE, plugin="first")
    with pytest.raises(PluginError, match="'triple' is claimed by both plugin 'first' and plugin 'second'"):
        reg.register(Op("quadruple", quadruple, quadruple_vjp), Op("triple", quadruple, quadruple_vjp), plugin="second")
    assert sorted(reg.ops()) == ["triple"]
    assert reg.get("triple") is TRIPLE
    assert "second" not in reg.plugins


def test_a_failed_replacement_keeps_the_op_it_would_have_replaced():
    reg = Registry()
    reg.register(TRIPLE)
    with pytest.raises(PluginError, match="is not a microreg.Op"):
        reg.register(Op("triple", quadruple, quadruple_vjp), "not an op")
    assert reg.get("triple") is TRIPLE
    assert reg.plugins["__main__"].ops == ["triple"]


@pytest.mark.parametrize("name", ["backward", "data", "grad", "mean"])
def test_register_refuses_a_name_that_would_shadow_a_value_attribute(name):
    def fwd(xp, x):
        return x

    def vjp(xp, g, out, x):
        return (g,)

    with pytest.raises(PluginError, match=f"would shadow Value.{name}"):
        microreg.register(Op(name, fwd, vjp))
    assert microreg.registry.find(name) is None
    assert name in RESERVED


def test_register_refuses_an_op_offered_twice_in_one_call():
    with pytest.raises(PluginError, match="offers op 'triple' twice"):
        Registry().register(TRIPLE, Op("triple", quadruple, quadruple_vjp))


def test_temporary_registers_only_inside_the_with_block():
    with microreg.registry.temporary(TRIPLE) as ops:
        assert ops == (TRIPLE,)
        assert Value(1.5).triple().data == 4.5
        assert microreg.registry.origin("triple").name == "__test__"
    assert "triple" not in microreg.registry
    assert not hasattr(Value, "triple")


def test_temporary_removes_the_op_when_the_block_raises():
    with pytest.raises(RuntimeError, match="inside"), microreg.registry.temporary(TRIPLE):
        raise RuntimeError("inside the block")
    assert "triple" not in microreg.registry


def test_temporary_refuses_a_taken_name_instead_of_replacing_it():
    reg = Registry()
    with reg.temporary(TRIPLE):
        with pytest.raises(PluginError, match="claimed by both"), reg.temporary(Op("triple", quadruple, quadruple_vjp)):
            pass
        assert reg.get("triple") is TRIPLE
    assert "triple" not in reg


def test_unknown_op_names_its_nearest_matches():
    with pytest.raises(KeyError, match="no op named 'tahn' is registered; did you mean tan, tanh"):
        microreg.registry.get("tahn")
    with pytest.raises(KeyError, match="no op named 'tahn'"):
        microreg.registry.origin("tahn")
    with pytest.raises(KeyError, match="no op named 'tahn'"):
        microreg.registry.unregister("tahn")


def test_listeners_hear_registration_and_removal():
    reg, heard = Registry(), []
    reg.subscribe(lambda name, op: heard.append((name, op)))
    with reg.temporary(TRIPLE):
        pass
    assert heard == [("triple", TRIPLE), ("triple", None)]


def test_a_loader_refusing_a_plugin_raises_once_and_what_loaded_stays_usable():
    """Strict mode: the loader raises PluginError after trying every plugin; later uses work without the refused one."""
    calls = []

    def loader(reg: Registry) -> None:
        calls.append(1)
        reg.add(Plugin("good"), [TRIPLE])
        raise PluginError("plugin 'bad' failed to load")

    reg = Registry(loader=loader)
    with pytest.raises(PluginError, match="'bad'"):
        reg.ops()
    assert set(reg.ops()) == {"triple"} and len(calls) == 1


def test_an_interrupted_loader_leaves_nothing_registered_and_runs_again_on_next_use():
    calls = []

    def loader(reg: Registry) -> None:
        calls.append(1)
        reg.add(Plugin("good"), [TRIPLE])
        if len(calls) == 1:
            raise KeyboardInterrupt

    reg, heard = Registry(loader=loader), []
    reg.subscribe(lambda name, op: heard.append((name, op)))
    with pytest.raises(KeyboardInterrupt):
        reg.ops()
    assert reg._ops == {} and reg.plugins == {}
    assert set(reg.ops()) == {"triple"}
    assert heard == [("triple", TRIPLE), ("triple", None), ("triple", TRIPLE)]


def test_loading_is_done_once_and_other_threads_wait_for_it():
    started, release = threading.Event(), threading.Event()
    calls = []

    def loader(reg: Registry) -> None:
        calls.append(1)
        reg.add(Plugin("first"), [TRIPLE])
        assert reg.find("triple") is TRIPLE  # the loader's own use does not wait for itself
        started.set()
        release.wait(10)
        reg.add(Plugin("second"), [Op("quadruple", quadruple, quadruple_vjp)])

    reg = Registry(loader=loader)
    seen = {}
    loading = threading.Thread(target=lambda: seen.setdefault("loader", sorted(reg.ops())))
    loading.start()
    assert started.wait(10)
    other = threading.Thread(target=lambda: seen.setdefault("other", sorted(reg.ops())))
    other.start()
    other.join(0.5)  # gives the other thread the chance to read a half-loaded registry, were that possible
    release.set()
    loading.join(10)
    other.join(10)
    assert seen == {"loader": ["quadruple", "triple"], "other": ["quadruple", "triple"]}
    assert len(calls) == 1


def test_the_example_plugin_is_loaded_with_its_provenance_when_installed():
    pytest.importorskip("microreg_activations", reason="plugins_example is not installed")
    if "activations" not in [ep.name for ep in plugins.entry_points()[0]]:
        pytest.skip(f"the activations plugin is turned off by {plugins.ENV_DISABLE} or {plugins.ENV_BLOCK}")
    plugin = microreg.registry.plugins["activations"]
    assert (plugin.distribution, plugin.error) == ("microreg-activations", None)
    assert {"softplus", "silu", "gelu", "elu", "leaky_relu", "softsign", "mish", "hardtanh"} <= set(plugin.ops)
    assert microreg.registry.origin("gelu") is plugin
    assert Kink(0.0, 0.01) in microreg.registry.get("leaky_relu").kinks
