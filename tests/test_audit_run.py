"""Tests of microreg.audit.run: audit() and audit_op() over every check, every registered op proved, time budgets, SymPy loaded lazily.

Every registered op is proved at orders 1 and 2, and the correct ops of the catalogue (``wrong_vjps.RIGHT``)
are proved and accurate with no problem: the audit never flags a correct rule. An op past its budget is
inconclusive, and the next audit is unaffected.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from wrong_vjps import EXPLOSIVE, RIGHT

from microreg import audit


def audited_inputs(op):
    """Every input the audit proves: a variadic op's at its largest declared arity (wx[0], wx[1], ...)."""
    return max((form.inputs for form in op.forms()), key=len)


def test_every_registered_op_is_proved(op, audited):
    record = audited(op)
    assert record.verdict == "proved", record.report()
    assert {c.input for c in record.checks if c.kind == "symbolic" and c.verdict == "proved"} == set(audited_inputs(op))


def test_every_registered_op_is_proved_at_order_two(op, audited):
    record = audited(op)
    assert {c.input for c in record.checks if c.kind == "graph" and c.verdict == "passed"} == set(audited_inputs(op)), record.report()
    assert all(c.verdict == "proved" for c in record.checks if c.kind == "second-derivative"), record.report()


@pytest.mark.parametrize("right", RIGHT, ids=[op.name for op in RIGHT])
def test_the_correct_version_of_a_catalogue_op_is_proved_and_accurate(right):
    record = audit.audit_op(right)
    assert (record.verdict, record.accuracy) == ("proved", "accurate"), record.report()
    assert not record.problems()


def test_no_op_runs_past_its_budget_and_a_step_cut_short_is_inconclusive():
    record = audit.audit_op(EXPLOSIVE, budget=1)
    assert record.verdict == "inconclusive", record.report()
    assert "timed out after 1 s" in record.report()
    assert [c.verdict for c in record.checks if c.kind == "central-difference"] == ["passed"]  # the float checks still run


def test_after_a_timeout_the_next_audit_is_unaffected():
    audit.audit_op(EXPLOSIVE, budget=0.3)
    (record,) = audit.audit(["tanh"], measure=False)
    assert record.verdict == "proved", record.report()


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
