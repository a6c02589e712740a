"""Pictures through matplotlib (an optional dependency, imported only when drawing): a
graph in layers with the table's v-numbers, and the activation functions with their
derivatives.  Reads graphs and the registry; computes nothing new.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .graph import Graph
from .primitives import activations
from .render import latex_to_text, node_labels

__all__ = ["draw_graph", "plot_activations", "layers", "MAX_DRAWN_NODES"]

MAX_DRAWN_NODES = 400  # beyond this a drawing is unreadable; DOT output still works


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("drawing needs matplotlib: pip install 'graphdiff[plot]'") from None
    return plt


def layers(g: Graph) -> list[int]:
    """The layer of each node: inputs 0, an operation one past its deepest variable
    argument, a constant one before its first user."""
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
    for n in nodes:
        if n.op == "const" and first_user[n.index] is not None:
            layer[n.index] = max(0, layer[first_user[n.index]] - 1)
    return layer


def _mean_height(args: tuple[int, ...], pos: dict, default: int) -> float:
    """Sort key that orders a layer by the mean height of each node's placed arguments,
    which keeps edges from crossing."""
    ys = [pos[a][1] for a in args if a in pos]
    return -sum(ys) / len(ys) if ys else float(default)


def draw_graph(g: Graph, path: str | Path | None = None, fmt: str | None = None) -> Any:
    """Draw the DAG left to right in topological layers, each node labelled as the trace
    table labels it (``v4 = v1 - v2``).  Saves to `path` (format from `fmt` or the suffix)
    and returns the matplotlib figure.

    >>> from graphdiff import parse
    >>> fig = draw_graph(parse("x1*x2 + sin(x1)"))  # doctest: +SKIP
    """
    nodes = g.nodes
    if len(nodes) > MAX_DRAWN_NODES:
        raise ValueError(f"the graph has {len(nodes)} nodes, too many to draw "
                         f"(at most {MAX_DRAWN_NODES}); use the DOT output instead")
    plt = _pyplot()
    layer = layers(g)
    labels = node_labels(g)
    columns: dict[int, list[int]] = {}
    for n in nodes:
        columns.setdefault(layer[n.index], []).append(n.index)
    pos: dict[int, tuple[float, float]] = {}
    for x in sorted(columns):
        members = sorted(columns[x], key=lambda i: _mean_height(nodes[i].args, pos, i))
        for k, i in enumerate(members):
            pos[i] = (x * 2.6, (len(members) - 1) / 2 - k)
    tallest = max(len(c) for c in columns.values())
    fig, ax = plt.subplots(figsize=(2.2 + 2.0 * len(columns), 1.2 + 0.9 * tallest))
    outputs = set(g.outputs)
    boxes = {}
    for n in nodes:
        face = {"input": "#cfe2f3", "const": "#eeeeee"}.get(n.op, "white")
        if n.index in outputs:
            face = "#ffe599"
        boxes[n.index] = ax.text(*pos[n.index], labels[n.index], ha="center", va="center",
                                 fontsize=9, bbox=dict(boxstyle="round,pad=0.4", fc=face,
                                                       ec="0.6" if n.op == "const" else "0.2"))
    for n in nodes:
        for a in dict.fromkeys(n.args):
            # from the right side of the argument's box to the left side of its user's
            ax.annotate("", xy=(0, 0.5), xycoords=boxes[n.index], xytext=(1, 0.5),
                        textcoords=boxes[a],
                        arrowprops=dict(arrowstyle="-|>", color="0.45", lw=1.0,
                                        shrinkA=5, shrinkB=5))
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 1.3, max(xs) + 1.3)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.axis("off")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, format=fmt, dpi=150)
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
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.6 * rows), squeeze=False)
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
        title = p.activation.title.split(" (")[0]
        ax.set_title(f"{title}" + (f" (α = {prelu_alpha})" if p.arity == 2 else ""),
                     fontsize=10)
        ax.text(0.02, 0.97, latex_to_text(p.activation.equation), transform=ax.transAxes,
                fontsize=7, va="top")
    for ax in list(axes.flat)[len(prims):]:
        ax.axis("off")
    axes.flat[0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, format=fmt, dpi=120)
        plt.close(fig)
    return fig
