"""Set up a virtual environment in .venv and run the demo, the tests or the benchmarks in it.

    python3 tasks.py demo [ARGS...]    # train on two moons, write plots to out/
    python3 tasks.py test [ARGS...]    # the whole test suite (pytest ARGS...)
    python3 tasks.py bench [ARGS...]   # the benchmarks, side by side with micrograd (--quick: a smoke run)

Needs only Python 3.11+; everything else is installed into .venv (never the system Python).
PyTorch and JAX are optional: the tests that need them skip where .venv lacks them (.ci/run installs both).
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
EXTRAS = {"demo": "plot", "test": "test,plot,notebook", "bench": "bench"}  # the optional dependencies each task needs


def setup(task: str) -> None:
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    stamp = VENV / f".installed-{task}"
    # every task uses the plugins: the tests test them, the demo trains with their activations, the audit
    # benchmark times all their ops; the example first, as the second's tests use both
    plugins = [ROOT / "plugins_example", ROOT / "plugins_torch"]
    sources = [ROOT / "pyproject.toml", *(p / "pyproject.toml" for p in plugins)]
    if stamp.exists() and all(stamp.stat().st_mtime >= p.stat().st_mtime for p in sources if p.exists()):
        return
    print(f"installing microreg[{EXTRAS[task]}] and its plugins into {VENV} for `{task}`: about a minute the first time, "
          "seconds once pip has them cached (pip is quiet until it is done)", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-e", f"{ROOT}[{EXTRAS[task]}]"], check=True)
    for plugin in plugins:
        if plugin.is_dir():
            subprocess.run([*pip, "-e", str(plugin)], check=True)
    stamp.touch()
    print("installed", flush=True)


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
    if task == "bench":
        codes = [subprocess.run([py, str(ROOT / "benchmarks" / f"bench_{name}.py"), *rest], cwd=ROOT).returncode
                 for name in ("engine", "batch", "audit")]
        return max(codes)
    return subprocess.run(commands[task], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
