"""`microreg new-plugin NAME`: a ready plugin package, written from the template in microreg/template.

The package: ``pyproject.toml`` with the ``microreg`` entry point, a module with one worked activation (forward,
vjp, a kink, a static parameter, its domain declared), tests running every check of ``microreg.testing``, a GitHub
workflow running them and ``microreg audit --format github``, and a ``.pre-commit-config.yaml`` auditing on each
commit. Installed with ``pip install -e NAME``, its tests pass and ``microreg audit`` proves its op, with no edit.

Template files end in ``.tmpl`` and are ``string.Template`` text (``$name``, ``$dist``, ``$version``); in their paths
``PACKAGE`` is the package's name and a leading ``dot-`` a dot (packaging tools leave dotfiles out).
"""

from __future__ import annotations

import importlib.util
import keyword
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from .plugins import __version__, registry
from .value import RESERVED


def problem(name: str, parent: Path) -> str | None:
    """Why name cannot be a new plugin in folder parent (one line), or None."""
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        return (f"{name!r} is not a valid plugin name: it names the package, its entry point and its op, so it must be a "
                "Python identifier not starting with '_' (letters, digits and '_'; e.g. my_activation)")
    if (parent / name).exists():
        return f"{parent / name} exists; choose another name, or remove it"
    if name in RESERVED:
        return f"{name!r} is a Value attribute (Value.{name}); an op of that name would shadow it"
    if name in registry:
        return f"op {name!r} is registered already, by plugin {registry.origin(name).name!r}; choose another name"
    spec = importlib.util.find_spec(name)
    if spec is not None:
        return f"a module named {name!r} is importable already ({spec.origin or 'a namespace package'}); choose another name"
    return None


def files(name: str) -> dict[str, str]:
    """The package's files, path -> text, for the plugin name."""
    words = {"name": name, "dist": name.replace("_", "-"), "version": __version__ if "unknown" not in __version__ else "0.1"}
    found = {}

    def walk(node: Traversable, path: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            part = child.name.removesuffix(".tmpl").replace("PACKAGE", name)
            part = "." + part.removeprefix("dot-") if part.startswith("dot-") else part
            if child.is_dir():
                walk(child, f"{path}{part}/")
            elif child.name.endswith(".tmpl"):
                found[path + part] = Template(child.read_text()).substitute(words)

    walk(resources.files("microreg") / "template", "")
    return found


def write(name: str, parent: Path) -> Path:
    """Write the plugin package name into a new folder parent/name; ValueError (one line) if it cannot be."""
    why = problem(name, parent)
    if why:
        raise ValueError(why)
    root = parent / name
    for path, text in files(name).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root
