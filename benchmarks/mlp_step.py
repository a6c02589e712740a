"""One MLP training step (forward, loss, gradients, SGD update in place) against its peers.

    taskset -c 1 python benchmarks/mlp_step.py [--seconds 3] [--sizes 0 1 2 3]
                                               [--dtypes float32 float64] [--quick]

Contenders, timed in the same interleaved rounds (every contender once per round, the
order rotated), each on its own copy of the same initial parameters and data:

- `hand NumPy`      the reference (ratio 1.00): graphdiff.nn.backprop's hand-written
                    back-propagation, then p -= lr g through one scratch buffer;
- `NumPy out=`      the same algorithm written with every array preallocated (out=);
- `graphdiff`       graphdiff's generated loss-and-gradient step (nn's GeneratedStep),
                    then the same update as the reference;
- `graphdiff numba` the step compiled by graphdiff's Numba backend, same update;
- `fused numpy`, `fused numba`  graphdiff's fused step (forward, backward and the update
                    in one generated function that updates the parameters in place);
- `JAX`             `jax.jit` of value_and_grad + the SGD update (float64 enabled).

A contender that has not landed (or a peer that is not installed) says so in the table
instead of a number.  Before timing, every contender's first step is checked against the
reference's: the loss, and the gradient implied by the update, (p_before - p_after) / lr.
`first call` is building the contender and its first step, where graphdiff builds and
compiles and Numba and JAX compile.  Nothing here asserts a timing.
"""

from __future__ import annotations

import harness  # first: it pins every library to one thread before their import

# isort: split
import argparse
import sys
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

import graphdiff as gd
from graphdiff.nn import backprop
from graphdiff.nn.compiled_step import GeneratedStep, mlp_loss_graph

LR = 1e-3


class Config(NamedTuple):
    batch: int
    sizes: tuple[int, ...]
    activation: str
    loss: str
    goal: float  # issue 13's target for graphdiff's best step, as a ratio to hand NumPy

    @property
    def name(self) -> str:
        return "-".join(map(str, self.sizes))

    @property
    def int_labels(self) -> bool:
        return self.loss == "softmax_xent"


CONFIGS = (
    Config(10, (1, 3, 1), "tanh", "mse", 0.30),
    Config(64, (2, 16, 16, 2), "tanh", "mse", 0.50),
    Config(256, (784, 256, 256, 10), "relu", "softmax_xent", 0.90),  # integer class labels
    Config(1024, (512, 1024, 1024, 512), "relu", "mse", 0.95),
)


def shrunk(cfg: Config) -> Config:
    """The same kind of network at toy size, for --quick."""
    return cfg._replace(batch=min(cfg.batch, 16), sizes=tuple(min(n, 8) for n in cfg.sizes))


def problem(cfg: Config, dtype: Any, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray,
                                                              np.ndarray]:
    """Xavier-initialised parameters with small random biases, inputs and targets."""
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in zip(cfg.sizes[:-1], cfg.sizes[1:]):
        limit = np.sqrt(6.0 / (n_in + n_out))
        params += [rng.uniform(-limit, limit, (n_in, n_out)).astype(dtype),
                   (0.1 * rng.standard_normal(n_out)).astype(dtype)]
    X = rng.standard_normal((cfg.batch, cfg.sizes[0])).astype(dtype)
    if cfg.int_labels:
        Y = rng.integers(0, cfg.sizes[-1], cfg.batch).astype(np.intp)
    else:
        Y = rng.standard_normal((cfg.batch, cfg.sizes[-1])).astype(dtype)
    return params, X, Y


# --- contenders: build(cfg, params, X, Y) -> run; run() takes one step, returns the loss,
# and updates `params` (NumPy contenders) or a copy read back by `.params()` (JAX)
class Contender(NamedTuple):
    run: Callable[[], Any]  # one step; returns the loss (a float, or a 0-d array)
    params: Callable[[], list[np.ndarray]]
    numpy_memory: bool  # whether tracemalloc sees its allocations (NumPy's do)


def sgd_after(step: Callable[..., tuple[float, Sequence[np.ndarray]]],
              params: list[np.ndarray], X: np.ndarray, Y: np.ndarray,
              numpy_memory: bool = True) -> Contender:
    """A loss-and-gradient step followed by p -= lr g through one scratch buffer per
    parameter, so the update allocates nothing itself (the same for every such step)."""
    scratch = [np.empty_like(p) for p in params]
    lr = params[0].dtype.type(LR)

    def run() -> float:
        value, grads = step(params, X, Y, None)
        for p, g, s in zip(params, grads, scratch):
            np.multiply(g, lr, out=s)
            p -= s
        return float(value)

    return Contender(run, lambda: params, numpy_memory)


def hand_numpy(cfg: Config, params, X, Y) -> Contender:
    return sgd_after(backprop.Backprop(cfg.activation, "identity", cfg.loss), params, X, Y)


class OutStep:
    """The reference's algorithm with every array allocated once (NumPy's out=): what a
    careful NumPy programmer writes for one fixed batch size.  tanh or relu hidden layers,
    an identity head, mse or softmax cross-entropy with integer labels."""

    def __init__(self, cfg: Config, params: list[np.ndarray], X: np.ndarray, Y: np.ndarray):
        if cfg.activation not in ("tanh", "relu") or cfg.loss not in ("mse", "softmax_xent"):
            raise ValueError(f"OutStep does not write {cfg.activation}/{cfg.loss}")
        self.cfg, self.params, self.X, self.Y = cfg, params, X, Y
        dtype, n = X.dtype, X.shape[0]
        outs = cfg.sizes[1:]
        self.a = [np.empty((n, m), dtype) for m in outs]  # z, then f(z) in place
        self.g = [np.empty((n, m), dtype) for m in outs]  # adjoint of each layer's z
        self.t = [np.empty((n, m), dtype) for m in outs]  # f'(z)
        self.grads = [np.empty_like(p) for p in params]
        self.column = np.empty((n, 1), dtype)
        self.rows = np.arange(n)
        self.lr = dtype.type(LR)

    def __call__(self) -> float:
        params, a, g, t = self.params, self.a, self.g, self.t
        last = len(a) - 1
        h = self.X
        for k in range(last + 1):
            np.matmul(h, params[2 * k], out=a[k])
            a[k] += params[2 * k + 1]
            if k < last:
                if self.cfg.activation == "tanh":
                    np.tanh(a[k], out=a[k])
                else:
                    np.maximum(a[k], 0, out=a[k])
            h = a[k]
        value = self._loss(a[last], g[last])
        for k in range(last, -1, -1):
            W, b = params[2 * k], params[2 * k + 1]
            gW, gb = self.grads[2 * k], self.grads[2 * k + 1]
            np.matmul((a[k - 1] if k else self.X).T, g[k], out=gW)
            np.sum(g[k], axis=0, out=gb)
            if k:
                np.matmul(g[k], W.T, out=g[k - 1])
                if self.cfg.activation == "tanh":  # d tanh = 1 - tanh²
                    np.multiply(a[k - 1], a[k - 1], out=t[k - 1])
                    np.subtract(1, t[k - 1], out=t[k - 1])
                else:  # d relu = [z > 0] = [relu(z) > 0]
                    np.greater(a[k - 1], 0, out=t[k - 1])
                g[k - 1] *= t[k - 1]
            gW *= self.lr  # the update, once W has been used for the adjoint below it
            W -= gW
            gb *= self.lr
            b -= gb
        return value

    def _loss(self, z: np.ndarray, g: np.ndarray) -> float:
        """The loss, with d loss / dz written into g."""
        if self.cfg.loss == "mse":  # mean((z - y)²), adjoint 2 (z - y) / size
            np.subtract(z, self.Y, out=g)
            value = float(np.vdot(g, g)) / g.size
            g *= g.dtype.type(2.0 / g.size)
            return value
        # softmax cross-entropy, integer labels: mean(logsumexp(z) - z[label]),
        # adjoint (softmax(z) - onehot) / n
        n, col = z.shape[0], self.column
        np.max(z, axis=1, keepdims=True, out=col)
        np.subtract(z, col, out=z)
        np.exp(z, out=g)
        np.sum(g, axis=1, keepdims=True, out=col)
        g /= col
        np.log(col, out=col)
        value = (float(col.sum()) - float(z[self.rows, self.Y].sum())) / n
        g[self.rows, self.Y] -= 1
        g *= g.dtype.type(1.0 / n)
        return value


def numpy_out(cfg: Config, params, X, Y) -> Contender:
    step = OutStep(cfg, params, X, Y)
    return Contender(step, lambda: params, True)


def graphdiff_numpy(cfg: Config, params, X, Y) -> Contender:
    step = GeneratedStep(list(cfg.sizes), cfg.activation, "identity", cfg.loss, 0.0, False,
                         cfg.int_labels)
    return sgd_after(step, params, X, Y)


def graphdiff_numba(cfg: Config, params, X, Y) -> Contender:
    """nn's step on the Numba backend if GeneratedStep takes a backend; else the same loss
    graph through gd.value_and_grad(..., backend="numba")."""
    try:
        step = GeneratedStep(list(cfg.sizes), cfg.activation, "identity", cfg.loss, 0.0,
                             False, cfg.int_labels, backend="numba")
    except TypeError:
        graph, names, _ = mlp_loss_graph(list(cfg.sizes), cfg.activation, "identity",
                                         cfg.loss, 0.0, False, cfg.int_labels)
        fn = gd.value_and_grad(graph, wrt=names, name="loss_and_grads", backend="numba").fn

        def step(params, X, Y, masks):
            return fn(X, Y, *params)

    return sgd_after(step, params, X, Y, numpy_memory=False)


def fused(backend: str) -> Callable[..., Contender]:
    def build(cfg: Config, params, X, Y) -> Contender:
        from graphdiff.nn.compiled_step import FusedStep

        step = FusedStep(list(cfg.sizes), activation=cfg.activation,
                         output_activation="identity", loss=cfg.loss, weight_decay=0.0,
                         dropout=False, int_labels=cfg.int_labels, optimizer="sgd",
                         backend=backend, lr=LR)
        state = step.init_state(params)
        return Contender(lambda: step(params, state, X, Y, masks=None), lambda: params,
                         backend == "numpy")
    return build


def jax_step(cfg: Config, params, X, Y) -> Contender:
    """jit(value_and_grad + SGD) with the parameters donated, so XLA may update in place."""
    jax = harness.jax_or_none()
    if jax is None:
        raise ImportError(harness.NOT_INSTALLED)
    jnp = jax.numpy
    act = jnp.tanh if cfg.activation == "tanh" else (lambda z: jnp.maximum(z, 0))

    def loss(ps, X, Y):
        h = X
        for k in range(0, len(ps), 2):
            z = h @ ps[k] + ps[k + 1]
            h = act(z) if k + 2 < len(ps) else z
        if cfg.loss == "mse":
            return jnp.mean((h - Y) ** 2)
        lse = jax.nn.logsumexp(h, axis=1)
        return jnp.mean(lse - jnp.take_along_axis(h, Y[:, None], axis=1)[:, 0])

    def _step(ps, X, Y):
        value, grads = jax.value_and_grad(loss)(ps, X, Y)
        return value, [p - LR * g for p, g in zip(ps, grads)]

    step = jax.jit(_step, donate_argnums=0)
    state = {"params": [jnp.asarray(p) for p in params]}
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)

    def run() -> Any:
        value, state["params"] = step(state["params"], Xj, Yj)
        # the loss stays a JAX array: float() on it costs a further ~15 µs per step here,
        # which a JAX training loop does not pay
        return jax.block_until_ready(value)

    return Contender(run, lambda: [np.asarray(p) for p in state["params"]], False)


CONTENDERS: dict[str, Callable[..., Contender]] = {
    "hand NumPy": hand_numpy,
    "NumPy out=": numpy_out,
    "graphdiff": graphdiff_numpy,
    "graphdiff numba": graphdiff_numba,
    "fused numpy": fused("numpy"),
    "fused numba": fused("numba"),
    "JAX": jax_step,
}
REFERENCE = "hand NumPy"
GRAPHDIFF = ("graphdiff", "graphdiff numba", "fused numpy", "fused numba")


# --- measuring ----------------------------------------------------------------------------
def peak_bytes(run: Callable[[], float]) -> int:
    """The most memory one step allocates beyond what was held before it (NumPy reports
    its arrays to tracemalloc; Numba's and XLA's allocations are not seen)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        run()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


class Result(NamedTuple):
    seconds: float | None = None  # median wall-clock time of a step
    cpu: float | None = None  # median CPU time of a step
    first_call: float | None = None
    peak: int | None = None
    note: str = ""  # why there is no number, or the contender's disagreement


CHECKED_STEPS = 4  # the first step, then steady state (where variants and caches are used)


def reference_trajectory(cfg: Config, params0, X, Y) -> tuple[list[float], list[np.ndarray],
                                                              list[np.ndarray]]:
    """The reference's losses over CHECKED_STEPS steps, its first gradients and the
    parameters it ends with."""
    step = backprop.Backprop(cfg.activation, "identity", cfg.loss)
    _, grads = step([p.copy() for p in params0], X, Y, None)
    ref = sgd_after(step, [p.copy() for p in params0], X, Y)
    losses = [ref.run() for _ in range(CHECKED_STEPS)]
    return losses, [np.array(g, dtype=np.float64) for g in grads], ref.params()


def check_steps(name: str, contender: Contender, first_loss: float, params0, want) -> None:
    """Against the reference: the first step's loss and the gradient its update implies,
    (p_before - p_after) / lr; then the losses of the next steps and the parameters after
    them."""
    want_losses, want_grads, want_params = want
    rtol = harness.tolerance(params0[0].dtype)
    implied = [(b.astype(np.float64) - a.astype(np.float64)) / LR
               for b, a in zip(params0, contender.params())]
    harness.assert_close(name, [first_loss], want_losses[:1], rtol)
    harness.assert_close(name, implied, want_grads, rtol)
    losses = [first_loss] + [contender.run() for _ in range(CHECKED_STEPS - 1)]
    harness.assert_close(name, losses, want_losses, rtol)
    harness.assert_close(name, contender.params(), want_params, rtol)


def measure(cfg: Config, dtype: Any, seconds: float, names: Sequence[str]
            ) -> dict[str, Result]:
    params0, X, Y = problem(cfg, dtype)
    want = reference_trajectory(cfg, params0, X, Y)
    results: dict[str, Result] = {}
    runs: dict[str, Callable[[], float]] = {}
    for name in names:
        params = [p.copy() for p in params0]
        holder: list[Contender] = []

        def build(name=name, params=params, holder=holder):
            holder.append(CONTENDERS[name](cfg, params, X.copy(), Y.copy()))
            return holder[0].run

        try:
            _, first, loss = harness.first_call(build)
        except harness.FEATURE_MISSING as exc:
            results[name] = Result(note=harness.missing(exc))
            continue
        except Exception as exc:  # noqa: BLE001  (a contender that breaks: say so, go on)
            results[name] = Result(note=harness.failed(exc))
            continue
        contender = holder[0]
        try:
            check_steps(name, contender, loss, params0, want)
        except AssertionError as exc:
            results[name] = Result(first_call=first, note=f"WRONG: {exc}")
            continue
        peak = peak_bytes(contender.run) if contender.numpy_memory else None
        results[name] = Result(first_call=first, peak=peak)
        runs[name] = contender.run
    wall, cpu = harness.interleaved_medians(runs, seconds)
    return {name: r._replace(seconds=wall.get(name), cpu=cpu.get(name))
            for name, r in results.items()}


# --- tables -------------------------------------------------------------------------------
def _ratio(r: Result, ref: Result, field: str = "seconds") -> str:
    mine, theirs = getattr(r, field), getattr(ref, field)
    if mine is None or not theirs:
        return "-"
    return f"{mine / theirs:.2f}"


def detail_table(rows: list[tuple[Config, str, dict[str, Result]]]) -> str:
    head = ["batch", "layers", "loss", "dtype", "contender", "median", "ratio to hand NumPy",
            "CPU-time ratio", "first call", "peak MB", "note"]
    body = []
    for cfg, dtype, results in rows:
        ref = results[REFERENCE]
        for name, r in results.items():
            peak = "-" if r.peak is None else f"{r.peak / 2**20:.2f}"
            body.append([str(cfg.batch), cfg.name, cfg.loss, dtype, name,
                         harness.fmt_time(r.seconds), _ratio(r, ref), _ratio(r, ref, "cpu"),
                         harness.fmt_time(r.first_call), peak, r.note])
    return harness.markdown(head, body)


def summary_table(rows: list[tuple[Config, str, dict[str, Result]]]) -> str:
    """Issue 13's table: one row per network and dtype, the ratio of every contender."""
    names = list(rows[0][2]) if rows else []
    head = (["work", "dtype", "hand NumPy ms"] + [n for n in names if n != REFERENCE]
            + ["goal", "best graphdiff", "met"])
    body = []
    for cfg, dtype, results in rows:
        ref = results[REFERENCE]
        cells = [f"batch {cfg.batch}, {cfg.name}, {cfg.loss}", dtype,
                 f"{ref.seconds * 1e3:.3g}" if ref.seconds else "-"]
        for name in names:
            if name == REFERENCE:
                continue
            r = results[name]
            cells.append(_ratio(r, ref) if r.seconds is not None else
                         (r.note.split(":")[0] if r.note.startswith(harness.BROKEN)
                          else r.note.split(" (")[0]))
        ours = [r.seconds / ref.seconds for n, r in results.items()
                if n in GRAPHDIFF and r.seconds is not None and ref.seconds]
        best = min(ours) if ours else None
        cells += [f"≤ {cfg.goal:.2f}", "-" if best is None else f"{best:.2f}",
                  "-" if best is None else ("yes" if best <= cfg.goal else "no")]
        body.append(cells)
    return harness.markdown(head, body)


def other_peers() -> str:
    """PyTensor and PyTorch are peers of the issue but have no contender here yet."""
    notes = [f"{name}: " + ("installed, no contender written yet" if harness.installed(mod)
                            else harness.NOT_INSTALLED)
             for name, mod in (("PyTensor", "pytensor"), ("PyTorch", "torch"))]
    return "; ".join(notes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="timing budget per configuration and dtype (default 3)")
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help="which configurations, by index (default: all four)")
    parser.add_argument("--dtypes", nargs="+", default=None,
                        help="default float32 float64 (--quick: float64)")
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS),
                        choices=list(CONTENDERS), help="default: all")
    parser.add_argument("--quick", action="store_true",
                        help="toy sizes (batch <= 16, widths <= 8) and a 0.05 s budget: "
                             "checks that every contender runs and agrees")
    args = parser.parse_args(argv)
    configs = [CONFIGS[i] for i in (args.sizes if args.sizes is not None
                                    else range(len(CONFIGS)))]
    dtypes = args.dtypes or (["float64"] if args.quick else ["float32", "float64"])
    seconds = 0.05 if args.quick else args.seconds
    if args.quick:
        configs = [shrunk(c) for c in configs]
    names = [REFERENCE] + [n for n in args.contenders if n != REFERENCE]

    print(harness.environment())
    print(harness.load_average("start"))
    print("one step = forward + loss + gradients of all parameters + SGD update in place; "
          "medians of interleaved rounds, ratios to hand NumPy in the same run\n")
    rows = []
    for cfg in configs:
        for dtype in dtypes:
            rows.append((cfg, dtype, measure(cfg, np.dtype(dtype), seconds, names)))
    print(summary_table(rows))
    print()
    print(detail_table(rows))
    print(f"\nother peers: {other_peers()}")
    print("loss: mse on the outputs, or softmax cross-entropy with integer labels; "
          "activations: tanh for the two small networks, relu for the two large ones.")
    print("first call: building the contender and its first step (graph, differentiation, "
          "code generation, Numba/XLA compilation).  peak MB: memory one step allocates "
          "beyond what it held (tracemalloc; NumPy contenders only).")
    print(harness.load_average("end"))
    wrong = [name for _, _, results in rows for name, r in results.items()
             if r.note.startswith(harness.BROKEN)]
    if wrong:
        print(f"\ncontenders that failed or disagree with the reference: "
              f"{sorted(set(wrong))}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
