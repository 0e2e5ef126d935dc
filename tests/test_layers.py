"""The layering rule: every import inside microreg points down the layers drawn in the README's Layout, never up.

The layers are read from the README itself, so the picture a newcomer sees is the rule the suite enforces.
Function-local imports count too; the only exception is the notebook display hook, named below.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "microreg"
EXCEPTIONS = {("value", "viz")}  # Value._repr_svg_, the notebook display hook: a Value draws its own graph


def layers() -> dict[str, float]:
    """Module name -> layer number, from the lines ``  N  a.py b.py ...  description`` of the README's Layout block.

    A module of a subpackage is named by its path (``audit/model.py`` is ``audit.model``, ``audit/__init__.py`` is
    ``audit``), and its layer may be a decimal (5.1): the subpackage's own layers, between the package's.
    """
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Layout", 1)[1].split("```", 2)[1]
    found = {}
    for line in block.splitlines():
        m = re.match(r"\s+(\d(?:\.\d+)?)\s+((?:\S+\.py\s+)+)", line)
        if m:
            for name in m.group(2).split():
                found[module_name(name)] = float(m.group(1))
    return found


def module_name(path: str) -> str:
    """'value.py' -> 'value', 'audit/model.py' -> 'audit.model', 'audit/__init__.py' -> 'audit' (the package's own stays '__init__')."""
    parts = path.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if len(parts) > 1 and parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the package, by the name layers() gives it."""
    return {module_name(str(p.relative_to(PACKAGE))): p for p in PACKAGE.rglob("*.py")}


def imports(path: Path, package: tuple[str, ...] = ()) -> set[str]:
    """The microreg modules a file imports, at module level or inside functions; package is the file's subpackage
    (("audit",) for microreg/audit/run.py), which its relative imports start from."""
    known = set(modules())
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("microreg")):
            base = list(package[:len(package) - node.level + 1]) if node.level else []
            module = [*base, *((node.module or "").removeprefix("microreg").lstrip(".").split(".") if node.module else [])]
            module = [p for p in module if p]
            if node.module:
                found.add(_known(module, known))
            else:  # from . import x, y: modules, or names of the package itself (its __init__)
                found |= {_known([*module, a.name], known) if ".".join([*module, a.name]) in known else
                          _known(module, known) for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {_known(a.name.split(".")[1:], known) for a in node.names if a.name.startswith("microreg.")}
    return found


def _known(parts: list[str], known: set[str]) -> str:
    """The longest prefix of a dotted module path that names a module of the package ('' for the package itself)."""
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in known:
            return ".".join(parts[:n])
    return "__init__" if not parts else parts[0]


def test_the_readme_places_every_module_of_the_package_in_one_layer():
    assert set(layers()) == set(modules()), "add the new module to a layer of the README's Layout (or remove the stale one)"


def test_every_import_points_to_a_lower_layer():
    layer = layers()
    upward = [f"{name} (layer {layer[name]:g}) imports {m} (layer {layer[m]:g})"
              for name, p in sorted(modules().items())
              for m in sorted(imports(p, tuple(p.relative_to(PACKAGE).parent.parts)))
              if m in layer and layer[m] >= layer[name] and (name, m) not in EXCEPTIONS and m != name]
    assert upward == []


def test_the_rule_catches_an_upward_import(tmp_path):
    """The check itself can fail: an engine module importing the CLI, at module level or in a function."""
    source = tmp_path / "value.py"
    source.write_text("from . import op\n\ndef f():\n    from .cli import main\n    import microreg.audit\n"
                      "    from . import __version__\n")
    assert imports(source) == {"op", "cli", "audit", "__init__"}
    layer = layers()
    assert sorted(m for m in imports(source) if layer[m] >= layer["value"]) == ["__init__", "audit", "cli"]


def test_the_rule_follows_relative_imports_inside_a_subpackage(tmp_path):
    """In microreg/audit/, '.' is the audit package and '..' microreg: an early module of it importing a later one is caught."""
    source = tmp_path / "model.py"
    source.write_text("from ..value import apply\nfrom .run import audit\nfrom . import pipeline\nfrom .. import accuracy\n")
    assert imports(source, ("audit",)) == {"value", "audit.run", "audit.pipeline", "accuracy"}
    layer = layers()
    assert sorted(m for m in imports(source, ("audit",)) if layer[m] >= layer["audit.model"]) == ["audit.pipeline", "audit.run"]
