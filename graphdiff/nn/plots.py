"""Pictures of training through matplotlib (an optional dependency, imported only when
drawing): decision regions of a classifier, loss curves, hidden-layer activations, and the
network diagram of a model (thinned under dropout).
Reads models and histories; trains nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import graphdiff as gd

__all__ = ["decision_regions", "hidden_layers", "loss_curves", "network_diagram", "pyplot",
           "save_figure", "unit_names"]


def pyplot() -> Any:
    """matplotlib.pyplot, or an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'graphdiff[plot]'") from None
    return plt


def save_figure(fig: Any, path: str | Path, dpi: int = 80) -> Path:
    """Write `fig` to `path` (creating its folder) and close it; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return path


def hidden_layers(model: Any, X: np.ndarray) -> list[np.ndarray]:
    """The output f(h W + b) of every hidden layer of an MLP for inputs X (no dropout)."""
    h, out = np.asarray(X, dtype=model.dtype), []
    params = model.params
    for W, b in zip(params[0:-2:2], params[1:-2:2]):
        h = np.asarray(gd.call(model.activation, h @ W + b), dtype=model.dtype)
        out.append(h)
    return out


def decision_regions(ax: Any, model: Any, X: np.ndarray, y: np.ndarray,
                     resolution: int = 200, margin: float = 0.15,
                     colors: tuple[str, str] = ("tab:red", "tab:blue")) -> None:
    """Shade where a two-input classifier predicts each class and scatter the data on top,
    coloured by label (the lecture's rings: A red, B blue)."""
    from matplotlib.colors import ListedColormap

    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution),
                         np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    classes = model.predict_classes(grid).reshape(gx.shape)
    cmap = ListedColormap(colors)
    ax.contourf(gx, gy, classes, levels=[-0.5, 0.5, 1.5], cmap=cmap, alpha=0.25)
    ax.scatter(X[:, 0], X[:, 1], c=np.asarray(y), cmap=cmap, s=8, vmin=0, vmax=1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def loss_curves(ax: Any, history: Any, title: str = "", log: bool = True) -> None:
    """Training and validation loss per epoch, with the best epoch marked."""
    epochs = np.arange(1, history.epochs + 1)
    ax.plot(epochs, history.loss, lw=1.2, label="training")
    if history.val_loss:
        ax.plot(epochs, history.val_loss, lw=1.2, label="validation")
    if history.best_epoch is not None:
        ax.axvline(history.best_epoch + 1, color="0.5", ls=":", lw=1,
                   label=f"best epoch {history.best_epoch + 1}")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (MSE)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)


# the lecture's unit indices, layer by layer (input i, hidden j and k, output l)
_INDICES = "ijkl"


def unit_names(sizes: list[int]) -> list[list[str]]:
    """Each unit's name in the lecture's notation: x_i for inputs, y_j, y_k, ... after
    (i for the input layer, then j, k, l, ...; numbered from 1)."""
    names = []
    for layer, width in enumerate(sizes):
        index = _INDICES[layer] if layer < len(_INDICES) else f"h{layer}"
        symbol = "x" if layer == 0 else "y"
        names.append([f"${symbol}_{{{index}{u + 1}}}$" if len(index) == 1 else
                      f"${symbol}_{{{u + 1}}}^{{({layer})}}$" for u in range(width)])
    return names


def network_diagram(model: Any, ax: Any = None, kept: list[np.ndarray] | None = None,
                    notes: dict[tuple[int, int], str] | None = None,
                    title: str | None = None) -> Any:
    """The feed-forward network of an MLP as circles and connections, left to right (the
    lecture's "Standard Neural Net").  `kept`: one boolean array per hidden layer; dropped
    units are crossed out and lose their connections (the thinned network under dropout).
    `notes[(layer, unit)]`: text written beside that unit.  Returns the figure."""
    plt = pyplot()
    sizes = list(model.layer_sizes)
    if ax is None:
        scale = 1.3 if notes else 0.8
        fig, ax = plt.subplots(figsize=(scale * 1.6 * len(sizes) + 0.4,
                                        scale * 0.8 * max(sizes) + 1.0))
    fig = ax.figure
    alive = [np.ones(n, bool) for n in sizes]
    for layer, mask in enumerate(kept or [], start=1):
        alive[layer] = np.asarray(mask, bool).reshape(-1)
    dx, dy = (2.0, 1.5) if notes else (1.3, 1.0)  # room for the notes under the units
    pos = [[(layer * dx, ((width - 1) / 2 - u) * dy) for u in range(width)]
           for layer, width in enumerate(sizes)]
    for layer in range(len(sizes) - 1):
        for a, (x0, y0) in enumerate(pos[layer]):
            for b, (x1, y1) in enumerate(pos[layer + 1]):
                if alive[layer][a] and alive[layer + 1][b]:
                    ax.plot([x0, x1], [y0, y1], color="0.6", lw=0.8, zorder=1)
    names = unit_names(sizes)
    last = len(sizes) - 1
    for layer, column in enumerate(pos):
        face = "#cfe2f3" if layer == 0 else "#ffe599" if layer == last else "white"
        for u, (x, y) in enumerate(column):
            on = alive[layer][u]
            ax.add_patch(plt.Circle((x, y), 0.22, fc=face if on else "#eeeeee",
                                    ec="0.2" if on else "0.6", lw=1.2, zorder=2))
            ax.text(x, y, names[layer][u], ha="center", va="center", fontsize=9, zorder=3,
                    color="black" if on else "0.6")
            if not on:
                ax.plot([x - 0.16, x + 0.16], [y - 0.16, y + 0.16], color="tab:red", lw=1.5,
                        zorder=4)
                ax.plot([x - 0.16, x + 0.16], [y + 0.16, y - 0.16], color="tab:red", lw=1.5,
                        zorder=4)
            if notes and (layer, u) in notes:
                ax.text(x, y - 0.3, notes[(layer, u)], ha="center", va="top", fontsize=7,
                        zorder=3, bbox=dict(fc="white", ec="none", alpha=0.8, pad=0.5))
    labels = ["input"] + [f"hidden {n}" for n in range(1, last)] + ["output"]
    top = (max(sizes) - 1) / 2 * dy
    for layer, label in enumerate(labels):
        ax.text(layer * dx, top + 0.4, label, ha="center", va="bottom", fontsize=9)
    ax.set_xlim(-0.6, last * dx + 0.6)
    ax.set_ylim(-top - (1.0 if notes else 0.4), top + 0.8)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return fig
