"""Variants of large functions (issue 13's 1,000-layer chain): a function past the large form
(graphdiff.codegen.RECYCLE_ABOVE operations) and up to SPECIALIZE_UP_TO gets a variant for the
shapes it is called with, like a small one; past that the general function answers.  The
variant must compute what the general function and a hand-written loop compute, in the
inputs' dtype, with results of their own."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_differential import assert_agree, assert_owned

import graphdiff as gd
from graphdiff import codegen, compiled


@pytest.fixture
def chain(monkeypatch):
    """benchmarks/chain.py (the chain's graph and its hand loop), imported with its thread
    settings kept out of os.environ."""
    monkeypatch.setattr(os, "environ", dict(os.environ))
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import chain
    return chain


# 10 operations a layer in the value and gradient: past the large form
LAYERS = codegen.RECYCLE_ABOVE // 10 + 100


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_large_function_gets_a_variant_that_computes_what_a_loop_computes(dtype, chain):
    vg = gd.value_and_grad(chain.chain_graph(LAYERS))
    assert sum(n.op not in ("input", "const") for n in vg.graph.nodes) > codegen.RECYCLE_ABOVE
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, 6).astype(dtype)
    ws = [float(w) for w in rng.uniform(0.9, 1.3, LAYERS)]
    value, grads = chain.chain_by_hand(x.astype(np.float64), *ws)  # rounded once, at the end
    want = (value.astype(dtype), tuple(np.asarray(g, dtype) for g in grads))
    results = [vg(x, *ws) for _ in range(4)]  # general, the variant's build, its entry
    (key, variant), = vg.variants.items()
    assert key[0] == ((6,), np.dtype(dtype).str)
    assert "_sum_to" not in variant.source and "_sum_to" in vg.source
    results.append(variant.fn(x, *ws))
    for k, got in enumerate(results):
        assert_agree(want, got, f"call {k}", np.dtype(dtype), kinds=False)
        value, grads = got
        assert value.dtype == dtype and all(np.result_type(g) == dtype for g in grads)
        assert all(np.ndim(g) == 0 and not isinstance(g, np.ndarray) for g in grads[1:])
        assert_owned(got, [x], f"call {k}")


def test_past_the_limit_the_general_function_answers(monkeypatch, chain):
    monkeypatch.setattr(compiled, "SPECIALIZE_UP_TO", codegen.RECYCLE_ABOVE)
    vg = gd.value_and_grad(chain.chain_graph(LAYERS))
    x, ws = np.linspace(-1, 1, 4), [1.1] * LAYERS
    first = vg(x, *ws)
    for _ in range(3):
        assert_agree(first, vg(x, *ws), "again", np.dtype(np.float64))
    assert vg._specialize is None and vg.variants == {}


def test_deep_saturated_chain_gradient_stays_finite_in_the_variant(chain):
    """With shapes known the weights' product meets the derivatives' every few layers
    (graph._MAX_FACTORS), so 6**450 never overflows apart from the product of saturated
    derivatives that underflows: the gradient is the loop's 0, not inf*0 = nan."""
    layers = 450  # a small function: the variant predates the large ones
    vg = gd.value_and_grad(chain.chain_graph(layers))
    x, ws = np.linspace(-1, 1, 4), [6.0] * layers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        results = [vg(x, *ws) for _ in range(3)]
    assert vg.variants
    for got in results:
        assert_agree(chain.chain_by_hand(x, *ws), got, "saturated chain", np.dtype(np.float64),
                     kinds=False)
