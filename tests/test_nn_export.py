"""model.export: a standalone module with predict(X), run in a fresh interpreter that
cannot import graphdiff."""

import ast
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from graphdiff import nn

# -I: no user site, no PYTHONPATH, no current folder; -S: no site-packages (nor the .pth of
# an editable install).  Only the standard library, NumPy's folder and the exported module's
# folder are on the path, and graphdiff is blocked outright.
_NUMPY_HOME = os.path.dirname(os.path.dirname(np.__file__))
_PRELUDE = f"""
import sys
sys.path.append({_NUMPY_HOME!r})
sys.modules["graphdiff"] = None  # any import of graphdiff fails
import importlib, json
import numpy as np
"""


def run_isolated(folder, script):
    """Run `script` with `folder` first on the path; returns what it printed as JSON."""
    code = _PRELUDE + f"sys.path.insert(0, {str(folder)!r})\n" + script
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                          text=True, timeout=120, cwd=folder)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def trained_models():
    X, y = nn.datasets.rings(120, seed=0)
    t = np.sin(3 * X[:, 0])
    regressor = nn.MLP([2, 6, 1], activation="tanh", output_activation="softsign", seed=0)
    regressor.fit(X, t, epochs=50, lr=0.02)
    softmax = nn.MLP([2, 5, 4, 2], activation=["relu", "sin"], loss="softmax_xent", seed=1)
    softmax.fit(X, y, epochs=50, lr=0.02)
    binary = nn.MLP([2, 4, 1], activation="leaky_relu", loss="bce", seed=2, dtype=np.float32)
    binary.fit(X, y, epochs=50, lr=0.02)
    wide = nn.MLP([2, 3, 3], seed=3)  # 2-d targets
    wide.fit(X, np.stack([t, -t, 2 * t], axis=1), epochs=5)
    return X, {"regressor": regressor, "softmax": softmax, "binary": binary, "wide": wide}


@pytest.mark.parametrize("weights", ["inline", "npz"])
def test_exported_module_predicts_like_the_model_without_graphdiff(tmp_path, weights):
    X, models = trained_models()
    for name, model in models.items():
        model.export(tmp_path / f"{name}.py", weights=weights)
    assert sorted(os.listdir(tmp_path)) == sorted(
        [f"{n}.py" for n in models] + ([f"{n}.npz" for n in models] if weights == "npz" else []))
    moved = tmp_path / "elsewhere"  # the module finds its .npz beside itself, wherever it goes
    shutil.copytree(tmp_path, moved)
    printed = run_isolated(moved, f"""
X = np.array({X.tolist()!r})
out = {{}}
for name in {list(models)!r}:
    module = importlib.import_module(name)
    p = module.predict(X)
    params = [getattr(module, n).tolist() for n in ("W1", "b1", "W2", "b2")]
    out[name] = [p.tolist(), str(p.dtype), list(p.shape), params, str(module.W1.dtype)]
try:
    module.predict(X[:, :1])
except ValueError as e:
    out["error"] = str(e)
out["graphdiff"] = [m for m in sys.modules if m.startswith("graphdiff") and sys.modules[m]]
print(json.dumps(out))
""")
    for name, model in models.items():
        values, dtype, shape, params, param_dtype = printed[name]
        expected = model.predict(X)
        assert tuple(shape) == expected.shape and dtype == str(expected.dtype)
        np.testing.assert_allclose(values, expected, rtol=1e-6 if dtype == "float32" else 1e-13)
        assert param_dtype == str(model.dtype)
        for exported, trained in zip(params, model.params):  # every digit of every weight
            np.testing.assert_array_equal(np.array(exported, dtype=model.dtype), trained)
    assert printed["error"] == "X must have shape (n, 2), got (120, 1)"
    assert printed["graphdiff"] == []


def test_the_module_is_readable_and_imports_only_numpy(tmp_path):
    X, models = trained_models()
    models["softmax"].export(tmp_path / "predict.py")
    source = (tmp_path / "predict.py").read_text()
    tree = ast.parse(source)
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    assert imported == {"numpy"} and not any(isinstance(n, ast.ImportFrom) for n in tree.body)
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert functions == ["_softmax", "forward", "_as_inputs", "predict"]
    # the generated forward pass: one line per operation, each with its subexpression
    assert "np.maximum(v9, 0.0)  # relu(X @ W1 + b1)" in source
    assert "# sin(relu(X @ W1 + b1) @ W2 + b2)" in source
    assert "softmax" in source and "W3 = np.array([" in source
    assert source.startswith('"""predict(X) of the trained MLP([2, 5, 4, 2], activation='
                             "['relu', 'sin'], loss='softmax_xent').")
    parameters = source[source.index("# the trained parameters"):]
    assert max(len(line) for line in parameters.splitlines()) <= 100  # wrapped to be read


def test_bad_exports_are_refused(tmp_path):
    model = nn.MLP([1, 2, 1])
    with pytest.raises(ValueError, match="weights must be one of inline, npz"):
        model.export(tmp_path / "p.py", weights="pickle")
    model.params[0][0, 0] = np.nan
    with pytest.raises(ValueError, match="not all finite"):
        model.export(tmp_path / "p.py")
    assert os.listdir(tmp_path) == []


@pytest.mark.filterwarnings("ignore:.*max_iter=.* epochs ended")  # ConvergenceWarning
@pytest.mark.parametrize("n_classes", [2, 3, "multilabel"])
def test_an_exported_classifier_predicts_the_users_labels(tmp_path, n_classes):
    pytest.importorskip("sklearn")
    X, y = nn.datasets.rings(120, seed=0)
    y = np.where(X[:, 0] > 0.5, 2, y) if n_classes == 3 else y
    labels = np.array(["disk", "ring", "right"])[y]
    if n_classes == "multilabel":
        labels = np.stack([y, X[:, 0] > 0, X[:, 1] > 0], axis=1).astype(int)
    clf = nn.MLPClassifier((6,), activation="tanh", max_iter=30, n_iter_no_change=100,
                           random_state=0).fit(X, labels)
    clf.export(tmp_path / "labels.py")
    printed = run_isolated(tmp_path, f"""
import labels
X = np.array({X.tolist()!r})
print(json.dumps([labels.predict(X).tolist(), labels.predict_proba(X).tolist(),
                  labels.CLASSES.tolist()]))
""")
    predicted, proba, classes = printed
    assert classes == clf.classes_.tolist()
    assert predicted == clf.predict(X).tolist()
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=1e-12, atol=1e-15)
    regressor = nn.MLPRegressor((4,), max_iter=5, random_state=0).fit(X, X[:, 0] * X[:, 1])
    regressor.export(tmp_path / "regression.py")
    printed = run_isolated(tmp_path, f"""
import regression
print(json.dumps(regression.predict(np.array({X.tolist()!r})).tolist()))
""")
    np.testing.assert_allclose(printed, regressor.predict(X), rtol=1e-13)
