"""After-kernel study on a real dataset (scikit-learn's diabetes regression data).

    python3 examples/after_kernel_study.py [--epochs 3000] [--width 512] [--seed 0]

Needs scikit-learn (`pip install scikit-learn`) for the dataset. Everything else runs in libntk:
a two-hidden-layer relu network is trained by full-batch gradient descent on standardised
targets (MSE), and its test error is compared with kernel predictors (eq. 18-25 of the notes):

  network           the trained network f(x; theta_T)
  linearised NTK    kernel gradient flow with the initial NTK at the same time eta*t (eq. 20)
  initial NTK       kernel regression with the initial NTK, ridge by GCV
  infinite NTK      kernel regression with the infinite-width NTK, ridge by GCV
  after-kernel      kernel regression with K(.,.; theta_T), ridge by GCV (eq. 25)
  boosting          f(x; theta_T) + after-kernel ridge on its residuals (eq. 24)

and the kernel's distance from initialisation is printed over training.
"""

import argparse
import time

import numpy as np

import ntk


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3000)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    X, y = data.data, data.target
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(X))
    train, test = order[:300], order[300:]
    mean, std = X[train].mean(0), X[train].std(0)
    X = (X - mean) / std
    y = ((y - y[train].mean()) / y[train].std())[:, None]
    Xtr, Xte, ytr, yte = X[train], X[test], y[train], y[test]
    n = len(Xtr)

    net = ntk.MLP(X.shape[1], [args.width, args.width], activation="relu", W_std=np.sqrt(2), b_std=0.1, seed=args.seed)
    initial = net.copy()
    K0, K0te = ntk.empirical_ntk(net, Xtr), ntk.empirical_ntk(net, Xte, Xtr)
    f0, f0te = net(Xtr), net(Xte)
    eta = 0.5 * ntk.max_learning_rate(K0, n)
    print(f"diabetes: {n} train / {len(Xte)} test points, {X.shape[1]} features; network {net.widths}, "
          f"{net.num_parameters} parameters; eta = {eta:.3g} (half the critical 2N/lambda_max)")

    t0 = time.perf_counter()
    snapshots = sorted({0, 10, 30, 100, 300, 1000, args.epochs} & set(range(args.epochs + 1)))
    history = net.train(Xtr, ytr, learning_rate=eta, epochs=args.epochs, snapshot_epochs=snapshots,
                        X_probe=Xtr, Y_probe=ytr)
    print(f"trained {history.epochs_run} epochs in {time.perf_counter() - t0:.1f} s; train loss "
          f"{history.losses[0]:.4f} -> {history.losses[-1]:.4f}; regime: {history.regime}\n")
    print("epoch   kernel distance to init   relative change to final   alignment   lambda_max")
    for i, e in enumerate(history.snapshot_epochs):
        print(f"{e:>5}   {history.distance_to_initial[i]:>23.4f}   {history.relative_change_to_final[i]:>24.4f}"
              f"   {history.alignment[i]:>9.4f}   {history.lambda_max[i]:>10.2f}")

    def mse(pred):
        return float(np.mean((pred - yte) ** 2))

    ridges = np.geomspace(1e-6, 1e2, 33)
    rows = [("network", mse(net(Xte)))]
    _, lin = ntk.gradient_flow(K0, ytr, [float(args.epochs)], K0te, learning_rate=eta, f0_train=f0, f0_test=f0te)
    rows.append(("linearised NTK (same eta t)", mse(lin[0])))
    z0, _ = ntk.select_ridge(K0, ytr, ridges * np.trace(K0) / n)
    rows.append(("initial NTK, ridge by GCV", mse(ntk.kernel_ridge(K0, ytr, K0te, ridge=z0)[1])))
    inf_tr, inf_te = ntk.infinite_width_ntk(initial, Xtr), ntk.infinite_width_ntk(initial, Xte, Xtr)
    zi, _ = ntk.select_ridge(inf_tr, ytr, ridges * np.trace(inf_tr) / n)
    rows.append(("infinite-width NTK, ridge by GCV", mse(ntk.kernel_ridge(inf_tr, ytr, inf_te, ridge=zi)[1])))
    after = ntk.after_kernel_predictions(net, Xtr, ytr, Xte)
    rows.append(("after-kernel (eq. 25), GCV", mse(after["kernel"])))
    rows.append(("boosting (eq. 24), GCV", mse(after["boosting"])))
    _, _, gap = ntk.linearization_gap(initial, net, Xtr, ytr, Xte, eta, args.epochs)

    print(f"\n{'predictor':<34}{'test MSE':>10}   (standardised targets: predicting 0 scores {mse(0 * yte):.3f})")
    for name, value in rows:
        print(f"{name:<34}{value:>10.4f}")
    print(f"\nnetwork vs linearised model: relative gap {gap:.3f}")


if __name__ == "__main__":
    main()
