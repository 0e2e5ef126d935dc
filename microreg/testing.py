"""A pytest plugin for microreg users and plugin authors (loaded through the ``pytest11`` entry point).

Fixture ``register_op``: ``register_op(op, ...)`` registers ops for the duration of one test.
Fixture ``audited``: ``audited(op)`` is the audit of an op at order 2, accuracy included, run once per
test session for every test that reads it (in every test directory of the session).

Auditing a plugin's ops in its own tests takes one line::

    from microreg.testing import assert_proved, ops_of

    def test_my_ops_are_proved():
        assert_proved(*ops_of("my_plugin"))          # or assert_proved("softplus", my_op)

or one test per op: ``@pytest.mark.parametrize("name", ops_of("my_plugin"))`` then ``assert_proved(name)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING

import pytest

from .op import Op

if TYPE_CHECKING:
    from .audit import OpAudit


@pytest.fixture
def register_op() -> Iterator:
    """Register ops only for the calling test: ``register_op(Op("twice", ...))``; removed afterwards."""
    from .plugins import registry

    with ExitStack() as stack:

        def register(*ops: Op) -> tuple[Op, ...]:
            return stack.enter_context(registry.temporary(*ops))

        yield register


@pytest.fixture(scope="session")
def audited() -> Callable[[Op | str], OpAudit]:
    """``audited(op)`` (an Op, or the name of a registered one): its audit at order 2 with the accuracy audit, run
    once per session for every test that reads it; a project's tests and its plugins' own then share one audit.

    A generous time budget: a loaded machine must not turn a slow proof into a failure here.
    """
    from .audit import audit
    from .plugins import registry

    @functools.cache
    def audit_once(op: Op) -> OpAudit:
        (record,) = audit([op], order=2, budget=120)
        return record

    def audited(op: Op | str) -> OpAudit:
        return audit_once(registry.get(op) if isinstance(op, str) else op)  # by the Op: a name may be registered again

    return audited


def assert_proved(*ops: Op | str, order: int = 1, budget: float | None = None) -> list[OpAudit]:
    """Fail with the audit's report unless every op (a registered name or an ``Op``) is proved and accurate; return the audits.

    "Strict" in the one sense microreg uses everywhere: an inconclusive verdict, or an accuracy the audit
    could not measure, fails too. ``order=2`` also checks second derivatives; ``budget`` is the time limit
    per op in seconds (default: $MICROREG_AUDIT_BUDGET, else the audit's default). Called with no op it
    raises TypeError rather than pass vacuously (``assert_proved(*ops_of("mine"))`` for a plugin that
    registered nothing).
    """
    __tracebackhide__ = True
    if not ops:
        raise TypeError("assert_proved() needs at least one op or op name; assert_proved(*ops_of()) audits every registered op")
    from .audit import audit

    records = audit(ops, order=order, budget=budget)
    failed = [r for r in records if r.fails(strict=True)]
    if failed:
        raise AssertionError("the microreg audit does not prove and find accurate "
                             + ", ".join(f"{r.op} ({r.verdict}, {r.accuracy})" for r in failed)
                             + ":\n" + "\n".join(r.report() for r in failed))
    return records


def ops_of(plugin: str | None = None) -> list[str]:
    """The names of the registered ops, sorted; only those of plugin (its entry-point name) if given."""
    from .plugins import registry

    names = sorted(registry.ops())
    if plugin is None:
        return names
    if plugin not in registry.plugins:
        raise LookupError(f"no plugin named {plugin!r} is loaded; loaded: {', '.join(sorted(registry.plugins))}")
    if registry.plugins[plugin].error:
        raise LookupError(f"plugin {plugin!r} failed to load: {registry.plugins[plugin].error}")
    return [n for n in names if registry.origin(n).name == plugin]
