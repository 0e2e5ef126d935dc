"""Set up a virtual environment in .venv and run the demo, the tests or the benchmarks in it.

    python3 tasks.py demo [ARGS...]    # train on two moons, write plots to out/
    python3 tasks.py test [ARGS...]    # the whole test suite (pytest ARGS...)
    python3 tasks.py bench [ARGS...]   # the benchmarks, side by side with micrograd (--quick: a smoke run)
    python3 tasks.py dist              # wheels and sdists in dist/, checked, type-checked, installed and run outside the clone

Needs only Python 3.11+; everything else is installed into .venv (never the system Python).
PyTorch and JAX are optional: the tests that need them skip where .venv lacks them (.ci/run installs both).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
EXTRAS = {"demo": "plot", "test": "test,plot,notebook", "bench": "bench", "dist": "dist"}  # the optional dependencies each task needs
# every task uses the plugins: the tests test them, the demo trains with their activations, the audit benchmark
# times all their ops, dist ships them; the example first, as the second's tests use both
PLUGINS = [ROOT / "plugins_example", ROOT / "plugins_torch"]


def setup(task: str) -> None:
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    stamp = VENV / f".installed-{task}"
    sources = [ROOT / "pyproject.toml", *(p / "pyproject.toml" for p in PLUGINS)]
    if stamp.exists() and all(stamp.stat().st_mtime >= p.stat().st_mtime for p in sources if p.exists()):
        return
    print(f"installing microreg[{EXTRAS[task]}] and its plugins into {VENV} for `{task}`: about a minute the first time, "
          "seconds once pip has them cached (pip is quiet until it is done)", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-e", f"{ROOT}[{EXTRAS[task]}]"], check=True)
    for plugin in PLUGINS:
        if plugin.is_dir():
            subprocess.run([*pip, "-e", str(plugin)], check=True)
    stamp.touch()
    print("installed", flush=True)


def dist(py: str) -> int:
    """Build a wheel and an sdist of microreg and of each plugin into dist/ and check their metadata (twine); type-check
    the public API (mypy, configured in pyproject.toml); then, in a fresh virtual environment outside the clone, install
    the wheels (their dependencies from the package index) and run what a user would: `microreg --version` (the
    version pyproject.toml gives), `microreg audit`, a short `microreg demo`, and tests/test_typed_api.py under pytest
    and mypy --strict, which sees microreg's types only through the wheel's py.typed. Stops at the first failure."""
    out = ROOT / "dist"
    shutil.rmtree(out, ignore_errors=True)
    for project in (ROOT, *PLUGINS):
        subprocess.run([py, "-m", "build", "--outdir", str(out), str(project)], check=True)
    subprocess.run([py, "-m", "twine", "check", "--strict", *map(str, sorted(out.iterdir()))], check=True)
    subprocess.run([py, "-m", "mypy"], cwd=ROOT, check=True)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    with tempfile.TemporaryDirectory(prefix="microreg-dist-") as tmp:
        where = Path(tmp)
        venv.create(where / "venv", with_pip=True)
        bin_ = where / "venv" / BIN.name
        wheels = sorted(str(w) for w in out.glob("*.whl"))
        subprocess.run([str(bin_ / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *wheels,
                        "pytest", "hypothesis", "mypy"], check=True)
        shown = subprocess.run([str(bin_ / "microreg"), "--version"], cwd=where, capture_output=True, text=True, check=True).stdout
        if shown.strip() != f"microreg {version}":
            print(f"microreg --version says {shown.strip()!r}; pyproject.toml says {version}", file=sys.stderr)
            return 1
        shutil.copy(ROOT / "tests" / "test_typed_api.py", where)
        for command in (["microreg", "audit"], ["microreg", "demo", "--epochs", "20", "--out", "out"],
                        ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_typed_api.py"],
                        ["python", "-m", "mypy", "--strict", "--no-incremental", "test_typed_api.py"]):
            print(f"$ {' '.join(command)}  (in {where})", flush=True)
            subprocess.run([str(bin_ / command[0]), *command[1:]], cwd=where, check=True)
        if not (where / "out" / "metrics.json").is_file():
            print("microreg demo wrote no metrics.json", file=sys.stderr)
            return 1
    print(f"dist: {', '.join(p.name for p in sorted(out.iterdir()))}: checked, installed and run outside the clone")
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in EXTRAS:
        print(__doc__)
        return 2
    task, rest = argv[0], argv[1:]
    if sys.version_info < (3, 11):  # noqa: UP036 - tasks.py may be started by an older system Python
        print(f"microreg needs Python 3.11 or newer; this is {sys.version.split()[0]}", file=sys.stderr)
        return 2
    setup(task)
    py = str(BIN / "python")
    commands = {
        "demo": [str(BIN / "microreg"), "demo", *(rest or ["--out", str(ROOT / "out")])],
        "test": [py, "-m", "pytest", *rest],
    }
    if task == "dist":
        try:
            return dist(py)
        except subprocess.CalledProcessError as exc:
            print(f"tasks.py dist: {' '.join(map(str, exc.cmd))} failed (exit code {exc.returncode})", file=sys.stderr)
            return 1
    if task == "bench":
        codes = [subprocess.run([py, str(ROOT / "benchmarks" / f"bench_{name}.py"), *rest], cwd=ROOT).returncode
                 for name in ("engine", "batch", "audit", "repair")]
        return max(codes)
    return subprocess.run(commands[task], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
