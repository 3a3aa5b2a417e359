"""What a new user of the wheel runs first, with numbers to compare across builds.

Run by scripts/check_install.sh twice: with the installed manylinux wheel where the system's
BLAS is hidden (scripts/without_system_blas.sh), and with the repository's build on the system's
OpenBLAS. Each run saves its results to OUT.npz; ``--compare A.npz B.npz`` then checks that they
agree to 1e-12 (relative, max norm) and prints which BLAS each used.

Usage: python wheel_check.py OUT.npz | python wheel_check.py --compare A.npz B.npz
"""

import json
import sys

import numpy as np


def run(out):
    """Kernel ridge on the infinite-width NTK and the empirical NTK of a small MLP, saved to ``out``."""
    import ntk

    rng = np.random.default_rng(7)
    X, X_test = rng.standard_normal((400, 10)), rng.standard_normal((50, 10))
    y = np.sin(X @ rng.standard_normal((10, 2)))
    net = ntk.MLP(10, [64, 64], activation="relu", W_std=2 ** 0.5, b_std=0.1, seed=3)
    _, theta = ntk.infinite_width_kernels(net, X)
    _, theta_test = ntk.infinite_width_kernels(net, X_test, X)
    _, test = ntk.kernel_ridge(theta, y, K_test_train=theta_test, ridge=1e-3)
    K = ntk.empirical_ntk(net, X)
    info = ntk.blas_info()
    np.savez(out, test=test, K=K, info=json.dumps({**info, "ntk": ntk.library_path()}))
    print(f"{ntk.library_path()}: OpenBLAS {info['core']} from {info['library']} (bundled: {info['bundled']})")


def compare(a, b):
    """Checks that two runs' results agree to 1e-12 and prints where their BLAS came from."""
    first, second = np.load(a), np.load(b)
    for name in ("test", "K"):
        x, y = first[name], second[name]
        error = np.max(np.abs(x - y)) / np.max(np.abs(y))
        print(f"{name}: max relative difference {error:.1e}")
        if not error <= 1e-12:
            sys.exit(f"{name} differs by {error:.1e} > 1e-12")
    for run_file in (first, second):
        info = json.loads(str(run_file["info"]))
        print(f"  {info['ntk']}: OpenBLAS {info['core']} from {info['library']}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--compare"] and len(sys.argv) == 4:
        compare(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 2:
        run(sys.argv[1])
    else:
        sys.exit(__doc__)
