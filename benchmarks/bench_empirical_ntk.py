"""Benchmark: the empirical NTK of an MLP, structured (libntk) vs Jacobian contraction.

    python3 benchmarks/bench_empirical_ntk.py [--n 2048] [--d 64] [--widths 512,512 2048,2048]
                                              [--libntk-jacobian-max-params 1000000]

For each network (relu, k = 1, NTK parameterization, symmetric kernel of n inputs):
  structured   libntk ntk.empirical_ntk(method="structured"): per-layer activation Gram times
               signal Gram, samples in blocks within the default 64 MiB feature budget (blocks
               are recomputed when the features of all n samples do not fit), and again with
               memory_limit = 1 GiB (every sample's pass once)
  jacobian     libntk ntk.empirical_ntk(method="jacobian"): explicit Jacobian chunks contracted
               (skipped above --libntk-jacobian-max-params parameters: it costs n^2 P flops)
  numpy        a numpy Jacobian contraction: forward/backward pass, then for each layer the
               Jacobian columns in chunks J (n x c) and K += J J^T; it never holds the n x P
               Jacobian either (that would be 8 n P bytes)
The structured path's GFLOP/s use its own minimal flop count (forward + backward passes + the
Gram matrices, each sample's pass counted once) against this run's DGEMM rate: libntk's own
OpenBLAS in this process (ntk.linalg.gram(A, B) = A B^T at 2048), numpy's printed beside it.
Peak memory is measured in a fresh process per network: the high-water mark of the resident set
(reset through /proc/self/clear_refs just before the call) minus the resident set before it,
output kernel included, to compare with the target 1.5 x output + 64 MiB.

The second table is the peer: neural-tangents 0.6.5 (`_nt_empirical.py`, run by --nt-python,
default ~/.cache/neural-tangents-venv/bin/python as made by shared/tools/neural-tangents-venv.sh;
skipped when absent) on --nt-n points and --nt-widths, on the CPU in float64 and in float32 (nt's
default; libntk's dtype=np.float32), with libntk's parameters: its fastest implementation here
(structured derivatives; --nt-all adds Jacobian contraction and NTK-vector products, tens of
seconds each). libntk's time is the median and the best of --peer-repeats runs (default 11), nt's
the best of two; the ratio nt / libntk uses libntk's median. The difference is the largest of the
first 64 kernel rows relative to the largest entry, against libntk's float64 kernel.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy

import ntk
from _common import median_and_best, print_environment, timed


def numpy_jacobian_ntk(net, X, chunk_bytes=64 << 20):
    """K = J J^T with J = df/dtheta built in column chunks (k = 1, NTK parameterization)."""
    params = net.parameters
    sizes = [net.input_dim, *net.widths, net.output_dim]
    L = len(sizes) - 1
    hs, dphis, h = [], [], X
    for layer in range(L):
        W, b = params[2 * layer], params[2 * layer + 1]
        a = net.W_std / np.sqrt(sizes[layer])
        hs.append(h)
        z = a * h @ W + net.b_std * b
        if layer < L - 1:
            dphis.append((z > 0).astype(float))
            h = np.maximum(z, 0)
    deltas = [None] * L
    deltas[L - 1] = np.ones((len(X), 1))
    for layer in range(L - 1, 0, -1):
        a = net.W_std / np.sqrt(sizes[layer])
        deltas[layer - 1] = (a * deltas[layer] @ params[2 * layer].T) * dphis[layer - 1]
    n = len(X)
    K = np.zeros((n, n))
    for layer in range(L):
        a = net.W_std / np.sqrt(sizes[layer])
        h, delta = hs[layer], deltas[layer]
        fan_out = delta.shape[1]
        units = max(1, chunk_bytes // (8 * n * fan_out))
        for i0 in range(0, h.shape[1], units):
            J = (a * h[:, i0:i0 + units, None] * delta[:, None, :]).reshape(n, -1)
            K += J @ J.T
        J = net.b_std * delta
        K += J @ J.T
    return K


def minimal_flops(n, sizes, k=1):
    """Forward + backward GEMMs once per sample, and the symmetric Grams (n^2 w each)."""
    layers = len(sizes) - 1
    forward = sum(2 * n * sizes[l] * sizes[l + 1] for l in range(layers))
    backward = sum(2 * n * k * sizes[l] * sizes[l + 1] for l in range(1, layers - 1)) + n * k * sizes[layers - 1]
    grams = sum(n * n * sizes[l] for l in range(layers)) + sum(n * n * k * sizes[l + 1] for l in range(layers - 1))
    return forward + backward + grams


CHILD = """
import json, sys, numpy as np, ntk
n, d, widths = int(sys.argv[1]), int(sys.argv[2]), [int(w) for w in sys.argv[3].split(',')]
net = ntk.MLP(d, widths, activation="relu", b_std=0.1, seed=0)
X = np.random.default_rng(0).standard_normal((n, d))
def status(key):
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) for l in f if l.startswith(key)) / 1024
with open('/proc/self/clear_refs', 'w') as f:
    f.write('5')  # resets the high-water mark VmHWM to the current resident set
before = status('VmRSS')
K = ntk.empirical_ntk(net, X)
print(json.dumps({"before": before, "peak": status('VmHWM'), "output": K.nbytes / 2**20}))
"""


def memory_of_call(n, d, widths):
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(d), ",".join(map(str, widths))],
                         capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    return r["peak"] - r["before"], r["output"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2048)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--widths", nargs="+", default=["512,512", "2048,2048"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--libntk-jacobian-max-params", type=int, default=1_000_000)
    p.add_argument("--nt-python", default=str(Path.home() / ".cache/neural-tangents-venv/bin/python"))
    p.add_argument("--nt-n", type=int, default=1024)
    p.add_argument("--nt-widths", default="512,512")
    p.add_argument("--nt-all", action="store_true")
    p.add_argument("--peer-repeats", type=int, default=11)
    p.add_argument("--peer-only", action="store_true", help="only the neural-tangents table")
    args = p.parse_args()
    print_environment(ntk, np, scipy)
    if args.peer_only:
        return peer(args)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2048, 2048)), rng.standard_normal((2048, 2048))
    t_numpy = timed(lambda: a @ b, args.repeats)
    t_gemm = timed(lambda: ntk.linalg.gram(a, b), args.repeats)
    dgemm = 2 * 2048**3 / t_gemm / 1e9
    print(f"DGEMM rate (2048^3): libntk's OpenBLAS {dgemm:.1f} GFLOP/s (the unit of % DGEMM below), numpy's "
          f"{2 * 2048**3 / t_numpy / 1e9:.1f} GFLOP/s\n")

    X = rng.standard_normal((args.n, args.d))
    header = (f"{'widths':<12}{'P':>10}{'structured s':>14}{'GFLOP/s':>9}{'% DGEMM':>9}{'1 GiB limit s':>15}"
              f"{'% DGEMM':>9}{'jacobian s':>12}"
              f"{'numpy s':>10}{'numpy/structured':>18}{'max rel diff':>14}{'extra MiB':>11}{'target MiB':>11}")
    print(header)
    print("-" * len(header))
    for spec in args.widths:
        widths = [int(w) for w in spec.split(",")]
        net = ntk.MLP(args.d, widths, activation="relu", b_std=0.1, seed=0)
        t_struct = timed(lambda: ntk.empirical_ntk(net, X), args.repeats)
        t_roomy = timed(lambda: ntk.empirical_ntk(net, X, memory_limit=1 << 30), args.repeats)
        K = ntk.empirical_ntk(net, X)
        flops = minimal_flops(args.n, [args.d, *widths, 1])
        if net.num_parameters <= args.libntk_jacobian_max_params:
            t0 = time.perf_counter()
            K_jac = ntk.empirical_ntk(net, X, method="jacobian")
            t_jac = f"{time.perf_counter() - t0:12.2f}"
            assert np.max(np.abs(K_jac - K)) < 1e-10 * np.max(np.abs(K))
        else:
            t_jac = f"{'skipped':>12}"
        t0 = time.perf_counter()
        K_np = numpy_jacobian_ntk(net, X)
        t_np = time.perf_counter() - t0
        diff = np.max(np.abs(K_np - K)) / np.max(np.abs(K_np))
        extra, output_mib = memory_of_call(args.n, args.d, widths)
        print(f"{spec:<12}{net.num_parameters:>10}{t_struct:>14.3f}{flops / t_struct / 1e9:>9.1f}"
              f"{100 * flops / t_struct / 1e9 / dgemm:>8.0f}%{t_roomy:>15.3f}"
              f"{100 * flops / t_roomy / 1e9 / dgemm:>8.0f}%{t_jac}{t_np:>10.1f}{t_np / t_struct:>17.0f}x"
              f"{diff:>14.1e}{extra:>11.0f}{1.5 * output_mib + 64:>11.0f}")
        sys.stdout.flush()
    peer(args)


def peer(args):
    """libntk against neural-tangents on the same network, parameters and points, in both precisions."""
    if not os.path.exists(args.nt_python):
        print(f"\n(neural-tangents not found at {args.nt_python}: no peer table)")
        return
    widths = [int(w) for w in args.nt_widths.split(",")]
    net = ntk.MLP(args.d, widths, activation="relu", b_std=0.1, seed=0)
    X = np.random.default_rng(1).standard_normal((args.nt_n, args.d))
    reference = ntk.empirical_ntk(net, X)[:64]
    scale = np.max(np.abs(reference))
    names = ["structured", "jacobian", "ntk_vector_products"] if args.nt_all else ["structured"]
    print(f"\nPeer: neural-tangents 0.6.5, n = {args.nt_n}, d = {args.d}, relu {widths}, the same parameters")
    header = (f"{'implementation':<34}{'dtype':>8}{'median s':>10}{'best s':>9}{'nt / libntk':>13}"
              f"{'f64 / f32':>11}{'max rel diff':>14}")
    print(header)
    print("-" * len(header))
    ours = {}
    for dtype in ("float64", "float32"):
        times = median_and_best(lambda: ntk.empirical_ntk(net, X, dtype=dtype), args.peer_repeats)
        ours[dtype] = times[0]
        diff = np.max(np.abs(ntk.empirical_ntk(net, X, dtype=dtype)[:64] - reference)) / scale
        speedup = f"{ours['float64'] / times[0]:>10.2f}x" if dtype == "float32" else f"{'':>11}"
        print(f"{'libntk structured':<34}{dtype:>8}{times[0]:>10.3f}{times[1]:>9.3f}{'1.0x':>13}{speedup}"
              f"{diff:>14.1e}")
    for dtype in ("float64", "float32"):
        with tempfile.TemporaryDirectory() as tmp:
            np.save(f"{tmp}/x.npy", X)
            params = net.parameters
            np.savez(f"{tmp}/params.npz",
                     **{f"{'W' if i % 2 == 0 else 'b'}{i // 2}": v for i, v in enumerate(params)})
            run = subprocess.run([args.nt_python, str(Path(__file__).with_name("_nt_empirical.py")), f"{tmp}/x.npy",
                                  f"{tmp}/params.npz", tmp, str(net.W_std), str(net.b_std), dtype, *names],
                                 capture_output=True, text=True)
            if run.returncode != 0:
                print("neural-tangents failed:", run.stderr[-2000:])
                return
            for line in run.stdout.splitlines():
                name, seconds = line.split()
                theirs = np.load(f"{tmp}/{name}.npy").reshape(reference.shape)
                diff = np.max(np.abs(theirs - reference)) / scale
                print(f"{'neural-tangents ' + name:<34}{dtype:>8}{'':>10}{float(seconds):>9.3f}"
                      f"{float(seconds) / ours[dtype]:>12.1f}x{'':>11}{diff:>14.1e}")


if __name__ == "__main__":
    main()
