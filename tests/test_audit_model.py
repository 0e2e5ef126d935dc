"""Tests of microreg.audit.model: an audit's results as data (the JSON record of an op) and the time budget per op.

The budget is read here from the environment (``budget_seconds``); that an audit keeps to it is tested with
``run`` (test_audit_run.py) and ``workers`` (test_audit_workers.py).
"""

from __future__ import annotations

import json

import pytest

from microreg import audit
from microreg.accuracy import DEFAULT_ULPS


def test_the_json_record_has_op_plugin_verdict_accuracy_and_checks_per_input(audited):
    data = json.loads(json.dumps(audited("div").to_json()))
    assert (data["op"], data["plugin"], data["verdict"]) == ("div", "microreg_ops", "proved")
    assert [i["input"] for i in data["inputs"]] == ["x", "y"]
    assert {c["kind"] for c in data["inputs"][1]["checks"]} == {"symbolic", "central-difference", "second-derivative", "graph",
                                                               "jvp"}
    assert {c["kind"] for c in data["checks"]} == {"scalar", "array", "branch", "accuracy", "jvp-engine"}
    accuracy = data["accuracy"]
    assert (accuracy["verdict"], accuracy["bound_ulps"], accuracy["declared"]) == ("accurate", DEFAULT_ULPS, None)
    assert set(accuracy["worst"]) >= {"what", "backend", "at", "exact", "computed", "ulps", "condition", "excess"}


def test_the_budget_comes_from_the_environment_by_default(monkeypatch):
    monkeypatch.setenv(audit.ENV_BUDGET, "0.5")
    assert audit.budget_seconds() == 0.5 and audit.budget_seconds(2) == 2
    monkeypatch.setenv(audit.ENV_BUDGET, "0")
    assert audit.budget_seconds() is None
    monkeypatch.setenv(audit.ENV_BUDGET, "soon")
    with pytest.raises(ValueError, match="MICROREG_AUDIT_BUDGET must be a number of seconds, got 'soon'"):
        audit.budget_seconds()
    monkeypatch.delenv(audit.ENV_BUDGET)
    assert audit.budget_seconds() == audit.DEFAULT_BUDGET
