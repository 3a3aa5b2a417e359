"""The neural-tangents side of bench_ensemble.py, run in its own virtualenv (numpy < 2, jax
0.4.25): nt.predict.gradient_descent_mse_ensemble on the same precomputed kernels (a kernel_fn
that slices them, so only the prediction is timed), float64 on the CPU, mean and covariance at
every time, on the test points.

    python _nt_ensemble.py KERNELS.npz OUT.npz REGIME TIMES...

Prints "seconds peak_rss_mib" (the best of two runs after a compiling run) and saves the mean
and covariance to OUT.npz.
"""

import collections
import resource
import sys
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import neural_tangents as nt  # noqa: E402


def main():
    data = np.load(sys.argv[1])
    regime, times = sys.argv[3], np.array([float(t) for t in sys.argv[4:]])
    nngp_all, ntk_all, y = data["nngp_all"], data["ntk_all"], data["y"]
    n = len(y)
    kernels = {"nngp": nngp_all, "ntk": ntk_all}

    def kernel_fn(x1, x2, get, **kwargs):
        i = np.asarray(x1[:, 0], dtype=int)
        j = i if x2 is None else np.asarray(x2[:, 0], dtype=int)
        def pick(g):
            return jax.numpy.asarray(kernels[g][np.ix_(i, j)])

        if isinstance(get, str):
            return pick(get)
        return collections.namedtuple("Kernels", get)(*[pick(g) for g in get])  # nt reads attributes / _asdict

    x_train = np.arange(n, dtype=np.float64)[:, None]
    x_test = np.arange(n, len(nngp_all), dtype=np.float64)[:, None]

    def run():
        predict = nt.predict.gradient_descent_mse_ensemble(kernel_fn, x_train, y)
        out = predict(t=times, x_test=x_test, get=regime, compute_cov=True)
        return np.asarray(out.mean), np.asarray(out.covariance)

    run()
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        mean, cov = run()
        best = min(best, time.perf_counter() - t0)
    np.savez(sys.argv[2], mean=mean, cov=cov)
    print(best, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


if __name__ == "__main__":
    main()
