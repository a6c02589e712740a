"""Dropout as uncertainty (Gal & Ghahramani, 2016, cited in the lecture): keep dropout on at
prediction and run the network many times; the spread of the outputs is a measure of how
unsure the model is.

A [1, 64, 64, 1] ReLU network is trained with dropout on noisy sin(πx) with x in [-1, 1].
`model.predict(X, dropout_samples=100)` returns the mean and standard deviation of 100
outputs, each with fresh masks.  Inside the data the samples agree; away from it, where
nothing held the weights in place, they fan out and the band widens.

    python examples/dropout_uncertainty.py [--out examples/figures] [--epochs 800]

Prints the standard deviation inside the data and away from it; writes
dropout_uncertainty.png (the mean, a ±2σ band and a few single thinned networks' outputs) and
dropout_networks.png (the lecture's standard net and a thinned one, drawn from models).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import _example
import numpy as np

from graphdiff import nn
from graphdiff.nn import plots

INSIDE, AWAY = 1.0, 2.0  # |x| <= INSIDE is where the data are; |x| >= AWAY is far from them


def run(epochs: int = 800, sizes: Sequence[int] = (1, 64, 64, 1), n: int = 40,
        noise: float = 0.1, keep_prob: float = 0.8, samples: int = 100, seed: int = 0
        ) -> dict:
    """Train with dropout; returns the data, a grid on [-3, 3], the MC-dropout mean and
    standard deviation on it, and a few single dropout samples."""
    X, Y = nn.datasets.noisy_regression(n=n, noise=noise, seed=seed)
    model = nn.MLP(list(sizes), activation="relu", seed=seed)
    history = model.fit(X, Y, epochs=epochs, optimizer="adam", lr=0.005,
                        keep_prob=keep_prob, verbose=False)
    grid = np.linspace(-3.0, 3.0, 301)[:, None]
    mean, std = model.predict(grid, dropout_samples=samples)
    singles = [model.predict(grid, dropout_samples=1)[0] for _ in range(4)]
    x = grid[:, 0]
    return {"X": X, "Y": Y, "model": model, "history": history, "grid": grid, "mean": mean,
            "std": std, "singles": singles, "samples": samples,
            "std_inside": float(std[np.abs(x) <= INSIDE].mean()),
            "std_away": float(std[np.abs(x) >= AWAY].mean())}


def report(result: dict) -> str:
    return "\n".join([
        f"MC dropout: {result['samples']} samples, keep_prob {result['model'].keep_prob}",
        f"mean standard deviation where the data are (|x| <= {INSIDE:g}): "
        f"{result['std_inside']:.3f}",
        f"mean standard deviation away from them   (|x| >= {AWAY:g}): "
        f"{result['std_away']:.3f}  ({result['std_away'] / result['std_inside']:.1f}x)"])


def plot(result: dict, out: str | Path) -> list[Path]:
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    x, mean, std = result["grid"][:, 0], result["mean"][:, 0], result["std"][:, 0]
    ax.axvspan(-INSIDE, INSIDE, color="0.93", zorder=0, label="where the data are")
    ax.fill_between(x, mean - 2 * std, mean + 2 * std, color="tab:blue", alpha=0.2,
                    label="mean ± 2 std")
    for k, single in enumerate(result["singles"]):
        ax.plot(x, single[:, 0], color="tab:blue", lw=0.7, alpha=0.6,
                label="single thinned networks" if k == 0 else None)
    ax.plot(x, mean, color="tab:blue", lw=2, label=f"mean of {result['samples']}")
    ax.plot(x, nn.datasets.regression_target(x), color="black", ls="--", lw=1,
            label="sin(πx)")
    ax.plot(result["X"], result["Y"], "o", ms=3.5, color="tab:red", label="data")
    ax.set_ylim(-3.2, 3.2)
    ax.set_xlabel("x")
    ax.set_title("dropout kept on at prediction: the band widens away from the data",
                 fontsize=10)
    ax.legend(fontsize=8, loc="lower left", ncol=2)
    paths = [plots.save_figure(fig, Path(out) / "dropout_uncertainty.png", dpi=100)]
    # the lecture's pair of pictures, drawn from a model small enough to see every unit
    small = nn.MLP([2, 5, 5, 1])
    rng = np.random.default_rng(1)
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 4.2))
    small.diagram(ax=axes[0], title="(a) standard neural net")
    kept = [rng.random(w) < 0.6 for w in small.layer_sizes[1:-1]]
    small.diagram(ax=axes[1], kept=kept, title="(b) after applying dropout")
    paths.append(plots.save_figure(fig, Path(out) / "dropout_networks.png", dpi=100))
    return paths


def main(argv: Sequence[str] | None = None) -> dict:
    return _example.main(__doc__, run, report, plot, argv,
                         {"epochs": (int, 800, "Adam steps (full batch)")})


if __name__ == "__main__":
    main()
