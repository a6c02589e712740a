"""Caches that do not grow without bound (issue 10): a compiled function's linecache entry,
and its variants', leave with it; the variant cache keeps at most MAX_VARIANTS."""

from __future__ import annotations

import gc
import linecache
from pathlib import Path

import numpy as np

import graphdiff as gd
from graphdiff.codegen import CompiledFunction


def _entries() -> int:
    return sum(1 for k in linecache.cache if k.startswith("<graphdiff-"))


def test_dropped_functions_take_their_source_with_them():
    gc.collect()
    before = _entries()
    for k in range(300):
        f = gd.value_and_grad(f"x*y + sin(x) * {k}")
        x = np.ones(3)
        f(x, x)
        f(x, x)  # the second call with these shapes builds a variant
        assert f.variants
    assert _entries() > before  # the one still alive (and maybe some not collected yet)
    del f
    gc.collect()
    assert _entries() == before


def test_the_source_stays_while_the_function_lives():
    f = gd.compile("x*y + 1", name="kept")
    gc.collect()
    assert f.fn.__code__.co_filename in linecache.cache
    import inspect
    assert "def kept(x, y):" in inspect.getsource(f.fn)


def test_the_variant_cache_is_bounded():
    f = gd.compile("x + 1")
    for n in range(1, 3 * CompiledFunction.MAX_VARIANTS):
        x = np.ones(n)
        f(x)
        f(x)
    assert len(f.variants) <= CompiledFunction.MAX_VARIANTS


def test_the_bound_is_the_documented_one():
    page = Path(__file__).resolve().parents[1] / "docs" / "generated-code.md"
    assert f"at most {CompiledFunction.MAX_VARIANTS} variants per function" in \
        " ".join(page.read_text(encoding="utf-8").split())
