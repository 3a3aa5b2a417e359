"""Benchmark: the matrix-free empirical NTK — exact kernel ridge by preconditioned CG on
NTK-vector products, and gradient flow by Lanczos — against the dense kernel with numpy/scipy.

    python3 benchmarks/bench_empirical_solvers.py [--large 200000] [--exact 10000] [--flow 5000] [--skip ...]

Network: relu MLP d = 20 -> [256, 256] -> 1 (W_std^2 = 2, b_std = 0.1, NTK parameterization,
seed 0); synthetic regression as bench_nystrom.py; ridge 1e-3 x the mean diagonal of K.
1. exact: at n = --exact, the dense empirical NTK (ntk.empirical_ntk) solved by
   scipy.linalg.solve (assume_a="pos") against EmpiricalNTKRidge (rank-256 Nyström
   preconditioner, tol 1e-10): time and agreement of 10^4 test predictions (target 1e-6).
2. large: at n = --large (the dense kernel would need 8 n^2 bytes: 320 GB at 2 10^5), PCG to
   relative residual 1e-6 with ridge 1e-2 x the mean diagonal and a rank --large-rank (default
   2048) Nystrom preconditioner, in a child process: time, iterations, peak resident memory
   (targets: <= 10 minutes, <= 4 GiB, nothing of order n^2; the preconditioner keeps n x rank
   floats, 1.6 GB at rank 2048, the operator every sample's activations and signals, 1.6 GB),
   once with double products and once with dtype=float32 (single-precision products, refined
   by double ones to the same residual), each in its own process: the speed-up and the
   agreement of 2,000 test predictions with the double fit's.
3. flow: at n = --flow, predictions of gradient flow at 4 times on the training points:
   Lanczos (ntk.empirical_gradient_flow) against scipy.sparse.linalg.expm_multiply on the dense
   kernel (target: 1e-6).
GFLOP/s counts 4 n P flops per NTK-vector product.
"""

import argparse
import json
import subprocess
import sys
import time
import warnings

import numpy as np
import scipy
import scipy.linalg
import scipy.sparse.linalg

import ntk
from _common import peak_rss_mib, print_environment

D, WIDTHS = 20, [256, 256]


def data(n, seed):
    rng = np.random.default_rng(seed)
    w = np.random.default_rng(1).standard_normal(D) / np.sqrt(D)
    X = rng.standard_normal((n, D))
    return X, np.sin(2 * X @ w) + 0.5 * X[:, 0] * X[:, 1] + 0.1 * rng.standard_normal(n)


def network():
    return ntk.MLP(D, WIDTHS, 1, W_std=np.sqrt(2.0), b_std=0.1, seed=0)


def ridge_for(net, X):
    return 1e-3 * float(np.mean(ntk.empirical_ntk_diagonal(net, X)))


def run_exact(n):
    net = network()
    X, y = data(n, 0)
    Xt = data(10_000, 99)[0]
    z = ridge_for(net, X)
    t0 = time.perf_counter()
    K = ntk.empirical_ntk(net, X)
    alpha = scipy.linalg.solve(K + z * np.eye(n), y, assume_a="pos")
    del K
    dense = ntk.empirical_ntk(net, Xt, X) @ alpha
    t_dense = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ntk.EmpiricalNTKRidge(net, X, y, z, tol=1e-10, max_iter=2000) as model:
        free = model.predict(Xt)
        iterations = model.iterations
    t_free = time.perf_counter() - t0
    P = net.num_parameters
    print(f"\n1. exact kernel ridge, n = {n:,}, P = {P:,}, 10^4 test points")
    print(f"{'':52} {'seconds':>8} {'iterations':>11} {'rel diff':>9}")
    print(f"{'dense: empirical_ntk + scipy solve + test kernel':52} {t_dense:8.1f} {'':>11} {'':>9}")
    print(f"{'matrix-free PCG (rank-256 Nystrom preconditioner)':52} {t_free:8.1f} {iterations:11d} "
          f"{np.abs(free - dense).max() / np.abs(dense).max():9.1e}")


def large_child(n, max_iter, rank, dtype):
    net = network()
    X, y = data(n, 0)
    Xt = data(2_000, 99)[0]
    z = 10 * ridge_for(net, X)  # 1e-2 x the mean diagonal
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ntk.ConvergenceWarning)  # the cap is reported in the table
        model = ntk.EmpiricalNTKRidge(net, X, y, z, tol=1e-6, max_iter=max_iter, preconditioner_rank=rank,
                                      dtype=np.dtype(dtype).type)
    t = time.perf_counter() - t0
    print(json.dumps({"seconds": t, "iterations": model.iterations, "residual": float(model.residuals[-1]),
                      "converged": model.converged, "rss": peak_rss_mib(), "P": net.num_parameters,
                      "predictions": model.predict(Xt).tolist()}))


def run_large(n, max_iter, rank):
    """The large fit with double products and with single-precision products refined in double
    (``dtype=np.float32``), each in its own process (peak RSS per fit)."""
    runs = {}
    for dtype in ("float64", "float32"):
        out = subprocess.run([sys.executable, __file__, "--child-large", str(n), "--large-iter", str(max_iter),
                              "--large-rank", str(rank), "--large-dtype", dtype], capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr)
            raise SystemExit("the large child failed")
        runs[dtype] = json.loads(out.stdout.strip().splitlines()[-1])
    first = runs["float64"]
    print(f"\n2. matrix-free PCG to relative residual 1e-6 (ridge 1e-2 x mean diagonal, rank-{rank} preconditioner), "
          f"n = {n:,}, P = {first['P']:,} (dense K: {8 * n * n / 2**30:,.0f} GiB); 2,000 test predictions")
    print(f"{'products':>9} {'seconds':>8} {'minutes':>8} {'iterations':>11} {'residual':>9} {'converged':>10} "
          f"{'s / iteration':>14} {'GFLOP/s':>8} {'peak RSS GiB':>13} {'speed-up':>9} {'pred rel diff':>14}")
    reference = np.array(first["predictions"])
    for dtype, r in runs.items():
        flops = 4 * n * r["P"] * (r["iterations"] + 1)
        diff = np.abs(np.array(r["predictions"]) - reference).max() / np.abs(reference).max()
        print(f"{dtype:>9} {r['seconds']:8.1f} {r['seconds'] / 60:8.2f} {r['iterations']:11d} {r['residual']:9.1e} "
              f"{str(r['converged']):>10} {r['seconds'] / r['iterations']:14.2f} {flops / r['seconds'] / 1e9:8.1f} "
              f"{r['rss'] / 1024:13.2f} {first['seconds'] / r['seconds']:8.2f}x {diff:14.1e}")


def run_flow(n):
    net = network()
    X, y = data(n, 2)
    K = ntk.empirical_ntk(net, X)
    lam = scipy.linalg.eigh(K, eigvals_only=True, subset_by_index=[n - 1, n - 1])[0]
    times = np.array([1.0, 10.0, 100.0, 1000.0]) * n / lam
    t0 = time.perf_counter()
    train, _, estimate = ntk.empirical_gradient_flow(net, X, y, times, tol=1e-10)
    t_lanczos = time.perf_counter() - t0
    t0 = time.perf_counter()
    dense = np.stack([y - scipy.sparse.linalg.expm_multiply(-(t / n) * K, y) for t in times])
    t_scipy = time.perf_counter() - t0
    print(f"\n3. gradient flow at 4 times (1 to 1000 x N / lambda_max), n = {n:,}, training points")
    print(f"{'':48} {'seconds':>8} {'max rel diff':>13} {'estimate':>9}")
    print(f"{'scipy expm_multiply on the dense kernel':48} {t_scipy:8.2f}")
    print(f"{'libntk Lanczos, matrix-free':48} {t_lanczos:8.2f} "
          f"{np.abs(train - dense).max() / np.abs(dense).max():13.1e} "
          f"{estimate:9.1e}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--large", type=int, default=200_000)
    p.add_argument("--exact", type=int, default=10_000)
    p.add_argument("--flow", type=int, default=5_000)
    p.add_argument("--skip", nargs="*", default=[], choices=["exact", "large", "flow"])
    p.add_argument("--large-iter", type=int, default=2000, help="iteration cap of the large run")
    p.add_argument("--large-rank", type=int, default=2048, help="the large run's preconditioner rank")
    p.add_argument("--child-large", type=int, help=argparse.SUPPRESS)
    p.add_argument("--large-dtype", default="float64", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child_large:
        return large_child(args.child_large, args.large_iter, args.large_rank, args.large_dtype)
    print_environment(ntk, np, scipy)
    print(f"memory budget {ntk.memory_budget() / 2**30:.2f} GiB")
    if "exact" not in args.skip:
        run_exact(args.exact)
    if "flow" not in args.skip:
        run_flow(args.flow)
    if "large" not in args.skip:
        run_large(args.large, args.large_iter, args.large_rank)


if __name__ == "__main__":
    main()
