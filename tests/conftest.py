"""Shared test parametrization: every registered op (and each of its static-parameter examples and kinks) as a case.

A test asks for ``op`` (each registered op), ``op_case`` ((op, params) for each of ``op.examples``, a
variadic op at each of its ``arities``; elementwise ops only), ``binary_case`` (the same, binary ops
only), ``kink_case`` ((op, kink, params)) or ``array_case`` ((op, shapes, params) for an op that is not
elementwise, at each example of its input shapes); the ids name the op, so a failure says which one.
``audited(op)``, the audit of a registered op run once per session, comes from microreg.testing.
"""

from __future__ import annotations

import itertools
import sys
import types
from importlib import metadata
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from skips import pytest_runtest_makereport  # noqa: F401 - a hook: one summary line per skip reason, with its count

from microreg import Op, PluginError, plugins, registry, testing

# Property-based tests (hypothesis): the same examples on every run (derandomize), few enough that the
# whole suite stays fast, and no example database, so a clean clone behaves like CI. A failure prints
# the drawn example and @reproduce_failure. `pytest --hypothesis-profile=thorough` searches wider, at random.
settings.register_profile("microreg", derandomize=True, database=None, max_examples=5, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
settings.register_profile("thorough", parent=settings.get_profile("microreg"), derandomize=False, max_examples=500)


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("hypothesis_profile", None):
        settings.load_profile("microreg")


def case_id(op: Op, params: dict[str, Any]) -> str:
    """'pow(n=2)' for an op with static parameters, plain 'tanh' otherwise."""
    args = ",".join(f"{k}={v}" for k, v in params.items())
    return f"{op.name}({args})" if args else op.name


def form_id(op: Op, form: Op, params: dict[str, Any]) -> str:
    """case_id, with the number of inputs for a variadic op's form: 'dot@4'."""
    return case_id(op, params) + (f"@{form.arity}" if op.variadic else "")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    ops = sorted(registry.ops().values(), key=lambda op: op.name)
    # a variadic op is tested at each arity it declares, as an op with that many named inputs (Op.forms)
    forms = [(op, form, p) for op in ops for form, p in testing.cases(op)]
    by_name = {
        "op": [pytest.param(op, id=op.name) for op in ops],
        "op_case": [pytest.param((form, p), id=form_id(op, form, p)) for op, form, p in forms],
        "binary_case": [pytest.param((form, p), id=form_id(op, form, p)) for op, form, p in forms if form.arity == 2],
        "kink_case": [pytest.param(case, id=f"{op.name}@{','.join(map(str, case[1].at))}")
                      for op in ops for case in testing.kink_cases(op)],
        "array_case": [pytest.param(case, id=f"{case_id(op, case[2])}@{'x'.join(map(str, case[1]))}")
                       for op in ops for case in testing.array_cases(op)],
    }
    for name, values in by_name.items():
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, values)


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
def no_matplotlib(monkeypatch):
    """matplotlib as if it were not installed: importing it raises ImportError."""
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)


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
