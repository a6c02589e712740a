"""The three training losses, their output links (identity, sigmoid, softmax) and accuracy.

Plain NumPy, written once here: the reference backprop and the model's prediction and
validation both use these definitions.  Every loss but the lecture's E is a mean:

    mse           mean over all entries of (y_hat - y)²
    sse           E = ½ Σ (y_hat - y)² over all entries, so ∂E/∂y_hat = y_hat - y (the lecture's)
    bce           mean over all entries of softplus(z) - y z   (logits z, targets y in [0, 1])
    softmax_xent  mean over samples of logsumexp(z) - Σ_k y_k z_k   (integer or one-hot y)
"""

from __future__ import annotations

import numpy as np

__all__ = ["LINKS", "LOSSES", "REGRESSION", "accuracy", "baseline_loss", "link", "log_softmax",
           "loss_and_dlogits", "loss_value",
           "sigmoid", "softmax"]

LOSSES = ("mse", "sse", "bce", "softmax_xent")
REGRESSION = ("mse", "sse")  # losses of the outputs themselves; the others take logits
# what predict() applies to the last layer's output, by loss
LINKS = {"mse": "identity", "sse": "identity", "bce": "sigmoid", "softmax_xent": "softmax"}


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)) as exp(-log(1 + exp(-z))): no overflow, float32 stays float32."""
    return np.exp(-np.logaddexp(0.0, -z))


def log_softmax(z: np.ndarray) -> np.ndarray:
    """z - logsumexp(z) along the last axis, shifted by the row maximum against overflow."""
    shifted = z - z.max(axis=-1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return shifted


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e


def link(loss: str, out: np.ndarray) -> np.ndarray:
    """The prediction from the network's output: probabilities for bce and softmax_xent."""
    if loss == "bce":
        return sigmoid(out)
    if loss == "softmax_xent":
        return softmax(out)
    return out


def loss_value(loss: str, out: np.ndarray, Y: np.ndarray) -> float:
    """The loss of the network output `out` (predictions for mse, logits otherwise)."""
    if loss == "mse":
        diff = out - Y
        return float(np.vdot(diff, diff)) / diff.size
    if loss == "sse":
        diff = out - Y
        return 0.5 * float(np.vdot(diff, diff))
    if loss == "bce":
        return float(np.logaddexp(0.0, out).sum() - np.vdot(Y, out)) / out.size
    logp = log_softmax(out)
    if Y.ndim == 1:
        return -float(logp[np.arange(len(Y)), Y].sum()) / len(Y)
    return -float(np.vdot(Y, logp)) / len(Y)


def loss_and_dlogits(loss: str, z: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
    """The loss and d loss / d z for bce and softmax_xent, overwriting the logits z.

    bce:          d/dz = (σ(z) - y) / size,  with σ(z) = exp(z - softplus(z))
    softmax_xent: d/dz = (softmax(z) Σ_k y_k - y) / n   (Σ_k y_k = 1 for labels)
    """
    if loss == "bce":
        sp = np.logaddexp(0.0, z)
        value = float(sp.sum() - np.vdot(Y, z)) / z.size
        np.subtract(z, sp, out=sp)
        np.exp(sp, out=sp)
        sp -= Y
        sp *= 1.0 / z.size
        return value, sp
    n = z.shape[0]
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    total = e.sum(axis=1, keepdims=True)
    lse_sum = float(np.log(total).sum())
    e /= total  # softmax
    if Y.ndim == 1:
        rows = np.arange(n)
        value = (lse_sum - float(z[rows, Y].sum())) / n
        e[rows, Y] -= 1.0
    else:
        mass = Y.sum(axis=1, keepdims=True)
        value = (float(np.vdot(mass, np.log(total))) - float(np.vdot(Y, z))) / n
        e *= mass
        e -= Y
    e *= 1.0 / n
    return value, e


def accuracy(loss: str, out: np.ndarray, Y: np.ndarray) -> float:
    """Fraction of correct classes: thresholds at 1/2 for bce, argmax for softmax_xent."""
    if loss == "bce":
        return float(np.mean((out >= 0.0) == (Y >= 0.5)))  # σ(z) >= 1/2  <=>  z >= 0
    if loss == "softmax_xent":
        labels = Y if Y.ndim == 1 else Y.argmax(axis=1)
        return float(np.mean(out.argmax(axis=1) == labels))
    raise ValueError(f"accuracy is defined for classifiers (bce, softmax_xent), not {loss!r}")


def baseline_loss(loss: str, Y: np.ndarray) -> float:
    """The loss of the best constant output, what a model that learned nothing scores: the
    targets' variance (mse), the entropy of the class frequencies (bce, softmax_xent)."""
    if loss == "softmax_xent" and Y.ndim == 1:
        frequencies = np.bincount(Y) / len(Y)
    else:
        frequencies = Y.mean(axis=0)
    if loss == "bce":  # the logit of each output's mean
        p = np.clip(frequencies, 1e-12, 1 - 1e-12)
        constant = np.log(p) - np.log1p(-p)
    elif loss == "softmax_xent":
        constant = np.log(np.maximum(frequencies, 1e-12))
    else:
        constant = frequencies
    out = np.broadcast_to(constant, (len(Y), len(constant))).astype(Y.dtype if Y.dtype.kind == "f"
                                                                      else np.float64)
    return loss_value(loss, out, Y)
