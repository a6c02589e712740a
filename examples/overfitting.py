"""Over-fitting (the lecture's figure, Bishop's Fig. 5.9): two-layer networks with M = 1, 3
and 10 tanh hidden units fitted to 10 points drawn from the sinusoidal data set by scaled
conjugate gradients, minimising the sum-of-squares error.

M = 1 underfits (one tanh cannot follow a full period), M = 3 follows the sine where the
data are, and M = 10 passes through every noisy point and wanders off the truth between them.

The setting, chosen so that this holds for most draws of the data and not just one: the 10
x's are drawn uniformly on [0, 1] (with evenly spaced x's the gaps are all narrow, and M = 10
interpolates them almost as smoothly as M = 3), noise 0.3, and 2000 SCG iterations, enough
for M = 10 to drive its training error to the noise it memorises.  Errors against the truth
are measured between the first and the last point (no extrapolation).  Over seeds 0-9, M =
10's error is more than 1.5 times M = 3's for 6 of them (`--seeds 10` prints the table;
tests/test_examples.py checks which).

    python examples/overfitting.py [--out examples/figures] [--epochs 2000] [--seeds 10]

Prints each fit's training error and its error against the noise-free sin(2πx), then the
comparison over several seeds; writes overfitting.png.
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


def run(hidden: Sequence[int] = HIDDEN, epochs: int = 2000, n: int = 10, noise: float = 0.3,
        seed: int = 0) -> dict:
    """Fit one network per M; returns the data, a grid over the data's span and, per M, the
    model, its history, the training MSE and the RMS error against the truth on the grid."""
    X, Y = nn.datasets.sinusoid(n=n, noise=noise, seed=seed, spacing="random")
    grid = np.linspace(X.min(), X.max(), 200)[:, None]
    fits = {}
    for m in hidden:
        model = nn.MLP([1, m, 1], activation="tanh", loss="mse", seed=seed)
        history = model.fit(X, Y, epochs=epochs, optimizer="scg", verbose=False)
        curve = model.predict(grid)
        fits[m] = {"model": model, "history": history, "curve": curve,
                   "train_mse": model.evaluate(X, Y),
                   "truth_rms": float(np.sqrt(np.mean((curve - truth(grid)) ** 2)))}
    return {"X": X, "Y": Y, "grid": grid, "fits": fits}


def over_seeds(seeds: Sequence[int], hidden: Sequence[int] = (3, 10), epochs: int = 2000
               ) -> dict[int, dict[int, float]]:
    """seed -> M -> RMS error against the truth: the same experiment on other draws."""
    return {seed: {m: fit["truth_rms"] for m, fit in
                   run(hidden, epochs, seed=seed)["fits"].items()} for seed in seeds}


def overfits(errors: dict[int, float], factor: float = 1.5) -> bool:
    """M = 10 visibly overfits: its error against the truth is `factor` times M = 3's."""
    return errors[10] > factor * errors[3]


def plot(result: dict, out: str | Path) -> Path:
    plt = plots.pyplot()
    fits = result["fits"]
    fig, axes = plt.subplots(1, len(fits), figsize=(3.4 * len(fits), 3.0), sharey=True)
    grid = np.linspace(0.0, 1.0, 300)[:, None]  # the whole interval, as in Bishop's figure
    for ax, (m, fit) in zip(np.atleast_1d(axes), fits.items()):
        ax.plot(grid, truth(grid), color="tab:green", lw=1.5, label="sin(2πx)")
        ax.plot(grid, fit["model"].predict(grid), color="tab:red", lw=1.5, label="network")
        ax.plot(result["X"], result["Y"], "o", mfc="none", color="tab:blue", label="data")
        ax.set_title(f"M = {m}", fontsize=11)
        ax.set_xlabel("x")
        ax.set_ylim(-1.6, 1.6)
    np.atleast_1d(axes)[0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return plots.save_figure(fig, Path(out) / "overfitting.png")


def report(result: dict, seeds: dict[int, dict[int, float]] | None = None) -> str:
    lines = ["hidden units M  parameters  iterations  training MSE  RMS error vs sin(2πx)"]
    for m, fit in result["fits"].items():
        lines.append(f"{m:>14}  {fit['model'].n_parameters:>10}  {fit['history'].epochs:>10}"
                     f"  {fit['train_mse']:>12.3g}  {fit['truth_rms']:>21.3f}")
    if seeds:
        lines += ["", "seed  RMS vs truth, M = 3  M = 10  M = 10 overfits (> 1.5 x)"]
        lines += [f"{seed:>4}  {e[3]:>19.3f}  {e[10]:>6.3f}  {'yes' if overfits(e) else 'no'}"
                  for seed, e in seeds.items()]
        count = sum(overfits(e) for e in seeds.values())
        lines.append(f"M = 10 overfits for {count} of {len(seeds)} seeds")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=Path(__file__).parent / "figures", type=Path)
    parser.add_argument("--epochs", type=int, default=2000, help="SCG iterations")
    parser.add_argument("--seeds", type=int, default=10, help="draws of the data to compare")
    args = parser.parse_args(argv)
    result = run(epochs=args.epochs)
    print(report(result, over_seeds(range(args.seeds), epochs=args.epochs)))
    print(f"wrote {plot(result, args.out)}")
    return result


if __name__ == "__main__":
    main()
