"""Hand-written NumPy forward pass and back-propagation for MLPs: the independent reference.

It shares nothing with the graph compiler (it only reuses `losses` for the loss
definitions), so tests can hold graphdiff's generated gradients against it, and
benchmarks/mlp_step.py uses it as the baseline.  Each activation's derivative is computed
from its output, so a layer keeps one array: the forward pass overwrites z = hW + b with f(z).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .checks import hidden_activations
from .losses import REGRESSION, loss_and_dlogits, loss_value

__all__ = ["ACTIVATIONS", "ISRU_ALPHA", "LEAKY_SLOPE", "Backprop", "forward", "forward_loss",
           "loss_and_grads"]

LEAKY_SLOPE = 0.01  # the lecture's leaky ReLU
ISRU_ALPHA = 1.0


# Each activation: f(z) written into z, and g *= f'(z) computed from a = f(z).
def _tanh(z):
    return np.tanh(z, out=z)


def _dtanh(g, a):  # 1 - tanh²
    t = np.multiply(a, a)
    np.subtract(1.0, t, out=t)
    g *= t


def _sigmoid(z):  # exp(-log(1 + exp(-z))): no overflow
    np.negative(z, out=z)
    np.logaddexp(0.0, z, out=z)
    np.negative(z, out=z)
    return np.exp(z, out=z)


def _dsigmoid(g, a):  # σ(1 - σ)
    t = np.subtract(1.0, a)
    t *= a
    g *= t


def _relu(z):
    return np.maximum(z, 0.0, out=z)


def _drelu(g, a):  # 1 where z > 0; at z = 0 exactly (measure zero) this gives 0
    g *= a > 0


def _leaky_relu(z):  # max(z, s z) for 0 < s < 1
    return np.maximum(z, z * LEAKY_SLOPE, out=z)


def _dleaky_relu(g, a):  # sign(a) = sign(z), so z >= 0 <=> a >= 0
    one, slope = a.dtype.type(1.0), a.dtype.type(LEAKY_SLOPE)
    g *= np.where(a >= 0, one, slope)


def _softplus(z):
    return np.logaddexp(0.0, z, out=z)


def _dsoftplus(g, a):  # σ(z) = 1 - exp(-softplus(z)) = -expm1(-a)
    t = np.negative(a)
    np.expm1(t, out=t)
    np.negative(t, out=t)
    g *= t


def _arctan(z):
    return np.arctan(z, out=z)


def _darctan(g, a):  # 1 / (1 + z²) = cos²(arctan z)
    t = np.cos(a)
    t *= t
    g *= t


def _softsign(z):
    t = np.abs(z)
    t += 1.0
    return np.divide(z, t, out=z)


def _dsoftsign(g, a):  # 1 / (1 + |z|)² = (1 - |a|)²
    t = np.abs(a)
    np.subtract(1.0, t, out=t)
    t *= t
    g *= t


def _isru(z):
    t = np.multiply(z, z)
    t *= ISRU_ALPHA
    t += 1.0
    np.sqrt(t, out=t)
    return np.divide(z, t, out=z)


def _disru(g, a):  # (1 + αz²)^(-3/2) = (1 - α a²)^(3/2)
    t = np.multiply(a, a)
    t *= -ISRU_ALPHA
    t += 1.0
    t **= 1.5
    g *= t


def _binary_step(z):
    return np.heaviside(z, 1.0, out=z)


def _dbinary_step(g, a):  # zero almost everywhere
    g[...] = 0.0


def _identity(z):
    return z


def _didentity(g, a):
    pass


@dataclass(frozen=True)
class _Activation:
    apply: Callable[[np.ndarray], np.ndarray]  # overwrites z with f(z) and returns it
    scale_by_derivative: Callable[[np.ndarray, np.ndarray], None]  # g *= f'(z), given a = f(z)


ACTIVATIONS: dict[str, _Activation] = {
    "identity": _Activation(_identity, _didentity),
    "binary_step": _Activation(_binary_step, _dbinary_step),
    "sigmoid": _Activation(_sigmoid, _dsigmoid),
    "tanh": _Activation(_tanh, _dtanh),
    "arctan": _Activation(_arctan, _darctan),
    "softsign": _Activation(_softsign, _dsoftsign),
    "isru": _Activation(_isru, _disru),
    "relu": _Activation(_relu, _drelu),
    "leaky_relu": _Activation(_leaky_relu, _dleaky_relu),
    "softplus": _Activation(_softplus, _dsoftplus),
}


def _activation(name: str) -> _Activation:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        known = ", ".join(ACTIVATIONS)
        raise ValueError(f"unknown activation {name!r}; known: {known}") from None


def _hidden(activation: str | Sequence[str], params: Sequence[np.ndarray]) -> list[_Activation]:
    return [_activation(a) for a in hidden_activations(activation, len(params) // 2 - 1)]


def forward(params: Sequence[np.ndarray], X: np.ndarray, activation: str | Sequence[str] = "tanh",
            output_activation: str = "identity",
            masks: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """The network's output: hidden layers f(hW + b) (times the dropout masks, if given),
    then the last layer hW + b through `output_activation`.  `activation` names f for every
    hidden layer, or lists one per layer.

    >>> import numpy as np
    >>> W, b = np.array([[2.0]]), np.array([1.0])
    >>> forward([W, b, W, b], np.array([[0.0]]))
    array([[2.52318831]])
    """
    hidden = _hidden(activation, params)
    last = len(params) // 2 - 1
    h = X
    for l in range(last + 1):
        z = h @ params[2 * l]
        z += params[2 * l + 1]
        if l == last:
            return _activation(output_activation).apply(z)
        h = hidden[l].apply(z)
        if masks is not None:
            h *= masks[l]
    raise ValueError("params must hold at least one (W, b) pair")


def loss_and_grads(params: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray, *,
                   activation: str | Sequence[str] = "tanh", output_activation: str = "identity",
                   loss: str = "mse", weight_decay: float = 0.0,
                   masks: Sequence[np.ndarray] | None = None
                   ) -> tuple[float, list[np.ndarray]]:
    """Loss and its gradient with respect to [W1, b1, W2, b2, ...] by back-propagation.

    The loss is `losses.LOSSES[loss]` of the output, plus weight_decay * Σ_l sum(W_l²).
    `masks[l]` (shape (batch, units), already scaled by 1/keep_prob) multiplies hidden
    layer l's output.  `output_activation` applies to mse only: bce and softmax_xent take
    the last layer's hW + b as logits.
    """
    hidden = _hidden(activation, params)
    head = _activation(output_activation)
    if loss not in REGRESSION and output_activation != "identity":
        raise ValueError(f"{loss} takes logits; its output activation is part of the loss")
    n_layers = len(params) // 2
    inputs = [X]  # the input of each layer (after dropout)
    outputs = []  # f(z) of each hidden layer (before dropout): f' is computed from it
    h = X
    for l in range(n_layers - 1):
        z = h @ params[2 * l]
        z += params[2 * l + 1]
        a = hidden[l].apply(z)
        outputs.append(a)
        h = a if masks is None else a * masks[l]
        inputs.append(h)
    z = h @ params[-2]
    z += params[-1]

    if loss in REGRESSION:
        y_hat = head.apply(z)
        g = np.subtract(y_hat, Y)
        value = loss_value(loss, y_hat, Y)
        if loss == "mse":  # d mean((y - t)²) / dy = 2 (y - t) / size; sse's is y - t
            g *= 2.0 / g.size
        head.scale_by_derivative(g, y_hat)
    else:
        value, g = loss_and_dlogits(loss, z, Y)

    grads: list[np.ndarray] = [None] * len(params)  # type: ignore[list-item]
    for l in range(n_layers - 1, -1, -1):
        W = params[2 * l]
        gW = inputs[l].T @ g
        if weight_decay:
            value += weight_decay * float(np.vdot(W, W))
            gW += (2.0 * weight_decay) * W
        grads[2 * l] = gW
        grads[2 * l + 1] = g.sum(axis=0)
        if l:
            g = g @ W.T
            if masks is not None:
                g *= masks[l - 1]
            hidden[l - 1].scale_by_derivative(g, outputs[l - 1])
    return value, grads


class Backprop:
    """A model's loss-and-gradient step by hand-written back-propagation.

    `step(params, X, Y, masks) -> (loss, grads)`; `source` is None because no code is
    generated, and `graph` is None because no graph is built.
    """

    source = None
    graph = None

    def __init__(self, activation: str | Sequence[str] = "tanh",
                 output_activation: str = "identity", loss: str = "mse",
                 weight_decay: float = 0.0, dropout: bool = False, int_labels: bool = False):
        for name in [activation] if isinstance(activation, str) else activation:
            _activation(name)
        _activation(output_activation)
        self.activation, self.output_activation = activation, output_activation
        self.loss, self.weight_decay, self.dropout = loss, float(weight_decay), dropout
        self.int_labels = int_labels  # informative: loss_and_grads reads the labels' form

    def __call__(self, params: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray,
                 masks: Sequence[np.ndarray] | None = None) -> tuple[float, list[np.ndarray]]:
        return loss_and_grads(params, X, Y, activation=self.activation,
                              output_activation=self.output_activation, loss=self.loss,
                              weight_decay=self.weight_decay, masks=masks)

    def __repr__(self) -> str:
        return (f"Backprop(activation={self.activation!r}, output_activation="
                f"{self.output_activation!r}, loss={self.loss!r}, "
                f"weight_decay={self.weight_decay}, dropout={self.dropout})")


def forward_loss(params: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray, *,
          activation: str | Sequence[str] = "tanh", output_activation: str = "identity",
          loss: str = "mse", weight_decay: float = 0.0,
          masks: Sequence[np.ndarray] | None = None) -> float:
    """The loss alone (one forward pass), for finite differences and validation."""
    head = output_activation if loss in REGRESSION else "identity"
    out = forward(params, X, activation, head, masks)
    penalty = sum(float(np.vdot(W, W)) for W in params[0::2])
    return loss_value(loss, out, Y) + weight_decay * penalty
