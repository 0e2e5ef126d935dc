"""The test run's summary of skips: one line per reason, whatever the modules and lines that skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_skips_for_one_reason_are_one_summary_line_with_their_count(tmp_path):
    (tmp_path / "conftest.py").write_text("from skips import pytest_runtest_makereport  # noqa: F401\n")
    for module in ("a", "b"):
        (tmp_path / f"test_{module}.py").write_text(
            "import pytest\n\ndef test_one():\n    pytest.skip('no torch here')\n\n\n"
            "def test_two():\n    pytest.skip('no torch here')\n\n\ndef test_three():\n    pytest.skip('no jax here')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert sorted(skipped) == ["SKIPPED [2] tests: no jax here", "SKIPPED [4] tests: no torch here"], done.stdout
