"""Pictures of training through matplotlib (an optional dependency, imported only when
drawing): decision regions of a classifier, loss curves, hidden-layer activations.
Reads models and histories; trains nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import graphdiff as gd

__all__ = ["decision_regions", "hidden_layers", "loss_curves", "pyplot", "save_figure"]


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
