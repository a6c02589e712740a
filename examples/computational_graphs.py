"""The lecture's computational graphs (figure 6.8 (a)-(d)), built with graphdiff, drawn,
traced at a small point, and differentiated into generated code:

(a) z = x y
(b) logistic regression  ŷ = σ(xᵀw + b)
(c) a layer of rectified linear units  H = max{0, XW + b}  (a mini-batch of rows X)
(d) linear regression with weight decay  J = mean((Xw - y)²) + λ Σᵢ wᵢ²  (w is used twice)

Each is also drawn by one command (the shapes are then left open, the drawing is the same):

    graphdiff graph "x*y" --format png -o a.png
    graphdiff graph "sigmoid(x @ w + b)" --format png -o b.png
    graphdiff graph "maximum(0, X @ W + b)" --format png -o c.png
    graphdiff graph "mean(square(X @ w - y)) + lam*sum(square(w))" --format png -o d.png

(`graphdiff graph EXPR` alone prints the DOT text.)  Run as a script:

    python examples/computational_graphs.py [--out examples/figures]

Prints each graph's table of values, partials and adjoints, its generated
value-and-gradient code and the largest gap between that code's gradient and central
differences; writes computational_graph_a.png ... _d.png.  A graph with an array output,
like H, is differentiated as the sum of its entries (the trace seeds its adjoint with ones).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

import graphdiff as gd
from graphdiff.plot import draw_graph


class Example(NamedTuple):
    title: str
    graph: gd.Graph
    point: dict[str, Any]
    wrt: tuple[str, ...]
    command: str  # the expression to give `graphdiff graph`


def examples() -> dict[str, Example]:
    """The four graphs with a small point to trace them at."""
    x, y = gd.tensor("x", ()), gd.tensor("y", ())  # scalars
    a = Example("(a) z = x y", x * y, {"x": 2.0, "y": 3.0}, ("x", "y"), "x*y")

    xv, w, b = gd.tensor("x", (3,)), gd.tensor("w", (3,)), gd.tensor("b", ())
    logistic = gd.sigmoid(xv @ w + b)
    b_ = Example("(b) logistic regression ŷ = σ(xᵀw + b)", logistic,
                 {"x": np.array([1.0, 2.0, 3.0]), "w": np.array([0.1, -0.2, 0.3]), "b": 0.5},
                 ("w", "b"), "sigmoid(x @ w + b)")

    X, W, bias = gd.tensor("X", (None, 3)), gd.tensor("W", (3, 2)), gd.tensor("b", (2,))
    H = gd.maximum(0, X @ W + bias)
    c = Example("(c) rectified linear units H = max{0, XW + b}", H,
                {"X": np.array([[1.0, 2.0, -1.0], [0.5, -1.0, 2.0]]),
                 "W": np.array([[0.5, -0.3], [0.2, 0.4], [-0.1, 0.3]]),
                 "b": np.array([0.1, 0.05])}, ("W", "b"), "maximum(0, X @ W + b)")

    X, w = gd.tensor("X", (None, 3)), gd.tensor("w", (3,))
    t, lam = gd.tensor("y", (None,)), gd.tensor("lam", ())
    J = gd.mean(gd.square(X @ w - t)) + lam * gd.sum(gd.square(w))
    d = Example("(d) linear regression with weight decay J = mean((Xw - y)²) + λ Σ w²", J,
                {"X": np.array([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0]]),
                 "w": np.array([0.1, 0.2, 0.3]), "y": np.array([1.0, 2.0]), "lam": 0.1},
                ("w",), "mean(square(X @ w - y)) + lam*sum(square(w))")
    return {"a": a, "b": b_, "c": c, "d": d}


def scalar(g: gd.Graph) -> gd.Graph:
    """g itself, or the sum of its entries when its value is an array."""
    return g if g.nodes[g.outputs[0]].shape in ((), None) else gd.sum(g)


def central_differences(g: gd.Graph, point: dict[str, Any], name: str,
                        h: float = 1e-6) -> np.ndarray:
    """d(sum of g's entries)/d point[name], one entry of the input at a time."""
    base = np.asarray(point[name], dtype=float)
    grad = np.zeros_like(base)
    for i in np.ndindex(base.shape):
        values = []
        for step in (h, -h):
            moved = base.copy()
            moved[i] += step
            values.append(float(np.sum(g(**{**point, name: moved}))))
        grad[i] = (values[0] - values[1]) / (2 * h)
    return grad


def run() -> dict[str, dict[str, Any]]:
    """Trace each graph at its point, generate its value-and-gradient code, and measure
    that code's gradient against central differences."""
    out = {}
    for key, ex in examples().items():
        f = scalar(ex.graph)
        vg = gd.value_and_grad(f, wrt=list(ex.wrt), name=f"value_and_grad_{key}")
        value, grads = vg(**ex.point)
        gaps = {name: float(np.max(np.abs(np.asarray(g) - central_differences(
                    ex.graph, ex.point, name)))) for name, g in zip(ex.wrt, grads)}
        out[key] = {"example": ex, "trace": gd.trace(ex.graph, at=ex.point),
                    "value_and_grad": vg, "value": value, "gradient": dict(zip(ex.wrt, grads)),
                    "gaps": gaps}
    return out


def plot(result: dict[str, dict[str, Any]], out: str | Path) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for key, r in result.items():
        path = out / f"computational_graph_{key}.png"
        draw_graph(r["example"].graph, path)
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=Path(__file__).parent / "figures", type=Path)
    args = parser.parse_args(argv)
    result = run()
    for key, r in result.items():
        ex = r["example"]
        print(f"{'=' * 88}\n{ex.title}\n    graphdiff graph \"{ex.command}\" --format png "
              f"-o {key}.png\n")
        print(r["trace"].to_text("all", digits=4))
        print(f"\n{r['value_and_grad'].source}")
        gaps = ", ".join(f"{name} {gap:.1e}" for name, gap in r["gaps"].items())
        print(f"generated gradient vs central differences, largest gap: {gaps}\n")
    for path in plot(result, args.out):
        print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
