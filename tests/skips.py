"""A pytest hook that folds skips by reason alone: a run without torch and JAX says so in a line per missing
framework, with a count, rather than a line per test module and line that skipped."""

from __future__ import annotations

from collections.abc import Generator

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Generator[None, None, None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and isinstance(report.longrepr, tuple):
        _, _, reason = report.longrepr
        report.longrepr = ("tests", None, reason)  # the summary folds skips of the same (path, line, reason)
