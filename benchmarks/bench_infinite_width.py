"""Benchmark: infinite-width NTK + NNGP (libntk) vs a vectorised numpy recursion, and every
activation's throughput side by side with neural-tangents.

    python3 benchmarks/bench_infinite_width.py [--n 4096] [--d 64] [--depth 3] [--nt-python PATH] [--nt-n 1024]
                                               [--single-only]

Network: `depth` hidden layers (relu, then erf), W_std^2 = 2 (relu) or 1 (erf), b_std = 0.1,
NTK parameterization; the symmetric n x n kernels of n random inputs, both computed together.
numpy runs the same recursion on whole n x n arrays (closed forms, clipped correlations), the
way one would write it with numpy. The "streaming bound" is the time to write the two n x n
outputs and read/write them once per layer (2 arrays x 8 n^2 bytes x (1 + 2 depth) passes) at
this machine's memory bandwidth, measured with numpy's copy of a 256 MiB array.

The second table times every activation (W_std = 1.5, b_std = 0.2, depth hidden layers, the
symmetric kernels of n points) in kernel entries per second, and the same work in
neural-tangents 0.6.5 (`_nt_infinite_width.py`, run by the virtualenv's python given with
--nt-python, default ~/.cache/neural-tangents-venv/bin/python as made by
shared/tools/neural-tangents-venv.sh; skipped when absent). nt's numerical activations (tanh,
sigmoid, softplus: Gauss-Hermite of degree 25 per pair) take minutes at n = 4096, so nt runs at
--nt-n points (default 1024) and the rates are compared; "max rel diff" compares the first 64
rows of both kernels at nt's n.

The third table is single precision (`dtype=np.float32`, relu / erf / gelu at n points): libntk's
float32 time against its float64 time, the largest difference from the float64 kernels of the same
rounded inputs relative to the largest entry, and neural-tangents in its default float32 at
--nt-n points (rates compared, as above).
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
    p.add_argument("--nt-python", default=str(Path.home() / ".cache/neural-tangents-venv/bin/python"))
    p.add_argument("--nt-n", type=int, default=1024)
    p.add_argument("--single-only", action="store_true", help="only the single-precision table")
    args = p.parse_args()
    print_environment(ntk, np, scipy)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.n, args.d))
    if args.single_only:
        return single_precision_table(args, X)
    big = np.ones(32 << 20)
    t_copy = timed(lambda: big.copy(), args.repeats)
    bandwidth = 2 * big.nbytes / t_copy  # read + write
    passes = 1 + 2 * args.depth
    stream = 2 * 8 * args.n**2 * passes / bandwidth
    print(f"memory bandwidth (numpy copy, read + write): {bandwidth / 1e9:.1f} GB/s; "
          f"streaming bound for n = {args.n}, depth {args.depth}: {stream:.3f} s\n")
    header = (f"{'activation':<11}{'libntk s':>10}{'numpy s':>10}{'speed-up':>10}{'x streaming bound':>19}"
              f"{'max rel diff':>14}{'peak RSS MiB':>14}")
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
    activations_table(args, X)
    single_precision_table(args, X)


def run_nt(args, X, names, W_std, b_std, single=False):
    """neural-tangents' times and first 64 kernel rows for each activation (empty when absent)."""
    nt_times, nt_kernels = {}, {}
    if not os.path.exists(args.nt_python):
        print(f"(neural-tangents not found at {args.nt_python}: its columns are empty)")
        return nt_times, nt_kernels
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/x.npy", X)
        run = subprocess.run([args.nt_python, str(Path(__file__).with_name("_nt_infinite_width.py")),
                              *(["--float32"] if single else []), f"{tmp}/x.npy", tmp,
                              str(args.depth), str(W_std), str(b_std), *names], capture_output=True, text=True)
        for line in run.stdout.splitlines():
            name, seconds = line.split()
            nt_times[name] = float(seconds)
            nt_kernels[name] = dict(np.load(f"{tmp}/{name}.npz"))
        if run.returncode != 0:
            print("neural-tangents failed:", run.stderr[-2000:])
    return nt_times, nt_kernels


def single_precision_table(args, X):
    names = ["relu", "erf", "gelu"]
    W_std, b_std = 1.5, 0.2
    X32 = X.astype(np.float32)
    rounded = X32.astype(np.float64)
    nt_times, _ = run_nt(args, X32[:args.nt_n], names, W_std, b_std, single=True)
    print(f"\nSingle precision (dtype=np.float32), W_std = {W_std}, b_std = {b_std}, depth {args.depth}, "
          f"n = {args.n}; neural-tangents float32 at n = {args.nt_n}")
    header = (f"{'activation':<11}{'float64 s':>11}{'float32 s':>11}{'f64 / f32':>11}{'M entries/s':>13}"
              f"{'max diff / max':>16}{'nt f32 M entries/s':>20}{'libntk / nt':>13}")
    print(header)
    print("-" * len(header))
    for name in names:
        net = ntk.MLP(args.d, [1] * args.depth, activation=name, W_std=W_std, b_std=b_std)
        t64 = timed(lambda: ntk.infinite_width_kernels(net, X), args.repeats)
        t32 = timed(lambda: ntk.infinite_width_kernels(net, X32, dtype=np.float32), args.repeats)
        want = ntk.infinite_width_kernels(net, rounded)
        got = ntk.infinite_width_kernels(net, X32, dtype=np.float32)
        diff = max(np.max(np.abs(g.astype(np.float64) - w)) / np.max(np.abs(w)) for g, w in zip(got, want))
        rate = args.n ** 2 / t32 / 1e6
        line = f"{name:<11}{t64:>11.3f}{t32:>11.3f}{t64 / t32:>10.2f}x{rate:>13.1f}{diff:>16.1e}"
        if name in nt_times:
            nt_rate = args.nt_n ** 2 / nt_times[name] / 1e6
            line += f"{nt_rate:>20.2f}{rate / nt_rate:>12.1f}x"
        print(line)


def activations_table(args, X):
    names = ["relu", "erf", "gelu", "tanh", "sigmoid", "softplus"]
    W_std, b_std = 1.5, 0.2
    ours = {}
    for name in names:
        net = ntk.MLP(args.d, [1] * args.depth, activation=name, W_std=W_std, b_std=b_std)
        ours[name] = timed(lambda: ntk.infinite_width_kernels(net, X),
                           1 if name in ("tanh", "sigmoid", "softplus") else args.repeats)
    small = X[:args.nt_n]
    nt_times, nt_kernels = run_nt(args, small, names, W_std, b_std)
    print(f"\nEvery activation, W_std = {W_std}, b_std = {b_std}, depth {args.depth}: libntk at n = {args.n}, "
          f"neural-tangents at n = {args.nt_n} (entries per second: n^2 kernel entries, NNGP and NTK together)")
    header = (f"{'activation':<11}{'libntk s':>10}{'M entries/s':>13}{'cost / relu':>13}{'nt s':>10}"
              f"{'nt M entries/s':>16}"
              f"{'libntk / nt rate':>18}{'max rel diff':>14}")
    print(header)
    print("-" * len(header))
    for name in names:
        rate = args.n ** 2 / ours[name] / 1e6
        line = f"{name:<11}{ours[name]:>10.3f}{rate:>13.2f}{ours[name] / ours['relu']:>12.1f}x"
        if name in nt_times:
            nt_rate = args.nt_n ** 2 / nt_times[name] / 1e6
            net = ntk.MLP(args.d, [1] * args.depth, activation=name, W_std=W_std, b_std=b_std)
            nngp, ntk_ = ntk.infinite_width_kernels(net, small[:64], small)
            ref = nt_kernels[name]
            diff = max(np.max(np.abs(nngp - ref["nngp"])) / np.max(np.abs(ref["nngp"])),
                       np.max(np.abs(ntk_ - ref["ntk"])) / np.max(np.abs(ref["ntk"])))
            line += f"{nt_times[name]:>10.3f}{nt_rate:>16.3f}{rate / nt_rate:>17.1f}x{diff:>14.1e}"
        print(line)


if __name__ == "__main__":
    main()
