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


def layers() -> dict[str, int]:
    """Module name -> layer number, from the lines ``  N  a.py b.py ...  description`` of the README's Layout block."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Layout", 1)[1].split("```", 2)[1]
    found = {}
    for line in block.splitlines():
        m = re.match(r"\s+(\d)\s+((?:\S+\.py\s+)+)", line)
        if m:
            for name in m.group(2).split():
                found[name.removesuffix(".py")] = int(m.group(1))
    return found


def imports(path: Path) -> set[str]:
    """The microreg modules a file imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.level == 1 or (node.module or "").startswith("microreg")):
            module = (node.module or "").removeprefix("microreg").lstrip(".")
            if module:
                found.add(module.split(".")[0])
            else:  # from . import x, y: modules, or names of the package itself (its __init__)
                found |= {a.name if (PACKAGE / f"{a.name}.py").exists() else "__init__" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("microreg.")}
    return found


def test_the_readme_places_every_module_of_the_package_in_one_layer():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert set(layers()) == modules, "add the new module to a layer of the README's Layout (or remove the stale one)"


def test_every_import_points_to_a_lower_layer():
    layer = layers()
    upward = [f"{p.stem} (layer {layer[p.stem]}) imports {m} (layer {layer[m]})"
              for p in sorted(PACKAGE.glob("*.py")) for m in sorted(imports(p))
              if m in layer and layer[m] >= layer[p.stem] and (p.stem, m) not in EXCEPTIONS and m != p.stem]
    assert upward == []


def test_the_rule_catches_an_upward_import(tmp_path):
    """The check itself can fail: an engine module importing the CLI, at module level or in a function."""
    source = tmp_path / "value.py"
    source.write_text("from . import op\n\ndef f():\n    from .cli import main\n    import microreg.audit\n"
                      "    from . import __version__\n")
    assert imports(source) == {"op", "cli", "audit", "__init__"}
    layer = layers()
    assert sorted(m for m in imports(source) if layer[m] >= layer["value"]) == ["__init__", "audit", "cli"]
