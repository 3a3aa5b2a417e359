"""The family of interpolators made visible: networks trained from many seeds against the
infinite-width ensemble's mean and covariance, and how well its predictive variance is calibrated.

    python3 examples/ensemble_study.py [--out ensemble_study_output] [--networks 100]
                                       [--widths 512 512] [--seed 0]

Data: scikit-learn's diabetes set (442 patients, 10 standardised features, standardised
target), split at random into 300 training and 142 test points, as in ntk_study.py. The
architecture is a relu network (NTK parameterization, W_std = sqrt 2, b_std = 0.1).

Gradient flow from a random initialisation gives "a family of interpolators indexed by the
random seed" (eq. 20-21). For infinitely wide networks that family is Gaussian with a closed-form
mean and covariance at every time (ntk.ensemble_gradient_flow). The study samples the family:
--networks linearised networks of the given widths, each from its own seed, trained by gradient
flow on its own empirical NTK from its own outputs (ntk.sampled_ensemble), and compares.

  1_seed_family.png   on a 1-D slice through the data (the bmi feature from -3 to 3 standard
                      deviations, the others at their mean), at four training times: every
                      sampled network's predictions, and the infinite-width mean +- 2 standard
                      deviations;
  2_calibration.png   coverage of central predictive intervals on the test set against their
                      nominal level, for the NNGP posterior (noise variance by marginal
                      likelihood) and the NTK ensemble at t = inf (the same noise added);
  report.txt          the settings, sampled against infinite-width statistics on the slice,
                      coverage of the 68 % and 95 % intervals, and timings.

The default run takes a minute or two on 2 cores. Needs scikit-learn and matplotlib.
"""

import argparse
import os
import time

import numpy as np

import ntk

START = time.perf_counter()


def say(message):
    print(f"[{time.perf_counter() - START:6.1f} s] {message}", flush=True)


def load_data(seed):
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(X))
    train, test = order[:300], order[300:]
    mu, sd = X[train].mean(0), X[train].std(0)
    z = (y - y[train].mean()) / y[train].std()
    return (X[train] - mu) / sd, z[train, None], (X[test] - mu) / sd, z[test, None]


def coverage(mean, var, y, level):
    """Fraction of y inside the central `level` interval of N(mean, var)."""
    from scipy.stats import norm

    half = norm.ppf(0.5 + level / 2) * np.sqrt(np.maximum(var, 0))
    return float(np.mean(np.abs(y - mean) <= half))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="ensemble_study_output")
    parser.add_argument("--networks", type=int, default=100)
    parser.add_argument("--widths", type=int, nargs="+", default=[512, 512])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    X, y, X_test, y_test = load_data(args.seed)
    n = len(X)
    slice_x = np.linspace(-3, 3, 121)
    X_slice = np.zeros((len(slice_x), X.shape[1]))
    X_slice[:, 2] = slice_x                                   # bmi
    net = ntk.MLP(X.shape[1], args.widths, activation="relu", W_std=np.sqrt(2), b_std=0.1, seed=args.seed)
    report = [f"ensemble study: diabetes, {n} train / {len(X_test)} test points, relu {args.widths}, "
              f"{args.networks} linearised networks", ""]

    say("infinite-width kernels")
    K, Theta = ntk.infinite_width_kernels(net, X)
    lam_max = ntk.eigvalsh(Theta)[-1]
    times = np.array([1, 10, 100, np.inf]) * n / lam_max      # eta t in units of N / lambda_max
    K_s, Theta_s = ntk.infinite_width_kernels(net, X_slice, X)
    mean, cov = ntk.ensemble_gradient_flow(K, Theta, y, times, nngp_test_train=K_s, ntk_test_train=Theta_s,
                                           nngp_test=ntk.infinite_width_nngp(net, X_slice))
    std = np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2), 0))

    say(f"sampling {args.networks} linearised networks of widths {args.widths}")
    t0 = time.perf_counter()
    sample = ntk.sampled_ensemble(net, X, y, times, X_test=X_slice, n_networks=args.networks, mode="linearized")
    sample_seconds = time.perf_counter() - t0
    sample_std = np.sqrt(np.diagonal(sample.cov, axis1=1, axis2=2))
    report.append("on the slice, sampled networks against the infinite-width ensemble "
                  "(mean gap in ensemble standard deviations; ratio of standard deviations):")
    for i, t in enumerate(times):
        gap = np.abs(sample.mean[i, :, 0] - mean[i, :, 0]) / np.maximum(std[i], 1e-12)
        ratio = sample_std[i] / np.maximum(std[i], 1e-12)
        report.append(f"  eta t = {t:10.4g}: mean gap median {np.median(gap):.3f} max {gap.max():.3f}; "
                      f"std ratio median {np.median(ratio):.3f} (range {ratio.min():.3f}-{ratio.max():.3f})")
    report.append(f"  ({args.networks} networks in {sample_seconds:.1f} s)")

    say("calibration on the test set")
    K_t, Theta_t = ntk.infinite_width_kernels(net, X_test, X)
    K_tt = ntk.infinite_width_nngp(net, X_test)
    noises = np.geomspace(1e-3, 3, 25)
    lml = [ntk.gp_posterior(K, y, K_t, K_tt, ridge=z)[2] for z in noises]
    noise = float(noises[int(np.argmax(lml))])
    gp_mean, gp_cov, _ = ntk.gp_posterior(K, y, K_t, K_tt, ridge=noise)
    ens_mean, ens_cov = ntk.ensemble_gradient_flow(K, Theta, y, [np.inf], nngp_test_train=K_t, ntk_test_train=Theta_t,
                                                   nngp_test=K_tt, ridge=noise)
    predictors = {
        "NNGP posterior": (gp_mean[:, 0], np.diag(gp_cov) + noise),
        "NTK ensemble, t = inf": (ens_mean[0, :, 0], np.diag(ens_cov[0]) + noise),
    }
    levels = np.linspace(0.05, 0.99, 40)
    report += ["", f"noise variance by marginal likelihood: {noise:.4g}", "test-set coverage of central intervals:"]
    curves = {}
    for name, (m, v) in predictors.items():
        curves[name] = [coverage(m, v, y_test[:, 0], q) for q in levels]
        mse = float(np.mean((m - y_test[:, 0]) ** 2))
        report.append(f"  {name:24s} 68 %: {coverage(m, v, y_test[:, 0], 0.68):.3f}   95 %: "
                      f"{coverage(m, v, y_test[:, 0], 0.95):.3f}   test MSE {mse:.3f}")

    say("plots")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(times), figsize=(4.2 * len(times), 3.8), sharey=True)
    for i, (ax, t) in enumerate(zip(axes, times)):
        for s in range(sample.samples.shape[0]):
            ax.plot(slice_x, sample.samples[s, i, :, 0], color="0.6", lw=0.5, alpha=0.35)
        ax.fill_between(slice_x, mean[i, :, 0] - 2 * std[i], mean[i, :, 0] + 2 * std[i], color="C0", alpha=0.25,
                        label="infinite width: mean ± 2 sd")
        ax.plot(slice_x, mean[i, :, 0], color="C0", lw=2)
        ax.plot(slice_x, sample.mean[i, :, 0], color="C3", lw=1.2, ls="--", label=f"mean of {args.networks} networks")
        ax.set_title("t = ∞" if np.isinf(t) else f"η t = {t:.3g} ({[1, 10, 100][i]} N/λ_max)")
        ax.set_xlabel("bmi (standardised), other features at their mean")
    axes[0].set_ylabel("prediction (standardised target)")
    axes[0].legend(loc="upper left", fontsize=8)
    fig.suptitle(f"The family of interpolators: {args.networks} linearised relu {args.widths} networks from "
                 "their own seeds (grey) and the infinite-width Gaussian")
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "1_seed_family.png"), dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], color="0.5", ls=":", label="perfect calibration")
    for name, curve in curves.items():
        ax.plot(levels, curve, lw=2, label=name)
    ax.set_xlabel("nominal level of the central interval")
    ax.set_ylabel("fraction of test targets inside")
    ax.set_title(f"Calibration on {len(X_test)} test points")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "2_calibration.png"), dpi=110)
    plt.close(fig)

    report.append(f"\ntotal {time.perf_counter() - START:.1f} s")
    with open(os.path.join(args.out, "report.txt"), "w") as f:
        f.write("\n".join(report) + "\n")
    print("\n".join(report))
    say(f"wrote {args.out}/report.txt and two plots")


if __name__ == "__main__":
    main()
