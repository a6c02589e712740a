"""The activation functions of the lecture's table and their derivatives, all from
graphdiff's registry: the table is generated from the registry's metadata, each derivative
is compiled by `gd.grad` from the function's graph and checked against central differences.

    python examples/activations.py [--out examples/figures]

Prints the table, the generated derivative code of tanh, and for each activation f and f'
at a few points with the largest gap between gd.grad and central differences; writes
activations.png (the same as `graphdiff activations --plot activations.png`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import graphdiff as gd
from graphdiff.plot import plot_activations
from graphdiff.render import activations_table

PRELU_ALPHA = 0.25
POINTS = (-2.0, -0.5, 0.5, 2.0)


def derivative(name: str) -> tuple[gd.CompiledFunction, gd.CompiledFunction]:
    """f and f' of one activation as generated functions of a vector x (PReLU with its
    slope fixed at PRELU_ALPHA)."""
    x = gd.tensor("x", (None,))
    f = gd.prelu(x, PRELU_ALPHA) if name == "prelu" else gd.call(name, x)
    return gd.compile(f, name=name), gd.grad(f, wrt="x", name=f"d_{name}")


def run(n: int = 601, h: float = 1e-6) -> dict:
    """f and f' of every activation on [-3, 3] (n points), and the largest difference
    between gd.grad and central differences away from the kinks at 0."""
    x = np.linspace(-3.0, 3.0, n)
    smooth = np.abs(x) > 10 * h  # central differences straddle the kink of relu & co at 0
    rows = {}
    for p in gd.activations():
        f, df = derivative(p.name)
        central = (f(x + h) - f(x - h)) / (2 * h)
        rows[p.name] = {"f": f(x), "df": df(x), "grad_source": df.source,
                        "gap": float(np.max(np.abs(df(x) - central)[smooth]))}
    return {"x": x, "rows": rows}


def report(result: dict) -> str:
    at = ", ".join(f"{v:g}" for v in POINTS)
    header = (f"{'activation':<12} {'f at x = ' + at:<38} "
              f"{'df/dx (gd.grad) at the same x':<38} max |gd.grad - central difference|")
    lines = [header]
    x = result["x"]
    index = [int(np.argmin(np.abs(x - v))) for v in POINTS]
    for name, row in result["rows"].items():
        f = " ".join(f"{row['f'][i]:8.4f}" for i in index)
        df = " ".join(f"{row['df'][i]:8.4f}" for i in index)
        lines.append(f"{name:<12} {f:<38} {df:<38} {row['gap']:.1e}")
    return "\n".join(lines)


def plot(result: dict, out: str | Path) -> Path:
    path = Path(out) / "activations.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    plot_activations(path, x=result["x"], prelu_alpha=PRELU_ALPHA)
    return path


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=Path(__file__).parent / "figures", type=Path)
    args = parser.parse_args(argv)
    print(activations_table("text"))
    result = run()
    print("The derivative of tanh, as gd.grad generates it:\n")
    print(result["rows"]["tanh"]["grad_source"])
    print(report(result))
    print(f"\nwrote {plot(result, args.out)}")
    return result


if __name__ == "__main__":
    main()
