"""Shared test parametrization: every registered op (and each of its static-parameter examples and kinks) as a case.

A test asks for ``op`` (each registered op), ``op_case`` ((op, params) for each of ``op.examples``),
``binary_case`` (the same, binary ops only) or ``kink_case`` ((op, kink, params)); the ids name the
op, so a failure says which one. ``audited`` is the audit of every registered op (order 2, accuracy
included), run once per session and shared by every test that reads it.
"""

from __future__ import annotations

import itertools
import sys
import types
from importlib import metadata
from typing import Any

import pytest

from microreg import Op, PluginError, plugins, registry
from microreg.op import REQUIRED


def case_id(op: Op, params: dict[str, Any]) -> str:
    """'pow(n=2)' for an op with static parameters, plain 'tanh' otherwise."""
    args = ",".join(f"{k}={v}" for k, v in params.items())
    return f"{op.name}({args})" if args else op.name


def kink_params(op: Op) -> dict[str, Any]:
    """The static parameters a kink is declared for: the defaults, required ones from the first example."""
    defaults = {k: d for k, d in op.params.items() if d is not REQUIRED}
    return {**{k: v for k, v in op.examples[0].items() if k not in defaults}, **defaults}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    ops = sorted(registry.ops().values(), key=lambda op: op.name)
    cases = {
        "op": [pytest.param(op, id=op.name) for op in ops],
        "op_case": [pytest.param((op, dict(p)), id=case_id(op, p)) for op in ops for p in op.examples],
        "binary_case": [pytest.param((op, dict(p)), id=case_id(op, p)) for op in ops if op.arity == 2 for p in op.examples],
        "kink_case": [pytest.param((op, k, kink_params(op)), id=f"{op.name}@{','.join(map(str, k.at))}") for op in ops for k in op.kinks],
    }
    for name, values in cases.items():
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, values)


@pytest.fixture(scope="session")
def audited() -> dict[str, Any]:
    """Op name -> OpAudit of every op the plugins registered, at order 2 with the accuracy audit: one run per session.

    A generous time budget: a loaded machine must not turn a slow proof into a failure here (the budget
    has tests of its own).
    """
    from microreg.audit import audit

    ops = [op for name, op in sorted(registry.ops().items()) if registry.origin(name).distribution is not None]
    return {record.op: record for record in audit(ops, order=2, budget=120)}


@pytest.fixture
def install(monkeypatch, tmp_path):
    """``install(ep_name, target, dist=, version=)``: a fake installed distribution with one ``microreg`` entry point.

    target is a module (put in sys.modules) or an import path string. ``importlib.metadata`` then
    lists exactly the installed fakes (the core plugin is added by the host when it is missing).
    """
    eps: list[metadata.EntryPoint] = []
    monkeypatch.setattr(plugins.metadata, "entry_points", lambda group=None: [ep for ep in eps if group in (None, ep.group)])
    counter = itertools.count()

    def install(ep_name: str, target: types.ModuleType | str, dist: str = "fake-dist", version: str = "1.0") -> None:
        if isinstance(target, types.ModuleType):
            monkeypatch.setitem(sys.modules, target.__name__, target)
            target = target.__name__
        info = tmp_path / f"d{next(counter)}" / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[microreg]\n{ep_name} = {target}\n")
        eps.extend(metadata.PathDistribution(info).entry_points)

    return install


@pytest.fixture
def audit_stub(monkeypatch):
    """Strict loading audits each plugin's ops; the stub refuses 'twice' and records what it saw."""
    from microreg import strict

    seen = []

    def refuse_unproved(ops, plugin):
        seen.append((plugin, [op.name for op in ops]))
        if any(op.name == "twice" for op in ops):
            raise PluginError("op 'twice' is refuted by the audit")

    monkeypatch.setattr(strict, "refuse_unproved", refuse_unproved, raising=False)
    monkeypatch.setenv(plugins.ENV_STRICT, "1")
    return seen
