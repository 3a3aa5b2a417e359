"""Benchmark: one epoch of full-batch training (forward, MSE loss, backward, update).

    python3 benchmarks/bench_training.py [--n 4096] [--d 64] [--widths 512 512] [--k 1]

libntk's MLP.train(epochs=1) — which also evaluates the loss after the step, one more forward
pass — against a numpy implementation of the same forward/backward/update (relu, NTK
parameterization, biases) in the same process, checked to give the same parameters. Reported:
best-of times, their ratio, and GFLOP/s of libntk on the GEMM flops of one step plus the extra
forward pass against this run's DGEMM rate.
"""

import argparse

import numpy as np
import scipy

import ntk
from _common import peak_rss_mib, print_environment, timed


def numpy_epoch(params, X, Y, widths, W_std, b_std, lr):
    """One full-batch GD step with the loss (1/N) sum 1/2 (f - y)^2, then the new loss."""
    sizes = [X.shape[1], *widths, Y.shape[1]]
    L = len(sizes) - 1
    Ws, bs = params[0::2], params[1::2]
    hs, masks, h = [], [], X
    for l in range(L):
        hs.append(h)
        z = (W_std / np.sqrt(sizes[l])) * (h @ Ws[l]) + b_std * bs[l]
        if l < L - 1:
            masks.append(z > 0)
            h = np.maximum(z, 0)
    G = (z - Y) / Y.size
    new = [None] * (2 * L)
    for l in range(L - 1, -1, -1):
        a = W_std / np.sqrt(sizes[l])
        gW = a * hs[l].T @ G
        gb = b_std * G.sum(0)
        if l > 0:
            G = (a * G @ Ws[l].T) * masks[l - 1]
        new[2 * l], new[2 * l + 1] = Ws[l] - lr * gW, bs[l] - lr * gb
    h = X
    for l in range(L):
        z = (W_std / np.sqrt(sizes[l])) * (h @ new[2 * l]) + b_std * new[2 * l + 1]
        h = np.maximum(z, 0) if l < L - 1 else z
    return new, 0.5 * np.mean((z - Y) ** 2)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=4096)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--widths", type=int, nargs="+", default=[512, 512])
    p.add_argument("--k", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    print_environment(ntk, np, scipy)
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((args.n, args.d)), rng.standard_normal((args.n, args.k))
    a, b = rng.standard_normal((2048, 2048)), rng.standard_normal((2048, 2048))
    dgemm = 2 * 2048**3 / timed(lambda: a @ b, 3) / 1e9
    W_std, b_std, lr = np.sqrt(2), 0.1, 0.5
    net = ntk.MLP(args.d, args.widths, output_dim=args.k, activation="relu", W_std=W_std, b_std=b_std, seed=0)
    theta0 = net.flat_parameters
    params = net.parameters

    def ours():
        net.set_flat_parameters(theta0)
        return net.train(X, Y, learning_rate=lr, epochs=1, snapshot_epochs=[], diagnose_catapult=False)

    t_ours = timed(ours, args.repeats)
    t_np = timed(lambda: numpy_epoch(params, X, Y, args.widths, W_std, b_std, lr), args.repeats)
    h = ours()
    new, loss = numpy_epoch(params, X, Y, args.widths, W_std, b_std, lr)
    diff = np.max(np.abs(net.flat_parameters - np.concatenate([q.ravel() for q in new])))
    sizes = [args.d, *args.widths, args.k]
    layer_flops = sum(2 * args.n * sizes[l] * sizes[l + 1] for l in range(len(sizes) - 1))
    flops = 4 * layer_flops  # forward + weight gradients + signal gradients (~) + the loss's forward
    print(f"DGEMM rate: {dgemm:.1f} GFLOP/s; n = {args.n}, d = {args.d}, widths = {args.widths}, k = {args.k}\n")
    print(f"{'':<22}{'seconds':>9}{'GFLOP/s':>9}{'% DGEMM':>9}")
    rate = flops / t_ours / 1e9
    print(f"{'libntk one epoch':<22}{t_ours:>9.4f}{rate:>9.1f}{100 * rate / dgemm:>8.0f}%")
    print(f"{'numpy one epoch':<22}{t_np:>9.4f}{flops / t_np / 1e9:>9.1f}{100 * flops / t_np / 1e9 / dgemm:>8.0f}%")
    print(f"\nspeed-up {t_np / t_ours:.2f}x (target >= 2x); max parameter difference {diff:.1e}; "
          f"loss after the step: libntk {h.losses[-1]:.6f}, numpy {loss:.6f}; peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
