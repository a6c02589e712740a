"""One MLP training step: graphdiff's generated loss-and-gradient function against the
hand-written NumPy back-propagation (graphdiff.nn.backprop), float32 and float64.

    python benchmarks/mlp_step.py [--seconds 3] [--sizes 0 1 2 3] [--dtypes float32 float64]

A step is: forward pass, loss, gradients of every parameter, and the SGD update in place
(p -= lr g, through a scratch buffer, the same code for both).  The two are timed in
alternation (interleaved rounds, order swapped every round) and the table gives medians,
the ratio generated / hand-written, the peak memory each step allocates (tracemalloc, which
NumPy reports its arrays to), and the time to build the loss graph, differentiate it and
compile the step.  BLAS runs on one thread (set below before NumPy loads), so the ratios
compare the Python/NumPy work rather than thread scheduling.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy is imported: one BLAS thread

import argparse
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from graphdiff.nn import backprop
from graphdiff.nn.compiled_step import GeneratedStep

LR = 1e-3


class Config(NamedTuple):
    batch: int
    sizes: tuple[int, ...]
    activation: str
    loss: str

    @property
    def name(self) -> str:
        return "-".join(map(str, self.sizes))


CONFIGS = (
    Config(10, (1, 3, 1), "tanh", "mse"),
    Config(64, (2, 16, 16, 2), "tanh", "mse"),
    Config(256, (784, 256, 256, 10), "relu", "softmax_xent"),  # integer class labels
    Config(1024, (512, 1024, 1024, 512), "relu", "mse"),
)


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
    if cfg.loss == "softmax_xent":
        Y = rng.integers(0, cfg.sizes[-1], cfg.batch).astype(np.intp)
    else:
        Y = rng.standard_normal((cfg.batch, cfg.sizes[-1])).astype(dtype)
    return params, X, Y


def training_step(step: Callable[..., tuple[float, list[np.ndarray]]],
                  params: list[np.ndarray], X: np.ndarray, Y: np.ndarray
                  ) -> Callable[[], float]:
    """One SGD step with `step` as a closure; the update reuses one scratch buffer per
    parameter, so it allocates nothing itself."""
    scratch = [np.empty_like(p) for p in params]
    lr = params[0].dtype.type(LR)

    def run() -> float:
        value, grads = step(params, X, Y, None)
        for p, g, s in zip(params, grads, scratch):
            np.multiply(g, lr, out=s)
            p -= s
        return value

    return run


def check_agreement(gen: Callable, hand: Callable, cfg: Config, dtype: Any) -> None:
    params, X, Y = problem(cfg, dtype, seed=1)
    v1, g1 = gen(params, X, Y, None)
    v2, g2 = hand(params, X, Y, None)
    tol = 1e-3 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(v1, v2, rtol=tol)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, float(np.abs(b).max())))


def peak_bytes(run: Callable[[], float]) -> int:
    """The most memory one call allocates beyond what was held before it."""
    run()  # warm: buffers that persist across calls are not the step's peak
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        run()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def interleaved_medians(runs: dict[str, Callable[[], float]], seconds: float
                        ) -> dict[str, float]:
    """Median seconds per step of each run, timed in alternating rounds."""
    for run in runs.values():
        run()  # warm up
    one = max(_clock(run, 1) for run in runs.values())
    inner = max(1, int(0.02 / max(one, 1e-9)))  # about 20 ms per sample
    rounds = int(min(61, max(5, seconds / (len(runs) * inner * one))))
    samples: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            samples[name].append(_clock(runs[name], inner) / inner)
    return {name: statistics.median(times) for name, times in samples.items()}


def _clock(run: Callable[[], float], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        run()
    return time.perf_counter() - start


def measure(cfg: Config, dtype: Any, seconds: float) -> dict[str, float]:
    start = time.perf_counter()
    gen = GeneratedStep(list(cfg.sizes), cfg.activation, "identity", cfg.loss, 0.0, False,
                        cfg.loss == "softmax_xent")
    build = time.perf_counter() - start
    hand = backprop.Backprop(cfg.activation, "identity", cfg.loss)
    check_agreement(gen, hand, cfg, dtype)
    runs = {}
    for name, step in (("generated", gen), ("hand-written", hand)):
        params, X, Y = problem(cfg, dtype)
        runs[name] = training_step(step, params, X, Y)
    peaks = {name: peak_bytes(run) for name, run in runs.items()}
    times = interleaved_medians(runs, seconds)
    return {"generated": times["generated"], "hand": times["hand-written"],
            "peak_generated": peaks["generated"], "peak_hand": peaks["hand-written"],
            "build": build}


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}" if seconds < 0.01 else f"{seconds * 1e3:.1f}"


def table(rows: list[tuple[Config, str, dict[str, float]]]) -> str:
    head = ["batch", "layers", "loss", "dtype", "generated ms", "hand-written ms",
            "ratio gen/hand", "peak MB gen", "peak MB hand", "build+compile s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for cfg, dtype, m in rows:
        cells = [str(cfg.batch), cfg.name, cfg.loss, dtype, _ms(m["generated"]), _ms(m["hand"]),
                 f"{m['generated'] / m['hand']:.2f}", f"{m['peak_generated'] / 2**20:.2f}",
                 f"{m['peak_hand'] / 2**20:.2f}", f"{m['build']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def environment() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    return (f"Python {platform.python_version()}, NumPy {np.__version__}, {cpu}, "
            f"{os.cpu_count()} CPUs; BLAS pinned to 1 thread "
            f"(OPENBLAS/OMP/MKL_NUM_THREADS=1, set before importing NumPy)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="timing budget per configuration and dtype (default 3)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(range(len(CONFIGS))),
                        help="which configurations, by index (default: all four)")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    args = parser.parse_args(argv)
    print(environment())
    print("one step = forward + loss + gradients of all parameters + in-place SGD update; "
          "medians of interleaved rounds\n")
    rows = []
    for index in args.sizes:
        cfg = CONFIGS[index]
        for dtype in args.dtypes:
            rows.append((cfg, dtype, measure(cfg, np.dtype(dtype), args.seconds)))
    print(table(rows))
    print("\nloss: mse on the outputs, or softmax cross-entropy with integer labels; "
          "activations: tanh for the two small networks, relu for the two large ones.")
    print("peak MB: memory one step allocates beyond what it held before (tracemalloc).")
    print("build+compile: building the loss graph, differentiating it and compiling the "
          "generated step (once per model).")


if __name__ == "__main__":
    main()
