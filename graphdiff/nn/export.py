"""A trained network as a standalone module: the generated forward pass, the trained
parameters (written out, or in an .npz beside the module) and `predict(X)`.

The forward pass is the compiled graph of the network's output, built with the public API
like the training step, so the module reads like the step does; it imports only NumPy.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import graphdiff as gd

from .compiled_step import mlp_output
from .files import write_atomically

__all__ = ["Network", "module_source", "write_module"]

WEIGHTS = ("inline", "npz")


@dataclass
class Network:
    """What an exported module needs: the architecture, the activation of the output layer
    as `predict` applies it (sigmoid/softmax for classifiers), the parameters, whether
    predictions are 1-d, a description for the docstring and, for classifiers that
    predict labels, the labels in the order of the outputs."""

    layer_sizes: Sequence[int]
    activation: str | Sequence[str]
    output: str
    params: Sequence[np.ndarray]
    flat: bool
    description: str
    classes: np.ndarray | None = None


def _forward_source(net: Network) -> tuple[str, list[str]]:
    """The generated forward(X, W1, b1, ...) and the parameter names, without the import."""
    out, names, _, _ = mlp_output(net.layer_sizes, net.activation, net.output)
    source = gd.compile(gd.parse(out, inputs=["X", *names]), name="forward").source
    return source.replace("import numpy as np\n", "", 1).strip("\n"), names


def _number_list(values: np.ndarray, indent: str) -> str:
    """Entries as Python literals, shortest form that reads back exactly in their dtype."""
    text = ", ".join(str(v) for v in values)
    return ("\n" + indent).join(textwrap.wrap(text, width=96 - len(indent)))


def _literal(a: np.ndarray) -> str:
    if a.ndim == 1:
        short = ", ".join(str(v) for v in a)
        return f"[{short}]" if len(short) <= 60 else f"[\n    {_number_list(a, '    ')},\n]"
    rows = (f"    [{_number_list(row, '     ')}]" for row in a)
    return "[\n" + ",\n".join(rows) + ",\n]"


def _parameters(net: Network, names: list[str], weights: str, npz_name: str) -> str:
    dtype = f"np.{np.dtype(net.params[0].dtype).name}"
    if weights == "npz":
        loads = "\n".join(f'    {n} = _weights["{n}"]' for n in names)
        return (f"# the trained parameters, {dtype}, in {npz_name} beside this module\n"
                f"with np.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), "
                f"{npz_name!r}),\n             allow_pickle=False) as _weights:\n{loads}")
    arrays = "\n".join(f"{n} = np.array({_literal(p)}, dtype={dtype})"
                       for n, p in zip(names, net.params))
    return f"# the trained parameters, {dtype}, exactly as trained\n{arrays}"


def _predictions(net: Network, names: list[str]) -> str:
    """predict (and predict_proba for labelled classifiers) on top of forward."""
    n_in, n_out = net.layer_sizes[0], net.layer_sizes[-1]
    call = f"forward(_as_inputs(X), {', '.join(names)})"
    one_feature = "    if X.ndim == 1:  # one feature\n        X = X[:, None]\n" if n_in == 1 else ""
    check = f'''def _as_inputs(X):
    """X as an (n, {n_in}) array of the parameters' dtype."""
    X = np.asarray(X, dtype={names[0]}.dtype)
{one_feature}    if X.ndim != 2 or X.shape[1] != {n_in}:
        raise ValueError(f"X must have shape (n, {n_in}), got {{X.shape}}")
    return X
'''
    if net.classes is None:
        shape = "(n,)" if net.flat else f"(n, {n_out})"
        take = "[:, 0]" if net.flat else ""
        return check + f'''

def predict(X):
    """The network's output for the rows of X (n, {n_in}): shape {shape}."""
    return {call}{take}
'''
    labels = ", ".join(repr(c) for c in net.classes.tolist())
    dtype = "" if net.classes.dtype == object else f", dtype={net.classes.dtype.str!r}"
    head = check + f"\n\nCLASSES = np.array([{labels}]{dtype})\n"
    if net.output == "sigmoid" and n_out > 1:  # multilabel: one probability per label
        return head + f'''

def predict_proba(X):
    """The probability of each label (column) on its own, for the rows of X (n, {n_in})."""
    return {call}


def predict(X):
    """The labels with a probability over 1/2: an (n, {n_out}) indicator matrix of 0 and 1."""
    return (predict_proba(X) > 0.5).astype(int)
'''
    proba = (f"    p = {call}[:, 0]  # of the second class\n    return np.stack([1 - p, p], "
             "axis=1)" if n_out == 1 else f"    return {call}")
    return head + f'''

def predict_proba(X):
    """The probability of each class (columns in the order of CLASSES), rows of X (n, {n_in})."""
{proba}


def predict(X):
    """The most probable class for each row of X (n, {n_in}): labels from CLASSES."""
    return CLASSES[np.argmax(predict_proba(X), axis=1)]
'''


def module_source(net: Network, weights: str = "inline", npz_name: str = "weights.npz") -> str:
    """The text of the standalone module."""
    return _module(net, *_forward_source(net), weights, npz_name)


def _module(net: Network, forward: str, names: list[str], weights: str, npz_name: str) -> str:
    imports = "import os\n\nimport numpy as np" if weights == "npz" else "import numpy as np"
    doc = (f'"""predict(X) of the trained {net.description}.\n\nWritten by graphdiff; it '
           'needs only NumPy.  `forward` is the generated forward pass,\none line per '
           'operation; the trained parameters follow it."""')
    return "\n\n\n".join([doc + "\n\n" + imports, forward,
                          _parameters(net, names, weights, npz_name),
                          _predictions(net, names).rstrip("\n")]) + "\n"


def write_module(path: str, net: Network, weights: str = "inline") -> None:
    """Write the module to `path` (and, with weights="npz", the parameters to the .npz of
    the same name beside it), atomically."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    if not all(np.isfinite(p).all() for p in net.params):
        raise ValueError("the parameters are not all finite: there is nothing to export")
    npz = os.path.splitext(path)[0] + ".npz"
    forward, names = _forward_source(net)
    source = _module(net, forward, names, weights, os.path.basename(npz))
    if weights == "npz":
        arrays: dict[str, Any] = dict(zip(names, net.params))
        write_atomically(npz, lambda f: np.savez(f, **arrays))
    write_atomically(path, lambda f: f.write(source.encode("utf-8")))
