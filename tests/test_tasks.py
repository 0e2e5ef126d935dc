"""Tests of tasks.py, the script a fresh clone starts with: it says what it does while it installs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


@pytest.fixture
def tasks(monkeypatch, tmp_path, capsys):
    """tasks.py with its .venv in tmp_path (python already there); each pip run recorded, not run, as
    (argv, what was printed since the last one)."""
    spec = importlib.util.spec_from_file_location("tasks", Path(__file__).parents[1] / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").touch()
    monkeypatch.setattr(module, "VENV", tmp_path)
    monkeypatch.setattr(module, "BIN", tmp_path / "bin")
    module.calls = []
    monkeypatch.setattr(module.subprocess, "run", lambda argv, **kw: module.calls.append((argv, capsys.readouterr().out)))
    return module


def test_tasks_says_what_it_installs_and_about_how_long_before_pip_runs(tasks, capsys):
    tasks.setup("test")
    (argv, printed), *_ = tasks.calls
    assert "pip" in argv and "installing microreg[test,plot,notebook]" in printed and "about a minute" in printed
    assert capsys.readouterr().out == "installed\n"


def test_tasks_installs_nothing_and_says_nothing_once_installed(tasks, capsys):
    tasks.setup("demo")
    capsys.readouterr()
    tasks.calls.clear()
    tasks.setup("demo")
    assert tasks.calls == [] and capsys.readouterr().out == ""
