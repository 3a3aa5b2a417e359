"""Benchmark: kernel regression beyond the dense ceiling with Nyström / Falkon (infinite-width
relu NTK, two hidden layers, W_std^2 = 2, b_std = 0.1; synthetic regression y = sin(2 x.w) +
x_1 x_2 / 2 + noise 0.1 in d = 20).

    python3 benchmarks/bench_nystrom.py [--million 1000000] [--dense 30000] [--exact 10000]
                                        [--peer 200000] [--path 100000] [--nt-python PATH] [--skip ...]

1. million: NTKRegressor(kernel="infinite", solver="nystrom", n_centers=4096) fit on n points
   and predict 10^4, in a child process (its peak resident memory is the job's). Targets:
   <= 10 minutes, <= 6 GiB at n = 10^6.
2. peer: at n = --peer, m = 2048 (the same centres and ridge), what a user would assemble today:
   neural-tangents' kernel_fn for K(X, C), K(C, C), K(X_test, C) (jit-compiled, row batches,
   float64 CPU) and the normal equations in scipy (_nt_nystrom.py, run by --nt-python, default
   ~/.cache/neural-tangents-venv/bin/python); libntk's direct Nyström and Falkon CG (K_nm cached
   within the memory budget), its preconditioner from a sketch of 16 m rows (the default) and from
   the centres (Falkon's original). Target: the same predictions to 1e-6, libntk >= 3x faster;
   Falkon within 30 iterations.
3. path: at n = --path, m = 2048, one direct Nyström fit, then predictions of gradient flow at
   50 times on 10^4 test points (target: fit + path <= 1.3 x fit).
4. accuracy: at n = --dense (dense still fits), dense kernel ridge (Cholesky of the n x n kernel)
   against Nyström with 4096 centres, test MSE on 10^4 points (target: within 2 %), both with
   the ridge that GCV picks on the Nyström model (a grid of 25 ridges); and at
   n = --exact Nyström with every point as a centre (Falkon CG, the m x m factors of n points)
   against dense kernel ridge (target: 1e-6 relative).
GFLOP/s counts n m^2 for K_nm^T K_nm (the direct solver's dominant BLAS work).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy

import ntk
from _common import peak_rss_mib, print_environment

D, DEPTH, W_STD, B_STD = 20, 2, float(np.sqrt(2.0)), 0.1


def data(n, seed):
    rng = np.random.default_rng(seed)
    w = np.random.default_rng(1).standard_normal(D) / np.sqrt(D)
    X = rng.standard_normal((n, D))
    y = np.sin(2 * X @ w) + 0.5 * X[:, 0] * X[:, 1] + 0.1 * rng.standard_normal(n)
    return X, y


def truth(X):
    w = np.random.default_rng(1).standard_normal(D) / np.sqrt(D)
    return np.sin(2 * X @ w) + 0.5 * X[:, 0] * X[:, 1]


def network():
    return ntk.MLP(D, [512] * DEPTH, 1, W_std=W_STD, b_std=B_STD)


def million_child(n):
    """Runs in a child process: fit + predict with the estimator; prints JSON."""
    from ntk.sklearn import NTKRegressor

    X, y = data(n, 0)
    Xt = data(10_000, 99)[0]
    t0 = time.perf_counter()
    model = NTKRegressor(kernel="infinite", solver="nystrom", n_centers=4096, widths=(512,) * DEPTH, W_std=W_STD,
                         b_std=B_STD, ridge=1e-4, random_state=0).fit(X, y)
    t1 = time.perf_counter()
    pred = model.predict(Xt)
    t2 = time.perf_counter()
    mse = float(np.mean((pred - truth(Xt)) ** 2))
    print(json.dumps({"fit": t1 - t0, "predict": t2 - t1, "rss": peak_rss_mib(), "mse": mse}))


def run_million(n):
    out = subprocess.run([sys.executable, __file__, "--child-million", str(n)], capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr)
        raise SystemExit("the million-point child failed")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    m = 4096
    print(f"\n1. n = {n:,}, d = {D}, m = {m} uniform centres, ridge 1e-4 x mean diagonal "
          "(NTKRegressor(solver='nystrom'))")
    print(f"{'fit s':>8} {'predict 1e4 s':>14} {'total min':>10} {'GFLOP/s (n m^2)':>16} {'peak RSS GiB':>13} "
          f"{'test MSE':>9}")
    print(f"{r['fit']:8.1f} {r['predict']:14.2f} {(r['fit'] + r['predict']) / 60:10.2f} "
          f"{n * m * m / r['fit'] / 1e9:16.1f} {r['rss'] / 1024:13.2f} {r['mse']:9.4f}")


def run_accuracy(n_dense, n_exact):
    net = network()
    X, y = data(n_dense, 2)
    Xt = data(10_000, 98)[0]
    yt = truth(Xt)
    # The ridge a user would pick: GCV over a grid, on the Nyström model (the same ridge for both).
    scale = float(np.mean(ntk.infinite_width_diagonal(net, X)[1]))
    with ntk.NystromRidge(net, X, y, 0.0, 4096, seed=0) as model:
        z = model.select_ridge(scale * np.geomspace(1e-6, 1, 25)).ridge
    t0 = time.perf_counter()
    K = ntk.infinite_width_ntk(net, X)
    with ntk.KernelRidge(K, y, ridge=z) as dense:
        del K
        Kt = ntk.infinite_width_ntk(net, Xt, X)
        pred_dense = dense.predict(Kt)
        del Kt
    t_dense = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ntk.NystromRidge(net, X, y, z, 4096, seed=0) as model:
        pred_nys = model.predict(Xt)
    t_nys = time.perf_counter() - t0
    mse_dense, mse_nys = np.mean((pred_dense - yt) ** 2), np.mean((pred_nys - yt) ** 2)
    print(f"\n4. accuracy against dense kernel ridge, ridge {z / scale:.3g} x mean diagonal (GCV on the Nyström "
          f"model), 10^4 test points")
    print(f"{'n':>7} {'m':>6} {'dense s':>8} {'Nystrom s':>10} {'dense MSE':>10} {'Nystrom MSE':>12} "
          f"{'MSE ratio':>10} {'max rel diff':>13}")
    print(f"{n_dense:7d} {4096:6d} {t_dense:8.1f} {t_nys:10.1f} {mse_dense:10.5f} {mse_nys:12.5f} "
          f"{mse_nys / mse_dense:10.4f} "
          f"{np.abs(pred_nys - pred_dense).max() / np.abs(pred_dense).max():13.2e}")
    X, y = X[:n_exact], y[:n_exact]
    K = ntk.infinite_width_ntk(net, X)
    Kt = ntk.infinite_width_ntk(net, Xt, X)
    t0 = time.perf_counter()
    pred_dense = Kt @ scipy.linalg.solve(K + z * np.eye(n_exact), y, assume_a="pos")
    t_dense = time.perf_counter() - t0
    del K, Kt
    t0 = time.perf_counter()
    with ntk.NystromRidge(net, X, y, z, n_exact, solver="cg", tol=1e-12, max_iter=200) as model:
        pred_nys = model.predict(Xt)
        iterations = model.iterations
    t_nys = time.perf_counter() - t0
    print(f"{n_exact:7d} {n_exact:6d} {t_dense:8.1f} {t_nys:10.1f} {np.mean((pred_dense - yt) ** 2):10.5f} "
          f"{np.mean((pred_nys - yt) ** 2):12.5f} {'':>10} "
          f"{np.abs(pred_nys - pred_dense).max() / np.abs(pred_dense).max():13.2e}"
          f"   (all points as centres, Falkon CG: {iterations} iterations; dense side: scipy solve)")


def run_peer(n, nt_python):
    m = 2048
    net = network()
    X, y = data(n, 3)
    Xt = data(10_000, 97)[0]
    z = 1e-4 * float(np.mean(ntk.infinite_width_diagonal(net, X)[1]))
    rows = []
    t0 = time.perf_counter()
    with ntk.NystromRidge(net, X, y, z, m, seed=5) as model:
        pred = model.predict(Xt)
        centers = model.centers.copy()
    t_direct = time.perf_counter() - t0
    rss_direct = peak_rss_mib()
    rows.append(("libntk direct (normal equations + eigh)", t_direct, rss_direct, None))
    # Falkon CG with its preconditioner from a sketch of 16 m rows (the default), then from the
    # centres (Falkon's original (n/m) K_mm^2).
    for preconditioned, what in ((True, f"sketch of {16 * m} rows"), ("centers", "the centres")):
        t0 = time.perf_counter()
        with ntk.NystromRidge(net, X, y, z, m, seed=5, solver="cg", tol=1e-10, max_iter=500,
                              preconditioned=preconditioned) as model:
            pred_cg = model.predict(Xt)
            iterations = model.iterations
        rows.append((f"libntk Falkon CG, {what} ({iterations} it., K_nm cached)", time.perf_counter() - t0,
                     peak_rss_mib(), np.abs(pred_cg - pred).max() / np.abs(pred).max()))
    nt_pred, t_nt = None, None
    if nt_python and Path(nt_python).exists():
        with tempfile.TemporaryDirectory() as tmp:
            np.savez(Path(tmp) / "in.npz", X=X, y=y, X_test=Xt, centers=centers, ridge=z, depth=DEPTH, W_std=W_STD,
                     b_std=B_STD)
            out = subprocess.run([nt_python, str(Path(__file__).parent / "_nt_nystrom.py"), str(Path(tmp) / "in.npz"),
                                  str(Path(tmp) / "out.npz")], capture_output=True, text=True,
                                 env={**os.environ, "JAX_PLATFORMS": "cpu"})
            if out.returncode == 0:
                t_nt, rss_nt, t_kernels = (float(v) for v in out.stdout.split()[-3:])
                nt_pred = np.load(Path(tmp) / "out.npz")["pred"]
                rows.append((f"nt kernel_fn ({t_kernels:.1f} s) + scipy normal equations", t_nt, rss_nt,
                             np.abs(nt_pred - pred).max() / np.abs(pred).max()))
            else:
                print("neural-tangents run failed:", out.stderr[-2000:])
    print(f"\n2. versus what a user would assemble today: n = {n:,}, m = {m}, same centres and ridge, 10^4 test points")
    print(f"{'':66} {'seconds':>8} {'peak RSS MiB':>13} {'rel diff':>9} {'nt / this':>10}")
    for name, t, rss, diff in rows:
        ratio = f"{t_nt / t:9.2f}x" if t_nt else ""
        print(f"{name:66} {t:8.1f} {rss:13.0f} {'' if diff is None else f'{diff:9.1e}':>9} {ratio:>10}")


def run_path(n):
    m = 2048
    net = network()
    X, y = data(n, 4)
    Xt = data(10_000, 96)[0]
    z = 1e-4 * float(np.mean(ntk.infinite_width_diagonal(net, X)[1]))
    t0 = time.perf_counter()
    model = ntk.NystromRidge(net, X, y, 0.0, m, seed=1)
    t_fit = time.perf_counter() - t0
    lam = model.eigenvalues[-1]
    times = np.concatenate([np.geomspace(1, 1e6, 49) * n / lam, [np.inf]])
    t0 = time.perf_counter()
    path = model.path(Xt, times=times, ridges=np.where(np.isinf(times), z, 0.0))
    t_path = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.predict(Xt)
    t_one = time.perf_counter() - t0
    mse = np.mean((path - truth(Xt)) ** 2, axis=1)
    print(f"\n3. gradient flow at 50 times (49 finite + inf) from one fit: n = {n:,}, m = {m}, 10^4 test points")
    print(f"{'fit s':>7} {'path s':>7} {'one predict s':>14} {'(fit + path) / fit':>19} {'best test MSE':>14} "
          f"{'at t':>9}")
    print(f"{t_fit:7.1f} {t_path:7.2f} {t_one:14.2f} {(t_fit + t_path) / t_fit:19.3f} {mse.min():14.5f} "
          f"{times[np.argmin(mse)]:9.3g}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--million", type=int, default=1_000_000)
    p.add_argument("--dense", type=int, default=30_000)
    p.add_argument("--exact", type=int, default=10_000)
    p.add_argument("--peer", type=int, default=200_000)
    p.add_argument("--path", type=int, default=100_000)
    p.add_argument("--nt-python", default=os.path.expanduser("~/.cache/neural-tangents-venv/bin/python"))
    p.add_argument("--skip", nargs="*", default=[], choices=["million", "accuracy", "peer", "path"])
    p.add_argument("--child-million", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child_million:
        return million_child(args.child_million)
    print_environment(ntk, np, scipy)
    print(f"memory budget {ntk.memory_budget() / 2**30:.2f} GiB of {ntk.runtime.physical_memory() / 2**30:.1f} GiB "
          f"physical")
    if "million" not in args.skip:
        run_million(args.million)
    # The peer comparison first: its peak-memory column is this process's high-water mark (and a
    # child's inherits it), which the dense kernels of the accuracy section would raise.
    if "peer" not in args.skip:
        run_peer(args.peer, args.nt_python)
    if "path" not in args.skip:
        run_path(args.path)
    if "accuracy" not in args.skip:
        run_accuracy(args.dense, args.exact)


if __name__ == "__main__":
    main()
