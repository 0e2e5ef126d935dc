"""A pytest plugin for microreg users and plugin authors (loaded through the ``pytest11`` entry point).

Fixture ``register_op``: ``register_op(op, ...)`` registers ops for the duration of one test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from .op import Op


@pytest.fixture
def register_op() -> Iterator:
    """Register ops only for the calling test: ``register_op(Op("twice", ...))``; removed afterwards."""
    from .value import registry

    with ExitStack() as stack:

        def register(*ops: Op) -> tuple[Op, ...]:
            return stack.enter_context(registry.temporary(*ops))

        yield register
