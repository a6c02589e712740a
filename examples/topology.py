"""Topology and classification: the two rings A = {d(x, 0) < 1/3} (red) and
B = {2/3 < d(x, 0) < 1} (blue) of the lecture.

Networks whose hidden layers have 2 units stay below 100% training accuracy however deep
they are (a layer of 2 units maps the plane to a plane, and no continuous map squeezes the
disk out of the annulus that encloses it); one hidden layer of 3 units reaches 100%: it
lifts the plane into 3-D, where a plane separates the two classes.

    python examples/topology.py [--out examples/figures] [--epochs 300] [--seeds 3]

Prints the training accuracy of each network (the best of a few seeds); writes
topology.png (decision regions) and topology_hidden.png (hidden layers).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from graphdiff import nn
from graphdiff.nn import plots

NETWORKS = ([2, 2, 1], [2, 2, 2, 1], [2, 2, 2, 2, 1], [2, 3, 1])


def run(networks: Sequence[Sequence[int]] = NETWORKS, n: int = 200, epochs: int = 300,
        seeds: int = 3, seed: int = 0) -> dict:
    """Train each network from `seeds` initialisations (tanh, binary cross-entropy, scaled
    conjugate gradients) and keep the most accurate; returns the data and, per network
    (keyed by its layer sizes as a string), the kept model and every seed's accuracy."""
    X, y = nn.datasets.rings(n, seed=seed)
    nets = {}
    for sizes in networks:
        best, accuracies = None, []
        for s in range(seeds):
            model = nn.MLP(sizes, activation="tanh", loss="bce", seed=s)
            model.fit(X, y, epochs=epochs, optimizer="scg", verbose=False)
            accuracies.append(model.score(X, y))
            if best is None or accuracies[-1] > best.score(X, y):
                best = model
        nets["-".join(map(str, sizes))] = {"model": best, "accuracies": accuracies,
                                           "accuracy": max(accuracies)}
    return {"X": X, "y": y, "networks": nets}


def report(result: dict) -> str:
    lines = ["network      hidden widths  best training accuracy  (each seed)"]
    for name, net in result["networks"].items():
        widths = ", ".join(map(str, net["model"].layer_sizes[1:-1]))
        each = " ".join(f"{a:.3f}" for a in net["accuracies"])
        lines.append(f"{name:<12} {widths:<14} {net['accuracy']:>22.1%}  ({each})")
    return "\n".join(lines)


def plot(result: dict, out: str | Path) -> list[Path]:
    plt = plots.pyplot()
    X, y, nets = result["X"], result["y"], result["networks"]
    fig, axes = plt.subplots(1, len(nets), figsize=(2.8 * len(nets), 3.1), layout="constrained")
    for ax, (name, net) in zip(np.atleast_1d(axes), nets.items()):
        plots.decision_regions(ax, net["model"], X, y)
        ax.set_title(f"{name}: {net['accuracy']:.1%}", fontsize=10)
    paths = [plots.save_figure(fig, Path(out) / "topology.png")]

    # the hidden layers: the last one of the deepest 2-unit net, and the 3-unit layer in 3-D
    two = [net for net in nets.values() if max(net["model"].layer_sizes[1:-1]) == 2]
    three = [net for net in nets.values() if net["model"].layer_sizes[1:-1] == [3]]
    fig = plt.figure(figsize=(8.0, 3.8))
    if two:
        model = two[-1]["model"]
        h = plots.hidden_layers(model, X)[-1]
        ax = fig.add_subplot(1, 2, 1)
        for label, color in ((1, "tab:blue"), (0, "tab:red")):  # red on top
            ax.scatter(h[y == label, 0], h[y == label, 1], c=color, s=10, alpha=0.6)
        ax.set_title(f"{'-'.join(map(str, model.layer_sizes))}: last hidden layer", fontsize=10)
        w, b = model.params[-2][:, 0], model.params[-1][0]
        t = np.linspace(-1.1, 1.1, 50)
        if abs(w[1]) > 1e-12:  # the output unit's boundary w·h + b = 0
            ax.plot(t, -(w[0] * t + b) / w[1], "k--", lw=1, label="output boundary")
            ax.legend(fontsize=8, loc="center")
        ax.set_xlim(-1.1, 1.1)
        ax.set_ylim(-1.1, 1.1)
        ax.set_xlabel("unit 1")
        ax.set_ylabel("unit 2")
    if three:
        model = three[0]["model"]
        h = plots.hidden_layers(model, X)[0]
        ax = fig.add_subplot(1, 2, 2, projection="3d")
        for label, color in ((1, "tab:blue"), (0, "tab:red")):
            ax.scatter(*h[y == label].T, c=color, s=10, alpha=0.6)
        w, b = model.params[-2][:, 0], model.params[-1][0]
        if abs(w[2]) > 1e-12:  # the output unit's separating plane w·h + b = 0
            u, v = np.meshgrid(np.linspace(-1, 1, 12), np.linspace(-1, 1, 12))
            plane = -(w[0] * u + w[1] * v + b) / w[2]
            plane[np.abs(plane) > 1.05] = np.nan
            ax.plot_surface(u, v, plane, color="0.5", alpha=0.25, linewidth=0)
        ax.set_title("2-3-1: the hidden layer in 3-D", fontsize=10)
        ax.set_xlabel("unit 1")
        ax.set_ylabel("unit 2")
        ax.set_zlabel("unit 3")
        ax.view_init(elev=20, azim=-60)
    fig.tight_layout()
    paths.append(plots.save_figure(fig, Path(out) / "topology_hidden.png"))
    return paths


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=Path(__file__).parent / "figures", type=Path)
    parser.add_argument("--epochs", type=int, default=300, help="SCG iterations")
    parser.add_argument("--seeds", type=int, default=3, help="initialisations per network")
    args = parser.parse_args(argv)
    result = run(epochs=args.epochs, seeds=args.seeds)
    print(report(result))
    for path in plot(result, args.out):
        print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
