"""Some intuition (the lecture's sequence): data to classify on a line, fitted with one input
and one output layer, then with one hidden layer between them, and the hidden layer drawn.

The data: points x on [-1, 1], class B (blue) in the middle, |x| < 0.4, class A (red) on
both sides.  Without a hidden layer the network is σ(w x + b): one threshold, so it can
put at most one side of the middle on the other class.  With two tanh hidden units the
line is bent into a curve in the plane of (y_1, y_2), and there a straight line — the
output unit — separates the classes.

    python examples/intuition.py [--out examples/figures] [--epochs 300]

Prints both networks' accuracy next to the best any single threshold can do; writes
intuition.png: the data, the no-hidden-layer fit, the one-hidden-layer fit, the hidden
units' outputs along x, and the data in the hidden layer's plane with the output's line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import _example
import numpy as np

from graphdiff import nn
from graphdiff.nn import plots

MIDDLE, GAP = 0.4, 0.05  # class B is |x| < MIDDLE; no point within GAP of the border
DECAY = 1e-3  # a little weight decay keeps the hidden units out of saturation, easier to see
COLORS = ("tab:red", "tab:blue")  # A, B as in the lecture's pictures


def data(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n points uniform on [-1, 1] away from the class border (X (n, 1)) and their classes
    (y (n,), 1 for B)."""
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, 3 * n)
    x = np.sort(x[np.abs(np.abs(x) - MIDDLE) > GAP][:n])
    return x[:, None], (np.abs(x) < MIDDLE).astype(np.intp)


def best_threshold(x: np.ndarray, y: np.ndarray) -> float:
    """The best accuracy of any rule "class B on one side of a threshold": the ceiling of a
    network without a hidden layer, whose output σ(w x + b) is monotonic in x."""
    x, y = x.ravel(), y.ravel()
    cuts = np.concatenate([[-np.inf], np.sort(x), [np.inf]])
    right = [float(np.mean((x > c) == (y == 1))) for c in cuts]
    return max(max(right), max(1.0 - r for r in right))


def run(epochs: int = 300, n: int = 60, hidden: int = 2, seed: int = 0) -> dict:
    """Fit [1, 1] and [1, hidden, 1] classifiers (bce, SCG, weight decay DECAY); returns the
    data, the models and their accuracies, and the best single threshold's accuracy."""
    X, y = data(n, seed)
    models = {}
    for name, sizes in (("no hidden layer", [1, 1]), ("one hidden layer", [1, hidden, 1])):
        model = nn.MLP(sizes, activation="tanh", loss="bce", seed=seed)
        model.fit(X, y[:, None], epochs=epochs, optimizer="scg", weight_decay=DECAY,
                  verbose=False)
        models[name] = {"model": model, "accuracy": model.score(X, y[:, None])}
    return {"X": X, "y": y, "models": models, "threshold": best_threshold(X, y)}


def report(result: dict) -> str:
    lines = [f"{'network':<18} {'parameters':>10}  accuracy"]
    for name, m in result["models"].items():
        lines.append(f"{name:<18} {m['model'].n_parameters:>10}  {m['accuracy']:.3f}")
    lines.append(f"(the best single threshold on x: {result['threshold']:.3f})")
    return "\n".join(lines)


def plot(result: dict, out: str | Path) -> list[Path]:
    plt = plots.pyplot()
    X, y = result["X"], result["y"]
    grid = np.linspace(-1.1, 1.1, 400)[:, None]
    colors = np.array(COLORS)[y]
    fig, axes = plt.subplots(1, 5, figsize=(17.0, 3.3))
    axes[0].scatter(X[:, 0], np.zeros(len(X)), c=colors, s=14)
    axes[0].set_title("data to classify", fontsize=10)
    axes[0].set_yticks([])
    for ax, (name, m) in zip(axes[1:3], result["models"].items()):
        ax.plot(grid, m["model"].predict(grid), color="black", lw=1.5, label="P(B | x)")
        ax.scatter(X[:, 0], y, c=colors, s=14)
        ax.axhline(0.5, color="0.7", ls=":", lw=1)
        ax.set_title(f"{name}: accuracy {m['accuracy']:.2f}", fontsize=10)
        ax.set_ylim(-0.1, 1.1)
    model = result["models"]["one hidden layer"]["model"]
    hidden = plots.hidden_layers(model, grid)[0]
    for u in range(hidden.shape[1]):
        axes[3].plot(grid, hidden[:, u], lw=1.5, label=f"$y_{{{u + 1}}}$")
    axes[3].set_title("the hidden units' outputs", fontsize=10)
    axes[3].legend(fontsize=8, loc="lower right")
    H = plots.hidden_layers(model, X)[0]
    ax = axes[4]
    if H.shape[1] == 2:
        curve = hidden
        ax.plot(curve[:, 0], curve[:, 1], color="0.7", lw=1, zorder=0)
        ax.scatter(H[:, 0], H[:, 1], c=colors, s=14)
        W, b = model.params[2][:, 0], float(model.params[3][0])
        t = np.linspace(-1.05, 1.05, 2)
        # the output unit's decision line  W1 y1 + W2 y2 + b = 0
        if abs(W[1]) > abs(W[0]):
            ax.plot(t, -(W[0] * t + b) / W[1], color="black", lw=1.2)
        else:
            ax.plot(-(W[1] * t + b) / W[0], t, color="black", lw=1.2)
        ax.set_xlim(-1.05, 1.05)
        ax.set_ylim(-1.05, 1.05)
        ax.set_xlabel("$y_1$")
        ax.set_ylabel("$y_2$")
        ax.set_aspect("equal")
    ax.set_title("visualizing the hidden layer", fontsize=10)
    for ax in axes[:4]:
        ax.set_xlabel("x")
    fig.tight_layout()
    return [plots.save_figure(fig, Path(out) / "intuition.png", dpi=90)]


def main(argv: Sequence[str] | None = None) -> dict:
    return _example.main(__doc__, run, report, plot, argv,
                         {"epochs": (int, 300, "SCG iterations")})


if __name__ == "__main__":
    main()
