"""NumPy against Dask: the log-normal gradient over 10^6..10^8 points, and an MLP fit over
data larger than the workers' memory limit.

    python benchmarks/backends.py [--sizes 1e6 1e7 1e8] [--rounds 3] [--chunk 5e6] [--skip-mlp]

Contenders, each run in a fresh child process (so its peak memory is its own):

- `numpy`        `gd.value_and_grad(LOGNORMAL)(y, mu, sigma)` on a NumPy array held in
                 memory (drawn before the clock starts), on one thread pinned to core 0;
- `dask 1`       the same call on `da.random.normal(size=n, chunks=chunk)` (drawn chunk by
                 chunk inside the computation, never held whole), then `dask.compute` of
                 value and gradients in one pass; threaded scheduler, one thread, core 0;
- `dask 2 procs` the same on a `LocalCluster(n_workers=2, threads_per_worker=1)` (worker
                 processes; not pinned).

Timings are medians over interleaved rounds (every round runs each contender once, in a
rotated order), and the ratio is against `numpy` measured in the same run; `peak MB` is the
largest resident size of the process (for the cluster: of the client and of each worker;
the biggest is shown).  Dask's time includes drawing the random data, NumPy's does not:
that is the price of data that never has to exist whole.  Not a test: nothing asserts.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

LOGNORMAL = "mean(-0.5*((y - mu)/sigma)**2 - log(sigma))"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(kind: str, n: int, chunk: int) -> dict:
    """One timed call in this process; its time and peak memory as a dict."""
    import numpy as np

    import graphdiff as gd

    vg = gd.value_and_grad(LOGNORMAL, wrt=["mu", "sigma"])
    if kind == "numpy":
        os.sched_setaffinity(0, {0})
        y = np.random.default_rng(0).normal(size=n)
        t = time.perf_counter()
        value, _ = vg(y=y, mu=0.3, sigma=1.2)
        elapsed = time.perf_counter() - t
        return {"s": elapsed, "peak": _peak_mb(), "value": float(value)}
    import dask
    import dask.array as da

    y = da.random.default_rng(0).normal(size=n, chunks=chunk)
    if kind == "dask1":
        os.sched_setaffinity(0, {0})
        with dask.config.set(scheduler="threads", num_workers=1):
            t = time.perf_counter()
            value, (g_mu, g_sigma) = vg(y=y, mu=0.3, sigma=1.2)
            value, g_mu, g_sigma = dask.compute(value, g_mu, g_sigma)
            elapsed = time.perf_counter() - t
        return {"s": elapsed, "peak": _peak_mb(), "value": float(value)}
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        t = time.perf_counter()
        value, (g_mu, g_sigma) = vg(y=y, mu=0.3, sigma=1.2)
        value, g_mu, g_sigma = dask.compute(value, g_mu, g_sigma)
        elapsed = time.perf_counter() - t
        workers = client.run(_peak_mb)
    return {"s": elapsed, "peak": max([_peak_mb(), *workers.values()]), "value": float(value)}


def mlp_child(rows: int, chunk: int, limit: str, epochs: int) -> dict:
    """An MLP fit by L-BFGS on a 2-worker cluster whose workers may hold `limit` each,
    over rows*12 float64 numbers drawn chunk by chunk (never held whole)."""
    import dask.array as da
    from dask.distributed import Client, LocalCluster

    from graphdiff import nn

    X = da.random.default_rng(1).normal(size=(rows, 10), chunks=(chunk, 10))
    Y = da.sin(X[:, :2]) + 0.1 * X[:, 2:4]
    model = nn.MLP([10, 16, 2], seed=0)
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=limit,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        t = time.perf_counter()
        history = model.fit(X, Y, epochs=epochs, optimizer="lbfgs", verbose=False)
        elapsed = time.perf_counter() - t
        workers = client.run(_peak_mb)
    return {"s": elapsed, "epochs": len(history.loss), "loss": history.loss,
            "peak_workers": max(workers.values()), "peak_client": _peak_mb()}


def _run(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7, 1e8])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--chunk", type=float, default=5e6)
    p.add_argument("--skip-mlp", action="store_true")
    p.add_argument("--mlp-rows", type=float, default=4e6)
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    p.add_argument("--mlp-child", nargs=4, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(child(a.child[0], int(float(a.child[1])), int(float(a.child[2])))))
        return
    if a.mlp_child:
        rows, chunk, limit, epochs = a.mlp_child
        print(json.dumps(mlp_child(int(float(rows)), int(float(chunk)), limit, int(epochs))))
        return

    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}  "
          f"(cores: {os.cpu_count()}, rounds: {a.rounds})")
    kinds = {"numpy": "numpy", "dask1": "dask 1 thread", "dask2": "dask 2 procs"}
    print(f"{'points':>8}  {'contender':<14} {'median s':>9} {'ratio':>6} {'peak MB':>8}")
    for n in (int(s) for s in a.sizes):
        chunk = min(int(a.chunk), n // 4)
        times: dict[str, list[float]] = {k: [] for k in kinds}
        peaks: dict[str, float] = {k: 0.0 for k in kinds}
        order = list(kinds)
        for r in range(a.rounds):
            for k in order[r % 3:] + order[:r % 3]:
                res = _run(["--child", k, str(n), str(chunk)])
                times[k].append(res["s"])
                peaks[k] = max(peaks[k], res["peak"])
        ref = statistics.median(times["numpy"])
        for k, label in kinds.items():
            med = statistics.median(times[k])
            print(f"{n:>8.0e}  {label:<14} {med:>9.3f} {med / ref:>6.2f} {peaks[k]:>8.0f}")
    if not a.skip_mlp:
        rows, limit = int(a.mlp_rows), "300MiB"
        gib = rows * 12 * 8 / 2**20
        res = _run(["--mlp-child", str(rows), "250000", limit, "3"])
        print(f"\nMLP [10, 16, 2], L-BFGS, {rows:.0e} rows: {gib:.0f} MiB of data, drawn chunk by "
              f"chunk; 2 workers limited to {limit} each")
        print(f"  {res['epochs']} iterations in {res['s']:.1f} s, loss "
              f"{res['loss'][0]:.4f} -> {res['loss'][-1]:.4f}; peak worker "
              f"{res['peak_workers']:.0f} MB, client {res['peak_client']:.0f} MB")


if __name__ == "__main__":
    main()
