"""Shared test parametrization: every registered op (and each of its static-parameter examples and kinks) as a case.

A test asks for ``op`` (each registered op), ``op_case`` ((op, params) for each of ``op.examples``),
``binary_case`` (the same, binary ops only) or ``kink_case`` ((op, kink, params)); the ids name the
op, so a failure says which one.
"""

from __future__ import annotations

from typing import Any

import pytest

from microreg import Op, registry
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
