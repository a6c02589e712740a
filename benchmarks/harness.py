"""What the peer benchmarks share: one pinned thread, interleaved medians, optional peers.

Import this module before NumPy (or JAX, or Numba): it sets the thread variables those
libraries read once, at import.  It measures and prints; it asserts no timing.
"""

from __future__ import annotations

import os

# one thread everywhere, set before any of these libraries is imported: BLAS/OpenMP for
# NumPy's matrix products, Numba's own pool, and XLA's Eigen pool on the CPU
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_cpu_multi_thread_eigen=false"
                           " intra_op_parallelism_threads=1").strip()

import importlib.util
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

# why a contender has no number: the feature has not landed, or the peer is not installed
NOT_AVAILABLE = "not available"
NOT_INSTALLED = "not installed"
FEATURE_MISSING = (ImportError, ValueError, TypeError, NotImplementedError)
# how a contender that ran but must not be timed is marked (the scripts then exit with 1)
BROKEN = ("WRONG", "FAILED")


def jax_or_none() -> Any:
    """JAX with float64 enabled (float32 arrays stay float32), or None when not installed."""
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    return jax


def installed(module: str) -> bool:
    """Whether `module` is installed (found, not imported: a peer appears in a table only
    when it is)."""
    return importlib.util.find_spec(module) is not None


def environment() -> str:
    """One line: versions, CPU, the cores this process may run on, the thread settings."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    versions = [f"Python {platform.python_version()}", f"NumPy {np.__version__}"]
    for name in ("numba", "jax"):
        try:
            versions.append(f"{name} {__import__(name).__version__}")
        except ImportError:
            versions.append(f"{name} {NOT_INSTALLED}")
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    pinned = (f"pinned to CPU {cores[0]}" if cores and len(cores) == 1 else
              f"NOT pinned (may run on CPUs {cores}; run under `taskset -c 1`)")
    return (f"{', '.join(versions)}; {cpu}, {os.cpu_count()} CPUs, {pinned}; one thread "
            f"for BLAS/OpenMP/Numba/XLA (set before import)")


def load_average(when: str) -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average at {when}: {one:.2f}, {five:.2f}, {fifteen:.2f}"


def clock(run: Callable[[], Any], repeat: int) -> float:
    """Seconds for `repeat` calls of run."""
    start = time.perf_counter()
    for _ in range(repeat):
        run()
    return time.perf_counter() - start


def first_call(build: Callable[[], Callable[[], Any]]) -> tuple[Callable[[], Any], float, Any]:
    """Build a contender and call it once: (the run, seconds for both, what the call
    returned).  This is where graphdiff builds and compiles and where Numba and JAX
    compile."""
    start = time.perf_counter()
    run = build()
    result = run()
    return run, time.perf_counter() - start, result


def missing(exc: BaseException) -> str:
    """The table's note for a contender whose build raised one of FEATURE_MISSING."""
    if str(exc) == NOT_INSTALLED:
        return NOT_INSTALLED
    return f"{NOT_AVAILABLE} ({type(exc).__name__}: {str(exc)[:70]})"


def flat(result: tuple[Any, Sequence[Any]]) -> list[Any]:
    """(value, gradients) as one list: [value, gradient 1, gradient 2, ...]."""
    value, grads = result
    return [value, *grads]


def failed(exc: BaseException) -> str:
    """The table's note for a contender that raised something other than FEATURE_MISSING
    (a compiler's error, say): reported, not timed, and the run exits with 1."""
    return f"FAILED: {type(exc).__name__}: {str(exc)[:120]}"


class Prepared(NamedTuple):
    runs: dict[str, Callable[[], Any]]  # the contenders that built and agree: to be timed
    first: dict[str, float]  # seconds to build and call each once
    notes: dict[str, str]  # every contender: its agreement, or why it has no number
    agree: bool  # False if any contender built but disagrees with the reference


CHECKED_CALLS = 4


def prepare(builders: dict[str, Callable[[], Callable[[], Any]]],
            flatten: Callable[[Any], Sequence[Any]], rtol: float) -> Prepared:
    """Build every contender, call it once and check its flattened result against the
    first builder's (the reference) before anything is timed."""
    runs, first, notes, want, agree = {}, {}, {}, None, True
    for name, build in builders.items():
        try:
            run, first[name], result = first_call(build)
        except FEATURE_MISSING as exc:
            notes[name] = missing(exc)
            continue
        except Exception as exc:  # noqa: BLE001  (a contender that breaks: say so, go on)
            notes[name], agree = failed(exc), False
            continue
        # the first call's result (copied: a later call may reuse its buffers), and one
        # from steady state, where shape-specialised variants and caches are in use
        results = [[np.array(a, copy=True) for a in flatten(result)]]
        try:
            for _ in range(CHECKED_CALLS - 1):
                last = run()
            results.append(list(flatten(last)))
        except Exception as exc:  # noqa: BLE001
            notes[name], agree = failed(exc), False
            continue
        want = results[0] if want is None else want
        try:
            worst = max(assert_close(name, got, want, rtol) for got in results)
            notes[name] = f"max rel. diff {worst:.1e}"
            runs[name] = run
        except AssertionError as exc:
            notes[name], agree = f"WRONG: {exc}", False
    return Prepared(runs, first, notes, agree)


class Medians(NamedTuple):
    wall: dict[str, float]  # median wall-clock seconds per call
    cpu: dict[str, float]  # median CPU seconds per call: waiting for a core does not count


def interleaved_medians(runs: dict[str, Callable[[], Any]], seconds: float,
                        sample: float = 0.02, max_rounds: int = 61) -> Medians:
    """Median seconds per call of each run.  Every round calls every run (a sample of
    about `sample` seconds each), starting one further along, so load on a shared machine
    hits all runs alike; `seconds` is the whole budget (at least 3 rounds)."""
    names = list(runs)
    for run in runs.values():
        run()  # warm
    one = {name: max(clock(runs[name], 1), 1e-9) for name in names}
    inner = {name: max(1, int(sample / one[name])) for name in names}
    per_round = sum(inner[name] * one[name] for name in names)
    rounds = int(min(max_rounds, max(3, seconds / max(per_round, 1e-9))))
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for k in range(len(names)):
            name, run = names[(r + k) % len(names)], runs[names[(r + k) % len(names)]]
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(inner[name]):
                run()
            wall[name].append((time.perf_counter() - start) / inner[name])
            cpu[name].append((time.process_time() - start_cpu) / inner[name])
    return Medians({n: statistics.median(t) for n, t in wall.items()},
                   {n: statistics.median(t) for n, t in cpu.items()})


def ratio(times: dict[str, float], name: str, reference: str) -> str:
    """times[name] / times[reference] to two places, or "-" when either has no time."""
    if name not in times or reference not in times:
        return "-"
    return f"{times[name] / times[reference]:.2f}"


def tolerance(dtype: Any) -> float:
    """Relative agreement asked of every contender with the reference."""
    return 2e-3 if np.dtype(dtype) == np.float32 else 1e-8


def assert_close(name: str, got: Sequence[Any], want: Sequence[Any], rtol: float) -> float:
    """Check each array of `got` against `want` (atol scaled by the largest |want| of each
    array) and return the largest relative difference; a mismatch names the contender."""
    if len(got) != len(want):
        raise AssertionError(f"{name}: {len(got)} results, the reference has {len(want)}")
    worst = 0.0
    for i, (a, b) in enumerate(zip(got, want)):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if a.shape != b.shape and a.size != b.size:
            raise AssertionError(f"{name}: result {i} has shape {a.shape}, want {b.shape}")
        a = a.reshape(b.shape)
        scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
        diff = float(np.max(np.abs(a - b))) / scale if b.size else 0.0
        if not diff <= rtol:
            raise AssertionError(f"{name}: result {i} differs from the reference by "
                                 f"{diff:.3g} (relative), tolerance {rtol:g}")
        worst = max(worst, diff)
    return worst


def markdown(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_time(seconds: float | None) -> str:
    """Milliseconds under a second (µs under a millisecond), seconds above."""
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.2f} s"
