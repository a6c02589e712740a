"""Compiling and calling from several threads at once (issue 10): results stay right and the
garbage collector is enabled afterwards (paused_gc is a counted, locked pause)."""

from __future__ import annotations

import gc
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import graphdiff as gd
from graphdiff.graph import paused_gc


def _work(k: int) -> float:
    f = gd.value_and_grad(f"x*y + sin(x)*{k} + exp(y/{k + 1})")
    value, (gx, gy) = f(np.full(4, 0.5), np.full(4, 2.0))
    return float(np.sum(gx))


def test_compiling_from_threads_leaves_the_collector_enabled():
    assert gc.isenabled()
    with ThreadPoolExecutor(max_workers=6) as pool:
        got = list(pool.map(_work, range(60)))
    want = [4 * (2.0 + np.cos(0.5) * k) for k in range(60)]
    np.testing.assert_allclose(got, want)
    assert gc.isenabled()


def test_overlapping_pauses_end_with_the_last():
    """First in, first out: the collector stays off until the second pause ends too."""
    second_in, first_out, seen = threading.Event(), threading.Event(), []

    def second():
        with paused_gc():
            second_in.set()
            first_out.wait()
            seen.append(gc.isenabled())  # the first pause ended, this one did not
        seen.append(gc.isenabled())

    with paused_gc():
        t = threading.Thread(target=second)
        t.start()
        second_in.wait()
    first_out.set()
    t.join()
    assert seen == [False, True]
    assert gc.isenabled()


def test_a_pause_keeps_a_collector_that_was_off_off():
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_one_function_called_from_threads():
    f = gd.value_and_grad("sum(tanh(x) * y)")
    xs = [np.linspace(-1, 1, n) for n in range(1, 40)]

    def call(x):
        return [f(x, x)[0] for _ in range(3)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(call, xs))
    for x, values in zip(xs, got):
        np.testing.assert_allclose(values, [np.sum(np.tanh(x) * x)] * 3)
