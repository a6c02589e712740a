"""Over-fitting (the lecture's figure, Bishop's Fig. 5.9): two-layer networks with M = 1, 3
and 10 tanh hidden units fitted to the 10-point sinusoid by scaled conjugate gradients.

M = 1 underfits (one tanh cannot follow a full period), M = 3 follows the sine, and M = 10
passes through every noisy point and wanders off the truth between them.

    python examples/overfitting.py [--out examples/figures] [--epochs 1000]

Prints each fit's training error and its error against the noise-free sin(2πx); writes
overfitting.png.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from graphdiff import nn
from graphdiff.nn import plots

HIDDEN = (1, 3, 10)


def truth(x: np.ndarray) -> np.ndarray:
    return np.sin(2 * np.pi * x)


def run(hidden: Sequence[int] = HIDDEN, epochs: int = 1000, n: int = 10, noise: float = 0.3,
        seed: int = 0) -> dict:
    """Fit one network per M; returns the data, a fine grid and, per M, the model, its
    history, the training MSE and the RMS error against the truth on the grid."""
    X, Y = nn.datasets.sinusoid(n=n, noise=noise, seed=seed)
    grid = np.linspace(0.0, 1.0, 200)[:, None]
    fits = {}
    for m in hidden:
        model = nn.MLP([1, m, 1], activation="tanh", loss="mse", seed=seed)
        history = model.fit(X, Y, epochs=epochs, optimizer="scg", verbose=False)
        curve = model.predict(grid)
        fits[m] = {"model": model, "history": history, "curve": curve,
                   "train_mse": model.evaluate(X, Y),
                   "truth_rms": float(np.sqrt(np.mean((curve - truth(grid)) ** 2)))}
    return {"X": X, "Y": Y, "grid": grid, "fits": fits}


def plot(result: dict, out: str | Path) -> Path:
    plt = plots.pyplot()
    fits = result["fits"]
    fig, axes = plt.subplots(1, len(fits), figsize=(3.4 * len(fits), 3.0), sharey=True)
    for ax, (m, fit) in zip(np.atleast_1d(axes), fits.items()):
        grid = result["grid"]
        ax.plot(grid, truth(grid), color="tab:green", lw=1.5, label="sin(2πx)")
        ax.plot(grid, fit["curve"], color="tab:red", lw=1.5, label="network")
        ax.plot(result["X"], result["Y"], "o", mfc="none", color="tab:blue", label="data")
        ax.set_title(f"M = {m}", fontsize=11)
        ax.set_xlabel("x")
        ax.set_ylim(-1.6, 1.6)
    np.atleast_1d(axes)[0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return plots.save_figure(fig, Path(out) / "overfitting.png")


def report(result: dict) -> str:
    lines = ["hidden units M  parameters  iterations  training MSE  RMS error vs sin(2πx)"]
    for m, fit in result["fits"].items():
        lines.append(f"{m:>14}  {fit['model'].n_parameters:>10}  {fit['history'].epochs:>10}"
                     f"  {fit['train_mse']:>12.3g}  {fit['truth_rms']:>21.3f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=Path(__file__).parent / "figures", type=Path)
    parser.add_argument("--epochs", type=int, default=1000, help="SCG iterations")
    args = parser.parse_args(argv)
    result = run(epochs=args.epochs)
    print(report(result))
    print(f"wrote {plot(result, args.out)}")
    return result


if __name__ == "__main__":
    main()
