"""Benchmark: kernel tuning — one objective evaluation with its exact gradient, and a whole tuning.

    python3 benchmarks/bench_tuning.py [--sizes 500 1000 2000] [--features 9] [--repeats 3]

1. The log marginal likelihood and its gradient in every hyperparameter (W_std, b_std, d input
   scales, noise, amplitude) for the relu NTK of a depth-2 network on n points with d features:
   libntk's ntk.kernel_objective (kernel, Cholesky, inverse, one contraction pass; never the
   (d + 2) n^2 derivatives) against scikit-learn doing the same job with the same kernel:
   GaussianProcessRegressor.log_marginal_likelihood(theta, eval_gradient=True) on
   ntk.sklearn.NTKKernel(input_scale=array) * ConstantKernel + WhiteKernel, which forms the
   full derivative tensor and contracts it with numpy (einsum). Both values are compared.
2. A whole tuning on 1,500 points (ARD, no restarts): ntk.tune_kernel(objective="lml") against
   GaussianProcessRegressor with an RBF kernel with one length scale per feature (scikit-learn's
   own exact gradients; the usual way to fit per-feature scales), from the same data.
GFLOP/s counts the dense factorisation work of an evaluation (Cholesky n^3/3 and inverse
2 n^3/3); times are best-of (--repeats) with pauses (see _common.py); peak RSS is the process
high-water mark.
"""

import argparse
import time
import warnings

import numpy as np
import scipy

import ntk
from _common import peak_rss_mib, print_environment, timed

try:
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    from ntk.sklearn import NTKKernel
except ImportError:  # benchmarks/run.sh installs scikit-learn
    GaussianProcessRegressor = None


def data(n, d, rng):
    X = rng.standard_normal((n, d))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2 % d] + 0.1 * rng.standard_normal(n)
    return X, y - y.mean()


def evaluation_rows(sizes, d, repeats, rng):
    print(f"\n1. LML + gradient (d + 4 = {d + 4} entries), relu NTK depth 2, d = {d}")
    print(f"{'n':>6} {'libntk s':>9} {'sklearn s':>10} {'ratio':>6} {'GFLOP/s':>8} {'|value diff|':>13} "
          f"{'peak RSS MiB':>13}")
    scales = np.linspace(0.5, 1.5, d)
    for n in sizes:
        X, y = data(n, d, rng)
        net = ntk.MLP(d, [1, 1], W_std=1.3, b_std=0.2)

        def ours():
            return ntk.kernel_objective(net, X, y, "lml", W_std=1.3, b_std=0.2, input_scales=scales, ridge=0.05,
                                        amplitude=1.7)

        t_ours = timed(ours, repeats)
        rss_ours = peak_rss_mib()
        value, _ = ours()
        t_theirs, diff = float("nan"), float("nan")
        if GaussianProcessRegressor is not None:
            kernel = (ConstantKernel(1.7) * NTKKernel(depth=2, W_std=1.3, b_std=0.2, input_scale=scales)
                      + WhiteKernel(0.05))
            gpr = GaussianProcessRegressor(kernel, optimizer=None).fit(X, y)
            theta = gpr.kernel_.theta

            def theirs():
                return gpr.log_marginal_likelihood(theta, eval_gradient=True)

            t_theirs = timed(theirs, repeats)
            diff = abs(theirs()[0] - value)
        flops = n**3 / 3 + 2 * n**3 / 3
        print(f"{n:6d} {t_ours:9.3f} {t_theirs:10.3f} {t_theirs / t_ours:6.1f} {flops / t_ours / 1e9:8.1f} "
              f"{diff:13.2e} {max(rss_ours, peak_rss_mib()):13.0f}", flush=True)


def tuning_rows(d, rng):
    n = 1500
    X, y = data(n, d, rng)
    print(f"\n2. A whole tuning, n = {n}, d = {d}, one scale per feature, no restarts")
    t0 = time.perf_counter()
    tuned = ntk.tune_kernel(X, y, widths=(1, 1), objective="lml", ard=True, n_restarts=0)
    ours = time.perf_counter() - t0
    print(f"  libntk tune_kernel (relu NTK, LML): {ours:.1f} s, {tuned.n_evaluations} evaluations, "
          f"{ours / tuned.n_evaluations:.3f} s each, LML {tuned.value:.2f}", flush=True)
    if GaussianProcessRegressor is not None:
        t0 = time.perf_counter()
        with warnings.catch_warnings():  # length scales at their bounds: irrelevant features
            warnings.simplefilter("ignore")
            gpr = GaussianProcessRegressor(ConstantKernel() * RBF(np.ones(d)) + WhiteKernel()).fit(X, y)
        theirs = time.perf_counter() - t0
        print(f"  scikit-learn GaussianProcessRegressor (RBF ARD, LML): {theirs:.1f} s, LML "
              f"{gpr.log_marginal_likelihood_value_:.2f}; ratio {theirs / ours:.1f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000])
    p.add_argument("--features", type=int, default=9)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-tuning", action="store_true")
    args = p.parse_args()
    print_environment(ntk, np, scipy)
    rng = np.random.default_rng(0)
    evaluation_rows(args.sizes, args.features, args.repeats, rng)
    if not args.skip_tuning:
        tuning_rows(args.features, rng)
    print(f"peak RSS of the process: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
