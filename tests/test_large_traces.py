"""Large traces (issue 10): building a graph costs its own size, not its store's, so tracing
is linear; Jupyter's display of a trace is bounded like a Graph's."""

from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

import graphdiff as gd
from graphdiff.graph import Graph


def _sum_of_scaled(terms: int) -> Graph:
    """x*0.5 + x*1.5 + ...: every term a distinct constant, so every row its own pattern."""
    x = gd.symbols("x")
    s = x * 0.5
    for k in range(1, terms):
        s = s + x * (k + 0.5)
    return s


def test_a_small_graph_in_a_large_store_costs_its_own_size():
    big = _sum_of_scaled(30_000)  # a store of 90,000 nodes
    small = big.node_graph(3)  # x*1.5, sharing the big graph's storage
    tracemalloc.start()
    try:
        assert len(small.nodes) <= 3
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000  # bytes; a per-store table would be 90,000 entries


def test_a_trace_of_many_distinct_constants():
    t = gd.trace(_sum_of_scaled(3000), x=2.0)
    assert len(t.rows) == 1 + 2 * 2999 + 1
    assert t.value == sum(2.0 * (k + 0.5) for k in range(3000))
    assert t.gradient == {"x": sum(k + 0.5 for k in range(3000))}


def test_the_jupyter_display_is_bounded():
    sizes = {}
    for terms in (300, 1200):
        t = gd.trace(_sum_of_scaled(terms), x=1.0, direction={"x": 1.0})
        html, latex = t._repr_html_(), t._repr_latex_()
        assert f"{len(t.rows) - t.DISPLAY_ROWS} more rows" in html
        assert f"{len(t.rows) - t.DISPLAY_ROWS} more rows" in latex
        assert html.count("<tr>") == 3 * t.DISPLAY_ROWS + 3  # three tables and their headers
        sizes[terms] = len(html), len(latex)
        assert t.to_html().count("<tr>") == 3 * len(t.rows) + 3  # all of it, when asked
    # four times the rows, about the same markup
    assert sizes[1200][0] < 1.2 * sizes[300][0] and sizes[1200][1] < 1.2 * sizes[300][1]


def test_a_small_trace_shows_everything():
    t = gd.trace("x1*x2 + sin(x1)", x1=2.0, x2=3.0)
    assert t._repr_html_() == t.to_html() and "more rows" not in t._repr_html_()


def test_the_benchmark_chain_has_the_size_asked_for():
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    try:
        from trace_bench import chain
    finally:
        sys.path.pop(0)
    for nodes in (10, 1000, 30_000):
        assert nodes <= len(chain(nodes).nodes) < nodes + 12
