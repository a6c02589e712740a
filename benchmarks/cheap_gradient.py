"""The cheap-gradient principle: value and gradient against the forward pass, SymPy and NumPy by hand.

    python benchmarks/cheap_gradient.py [--points 1000000] [--rounds 15] [--budget 60]

Two expressions over 10^6 points: the log-normal density (y an array, mu and sigma scalars,
so their gradients are sums over the points) and 30 nested compositions of
f(x) = sin(x)*exp(x) + x**2 (x an array; the gradient is per point).  Contenders:

- `forward`        the generated forward function as users call it, `gd.compile(g)(...)`:
                   from its second call with these shapes on, the variant compiled for them;
- `value_and_grad` the reverse-mode function as users call it, `gd.value_and_grad(g)(...)`;
- `... .fn`        the same two as general functions (any shapes; what `.source` shows),
                   called directly;
- `by hand`        NumPy written by hand (log-normal: z = (y - mu)/sigma, value,
                   dy = -z/sigma, dmu = sum(z)/sigma, dsigma = sum(z*z - 1)/sigma, and
                   `by hand, in place` the same with buffers reused, two arrays in all;
                   composite: a loop that keeps sin and exp of every x_k and runs back);
- `sympy`          `sympy.diff` + `sympy.lambdify(..., modules="numpy")`, one function for
                   the value and one for the gradient (scalar inputs' gradients summed).

Timings are medians over interleaved rounds (each round calls every contender once, in a
rotated order) so that load on this shared machine hits all contenders alike; `cpu ms` is
the median CPU time of a call, which waiting for a core does not inflate.  SymPy's
setup (diff + lambdify) runs first in a child process with a time budget; past it, the
table says "> budget" and SymPy is not timed.  These are measurements, not tests: nothing
here asserts a timing.
"""

from __future__ import annotations

import harness  # first: it pins every library to one thread before their import

# isort: split
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import graphdiff as gd

LOGNORMAL = "-0.5*((y - mu)/sigma)**2 - log(sigma) - 0.5*log(2*pi)"
DEPTH = 30


# --- the expressions -------------------------------------------------------------------
def composite_graph(depth: int) -> gd.Graph:
    """x_{k+1} = sin(x_k)*exp(x_k) + x_k**2, `depth` times, built by operators."""
    x = gd.symbols("x")
    v = x
    for _ in range(depth):
        v = gd.sin(v) * gd.exp(v) + v**2
    return v


def sympy_expression(case: str, depth: int = DEPTH):
    """The same expression in SymPy, and its symbols in the generated function's order."""
    import sympy as sp

    if case == "lognormal":
        y, mu, sigma = sp.symbols("y mu sigma")
        expr = (-sp.Float(0.5) * ((y - mu) / sigma) ** 2 - sp.log(sigma)
                - sp.Float(0.5) * sp.log(2 * sp.pi))
        return expr, (y, mu, sigma)
    x = sp.Symbol("x")
    v = x
    for _ in range(depth):
        v = sp.sin(v) * sp.exp(v) + v**2
    return v, (x,)


def sympy_functions(case: str, depth: int = DEPTH, cse: bool = False):
    """diff + lambdify: (value function, gradient function)."""
    import sympy as sp

    expr, args = sympy_expression(case, depth)
    partials = [sp.diff(expr, a) for a in args]
    value = sp.lambdify(args, expr, modules="numpy", cse=cse)
    grad = sp.lambdify(args, partials, modules="numpy", cse=cse)
    return value, grad


def sympy_setup_seconds(case: str, depth: int, cse: bool, budget: float) -> float | None:
    """Seconds SymPy takes for diff + lambdify, measured in a fresh interpreter (import
    excluded); None if it has not finished within `budget` seconds."""
    cmd = [sys.executable, os.path.abspath(__file__), "--probe",
           json.dumps({"case": case, "depth": depth, "cse": cse})]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=budget, check=True)
    except subprocess.TimeoutExpired:
        return None
    return float(out.stdout.strip().splitlines()[-1])


def probe(spec: str) -> None:
    """Child-process side of `sympy_setup_seconds`."""
    args = json.loads(spec)
    import sympy  # noqa: F401  (import time is not SymPy's setup time)

    start = time.perf_counter()
    sympy_functions(args["case"], args["depth"], args["cse"])
    print(time.perf_counter() - start)


# --- hand-written NumPy ----------------------------------------------------------------
def lognormal_by_hand(y, mu, sigma):
    z = (y - mu) / sigma
    zz = z * z
    value = -0.5 * zz - (np.log(sigma) + 0.5 * np.log(2 * np.pi))
    dy = -z / sigma
    dmu = np.sum(z) / sigma
    dsigma = np.sum(zz - 1) / sigma
    return value, (dy, dmu, dsigma)


def lognormal_by_hand_in_place(y, mu, sigma):
    """The same, reusing buffers as a careful NumPy programmer would: two arrays in all."""
    z = np.subtract(y, mu)
    z /= sigma
    zz = np.square(z)
    dmu = np.sum(z) / sigma
    dsigma = (np.sum(zz) - zz.size) / sigma
    zz *= -0.5
    zz -= np.log(sigma) + 0.5 * np.log(2 * np.pi)
    z *= -1 / sigma
    return zz, (z, dmu, dsigma)


def composite_by_hand(x, depth: int = DEPTH):
    # d/dx [sin(x) exp(x) + x²] = exp(x) (cos(x) + sin(x)) + 2x
    kept = []
    for _ in range(depth):
        s, e = np.sin(x), np.exp(x)
        kept.append((x, s, e))
        x = s * e + x * x
    bar = None
    for xk, s, e in reversed(kept):
        local = e * (np.cos(xk) + s) + 2 * xk
        bar = local if bar is None else bar * local
    return x, (bar,)


# --- SymPy's functions as one value-and-gradient contender -----------------------------
def _sum_like(t, x):
    """A per-point partial summed to the shape of its input (as the generated code does)."""
    if np.ndim(x) == 0:
        return np.sum(t)
    return np.broadcast_to(t, np.shape(x))


def sympy_value_and_grad(value_fn, grad_fn) -> Callable:
    def value_and_grad(*xs):
        partials = grad_fn(*xs)
        return value_fn(*xs), tuple(_sum_like(t, x) for t, x in zip(partials, xs))
    return value_and_grad


# --- timing ----------------------------------------------------------------------------
def interleaved_times(contenders: dict[str, Callable[[], Any]],
                      rounds: int) -> dict[str, list[tuple[float, float]]]:
    """(wall-clock, CPU) seconds per call of each contender; every round calls each once,
    starting one further on."""
    names = list(contenders)
    times: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for r in range(rounds):
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            start, start_cpu = time.perf_counter(), time.process_time()
            contenders[name]()
            times[name].append((time.perf_counter() - start, time.process_time() - start_cpu))
    return times


def medians(times: dict[str, list[tuple[float, float]]], which: int = 0) -> dict[str, float]:
    """Median wall-clock (which=0) or CPU (which=1) seconds per contender."""
    return {name: statistics.median(t[which] for t in ts) for name, ts in times.items()}


def max_abs_difference(a, b) -> float:
    """Largest |a - b| over the value and every gradient of two (value, grads) results."""
    va, ga = a
    vb, gb = b
    diffs = [np.max(np.abs(np.asarray(va) - np.asarray(vb)))]
    diffs += [np.max(np.abs(np.asarray(p) - np.asarray(q))) for p, q in zip(ga, gb)]
    return float(max(diffs))


def all_finite(result) -> bool:
    value, grads = result
    return bool(np.all(np.isfinite(value)) and all(np.all(np.isfinite(g)) for g in grads))


def _statements(source: str) -> int:
    """Lines of the generated function that compute something (not del, comments, blanks)."""
    return sum(1 for line in source.splitlines()
               if "=" in line and not line.lstrip().startswith(("#", "del ")))


def _fmt_ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{1e3 * seconds:9.1f}"


def _fmt_setup(seconds: float | None, budget: float, ran: bool) -> str:
    if not ran:
        return "-"
    return f"> {budget:.0f} s" if seconds is None else f"{seconds:.2f} s"


def run_case(title: str, case: str, graph: gd.Graph, args: tuple, by_hand: Callable | None,
             rounds: int, budget: float, by_hand_in_place: Callable | None = None) -> None:
    compiled_forward = gd.compile(graph)
    compiled_vg = gd.value_and_grad(graph)
    forward, vg = compiled_forward.fn, compiled_vg.fn
    contenders: dict[str, Callable[[], Any]] = {
        "forward": lambda: compiled_forward(*args),
        "value_and_grad": lambda: compiled_vg(*args),
        "forward .fn": lambda: forward(*args),
        "vg .fn": lambda: vg(*args),
    }
    reference = vg(*args)
    results = {"forward": (compiled_forward(*args), ()), "value_and_grad": compiled_vg(*args),
               "forward .fn": (forward(*args), ()), "vg .fn": reference}
    variant_forward = compiled_forward.specialized(*args)
    variant_vg = compiled_vg.specialized(*args)
    if by_hand is not None:
        contenders["by hand"] = lambda: by_hand(*args)
        results["by hand"] = by_hand(*args)
    if by_hand_in_place is not None:
        contenders["by hand, in place"] = lambda: by_hand_in_place(*args)
        results["by hand, in place"] = by_hand_in_place(*args)

    sympy_setup = sympy_setup_seconds(case, DEPTH, cse=False, budget=budget)
    if sympy_setup is not None:
        sp_vg = sympy_value_and_grad(*sympy_functions(case))
        contenders["sympy"] = lambda: sp_vg(*args)
        results["sympy"] = sp_vg(*args)

    times = interleaved_times(contenders, rounds)
    wall, cpu = medians(times), medians(times, 1)
    base_vg = wall["value_and_grad"]

    print(f"\n{title}")
    print(f"  generated source: forward {_statements(compiled_forward.source)} lines, "
          f"value_and_grad {_statements(compiled_vg.source)} lines; variants for these "
          f"shapes: {_statements(variant_forward.source)} and "
          f"{_statements(variant_vg.source)} lines; "
          f"values and gradients finite: {all_finite(reference)}")
    print(f"  {'contender':<16}{'median ms':>10}  {'min ms':>8}  {'cpu ms':>8}  "
          f"{'/ forward':>9}  {'/ vg':>6}  "
          f"{'setup':>9}  {'max |Δ| vs vg':>13}")
    for name, seconds in wall.items():
        res = results[name]
        if name.startswith("forward"):
            diff = float(np.max(np.abs(res[0] - reference[0])))
        else:
            diff = max_abs_difference(res, reference)
        setup = _fmt_setup(sympy_setup, budget, name == "sympy")
        print(f"  {name:<16}{_fmt_ms(seconds):>10}  {_fmt_ms(min(times[name])[0]):>8}  "
              f"{_fmt_ms(cpu[name]):>8}  {seconds / wall['forward']:>9.2f}  "
              f"{seconds / base_vg:>6.2f}  {setup:>9}  {diff:>13.2e}")
    if sympy_setup is None:
        print(f"  {'sympy':<16}{'-':>10}  {'-':>8}  {'-':>8}  {'-':>9}  {'-':>6}  "
              f"{_fmt_setup(None, budget, True):>9}  {'-':>13}   (diff + lambdify did not "
              f"finish within the budget)")

    def ratio(a: str, b: str) -> str:
        return f"{wall[a] / wall[b]:.2f} wall, {cpu[a] / cpu[b]:.2f} CPU"

    def verdict(a: str, b: str, ok: Callable[[float], bool]) -> str:
        return "met" if ok(wall[a] / wall[b]) else "NOT met"

    print(f"  value_and_grad / forward = {ratio('value_and_grad', 'forward')}  "
          f"(target <= 3, on wall time: {verdict('value_and_grad', 'forward', lambda r: r <= 3)})")
    print(f"  general functions: vg .fn / forward .fn = {ratio('vg .fn', 'forward .fn')}")
    if by_hand is not None:
        target = (f"target <= 1.2, on wall time: "
                  f"{verdict('value_and_grad', 'by hand', lambda r: r <= 1.2)}"
                  if case == "lognormal" else "no target")
        print(f"  value_and_grad / by hand = {ratio('value_and_grad', 'by hand')}  ({target})")
    if by_hand_in_place is not None:
        print(f"  value_and_grad / by hand, in place = "
              f"{ratio('value_and_grad', 'by hand, in place')}  (the stricter reference; "
              f"target <= 1.2: {verdict('value_and_grad', 'by hand, in place', lambda r: r <= 1.2)})")
    if "sympy" in wall:
        print(f"  sympy / value_and_grad = {ratio('sympy', 'value_and_grad')}  (target > 1, on "
              f"wall time: {verdict('sympy', 'value_and_grad', lambda r: r > 1)}); "
              f"SymPy setup {sympy_setup:.2f} s")
    else:
        print(f"  sympy / value_and_grad: SymPy's diff + lambdify did not finish within "
              f"{budget:.0f} s, so there is nothing to run")


def sympy_by_depth(depths: list[int], points: int, rounds: int, budget: float) -> None:
    """Where SymPy stops: setup time and run time of the composite at smaller depths.

    lambdify is given cse=True here: without it the printed derivative grows like 3^depth
    and the NumPy code it gives is far slower than with it."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.01, 0.01, points)
    print("\ncomposite at smaller depths, SymPy with cse=True (setup = diff + lambdify in a "
          "fresh process)")
    print(f"  {'depth':>5}  {'sympy setup':>11}  {'sympy ms':>9}  {'generated vg ms':>15}  "
          f"{'sympy / vg':>10}  {'max |Δ|':>9}")
    for depth in depths:
        vg = gd.value_and_grad(composite_graph(depth)).fn
        setup = sympy_setup_seconds("composite", depth, cse=True, budget=budget)
        if setup is None:
            print(f"  {depth:>5}  {f'> {budget:.0f} s':>11}  {'-':>9}  {'-':>15}  {'-':>10}  "
                  f"{'-':>9}")
            break  # deeper is slower still
        sp_vg = sympy_value_and_grad(*sympy_functions("composite", depth, cse=True))
        times = interleaved_times({"sympy": lambda f=sp_vg: f(x), "vg": lambda f=vg: f(x)}, rounds)
        m = medians(times)
        diff = max_abs_difference(sp_vg(x), vg(x))
        print(f"  {depth:>5}  {setup:>9.2f} s  {_fmt_ms(m['sympy']):>9}  {_fmt_ms(m['vg']):>15}"
              f"  {m['sympy'] / m['vg']:>10.2f}  {diff:>9.1e}")


# --- issue 13's rows: log-normal value_and_grad against its peers ------------------------
# (N, whether mu and sigma are arrays too, the goal for graphdiff's best / hand NumPy)
PEER_ROWS = ((10, False, 1.0), (1_000, False, 0.8), (1_000_000, True, 0.6))
QUICK_PEER_ROWS = ((10, False, 1.0), (100, False, 0.8), (1_000, True, 0.6))


def lognormal_by_hand_arrays(y, mu, sigma):
    """The hand-written value and gradient when mu and sigma are arrays too (per point)."""
    z = (y - mu) / sigma
    zz = z * z
    value = -0.5 * zz - (np.log(sigma) + 0.5 * np.log(2 * np.pi))
    dmu = z / sigma
    return value, (-dmu, dmu, (zz - 1) / sigma)


def lognormal_inputs(n: int, arrays: bool, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    y = rng.normal(0.5, 2.0, n)
    if not arrays:
        return y, 0.5, 2.0
    return y, rng.normal(0.5, 0.1, n), rng.uniform(1.5, 2.5, n)


def jax_lognormal(args: tuple) -> Callable[[], Any]:
    """jit(value_and_grad) of the summed density, the per-point value as auxiliary output:
    the gradient graphdiff's value_and_grad returns for an array-valued expression.  The
    inputs are put on the device once, as a JAX user keeps them."""
    jax = harness.jax_or_none()
    if jax is None:
        raise ImportError(harness.NOT_INSTALLED)
    jnp = jax.numpy

    def density(y, mu, sigma):
        z = (y - mu) / sigma
        return -0.5 * z**2 - jnp.log(sigma) - 0.5 * jnp.log(2 * jnp.pi)

    def total(y, mu, sigma):
        value = density(y, mu, sigma)
        return jnp.sum(value), value

    vg = jax.jit(jax.value_and_grad(total, argnums=(0, 1, 2), has_aux=True))
    device = [jnp.asarray(a, dtype=jnp.float64) for a in args]

    def run():
        (_, value), grads = jax.block_until_ready(vg(*device))
        return value, grads

    return run


def lognormal_contenders(args: tuple, arrays: bool) -> dict[str, Callable[[], Callable]]:
    """Builders: each returns the call to time (building is what `first call` counts)."""
    by_hand = lognormal_by_hand_arrays if arrays else lognormal_by_hand

    def graphdiff_call(backend: str = "numpy"):
        compiled = gd.value_and_grad(gd.parse(LOGNORMAL), backend=backend)
        return lambda: compiled(*args)

    def graphdiff_fn():
        fn = gd.value_and_grad(gd.parse(LOGNORMAL)).fn
        return lambda: fn(*args)

    return {"hand NumPy": lambda: (lambda: by_hand(*args)),
            "graphdiff": graphdiff_call,
            "graphdiff .fn": graphdiff_fn,
            "graphdiff numba": lambda: graphdiff_call("numba"),
            "JAX": lambda: jax_lognormal(args)}


def lognormal_peers(rows, seconds: float) -> bool:
    """Time issue 13's log-normal rows; print the two tables; False if any contender
    disagrees with hand NumPy."""
    summary, detail, all_agree = [], [], True
    names = list(lognormal_contenders((), False))
    for n, arrays, goal in rows:
        args = lognormal_inputs(n, arrays)
        runs, first, notes, agree = harness.prepare(
            lognormal_contenders(args, arrays), harness.flat, harness.tolerance(np.float64))
        all_agree = all_agree and agree
        times, cpu = harness.interleaved_medians(runs, seconds)
        ref = times["hand NumPy"]
        inputs = "y, mu, sigma arrays" if arrays else "y array; mu, sigma scalars"
        ours = [times[k] / ref for k in ("graphdiff", "graphdiff .fn", "graphdiff numba")
                if k in times]
        cells = [f"N = {n:,} ({inputs})", harness.fmt_time(ref)]
        for name in names[1:]:
            cells.append(harness.ratio(times, name, "hand NumPy") if name in times
                         else notes[name].split(" (")[0].split(":")[0])
        best = min(ours) if ours else None
        cells += [f"≤ {goal:.1f}", "-" if best is None else f"{best:.2f}",
                  "-" if best is None else ("yes" if best <= goal else "no")]
        summary.append(cells)
        for name in names:
            detail.append([f"{n:,}", name, harness.fmt_time(times.get(name)),
                           harness.ratio(times, name, "hand NumPy"),
                           harness.ratio(cpu, name, "hand NumPy"),
                           harness.fmt_time(first.get(name)), notes.get(name, "")])
    print("\nlog-normal value_and_grad against its peers (issue 13), ratios to hand NumPy "
          "in the same interleaved run:\n")
    print(harness.markdown(["work", "hand NumPy"] + names[1:] + ["goal", "best graphdiff",
                                                                "met"], summary))
    print()
    print(harness.markdown(["N", "contender", "median", "ratio to hand NumPy",
                            "CPU-time ratio", "first call", "agreement"], detail))
    print("\nfirst call: building the function and calling it once (graphdiff compiles a "
          "shape-specialised variant on a later call, not counted; Numba and JAX compile "
          "here).  JAX's inputs are device arrays made once.")
    return all_agree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--budget", type=float, default=60.0,
                        help="seconds SymPy's diff + lambdify may take before it is skipped")
    parser.add_argument("--depths", type=int, nargs="*", default=[2, 4, 6, 8, 10],
                        help="smaller depths of the composite to compare with SymPy")
    parser.add_argument("--peer-seconds", type=float, default=5.0,
                        help="timing budget of each log-normal row against the peers")
    parser.add_argument("--peers-only", action="store_true",
                        help="only issue 13's log-normal rows against the peers")
    parser.add_argument("--no-peers", action="store_true",
                        help="only the original tables (no peer rows)")
    parser.add_argument("--quick", action="store_true",
                        help="toy sizes and budgets: checks that everything runs and agrees")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(args.probe)
        return 0
    if args.quick:
        args.points, args.rounds, args.depths, args.budget = 1_000, 3, [2], 5.0
        args.peer_seconds = 0.05

    print(harness.environment())
    print(harness.load_average("start"))
    agree = True
    if not args.no_peers:
        agree = lognormal_peers(QUICK_PEER_ROWS if args.quick else PEER_ROWS,
                                args.peer_seconds)
    if args.peers_only:
        print(harness.load_average("end"))
        return 0 if agree else 1

    print(f"\ncheap gradient: {args.points:,} points, median of {args.rounds} interleaved "
          f"rounds, 1 BLAS thread; numpy {np.__version__}, python {sys.version.split()[0]}")
    print(f"load average at start: {os.getloadavg()}")
    rng = np.random.default_rng(0)

    y = rng.normal(0.5, 2.0, args.points)
    run_case(f"log-normal density  {LOGNORMAL}  (y: {args.points:,} points; mu, sigma scalars)",
             "lognormal", gd.parse(LOGNORMAL), (y, 0.5, 2.0), lognormal_by_hand,
             args.rounds, args.budget, by_hand_in_place=lognormal_by_hand_in_place)

    x = rng.uniform(-0.01, 0.01, args.points)
    run_case(f"composite  x_(k+1) = sin(x_k)*exp(x_k) + x_k**2, {DEPTH} levels  "
             f"(x: {args.points:,} points in [-0.01, 0.01])",
             "composite", composite_graph(DEPTH), (x,), composite_by_hand,
             args.rounds, args.budget)

    if args.depths:
        sympy_by_depth(args.depths, args.points, max(3, args.rounds // 3), args.budget)
    print(f"\nload average at end: {os.getloadavg()}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
