"""Drawings of a graph without Graphviz or matplotlib: the layered layout, node labels
(optionally with a point's values, tangents or adjoints from a Trace), SVG and TikZ.
Reads graphs and traces; computes no math of its own.
"""

from __future__ import annotations

from html import escape
from typing import Any

from .graph import Graph
from .render import LATEX, TEXT, Notation, format_value, node_labels
from .render import graph_html as table_html

__all__ = ["COLORS", "MAX_DRAWN_NODES", "SHOW", "annotations", "check_drawable", "graph_html",
           "graph_svg", "graph_tikz", "kind", "labels", "layers", "layout"]

SHOW = ("values", "tangents", "adjoints")
MAX_DRAWN_NODES = 400  # beyond this a drawing is unreadable; DOT output still works
_FIELD = {"values": "value", "tangents": "tangent", "adjoints": "adjoint"}
# what the annotation line is called, in the lecture's notation (v, v̇ = ∂v/∂x, v̄ = ∂f/∂v)
_SYMBOL = {"values": ("", ""), "tangents": ("\u0307", r"\dot"), "adjoints": ("\u0304", r"\bar")}

# (fill, stroke) by kind of node, shared by the SVG, the TikZ and the matplotlib drawing
COLORS = {"input": ("#cfe2f3", "#333333"), "const": ("#eeeeee", "#999999"),
          "op": ("#ffffff", "#333333"), "output": ("#ffe599", "#333333")}


def layers(g: Graph) -> list[int]:
    """The layer of each node: an operation one past its deepest variable argument
    (inputs counted at 0), then an input or a constant one before its earliest user, so
    a weight used deep in a network sits beside its use."""
    nodes = g.nodes
    layer = [0] * len(nodes)
    first_user: list[int | None] = [None] * len(nodes)
    for n in nodes:
        if n.op in ("input", "const"):
            continue
        deep = [layer[a] for a in n.args if nodes[a].op != "const"]
        layer[n.index] = 1 + max(deep, default=0)
        for a in n.args:
            if first_user[a] is None:
                first_user[a] = n.index
    earliest = [min(layer[u] for u in users) if users else 1 for users in _users(g)]
    for n in nodes:
        if n.op == "const" and first_user[n.index] is not None:
            layer[n.index] = max(0, layer[first_user[n.index]] - 1)
        elif n.op == "input":
            layer[n.index] = max(0, earliest[n.index] - 1)
    return layer


def _users(g: Graph) -> list[list[int]]:
    users: list[list[int]] = [[] for _ in g.nodes]
    for n in g.nodes:
        for a in n.args:
            users[a].append(n.index)
    return users


def _mean_height(args: tuple[int, ...], pos: dict, default: int) -> float:
    """Sort key that orders a layer by the mean height of each node's placed arguments,
    which keeps edges from crossing."""
    ys = [pos[a][1] for a in args if a in pos]
    return -sum(ys) / len(ys) if ys else float(default)


def layout(g: Graph) -> dict[int, tuple[int, float]]:
    """Node index -> (column, row): data flows left to right, one column per layer, each
    column centred on 0 with row 1 above row 0."""
    nodes = g.nodes
    layer = layers(g)
    columns: dict[int, list[int]] = {}
    for n in nodes:
        columns.setdefault(layer[n.index], []).append(n.index)
    pos: dict[int, tuple[int, float]] = {}
    for x in sorted(columns):
        members = sorted(columns[x], key=lambda i: _mean_height(nodes[i].args, pos, i))
        for k, i in enumerate(members):
            pos[i] = (x, (len(members) - 1) / 2 - k)
    return pos


def kind(g: Graph, i: int) -> str:
    """input, const, op or output: what colours a node."""
    if i in g.outputs:
        return "output"
    op = g.nodes[i].op
    return op if op in ("input", "const") else "op"


def annotations(t: Any, show: str, digits: int = 4, nota: Notation = TEXT) -> dict[int, str]:
    """Node index -> ``v̄4 = 0.25`` for every row of the trace `t` (`show` in SHOW); a sweep
    that did not run annotates nothing."""
    if show not in SHOW:
        raise ValueError(f"show must be one of {', '.join(SHOW)}, got {show!r}")
    out = {}
    for r in t.rows:
        value = getattr(r, _FIELD[show])
        if value is None:
            continue
        var = nota.var(r.name)  # v4 or v_{4}: the accent goes on the v alone
        text, latex = _SYMBOL[show]
        accent = (f"{latex}{{v}}" if latex else "v") if nota is LATEX else "v" + text
        var = accent + var[1:]
        out[r.index] = f"{var} = {format_value(value, digits, nota)}"
    return out


def labels(g: Graph, t: Any = None, show: str | None = None, nota: Notation = TEXT
           ) -> list[list[str]]:
    """Each node's lines: the table's ``v4 = v1 - v2``, then the annotation of `show`."""
    notes = annotations(t, show, nota=nota) if show else {}
    return [[lab] + ([notes[i]] if i in notes else []) for i, lab in
            enumerate(node_labels(g, nota))]


def check_drawable(g: Graph, limit: int | None = None) -> None:
    """A ValueError when the graph has too many nodes to draw legibly."""
    limit = MAX_DRAWN_NODES if limit is None else limit
    if len(g.nodes) > limit:
        raise ValueError(f"the graph has {len(g.nodes)} nodes, too many to draw "
                         f"(at most {limit}); use the DOT output instead")


_CHAR, _LINE, _PAD = 7.0, 16.0, 8.0  # px per character and per line, padding in a box
_COLUMN_GAP, _ROW = 40.0, 58.0


def graph_svg(g: Graph, t: Any = None, show: str | None = None, document: bool = True) -> str:
    """The graph as SVG: boxes labelled as the trace table labels them, arrows from
    arguments to users; with a trace `t` and `show`, each box also carries that sweep's
    number at the point.  `document`: a file's XML declaration first (not for inlining)."""
    check_drawable(g)
    pos, lines = layout(g), labels(g, t, show)
    sizes = {i: (max(len(s) for s in ls) * _CHAR + 2 * _PAD, len(ls) * _LINE + _PAD)
             for i, ls in enumerate(lines)}
    widths: dict[int, float] = {}
    for i, (col, _) in pos.items():
        widths[col] = max(widths.get(col, 0.0), sizes[i][0])
    left, x = {}, 10.0
    for col in sorted(widths):
        left[col], x = x, x + widths[col] + _COLUMN_GAP
    top = max(row for _, row in pos.values())
    centre = {i: (left[col] + widths[col] / 2, 10 + (top - row) * _ROW + _ROW / 2)
              for i, (col, row) in pos.items()}
    height = 20 + (top - min(row for _, row in pos.values()) + 1) * _ROW
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{x - _COLUMN_GAP + 10:.0f}" '
           f'height="{height:.0f}" font-family="DejaVu Sans, Helvetica, sans-serif" '
           f'font-size="12">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
           'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
           '<path d="M 0 0 L 10 5 L 0 10 z" fill="#777777"/></marker></defs>']
    for n in g.nodes:
        for a in dict.fromkeys(n.args):
            (x0, y0), (x1, y1) = centre[a], centre[n.index]
            out.append(f'<line x1="{x0 + sizes[a][0] / 2:.1f}" y1="{y0:.1f}" '
                       f'x2="{x1 - sizes[n.index][0] / 2:.1f}" y2="{y1:.1f}" '
                       f'stroke="#777777" marker-end="url(#arrow)"/>')
    for i, ls in enumerate(lines):
        (cx, cy), (w, h) = centre[i], sizes[i]
        fill, stroke = COLORS[kind(g, i)]
        out.append(f'<rect x="{cx - w / 2:.1f}" y="{cy - h / 2:.1f}" width="{w:.1f}" '
                   f'height="{h:.1f}" rx="6" fill="{fill}" stroke="{stroke}"/>')
        for k, s in enumerate(ls):
            y = cy - (len(ls) - 1) * _LINE / 2 + k * _LINE + 4
            colour = "#000000" if k == 0 else "#a61c00"
            out.append(f'<text x="{cx:.1f}" y="{y:.1f}" text-anchor="middle" '
                       f'fill="{colour}">{escape(s)}</text>')
    out.append("</svg>")
    declaration = '<?xml version="1.0" encoding="UTF-8"?>\n' if document else ""
    return declaration + "\n".join(out) + "\n"


def graph_tikz(g: Graph, t: Any = None, show: str | None = None, standalone: bool = False
               ) -> str:
    """The graph as a TikZ picture for slides (LaTeX labels, the same layout as the SVG);
    `standalone` wraps it in a document that compiles on its own."""
    check_drawable(g)
    pos, lines = layout(g), labels(g, t, show, LATEX)
    colors = {k: fill.lstrip("#").upper() for k, (fill, _) in COLORS.items()}
    out = [rf"\definecolor{{gd{k}}}{{HTML}}{{{c}}}" for k, c in colors.items()]
    out += [r"\begin{tikzpicture}[x=3.4cm, y=1.5cm, >=stealth,",
            r"  every node/.style={draw, rounded corners, font=\small, align=center}]"]
    for i, (col, row) in pos.items():
        text = r" \\ ".join(f"${s}$" for s in lines[i])
        out.append(rf"\node[fill=gd{kind(g, i)}] (n{i}) at ({col}, {row:g}) {{{text}}};")
    for n in g.nodes:
        for a in dict.fromkeys(n.args):
            out.append(rf"\draw[->] (n{a}) -- (n{n.index});")
    out.append(r"\end{tikzpicture}")
    body = "\n".join(out) + "\n"
    if not standalone:
        return body
    return (r"\documentclass[tikz, border=4pt]{standalone}" + "\n"
            r"\usepackage{amsmath}" + "\n" + r"\begin{document}" + "\n" + body +
            r"\end{document}" + "\n")


def graph_html(g: Graph) -> str:
    """A graph for Jupyter: its drawing beside its table of numbered nodes (the table alone
    when the graph is too large to draw)."""
    if len(g.nodes) > MAX_DRAWN_NODES:
        return table_html(g)
    return ('<div style="display:flex; gap:1.5em; align-items:flex-start; '
            f'flex-wrap:wrap">\n<div>{graph_svg(g, document=False)}</div>\n<div>{table_html(g)}</div>\n</div>')
