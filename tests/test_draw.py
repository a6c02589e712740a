"""Drawings without Graphviz: SVG and TikZ of a graph, annotated with a point's numbers,
the Jupyter hooks, and `graphdiff graph --show`."""

import itertools
import xml.etree.ElementTree as ET

import pytest

import graphdiff as gd
from graphdiff import cli, draw

LOGNORMAL = "-0.5*((y - mu)/sigma)**2 - log(sigma) - 0.5*log(2*pi)"
POINT = {"y": 1.5, "mu": 0.5, "sigma": 2.0}
SVG = "{http://www.w3.org/2000/svg}"


def _edges(g):
    return sum(len(dict.fromkeys(n.args)) for n in g.nodes)


def _svg_texts(svg):
    root = ET.fromstring(svg)
    return root, [t.text for t in root.iter(f"{SVG}text")]


def test_layout_puts_every_user_right_of_its_variable_arguments():
    g = gd.parse(LOGNORMAL)
    pos = draw.layout(g)
    assert set(pos) == {n.index for n in g.nodes}
    for n in g.nodes:
        for a in n.args:
            if g.nodes[a].op != "const":
                assert pos[a][0] < pos[n.index][0]
    # no two nodes share a place
    assert len(set(pos.values())) == len(pos)


def test_svg_has_a_box_per_node_and_an_arrow_per_edge():
    g = gd.parse(LOGNORMAL)
    root, texts = _svg_texts(draw.graph_svg(g))
    assert len(list(root.iter(f"{SVG}rect"))) == len(g.nodes)
    assert len(list(root.iter(f"{SVG}line"))) == _edges(g)
    assert "v4 = v1 - v2" in texts and "v1 = y" in texts


@pytest.mark.parametrize("show, field, accent", [("values", "value", ""),
                                                 ("adjoints", "adjoint", "\u0304"),
                                                 ("tangents", "tangent", "\u0307")])
def test_svg_annotations_are_the_trace_numbers(show, field, accent):
    g = gd.parse(LOGNORMAL)
    t = gd.trace(g, {"sigma": 1.0}, **POINT)
    root, _ = _svg_texts(draw.graph_svg(g, t, show))
    notes = [e.text for e in root.iter(f"{SVG}text") if e.get("fill") != "#000000"]
    assert len(notes) == len(t.rows)
    for r in t.rows:
        note = next(s for s in notes if s.startswith(f"v{accent}{r.name[1:]} = "))
        assert float(note.split(" = ")[1]) == pytest.approx(float(getattr(r, field)), rel=1e-3)
    assert t["sigma"].adjoint == pytest.approx(-0.375)  # the lecture's v̄3


def test_tikz_has_a_node_per_node_an_arrow_per_edge_and_latex_labels():
    g = gd.parse(LOGNORMAL)
    t = gd.trace(g, **POINT)
    tikz = draw.graph_tikz(g, t, "adjoints")
    assert tikz.count(r"\node[") == len(g.nodes)
    assert tikz.count(r"\draw[->]") == _edges(g)
    assert r"$\bar{v}_3 = -0.375$" in tikz and r"$v_{10} = v_9 - (0.5 \log 2\pi)$" in tikz
    assert tikz.count("{") == tikz.count("}")
    doc = draw.graph_tikz(g, standalone=True)
    assert doc.startswith(r"\documentclass") and doc.rstrip().endswith(r"\end{document}")


def test_jupyter_shows_the_drawing_beside_the_table():
    g = gd.parse("x1*x2 + sin(x1)")
    html = g._repr_html_()
    assert "<svg" in html and "<table" in html and "<?xml" not in html
    assert g._repr_svg_().startswith("<?xml")
    big = gd.parse(" + ".join(f"sin(x{i})" for i in range(250)))
    assert big._repr_svg_() is None and "<svg" not in big._repr_html_()


def _run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_draws_adjoints_in_svg_and_tikz(capsys, tmp_path):
    code, out, _ = _run(capsys, "graph", LOGNORMAL, "--at", "y=1.5", "mu=0.5", "sigma=2",
                        "--show", "adjoints", "--format", "svg")
    assert code == 0 and "v\u03043 = -0.375" in _svg_texts(out)[1]
    path = tmp_path / "g.tex"
    code, _, _ = _run(capsys, "graph", "x1*x2 + sin(x1)", "--at", "x1=2", "x2=3",
                      "--direction", "x1=1", "--show", "tangents", "--standalone",
                      "-o", str(path))
    text = path.read_text()
    assert code == 0 and text.startswith(r"\documentclass")
    assert r"\dot{v}_5 = 2.584" in text  # ∂f/∂x1 = x2 + cos x1 at (2, 3)


def test_cli_draws_values_with_matplotlib(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "g.png"
    code, _, _ = _run(capsys, "graph", "x1*x2 + sin(x1)", "--at", "x1=2", "x2=3",
                      "--show", "values", "-o", str(path))
    assert code == 0 and path.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("argv, message", [
    (["--show", "adjoints"], "missing value for x1, x2 (e.g. --at x1=1 x2=1)"),
    (["--at", "x1=2", "x2=3", "--show", "tangents", "--format", "svg"], "needs --direction"),
    (["--at", "x1=2", "x2=3"], "go with --show"),
    (["--at", "x1=2", "x2=3", "--show", "values", "--format", "dot"], "on a picture"),
    (["--at", "x1=2", "x3=3", "--show", "values", "--format", "svg"], "unknown name 'x3'"),
])
def test_cli_annotation_mistakes_are_one_line(capsys, argv, message):
    code, out, err = _run(capsys, "graph", "x1*x2 + sin(x1)", *argv)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1


def test_activation_figure_titles_fit_and_nothing_is_written_over_the_curves():
    pytest.importorskip("matplotlib")
    from graphdiff.plot import _pyplot, plot_activations

    fig = plot_activations()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    drawn = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    assert len(drawn) == len(gd.activations())
    titles = []
    for ax in drawn:
        assert len(ax.texts) == 0 and ax.get_legend() is None  # no label inside a plot
        box = ax.title.get_window_extent(renderer)
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and box.y1 <= page.y1, \
            ax.title.get_text()
        titles.append(box)
    for a, b in itertools.pairwise(titles):  # neighbours' titles do not run into each other
        if abs(a.y0 - b.y0) < 1:
            assert a.x1 < b.x0
    assert len(fig.legends) == 1  # one legend for the whole figure, above the plots
    _pyplot().close(fig)


def test_svg_boxes_neither_overlap_nor_leave_the_picture():
    from graphdiff import nn

    for g in (gd.parse(LOGNORMAL), nn.MLP([2, 3, 1]).graph):
        root = ET.fromstring(draw.graph_svg(g))
        width, height = float(root.get("width")), float(root.get("height"))
        boxes = [tuple(float(r.get(k)) for k in ("x", "y", "width", "height"))
                 for r in root.iter(f"{SVG}rect")]
        for x, y, w, h in boxes:
            assert 0 <= x and x + w <= width and 0 <= y and y + h <= height
        for k, (x, y, w, h) in enumerate(boxes):
            for (u, v, p, q) in boxes[k + 1:]:
                assert x + w <= u or u + p <= x or y + h <= v or v + q <= y


def _edges_and_crosses(ax):
    edges = [ln for ln in ax.lines if ln.get_color() == "0.6"]
    crosses = [ln for ln in ax.lines if ln.get_color() == "tab:red"]
    return len(edges), len(crosses)


def test_network_diagram_of_a_model_and_of_a_thinned_network():
    pytest.importorskip("matplotlib")
    import numpy as np

    from graphdiff import nn
    from graphdiff.nn import plots

    model = nn.MLP([2, 5, 5, 1])
    fig = model.diagram()
    ax = fig.axes[0]
    assert _edges_and_crosses(ax) == (2 * 5 + 5 * 5 + 5 * 1, 0)
    names = [t.get_text() for t in ax.texts]
    assert "$x_{i1}$" in names and "$y_{j5}$" in names and "$y_{l1}$" in names
    kept = [np.array([1, 0, 1, 1, 0], bool), np.array([0, 1, 1, 1, 1], bool)]
    fig2 = model.diagram(kept=kept, notes={(1, 0): "y = 0.5"})
    ax2 = fig2.axes[0]
    # only units kept on both ends stay connected; each dropped unit is crossed out
    assert _edges_and_crosses(ax2) == (2 * 3 + 3 * 4 + 4 * 1, 2 * 3)
    assert "y = 0.5" in [t.get_text() for t in ax2.texts]
    for f in (fig, fig2):
        plots.pyplot().close(f)
