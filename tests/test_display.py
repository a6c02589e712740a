"""What a notebook shows: highlighted generated source, an MLP's summary, a History's
curves, and fit's progress redrawn in place (and silenced by verbose=False)."""

import re
import xml.etree.ElementTree as ET
from html import unescape

import numpy as np
import pytest

import graphdiff as gd
from graphdiff import display, nn
from graphdiff.nn import model as model_module


def _text(html):
    return unescape(re.sub(r"<[^>]+>", "", html))


def test_compiled_function_shows_its_signature_and_highlighted_source():
    f = gd.value_and_grad("x1*x2 + sin(x1)")
    html = f._repr_html_()
    assert f"{f.name}(x1, x2)" in _text(html).splitlines()[0]
    for line in f.source.strip().splitlines():
        assert line.strip() in _text(html)
    pytest.importorskip("pygments")
    assert "<span" in html and "color" in html  # highlighted, with inline styles


def _data():
    X = np.linspace(-1, 1, 16)[:, None]
    return X, np.sin(3 * X)


def test_mlp_shows_layers_parameters_and_training_state():
    model = nn.MLP([1, 5, 4, 1], activation="tanh", seed=0)
    before = model._repr_html_()
    text = _text(before)
    assert "hidden 1" in text and "hidden 2" in text and "W2 5×4" in text
    assert f"{model.n_parameters:,}" in text and "not trained" in text and "<svg" not in before
    model.fit(*_data(), epochs=30, lr=0.01, keep_prob=0.9, verbose=False)
    after = _text(model._repr_html_())
    assert "30 epochs" in after and "final loss" in after and "keep_prob 0.9" in after
    assert "<svg" in model._repr_html_()


def test_history_shows_its_loss_curves():
    model = nn.MLP([1, 8, 1], seed=0)
    X, Y = _data()
    h = model.fit(X[::2], Y[::2], epochs=40, lr=0.05, validation=(X[1::2], Y[1::2]),
                  verbose=False)
    svg = re.search(r"<svg.*</svg>", h._repr_html_(), re.DOTALL).group(0)
    root = ET.fromstring(svg)
    lines = root.findall("{http://www.w3.org/2000/svg}polyline")
    assert [len(p.get("points").split()) for p in lines] == [40, 40]  # training, validation
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "training" in texts and "validation" in texts
    assert any("log scale" in t for t in texts) == (max(h.loss) / min(h.loss) > 10)
    assert nn.History()._repr_html_().startswith("<p>History(epochs=0")


class _Handle:
    def __init__(self, log):
        self.log = log

    def update(self, obj):
        self.log.append(("update", obj.data))


def _notebook(monkeypatch):
    ipython_display = pytest.importorskip("IPython.display")
    log = []

    def fake_display(obj, display_id=False):
        log.append(("display", obj.data))
        return _Handle(log)

    monkeypatch.setattr(model_module, "in_notebook", lambda: True)
    monkeypatch.setattr(ipython_display, "display", fake_display)
    return log


def test_fit_progress_in_a_notebook_redraws_one_output(monkeypatch):
    log = _notebook(monkeypatch)
    nn.MLP([1, 4, 1], seed=0).fit(*_data(), epochs=5, lr=0.01, verbose=True)
    assert log and log[0][0] == "display" and all(kind == "update" for kind, _ in log[1:])
    assert "epoch 5/5" in log[-1][1] and "<progress" in log[-1][1]


def test_fit_progress_can_be_turned_off_in_a_notebook(monkeypatch):
    log = _notebook(monkeypatch)
    nn.MLP([1, 4, 1], seed=0).fit(*_data(), epochs=5, lr=0.01, verbose=False)
    assert log == []


def test_outside_a_notebook_nothing_is_a_notebook():
    assert display.in_notebook() is False
