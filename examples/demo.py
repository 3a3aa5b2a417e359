"""libntk demo: random-feature kernel ridge regression end to end through the library.

A one-hidden-layer ReLU network with frozen random first layer has features
S_i = relu(W x_i) / sqrt(P); its kernel K = S S^T (eq. 3-5 of the seed notes: the regression of
y on random features and the equivalent kernel regression). The demo builds K with ntk.gram,
fits (K + zI) alpha = y with ntk.CholeskyFactor for several ridges z, predicts held-out points,
and looks at K's spectrum with ntk.eigvalsh. numpy recomputes one fit independently.
"""

import time

import numpy as np

import ntk


def target(x):
    return np.sin(2.0 * x[:, 0]) + 0.5 * x[:, 1] * x[:, 2]


def main():
    rng = np.random.default_rng(0)
    n, m, d, p = 2000, 500, 8, 1024
    x_train, x_test = rng.standard_normal((n, d)), rng.standard_normal((m, d))
    y_train = target(x_train) + 0.1 * rng.standard_normal(n)
    y_test = target(x_test)

    info = ntk.blas_info()
    print(f"libntk {ntk.version()} | OpenBLAS core {info['core']}, {info['num_threads']} threads")
    w = rng.standard_normal((d, p)) / np.sqrt(d)
    s_train = np.maximum(x_train @ w, 0) / np.sqrt(p)
    s_test = np.maximum(x_test @ w, 0) / np.sqrt(p)

    t0 = time.perf_counter()
    k_train = ntk.gram(s_train)           # n x n, symmetric
    k_test = ntk.gram(s_test, s_train)    # m x n
    t1 = time.perf_counter()
    print(f"kernels: K_train {k_train.shape}, K_test {k_test.shape} in {1e3 * (t1 - t0):.1f} ms")

    eig = ntk.eigvalsh(k_train)
    top = eig[::-1][:5]
    print("top eigenvalues of K_train: " + ", ".join(f"{v:.4g}" for v in top))
    print(f"trace {eig.sum():.4g}, numerical rank (λ > 1e-10 λ_max): {(eig > 1e-10 * eig[-1]).sum()} of {n}")

    print(f"\n{'ridge z':>10} {'train MSE':>12} {'test MSE':>12}")
    best = None
    for z in (1e-4, 1e-3, 1e-2, 1e-1, 1.0):
        with ntk.CholeskyFactor(k_train, ridge=z) as f:
            alpha = f.solve(y_train)
        train_mse = np.mean((k_train @ alpha - y_train) ** 2)
        test_mse = np.mean((k_test @ alpha - y_test) ** 2)
        print(f"{z:>10.0e} {train_mse:>12.5f} {test_mse:>12.5f}")
        if best is None or test_mse < best[1]:
            best = (z, test_mse)
    print(f"best ridge {best[0]:.0e}: test MSE {best[1]:.5f} (variance of y_test {np.var(y_test):.3f})")

    # An independent check of one fit with numpy.
    z = best[0]
    alpha_ntk = ntk.cholesky_solve(k_train, y_train, ridge=z)
    alpha_np = np.linalg.solve(s_train @ s_train.T + z * np.eye(n), y_train)
    rel = np.max(np.abs(alpha_ntk - alpha_np)) / np.max(np.abs(alpha_np))
    print(f"check against numpy.linalg.solve: max relative difference {rel:.2e}")


if __name__ == "__main__":
    main()
