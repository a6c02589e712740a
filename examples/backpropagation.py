"""Back-propagation on a net with two hidden layers (the lecture's slides): a 2-3-3-1
sigmoid network, the loss E = ½ Σ (y − t)², one training pair (x, t).

The forward pass computes, layer by layer (biases b added to the lecture's sums),

    z_j = Σ_i w_ij x_i + b_j,   y_j = f(z_j)      (first hidden layer, units j)
    z_k = Σ_j w_jk y_j + b_k,   y_k = f(z_k)      (second hidden layer, units k)
    z_l = Σ_k w_kl y_k + b_l,   y_l = f(z_l)      (output, units l),   f = sigmoid

and the backward pass the δ's of the lecture, from the output back:

    ∂E/∂y_l = y_l − t_l                      ∂E/∂z_l = ∂E/∂y_l · y_l (1 − y_l)
    ∂E/∂y_k = Σ_l w_kl ∂E/∂z_l               ∂E/∂z_k = ∂E/∂y_k · y_k (1 − y_k)
    ∂E/∂y_j = Σ_k w_jk ∂E/∂z_k               ∂E/∂z_j = ∂E/∂y_j · y_j (1 − y_j)
    ∂E/∂w_ij = x_i ∂E/∂z_j, ...

Here those formulas are evaluated by hand with NumPy and put next to the adjoints v̄ that
graphdiff's trace of the model's loss graph (`MLP(..., loss="sse").graph`) finds by
reverse mode: they are the same numbers.

    python examples/backpropagation.py [--out examples/figures] [--seed 0]

Prints the forward and backward pass side by side with the trace's rows; writes
backpropagation.png (the network with each unit's y and δ = ∂E/∂z) and
backpropagation_graph.png (the loss graph with every node's adjoint).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import _example
import numpy as np

import graphdiff as gd
from graphdiff import nn
from graphdiff.nn import plots
from graphdiff.plot import draw_graph

SIZES = (2, 3, 3, 1)
LAYERS = "jkl"  # the lecture's unit indices after the input i


def model_and_pair(seed: int = 0) -> tuple[nn.MLP, np.ndarray, np.ndarray]:
    """The 2-3-3-1 sigmoid net (random weights and biases, so no term is zero) and one
    training pair x (1, 2), t (1, 1)."""
    model = nn.MLP(list(SIZES), activation="sigmoid", output_activation="sigmoid",
                   loss="sse", seed=seed)
    rng = np.random.default_rng(seed + 100)
    for b in model.params[1::2]:
        b[:] = rng.normal(0.0, 0.5, b.shape)
    x = rng.uniform(-1.0, 1.0, (1, SIZES[0]))
    t = np.array([[1.0]])
    return model, x, t


def by_hand(params: Sequence[np.ndarray], x: np.ndarray, t: np.ndarray) -> dict:
    """The lecture's forward and backward pass, formula by formula, for sigmoid units."""
    W1, b1, W2, b2, W3, b3 = params
    f = gd.sigmoid  # evaluates with NumPy when given arrays
    out = {"x": x}
    out["z_j"] = x @ W1 + b1
    out["y_j"] = f(out["z_j"])
    out["z_k"] = out["y_j"] @ W2 + b2
    out["y_k"] = f(out["z_k"])
    out["z_l"] = out["y_k"] @ W3 + b3
    out["y_l"] = f(out["z_l"])
    out["E"] = 0.5 * float(np.sum((out["y_l"] - t) ** 2))
    out["dE/dy_l"] = out["y_l"] - t
    out["dE/dz_l"] = out["dE/dy_l"] * out["y_l"] * (1 - out["y_l"])
    out["dE/dy_k"] = out["dE/dz_l"] @ W3.T  # Σ_l w_kl ∂E/∂z_l
    out["dE/dz_k"] = out["dE/dy_k"] * out["y_k"] * (1 - out["y_k"])
    out["dE/dy_j"] = out["dE/dz_k"] @ W2.T  # Σ_k w_jk ∂E/∂z_k
    out["dE/dz_j"] = out["dE/dy_j"] * out["y_j"] * (1 - out["y_j"])
    out["dE/dw_ij"] = x.T @ out["dE/dz_j"]
    out["dE/dw_jk"] = out["y_j"].T @ out["dE/dz_k"]
    out["dE/dw_kl"] = out["y_k"].T @ out["dE/dz_l"]
    return out


def traced(model: nn.MLP, x: np.ndarray, t: np.ndarray) -> tuple[gd.Trace, dict]:
    """The trace of the model's loss graph at (x, t), and which row holds each quantity:
    the rows y_j, y_k, y_l are the graph's activations, z_* their arguments."""
    g = model.graph
    point = dict(zip(model.step.params, model.params), X=x, Y=t)
    tr = gd.trace(g, **point)
    acts = [n for n in g.nodes if n.op == model.activation]
    rows = {}
    for index, node in zip(LAYERS, acts):
        rows[f"y_{index}"] = tr[node.var]
        rows[f"z_{index}"] = tr[g.nodes[node.args[0]].var]
    return tr, rows


def run(seed: int = 0) -> dict:
    model, x, t = model_and_pair(seed)
    hand = by_hand(model.params, x, t)
    tr, rows = traced(model, x, t)
    _, grads = model.step(model.params, x, t)
    return {"model": model, "x": x, "t": t, "hand": hand, "trace": tr, "rows": rows,
            "step_grads": dict(zip(model.step.params, grads))}


FORMULAS = [  # (quantity, the lecture's formula, which trace number to put beside it)
    ("y_j", "f(Σ_i w_ij x_i + b_j)", ("y_j", "value")),
    ("y_k", "f(Σ_j w_jk y_j + b_k)", ("y_k", "value")),
    ("y_l", "f(Σ_k w_kl y_k + b_l)", ("y_l", "value")),
    ("dE/dy_l", "y_l − t_l", ("y_l", "adjoint")),
    ("dE/dz_l", "∂E/∂y_l · y_l(1 − y_l)", ("z_l", "adjoint")),
    ("dE/dy_k", "Σ_l w_kl ∂E/∂z_l", ("y_k", "adjoint")),
    ("dE/dz_k", "∂E/∂y_k · y_k(1 − y_k)", ("z_k", "adjoint")),
    ("dE/dy_j", "Σ_k w_jk ∂E/∂z_k", ("y_j", "adjoint")),
    ("dE/dz_j", "∂E/∂y_j · y_j(1 − y_j)", ("z_j", "adjoint")),
]


def _numbers(a: np.ndarray) -> str:
    return " ".join(f"{v:9.5f}" for v in np.ravel(a))


def report(result: dict) -> str:
    hand, rows, tr = result["hand"], result["rows"], result["trace"]
    lines = [f"x = {_numbers(result['x'])},  t = {_numbers(result['t'])},  "
             f"E = ½ Σ (y − t)² = {hand['E']:.6f} (trace: {float(tr.value):.6f})", "",
             f"{'quantity':<9} {'the lecture':<24} {'by hand':<30} {'trace row':<12} trace"]
    for name, formula, (row, field) in FORMULAS:
        r = rows[row]
        label = r.name if field == "value" else f"v\u0304{r.name[1:]} "  # the bar takes no column
        lines.append(f"{name:<9} {formula:<24} {_numbers(hand[name]):<30} "
                     f"{label:<12} {_numbers(getattr(r, field))}")
    lines.append("")
    for name, param in (("dE/dw_ij", "W1"), ("dE/dw_jk", "W2"), ("dE/dw_kl", "W3")):
        gap = np.max(np.abs(hand[name] - tr.gradient[param]))
        lines.append(f"{name} = (inputs)ᵀ ∂E/∂z:  max |by hand − trace's v̄({param})| = "
                     f"{gap:.1e}")
    return "\n".join(lines)


def plot(result: dict, out: str | Path) -> list[Path]:
    hand, model = result["hand"], result["model"]
    notes = {(0, i): f"x = {v:.3f}" for i, v in enumerate(np.ravel(result["x"]))}
    for layer, index in enumerate(LAYERS, start=1):
        for u, (y, d) in enumerate(zip(np.ravel(hand[f"y_{index}"]),
                                       np.ravel(hand[f"dE/dz_{index}"]))):
            notes[(layer, u)] = f"y = {y:.3f}\nδ = {d:+.2e}"
    fig = model.diagram(notes=notes, title="forward (y) and backward (δ = ∂E/∂z) pass")
    paths = [plots.save_figure(fig, Path(out) / "backpropagation.png", dpi=110)]
    graph_path = Path(out) / "backpropagation_graph.png"
    draw_graph(model.graph, graph_path, t=result["trace"], show="adjoints")
    return paths + [graph_path]


def main(argv: Sequence[str] | None = None) -> dict:
    return _example.main(__doc__, run, report, plot, argv,
                         {"seed": (int, 0, "weights, biases and the pair (x, t)")})


if __name__ == "__main__":
    main()
