"""Benchmark: libntk's kernel building blocks from Python vs numpy/scipy doing the same job.

    python3 benchmarks/bench_linalg.py [--n 2048] [--rhs 16] [--repeats 5] [--threads T]

Rows (each the best of --repeats runs after a warm-up, libntk and numpy alternating, in this process):
  gram A B^T      n x n times (n x n)^T        libntk ntk.gram(A, B)       vs numpy A @ B.T
  gram A A^T      symmetric, both triangles    libntk ntk.gram(A)          vs numpy A @ A.T (SYRK)
  cholesky solve  (K + zI) X = Y, Y n x rhs    libntk ntk.cholesky_solve   vs scipy cho_factor+cho_solve
  eigh            eigenvalues + vectors        libntk ntk.eigh             vs numpy.linalg.eigh
GFLOP/s use the textbook counts (2n^3 for A B^T, n^3 for A A^T, n^3/3 + 2n^2 rhs for the solve,
~9n^3 for eigh with vectors) and are compared with this run's DGEMM rate (the A B^T row of
numpy, the machine's practical peak). "speed-up" = numpy time / libntk time (> 1: libntk faster).
Peak RSS is the process high-water mark after each row (it includes both sides' buffers).
"""

import argparse
import numpy as np
import scipy.linalg

import ntk
from _common import peak_rss_mib, print_environment, timed_pair


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2048)
    p.add_argument("--rhs", type=int, default=16)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=None, help="BLAS threads for libntk (default: OpenBLAS's)")
    args = p.parse_args()
    if args.threads:
        ntk.set_num_threads(args.threads)

    n, rhs = args.n, args.rhs
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    f = rng.standard_normal((n, n))
    k = f @ f.T / n + 0.1 * np.eye(n)
    y = rng.standard_normal((n, rhs))
    z = 1e-3

    print_environment(ntk, np, scipy)
    print(f"n = {n}, right-hand sides = {rhs}, best of {args.repeats} alternating runs (medians in brackets)\n")

    rows = [
        ("gram A B^T", 2.0 * n**3, lambda: ntk.gram(a, b), lambda: a @ b.T),
        ("gram A A^T", 1.0 * n**3, lambda: ntk.gram(a), lambda: a @ a.T),
        ("cholesky solve", n**3 / 3 + 2.0 * n * n * rhs,
         lambda: ntk.cholesky_solve(k, y, ridge=z),
         lambda: scipy.linalg.cho_solve(scipy.linalg.cho_factor(k + z * np.eye(n), lower=True), y)),
        ("eigh (vectors)", 9.0 * n**3, lambda: ntk.eigh(k), lambda: np.linalg.eigh(k)),
    ]
    # Correctness of what is timed, so the table compares like with like.
    assert np.allclose(ntk.gram(a, b), a @ b.T, rtol=1e-12, atol=1e-9)
    x_ref = np.linalg.solve(k + z * np.eye(n), y)
    assert np.max(np.abs(ntk.cholesky_solve(k, y, ridge=z) - x_ref)) < 1e-9 * np.max(np.abs(x_ref))

    header = (f"{'operation':<16}{'libntk ms':>11}{'numpy ms':>11}{'speed-up':>10}{'(median)':>10}{'libntk GF/s':>13}"
              f"{'numpy GF/s':>12}{'% DGEMM':>9}{'peak RSS MiB':>14}")
    print(header)
    print("-" * len(header))
    dgemm_rate = None
    for name, flops, ours, theirs in rows:
        t_ours, t_theirs, med_ours, med_theirs = timed_pair(ours, theirs, args.repeats)
        if dgemm_rate is None:
            dgemm_rate = flops / t_theirs / 1e9
        gf_ours, gf_theirs = flops / t_ours / 1e9, flops / t_theirs / 1e9
        print(f"{name:<16}{1e3 * t_ours:>11.1f}{1e3 * t_theirs:>11.1f}{t_theirs / t_ours:>9.2f}x"
              f"{f'({med_theirs / med_ours:.2f}x)':>10}"
              f"{gf_ours:>13.1f}{gf_theirs:>12.1f}{100 * gf_ours / dgemm_rate:>8.0f}%{peak_rss_mib():>14.0f}")
    print(f"\nDGEMM rate of this run (numpy A @ B.T): {dgemm_rate:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
