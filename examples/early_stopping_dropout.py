"""Early stopping and dropout: training vs validation curves of a network far larger than
its data (a [1, 32, 32, 1] tanh net, 28 noisy training points of sin(πx)).

Trained long enough, the network memorises the noise: its training loss keeps falling
while the validation loss turns up.  Early stopping watches the validation loss and, after
`patience` epochs without a new best, stops and restores the best weights.  Dropout
(the lecture's definition: keep each hidden unit with probability keep_prob and scale the
kept ones by 1/keep_prob; nothing is dropped at prediction) keeps the long run from
memorising.

    python examples/early_stopping_dropout.py [--out examples/figures] [--epochs 2000]

Prints, for each run, where it stopped, its best epoch, and its training, validation and
true (against the noise-free sin(πx)) errors; writes early_stopping_dropout.png.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from graphdiff import nn
from graphdiff.nn import plots


def run(epochs: int = 2000, sizes: Sequence[int] = (1, 32, 32, 1), n: int = 40,
        noise: float = 0.3, lr: float = 0.01, patience: int = 100, keep_prob: float = 0.8,
        seed: int = 0) -> dict:
    """Train the same network (same seed) three ways; returns the data and, per run, the
    model, its history and its errors (MSE on training and validation data, RMS against
    the noise-free function)."""
    X, Y = nn.datasets.noisy_regression(n=n, noise=noise, seed=seed)
    (Xt, Yt), (Xv, Yv) = nn.datasets.split(X, Y, 0.3, seed=seed + 1)
    grid = np.linspace(-1.0, 1.0, 400)[:, None]
    options = {"overtrained": {}, "early stopping": {"early_stopping": patience},
               "dropout": {"keep_prob": keep_prob}}
    runs = {}
    for name, extra in options.items():
        model = nn.MLP(list(sizes), activation="tanh", seed=seed)
        history = model.fit(Xt, Yt, epochs=epochs, optimizer="adam", lr=lr,
                            validation=(Xv, Yv), verbose=False, **extra)
        curve = model.predict(grid)
        truth = nn.datasets.regression_target(grid)
        runs[name] = {"model": model, "history": history, "curve": curve,
                      "train": model.evaluate(Xt, Yt), "val": model.evaluate(Xv, Yv),
                      "truth_rms": float(np.sqrt(np.mean((curve - truth) ** 2)))}
    return {"train": (Xt, Yt), "val": (Xv, Yv), "grid": grid, "runs": runs,
            "keep_prob": keep_prob, "patience": patience}


def report(result: dict) -> str:
    lines = ["run             epochs  best epoch  training MSE  validation MSE  RMS vs sin(πx)"]
    for name, r in result["runs"].items():
        h = r["history"]
        lines.append(f"{name:<15} {h.epochs:>6}  {h.best_epoch + 1:>10}  {r['train']:>12.4f}"
                     f"  {r['val']:>14.4f}  {r['truth_rms']:>14.4f}")
    lines.append(f"(early stopping: patience {result['patience']}, best weights restored; "
                 f"dropout: keep_prob {result['keep_prob']}, off at prediction)")
    return "\n".join(lines)


def plot(result: dict, out: str | Path) -> Path:
    plt = plots.pyplot()
    runs = result["runs"]
    fig, axes = plt.subplots(2, 2, figsize=(9.0, 6.4))
    values = [v for r in runs.values() for v in r["history"].loss + r["history"].val_loss]
    for ax, (name, r) in zip(axes.flat, runs.items()):
        plots.loss_curves(ax, r["history"], title=name)
        ax.set_ylim(0.8 * min(values), 1.25 * max(values))  # one scale for the three runs
    ax = axes.flat[3]
    grid = result["grid"]
    ax.plot(grid, nn.datasets.regression_target(grid), color="black", lw=2, label="sin(πx)")
    for name, r in runs.items():
        ax.plot(grid, r["curve"], lw=1.2, label=name)
    (Xt, Yt), (Xv, Yv) = result["train"], result["val"]
    ax.plot(Xt, Yt, "o", ms=3.5, color="0.3", label="training data")
    ax.plot(Xv, Yv, "x", ms=5, color="tab:red", label="validation data")
    ax.set_ylim(-2.0, 2.0)
    ax.set_title("the fits", fontsize=10)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    fig.tight_layout()
    return plots.save_figure(fig, Path(out) / "early_stopping_dropout.png")


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=Path(__file__).parent / "figures", type=Path)
    parser.add_argument("--epochs", type=int, default=2000)
    args = parser.parse_args(argv)
    result = run(epochs=args.epochs)
    print(report(result))
    print(f"wrote {plot(result, args.out)}")
    return result


if __name__ == "__main__":
    main()
