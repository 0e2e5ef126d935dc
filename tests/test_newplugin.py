"""`microreg new-plugin`: the package it writes installs, passes its own tests and is proved by the audit, untouched;
a name it cannot use is a one-line error; the pre-commit hook audits a package from its source tree."""

from __future__ import annotations

import os
import re
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from microreg import cli, newplugin

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # this tree's microreg, whatever the environment has installed


def run(args: list[str], cwd: Path, python: str = sys.executable) -> subprocess.CompletedProcess:
    return subprocess.run([python, *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=900)


def new_plugin(tmp_path: Path, name: str = "kit_act") -> Path:
    result = run(["-m", "microreg", "new-plugin", name], tmp_path)
    assert result.returncode == 0, result.stderr
    return tmp_path / name


def test_the_new_plugin_installed_with_pip_install_e_passes_its_tests_and_the_audit_untouched(tmp_path):
    """Installed into a fresh virtual environment that sees this one's packages (pip, pytest, numpy, ...) through a
    .pth line, so that nothing is downloaded and this environment is left as it was."""
    plugin = new_plugin(tmp_path)
    env = tmp_path / "venv"
    venv.create(env, with_pip=False)
    python = str(env / "bin" / "python")
    fresh = run(["-c", "import site; print(site.getsitepackages()[0])"], tmp_path, python).stdout.strip()
    Path(fresh, "_parent.pth").write_text("".join(f"import site; site.addsitedir({d!r})\n" for d in site.getsitepackages()))
    installed = run(["-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-build-isolation", "-e", str(plugin)],
                    tmp_path)
    assert installed.returncode == 0, installed.stderr

    tests = run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"], plugin, python)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert re.search(r"\b13 passed\b", tests.stdout), tests.stdout  # the 11 checks of microreg.testing and two of its own
    audit = run(["-m", "microreg", "audit", "--strict", "kit_act"], plugin, python)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert re.search(r"^kit_act +kit_act 0\.1\.0 +proved +accurate", audit.stdout, re.M), audit.stdout


def hook_entry(path: Path) -> list[str]:
    """The command of the first hook of a pre-commit YAML file."""
    (entry,) = re.findall(r"^\s*entry: (.+)$", path.read_text(), re.M)[:1]
    return entry.split()


def test_the_pre_commit_hook_audits_the_package_from_its_source_tree_and_fails_a_wrong_vjp(tmp_path):
    """Run as pre-commit runs it, in the package's folder, in an environment where the package is not installed."""
    plugin = new_plugin(tmp_path)
    command = hook_entry(ROOT / ".pre-commit-hooks.yaml")
    assert command == hook_entry(plugin / ".pre-commit-config.yaml") == ["microreg", "audit", "--strict", "--project", "."]
    proved = run(["-m", *command], plugin)
    assert proved.returncode == 0 and re.search(r"^kit_act +kit_act +proved +accurate", proved.stdout, re.M), proved.stdout
    module = plugin / "kit_act" / "__init__.py"
    module.write_text(module.read_text().replace("g * alpha * r * r", "g * alpha * r"))
    refuted = run(["-m", *command], plugin)
    assert refuted.returncode == 1 and re.search(r"^kit_act +kit_act +refuted", refuted.stdout, re.M), refuted.stdout


@pytest.mark.parametrize(("name", "says"), [
    ("my-act", "'my-act' is not a valid plugin name: it names the package, its entry point and its op, so it must be a Python identifier"),
    ("class", "'class' is not a valid plugin name"),
    ("_act", "'_act' is not a valid plugin name"),
    ("tanh", "op 'tanh' is registered already, by plugin 'microreg_ops'"),
    ("grad", "'grad' is a Value attribute (Value.grad)"),
    ("numpy", "a module named 'numpy' is importable already"),
])
def test_a_name_it_cannot_use_is_a_one_line_error_and_nothing_is_written(tmp_path, monkeypatch, capsys, name, says):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["new-plugin", name]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"microreg new-plugin: {says}") and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_exists_is_a_one_line_error_and_is_left_alone(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kit_act").mkdir()
    (tmp_path / "kit_act" / "mine.txt").write_text("keep")
    assert cli.main(["new-plugin", "kit_act"]) == 2
    assert capsys.readouterr().err == f"microreg new-plugin: {tmp_path / 'kit_act'} exists; choose another name, or remove it\n"
    assert [p.name for p in (tmp_path / "kit_act").iterdir()] == ["mine.txt"]


def test_the_package_has_its_module_tests_workflow_and_pre_commit_config_named_after_the_plugin():
    files = newplugin.files("kit_act")
    assert sorted(files) == [".github/workflows/ci.yml", ".gitignore", ".pre-commit-config.yaml", "README.md", "kit_act/__init__.py",
                             "pyproject.toml", "tests/test_kit_act.py"]
    assert 'kit_act = "kit_act"' in files["pyproject.toml"] and 'name = "kit-act"' in files["pyproject.toml"]
    workflow = files[".github/workflows/ci.yml"]
    assert "- run: pytest\n" in workflow and "- run: microreg audit --strict --format github --project .\n" in workflow


def test_the_plugin_guides_five_lines_are_in_the_new_plugins_tests_in_order():
    guide = (ROOT / "docs" / "plugins.md").read_text()
    (block,) = re.findall(r"```python\n(import pytest\nfrom microreg.testing import check_op, checks_of\n.*?)```", guide, re.S)
    lines = [line for line in block.splitlines() if line]
    generated = newplugin.files("my_act")["tests/test_my_act.py"].splitlines()
    assert len(lines) == 5 and [line for line in generated if line in lines] == lines
