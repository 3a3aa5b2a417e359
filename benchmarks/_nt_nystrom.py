"""The neural-tangents side of bench_nystrom.py, run in its own virtualenv (numpy < 2, jax
0.4.25): what a user would assemble today for Nyström kernel ridge with an infinite-width NTK —
neural-tangents' kernel_fn (jit-compiled, in row batches) for K(X, C), K(C, C) and K(X_test, C) (float64, CPU), then the
Nyström normal equations (K_nm^T K_nm + z K_mm) beta = K_nm^T y with scipy.linalg.solve.

    python _nt_nystrom.py DATA.npz OUT.npz

DATA.npz holds X, y, X_test, centers (indices into X), ridge, depth, W_std, b_std. Prints
"seconds peak_rss_mib kernel_seconds" (one run after a compiling run on a small slice) and saves
the test predictions to OUT.npz.
"""

import resource
import sys
import time

import jax
import numpy as np
import scipy.linalg

jax.config.update("jax_enable_x64", True)

from neural_tangents import stax  # noqa: E402


def main():
    data = np.load(sys.argv[1])
    X, y, X_test, centers = data["X"], data["y"], data["X_test"], data["centers"]
    z, depth, W_std, b_std = float(data["ridge"]), int(data["depth"]), float(data["W_std"]), float(data["b_std"])
    layers = []
    for _ in range(depth):
        layers += [stax.Dense(512, W_std=W_std, b_std=b_std), stax.Relu()]
    layers.append(stax.Dense(1, W_std=W_std, b_std=b_std))
    _, _, kernel_fn = stax.serial(*layers)
    compiled = jax.jit(kernel_fn, static_argnames="get")
    C = X[centers]
    rows = 2000  # row batches of K(., C): nt.batch needs sizes divisible by its batch size

    def ntk(a, b):
        return np.concatenate([np.asarray(compiled(a[i:i + rows], b, get="ntk")) for i in range(0, len(a), rows)])

    ntk(X[:rows], C), ntk(X[:len(X) % rows or rows], C), ntk(C, C)  # compile every shape used
    t0 = time.perf_counter()
    K_nm, K_mm, K_tm = ntk(X, C), ntk(C, C), ntk(X_test, C)
    kernels = time.perf_counter() - t0
    beta = scipy.linalg.solve(K_nm.T @ K_nm + z * K_mm, K_nm.T @ y, assume_a="pos")
    pred = K_tm @ beta
    seconds = time.perf_counter() - t0
    np.savez(sys.argv[2], pred=pred)
    print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, kernels)


if __name__ == "__main__":
    main()
