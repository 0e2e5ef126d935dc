"""Pictures: a Value's computation graph (DOT text, ``draw_dot``, SVG, PNG) and the demo's training plots.

``to_dot`` needs nothing. Drawing a graph needs a program that lays it out: Graphviz's ``dot`` where
it is installed, else ``graphviz-pure`` (a self-contained port of it on PyPI, the ``graph`` extra).
In a notebook a Value shows its graph, collapsed past ``max_nodes`` Values; ``set_display`` bounds
it or turns it off. The plots need matplotlib (the ``plot`` extra), imported only when used.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sysconfig
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .plugins import install_hint
from .value import Value, _inputs, _record, postorder

FORMATS = ("svg", "png", "pdf")
# The programs that lay a graph out, in order of preference. graphviz-pure writes svg and png, not pdf.
ENGINES = {"dot": FORMATS, "graphviz-pure": ("svg", "png")}
DISPLAY = {"graphs": True, "max_nodes": 50}  # how a Value shows itself in a notebook; see set_display()


class GraphvizNotFoundError(RuntimeError):
    """No program that lays graphs out is installed: neither Graphviz's ``dot`` nor ``graphviz-pure``."""


class PlotsUnavailableError(ImportError):
    """matplotlib, the optional ``plot`` extra, is not installed."""


def nodes(value: Value, limit: int | None = None) -> list[Value]:
    """Every Value in the graph that produced ``value``, inputs before the nodes computed from them; with
    ``limit``, only the ``limit`` Values nearest to ``value`` (breadth first from it)."""
    if not isinstance(value, Value):
        raise TypeError(f"expected a Value whose graph to draw, got {value!r} ({type(value).__name__})")
    return postorder((value,), None if limit is None else _nearest(value, limit))


def _nearest(value: Value, limit: int) -> set[int]:
    """The ids of the ``limit`` Values of value's graph nearest to it, breadth first (all of them if fewer)."""
    kept = {id(value)}
    queue = deque([value])
    while queue and len(kept) < limit:
        for p in queue.popleft().parents:
            if id(p) not in kept and len(kept) < limit:
                kept.add(id(p))
                queue.append(p)
    return kept


def to_dot(value: Value, rankdir: str = "LR", max_nodes: int | None = None) -> str:
    """The graph that produced ``value`` in Graphviz's DOT language.

    Each Value is a box with its label (if any), data and grad; each op is an oval named after it
    (with its static parameters, e.g. ``pow n=2``) feeding the Value it made; an edge into an op of
    several inputs is marked with the input's name (``x``, ``y``; ``wx[0]``, ... for a variadic op),
    since ``a - b`` is not ``b - a``. Constants in an expression (the 2 in ``2 * a``) appear as plain
    text. With ``max_nodes``, only that many Values nearest to ``value`` are drawn, and a ``⋯`` stands
    for the graph behind each input left out.
    """
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"rankdir must be one of LR, TB, RL, BT, got {rankdir!r}")
    if max_nodes is not None and (not isinstance(max_nodes, int) or max_nodes < 1):
        raise ValueError(f"max_nodes must be a positive int or None, got {max_nodes!r}")
    graph = nodes(value, max_nodes)
    ids = {id(v): f"v{i}" for i, v in enumerate(graph)}
    lines = ["digraph microreg {", f"  rankdir={rankdir};", '  node [fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=9];']
    others, cut = 0, False  # nodes that are not Values: constants, and the ⋯ of a collapsed graph
    for v in graph:
        vid = ids[id(v)]
        fields = [_esc(v.label)] if v.label else []
        fields += [f"data {_esc(_fmt(v.data))}", f"grad {_esc(_fmt(v.grad))}"]
        lines.append(f'  {vid} [shape=record, label="{{ {" | ".join(fields)} }}"];')
        if not v.op:
            continue
        params = "".join(f" {k}={_fmt(p)}" for k, p in v.params.items())
        lines.append(f'  {vid}_op [shape=ellipse, label="{_esc(v.op + params)}"];')
        lines.append(f"  {vid}_op -> {vid};")
        inputs = _inputs(v)
        names = _record(v).inputs
        for name, x in zip(names, inputs):
            edge = f' [label="{_esc(name)}"]' if len(inputs) > 1 else ""
            if id(x) in ids:
                lines.append(f"  {ids[id(x)]} -> {vid}_op{edge};")
            else:
                cut |= isinstance(x, Value)
                text = "⋯" if isinstance(x, Value) else _esc(_fmt(x))
                lines.append(f'  c{others} [shape=plaintext, label="{text}"];')
                lines.append(f"  c{others} -> {vid}_op{edge};")
                others += 1
    if cut:
        lines.append(f'  label="the {max_nodes} Values nearest to the output; ⋯ stands for the rest '
                     '(microreg.viz.draw_dot(value) draws them all)"; fontname="Helvetica"; fontsize=10;')
    lines.append("}")
    return "\n".join(lines)


def draw_dot(root: Value, format: str = "svg", rankdir: str = "LR", max_nodes: int | None = None) -> Any:
    """The graph of ``root``, as micrograd's ``draw_dot`` gives it.

    A ``graphviz.Digraph`` where the ``graphviz`` package and Graphviz's ``dot`` are installed (a
    notebook shows it; ``.render()``, ``.view()``, ``.source`` work as in micrograd); otherwise a
    ``Drawing`` of the same graph: its DOT text, shown as SVG in a notebook where ``graphviz-pure`` (the
    ``graph`` extra) can lay it out. ``max_nodes`` draws only the Values nearest to root.
    """
    source = to_dot(root, rankdir, max_nodes)
    try:
        import graphviz
    except ImportError:
        graphviz = None
    if graphviz is not None and shutil.which("dot"):
        drawing = graphviz.Digraph("microreg", format=format)
        drawing.body += [line + "\n" for line in source.splitlines()[1:-1]]
        return drawing
    return Drawing(source, format)


class Drawing:
    """A graph as DOT text (``source``, also its repr), drawn by whichever layout program is installed.

    ``pipe()`` gives the picture's bytes, ``render()`` writes it, and a notebook shows it as SVG (as
    the text, with a warning saying what to install, where no layout program is installed).
    """

    def __init__(self, source: str, format: str = "svg") -> None:
        if format not in FORMATS:
            raise ValueError(f"a Drawing is drawn as {', '.join(FORMATS)}, got format={format!r}")
        self.source, self.format = source, format

    def __repr__(self) -> str:
        return self.source

    def pipe(self, format: str | None = None) -> bytes:
        """The picture, as the bytes of an svg, png or pdf file."""
        return _dot(self.source, format or self.format)

    def render(self, filename: str | Path = "graph", format: str | None = None) -> str:
        """Write the picture to ``filename.<format>`` and return that path (as graphviz's render does)."""
        path = f"{filename}.{format or self.format}"
        Path(path).write_bytes(self.pipe(format))
        return path

    def _repr_svg_(self) -> str | None:
        return _svg_or_warn(self.source)


def render(value: Value, path: str | Path, format: str | None = None) -> Path:
    """Draw the graph of ``value`` to ``path``; the format (svg, png, pdf) is the path's suffix unless given.
    Raises GraphvizNotFoundError where no layout program is installed (or, for pdf, no Graphviz)."""
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ValueError(f"render() draws {', '.join(FORMATS)}; give a path ending in one of them or format=, got {str(path)!r}")
    path.write_bytes(_dot(to_dot(value), fmt))
    return path


def svg(value: Value, max_nodes: int | None = None) -> str | None:
    """The graph of ``value`` as SVG text (the ``max_nodes`` Values nearest to it, if given), or None, with a
    warning saying what to install, where no layout program is installed."""
    return _svg_or_warn(to_dot(value, max_nodes=max_nodes))


def set_display(graphs: bool = True, max_nodes: int = 50) -> None:
    """How a Value shows itself in a notebook: its graph, collapsed to the ``max_nodes`` Values nearest to it
    (a loss over a model is thousands of nodes), or, with ``graphs=False``, its text repr only."""
    if not isinstance(max_nodes, int) or max_nodes < 1:
        raise ValueError(f"max_nodes must be a positive int, got {max_nodes!r}")
    DISPLAY.update(graphs=bool(graphs), max_nodes=max_nodes)


def notebook_svg(value: Value) -> str | None:
    """What a notebook shows for a Value (``Value._repr_svg_``): its bounded graph, or None (the text repr)."""
    return svg(value, DISPLAY["max_nodes"]) if DISPLAY["graphs"] else None


def _svg_or_warn(source: str) -> str | None:
    try:
        return _dot(source, "svg").decode()
    except GraphvizNotFoundError as exc:
        warnings.warn(str(exc), stacklevel=3)
        return None


def engine(fmt: str = "svg") -> str | None:
    """The path of the program that lays graphs out in format ``fmt``: Graphviz's ``dot`` on PATH, else
    ``graphviz-pure`` on PATH or beside this Python (a notebook kernel may not have its scripts on PATH)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), sysconfig.get_path("scripts")])
    for name, formats in ENGINES.items():
        exe = shutil.which(name, path=path)
        if exe and fmt in formats:
            return exe
    return None


def _dot(source: str, fmt: str) -> bytes:
    exe = engine(fmt)
    if exe is None:
        needs = "Graphviz's `dot` program" if fmt not in ENGINES["graphviz-pure"] else "a program that lays graphs out"
        raise GraphvizNotFoundError(
            f"drawing a graph as {fmt} needs {needs}, and none is installed: {install_hint('graph')} "
            "(graphviz-pure, a self-contained port of Graphviz), or install Graphviz itself (apt-get install graphviz, "
            "brew install graphviz, conda install graphviz); microreg.viz.to_dot(value) gives the DOT text without either")
    done = subprocess.run([exe, f"-T{fmt}"], input=source.encode(), capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(exe).name} failed (exit {done.returncode}): {done.stderr.decode().strip()}")
    return done.stdout


def _fmt(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"array{x.shape} in [{x.min():.4g}, {x.max():.4g}]" if x.size else f"array{x.shape}"
    return f"{x:.4g}" if isinstance(x, float | int) else str(x)


def _esc(text: str) -> str:
    """text made safe inside a double-quoted DOT record label."""
    return re.sub(r'([\\{}|<>"])', r"\\\1", " ".join(str(text).splitlines()))


def _figure(figsize: tuple[float, float]) -> Any:
    """A matplotlib Figure on the Agg canvas, without pyplot (no global state, no display needed)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotsUnavailableError(f"the plots need matplotlib: {install_hint('plot')}") from None
    fig = Figure(figsize=figsize, dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_loss(losses: Sequence[float], path: str | Path, accuracy: Sequence[float] | None = None,
              ylabel: str = "training loss", title: str = "Training") -> Path:
    """The loss per epoch (and, if given, the accuracy per epoch on a second axis) as an image at ``path``."""
    if not len(losses):
        raise ValueError("plot_loss needs at least one loss value")
    fig = _figure((6.4, 4.0))
    ax = fig.subplots()
    epochs = np.arange(1, len(losses) + 1)
    ax.plot(epochs, losses, color="tab:blue", label=ylabel)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel, color="tab:blue")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if accuracy is not None:
        acc = ax.twinx()
        acc.plot(epochs, np.asarray(accuracy) * 100, color="tab:orange", label="training accuracy")
        acc.set_ylabel("training accuracy (%)", color="tab:orange")
        acc.set_ylim(0, 101)
    ax.set_title(title)
    fig.savefig(path)
    return Path(path)


def plot_decision_boundary(predict: Callable[[np.ndarray], np.ndarray], X: np.ndarray, y: np.ndarray, path: str | Path,
                           threshold: float = 0.0, title: str = "Decision regions", resolution: int = 300) -> Path:
    """The points ``X`` coloured by label ``y`` (0 or 1) over the regions where the model says 0 or 1.

    ``predict`` maps an (M, 2) array of points to M scores (it is called on chunks of a grid); a score
    above ``threshold`` means class 1.
    The line where the score equals the threshold, the decision boundary, is drawn in black.
    """
    X, y = np.asarray(X, dtype=float), np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2 or y.shape != (len(X),) or not np.isin(y, (0, 1)).all():
        raise ValueError("plot_decision_boundary draws 2-d points: X of shape (N, 2) and labels y (0 or 1) of shape (N,), "
                         f"got {X.shape} and {y.shape} with labels {np.unique(y)[:5].tolist()}")
    fig = _figure((6.4, 5.4))
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    ax = fig.subplots()
    lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    # in chunks: a batch graph holds every intermediate array until it is freed, 90,000 points would take ~0.5 GB
    chunks = np.array_split(grid, -(-len(grid) // 8192))
    scores = np.concatenate([np.asarray(predict(c), dtype=float).reshape(-1) for c in chunks]).reshape(gx.shape)
    shades = ["#c6dbef", "#fdd0a2"]
    regions = ListedColormap(shades)
    ax.contourf(gx, gy, (scores > threshold).astype(float), levels=[-0.5, 0.5, 1.5], cmap=regions)
    ax.contour(gx, gy, scores, levels=[threshold], colors="black", linewidths=1.2)
    for label, colour, marker in ((0, "tab:blue", "o"), (1, "tab:orange", "s")):
        pts = X[y == label]
        ax.scatter(pts[:, 0], pts[:, 1], c=colour, marker=marker, s=22, edgecolors="black", linewidths=0.5,
                   label=f"class {label}: {len(pts)} points")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title)
    ax.set_aspect("equal")
    handles = ax.get_legend_handles_labels()[0]
    handles += [Patch(facecolor=c, edgecolor="grey", label=f"region predicted {k}") for k, c in enumerate(shades)]
    handles += ax.plot([], [], color="black", linewidth=1.2, label="decision boundary")
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=8, frameon=False)
    fig.savefig(path)
    return Path(path)
