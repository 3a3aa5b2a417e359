"""Images: scikit-learn's digits with infinite-width CNTKs, a PyTorch CNN and the kernels libntk
computes from it.

The infinite-width kernels (``ntk.Network``, ``ntk.infinite_width_ntk``), kernel ridge with the
ridge chosen by leave-one-out: the NTK of a dense network, the CNTK read out by Flatten (no
pooling: diagonal positions only), the CNTK of the CNN's own architecture (2 x 2 pooling, then
Flatten) and the CNTK with global average pooling.

The network: two 3 x 3 convolutions (16 channels, relu), 2 x 2 average pooling and a linear
readout to 10 logits, float64, trained with Adam on cross-entropy. libntk sees it through
``ntk.models.from_torch`` (torch.func's jvp/vjp/jacrev): no Jacobian of the training set is ever
stored; and, converted by ``ntk.Network.from_torch``, as its own network, whose dense
after-kernel is timed against the torch.func one. Compared on the 30 % test split (accuracy):

- the network at initialisation and after training;
- kernel ridge with its tangent kernel at initialisation (the lazy/NTK regime's predictor);
- the after-kernel K_T (the tangent kernel of the trained network): pure kernel ridge on the
  one-hot labels, and boosting the network (f_T(x) + K_T(x, X)(K_T + zI)^-1 (Y - f_T(X))),

each kernel ridge solved matrix-free by conjugate gradients on Jacobian-vector products
(``ntk.EmpiricalNTKRidge``), and checked once against the dense solve on the model's kernel.

Run: ``python3 examples/torch_after_kernel.py [--out DIR] [--epochs N]`` (about 2 minutes on 2
cores). Writes ``DIR/report.md`` and ``DIR/accuracy.png`` (default ``torch_after_kernel_output``).
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import ntk
from ntk import models


def cnn():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(16 * 4 * 4, 10)).double()


def train(net, X, y, epochs, seed):
    """Adam on cross-entropy, minibatches of 64."""
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(epochs):
        for batch in torch.randperm(len(X), generator=generator).split(64):
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(net(Xt[batch]), yt[batch]).backward()
            optimiser.step()
    return net


def kernel_ridge(model, X, Y, X_test, relative_ridge, offsets):
    """Matrix-free kernel ridge through the model's products; (test predictions, seconds, CG iterations)."""
    start = time.perf_counter()
    z = relative_ridge * float(np.mean(ntk.empirical_ntk_diagonal(model, X)))
    f0, f0_test = (model(X), model(X_test)) if offsets else (None, None)
    with ntk.EmpiricalNTKRidge(model, X, Y, z, f0_train=f0, tol=1e-8, preconditioner_rank=256) as ridge:
        pred = ridge.predict(X_test, f0_test=f0_test)
        return pred, time.perf_counter() - start, ridge.iterations


def infinite_width_rows(X, Y, X_test, accuracy):
    """Kernel ridge with infinite-width kernels of four architectures, the ridge by leave-one-out."""
    L = ntk.layers

    def cnn_layers(*readout):
        return [L.Conv(16, (3, 3)), L.Activation("relu"), L.Conv(16, (3, 3)), L.Activation("relu"), *readout,
                L.Dense(10)]

    architectures = {
        "NTK of a dense network (2 relu layers)": [L.Flatten(), L.Dense(16), L.Activation("relu"), L.Dense(16),
                                                   L.Activation("relu"), L.Dense(10)],
        "CNTK, Flatten readout": cnn_layers(L.Flatten()),
        "CNTK, the CNN's 2 x 2 pooling + Flatten": cnn_layers(L.AvgPool((2, 2), strides=(2, 2)), L.Flatten()),
        "CNTK, global average pooling": cnn_layers(L.GlobalAvgPool()),
    }
    X, X_test = np.moveaxis(X, 1, -1), np.moveaxis(X_test, 1, -1)  # libntk's rows are NHWC
    rows = []
    for name, layers in architectures.items():
        net = ntk.Network(layers, input_shape=(8, 8, 1), W_std=2 ** 0.5, b_std=0.1)
        start = time.perf_counter()
        K, K_test = ntk.infinite_width_ntk(net, X), ntk.infinite_width_ntk(net, X_test, X)
        ridges = float(np.mean(np.diag(K))) * np.geomspace(1e-6, 1, 13)
        ridge = ntk.select_ridge(K, Y, ridges, criterion="loo").ridge
        _, pred = ntk.kernel_ridge(K, Y, K_test, ridge=ridge)
        rows.append((f"{name}, infinite width", accuracy(pred), time.perf_counter() - start, ""))
    return rows


def own_network_kernel(net, trained, X, Y, X_test, relative_ridge, accuracy):
    """The dense after-kernel from the converted network against the torch.func model's."""
    own = ntk.Network.from_torch(net, (1, 8, 8))
    start = time.perf_counter()
    K, K_test = ntk.empirical_ntk(own, np.moveaxis(X, 1, -1)), ntk.empirical_ntk(own, np.moveaxis(X_test, 1, -1),
                                                                                  np.moveaxis(X, 1, -1))
    seconds_own = time.perf_counter() - start
    start = time.perf_counter()
    K_torch = ntk.empirical_ntk(trained, X)
    seconds_torch = time.perf_counter() - start
    difference = float(np.max(np.abs(K - K_torch)) / np.max(np.abs(K_torch)))
    _, pred = ntk.kernel_ridge(K, Y, K_test, ridge=relative_ridge * float(np.mean(np.diag(K))))
    row = ("after-kernel ridge, dense kernel of the converted network", accuracy(pred), seconds_own, "")
    return row, seconds_torch, difference


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r[1] > 0.5]  # the untrained network (chance) would flatten the scale
    names, accuracies = [r[0] for r in rows], [r[1] for r in rows]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1))
    colors = ["tab:orange" if "infinite width" in name else "tab:blue" for name in names]
    ax.barh(range(len(rows)), accuracies, color=colors)
    ax.set_yticks(range(len(rows)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(np.floor(100 * min(accuracies)) / 100 - 0.01, 1.0)
    ax.set_title("infinite-width kernels (orange), the CNN and its kernels (blue)", fontsize=9)
    ax.set_xlabel("test accuracy (540 digits)")
    for i, a in enumerate(accuracies):
        ax.text(a, i, f" {a:.3f}", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def dense_check(model, X, Y, X_test, relative_ridge):
    """The largest difference between the matrix-free and the dense solve on the model's kernel."""
    K, K_test = ntk.empirical_ntk(model, X), ntk.empirical_ntk(model, X_test, X)
    z = relative_ridge * float(np.mean(np.diag(K)))
    dense = K_test @ np.linalg.solve(K + z * np.eye(len(K)), Y)
    with ntk.EmpiricalNTKRidge(model, X, Y, z, tol=1e-12, preconditioner_rank=256) as ridge:
        return float(np.max(np.abs(ridge.predict(X_test) - dense)) / np.max(np.abs(dense)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="torch_after_kernel_output")
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    digits = load_digits()
    X = (digits.images / 16.0).reshape(-1, 1, 8, 8)
    X_train, X_test, y_train, y_test = train_test_split(X, digits.target, test_size=0.3, random_state=0,
                                                        stratify=digits.target)
    Y = np.eye(10)[y_train]
    Y -= Y.mean(axis=0)

    def accuracy(scores):
        return float(np.mean(np.argmax(scores, axis=1) == y_test))

    rows = infinite_width_rows(X_train, Y, X_test, accuracy)
    net = cnn()
    initial = models.from_torch(net)
    rows.append(("network at initialisation", accuracy(initial(X_test)), 0.0, ""))
    pred, seconds, iterations = kernel_ridge(initial, X_train, Y, X_test, 1e-3, offsets=False)
    rows.append(("kernel ridge, tangent kernel at initialisation", accuracy(pred), seconds, iterations))
    start = time.perf_counter()
    train(net, X_train, y_train, args.epochs, seed=0)
    trained = models.from_torch(net)
    rows.append((f"trained network (Adam, {args.epochs} epochs)", accuracy(trained(X_test)),
                 time.perf_counter() - start, ""))
    pred, seconds, iterations = kernel_ridge(trained, X_train, Y, X_test, 1e-3, offsets=False)
    rows.append(("after-kernel ridge on the labels", accuracy(pred), seconds, iterations))
    pred, seconds, iterations = kernel_ridge(trained, X_train, Y, X_test, 1e-3, offsets=True)
    rows.append(("after-kernel boosting of the network", accuracy(pred), seconds, iterations))
    own_row, seconds_torch, own_difference = own_network_kernel(net, trained, X_train, Y, X_test, 1e-3, accuracy)
    rows.append(own_row)
    check = dense_check(trained, X_train, Y, X_test, 1e-3)

    lines = [f"# Digits: infinite-width CNTKs, a PyTorch CNN and its kernels ({len(X_train)} training, "
             f"{len(X_test)} test images, P = {trained.n_params} parameters, 10 outputs)", "",
             "| predictor | test accuracy | seconds | CG iterations |", "|---|---|---|---|"]
    lines += [f"| {name} | {acc:.3f} | {sec:.1f} | {it} |" for name, acc, sec, it in rows]
    lines += ["", f"Matrix-free CG against the dense solve on the model's kernel: largest relative difference "
              f"{check:.1e}. Kernel ridge: ridge 1e-3 x the mean diagonal, Nyström preconditioner of rank 256, "
              f"tolerance 1e-8; seconds include the kernel's diagonal and the test predictions.",
              "", f"Infinite width: W_std = sqrt(2), b_std = 0.1, the ridge chosen by leave-one-out among 13 values; "
              f"seconds include both kernels. The dense after-kernel of the network converted by "
              f"ntk.Network.from_torch took {own_row[2]:.1f} s for the train and test kernels; torch.func's "
              f"Jacobians through ntk.models.from_torch took {seconds_torch:.1f} s for the train kernel alone; "
              f"the two train kernels agree to {own_difference:.1e}."]
    report = "\n".join(lines) + "\n"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(report)
    plot(rows, out / "accuracy.png")
    print(report)


if __name__ == "__main__":
    main()
