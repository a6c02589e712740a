"""The peer benchmarks run in --quick mode: tables print, every contender agrees with the
reference or says why it has no number.  No timing is asserted: these check the scripts."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[1]
BENCH = ROOT / "benchmarks"
HAS_JAX = importlib.util.find_spec("jax") is not None


def run_quick(script: str, *extra: str) -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(BENCH)]))
    done = subprocess.run([sys.executable, str(BENCH / script), "--quick", *extra],
                          capture_output=True, text=True, env=env, timeout=600, cwd=ROOT,
                          check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "WRONG" not in done.stdout and "FAILED" not in done.stdout
    return done.stdout


def rows_of(out: str, first_cell: str) -> list[list[str]]:
    """Cells of the Markdown rows whose first cell starts with `first_cell`."""
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in out.splitlines()
            if line.startswith("| " + first_cell)]


def cell_is_measured_or_explained(cell: str) -> bool:
    return bool(re.fullmatch(r"\d+\.\d\d", cell)) or cell in ("not available", "not installed")


def assert_jax_row(cells: list[str], ratio: str) -> None:
    if HAS_JAX:
        assert re.fullmatch(r"\d+\.\d\d", ratio), cells
    else:
        assert "not installed" in cells, cells


@pytest.mark.parametrize("size, contenders, network", [
    # every contender on the smallest network; the classifier (integer labels, softmax
    # cross-entropy) without the Numba ones, whose compiling the numba tests already pay
    ("0", (), "batch 10, 1-3-1, mse"),
    ("2", ("hand NumPy", "NumPy out=", "graphdiff", "fused numpy", "JAX"),
     "batch 16, 8-8-8-8, softmax_xent"),
])
def test_mlp_step_quick(size, contenders, network):
    out = run_quick("mlp_step.py", "--sizes", size,
                    *(("--contenders", *contenders) if contenders else ()))
    assert "load average at start" in out and "load average at end" in out
    summary = [r for r in rows_of(out, "batch ") if "," in r[0]]  # not the detail's head
    assert [r[0] for r in summary] == [network]
    head = rows_of(out, "work")[0]
    for row in summary:
        assert len(row) == len(head)
        for name, cell in zip(head[3:-3], row[3:-3]):
            assert cell_is_measured_or_explained(cell), (name, cell)
        assert_jax_row(row, row[head.index("JAX")])
    detail = [r for r in rows_of(out, "") if r[0] in ("10", "16")]
    measured = {r[4] for r in detail if r[5] != "-"}
    # the reference and the contenders that exist on every install always run
    assert {"hand NumPy", "NumPy out=", "graphdiff"} <= measured
    assert all(r[6] == "1.00" for r in detail if r[4] == "hand NumPy")


def test_cheap_gradient_quick():
    out = run_quick("cheap_gradient.py")
    summary = rows_of(out, "N = ")
    assert [r[0] for r in summary] == ["N = 10 (y array; mu, sigma scalars)",
                                       "N = 100 (y array; mu, sigma scalars)",
                                       "N = 1,000 (y, mu, sigma arrays)"]
    head = rows_of(out, "work")[0]
    for row in summary:
        for cell in row[2:-3]:
            assert cell_is_measured_or_explained(cell), (row, cell)
        assert_jax_row(row, row[head.index("JAX")])
    agreement = [r[-1] for r in rows_of(out, "") if r[-1].startswith("max rel. diff")]
    assert len(agreement) >= 9  # hand, graphdiff and .fn at the three sizes at least
    # the original tables still print after the peer rows
    assert "log-normal density" in out and "composite at smaller depths" in out


def test_chain_quick():
    out = run_quick("chain.py")
    rows = [r for r in rows_of(out, "") if r[0] not in ("contender", "---")]
    assert [r[0] for r in rows] == 2 * ["hand loop", "graphdiff", "graphdiff .fn",
                                        "graphdiff numba", "JAX lax.scan"]  # value; gradient
    for r in rows:
        if r[0] == "hand loop":
            assert r[2] == "1.00"
        if r[0] in ("graphdiff", "graphdiff .fn") or (r[0] == "JAX lax.scan" and HAS_JAX):
            assert r[-1].startswith("max rel. diff"), r
        if r[0] == "JAX lax.scan" and not HAS_JAX:
            assert r[-1] == "not installed"
        if r[0] == "graphdiff numba":
            assert r[-1].startswith(("max rel. diff", "not available")), r


@pytest.fixture
def benchmarks(monkeypatch):
    """The benchmark modules imported here, their thread settings kept out of os.environ."""
    monkeypatch.setattr(os, "environ", dict(os.environ))
    monkeypatch.syspath_prepend(str(BENCH))
    import chain
    import harness
    import mlp_step
    return harness, mlp_step, chain


def test_a_wrong_mlp_step_is_reported_not_timed(benchmarks, monkeypatch):
    _, mlp_step, _ = benchmarks

    def off_by_a_little(cfg, params, X, Y):  # the reference's step with a gradient scaled
        hand = mlp_step.backprop.Backprop(cfg.activation, "identity", cfg.loss)

        def step(p, X, Y, masks):
            value, grads = hand(p, X, Y, masks)
            return value, [1.001 * g for g in grads]

        return mlp_step.sgd_after(step, params, X, Y)

    monkeypatch.setitem(mlp_step.CONTENDERS, "off", off_by_a_little)
    cfg = mlp_step.shrunk(mlp_step.CONFIGS[1])
    results = mlp_step.measure(cfg, np.dtype("float64"), 0.01,
                               ["hand NumPy", "NumPy out=", "off"])
    assert results["off"].note.startswith("WRONG") and results["off"].seconds is None
    assert results["NumPy out="].note == "" and results["NumPy out="].seconds is not None


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("index", range(4))
def test_numpy_out_step_agrees_with_backprop(benchmarks, index, dtype):
    """The hand-written out= step over several steps (its buffers reused) against the
    reference step, on every configuration's kind of network."""
    harness, mlp_step, _ = benchmarks
    cfg = mlp_step.shrunk(mlp_step.CONFIGS[index])
    params, X, Y = mlp_step.problem(cfg, np.dtype(dtype), seed=3)
    ref = mlp_step.hand_numpy(cfg, [p.copy() for p in params], X, Y)
    out = mlp_step.numpy_out(cfg, [p.copy() for p in params], X, Y)
    for _ in range(3):
        want, got = ref.run(), out.run()
        harness.assert_close("out=", [got], [want], harness.tolerance(dtype))
    harness.assert_close("out=", out.params(), ref.params(), harness.tolerance(dtype))


def test_chain_by_hand_matches_finite_differences(benchmarks):
    _, _, chain = benchmarks
    rng = np.random.default_rng(5)
    x, w = rng.uniform(-1, 1, 4), rng.uniform(0.8, 1.2, 6)
    _, grads = chain.chain_by_hand(x, *w)
    h = 1e-6
    fd_w = [(np.sum(chain.chain_by_hand(x, *(w + h * e))[0])
             - np.sum(chain.chain_by_hand(x, *(w - h * e))[0])) / (2 * h)
            for e in np.eye(len(w))]
    np.testing.assert_allclose(grads[1:], fd_w, rtol=1e-6, atol=1e-9)
    fd_x = (chain.chain_by_hand(x + h, *w)[0] - chain.chain_by_hand(x - h, *w)[0]) / (2 * h)
    np.testing.assert_allclose(grads[0], fd_x, rtol=1e-6, atol=1e-9)
