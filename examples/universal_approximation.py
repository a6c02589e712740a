"""Universal approximation: finite sums G(x) = Σ_j α_j σ(y_j x + θ_j) of N sigmoids fit a
continuous function ever more closely as N grows (the lecture's Theorem 1).

The target f(x) = |sin(3πx)| e^(-x) on [0, 1] is continuous but has two kinks. For each
N, the sigmoids are first placed by hand (centres spread evenly over [0, 1], slopes 4N)
and only the α_j are solved by linear least squares; then the network [1, N, 1] with
those weights is trained as a whole (y_j, θ_j and α_j, plus the output bias, a constant
term) by scaled conjugate gradients, which can only lower its error.

    python examples/universal_approximation.py [--out examples/figures] [--epochs 1000]

Prints the error against f for each N (RMS and maximum over 1001 points); writes
universal_approximation.png.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import graphdiff as gd
from graphdiff import nn
from graphdiff.nn import plots

UNITS = (1, 2, 4, 8, 16, 32, 64)


def target(x: np.ndarray) -> np.ndarray:
    return np.abs(np.sin(3 * np.pi * x)) * np.exp(-x)


def placed_sigmoids(n_units: int, x: np.ndarray, y: np.ndarray) -> nn.MLP:
    """The network [1, N, 1] whose sigmoids sit at evenly spread centres with slope 4N and
    whose output weights α are the least-squares fit to y (no output bias)."""
    centres = np.linspace(0.0, 1.0, n_units) if n_units > 1 else np.array([0.5])
    slope = 4.0 * n_units
    features = gd.sigmoid(slope * (x - centres))
    alpha, *_ = np.linalg.lstsq(features, y, rcond=None)
    model = nn.MLP([1, n_units, 1], activation="sigmoid", seed=0)
    W1, b1, W2, b2 = model.params
    W1[:] = slope
    b1[:] = -slope * centres
    W2[:] = alpha
    b2[:] = 0.0
    return model


def _errors(model: nn.MLP, x: np.ndarray) -> tuple[float, float]:
    residual = model.predict(x) - target(x)
    return float(np.sqrt(np.mean(residual**2))), float(np.max(np.abs(residual)))


def run(units: Sequence[int] = UNITS, epochs: int = 1000, n: int = 200) -> dict:
    """For each N: the least-squares sum and the trained network, with their RMS and
    maximum errors on a fine grid."""
    x = np.linspace(0.0, 1.0, n)[:, None]
    fine = np.linspace(0.0, 1.0, 1001)[:, None]
    sums = {}
    for n_units in units:
        placed = placed_sigmoids(n_units, x, target(x))
        trained = placed_sigmoids(n_units, x, target(x))
        trained.fit(x, target(x), epochs=epochs, optimizer="scg", verbose=False)
        sums[n_units] = {"placed": placed, "trained": trained,
                         "placed_error": _errors(placed, fine),
                         "trained_error": _errors(trained, fine)}
    return {"x": x, "fine": fine, "sums": sums}


def report(result: dict) -> str:
    lines = ["      N  parameters   least-squares α: RMS    max   trained network: RMS    max"]
    for n_units, s in result["sums"].items():
        (pr, pm), (tr, tm) = s["placed_error"], s["trained_error"]
        lines.append(f"{n_units:>7}  {s['trained'].n_parameters:>10}  {pr:>22.4f} {pm:>6.3f}"
                     f"  {tr:>22.4f} {tm:>6.3f}")
    return "\n".join(lines)


def plot(result: dict, out: str | Path) -> Path:
    plt = plots.pyplot()
    fine, sums = result["fine"], result["sums"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.4))
    left.plot(fine, target(fine), color="black", lw=2.5, label="f(x)")
    shown = list(sums)[1::2] or list(sums)
    for n_units in shown[:3]:
        left.plot(fine, sums[n_units]["trained"].predict(fine), lw=1.2, label=f"N = {n_units}")
    left.set_xlabel("x")
    left.set_title("trained sums of N sigmoids", fontsize=10)
    left.legend(fontsize=8)
    units = np.array(list(sums))
    for key, label, color in (("placed_error", "least-squares α", "tab:orange"),
                              ("trained_error", "trained network", "tab:blue")):
        errors = np.array([sums[k][key] for k in units])
        right.loglog(units, errors[:, 0], "o-", color=color, label=f"{label}: RMS")
        right.loglog(units, errors[:, 1], "s--", color=color, alpha=0.6, label=f"{label}: max")
    right.set_xlabel("N (sigmoids)")
    right.set_ylabel("error against f")
    right.set_title("error vs N", fontsize=10)
    right.legend(fontsize=7)
    fig.tight_layout()
    return plots.save_figure(fig, Path(out) / "universal_approximation.png")


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
