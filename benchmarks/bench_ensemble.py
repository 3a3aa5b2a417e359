"""Benchmark: the ensemble over initialisations (mean and covariance at many times) against one
eigendecomposition of the training kernel, a numpy/scipy implementation of the same formulas,
and neural-tangents' gradient_descent_mse_ensemble on the same kernels.

    python3 benchmarks/bench_ensemble.py [--n 4096] [--m 1024] [--times 20] [--nt-python PATH]

Kernels: the infinite-width NNGP and NTK of a [relu] x 2 network (W_std^2 = 2, b_std = 0.1) on
n training and m test points in d = 16 (computed once, not timed). The job: mean (T, m, 1) and
covariance (T, m, m) at T times (19 spaced geometrically from 1 to 1e5 in units of N / lambda,
and inf), for the "ntk" regime (every layer trained) and the "nngp" regime (readout only).
"eigh" is one eigendecomposition (eigenvalues and vectors) of the n x n NTK by libntk (LAPACK
DSYEVD, the same routine) — the unit of the issue's target. numpy runs the formulas with
numpy.linalg.eigh and matrix products per time, as one would write them. neural-tangents 0.6.5
runs in its virtualenv (_nt_ensemble.py; default ~/.cache/neural-tangents-venv/bin/python, made
by shared/tools/neural-tangents-venv.sh; skipped when absent), float64 on the CPU, its kernels
sliced from the same arrays; "max rel diff" compares its covariances with ours.
"""

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import scipy

import ntk
from _common import peak_rss_mib, print_environment, timed


def numpy_ensemble(nngp, ntk_, nngp_tx, ntk_tx, nngp_tt, y, times, regime):
    trained, trained_tx = (ntk_, ntk_tx) if regime == "ntk" else (nngp, nngp_tx)
    lam, V = np.linalg.eigh(trained)
    lam = np.maximum(lam, 0)
    B, C = trained_tx @ V, nngp_tx @ V
    M = V.T @ nngp @ V if regime == "ntk" else None
    p = V.T @ y
    N = y.size
    means, covs = [], []
    for t in times:
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(lam > 0, 1 / lam if t == np.inf else -np.expm1(-lam * t / N) / lam, 0.0)
        W = B * g
        means.append(W @ p)
        if regime == "ntk":
            covs.append(nngp_tt + W @ M @ W.T - W @ C.T - C @ W.T)
        else:
            h = g * (2 - lam * g)
            covs.append(nngp_tt - (B * h) @ B.T)
    return np.array(means), np.array(covs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--m", type=int, default=1024)
    parser.add_argument("--times", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--nt-python", default=os.path.expanduser("~/.cache/neural-tangents-venv/bin/python"))
    args = parser.parse_args()
    print_environment(ntk, np, scipy)
    n, m = args.n, args.m
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n + m, 16))
    net = ntk.MLP(16, [1, 1], activation="relu", W_std=np.sqrt(2), b_std=0.1)
    nngp_all, ntk_all = ntk.infinite_width_kernels(net, X)
    y = np.sin(X[:n, :1])
    nngp, ntk_ = nngp_all[:n, :n].copy(), ntk_all[:n, :n].copy()
    nngp_tx, ntk_tx, nngp_tt = nngp_all[n:, :n].copy(), ntk_all[n:, :n].copy(), nngp_all[n:, n:].copy()
    lam_max = ntk.eigvalsh(ntk_)[-1]
    times = np.r_[np.geomspace(1, 1e5, args.times - 1) * n / lam_max, np.inf]
    print(f"n = {n} training, m = {m} test points, {len(times)} times; mean (T, m, 1) and covariance (T, m, m), "
          "or the variances (T, m) alone\n")

    eigh = timed(lambda: ntk.eigh(ntk_), args.repeats)
    rows = [("libntk eigh (one eigendecomposition, the unit)", eigh, None)]
    results = {}
    for regime in ("ntk", "nngp"):
        def ours():
            results[regime] = ntk.ensemble_gradient_flow(nngp, ntk_, y, times, nngp_test_train=nngp_tx,
                                                         ntk_test_train=ntk_tx,
                                                         nngp_test=nngp_tt, regime=regime)
        t_ours = timed(ours, args.repeats)
        t_numpy = timed(lambda: numpy_ensemble(nngp, ntk_, nngp_tx, ntk_tx, nngp_tt, y, times, regime), args.repeats)
        ref = numpy_ensemble(nngp, ntk_, nngp_tx, ntk_tx, nngp_tt, y, times, regime)
        diff = max(np.abs(results[regime][1] - ref[1]).max() / np.abs(ref[1]).max(),
                   np.abs(results[regime][0] - ref[0]).max() / np.abs(ref[0]).max())
        rows.append((f"libntk ensemble_gradient_flow, {regime} regime", t_ours, diff))
        # The variances alone (return_std), from the test kernel's diagonal.
        diagonal = np.diag(nngp_tt).copy()
        variances = {}

        def ours_diagonal():
            variances[regime] = ntk.ensemble_gradient_flow(nngp, ntk_, y, times, nngp_test_train=nngp_tx,
                                                           ntk_test_train=ntk_tx, nngp_test=diagonal, regime=regime,
                                                           covariance="diagonal")[1]
        t_diagonal = timed(ours_diagonal, args.repeats)
        ref_variances = np.diagonal(ref[1], axis1=1, axis2=2)
        rows.append((f"libntk ensemble_gradient_flow, {regime}, variances only", t_diagonal,
                     np.abs(variances[regime] - ref_variances).max() / np.abs(ref_variances).max()))
        rows.append((f"numpy, {regime} regime", t_numpy, None))
    print(f"{'job':58s} {'seconds':>9s} {'x eigh':>8s} {'rel diff vs numpy':>18s}")
    for name, t, diff in rows:
        print(f"{name:58s} {t:9.2f} {t / eigh:8.2f} {'' if diff is None else f'{diff:.1e}':>18s}")
    print(f"peak resident memory of this process: {peak_rss_mib():.0f} MiB")

    if not os.path.exists(args.nt_python):
        print(f"\n(neural-tangents not found at {args.nt_python}: no comparison)")
        return
    print(f"\n{'neural-tangents 0.6.5 gradient_descent_mse_ensemble':58s} {'seconds':>9s} {'x ours':>8s} "
          f"{'max rel diff':>18s} {'peak MiB':>9s}")
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(f"{tmp}/k.npz", nngp_all=nngp_all, ntk_all=ntk_all, y=y)
        for regime in ("ntk", "nngp"):
            t_ours = timed(lambda: ntk.ensemble_gradient_flow(nngp, ntk_, y, times, nngp_test_train=nngp_tx,
                                                              ntk_test_train=ntk_tx, nngp_test=nngp_tt,
                                                              regime=regime), 1)
            run = subprocess.run([args.nt_python, str(Path(__file__).with_name("_nt_ensemble.py")), f"{tmp}/k.npz",
                                  f"{tmp}/out.npz", regime, *[str(t) for t in times]], capture_output=True, text=True)
            if run.returncode != 0:
                print(f"neural-tangents failed: {run.stderr[-2000:]}")
                continue
            seconds, mib = (float(v) for v in run.stdout.split()[-2:])
            theirs = np.load(f"{tmp}/out.npz")
            mean, cov = results[regime]
            diff = max(np.abs(theirs["cov"] - cov).max() / np.abs(cov).max(),
                       np.abs(theirs["mean"].reshape(mean.shape) - mean).max() / np.abs(mean).max())
            print(f"{regime + ' regime':58s} {seconds:9.2f} {seconds / t_ours:8.2f} {diff:18.1e} {mib:9.0f}")


if __name__ == "__main__":
    main()
