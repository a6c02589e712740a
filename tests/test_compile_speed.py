"""The form of large generated functions, which CPython compiles faster: single-use
intermediates inlined into their reader's expression, nested a bounded depth, no comment
per line; small functions keep one line per operation.  Structure only: no timings here
(benchmarks/compile_time.py measures them)."""

from __future__ import annotations

import ast
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_differential import Rejected, check_case, random_case

import graphdiff as gd
from graphdiff import codegen, compiled
from graphdiff.passes import INLINE_DEPTH, plan_memory, schedule

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from compile_time import chain_text, sum_text


def _body(source: str, name: str) -> list[ast.stmt]:
    (f,) = [s for s in ast.parse(source).body if isinstance(s, ast.FunctionDef)
            and s.name == name]
    return f.body


def _depth(node: ast.AST) -> int:
    """How deeply operations (calls, operators) nest in an expression; iterative."""
    deepest, stack = 0, [(node, 0)]
    while stack:
        n, d = stack.pop()
        if isinstance(n, (ast.BinOp, ast.UnaryOp, ast.Call)):
            d += 1
        deepest = max(deepest, d)
        stack.extend((c, d) for c in ast.iter_child_nodes(n))
    return deepest


def test_a_large_function_computes_single_use_intermediates_inside_their_reader(monkeypatch):
    terms = codegen.RECYCLE_ABOVE // 5 + 100  # 5 operations a term: past the threshold
    # the sum written out (its terms of one form would otherwise run on arrays of terms,
    # see test_repeated.py): the large form of any function this size
    monkeypatch.setattr(compiled, "find_terms", lambda *args, **kwargs: None)
    f = gd.value_and_grad(sum_text(terms))
    body = _body(f.source, "value_and_grad")
    lines = [s for s in body if isinstance(s, ast.Assign)]
    # 15 lines a term, one per operation, before inlining; 5 to 6 after
    assert len(lines) < 6.5 * terms
    assert "tanh(a0 * x + b0)" in f.source
    assert max(_depth(s.value) for s in lines) <= INLINE_DEPTH + 2  # the reader and a call
    code = f.source.split("def value_and_grad")[1].splitlines()
    assigned = [line for line in code if re.match(r"\s+[\w, ]+ = ", line)]
    assert len(assigned) == len(lines) and not any("  # " in line for line in assigned)
    rng = np.random.default_rng(0)
    args = rng.uniform(-1, 1, size=len(f.inputs))
    value, grads = f(*args)
    point = dict(zip(f.inputs, args))
    np.testing.assert_allclose(value, sum(point[f"w{i}"] * np.tanh(
        point[f"a{i}"] * point["x"] + point[f"b{i}"]) for i in range(terms)), rtol=1e-12)
    k = f.inputs.index("w7")
    np.testing.assert_allclose(grads[k], np.tanh(point["a7"] * point["x"] + point["b7"]))


def test_a_small_function_keeps_one_line_per_operation_with_its_comment():
    f = gd.value_and_grad(sum_text(3))
    body = _body(f.source, "value_and_grad")
    assert all(_depth(s.value) <= 1 for s in body if isinstance(s, ast.Assign))
    assert "v13 = np.tanh(v12)  # tanh(a0*x + b0)" in f.source
    assert "del " in f.source


def test_a_chain_of_100000_operations_compiles():
    f = gd.compile(chain_text(33_334))  # three operations a level
    y = x = 0.3
    for _ in range(33_334):
        y = np.sin(y) * 0.5 + x
    assert f(x) == pytest.approx(y, rel=1e-12)
    body = _body(f.source, "f")
    assert max(_depth(s.value) for s in body if isinstance(s, ast.Assign)) <= INLINE_DEPTH + 2


@pytest.mark.parametrize("seed", range(12))
def test_the_plan_inlines_only_what_is_read_once_and_releases_after_the_last_reader(seed):
    g = gd.value_and_grad_graph(random_case(seed).graph)
    nodes, sched = g.nodes, schedule(g)
    plan = plan_memory(g, sched, free=True, recycle_above=0, inline=True)
    readers: dict[int, list[int]] = {}
    for n in nodes:
        for a in n.args:
            readers.setdefault(a, []).append(n.index)
    line = list(range(len(nodes)))  # the line that computes each node
    for n in reversed(nodes):
        for a in n.args:
            if a in plan.inline:
                line[a] = line[n.index]
    for i in plan.inline:
        assert len(readers[i]) == 1 and i not in g.outputs
        assert nodes[i].op not in ("input", "const")
    for at, dead in plan.release.items():
        assert at not in plan.inline and len(dead) == len(set(dead))
        for a in dead:
            assert a not in plan.inline and a not in g.outputs
            # released on the line of its last reader: no line after it reads the name
            assert max(sched.position[line[r]] for r in readers[a]) == sched.position[at]


# The differential harness with every function in its large form (the threshold at 0):
# values, shapes, dtypes, scalar kinds and ownership as the plain path's.
@pytest.mark.parametrize("seed", range(48))
def test_the_large_function_form_agrees_with_the_plain_path(seed, tmp_path):
    case = random_case(seed)
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        small = gd.value_and_grad(case.graph, wrt=case.wrt)
        mp.setattr(codegen, "RECYCLE_ABOVE", 0)
        large = gd.value_and_grad(case.graph, wrt=case.wrt)
        # names recycled, not deleted: the large form
        assert not any(isinstance(s, ast.Delete) for s in _body(large.source, large.name))
        with np.errstate(all="ignore"):
            expected, got = small(**case.point), large(**case.point)
        for e, r in zip(_flat(expected), _flat(got)):
            assert type(e) is type(r) and np.shape(e) == np.shape(r)
            assert np.result_type(e) == np.result_type(r)
            np.testing.assert_array_equal(e, r)  # the same operations in the same order
        try:
            check_case(case, tmp_path)
        except Rejected:
            pytest.skip("not finite at its point")


def test_the_large_form_is_what_the_differential_cases_ran():
    inlined = 0
    for seed in range(48):
        g = gd.value_and_grad_graph(random_case(seed).graph)
        inlined += len(plan_memory(g, schedule(g), recycle_above=0, inline=True).inline)
    assert inlined > 48  # the cases above exercise inlining, not only name recycling


def _flat(value) -> list:
    if isinstance(value, tuple):
        return [x for v in value for x in _flat(v)]
    return [value]
