"""Python numbers on the cheap call (issue 13): a positional call that mixes NumPy arrays with
Python numbers (a weight given as 1.1) converts the numbers in one pass, in the entry or at
the head of the full path, and must answer bit for bit what the full path (keywords:
binding, graph.as_arrays, the variant lookup) answers, with the same dtypes: a number takes
the arrays' floating type, float64 when there are no arrays."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_differential import Rejected, _leaves, assert_owned, random_case
from test_fast_call import _entry_points

import graphdiff as gd
from graphdiff import codegen
from graphdiff.codegen import _plain


def assert_identical(want, got, what: str) -> None:
    """Same structure, kinds, shapes, dtypes and bits (NaN where NaN)."""
    a, b = _leaves(want), _leaves(got)
    assert len(a) == len(b), what
    for k, (x, y) in enumerate(zip(a, b)):
        assert type(x) is type(y), f"{what}, result {k}: {type(x)} vs {type(y)}"
        assert np.shape(x) == np.shape(y) and np.result_type(x) == np.result_type(y), \
            f"{what}, result {k}: {np.shape(x)} {np.result_type(x)} vs " \
            f"{np.shape(y)} {np.result_type(y)}"
        np.testing.assert_array_equal(x, y, err_msg=f"{what}, result {k}")


def _numbers(point: dict, names) -> list:
    """The point with every 0-d value a Python float and the rest NumPy arrays."""
    return [float(v) if np.ndim(v) == 0 else np.asarray(v) for v in
            (point[n] for n in names)]


@settings(max_examples=30, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32 - 1), looped=st.booleans())
def test_numbers_on_the_cheap_path_answer_what_the_full_path_answers(seed, looped):
    """Random expressions, their scalars given as Python floats: the positional calls
    (the full path, the variant's build, its entry), `.fn` and the variant's `.fn` agree
    exactly with a keyword call; with `looped`, every entry tests its arguments in the
    loop that functions of many inputs use."""
    case = random_case(seed)
    args = _numbers(case.point, case.graph.inputs)
    assume(any(type(a) is float for a in args))
    with warnings.catch_warnings(), np.errstate(all="ignore"), pytest.MonkeyPatch.context() as mp:
        warnings.simplefilter("ignore", RuntimeWarning)
        if looped:
            mp.setattr(codegen, "_INLINE_CHECKS", 0)
        try:
            for kind, f in _entry_points(case.graph, case.wrt, case.second_order):
                keywords = dict(zip(f.inputs, args))
                general = f(**keywords)  # the full path, the general function
                assert_identical(general, f.fn(*args), f"seed {seed}, {kind}, .fn")
                # the second call builds the variant, the others take its entry
                got = {f"positional call {k}": f(*args) for k in range(2, 5)}
                for variant in f.variants.values():
                    got["variant .fn"] = variant.fn(*args)
                want = f(**keywords)  # the full path again: the variant, if any
                for how, result in got.items():
                    assert_identical(want, result, f"seed {seed}, {kind}, {how}")
                    assert_owned(result, [a for a in args if type(a) is not float],
                                 f"{kind}, {how}")
        except Rejected:
            assume(False)


@pytest.mark.parametrize("looped", [False, True])
def test_numbers_take_the_arrays_type_and_float64_alone(looped, monkeypatch):
    if looped:
        monkeypatch.setattr(codegen, "_INLINE_CHECKS", 0)
    vg = gd.value_and_grad("sum(tanh(w*x) + b)")  # inputs w, x, b
    x32 = np.linspace(-1, 1, 4, dtype=np.float32)
    for _ in range(3):  # through the float32 variant's entry
        value, grads = vg(0.5, x32, 2)
    assert value.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    assert vg.variants
    # numbers alone, after a float32 variant: float64, as the full path makes them
    alone = vg(0.5, 0.25, 2)
    assert_identical(vg(w=0.5, x=0.25, b=2), alone, "numbers alone")
    assert alone[0].dtype == np.float64
    # a byte-swapped array beside numbers: the full path's promotion
    swapped = x32.astype(">f4")
    assert_identical(vg(w=0.5, x=swapped, b=2.0), vg(0.5, swapped, 2.0), "byte-swapped")
    assert_identical(vg(w=0.5, x=swapped, b=2.0), vg.fn(0.5, swapped, 2.0), "byte-swapped .fn")


def test_plain_refuses_what_it_cannot_convert_exactly():
    x = np.ones(3)
    assert _plain((x, 1.5, 2))[1].dtype == np.float64
    assert _plain((x.astype(np.float32), 1.5))[1].dtype == np.float32
    assert _plain((1.5, 2))[0].dtype == np.float64
    for args in ((x, True), (x, [1.0]), (x, x.astype(np.float32)), (x.astype(int), 1.0),
                 (x, np.float64(1.0)), (x.astype(">f8"), 1.0), (np.ma.ones(3), 1.0)):
        assert _plain(args) is None, args


def test_integer_labels_beside_numbers_take_the_full_path(monkeypatch):
    monkeypatch.setattr(codegen, "_INLINE_CHECKS", 0)
    f = gd.compile("x * y + w")
    entry = f.entry(["y"])
    labels = np.arange(3)
    assert_identical(f(x=np.ones(3), y=labels, w=0.5), entry(np.ones(3), labels, 0.5),
                     "labels and a number")
