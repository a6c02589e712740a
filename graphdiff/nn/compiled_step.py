"""An MLP's loss as a graphdiff Graph, and its generated value-and-gradient step.

Only the public graph API is used: `X @ W + b`, activations from the registry, an optional
dropout mask, a numerically stable loss and an L2 weight-decay term are ordinary graph
operations, so the loss can be traced, drawn and compiled like any expression.
"""

from __future__ import annotations

from collections.abc import Sequence
import numpy as np

import graphdiff as gd

from .checks import hidden_activations
from .losses import REGRESSION

__all__ = ["GeneratedStep", "mlp_loss_graph", "mlp_output"]


def _loss(kind: str, out: gd.Graph, Y: gd.Graph) -> gd.Graph:
    """The losses of losses.py: mse and sse on outputs, the others on logits."""
    if kind == "mse":
        return gd.mse(out, Y)
    if kind == "sse":  # the lecture's E = ½ Σ (y - t)², whose adjoint at y is y - t
        return 0.5 * gd.sum(gd.square(out - Y))
    if kind == "bce":
        return gd.bce_with_logits(out, Y)
    if kind == "softmax_xent":
        return gd.softmax_xent(out, Y)
    raise ValueError(f"unknown loss {kind!r}")


def mlp_output(layer_sizes: Sequence[int], activation: str | Sequence[str] = "tanh",
               head: str = "identity", dropout: bool = False
               ) -> tuple[gd.Graph, list[str], list[str], list[gd.Graph]]:
    """The network's output `head(h W_L + b_L)` as a graph of the input X, the parameters
    W1, b1, ... and, with `dropout`, one mask per hidden layer.  Returns the output, the
    parameter names, the mask names and each layer's sum(W²) (for weight decay)."""
    sizes = list(layer_sizes)
    hidden = hidden_activations(activation, len(sizes) - 2)
    h = gd.tensor("X", (None, sizes[0]))
    names, masks, decay = [], [], []
    for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        W = gd.tensor(f"W{layer}", (n_in, n_out))
        b = gd.tensor(f"b{layer}", (n_out,))
        names += [f"W{layer}", f"b{layer}"]
        decay.append(gd.sum(gd.square(W)))
        z = h @ W + b
        if layer < len(sizes) - 1:
            h = gd.call(hidden[layer - 1], z)
            if dropout:
                M = gd.tensor(f"M{layer}", (None, n_out))
                masks.append(f"M{layer}")
                h = h * M
        else:
            h = z if head == "identity" else gd.call(head, z)
    return h, names, masks, decay


def mlp_loss_graph(layer_sizes: Sequence[int], activation: str | Sequence[str] = "tanh",
                   output_activation: str = "identity", loss: str = "mse",
                   weight_decay: float = 0.0, dropout: bool = False,
                   int_labels: bool = False) -> tuple[gd.Graph, list[str], list[str]]:
    """The training loss of an MLP as one graph.

    Inputs: X (batch, n0), Y (batch, n_out) or integer labels (batch,), then W1, b1, W2,
    b2, ..., then one dropout mask M1, M2, ... per hidden layer (already scaled by
    1/keep_prob) when `dropout`.  Returns the graph, the parameter names and the mask names.

    >>> g, params, masks = mlp_loss_graph([1, 3, 1])
    >>> params
    ['W1', 'b1', 'W2', 'b2']
    """
    Y = gd.tensor("Y", (None,) if int_labels else (None, layer_sizes[-1]))
    head = output_activation if loss in REGRESSION else "identity"  # the others take logits
    h, names, masks, decay = mlp_output(layer_sizes, activation, head, dropout)
    total = _loss(loss, h, gd.one_hot(Y, h) if int_labels and loss != "softmax_xent" else Y)
    if weight_decay:
        penalty = decay[0]
        for d in decay[1:]:
            penalty = penalty + d
        total = total + weight_decay * penalty
    inputs = ["X", "Y"] + names + masks
    return gd.parse(total, inputs=inputs), names, masks


class GeneratedStep:
    """`step(params, X, Y, masks) -> (loss, grads)` from one generated NumPy function.

    Compiled once; `.source` is the generated module and `.graph` the loss graph.
    """

    def __init__(self, layer_sizes: Sequence[int], activation: str | Sequence[str],
                 output_activation: str,
                 loss: str, weight_decay: float, dropout: bool, int_labels: bool,
                 backend: str = "numpy"):
        self.graph, self.params, self.masks = mlp_loss_graph(
            layer_sizes, activation, output_activation, loss, weight_decay, dropout, int_labels)
        # the model keeps data and parameters in one dtype, so buffers can be reused
        self.compiled = gd.value_and_grad(self.graph, wrt=self.params, name="loss_and_grads",
                                          inplace=backend == "numpy", backend=backend)
        self.source = self.compiled.source
        self._fn = self.compiled.fn

    def __call__(self, params: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray,
                 masks: Sequence[np.ndarray] | None = None) -> tuple[float, list[np.ndarray]]:
        value, grads = self._fn(X, Y, *params, *(masks or ()))
        return float(value), list(grads)

    def __repr__(self) -> str:
        return f"<GeneratedStep {len(self.params)} parameters, {len(self.masks)} masks>"

