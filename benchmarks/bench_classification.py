"""Benchmark: classification with cross-entropy — probabilities on real tables, Nyström-Newton at
large n, and the Newton solver against scikit-learn on the same problem.

    python3 benchmarks/bench_classification.py [--skip-diamonds] [--sizes 1000 2000] [--repeats 3]

1. scikit-learn's breast_cancer, digits and wine (70/30 stratified split, seed 0, standardised):
   accuracy, log loss and expected calibration error (15 equal-width bins of the top
   probability) of NTKClassifier with loss="cross_entropy" (the default: kernel logistic
   regression, ridge by approximate LOO log loss) and loss="mse" (one-hot kernel ridge, softmax
   temperature fitted on the exact LOO outputs), the MSE classifier wrapped in
   CalibratedClassifierCV(cv=3), HistGradientBoostingClassifier and LogisticRegression.
2. diamonds as a classification task (log price above the training median), all 43,940
   training rows, 10,000 test rows: Nyström-Newton with 2,048 centres (ridge selected from three
   by the approximate LOO log loss) against HistGradientBoostingClassifier and
   LogisticRegression; fit time and the process's peak RSS after the fit.
3. The solver alone: the multinomial kernel logistic regression of a dense relu NTK (n points,
   10 classes, ridge 1e-3 x mean diagonal) by libntk's Newton (eigendecomposition + Newton-CG)
   against scikit-learn's LogisticRegression (lbfgs, multinomial, C = 1/ridge) on the kernel's
   features Phi = V Lambda^1/2 — the same objective, whose eigendecomposition is not timed for
   scikit-learn; the objective values are compared. GFLOP/s counts libntk's eigendecomposition
   (~4 n^3) and one n r^2 preconditioner per Newton step.
"""

import argparse
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy

import ntk
from _common import print_environment

try:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ntk.sklearn import NTKClassifier
except ImportError:  # benchmarks/run.sh installs scikit-learn
    NTKClassifier = None


def ece(y, p, bins=15):
    """Expected calibration error of the top-label probability, equal-width bins."""
    top, correct = p.max(1), (p.argmax(1) == y)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (top > lo) & (top <= hi)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - top[inside].mean())
    return total


def models():
    return {
        "NTK cross_entropy": lambda: make_pipeline(StandardScaler(), NTKClassifier()),
        "NTK mse (LOO temperature)": lambda: make_pipeline(StandardScaler(), NTKClassifier(loss="mse")),
        "NTK mse + Calibrated(cv=3)": lambda: make_pipeline(StandardScaler(), CalibratedClassifierCV(
            NTKClassifier(loss="mse"), cv=3)),
        "HistGradientBoosting": lambda: HistGradientBoostingClassifier(random_state=0),
        "LogisticRegression": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
    }


def small_tables():
    print("\n1. Probabilities on small tables (70/30 stratified split, seed 0)")
    print(f"{'data':<14} {'model':<28} {'accuracy':>8} {'log loss':>9} {'ECE':>7} {'fit s':>7}")
    for name, loader in [("breast_cancer", load_breast_cancer), ("digits", load_digits), ("wine", load_wine)]:
        X, y = loader(return_X_y=True)
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
        for label, make in models().items():
            start = time.perf_counter()
            model = make().fit(Xtr, ytr)
            seconds = time.perf_counter() - start
            p = model.predict_proba(Xte)
            print(f"{name:<14} {label:<28} {accuracy_score(yte, p.argmax(1)):>8.3f} {log_loss(yte, p):>9.4f} "
                  f"{ece(yte, p):>7.4f} {seconds:>7.2f}")


def diamonds():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    from diamonds_data import load, split

    X, y = load()
    Xtr, ytr, Xte, yte, _ = split(X, y)
    median = np.median(ytr)
    btr, bte = (ytr > median).astype(int), (yte > median).astype(int)
    print(f"\n2. diamonds: price above the median, {len(Xtr)} training rows, {len(Xte)} test rows")
    print(f"{'model':<44} {'accuracy':>8} {'log loss':>9} {'ECE':>7} {'fit s':>7} {'peak RSS GiB':>12}")
    rows = [("NTK cross_entropy, Nystrom-Newton m = 2048",
             lambda: NTKClassifier(solver="nystrom", n_centers=2048, ridges=[1e-2, 1e-3, 1e-4], random_state=0)),
            ("HistGradientBoosting", lambda: HistGradientBoostingClassifier(random_state=0)),
            ("LogisticRegression", lambda: LogisticRegression(max_iter=5000))]
    for label, make in rows:
        start = time.perf_counter()
        model = make().fit(Xtr, btr)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        p = model.predict_proba(Xte)
        print(f"{label:<44} {accuracy_score(bte, p.argmax(1)):>8.4f} {log_loss(bte, p):>9.4f} {ece(bte, p):>7.4f} "
              f"{seconds:>7.1f} {peak:>12.2f}")
        if label.startswith("NTK"):
            print(f"  (ridge {model.ridge_:.3g} of {model.ridge_scores_.round(4)} approximate LOO log losses; "
                  f"{model.n_iter_} Newton steps at the chosen ridge)")


def solver_rows(sizes, repeats):
    print("\n3. Multinomial kernel logistic regression, relu NTK, 10 classes, ridge 1e-3 x mean diagonal")
    print(f"{'n':>6} {'libntk s':>9} {'sklearn s':>10} {'ratio':>6} {'GFLOP/s':>8} {'objective rel diff':>19}")
    rng = np.random.default_rng(0)
    for n in sizes:
        X = rng.standard_normal((n, 20))
        y = np.argmax(X[:, :10] + 0.7 * rng.standard_normal((n, 10)), axis=1)
        with ntk.MLP(20, [512, 512], output_dim=1) as net:
            K = ntk.infinite_width_ntk(net, X)
        z = 1e-3 * np.mean(np.diag(K))
        ours, model = [], None
        for _ in range(repeats):
            start = time.perf_counter()
            model = ntk.KernelLogisticRegression(K, y, ridge=z, tol=1e-8)
            ours.append(time.perf_counter() - start)
        values, vectors = np.linalg.eigh(K)
        keep = values > n * np.finfo(float).eps * values.max()
        phi = vectors[:, keep] * np.sqrt(values[keep])
        theirs = []
        for _ in range(repeats):
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                lr = LogisticRegression(C=1 / z, fit_intercept=False, tol=1e-8, max_iter=10000).fit(phi, y)
            theirs.append(time.perf_counter() - start)

        def objective(F, W):
            top = F.max(1, keepdims=True)
            return np.sum(np.log(np.exp(F - top).sum(1)) + top[:, 0] - F[np.arange(n), y]) + z / 2 * np.sum(W * W)

        ours_value = objective(model.train_logits, np.linalg.lstsq(phi, model.train_logits, rcond=None)[0])
        theirs_value = objective(phi @ lr.coef_.T, lr.coef_.T)
        flops = 4 * n**3 + model.n_iter * n * phi.shape[1] ** 2
        t_ours, t_theirs = np.median(ours), np.median(theirs)
        print(f"{n:>6} {t_ours:>9.2f} {t_theirs:>10.2f} {t_theirs / t_ours:>6.1f} {flops / t_ours / 1e9:>8.1f} "
              f"{(theirs_value - ours_value) / abs(ours_value):>19.2e}")
        model.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-diamonds", action="store_true")
    args = parser.parse_args()
    if NTKClassifier is None:
        sys.exit("needs scikit-learn: pip install scikit-learn")
    print_environment(ntk, np, scipy)
    print("times are medians of --repeats runs for section 3, single runs for 1 and 2 (whole fits)")
    small_tables()
    if not args.skip_diamonds:
        diamonds()
    solver_rows(args.sizes, args.repeats)


if __name__ == "__main__":
    main()
