"""How long tracing takes: the median of repeated runs for graphs of 1,000 to 30,000 nodes.

    python benchmarks/trace_bench.py [--repeat 7]

Columns: `trace` builds the whole table (values, partials with their formulas, reverse
sweep); `+ forward` adds the forward sweep; `texts` reads every row's formulas as Python
text; `print` renders the text table.  Times are CPU seconds of this process (so other
work on the machine does not inflate them); `wall` repeats `+ forward` in wall-clock time.  The graphs mix the lecture's operations over two
inputs, so every row has partials, a tangent and an adjoint.
"""

from __future__ import annotations

import argparse
import statistics
import time

import graphdiff as gd


def chain(nodes: int) -> gd.Graph:
    """About `nodes` nodes: a recurrence v <- sin(v)*y + v/(1.5 + x) - 0.25*tanh(v)."""
    x, y = gd.symbols("x y")

    def step(v: gd.Graph) -> gd.Graph:
        return gd.sin(v) * y + v / (1.5 + x) - 0.25 * gd.tanh(v)

    # every step after the first adds the same nodes: count them once rather than walk the
    # growing graph after each step (which made building quadratic)
    first = step(x)
    per_step = len(step(first).nodes) - len(first.nodes)
    v = first
    for _ in range(max(0, -(-(nodes - len(first.nodes)) // per_step))):
        v = step(v)
    return v


def median_seconds(fn, repeat: int, clock=time.process_time) -> float:
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 30_000])
    args = parser.parse_args()
    point = {"x": 0.3, "y": 0.7}
    print(f"median of {args.repeat} runs, CPU seconds (wall: wall-clock seconds)")
    print(f"{'nodes':>7}  {'trace':>7}  {'+ forward':>9}  {'wall':>7}  {'texts':>7}  "
          f"{'print':>7}  {'µs/node':>7}")
    for size in args.sizes:
        g = chain(size)
        n = len(g.nodes)
        t = gd.trace(g, **point)
        traced = median_seconds(lambda: gd.trace(g, **point), args.repeat)
        forward = median_seconds(lambda: gd.trace(g, direction={"x": 1.0}, **point),
                                 args.repeat)
        wall = median_seconds(lambda: gd.trace(g, direction={"x": 1.0}, **point),
                              args.repeat, time.perf_counter)
        texts = median_seconds(lambda: [(r.expr, r.adjoint_expr,
                                         [p.expr for p in r.partials.values()])
                                        for r in gd.trace(g, **point).rows], args.repeat)
        printed = median_seconds(lambda: t.to_text(), max(1, args.repeat // 2))
        print(f"{n:>7}  {traced:>7.3f}  {forward:>9.3f}  {wall:>7.3f}  "
              f"{texts - traced:>7.3f}  {printed:>7.3f}  {1e6 * forward / n:>7.1f}")


if __name__ == "__main__":
    main()
