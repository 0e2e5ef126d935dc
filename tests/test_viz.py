"""Tests for microreg.viz: DOT text of a graph, rendering through Graphviz, and the training plots."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from microreg import Value, apply, viz
from microreg.nn import MLP
from microreg.plugins import install_hint
from microreg.viz import GraphvizNotFoundError, PlotsUnavailableError, draw_dot, nodes, render, svg, to_dot

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
needs_layout = pytest.mark.skipif(viz.engine() is None, reason="neither Graphviz's dot nor graphviz-pure is installed")
PNG = b"\x89PNG\r\n\x1a\n"


def example() -> tuple[Value, Value, Value]:
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    e = ((a * b + b**2) / 4).tanh()
    e.label = "e"
    e.backward()
    return a, b, e


def test_dot_shows_each_values_label_data_and_grad():
    a, b, e = example()
    dot = to_dot(e)
    assert 'label="{ a | data 2 | grad -0.4474 }"' in dot
    assert 'label="{ b | data -3 | grad -0.5966 }"' in dot
    assert 'label="{ e | data 0.6351 | grad 1 }"' in dot


def test_dot_has_one_oval_per_op_with_static_parameters():
    _, _, e = example()
    ops = re.findall(r'shape=ellipse, label="([^"]*)"', to_dot(e))
    assert sorted(ops) == sorted(["mul", "pow n=2", "add", "div", "tanh"])


def test_dot_names_the_inputs_of_two_input_ops_and_shows_constants():
    x = Value(5.0, label="x")
    dot = to_dot(1.0 - x)
    assert re.search(r'c0 \[shape=plaintext, label="1"\];\n  c0 -> v1_op \[label="x"\];', dot)
    assert 'v0 -> v1_op [label="y"];' in dot


def test_dot_edges_connect_every_input_to_its_op():
    _, _, e = example()
    dot = to_dot(e)
    edges = re.findall(r"^  (\w+) -> (\w+)", dot, flags=re.M)
    assert len(edges) == 5 + 8  # one op -> value edge per op; mul 2, pow 1, add 2, div 2 (one constant), tanh 1


def test_nodes_lists_inputs_before_the_values_computed_from_them():
    a, b, e = example()
    order = nodes(e)
    position = {id(v): i for i, v in enumerate(order)}
    assert len(order) == 7 and order[-1] is e
    assert all(position[id(p)] < position[id(v)] for v in order for p in v.parents)


def test_a_value_used_twice_appears_once():
    a = Value(1.5)
    dot = to_dot(a * a)
    assert dot.count("data 1.5") == 1
    assert "v0 -> v1_op [label=\"x\"];" in dot and "v0 -> v1_op [label=\"y\"];" in dot


def test_labels_with_dot_syntax_are_escaped():
    v = Value(1.0, label='w{1}|<"x">')
    assert r'label="{ w\{1\}\|\<\"x\"\> | data 1 | grad 0 }"' in to_dot(v)


def test_array_values_show_shape_and_range():
    v = Value(np.array([1.0, -2.0, 3.0]), label="batch")
    assert "data array(3,) in [-2, 3]" in to_dot(v.tanh())


def test_a_deep_graph_needs_no_recursion():
    v = Value(1.0)
    for _ in range(5000):
        v = v * 1.0
    assert to_dot(v).count("shape=ellipse") == 5000


def test_every_registered_op_is_drawn(op_case):
    op, params = op_case
    name = op.name
    inputs = [Value(0.7, label=f"in{i}") for i in range(op.arity)]
    out = apply(op, tuple(inputs), params)
    out.backward()
    dot = to_dot(out)
    shown = name + "".join(f" {k}={viz._fmt(v)}" for k, v in params.items())
    assert f'shape=ellipse, label="{shown}"' in dot
    for i in range(op.arity):
        assert f"in{i} | data 0.7 | grad " in dot
    assert dot.count(" -> v") - dot.count("_op -> ") == op.arity


def test_to_dot_rejects_non_values():
    with pytest.raises(TypeError, match="expected a Value whose graph to draw, got 3.0"):
        to_dot(3.0)


def test_bad_rankdir_is_named():
    with pytest.raises(ValueError, match="rankdir must be one of"):
        to_dot(Value(1.0), rankdir="up")


def test_render_rejects_unknown_formats(tmp_path):
    with pytest.raises(ValueError, match="render\\(\\) draws svg, png, pdf"):
        render(Value(1.0), tmp_path / "graph.gif")


@pytest.fixture
def programs(monkeypatch):
    """programs(name, ...): only these layout programs are installed (names from viz.ENGINES), at fake paths."""
    def install(*names: str) -> None:
        monkeypatch.setattr(viz.shutil, "which", lambda name, path=None: f"/opt/{name}" if name in names else None)

    return install


def test_without_a_layout_program_render_says_what_to_install(tmp_path, programs):
    programs()
    with pytest.raises(GraphvizNotFoundError) as info:
        render(Value(1.0), tmp_path / "graph.svg")
    assert install_hint("graph") in str(info.value) and "graphviz-pure" in str(info.value)
    assert "install Graphviz itself" in str(info.value) and "to_dot(value)" in str(info.value)
    assert not (tmp_path / "graph.svg").exists()


def test_without_a_layout_program_svg_warns_and_returns_none(programs):
    programs()
    with pytest.warns(UserWarning, match="graphviz-pure"):
        assert svg(Value(1.0)) is None


def test_graphviz_dot_is_preferred_and_graphviz_pure_draws_without_it(programs):
    programs("dot", "graphviz-pure")
    assert viz.engine("svg") == viz.engine("pdf") == "/opt/dot"
    programs("graphviz-pure")
    assert (viz.engine("svg"), viz.engine("png"), viz.engine("pdf")) == ("/opt/graphviz-pure", "/opt/graphviz-pure", None)


def test_a_pdf_without_graphviz_says_it_needs_graphviz(tmp_path, programs):
    programs("graphviz-pure")
    with pytest.raises(GraphvizNotFoundError, match="as pdf needs Graphviz's `dot` program"):
        render(Value(1.0), tmp_path / "graph.pdf")


@pytest.mark.skipif(shutil.which("graphviz-pure", path=sysconfig.get_path("scripts")) is None, reason="graphviz-pure is not installed")
@pytest.mark.parametrize("fmt, magic", [("svg", b"<?xml"), ("png", PNG)])
def test_graphviz_pure_draws_the_graph_without_graphviz(monkeypatch, fmt, magic):
    monkeypatch.setattr(viz, "ENGINES", {"graphviz-pure": viz.ENGINES["graphviz-pure"]})
    assert viz.engine(fmt).endswith("graphviz-pure")
    _, _, e = example()
    picture = viz._dot(to_dot(e), fmt)
    assert picture.startswith(magic)
    if fmt == "svg":
        assert ">tanh<" in picture.decode() and ">grad 0.1491<" in picture.decode()


def chain(n: int) -> Value:
    v = Value(0.0, label="x")
    for _ in range(n - 1):
        v = v + 1.0
    v.label = "out"
    return v


def test_a_large_graph_is_collapsed_to_the_values_nearest_the_output():
    dot = to_dot(chain(20), max_nodes=10)
    assert dot.count("shape=record") == 10 and "label=\"{ out | data 19 " in dot and "{ x |" not in dot
    assert dot.count('label="⋯"') == 1
    assert 'label="the 10 Values nearest to the output; ⋯ stands for the rest' in dot


def test_a_graph_within_the_bound_is_drawn_whole():
    _, _, e = example()
    assert to_dot(e, max_nodes=7) == to_dot(e) and "⋯" not in to_dot(e)


def test_the_bound_keeps_every_value_nearer_than_the_ones_left_out():
    a = Value(1.0, label="a")
    deep = chain(30)
    out = a * deep  # a is one step from out, the chain's start thirty
    kept = nodes(out, limit=5)
    assert a in kept and out in kept and len(kept) == 5
    assert sorted(v.data for v in kept if v is not a and v is not out) == [27.0, 28.0, 29.0]


@pytest.mark.parametrize("bad", [0, -1, 2.5, "10"])
def test_a_bad_bound_is_refused(bad):
    with pytest.raises(ValueError, match="max_nodes must be a positive int"):
        to_dot(Value(1.0), max_nodes=bad)
    with pytest.raises(ValueError, match="max_nodes must be a positive int"):
        viz.set_display(max_nodes=bad)


def four_point_loss() -> Value:
    """The loss of micrograd's four-point example, MLP 3-4-4-1 with tanh, as micrograd builds it: 345 Values."""
    model = MLP(3, [4, 4, 1], activation="tanh", output_activation="tanh", seed=0, graph="ops")
    xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
    loss = sum((model(x) - y) ** 2 for x, y in zip(xs, [1.0, -1.0, -1.0, 1.0]))
    loss.backward()
    return loss


@needs_layout
def test_a_value_shows_its_graph_in_a_notebook_bounded():
    _, _, e = example()
    assert e._repr_svg_() == svg(e)
    loss = four_point_loss()
    assert len(nodes(loss)) == 345
    shown = loss._repr_svg_()
    assert shown.count(">grad ") == viz.DISPLAY["max_nodes"] == 50 and "⋯" in shown
    assert len(shown) < len(svg(loss)) / 4


def test_drawing_in_a_notebook_can_be_turned_off_and_bounded(monkeypatch):
    monkeypatch.setattr(viz, "DISPLAY", dict(viz.DISPLAY))
    viz.set_display(graphs=False)
    assert chain(3)._repr_svg_() is None
    viz.set_display(max_nodes=2)
    monkeypatch.setattr(viz, "_dot", lambda source, fmt: source.encode())  # the DOT the notebook would draw
    assert viz.notebook_svg(chain(3)) == to_dot(chain(3), max_nodes=2)


needs_graphviz_package = pytest.mark.skipif(importlib.util.find_spec("graphviz") is None or shutil.which("dot") is None,
                                            reason="the graphviz package or Graphviz's dot is not installed")


@needs_graphviz_package
def test_draw_dot_gives_a_graphviz_digraph_as_micrograd_does():
    import graphviz

    _, _, e = example()
    drawing = draw_dot(e)
    assert isinstance(drawing, graphviz.Digraph) and drawing.format == "svg"
    assert drawing.source.splitlines()[1:-1] == to_dot(e).splitlines()[1:-1]
    picture = drawing.pipe(format="svg").decode()
    assert ">tanh<" in picture and ">grad 0.1491<" in picture


@pytest.mark.parametrize("missing", ["graphviz package", "dot program"])
def test_draw_dot_without_graphviz_gives_the_dot_text_as_a_drawing(monkeypatch, missing):
    if missing == "graphviz package":
        monkeypatch.setitem(sys.modules, "graphviz", None)
    else:
        monkeypatch.setattr(viz.shutil, "which", lambda name, path=None: None)
    _, _, e = example()
    drawing = draw_dot(e, max_nodes=3)
    assert type(drawing) is viz.Drawing and repr(drawing) == drawing.source == to_dot(e, max_nodes=3)


@needs_layout
def test_a_drawing_shows_itself_and_renders_like_a_graphviz_digraph(tmp_path):
    _, _, e = example()
    drawing = viz.Drawing(to_dot(e))
    assert ">tanh<" in drawing._repr_svg_()
    assert Path(drawing.render(tmp_path / "graph", format="png")).read_bytes().startswith(PNG)
    assert drawing.render(tmp_path / "graph") == f"{tmp_path / 'graph'}.svg"


def test_a_drawing_in_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="a Drawing is drawn as svg, png, pdf"):
        viz.Drawing("digraph {}", format="gif")


@needs_layout
@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".png", PNG)])
def test_render_writes_the_format_of_the_suffix(tmp_path, suffix, magic):
    _, _, e = example()
    path = render(e, tmp_path / f"graph{suffix}")
    assert path.read_bytes().startswith(magic)


@needs_dot
def test_render_writes_a_pdf_with_graphviz(tmp_path):
    _, _, e = example()
    assert render(e, tmp_path / "graph.pdf").read_bytes().startswith(b"%PDF")


@needs_layout
def test_svg_contains_the_nodes():
    _, _, e = example()
    text = svg(e)
    assert "<svg" in text and ">tanh<" in text and ">grad 0.1491<" in text


def test_plot_loss_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = viz.plot_loss([0.7, 0.5, 0.2], tmp_path / "loss.png", accuracy=[0.5, 0.8, 1.0])
    assert path.read_bytes().startswith(PNG)


def test_plot_decision_boundary_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    y = np.array([0, 1, 1, 0])
    path = viz.plot_decision_boundary(lambda pts: pts[:, 1] - 0.5, X, y, tmp_path / "b.png", resolution=20)
    assert path.read_bytes().startswith(PNG)


@pytest.mark.parametrize("X, y", [(np.zeros((4, 3)), np.zeros(4)), (np.zeros((4, 2)), np.zeros(3)), (np.zeros((2, 2)), np.array([0, 2]))])
def test_plot_decision_boundary_rejects_bad_shapes_and_labels(tmp_path, X, y):
    with pytest.raises(ValueError, match="plot_decision_boundary draws 2-d points"):
        viz.plot_decision_boundary(lambda pts: pts[:, 0], X, y, tmp_path / "b.png")


def test_plots_without_matplotlib_say_how_to_get_it(tmp_path, no_matplotlib):
    with pytest.raises(PlotsUnavailableError, match=re.escape(f"the plots need matplotlib: {install_hint('plot')}")):
        viz.plot_loss([1.0], tmp_path / "loss.png")
