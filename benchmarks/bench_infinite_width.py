"""Benchmark: infinite-width NTK + NNGP (libntk) vs a vectorised numpy recursion.

    python3 benchmarks/bench_infinite_width.py [--n 4096] [--d 64] [--depth 3]

Network: `depth` hidden layers (relu, then erf), W_std^2 = 2 (relu) or 1 (erf), b_std = 0.1,
NTK parameterization; the symmetric n x n kernels of n random inputs, both computed together.
numpy runs the same recursion on whole n x n arrays (closed forms, clipped correlations), the
way one would write it with numpy. The "streaming bound" is the time to write the two n x n
outputs and read/write them once per layer (2 arrays x 8 n^2 bytes x (1 + 2 depth) passes) at
this machine's memory bandwidth, measured with numpy's copy of a 256 MiB array.
"""

import argparse

import numpy as np
import scipy

import ntk
from _common import peak_rss_mib, print_environment, timed


def numpy_kernels(X, depth, activation, W_std, b_std):
    d = X.shape[1]
    w2, b2 = W_std**2, b_std**2
    q = np.sum(X**2, 1) / d
    S = X @ X.T / d
    T = np.zeros_like(S)
    for layer in range(depth + 1):
        S *= w2
        S += b2
        q = w2 * q + b2
        T *= w2
        T += S
        if layer == depth:
            break
        if activation == "relu":
            norm = np.sqrt(np.outer(q, q))
            rho = np.clip(S / norm, -1, 1)
            theta = np.arccos(rho)
            S = norm * (np.sqrt(1 - rho**2) + (np.pi - theta) * rho) / (2 * np.pi)
            T *= (np.pi - theta) / (2 * np.pi)
            q = q / 2
        else:
            a = np.sqrt(np.outer(1 + 2 * q, 1 + 2 * q))
            arg = np.clip(2 * S / a, -1, 1)
            T *= 4 / np.pi / np.sqrt(np.maximum(a**2 - 4 * S**2, 1e-300))
            S = 2 / np.pi * np.arcsin(arg)
            q = 2 / np.pi * np.arcsin(2 * q / (1 + 2 * q))
    return S, T


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=4096)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    print_environment(ntk, np, scipy)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.n, args.d))
    big = np.ones(32 << 20)
    t_copy = timed(lambda: big.copy(), args.repeats)
    bandwidth = 2 * big.nbytes / t_copy  # read + write
    passes = 1 + 2 * args.depth
    stream = 2 * 8 * args.n**2 * passes / bandwidth
    print(f"memory bandwidth (numpy copy, read + write): {bandwidth / 1e9:.1f} GB/s; "
          f"streaming bound for n = {args.n}, depth {args.depth}: {stream:.3f} s\n")
    header = f"{'activation':<11}{'libntk s':>10}{'numpy s':>10}{'speed-up':>10}{'x streaming bound':>19}{'max rel diff':>14}{'peak RSS MiB':>14}"
    print(header)
    print("-" * len(header))
    for activation, w_std in (("relu", np.sqrt(2)), ("erf", 1.0)):
        net = ntk.MLP(args.d, [1] * args.depth, activation=activation, W_std=w_std, b_std=0.1)
        t_ours = timed(lambda: ntk.infinite_width_kernels(net, X), args.repeats)
        t_np = timed(lambda: numpy_kernels(X, args.depth, activation, w_std, 0.1), max(1, args.repeats - 1))
        nngp, ntk_ = ntk.infinite_width_kernels(net, X)
        S, T = numpy_kernels(X, args.depth, activation, w_std, 0.1)
        diff = max(np.max(np.abs(nngp - S)) / np.max(np.abs(S)), np.max(np.abs(ntk_ - T)) / np.max(np.abs(T)))
        print(f"{activation:<11}{t_ours:>10.3f}{t_np:>10.3f}{t_np / t_ours:>9.1f}x{t_ours / stream:>18.1f}x"
              f"{diff:>14.1e}{peak_rss_mib():>14.0f}")


if __name__ == "__main__":
    main()
