"""The examples' claims at reduced sizes: each example's run() is called with small
settings, its numbers are checked against what the lecture says, and its figures are
written to a temporary folder."""

import importlib.util
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import graphdiff as gd
from graphdiff import cli, nn
from graphdiff.nn import backprop

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))  # as when an example runs as a script: _example beside it


def _load(name):
    module_name = f"graphdiff_example_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def _written(paths):
    for path in paths:
        assert Path(path).stat().st_size > 1000, path


@pytest.mark.parametrize("name, argv", [
    ("overfitting", ["--epochs", "30", "--seeds", "2"]),
    ("topology", ["--epochs", "20", "--seeds", "1"]),
    ("universal_approximation", ["--epochs", "10"]),
    ("early_stopping_dropout", ["--epochs", "30"]),
    ("activations", []),
    ("computational_graphs", []),
    ("backpropagation", []),
    ("dropout_uncertainty", ["--epochs", "30"]),
    ("intuition", ["--epochs", "20"]),
])
def test_each_example_runs_as_a_script(name, argv, tmp_path, capsys):
    _load(name).main(["--out", str(tmp_path), *argv])
    printed = capsys.readouterr().out
    assert "wrote" in printed
    _written(tmp_path.glob("*.png"))


# --- overfitting ---------------------------------------------------------------------------
def test_overfitting_more_hidden_units_fit_the_points_more_closely(tmp_path):
    example = _load("overfitting")
    result = example.run(hidden=(1, 3, 10))
    fits = result["fits"]
    errors = [fits[m]["train_mse"] for m in (1, 3, 10)]
    assert errors[0] > 0.05 and errors[2] < 0.01  # M = 1 underfits, M = 10 memorises noise
    assert errors[0] > errors[1]
    for fit in fits.values():
        assert fit["history"].loss[-1] < fit["history"].loss[0]
    assert example.overfits({m: fits[m]["truth_rms"] for m in (3, 10)})
    assert "RMS error vs sin(2πx)" in example.report(result)
    _written([example.plot(result, tmp_path)])


def test_overfitting_holds_for_most_seeds_not_one():
    example = _load("overfitting")
    seeds = example.over_seeds(range(10))
    assert sum(example.overfits(e) for e in seeds.values()) >= 6
    # what docs/training-an-mlp.md says of these ten draws
    assert [s for s, e in seeds.items() if not example.overfits(e)] == [1, 2, 3, 7]
    # and M = 10 is on average clearly further from the truth than M = 3
    assert np.median([e[10] / e[3] for e in seeds.values()]) > 1.5
    assert "overfits for" in example.report(example.run(hidden=(3, 10), epochs=50), seeds)


# --- topology ------------------------------------------------------------------------------
def test_topology_two_unit_layers_fail_where_three_units_succeed(tmp_path):
    example = _load("topology")
    result = example.run(networks=([2, 2, 1], [2, 2, 2, 1], [2, 3, 1]), n=160, epochs=300,
                         seeds=2)
    nets = result["networks"]
    assert nets["2-2-1"]["accuracy"] < 1.0 and nets["2-2-2-1"]["accuracy"] < 1.0
    assert nets["2-3-1"]["accuracy"] == 1.0
    X = result["X"]
    model = nets["2-3-1"]["model"]
    hidden = nn.plots.hidden_layers(model, X)
    assert [h.shape for h in hidden] == [(160, 3)]
    # the 3-unit layer makes the classes linearly separable: the output layer is that plane
    W, b = model.params[2], model.params[3]
    np.testing.assert_array_equal((hidden[0] @ W + b >= 0)[:, 0], result["y"] == 1)
    _written(example.plot(result, tmp_path))


# --- universal approximation ---------------------------------------------------------------
def test_universal_approximation_error_falls_with_the_number_of_sigmoids(tmp_path):
    example = _load("universal_approximation")
    result = example.run(units=(1, 4, 16), epochs=300)
    sums = result["sums"]
    placed = [sums[n]["placed_error"][0] for n in (1, 4, 16)]
    trained = [sums[n]["trained_error"][0] for n in (1, 4, 16)]
    assert placed[0] > placed[1] > placed[2]
    assert trained[0] > trained[1] > trained[2]
    assert trained[2] < 0.02 and trained[0] > 0.2
    x = result["x"]
    for s in sums.values():  # training starts from the least-squares sum and only improves
        assert s["trained"].evaluate(x, example.target(x)) <= \
            s["placed"].evaluate(x, example.target(x)) * (1 + 1e-9)
        assert s["trained"].history.loss[-1] <= s["trained"].history.loss[0]
    _written([example.plot(result, tmp_path)])


# --- early stopping and dropout -------------------------------------------------------------
def test_early_stopping_and_dropout_beat_the_overtrained_run(tmp_path):
    example = _load("early_stopping_dropout")
    result = example.run(epochs=1500, patience=100, keep_prob=0.8)
    runs = result["runs"]
    long_run = runs["overtrained"]["history"]
    best = long_run.best_epoch
    # overfitting: training loss keeps falling while validation loss turns up
    assert long_run.loss[-1] < 0.5 * long_run.loss[best]
    assert long_run.val_loss[-1] > 2 * long_run.val_loss[best]
    stopped = runs["early stopping"]
    h = stopped["history"]
    assert h.stopped_early and h.epochs == h.best_epoch + 1 + result["patience"]
    assert stopped["val"] == pytest.approx(min(h.val_loss), rel=1e-12)  # best weights restored
    assert stopped["val"] < 0.5 * runs["overtrained"]["val"]
    dropout = runs["dropout"]
    assert dropout["val"] < 0.5 * runs["overtrained"]["val"]
    for r in runs.values():
        assert r["history"].loss[-1] < r["history"].loss[0]
    _written([example.plot(result, tmp_path)])


def test_dropout_is_off_at_prediction():
    example = _load("early_stopping_dropout")
    result = example.run(epochs=40, sizes=(1, 16, 16, 1), keep_prob=0.5)
    model = result["runs"]["dropout"]["model"]
    X = result["grid"]
    first, second = model.predict(X), model.predict(X)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, backprop.forward(model.params, X, "tanh"))


# --- activations ---------------------------------------------------------------------------
def test_activations_and_their_generated_derivatives(tmp_path):
    example = _load("activations")
    result = example.run(n=121)
    assert list(result["rows"]) == [p.name for p in gd.activations()]
    x = result["x"]
    for p in gd.activations():
        row = result["rows"][p.name]
        assert row["gap"] < 1e-6, p.name
        extra = (np.full_like(x, example.PRELU_ALPHA),) if p.arity == 2 else ()
        partial = p.partials[0](x, *extra, row["f"], **p.resolve_params({}))
        np.testing.assert_allclose(row["df"], np.broadcast_to(partial, x.shape),
                                   rtol=1e-12, err_msg=p.name)  # the registry's partial
    relu = result["rows"]["relu"]["df"]
    assert relu[x < 0].max() == 0 and relu[x > 0].min() == 1
    assert "max |gd.grad - central difference|" in example.report(result)
    _written([example.plot(result, tmp_path)])


# --- computational graphs (a)-(d) ------------------------------------------------------------
EXPECTED_OPS = {
    "a": ["mul"],
    "b": ["matmul", "add", "sigmoid"],
    "c": ["matmul", "add", "maximum"],
    "d": ["matmul", "sub", "square", "mean", "square", "sum", "mul", "add"],
}


@pytest.fixture(scope="module")
def graphs():
    return _load("computational_graphs").run()


@pytest.mark.parametrize("key", "abcd")
def test_computational_graphs_have_the_lecture_nodes(graphs, key):
    ex = graphs[key]["example"]
    g = ex.graph
    ops = [n.op for n in g.nodes if n.op not in ("input", "const")]
    assert ops == EXPECTED_OPS[key]
    assert set(g.inputs) == set(ex.point)
    # drawn from the command line, the same expression gives the same nodes
    from_text = gd.parse(ex.command)
    assert [n.op for n in from_text.nodes] == [n.op for n in g.nodes]
    table = graphs[key]["trace"]
    assert [r.name for r in table.rows][-1] == f"v{len(ops) + len(g.inputs)}"


def test_weight_decay_graph_uses_w_twice(graphs):
    g = graphs["d"]["example"].graph
    w = next(n.index for n in g.nodes if n.name == "w")
    users = [n.op for n in g.nodes if w in n.args]
    assert users == ["matmul", "square"]
    const = [n.value for n in g.nodes if n.op == "const"]
    assert const == []  # λ is an input, not a folded constant
    assert [n.value for n in graphs["c"]["example"].graph.nodes if n.op == "const"] == [0.0]


GRADIENT_CASES = [pytest.param(key, name, id=f"{key}-{name}") for key, names in
                  {"a": "xy", "b": ("w", "b"), "c": ("W", "b"), "d": ("w",)}.items()
                  for name in names]


@pytest.mark.parametrize("key, name", GRADIENT_CASES)
def test_generated_gradients_agree_with_finite_differences(graphs, key, name):
    r = graphs[key]
    assert r["gaps"][name] < 1e-6


@pytest.mark.parametrize("key", "abcd")
def test_traced_gradients_agree_with_finite_differences(graphs, key):
    example = _load("computational_graphs")
    r = graphs[key]
    ex = r["example"]
    for name in ex.wrt:
        expected = example.central_differences(ex.graph, ex.point, name)
        np.testing.assert_allclose(r["trace"].gradient[name], expected, rtol=1e-6, atol=1e-8)


def test_the_documented_commands_draw_each_graph(tmp_path, capsys):
    doc = _load("computational_graphs").__doc__
    commands = [shlex.split(line.strip()) for line in doc.splitlines()
                if line.strip().startswith("graphdiff graph")]
    assert len(commands) == 4
    for args in commands:
        out = tmp_path / args[-1]
        assert cli.main([*args[1:-1], str(out)]) == 0
        _written([out])
        assert cli.main(args[1:3]) == 0  # DOT text on standard output
        assert capsys.readouterr().out.startswith("digraph")


# --- back-propagation on a 2-3-3-1 net ----------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_backpropagation_deltas_are_the_trace_adjoints(seed, tmp_path):
    example = _load("backpropagation")
    result = example.run(seed)
    hand, rows, tr = result["hand"], result["rows"], result["trace"]
    assert result["model"].loss == "sse"
    assert float(tr.value) == pytest.approx(hand["E"], rel=1e-12)
    # the lecture's first step: dE/dy_l = y_l - t_l, not the mean's 2 (y - t) / n
    np.testing.assert_allclose(rows["y_l"].adjoint, hand["y_l"] - result["t"], rtol=1e-12)
    for name, _, (row, field) in example.FORMULAS:
        np.testing.assert_allclose(getattr(rows[row], field), hand[name], rtol=1e-10,
                                   atol=1e-15, err_msg=name)
    for name, param in (("dE/dw_ij", "W1"), ("dE/dw_jk", "W2"), ("dE/dw_kl", "W3")):
        np.testing.assert_allclose(tr.gradient[param], hand[name], rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(result["step_grads"][param], hand[name], rtol=1e-10,
                                   atol=1e-15)
    assert all(np.abs(hand[f"dE/dz_{i}"]).min() > 0 for i in "jkl")  # no vacuous zeros
    text = example.report(result)
    assert "y_l − t_l" in text and "v\u030416" in text
    if seed == 0:
        _written(example.plot(result, tmp_path))


# --- dropout as uncertainty ---------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dropout_band_widens_away_from_the_data(seed):
    example = _load("dropout_uncertainty")
    result = example.run(epochs=400, samples=50, seed=seed)
    assert result["std_away"] > 2 * result["std_inside"]
    x = result["grid"][:, 0]
    inside = np.abs(x) <= example.INSIDE
    truth = nn.datasets.regression_target(x[inside])
    assert np.sqrt(np.mean((result["mean"][inside, 0] - truth) ** 2)) < 0.3  # it did learn
    if seed == 0:
        assert "away from them" in example.report(result)


# --- some intuition -------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_intuition_a_hidden_layer_separates_what_a_threshold_cannot(seed, tmp_path):
    example = _load("intuition")
    result = example.run(epochs=150, seed=seed)
    X, y = result["X"], result["y"]
    models = result["models"]
    # without a hidden layer σ(wx + b) is monotonic: no better than the best threshold
    assert result["threshold"] < 0.9
    assert models["no hidden layer"]["accuracy"] <= result["threshold"] + 1e-12
    assert models["one hidden layer"]["accuracy"] == 1.0
    # in the hidden layer's plane the output unit's line separates the classes
    model = models["one hidden layer"]["model"]
    H = nn.plots.hidden_layers(model, X)[0]
    assert H.shape == (len(X), 2)
    np.testing.assert_array_equal((H @ model.params[2] + model.params[3] >= 0)[:, 0], y == 1)
    if seed == 0:
        _written(example.plot(result, tmp_path))
