"""What a plugin author writes, with type hints, against microreg's public API: an op, its hook, its tests. It runs
here as a test, and the type check (mypy --strict, configured in pyproject.toml) reads it, so the hints a plugin
author sees are tested both ways: what they promise type-checks, and it is what runs."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

import microreg
from microreg import Accuracy, DomainError, Kink, Op, Value, grad, hookimpl
from microreg.testing import CHECKS, assert_proved, check_op, checks_of, ops_of


def clipped(xp: Any, x: Any, *, top: float = 2.0) -> Any:
    """x between 0 and top."""
    return xp.where(x < 0, 0, xp.where(x > top, top, x))


def clipped_vjp(xp: Any, g: Any, out: Any, x: Any, *, top: float = 2.0) -> tuple[Any]:
    return (xp.where(x <= 0, 0, xp.where(x >= top, 0, g)),)


CLIPPED = Op("clipped", clipped, clipped_vjp, domains=("real",), kinks=(Kink(0.0, 0.0), Kink(2.0, 0.0)),
             examples=({"top": 2.0},), accuracy=Accuracy(16, "exact: a comparison and a constant"))


@hookimpl
def microreg_ops() -> Iterable[Op]:
    return (CLIPPED,)


def test_an_op_its_hook_and_its_checks(register_op: Callable[..., tuple[Op, ...]]) -> None:
    (op,) = register_op(*microreg_ops())
    x = Value(1.5, label="x")
    y: Value = x.clipped(top=1.0) * 3 + x.tanh() - 1 / x
    y.backward()
    assert isinstance(x.grad, float) and y.op == "sub" and y.label == ""
    (d,) = grad(y, [x])
    assert d == pytest.approx(x.grad)
    assert [r.verdict for r in assert_proved(op)] == ["proved"]
    ran: list[str] = check_op("clipped", "kinks", "gradients")
    assert ran == ["kinks", "gradients"] and "audit" in CHECKS
    assert "clipped" in ops_of("__test__") and microreg.registry.find("clipped") is op
    assert checks_of("microreg_ops")[0].id == "add-audit"
    with pytest.raises(DomainError):
        Value(-1.0).log()
