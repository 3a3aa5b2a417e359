"""Benchmark: libntk's kernel-regression solvers against scipy / scikit-learn / numpy.

    python3 benchmarks/bench_solvers.py [--sizes 4096 8192] [--outputs 10] [--times 50] [--repeats 3]

1. Kernel ridge, fit + predict (n train, m = n/4 test points, k outputs, ridge 1e-3):
   libntk ntk.kernel_ridge vs scipy cho_factor + cho_solve (+ the test GEMM) vs scikit-learn
   KernelRidge(kernel="precomputed"). Target: libntk <= 1.1x scipy's time.
2. Gradient flow at T times (first size only): libntk's one eigendecomposition + T-time
   predictions (train and test) against the eigendecomposition alone, the target being
   total <= 1.3x one eigendecomposition; and numpy doing the same job (numpy.linalg.eigh once,
   then the per-time eigen-basis products in a loop). Recomputing a solve per time, as a
   naive user would, costs T times a factorization; that row is estimated, not run.
Times are best-of (--repeats) with pauses between runs (see _common.py); peak RSS is the
process high-water mark.
"""

import argparse
import warnings

import numpy as np
import scipy
import scipy.linalg

import ntk
from _common import peak_rss_mib, print_environment, timed

try:
    from sklearn.kernel_ridge import KernelRidge as SkKernelRidge
except ImportError:  # benchmarks/run.sh installs it
    SkKernelRidge = None


def problem(n, m, k, rng):
    p = n // 2
    s = rng.standard_normal((n + m, p)) / np.sqrt(p)
    full = s @ s.T
    return full[:n, :n].copy(), full[n:, :n].copy(), rng.standard_normal((n, k))


def ridge_rows(n, k, repeats, rng):
    m = n // 4
    K, Kt, Y = problem(n, m, k, rng)
    z = 1e-3

    def ours():
        return ntk.kernel_ridge(K, Y, Kt, ridge=z)

    def scipy_version():
        factor = scipy.linalg.cho_factor(K + z * np.eye(n), lower=True)
        alpha = scipy.linalg.cho_solve(factor, Y)
        return K @ alpha, Kt @ alpha

    want = scipy_version()
    got = ours()
    assert np.max(np.abs(got[1] - want[1])) < 1e-8 * np.max(np.abs(want[1]))
    rows = [("libntk kernel_ridge", timed(ours, repeats)),
            ("scipy cho_factor+cho_solve", timed(scipy_version, repeats))]
    if SkKernelRidge is not None:
        def sklearn_version():
            model = SkKernelRidge(alpha=z, kernel="precomputed").fit(K, Y)
            return model.predict(K), model.predict(Kt)
        rows.append(("sklearn KernelRidge", timed(sklearn_version, repeats)))
    flops = n**3 / 3 + 2 * n * n * k + 2 * (n + m) * n * k
    return rows, flops


def flow_rows(n, k, n_times, repeats, rng):
    m = n // 4
    K, Kt, Y = problem(n, m, k, rng)
    times = np.concatenate([np.geomspace(1e-2, 1e4, n_times - 1) * n * k, [np.inf]])
    with ntk.SpectralSolver(K) as solver:
        predict = lambda: solver.gradient_flow(Y, times, Kt)  # noqa: E731
        t_predict = timed(predict, repeats)
        ours_train, ours_test = predict()
    t_eig = timed(lambda: ntk.SpectralSolver(K).close(), repeats)

    def numpy_version():
        w, V = np.linalg.eigh(K)
        w = np.maximum(w, 0)
        active = w > len(w) * np.finfo(float).eps * w[-1]
        Va, wa = V[:, active], w[active]
        P = Va.T @ Y
        KtV = Kt @ Va
        N = Y.size
        train, test = [], []
        for t in times:
            g = 1 / wa if np.isinf(t) else -np.expm1(-t * wa / N) / wa
            train.append(Va @ ((wa * g)[:, None] * P))
            test.append(KtV @ (g[:, None] * P))
        return np.array(train), np.array(test)

    t_numpy = timed(numpy_version, max(1, repeats - 1))
    want_train, want_test = numpy_version()
    err = max(np.max(np.abs(ours_train - want_train)) / np.max(np.abs(want_train)),
              np.max(np.abs(ours_test - want_test)) / np.max(np.abs(want_test)))
    return t_eig, t_predict, t_numpy, err


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[4096, 8192])
    p.add_argument("--outputs", type=int, default=10)
    p.add_argument("--times", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    warnings.simplefilter("ignore", RuntimeWarning)  # clamped round-off eigenvalues of K
    print_environment(ntk, np, scipy)
    k = args.outputs

    print(f"\n1. Kernel ridge fit + predict, k = {k} outputs, m = n/4 test points, ridge 1e-3 (best of "
          f"{args.repeats})\n")
    header = f"{'n':>6}  {'method':<28}{'seconds':>9}{'vs scipy':>10}{'GFLOP/s':>9}{'peak RSS MiB':>14}"
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        rows, flops = ridge_rows(n, k, args.repeats, rng)
        t_scipy = rows[1][1]
        for name, t in rows:
            print(f"{n:>6}  {name:<28}{t:>9.3f}{t / t_scipy:>9.2f}x{flops / t / 1e9:>9.1f}{peak_rss_mib():>14.0f}")

    n = args.sizes[0]
    print(f"\n2. Gradient flow at {args.times} times (inf included), n = {n}, m = n/4 test points, k = {k}\n")
    t_eig, t_predict, t_numpy, err = flow_rows(n, k, args.times, args.repeats, rng)
    print(f"  libntk eigendecomposition (SpectralSolver)         {t_eig:8.3f} s")
    print(f"  libntk predictions at {args.times} times (train + test)     {t_predict:8.3f} s")
    print(f"  libntk total / one eigendecomposition                {(t_eig + t_predict) / t_eig:8.2f}x   (target <= "
          f"1.3x)")
    print(f"  numpy: eigh once + {args.times} eigen-basis predictions   {t_numpy:8.3f} s   "
          f"(libntk {t_numpy / (t_eig + t_predict):.2f}x faster); max relative difference {err:.1e}")
    print(f"  naive: a factorization per time, {args.times} x eigh          ~{args.times * t_eig:7.0f} s   "
          f"(estimated, not run)")
    print(f"  peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
