"""The notebooks in notebooks/, the learner's path: each runs from top to bottom in a fresh kernel (their own
asserts check the lecture's numbers), shows its graphs and plots, and is kept in the repository without outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from microreg import viz

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_the_learners_notebooks_are_there():
    assert [p.name for p in NOTEBOOKS] == ["01_backprop_by_hand.ipynb", "02_custom_activation.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_is_kept_without_outputs(path):
    cells = json.loads(path.read_text())["cells"]
    kept = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and (c["outputs"] or c["execution_count"] is not None)]
    assert kept == [], f"{path.name}: cells {kept} keep outputs; clear them before committing (jupyter nbconvert --clear-output)"


def run(path: Path, cwd: Path) -> list[dict]:
    """Execute the notebook in a fresh kernel of this Python; the outputs of all its code cells."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3", shutdown_kernel="immediate",
                            resources={"metadata": {"path": str(cwd)}}).execute()
    return [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_runs_from_top_to_bottom_with_its_pictures(path, tmp_path):
    outputs = run(path, tmp_path)  # a failing cell raises CellExecutionError, naming it
    pictures = [out["data"] for out in outputs if out["output_type"] in ("display_data", "execute_result")]
    assert any("image/png" in data for data in pictures), "no plot was shown"
    if viz.engine() is not None:
        graphs = [data["image/svg+xml"] for data in pictures if "image/svg+xml" in data]
        assert graphs and all(len(svg) < 200_000 for svg in graphs), [len(svg) for svg in graphs]
    assert list(tmp_path.iterdir()) == [], "a notebook left files where it ran"
