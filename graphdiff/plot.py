"""Pictures through matplotlib (an optional dependency, imported only when drawing): a
graph in layers with the table's v-numbers, and the activation functions with their
derivatives.  Reads graphs and the registry; computes nothing new.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .display import in_notebook
from .draw import COLORS, MAX_DRAWN_NODES, check_drawable, kind, labels, layers, layout
from .graph import Graph
from .primitives import activations
from .render import latex_to_text

__all__ = ["MAX_DRAWN_NODES", "draw_graph", "layers", "plot_activations"]
# a wide or deep graph still makes a huge bitmap: refuse past this many pixels a side at
# the drawing's resolution (a 400-node chain would be 31,000 pixels wide)
MAX_PIXELS = 8000
DPI = 150


def _pyplot():
    try:
        import matplotlib

        if not in_notebook():  # files only, no window; a notebook keeps its inline figures
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("drawing needs matplotlib: pip install 'graphdiff[plot]'") from None
    return plt


def draw_graph(g: Graph, path: str | Path | None = None, fmt: str | None = None,
               t: Any = None, show: str | None = None) -> Any:
    """Draw the DAG left to right in topological layers, each node labelled as the trace
    table labels it (``v4 = v1 - v2``); with a trace `t` and `show` (values, tangents or
    adjoints) each node also shows that number.  Saves to `path` (format from `fmt` or the
    suffix) and returns the matplotlib figure.

    >>> from graphdiff import parse
    >>> fig = draw_graph(parse("x1*x2 + sin(x1)"))  # doctest: +SKIP
    """
    check_drawable(g)
    plt = _pyplot()
    grid, lines = layout(g), labels(g, t, show)
    # positions in inches, columns as wide as their longest label (9 pt: ~0.075 in a letter)
    widths: dict[int, float] = {}
    for i, (col, _) in grid.items():
        widths[col] = max(widths.get(col, 0.0), 0.075 * max(map(len, lines[i])) + 0.3)
    left, x = {}, 0.2
    for col in sorted(widths):
        left[col], x = x, x + widths[col] + 0.45
    step = 0.55 + 0.18 * max(map(len, lines))
    rows = [row for _, row in grid.values()]
    height = (max(rows) - min(rows)) * step + 0.8
    pos = {i: (left[col] + widths[col] / 2, (row - min(rows)) * step + 0.4)
           for i, (col, row) in grid.items()}
    if max(x - 0.25, height) * DPI > MAX_PIXELS:
        raise ValueError(f"the drawing would be {(x - 0.25) * DPI:.0f} x {height * DPI:.0f} "
                         f"pixels (at most {MAX_PIXELS} a side); use the DOT output instead")
    fig = plt.figure(figsize=(x - 0.25, height))
    ax = fig.add_axes((0, 0, 1, 1))
    boxes = {}
    for n in g.nodes:
        face, edge = COLORS[kind(g, n.index)]
        boxes[n.index] = ax.text(*pos[n.index], "\n".join(lines[n.index]), ha="center",
                                 va="center", fontsize=9,
                                 bbox=dict(boxstyle="round,pad=0.4", fc=face, ec=edge))
    for n in g.nodes:
        for a in dict.fromkeys(n.args):
            # from the right side of the argument's box to the left side of its user's
            ax.annotate("", xy=(0, 0.5), xycoords=boxes[n.index], xytext=(1, 0.5),
                        textcoords=boxes[a],
                        arrowprops=dict(arrowstyle="-|>", color="0.45", lw=1.0,
                                        shrinkA=5, shrinkB=5))
    ax.set_xlim(0, x - 0.25)
    ax.set_ylim(0, height)
    ax.axis("off")
    if path is not None:
        fig.savefig(path, format=fmt, dpi=DPI)
        plt.close(fig)
    return fig


def plot_activations(path: str | Path | None = None, fmt: str | None = None,
                     x: np.ndarray | None = None, prelu_alpha: float = 0.25) -> Any:
    """Every activation of the lecture's table with its derivative (dashed), the derivative
    computed by the registry's partial rule.  PReLU is drawn with α = `prelu_alpha`."""
    plt = _pyplot()
    prims = activations()
    x = np.linspace(-3.0, 3.0, 601) if x is None else np.asarray(x, dtype=float)
    cols = 5
    rows = -(-len(prims) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.9 * rows + 0.5), squeeze=False)
    for ax, p in zip(axes.flat, prims):
        extra = (np.full_like(x, prelu_alpha),) if p.arity == 2 else ()
        with np.errstate(all="ignore"):
            y = p.evaluate(x, *extra)
            dy = np.broadcast_to(p.partials[0](x, *extra, y, **p.resolve_params({})),
                                 x.shape)
        ax.plot(x, y, lw=2, label="f(x)")
        ax.plot(x, dy, "--", lw=1.5, label="f'(x)")
        ax.axhline(0, color="0.8", lw=0.8)
        ax.axvline(0, color="0.8", lw=0.8)
        # name and equation above the plot, never over the curves
        equation = latex_to_text(p.activation.equation)
        if p.arity == 2:
            equation += f",  α = {prelu_alpha}"
        ax.set_title(f"{p.activation.title.split(' (')[0]}\n{equation}", fontsize=9)
    for ax in list(axes.flat)[len(prims):]:
        ax.axis("off")
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper center", ncol=2, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    if path is not None:
        fig.savefig(path, format=fmt, dpi=120)
        plt.close(fig)
    return fig
