"""Compile time: build, differentiate, simplify, emit and compile() for 10^2 to 10^5 operations.

    python benchmarks/compile_time.py [--quick] [--profile TERMS]

Two families of expressions, both given as text:

- `sum`    sum of n terms w_i*tanh(a_i*x + b_i), every w_i, a_i, b_i an input (3n + 1
           inputs, 5n - 1 operations); n = 25, 250, 2,500, 25,000 spans 10^2..10^5
           operations, and n = 1,000 and n = 10,000 are the sizes the issue names;
- `chain`  x_(k+1) = sin(x_k)*0.5 + x, nested in the text: a chain 10^2..10^5 operations
           deep (three per level; it contracts to a fixed point, so nothing overflows).

Phases, timed separately for the value-and-gradient of every input:

- `build`    gd.parse(text), with the nodes numbered;
- `diff`     gd.value_and_grad_graph (which builds the derivative already simplified);
- `simplify` gd.simplify on the derivative graph: what a separate pass would cost; the
             pipeline does not run it, so it is not in `pipeline`;
- `emit`     graphdiff.codegen.emit_numpy;
- `compile`  Python's own compile(source, "<x>", "exec");
- `pipeline` build + diff + emit + compile;
- `e2e`      gd.value_and_grad(text), what a user calls (also exec and linecache);
             `e2e cpu` is its CPU time, which waiting for a core on a loaded machine does
             not inflate.  A sum of 64 or more terms of one form takes the arrays-of-terms
             path (graphdiff.repeated): the form is differentiated once and runs on arrays
             with an entry per term, so the phases above (which time the sum as written)
             are not what it costs;
- `written`  gd.value_and_grad(text) with that path turned off: the sum compiled as
             written out, what a sum of as many different terms costs (CPU seconds).

Functions of more than graphdiff.codegen.RECYCLE_ABOVE operations are printed in their
large form (see graphdiff.passes.plan_memory): single-use intermediates inside their
reader's expression, recycled names, no comment per line; `lines` counts what CPython
then compiles.  The sum's value and gradient has about 15 operations a term, so from
n = 334 terms on it takes that form.

Sizes up to about 10^4 operations (n <= 10,000 terms, chains up to 10^4) take the median
of 3 runs; the 10^5 sizes run once.  The machine is shared: the load average is printed at
the start and the end.  These are measurements, not tests: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import graphdiff as gd
from graphdiff import compiled
from graphdiff.codegen import emit_numpy

PHASES = ("build", "diff", "simplify", "emit", "compile")
PIPELINE = ("build", "diff", "emit", "compile")
TARGETS = {1_000: 0.5, 10_000: 2.0}  # terms -> seconds, from the issues (#13: 2 s for 10^4)


def sum_text(terms: int) -> str:
    return " + ".join(f"w{i}*tanh(a{i}*x + b{i})" for i in range(terms))


def chain_text(levels: int) -> str:
    # built inside out; the text is linear in the depth and the parser is iterative
    return "sin(" * levels + "x" + ")*0.5 + x" * levels


def operations(g: gd.Graph) -> int:
    return sum(1 for n in g.nodes if n.op not in ("input", "const"))


def numbered(g: gd.Graph) -> gd.Graph:
    """g with its nodes numbered (a Graph numbers them on first use; part of each phase)."""
    _ = g.nodes
    return g


def timed(fn: Callable[[], Any], cpu: dict[str, float] | None = None,
          key: str = "") -> tuple[float, Any]:
    """Wall-clock seconds of fn() and its result; with `cpu`, also records this process's
    CPU seconds under `key` (on a shared machine wall time includes waiting for a core)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    result = fn()
    if cpu is not None:
        cpu[key] = time.process_time() - start_cpu
    return time.perf_counter() - start, result


def run_phases(text: str) -> dict[str, Any]:
    """One run of every phase; seconds per phase and the sizes seen."""
    gc.collect()  # garbage of the previous run is not this run's cost
    t: dict[str, Any] = {}
    cpu: dict[str, float] = {}
    t["build"], g = timed(lambda: numbered(gd.parse(text)), cpu, "build")
    t["diff"], d = timed(lambda: numbered(gd.value_and_grad_graph(g)), cpu, "diff")
    t["simplify"], s = timed(lambda: numbered(gd.simplify(d)), cpu, "simplify")
    t["emit"], (source, _params) = timed(lambda: emit_numpy(d, "value_and_grad"), cpu, "emit")
    t["compile"], _code = timed(lambda: compile(source, "<x>", "exec"), cpu, "compile")
    t["pipeline cpu"] = sum(cpu[k] for k in PIPELINE)
    t["simplify cpu"] = cpu["simplify"]
    lines = source.splitlines()
    t.update(ops=operations(g), dnodes=len(d.nodes), snodes=len(s.nodes), lines=len(lines),
             dels=sum(1 for line in lines if line.lstrip().startswith("del ")))
    return t


def run_end_to_end(text: str, written: bool = False) -> tuple[float, float]:
    """Wall-clock and CPU seconds of gd.value_and_grad(text); `written`: with the
    arrays-of-terms path turned off (the sum compiled as written out)."""
    gc.collect()
    cpu: dict[str, float] = {}
    find = compiled.find_terms
    if written:
        compiled.find_terms = lambda *args, **kwargs: None
    try:
        wall, _vg = timed(lambda: gd.value_and_grad(text), cpu, "e2e")
    finally:
        compiled.find_terms = find
    return wall, cpu["e2e"]


def measure(text: str, runs: int) -> dict[str, Any]:
    """Median seconds per phase over `runs` runs, with the sizes of the graphs and source."""
    results = []
    for _ in range(runs):
        results.append(run_phases(text))
        results[-1]["e2e"], results[-1]["e2e cpu"] = run_end_to_end(text)
        results[-1]["written"] = run_end_to_end(text, written=True)[1]
    row = {k: statistics.median(r[k] for r in results)
           for k in (*PHASES, "e2e", "pipeline cpu", "simplify cpu", "e2e cpu", "written")}
    row["pipeline"] = sum(row[k] for k in PIPELINE)
    sizes = {k: results[0][k] for k in ("ops", "dnodes", "snodes", "lines", "dels")}
    return {**sizes, **row, "runs": runs}


def print_tables(rows: list[tuple[str, int, dict[str, Any]]]) -> None:
    columns = (*PHASES, "pipeline", "e2e", "e2e cpu", "written")
    print("\nwall-clock seconds (median of `runs`); e2e cpu: CPU seconds of the e2e run; "
          "written: CPU seconds of e2e with the sum written out")
    print(f"{'family':<6} {'size':>7} {'ops':>7} {'d nodes':>8} {'lines':>7} {'runs':>4}  "
          + "  ".join(f"{p:>8}" for p in columns))
    for family, size, r in rows:
        print(f"{family:<6} {size:>7,} {r['ops']:>7,} {r['dnodes']:>8,} {r['lines']:>7,} "
              f"{r['runs']:>4}  " + "  ".join(f"{r[p]:>8.3f}" for p in columns))

    print("\nseconds per 1,000 operations, and the split of the pipeline (simplify: extra, "
          "as a share of the pipeline)")
    print(f"{'family':<6} {'size':>7} {'ops':>7}  {'pipeline':>8}  {'e2e':>6}  "
          + "  ".join(f"{p:>8}" for p in PHASES))
    for family, size, r in rows:
        per_k = 1000 / r["ops"]
        shares = "  ".join(f"{100 * r[p] / r['pipeline']:>7.0f}%" for p in PHASES)
        print(f"{family:<6} {size:>7,} {r['ops']:>7,}  {r['pipeline'] * per_k:>8.4f}  "
              f"{r['e2e'] * per_k:>6.4f}  {shares}")

    print("\ncompile() per emitted line, and how many lines are `del` statements")
    print(f"{'family':<6} {'size':>7} {'lines':>7} {'del lines':>9}  {'µs/line':>7}")
    for family, size, r in rows:
        print(f"{family:<6} {size:>7,} {r['lines']:>7,} {r['dels']:>9,}  "
              f"{1e6 * r['compile'] / r['lines']:>7.1f}")


def _verdict(seconds: float, limit: float) -> str:
    return "met" if seconds < limit else "NOT met"


def print_targets(rows: list[tuple[str, int, dict[str, Any]]]) -> None:
    print("\nthe issue's targets (n terms of the sum, value and gradient of all inputs)")
    for family, size, r in rows:
        if family != "sum" or size not in TARGETS:
            continue
        limit = TARGETS[size]
        for label, seconds, cpu in (
                ("gd.value_and_grad(text)", r["e2e"], r["e2e cpu"]),
                ("the same, written out", r["written"], r["written"]),
                ("pipeline", r["pipeline"], r["pipeline cpu"]),
                ("pipeline + simplify", r["pipeline"] + r["simplify"],
                 r["pipeline cpu"] + r["simplify cpu"])):
            print(f"  n = {size:>6,} (< {limit} s)  {label:<24} "
                  f"wall {seconds:7.3f} s: {_verdict(seconds, limit):<7}  "
                  f"CPU {cpu:7.3f} s: {_verdict(cpu, limit)}")


def profile(terms: int, top: int) -> None:
    """cProfile of build + differentiate + emit + compile for the sum of `terms` terms."""
    text = sum_text(terms)
    profiler = cProfile.Profile()
    profiler.enable()
    gd.value_and_grad(text)
    profiler.disable()
    print(f"\ncProfile of gd.value_and_grad(sum of {terms:,} terms), top {top} by tottime")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="stop at 10^4 operations")
    parser.add_argument("--profile", type=int, metavar="TERMS",
                        help="only profile gd.value_and_grad on the sum of TERMS terms")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    if args.profile:
        profile(args.profile, args.top)
        return

    print(f"compile time; python {sys.version.split()[0]}, {os.cpu_count()} cpus (shared)")
    print(f"load average at start: {os.getloadavg()}")
    cases = [("sum", n) for n in (25, 250, 1_000, 2_500, 10_000, 25_000)]
    cases += [("chain", levels) for levels in (33, 333, 3_333, 33_333)]
    if args.quick:
        cases = [(f, s) for f, s in cases if s not in (25_000, 33_333)]
    rows = []
    for family, size in cases:
        text = sum_text(size) if family == "sum" else chain_text(size)
        runs = 1 if size in (25_000, 33_333) else 3
        r = measure(text, runs)
        rows.append((family, size, r))
        print(f"  done: {family} {size:,} ({r['ops']:,} operations, {runs} run(s), "
              f"e2e {r['e2e']:.2f} s)", flush=True)
    print("\nsize: terms of the sum, levels of the chain; ops: operations of the expression; "
          "d nodes: nodes of the value-and-gradient graph; lines: of the emitted module")
    print_tables(rows)
    print_targets(rows)
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
