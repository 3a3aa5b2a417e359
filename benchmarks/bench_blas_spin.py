"""OpenBLAS's idle spin against libntk's own threaded loops: OPENBLAS_THREAD_TIMEOUT 28 and 16.

After every call OpenBLAS's idle threads spin (sched_yield) for 2^OPENBLAS_THREAD_TIMEOUT
cycles before they sleep: 2^28 by default, about 0.1 s. libntk runs its own threaded loops
between its BLAS calls (kernel tiles, elementwise passes, Nyström kernel blocks), where a
spinning thread takes a core from them. The Python package sets 16 unless the variable is set
(`ntk/_library.py`); this benchmark measures why, and is the baseline for that choice.

The variable is read once, when OpenBLAS loads, so each value runs in its own process (a worker
of this file); rounds alternate the values, each worker reports the median of many calls per job,
and the table shows medians over rounds, the ratio default / 16 (> 1: 16 is faster), GFLOP/s
where a flop count is clean, and each worker's peak memory and BLAS core.

Usage: python3 benchmarks/bench_blas_spin.py [--rounds 6] [--values 28 16]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

JOBS = [
    # name, what, GFLOP per call (None: no clean count)
    ("train", "5 training epochs (MSE, full batch), n = 1024, d = 64, relu [512, 512]", None),
    ("nystrom", "Nyström fit, infinite-width relu NTK, n = 50,000, d = 20, c = 1024", 50_000 * 1024 ** 2 / 1e9),
    ("empirical", "empirical NTK, n = 1024, d = 64, relu [512, 512], float64", None),
    ("empirical32", "the same in float32", None),
    ("infinite", "infinite-width NTK + NNGP, n = 2048, d = 64, relu, 3 hidden layers, float64", None),
    ("infinite32", "the same in float32", None),
    ("ridge", "kernel ridge fit + predict, n = 2048 (LAPACK only)", 2048 ** 3 / 3 / 1e9),
]


def worker():
    """Times every job in this process and prints one JSON line."""
    import numpy as np

    import ntk
    from _common import median_and_best, peak_rss_mib
    from bench_empirical_ntk import minimal_flops
    from bench_nystrom import data, network

    rng = np.random.default_rng(0)
    X = rng.standard_normal((1024, 64))
    mlp = ntk.MLP(64, [512, 512], 1, seed=0)
    Y = np.sin(X[:, :1])
    X4 = rng.standard_normal((2048, 64))
    deep = ntk.MLP(64, [512] * 3, 1)
    K = ntk.infinite_width_ntk(deep, X4)
    y4 = rng.standard_normal(2048)
    Xn, yn = data(50_000, 3)
    wide = network()
    def median_of(fn, calls):  # back to back: a pause would let the idle threads sleep, hiding the spin
        return median_and_best(fn, calls, pause=0)[0]

    out = {
        "train": median_of(lambda: ntk.train(mlp, X, Y, epochs=5, learning_rate=0.1), 9),
        "nystrom": median_of(lambda: ntk.NystromRidge(wide, Xn, yn, 1e-4, 1024, seed=5), 3),
        "empirical": median_of(lambda: ntk.empirical_ntk(mlp, X), 40),
        "empirical32": median_of(lambda: ntk.empirical_ntk(mlp, X, dtype=np.float32), 40),
        "infinite": median_of(lambda: ntk.infinite_width_kernels(deep, X4), 9),
        "infinite32": median_of(lambda: ntk.infinite_width_kernels(deep, X4, dtype=np.float32), 9),
        "ridge": median_of(lambda: ntk.KernelRidge(K, y4, ridge=1e-3).predict(K[:100]), 5),
    }
    out["_empirical_gflop"] = minimal_flops(1024, [64, 512, 512, 1]) / 1e9
    out["_rss"] = peak_rss_mib()
    out["_core"] = ntk.blas_info()["core"]
    out["_threads"] = ntk.blas_info()["num_threads"]
    print(json.dumps(out))


def run(value):
    env = {**os.environ, "OPENBLAS_THREAD_TIMEOUT": str(value)}
    done = subprocess.run([sys.executable, __file__, "--worker"], env=env, capture_output=True, text=True, cwd=HERE)
    if done.returncode != 0:
        raise SystemExit(f"worker with OPENBLAS_THREAD_TIMEOUT={value} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--values", type=int, nargs=2, default=[28, 16], metavar=("BASELINE", "CHOSEN"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker()
    base, chosen = args.values
    results = {base: [], chosen: []}
    for r in range(args.rounds):
        for value in (base, chosen):
            results[value].append(run(value))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    first = results[base][0]
    print(f"OpenBLAS core {first['_core']}, {first['_threads']} threads; {args.rounds} rounds alternating "
          f"OPENBLAS_THREAD_TIMEOUT={base} (OpenBLAS's default is 28) and {chosen}; medians over rounds of "
          "each worker's median")
    print(f"peak RSS per worker: {max(r['_rss'] for rs in results.values() for r in rs):.0f} MiB\n")
    print(f"{'job':<92}{base:>9}{chosen:>9}{'ratio':>7}{'GFLOP/s':>9}")
    for name, what, gflop in JOBS:
        a = statistics.median(r[name] for r in results[base])
        b = statistics.median(r[name] for r in results[chosen])
        if name == "empirical":
            gflop = first["_empirical_gflop"]
        rate = f"{gflop / b:9.1f}" if gflop else f"{'':>9}"
        print(f"{what:<92}{a:9.4f}{b:9.4f}{a / b:6.2f}x{rate}")
    print(f"\n(seconds; ratio = {base} / {chosen}; GFLOP/s at {chosen}: n c^2 for Nyström's K_nm^T K_nm, the "
          "minimal count for the empirical NTK, n^3/3 for the Cholesky)")


if __name__ == "__main__":
    main()
