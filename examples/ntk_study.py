"""The NTK study: a network trained on a real dataset, against what its tangent kernels predict.

    python3 examples/ntk_study.py [--out ntk_study_output] [--epochs 3000] [--widths 512 512]
                                  [--compare-widths 32 128] [--seed 0] [--large]

Data: scikit-learn's diabetes set (442 patients, 10 standardised features, disease progression
after one year as the target, standardised), split at random into 300 training and 142 test
points. Everything numerical runs in libntk (``import ntk``); matplotlib draws.

A relu network (NTK parameterization, W_std = sqrt 2, b_std = 0.1) is trained by full-batch
gradient descent on the MSE loss (1/N) sum 1/2 (f - y)^2 at half its critical learning rate
2N/lambda_max. Along the way the study records the network's test error and its empirical NTK,
and compares them with the kernel predictions of the lecture notes:

  1_training_dynamics.png     test (and train) error against eta*t: the trained network, the
                              gradient-flow solution with its initial NTK from the same start
                              (eq. 18, 20), and with the infinite-width NTK from f = 0;
  2_spectrum_and_filters.png  eigenvalues of the initial, infinite-width and after-training
                              NTKs, and the shrinkage of ridge against early stopping (eq. 22);
  3_kernel_movement.png       distance of the empirical NTK from its initial value during
                              training, for the main width and narrower ones (lazy regime);
  4_predictors.png            test error of the trained network, the initial NTK, the
                              infinite-width NTK, the after-kernel (eq. 25) and boosting (eq. 24);
  report.txt                  the settings, the numbers behind every plot, and timings.

The default run takes about a minute on 2 cores; --large trains wider networks for longer.
Needs scikit-learn and matplotlib (``pip install scikit-learn matplotlib``).
"""

import argparse
import os
import sys
import time

import numpy as np

import ntk

START = time.perf_counter()


def say(message):
    print(f"[{time.perf_counter() - START:6.1f} s] {message}", flush=True)


def mse(prediction, target):
    return float(np.mean((np.asarray(prediction).reshape(target.shape) - target) ** 2))


def checkpoints(epochs, count=40):
    """0, then about `count` epochs spread evenly on a log scale up to `epochs`."""
    steps = np.unique(np.geomspace(1, max(epochs, 1), count).round().astype(int)).tolist()
    return sorted({0, *steps} & set(range(epochs + 1)))


def load_data(seed, n_train):
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(X))
    train, test = order[:n_train], order[n_train:]
    mean, std = X[train].mean(0), X[train].std(0)
    X = (X - mean) / std
    y = ((y - y[train].mean()) / y[train].std())[:, None]
    return X[train], y[train], X[test], y[test]


def make_net(d, widths, seed):
    return ntk.MLP(d, widths, activation="relu", W_std=np.sqrt(2.0), b_std=0.1, seed=seed)


def train_and_watch(net, X, y, X_test, y_test, eta, epochs, label, record_outputs=True):
    """Full-batch GD in chunks between checkpoints (GD has no state beyond the parameters, so
    the chunks are the same run), recording errors and the kernel's distance from K_0."""
    marks = checkpoints(epochs)
    K0 = ntk.empirical_ntk(net, X)
    rec = {"epoch": [], "train": [], "test": [], "distance": [], "relative_change": []}
    done, next_report = 0, 0.1
    for mark in marks:
        if mark > done:
            h = net.train(X, y, learning_rate=eta, epochs=mark - done, snapshot_epochs=[], diagnose_catapult=False)
            if h.diverged:
                raise RuntimeError(f"{label}: training diverged at epoch {done + h.epochs_run}; lower the learning "
                                   f"rate")
            done = mark
        K = ntk.empirical_ntk(net, X)
        rec["epoch"].append(mark)
        rec["distance"].append(ntk.kernel_distance(K0, K))
        rec["relative_change"].append(np.linalg.norm(K - K0) / np.linalg.norm(K0))
        if record_outputs:
            rec["train"].append(mse(net(X), y))
            rec["test"].append(mse(net(X_test), y_test))
        if epochs and mark / epochs >= next_report:
            say(f"  training {label}: {100 * mark / epochs:3.0f} % (epoch {mark}/{epochs})")
            next_report = mark / epochs + 0.1
    return {key: np.array(value) for key, value in rec.items()}, K0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="ntk_study_output", help="output folder (created if missing)")
    p.add_argument("--epochs", type=int, default=3000, help="gradient-descent steps (default 3000)")
    p.add_argument("--widths", type=int, nargs="+", default=[512, 512], help="hidden widths (default 512 512)")
    p.add_argument("--compare-widths", type=int, nargs="*", default=[32, 128],
                   help="narrower hidden widths (same depth) whose kernel movement is compared")
    p.add_argument("--fraction", type=float, default=0.5, help="learning rate as a fraction of 2N/lambda_max")
    p.add_argument("--n-train", type=int, default=300, help="training points (the rest of the 442 are test)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--large", action="store_true", help="widths 2048 2048, 10000 epochs (about 15 minutes)")
    args = p.parse_args(argv)
    if args.large:
        args.widths, args.epochs = [2048, 2048], 10000
    if not 0 < args.fraction < 1:
        p.error("--fraction must be in (0, 1): at or beyond 1 gradient descent leaves the stable range")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(args.out, exist_ok=True)
    blas = ntk.blas_info()
    say(f"libntk {ntk.version()}, OpenBLAS core {blas['core']}, {blas['num_threads']} threads; output in {args.out}/")
    timings = {}

    # -- data, network, initial kernels --------------------------------------------------
    Xtr, ytr, Xte, yte = load_data(args.seed, args.n_train)
    n, d = Xtr.shape
    N = ytr.size
    depth = len(args.widths)
    net = make_net(d, args.widths, args.seed)
    f0, f0_test = net(Xtr), net(Xte)
    t = time.perf_counter()
    K0, K0_test = ntk.empirical_ntk(net, Xtr), ntk.empirical_ntk(net, Xte, Xtr)
    Kinf, Kinf_test = ntk.infinite_width_ntk(net, Xtr), ntk.infinite_width_ntk(net, Xte, Xtr)
    timings["initial and infinite-width kernels"] = time.perf_counter() - t
    eta_critical = ntk.max_learning_rate(K0, N)
    eta = args.fraction * eta_critical
    say(f"diabetes: {n} train / {len(Xte)} test points, {d} features; network {args.widths}, "
        f"{net.num_parameters} parameters; eta = {eta:.4g} ({args.fraction:g} x critical {eta_critical:.4g})")

    # -- training the main network, and the narrower ones for the movement plot -----------
    t = time.perf_counter()
    record, _ = train_and_watch(net, Xtr, ytr, Xte, yte, eta, args.epochs, str(args.widths))
    timings[f"training {args.widths} ({args.epochs} epochs, with checkpoints)"] = time.perf_counter() - t
    movement = {args.widths[0]: record}
    for width in args.compare_widths:
        small = make_net(d, [width] * depth, args.seed)
        rate = args.fraction * ntk.max_learning_rate(ntk.empirical_ntk(small, Xtr), N)
        t = time.perf_counter()
        movement[width], _ = train_and_watch(small, Xtr, ytr, Xte, yte, rate, args.epochs, str([width] * depth),
                                             record_outputs=False)
        timings[f"training {[width] * depth}"] = time.perf_counter() - t

    # -- what the kernels predict --------------------------------------------------------
    t = time.perf_counter()
    times = record["epoch"].astype(float)
    lin_train, lin_test = ntk.gradient_flow(K0, ytr, times, K0_test, learning_rate=eta, f0_train=f0, f0_test=f0_test)
    inf_train, inf_test = ntk.gradient_flow(Kinf, ytr, times, Kinf_test, learning_rate=eta)
    flow = {"linearised": ([mse(a, ytr) for a in lin_train], [mse(a, yte) for a in lin_test]),
            "infinite": ([mse(a, ytr) for a in inf_train], [mse(a, yte) for a in inf_test])}

    from ntk.sklearn import NTKRegressor

    ridges = np.geomspace(1e-6, 1e2, 33)
    KT = ntk.empirical_ntk(net, Xtr)  # the after-kernel, for its spectrum
    z0 = ntk.select_ridge(K0, ytr, ridges * np.trace(K0) / n).ridge
    after = ntk.after_kernel_predictions(net, Xtr, ytr, Xte)
    infinite = NTKRegressor(kernel="infinite", widths=tuple(args.widths), ridge="gcv", ridges=ridges).fit(Xtr, ytr)
    rows = [
        ("trained network f(x; theta_T)", mse(net(Xte), yte)),
        (f"linearised network (initial NTK flow, t = {args.epochs})", mse(lin_test[-1], yte)),
        ("initial NTK, kernel ridge (GCV)", mse(ntk.kernel_ridge(K0, ytr, K0_test, ridge=z0)[1], yte)),
        ("infinite-width NTK, kernel ridge (GCV)", mse(infinite.predict(Xte), yte)),
        ("after-kernel, kernel ridge (eq. 25, GCV)", mse(after["kernel"], yte)),
        ("boosting the network (eq. 24, GCV)", mse(after["boosting"], yte)),
        ("predicting the training mean", mse(np.zeros_like(yte), yte)),
    ]
    timings["kernel predictions"] = time.perf_counter() - t

    # -- spectra and filters -------------------------------------------------------------
    spectra = {"initial NTK": np.linalg.eigvalsh(K0)[::-1], "after-kernel": np.linalg.eigvalsh(KT)[::-1],
               "infinite-width NTK": np.linalg.eigvalsh(Kinf)[::-1]}
    spectra = {name: np.clip(w, 0, None) for name, w in spectra.items()}
    filter_times = [t for t in (10, 100, 1000, 10000) if t <= max(args.epochs, 10)]
    with ntk.SpectralSolver(K0) as solver:
        lam = solver.eigenvalues
        early = solver.filters(times=filter_times, learning_rate=eta, n_targets=N)
        matched = [N / (eta * s) for s in filter_times]  # ridge z = N/(eta t): the same cut-off scale
        ridge = solver.filters(ridges=matched)

    # -- plots ---------------------------------------------------------------------------
    say("drawing the plots")
    plt.rcParams.update({"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3, "font.size": 10})
    later = record["epoch"] > 0  # log axes: t = 0 is in the report
    eta_t = record["epoch"][later] * eta
    files = []

    fig, ax = plt.subplots(figsize=(8, 5))
    ax.plot(eta_t, record["test"][later], "o-", color="C0", ms=3, label="trained network: test")
    ax.plot(eta_t, record["train"][later], "o--", color="C0", ms=3, alpha=0.6, label="trained network: train")
    for key, color, name in (("linearised", "C1", "initial-NTK gradient flow (eq. 20)"),
                             ("infinite", "C2", "infinite-width NTK flow from f = 0")):
        ax.plot(eta_t, np.array(flow[key][1])[later], "-", color=color, label=f"{name}: test")
        ax.plot(eta_t, np.array(flow[key][0])[later], "--", color=color, alpha=0.6, label=f"{name}: train")
    ax.set(xscale="log", yscale="log", xlabel=r"training time $\eta\, t$ (learning rate $\times$ steps)",
           ylabel="mean squared error (standardised targets)",
           title=f"Network {args.widths} vs its tangent-kernel dynamics (diabetes, n = {n})")
    ax.legend(fontsize=8)
    files.append(os.path.join(args.out, "1_training_dynamics.png"))
    fig.tight_layout()
    fig.savefig(files[-1])
    plt.close(fig)

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, w in spectra.items():
        positive = w > w[0] * 1e-14
        left.plot(np.arange(1, len(w) + 1)[positive], w[positive], label=name)
    left.set(xscale="log", yscale="log", xlabel="index i", ylabel=r"eigenvalue $\lambda_i$",
             title="Kernel spectra on the training set")
    left.legend(fontsize=8)
    active = lam > solver.cutoff  # the null space has no filter
    for i, s in enumerate(filter_times):
        right.plot(lam[active], early["shrinkage"][i][active], "-", color=f"C{i}",
                   label=f"early stopping t = {s} (dof {early['dof'][i]:.0f})")
        right.plot(lam[active], ridge["shrinkage"][i][active], "--", color=f"C{i}",
                   label=f"ridge z = N/(eta t) = {matched[i]:.3g} (dof {ridge['dof'][i]:.0f})")
    right.set(xscale="log", xlabel=r"eigenvalue $\lambda$ of the initial NTK",
              ylabel=r"shrinkage $\lambda\, g(\lambda)$",
              title=r"Ridge $\lambda/(\lambda+z)$ vs early stopping $1-e^{-\eta t\lambda/N}$ (eq. 22)")
    right.legend(fontsize=7)
    fig.tight_layout()
    files.append(os.path.join(args.out, "2_spectrum_and_filters.png"))
    fig.savefig(files[-1])
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (width, rec) in enumerate(sorted(movement.items())):
        ax.plot(rec["epoch"][1:], rec["distance"][1:], "o-", ms=3, color=f"C{i}",
                label=f"widths {[width] * depth}")
    ax.set(xscale="log", yscale="log", xlabel="epoch (gradient-descent step)",
           ylabel=r"kernel distance $1 - \langle K_0, K_t\rangle / (\|K_0\|\,\|K_t\|)$",
           title="How far the empirical NTK moves during training (wider: lazier)")
    ax.legend()
    fig.tight_layout()
    files.append(os.path.join(args.out, "3_kernel_movement.png"))
    fig.savefig(files[-1])
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 4.5))
    names, values = [r[0] for r in rows], [r[1] for r in rows]
    bars = ax.barh(range(len(rows)), values, color=[f"C{i}" for i in range(len(rows))])
    ax.set_yticks(range(len(rows)), names)
    ax.invert_yaxis()
    for bar, value in zip(bars, values):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {value:.3f}", va="center", fontsize=9)
    ax.set(xlabel="test mean squared error (standardised targets; lower is better)",
           title=f"Predictors on the diabetes test set ({len(Xte)} points)", xlim=(0, max(values) * 1.2))
    fig.tight_layout()
    files.append(os.path.join(args.out, "4_predictors.png"))
    fig.savefig(files[-1])
    plt.close(fig)

    # -- report --------------------------------------------------------------------------
    lines = [
        "NTK study on scikit-learn's diabetes data, computed with libntk",
        "=" * 64,
        f"libntk {ntk.version()}; OpenBLAS core {blas['core']}, {blas['num_threads']} threads",
        f"data: {n} training / {len(Xte)} test points, {d} standardised features; targets standardised",
        f"network: {d} -> {args.widths} -> 1, relu, NTK parameterization, W_std = sqrt(2), b_std = 0.1, "
        f"seed {args.seed}, {net.num_parameters} parameters",
        f"training: full-batch gradient descent, MSE (1/N) sum 1/2 (f - y)^2, {args.epochs} steps, "
        f"eta = {eta:.4g} = {args.fraction:g} x 2N/lambda_max (lambda_max of K_0 = {2 * N / eta_critical:.4g})",
        f"train MSE {record['train'][0]:.4f} -> {record['train'][-1]:.4f}; "
        f"lambda_max of the NTK {2 * N / eta_critical:.4g} -> {spectra['after-kernel'][0]:.4g}",
        "",
        "Test error by predictor (plot 4)",
        f"  {'predictor':<58}{'test MSE':>9}{'R^2':>8}",
    ]
    variance = mse(np.zeros_like(yte), yte)
    lines += [f"  {name:<58}{value:>9.4f}{1 - value / variance:>8.3f}" for name, value in rows]
    lines += [f"  (ridges chosen by GCV: initial NTK z = {z0:.3g}, infinite-width z = {infinite.ridge_:.3g}, "
              f"after-kernel z = {after['ridge_kernel']:.3g}, boosting z = {after['ridge_boosting']:.3g})", ""]
    lines += ["Training dynamics (plot 1): test MSE at eta*t",
              f"  {'epoch':>7}{'eta*t':>10}{'network':>10}{'init NTK flow':>15}{'inf NTK flow':>14}"]
    for i in np.unique(np.linspace(0, len(record["epoch"]) - 1, 12).round().astype(int)):
        lines.append(f"  {record['epoch'][i]:>7}{record['epoch'][i] * eta:>10.3g}{record['test'][i]:>10.4f}"
                     f"{flow['linearised'][1][i]:>15.4f}{flow['infinite'][1][i]:>14.4f}")
    best = int(np.argmin(record["test"]))
    gap = np.abs(record["test"] - np.array(flow["linearised"][1]))
    settled = record["epoch"] >= 10  # the first large discrete steps differ most from the flow
    lines += [f"  best network test MSE {record['test'][best]:.4f} at epoch {record['epoch'][best]}; "
              f"best initial-NTK flow {min(flow['linearised'][1]):.4f}",
              f"  largest gap between the network's and the initial-NTK flow's test MSE: {gap.max():.4f} "
              f"(at epoch {record['epoch'][int(np.argmax(gap))]}); from epoch 10 on: "
              f"{gap[settled].max() if settled.any() else float('nan'):.4f}", ""]
    lines += ["Kernel movement (plot 3): distance of K_t from K_0 at the end of training"]
    for width, rec in sorted(movement.items()):
        lines.append(f"  widths {str([width] * depth):<14} distance {rec['distance'][-1]:.3g}, "
                     f"relative Frobenius change {rec['relative_change'][-1]:.3g}")
    lines += ["", "Spectrum and filters (plot 2): effective degrees of freedom of the initial NTK"]
    for i, s in enumerate(filter_times):
        lines.append(f"  early stopping at t = {s:<6} dof {early['dof'][i]:7.1f}   "
                     f"ridge z = N/(eta t) = {matched[i]:<9.3g} dof {ridge['dof'][i]:7.1f}")
    lines += ["", "Timings"] + [f"  {name:<58}{seconds:7.1f} s" for name, seconds in timings.items()]
    lines += [f"  {'total':<58}{time.perf_counter() - START:7.1f} s", "",
              "Files: " + ", ".join(os.path.basename(f) for f in files)]
    report = os.path.join(args.out, "report.txt")
    with open(report, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines[8:8 + len(rows) + 3]))
    say(f"wrote {report} and {len(files)} plots")
    return 0


if __name__ == "__main__":
    sys.exit(main())
