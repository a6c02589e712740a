"""The fused MLP step (issue 13): forward, loss, backward and the optimizer's update in one
generated function that updates parameters and optimizer state in place.  It must train
exactly as the separate gradient step and `Optimizer.update` do, and the printer's
`updates` must never overwrite an input that is still to be read."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_differential import Rejected, assert_agree, random_case

import graphdiff as gd
from graphdiff import nn
from graphdiff.codegen import compile_graph
from graphdiff.nn.compiled_step import FusedStep, GeneratedStep
from graphdiff.nn.optimizers import make_optimizer
from graphdiff.passes import plan_memory, schedule

HYPER = {"sgd": {"lr": 0.1}, "momentum": {"lr": 0.05, "momentum": 0.8},
         "adam": {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-7}}


def _tol(dtype) -> dict:
    return {"rtol": 2e-4, "atol": 2e-5} if dtype == np.float32 else {"rtol": 1e-9, "atol": 1e-11}


def _data(n: int, n_in: int, n_out: int, dtype, seed: int = 0, labels: bool = False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in)).astype(dtype)
    if labels:
        return X, rng.integers(0, n_out, n)
    return X, np.tanh(X @ rng.normal(size=(n_in, n_out))).astype(dtype)


def _fit_both(make, X, Y, optimizer=None, **options):
    """Two models trained alike, fused steps and separate; `optimizer`: a name whose
    settings are HYPER's (an object per model), or other fit options as they are."""
    fused, separate = make(), make()
    separate.fused_steps = False
    histories = []
    for m in (fused, separate):
        opt = make_optimizer(optimizer, **HYPER[optimizer]) if optimizer in HYPER else optimizer
        histories.append(m.fit(X, Y, verbose=False, optimizer=opt, **options))
    assert fused._fused and not separate._fused, "the fused path was not taken"
    return fused, separate, histories


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("options", [{}, {"dropout": 0.3}, {"weight_decay": 0.01},
                                     {"dropout": 0.2, "weight_decay": 0.003}])
def test_fit_with_fused_steps_equals_the_separate_path(dtype, optimizer, options):
    X, Y = _data(37, 3, 2, dtype)  # 37 rows in batches of 8: a short last batch too
    fused, separate, (h1, h2) = _fit_both(
        lambda: nn.MLP([3, 5, 4, 2], activation=["tanh", "relu"], seed=3, dtype=dtype),
        X, Y, epochs=12, optimizer=optimizer, batch_size=8, **options)
    for p, q in zip(fused.params, separate.params):
        assert p.dtype == q.dtype == dtype
        np.testing.assert_allclose(p, q, **_tol(dtype))
    np.testing.assert_allclose(h1.loss, h2.loss, **_tol(dtype))
    # the optimizer's state is the one the separate path keeps, so a later fit continues it
    assert fused.optimizer.t == separate.optimizer.t == 12 * 5
    for a, b in zip(fused.optimizer._state, separate.optimizer._state):
        for k in range(len(a) - 1):  # the last buffer is update()'s scratch array
            np.testing.assert_allclose(a[k], b[k], **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_classifiers_schedules_and_validation_follow_the_separate_path(dtype):
    X, labels = _data(30, 2, 3, dtype, seed=1, labels=True)
    fused, separate, (h1, h2) = _fit_both(
        lambda: nn.MLP([2, 6, 3], loss="softmax_xent", seed=0, dtype=dtype), X, labels,
        epochs=10, optimizer="momentum", batch_size=7, lr_schedule="cosine",
        validation_split=0.2, early_stopping=4)
    for p, q in zip(fused.params, separate.params):
        np.testing.assert_allclose(p, q, **_tol(dtype))
    assert h1.lr == h2.lr and h1.best_epoch == h2.best_epoch
    np.testing.assert_allclose(h1.val_loss, h2.val_loss, **_tol(dtype))


def test_a_second_fit_with_another_rate_continues_the_state():
    X, Y = _data(20, 2, 1, np.float64, seed=2)
    fused, separate, _ = _fit_both(lambda: nn.MLP([2, 4, 1], seed=1), X, Y, epochs=3,
                                   optimizer="adam", batch_size=5)
    for m in (fused, separate):
        m.fit(X, Y, epochs=3, optimizer=m.optimizer, batch_size=5, verbose=False)
        m.optimizer.lr = 0.002  # the same object: its state carries on
        m.fit(X, Y, epochs=2, optimizer=m.optimizer, batch_size=5, verbose=False)
    for p, q in zip(fused.params, separate.params):
        np.testing.assert_allclose(p, q, **_tol(np.float64))


def test_clipping_and_subclassed_optimizers_keep_the_separate_path():
    X, Y = _data(16, 2, 1, np.float64)
    model = nn.MLP([2, 3, 1])
    model.fit(X, Y, epochs=2, optimizer="sgd", lr=0.1, clip_norm=1.0, verbose=False)
    assert not model._fused

    class Halved(nn.optimizers.SGD):
        def update(self, params, grads):
            super().update(params, [g / 2 for g in grads])

    model.fit(X, Y, epochs=2, optimizer=Halved(0.1), verbose=False)
    assert not model._fused


def _separate_steps(step: GeneratedStep, opt, params, X, Y, masks, count):
    losses = []
    for _ in range(count):
        value, grads = step(params, X, Y, masks)
        opt.update(params, grads)
        losses.append(value)
    return losses


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("seed", range(4))
def test_fused_step_is_the_gradient_step_and_the_update(optimizer, seed):
    """Random widths, activations, losses and dtypes: three steps of each path."""
    rng = np.random.default_rng(seed)
    sizes = [int(k) for k in rng.integers(1, 5, size=rng.integers(2, 5))]
    sizes[-1] = max(sizes[-1], 2)
    hidden = [str(rng.choice(["tanh", "relu", "sigmoid", "softplus"])) for _ in sizes[1:-1]]
    loss = str(rng.choice(["mse", "bce", "softmax_xent", "sse"]))
    dtype = np.float32 if seed % 2 else np.float64
    dropout, decay = bool(rng.integers(2)), float(rng.choice([0.0, 0.01]))
    model = nn.MLP(sizes, activation=hidden or "tanh", loss=loss, seed=seed, dtype=dtype)
    X, Y = _data(6, sizes[0], sizes[-1], dtype, seed)
    if loss in ("bce", "softmax_xent"):
        Y = (Y > 0).astype(dtype)
    masks = [(rng.random((6, n)) < 0.7).astype(dtype) / dtype(0.7) for n in sizes[1:-1]] \
        if dropout else None
    args = (sizes, hidden or "tanh", model.head, loss, decay, dropout, False)
    fused = FusedStep(*args, optimizer=optimizer, **HYPER[optimizer])
    params = [p.copy() for p in model.params]
    state = fused.init_state(params)
    got = [fused(params, state, X, Y, masks) for _ in range(3)]
    reference = [p.copy() for p in model.params]
    want = _separate_steps(GeneratedStep(*args), make_optimizer(optimizer, **HYPER[optimizer]),
                           reference, X, Y, masks, 3)
    np.testing.assert_allclose(got, want, **_tol(dtype))
    for p, q in zip(params, reference):
        assert p.dtype == dtype
        np.testing.assert_allclose(p, q, **_tol(dtype))
    assert fused.optimizer.t == 3


def test_the_rate_is_an_input_not_a_literal():
    step = FusedStep([1, 3, 1], optimizer="sgd", lr=0.1)
    assert "lr" in step.compiled.inputs and "0.1" not in step.source
    X, Y = _data(5, 1, 1, np.float64)
    params = nn.MLP([1, 3, 1], seed=0).params
    before = [p.copy() for p in params]
    step.optimizer.lr = 0.0
    step(params, [], X, Y)
    for p, q in zip(params, before):
        np.testing.assert_array_equal(p, q)


def test_the_generated_step_updates_in_place():
    """Every parameter and state array is written by its own line's ufunc: no copies."""
    step = FusedStep([2, 3, 2], optimizer="adam", lr=0.01)
    for name in step.params + [f"{s}_{p}" for s in step.slots for p in step.params]:
        assert f"out={name})" in step.source, name
    assert "np.copyto" not in step.source
    assert step.source.splitlines()[-1] == "    return v27"


def test_fused_step_refuses_what_it_does_not_implement():
    with pytest.raises(ValueError, match="implements the optimizers"):
        FusedStep([1, 2, 1], optimizer="lbfgs")
    with pytest.raises(ValueError, match="numpy"):
        FusedStep([1, 2, 1], backend="array_api")


# --- the printer's updates and the memory plan behind them ---------------------------------

def _compiled_pair(outputs, inputs, updates):
    g = gd.parse(outputs, inputs=inputs)
    plain = compile_graph(g, "plain", returns=lambda outs: "(" + ", ".join(outs) + ",)")
    kept = [k for k in range(len(g.outputs)) if k not in updates]
    fused = compile_graph(g, "fused", inplace=True, updates=updates,
                          returns=lambda outs: "(" + ", ".join(outs[k] for k in kept) + ",)")
    return g, plain, fused, kept


def _check_updates(outputs, inputs, updates, point):
    g, plain, fused, kept = _compiled_pair(outputs, inputs, updates)
    args = [np.array(point[n], copy=True) for n in g.inputs]
    want = plain.fn(*[a.copy() for a in args])
    got = fused._raw(*args)
    for k, out in zip(kept, got):
        np.testing.assert_allclose(out, want[k], rtol=1e-12, err_msg=f"output {k}")
    for pos, name in updates.items():
        np.testing.assert_allclose(args[g.inputs.index(name)], want[pos], rtol=1e-12,
                                   err_msg=f"{name} updated")
    for k, name in enumerate(g.inputs):
        if name not in updates.values():
            np.testing.assert_array_equal(args[k], point[name], err_msg=f"{name} changed")
    return fused


def test_an_input_read_after_its_update_is_copied_at_the_end():
    x, y = gd.tensor("x", (3,)), gd.tensor("y", (3,))
    new_x = x - 0.5 * y
    later = gd.sum(x * y)  # reads x after new_x's line: x must not be overwritten there
    f = _check_updates([new_x, later], ["x", "y"], {0: "x"},
                       {"x": np.arange(3.0), "y": np.ones(3)})
    assert "np.copyto(x, " in f.source and "out=x" not in f.source


def test_a_view_of_an_input_read_after_its_update_keeps_the_buffer():
    W, v = gd.tensor("W", (2, 2)), gd.tensor("v", (2,))
    new_W = W * 0.5 + 1
    through_view = gd.transpose(W) @ v  # a view of W read after the update
    f = _check_updates([new_W, through_view], ["W", "v"], {0: "W"},
                       {"W": np.arange(4.0).reshape(2, 2), "v": np.array([1.0, -2.0])})
    assert "out=W" not in f.source


def test_an_update_last_in_line_is_written_by_its_ufunc():
    x, y = gd.tensor("x", (4,)), gd.tensor("y", (4,))
    value = gd.sum(gd.tanh(x) * y)
    f = _check_updates([value, x - 0.1 * gd.tanh(x), y * 0.9], ["x", "y"], {1: "x", 2: "y"},
                       {"x": np.linspace(-1, 1, 4), "y": np.arange(4.0)})
    assert "out=x)" in f.source and "out=y)" in f.source and "copyto" not in f.source
    sched = schedule(f.graph, reorder=True)
    plan = plan_memory(f.graph, sched, inplace=True, updates={f.graph.outputs[1]: 0})
    assert plan.writes[f.graph.outputs[1]] == 0 and not plan.copies


def test_updates_are_refused_where_they_cannot_be():
    g = gd.parse(["x*2", "x*3"], inputs=["x"])
    with pytest.raises(ValueError, match="same input"):
        compile_graph(g, updates={0: "x", 1: "x"})
    with pytest.raises(ValueError, match="inputs x"):
        compile_graph(g, updates={0: "z"})


@settings(max_examples=40, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32 - 1))
def test_gradient_steps_of_random_expressions_update_their_inputs(seed):
    """x ← x - 0.1 ∂f/∂x for every input of a random expression (declared shapes or not,
    so both `out=` and the copies are met): the function with updates leaves in the
    inputs what the plain function returns, and returns the same value."""
    case = random_case(seed)
    point = {n: np.array(v, dtype=case.dtype, copy=True) for n, v in case.point.items()}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        d = gd.value_and_grad_graph(case.graph, case.wrt)
        try:
            values = d(**point)
            if not all(np.all(np.isfinite(np.asarray(v, float))) for v in values):
                raise Rejected
            if any(np.shape(v) != np.shape(point[w]) for v, w in zip(values[1:], case.wrt)):
                raise Rejected
        except Rejected:
            assume(False)
        index = {n.name: n.index for n in d.nodes if n.op == "input"}
        steps = [d.node_graph(index[w]) - 0.1 * d.node_graph(i)
                 for w, i in zip(case.wrt, d.outputs[1:])]
        outputs = [d.node_graph(d.outputs[0])] + steps
        updates = {1 + k: w for k, w in enumerate(case.wrt)}
        g, plain, fused, _ = _compiled_pair(outputs, list(d.inputs), updates)
        args = [np.array(point[n], copy=True) for n in g.inputs]
        want = plain.fn(*[a.copy() for a in args])
        got = fused._raw(*args)
    assert_agree(want[0], got[0], "value", case.dtype)
    for pos, w in updates.items():
        assert_agree(np.asarray(want[pos]), args[g.inputs.index(w)], f"updated {w}",
                     case.dtype, kinds=False)


def test_the_training_page_shows_the_real_fused_step():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "training-an-mlp.md").read_text()
    source = FusedStep([1, 3, 1], optimizer="momentum", lr=0.1).source
    assert source[source.index("\ndef fused_step(") + 1:].rstrip() in page


def test_arguments_refused_on_entry_take_no_step():
    step = FusedStep([2, 3, 1], optimizer="adam", lr=0.01)
    params = nn.MLP([2, 3, 1], seed=0).params
    state = step.init_state(params)
    before = [p.copy() for p in params]
    with pytest.raises(ValueError, match=r"compiled for X \(N, 2\)"):
        step(params, state, np.ones((4, 3)), np.ones((4, 1)))
    assert step.optimizer.t == 0
    for p, q in zip(params, before):
        np.testing.assert_array_equal(p, q)
