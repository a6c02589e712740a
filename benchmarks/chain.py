"""The 1,000-layer scalar-weighted tanh chain: value and gradient, compiled against a hand loop.

    taskset -c 1 python benchmarks/chain.py [--layers 1000] [--points 10] [--seconds 5]
                                            [--quick]

x_{k+1} = tanh(w_k x_k) for k = 1..L, with x an array of `--points` points and every w_k a
scalar input of its own (w1, ..., wL), so the graph has L + 1 inputs.  Two tables: the
value alone (`gd.compile`), then value and gradient (`gd.value_and_grad`: the output and
the gradient of its sum with respect to x and every w_k).  Contenders, timed
in the same interleaved rounds (every contender once per round, the order rotated):

- `hand loop`        the reference (ratio 1.00): a Python loop over the layers with NumPy,
                     forward keeping each tanh, then back over the layers;
- `graphdiff`        the compiled function called as users call it;
- `graphdiff .fn`    its general function, called directly;
- `graphdiff numba`  the same on graphdiff's Numba backend;
- `JAX lax.scan`     jit of a `lax.scan` over the weights, given as one array (and
                     jit(value_and_grad) of it; float64 enabled).

Every contender's result is checked against the hand loop's before timing (its first
call and its fourth, when variants and caches are in use).
`first call` is building the function and its first call (graph, differentiation, code
generation, compilation).  Nothing here asserts a timing.
"""

from __future__ import annotations

import harness  # first: it pins every library to one thread before their import

# isort: split
import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import graphdiff as gd

GOAL = 1.5  # issue 13: graphdiff's call at most 1.5 times the hand loop


def chain_graph(layers: int) -> gd.Graph:
    """tanh(w_L * ... tanh(w_1 * x)), built by operators; inputs x, w1, ..., wL."""
    x = gd.symbols("x")
    v = x
    for k in range(1, layers + 1):
        v = gd.tanh(gd.symbols(f"w{k}") * v)
    return gd.parse(v, inputs=["x"] + [f"w{k}" for k in range(1, layers + 1)])


def chain_value_by_hand(x: np.ndarray, *w: float) -> np.ndarray:
    """The forward loop alone."""
    for wk in w:
        x = np.tanh(wk * x)
    return x


def chain_by_hand(x: np.ndarray, *w: float) -> tuple[np.ndarray, tuple]:
    """Forward keeping x_k and t_k = tanh(w_k x_k); back: d t = 1 - t², the adjoint of w_k
    is sum(bar t_k (1 - t_k²) x_k) and of x_k is bar t_k (1 - t_k²) w_k."""
    kept = []
    for wk in w:
        t = np.tanh(wk * x)
        kept.append((x, t))
        x = t
    bar = np.ones_like(x)
    grads_w = [0.0] * len(w)
    for k in range(len(w) - 1, -1, -1):
        xk, t = kept[k]
        bar = bar * (1.0 - t * t)
        grads_w[k] = np.sum(bar * xk)
        bar = bar * w[k]
    return x, (bar, *grads_w)


def jax_scan(x: np.ndarray, w: np.ndarray, gradient: bool) -> Callable[[], Any]:
    """jit of a lax.scan over the weights; with `gradient`, jit(value_and_grad) of its sum
    with the output as auxiliary value."""
    jax = harness.jax_or_none()
    if jax is None:
        raise ImportError(harness.NOT_INSTALLED)
    jnp = jax.numpy

    def chain(x, w):
        out, _ = jax.lax.scan(lambda h, wk: (jnp.tanh(wk * h), None), x, w)
        return jnp.sum(out), out

    xd, wd = jnp.asarray(x), jnp.asarray(w)
    if not gradient:
        value = jax.jit(lambda x, w: chain(x, w)[1])
        return lambda: jax.block_until_ready(value(xd, wd))
    vg = jax.jit(jax.value_and_grad(chain, argnums=(0, 1), has_aux=True))

    def run():
        (_, out), grads = jax.block_until_ready(vg(xd, wd))
        return out, grads  # grads: x's, then the weights' as one array

    return run


def flat(result) -> list:
    """[value, gradient of x, gradients of the weights as one array], whether the weights'
    gradients come one per weight or as one array (JAX)."""
    value, grads = result
    return [value, grads[0], np.hstack([np.ravel(g) for g in grads[1:]])]


def contenders(x: np.ndarray, w: np.ndarray, gradient: bool
               ) -> dict[str, Callable[[], Callable[[], Any]]]:
    """Builders: each returns the call to time (building is what `first call` counts).
    `gradient`: value and gradient (gd.value_and_grad), else the value (gd.compile)."""
    ws = [float(v) for v in w]
    layers = len(ws)
    make = gd.value_and_grad if gradient else gd.compile
    by_hand = chain_by_hand if gradient else chain_value_by_hand

    def graphdiff(backend: str = "numpy", general: bool = False):
        compiled = make(chain_graph(layers), backend=backend)
        fn = compiled.fn if general else compiled
        return lambda: fn(x, *ws)

    return {"hand loop": lambda: (lambda: by_hand(x, *ws)),
            "graphdiff": graphdiff,
            "graphdiff .fn": lambda: graphdiff(general=True),
            "graphdiff numba": lambda: graphdiff("numba"),
            "JAX lax.scan": lambda: jax_scan(x, w, gradient)}


NAMES = ("hand loop", "graphdiff", "graphdiff .fn", "graphdiff numba", "JAX lax.scan")


def measure(layers: int, points: int, seconds: float, gradient: bool,
            names: Sequence[str] = NAMES) -> tuple[list[list[str]], bool]:
    """The table's rows and whether every contender agreed with the hand loop (always
    measured, whatever `names` says: it is the reference)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, points)
    w = rng.uniform(0.9, 1.3, layers)  # near 1: the signal neither dies nor saturates
    builders = {name: build for name, build in contenders(x, w, gradient).items()
                if name == "hand loop" or name in names}
    runs, first, notes, agree = harness.prepare(builders,
                                                flat if gradient else (lambda v: [v]),
                                                harness.tolerance(np.float64))
    wall, cpu = harness.interleaved_medians(runs, seconds)
    rows = []
    for name in builders:
        goal = f"≤ {GOAL}" if name.startswith("graphdiff") else ""
        rows.append([name, harness.fmt_time(wall.get(name)),
                     harness.ratio(wall, name, "hand loop"), goal,
                     harness.ratio(cpu, name, "hand loop"),
                     harness.fmt_time(first.get(name)), notes[name]])
    return rows, agree


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=1000)
    parser.add_argument("--points", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=5.0, help="timing budget")
    parser.add_argument("--contenders", nargs="+", default=list(NAMES), choices=NAMES,
                        help="default: all (the Numba backend compiles a 1,000-layer kernel "
                             "per table on its first call: minutes)")
    parser.add_argument("--quick", action="store_true",
                        help="20 layers and a 0.05 s budget: checks that everything runs "
                             "and agrees")
    args = parser.parse_args(argv)
    if args.quick:
        args.layers, args.seconds = 20, 0.05
    print(harness.environment())
    print(harness.load_average("start"))
    agree = True
    for gradient in (False, True):
        what = ("value and gradient (x and every w_k; gd.value_and_grad)" if gradient
                else "value (gd.compile)")
        print(f"\n{args.layers}-layer chain x_(k+1) = tanh(w_k x_k), x: {args.points:,} "
              f"points, w_k: {args.layers} scalar inputs; {what}; ratios to the hand loop "
              f"in the same interleaved run\n")
        rows, ok = measure(args.layers, args.points, args.seconds, gradient,
                           args.contenders)
        agree = agree and ok
        print(harness.markdown(["contender", "median", "ratio to hand loop", "goal",
                                "CPU-time ratio", "first call", "agreement"], rows))
    print("\nJAX takes the weights as one array (a scan needs one); the others as "
          f"{args.layers} scalar arguments.")
    print(harness.load_average("end"))
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
