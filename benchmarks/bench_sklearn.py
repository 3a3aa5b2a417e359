"""Benchmark: ntk.sklearn.NTKRegressor end to end against numpy/scipy and scikit-learn.

    python3 benchmarks/bench_sklearn.py [--sizes 2048 4096] [--ridges 33] [--repeats 3]

The job: fit kernel regression with the infinite-width NTK of a depth-2 relu network (NTK
parameterization, W_std = sqrt 2, b_std = 0.1) on n points in d = 16 dimensions, choose the
ridge among G candidates (relative to the mean diagonal) by generalized cross-validation, then
predict m = n/4 test points.

  libntk      NTKRegressor(kernel="infinite", ridge="gcv").fit(X, y).predict(X_test)
  numpy/scipy the same job written out: the relu NTK recursion on whole n x n arrays, scipy
              eigh, GCV of every ridge in the eigenbasis, the dual coefficients, the test
              kernel and the prediction (checked equal to libntk's to 1e-7)
  sklearn     GridSearchCV(KernelRidge(kernel="precomputed"), G alphas, 5-fold CV) on libntk's
              kernels, the usual way to choose a ridge (not the same criterion, so its choice
              differs; shown for the cost of choosing by refits)

GFLOP/s counts the eigendecomposition with vectors as 4 n^3 flops (tridiagonal reduction
4/3 n^3, its back-transformation 2 n^3, divide and conquer ~2/3 n^3), the step that dominates;
it is an effective rate of the whole fit. Peak RSS is the process high-water mark.
"""

import argparse
import time

import numpy as np
import scipy
import scipy.linalg

import ntk
from _common import peak_rss_mib, print_environment, timed
from ntk.sklearn import NTKRegressor

W_STD, B_STD, DEPTH = np.sqrt(2.0), 0.1, 2


def relu_ntk(X1, X2):
    """The infinite-width relu NTK (arc-cosine closed forms), layer by layer on whole arrays."""
    d = X1.shape[1]
    s12 = X1 @ X2.T / d
    s11, s22 = np.sum(X1 * X1, 1) / d, np.sum(X2 * X2, 1) / d
    theta = np.zeros_like(s12)
    for _ in range(DEPTH):
        s12, s11, s22 = W_STD**2 * s12 + B_STD**2, W_STD**2 * s11 + B_STD**2, W_STD**2 * s22 + B_STD**2
        theta = s12 + W_STD**2 * theta
        norm = np.sqrt(np.outer(s11, s22))
        cos = np.clip(s12 / norm, -1.0, 1.0)
        angle = np.arccos(cos)
        theta = theta * (np.pi - angle) / (2 * np.pi)
        s12 = norm * (np.sin(angle) + (np.pi - angle) * cos) / (2 * np.pi)
        s11, s22 = s11 / 2, s22 / 2
    return W_STD**2 * s12 + B_STD**2 + W_STD**2 * theta


def numpy_job(X, y, X_test, grid):
    K = relu_ntk(X, X)
    n = len(K)
    lam, V = scipy.linalg.eigh(K)
    lam = np.clip(lam, 0, None)
    p = V.T @ (y - y.mean())
    ridges = grid * np.trace(K) / n
    scores = []
    for z in ridges:
        shrink = lam / (lam + z)
        residual = (1 - shrink) * p  # in the eigenbasis: |(I - H) y| = |(1 - shrink) p|
        scores.append(np.sum(residual**2) / n / (np.sum(1 - shrink) / n) ** 2)
    z = ridges[int(np.argmin(scores))]
    alpha = V @ (p / (lam + z))
    return y.mean() + relu_ntk(X_test, X) @ alpha


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[2048])
    p.add_argument("--ridges", type=int, default=33)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-sklearn", action="store_true", help="skip the GridSearchCV row (slow for large n)")
    args = p.parse_args()
    print_environment(ntk, np, scipy)
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.model_selection import GridSearchCV

    rng = np.random.default_rng(0)
    grid = np.geomspace(1e-6, 1e2, args.ridges)
    print(f"\n{'n':>6} {'job':<50} {'time':>9} {'vs libntk':>10} {'GFLOP/s':>8}")
    for n in args.sizes:
        d, m = 16, n // 4
        w = rng.standard_normal(d) / np.sqrt(d)
        X, X_test = rng.standard_normal((n, d)), rng.standard_normal((m, d))
        y = np.sin(2 * X @ w) + 0.1 * rng.standard_normal(n)
        model = NTKRegressor(kernel="infinite", widths=(512,) * DEPTH, W_std=W_STD, b_std=B_STD, ridge="gcv",
                             ridges=grid)

        def ours():
            return model.fit(X, y).predict(X_test)

        def theirs():
            return numpy_job(X, y, X_test, grid)

        got, want = ours(), theirs()
        err = np.max(np.abs(got - want)) / np.max(np.abs(want))
        # Both sides round differently (DSYEVD vs scipy's driver, the recursions' order); with the
        # smallest ridges the solve amplifies that by K's condition number.
        assert err < 1e-7, f"libntk and numpy disagree: relative {err:.2e}"
        t_ours, t_numpy = timed(ours, args.repeats), timed(theirs, args.repeats)
        flops = 4.0 * n**3
        rows = [("libntk NTKRegressor (GCV over %d ridges)" % len(grid), t_ours),
                ("numpy/scipy, the same job", t_numpy)]
        if not args.no_sklearn:
            K, K_test = model._kernel(X), model._kernel(X_test, X)
            search = GridSearchCV(KernelRidge(kernel="precomputed"), {"alpha": grid * np.trace(K) / n}, cv=5)
            t0 = time.perf_counter()
            search.fit(K, y - y.mean())
            search.predict(K_test)
            rows.append(("scikit-learn GridSearchCV, 5-fold (kernel given)", time.perf_counter() - t0))
        for name, t in rows:
            print(f"{n:>6} {name:<50} {t:>8.3f}s {t / t_ours:>9.2f}x {flops / t / 1e9:>8.1f}")
        print(f"{'':>6} agreement with numpy: {err:.1e} relative; peak RSS so far {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
