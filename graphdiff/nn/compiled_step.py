"""An MLP's loss as a graphdiff Graph, and its generated value-and-gradient step.

Only the public graph API is used: `X @ W + b`, activations from the registry, an optional
dropout mask, a numerically stable loss and an L2 weight-decay term are ordinary graph
operations, so the loss can be traced, drawn and compiled like any expression.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

import graphdiff as gd
from graphdiff.codegen import compile_graph

from .checks import hidden_activations
from .losses import REGRESSION
from .optimizers import Optimizer, make_optimizer

__all__ = ["FusedStep", "GeneratedStep", "mlp_loss_graph", "mlp_output"]


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
        # the cheap call: arrays of the model's dtype (class labels as integers) go
        # straight to the generated function
        self._fn = self.compiled.entry(["Y"] if int_labels else ())

    def __call__(self, params: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray,
                 masks: Sequence[np.ndarray] | None = None) -> tuple[float, list[np.ndarray]]:
        value, grads = self._fn(X, Y, *params, *(masks or ()))
        return float(value), list(grads)

    def __repr__(self) -> str:
        return f"<GeneratedStep {len(self.params)} parameters, {len(self.masks)} masks>"



# the optimizers a fused step implements, with the state arrays each keeps per parameter
# and its scalar inputs (0-d arrays of the parameters' dtype, so float32 stays float32)
_FUSED = {"sgd": ((), ("lr",)),
          "momentum": (("velocity",), ("lr", "momentum")),
          "adam": (("m", "v"), ("lr_t", "beta1", "one_minus_beta1", "beta2", "one_minus_beta2",
                                "inv_root_correction2", "eps"))}


class FusedStep:
    """Forward pass, loss, backward pass and the optimizer's update (SGD, momentum, Adam)
    as ONE generated function that updates the parameters and the optimizer's state in
    place and returns the loss: `loss = step(params, state, X, Y, masks)`.  `backend`:
    "numpy" (ufuncs writing with `out=`) or "numba" (one kernel that writes the new values
    into the arrays it was given; see graphdiff.numba_backend).

    The network and loss options are those of `GeneratedStep`; `optimizer` and its
    settings (`lr`, `momentum`, `beta1`, `beta2`, `eps`) make `self.optimizer`, an
    `Optimizer` whose settings and step count each call reads.  The hyper-parameters are
    inputs of the generated function, not literals, so changing them (a schedule, a
    second fit with another rate) needs no new code; the weight-decay λ is a literal of
    the loss, as in `GeneratedStep`.  `.source` is the generated module.

    >>> step = FusedStep([1, 3, 1], optimizer="momentum", lr=0.1)
    >>> params = [np.full((1, 3), 0.5), np.zeros(3), np.full((3, 1), 0.5), np.zeros(1)]
    >>> state = step.init_state(params)
    >>> X, Y = np.linspace(-1, 1, 4)[:, None], np.linspace(0, 1, 4)[:, None]
    >>> first, second = step(params, state, X, Y), step(params, state, X, Y)
    >>> second < first
    True
    """

    def __init__(self, layer_sizes: Sequence[int], activation: str | Sequence[str] = "tanh",
                 output_activation: str = "identity", loss: str = "mse",
                 weight_decay: float = 0.0, dropout: bool = False, int_labels: bool = False,
                 optimizer: str = "sgd", backend: str = "numpy", **hyper: Any):
        kind = optimizer.lower() if isinstance(optimizer, str) else optimizer
        if kind not in _FUSED:
            raise ValueError(f"a fused step implements the optimizers {', '.join(_FUSED)}, "
                             f"not {optimizer!r}")
        if backend not in ("numpy", "numba"):
            raise ValueError(f"a fused step is generated for the 'numpy' or 'numba' "
                             f"backend, not {backend!r}")
        self.kind, self.backend = kind, backend
        self.optimizer = make_optimizer(kind, hyper.pop("lr", None), **hyper)
        self.graph, self.params, self.masks = mlp_loss_graph(
            layer_sizes, activation, output_activation, loss, weight_decay, dropout, int_labels)
        fused, updates = _fused_graph(self.graph, self.params, self.masks, kind)
        self.fused_graph = fused
        self.compiled = compile_graph(
            fused, "fused_step", returns=lambda outs: outs[0], inplace=True, updates=updates,
            doc=f"one {kind} step: the loss at the parameters given, which are updated in "
                f"place along with the optimizer state", backend=backend)
        self.source = self.compiled.source
        # numba's dispatcher takes integer labels and 0-d scalars as they are
        self._fn = (self.compiled.fn if backend == "numba"
                    else self.compiled.entry(["Y"] if int_labels else ()))
        self._scalars: tuple | None = None  # the last step's scalar inputs, kept
        self._form = int(backend == "numba")  # which form of them the call passes

    @property
    def slots(self) -> tuple[str, ...]:
        """The state arrays the optimizer keeps per parameter (none for plain SGD)."""
        return _FUSED[self.kind][0]

    def init_state(self, params: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Fresh optimizer state for `params`: zero arrays, slot by slot, each a list over
        the parameters (Adam: every m, then every v)."""
        return [np.zeros_like(p) for _ in self.slots for p in params]

    def scalars(self, optimizer: Optimizer, dtype: Any) -> list[np.ndarray]:
        """The scalar inputs of the step numbered `optimizer.t`, as 0-d arrays of `dtype`."""
        return self._scalars_of(self._values(optimizer), dtype)[0]

    def _values(self, optimizer: Optimizer) -> tuple[float, ...]:
        """The scalar inputs of the step numbered `optimizer.t`, as Python floats."""
        if self.kind == "sgd":
            values: tuple[float, ...] = (optimizer.lr,)
        elif self.kind == "momentum":
            values = (optimizer.lr, optimizer.momentum)
        else:
            b1, b2, t = optimizer.beta1, optimizer.beta2, optimizer.t
            # bias corrections: m̂ = m / (1 - b1^t), v̂ = v / (1 - b2^t)
            values = (optimizer.lr / (1.0 - b1**t), b1, 1.0 - b1, b2, 1.0 - b2,
                      1.0 / math.sqrt(1.0 - b2**t), optimizer.eps)
        return values

    def _scalars_of(self, values: tuple, dtype: Any) -> tuple[list, list]:
        """`values` as 0-d arrays of `dtype` and as NumPy scalars of it (which the numba
        kernels' entry takes without converting), kept while they do not change."""
        cached = self._scalars
        if cached is not None and cached[0] == values and cached[1] == dtype:
            return cached[2]  # inputs only: the generated function never writes them
        arrays = [np.array(v, dtype) for v in values]
        self._scalars = (values, dtype, (arrays, [a[()] for a in arrays]))
        return self._scalars[2]

    def __call__(self, params: Sequence[np.ndarray], state: Sequence[np.ndarray],
                 X: np.ndarray, Y: np.ndarray, masks: Sequence[np.ndarray] | None = None,
                 optimizer: Optimizer | None = None) -> float:
        """The loss at `params`, which (and `state`) are then updated in place by one step
        of `optimizer` (default `self.optimizer`; its step count goes up by one)."""
        opt = self.optimizer if optimizer is None else optimizer
        opt.t += 1
        try:
            value = self._fn(X, Y, *params, *(masks or ()), *state,
                             *self._scalars_of(self._values(opt), params[0].dtype)[self._form])
        except BaseException:
            opt.t -= 1  # refused on entry (shapes, labels): no step was taken
            raise
        return float(value)

    def __repr__(self) -> str:
        return f"<FusedStep {self.kind}, {len(self.params)} parameters, {len(self.masks)} masks>"


def _fused_graph(loss: gd.Graph, params: list[str], masks: list[str], kind: str
                 ) -> tuple[gd.Graph, dict[int, str]]:
    """The loss, its gradients and the optimizer's update as one graph: outputs (loss,
    new parameters..., new state...), and which input each new value replaces."""
    d = gd.value_and_grad_graph(loss, params)
    index = {n.name: n.index for n in d.nodes if n.op == "input"}
    P = [d.node_graph(index[p]) for p in params]
    G = [d.node_graph(i) for i in d.outputs[1:]]
    slots, names = _FUSED[kind]
    state = {slot: [gd.tensor(f"{slot}_{p}", d.nodes[index[p]].shape) for p in params]
             for slot in slots}
    s = {name: gd.tensor(name, ()) for name in names}
    if kind == "sgd":
        new_params, new_state = [p - s["lr"] * g for p, g in zip(P, G)], []
    elif kind == "momentum":  # v ← μ v + g,  p ← p - lr v
        velocity = [s["momentum"] * v + g for v, g in zip(state["velocity"], G)]
        new_params = [p - s["lr"] * v for p, v in zip(P, velocity)]
        new_state = velocity
    else:  # Adam: p ← p - lr/(1 - b1^t) · m / (√v / √(1 - b2^t) + ε)
        m = [s["beta1"] * m + s["one_minus_beta1"] * g for m, g in zip(state["m"], G)]
        v = [s["beta2"] * v + s["one_minus_beta2"] * (g * g) for v, g in zip(state["v"], G)]
        new_params = [p - s["lr_t"] * (mk / (gd.sqrt(vk) * s["inv_root_correction2"]
                                             + s["eps"]))
                      for p, mk, vk in zip(P, m, v)]
        new_state = m + v
    state_names = [f"{slot}_{p}" for slot in slots for p in params]
    inputs = list(d.inputs) + state_names + list(names)
    fused = gd.parse([d.node_graph(d.outputs[0])] + new_params + new_state, inputs=inputs)
    updates = {1 + k: name for k, name in enumerate(params + state_names)}
    return fused, updates
