"""Benchmark: infinite-width NNGP + NTK of convolutional networks, libntk vs neural-tangents.

    python3 benchmarks/bench_cnn_kernels.py [--n 128] [--n-large 64] [--nt-batch 16] [--nt-python PATH]
                                            [--single-only | --empirical-only]

Networks (`_cnn_cases.py`): two 32-channel 3 x 3 SAME convolutions with relu on random
16 x 16 x 3 images, read out by global average pooling (the CNTK-GAP of Arora et al.: every pair
of positions, 65,536 per pair of images) or by Flatten (the diagonal positions only); and the
GAP network on 32 x 32 x 3 images (10^6 position pairs per pair of images), where neural-tangents'
default (`kernel_fn` on all pairs at once) needs n^2 x 10^6 x 8 bytes per kernel tensor.
Symmetric n x n kernels, float64, this machine's 2 cores. The second table: the empirical NTK
(mean over 10 outputs) of a finite 16-channel version at neural-tangents' initial parameters,
libntk's blocked Jacobian contraction against nt's structured derivatives (`empirical_ntk_fn`,
implementation 3, jitted), at --n-empirical points. The third: the 16 x 16 CNTKs in single
precision (`dtype=np.float32`) against float64 on the same rounded images, time and the largest
difference over the largest entry.

neural-tangents 0.6.5 runs in its own virtualenv (`_nt_cnn.py`; --nt-python, default
~/.cache/neural-tangents-venv/bin/python as made by shared/tools/neural-tangents-venv.sh;
skipped when absent), batched with `nt.batch(batch_size=--nt-batch)` for the 16 x 16 cases and
unbatched (its default) for the 32 x 32 one, under an address-space limit (--nt-limit-gib) so
that running out of memory fails instead of swapping. "max rel diff" compares the kernels off
the diagonal and on it (nt's relu has a ~1e-9 error at correlation 1, which libntk evaluates
exactly). Entries per second count all n^2 entries for both libraries (libntk computes each
symmetric pair once).
"""

import argparse
import os
import resource
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import scipy

import ntk
from _cnn_cases import CASES, ntk_network
from _common import peak_rss_mib, print_environment, timed


def nt_side(args, case, X, batch, tmp):
    """(seconds, peak MiB, kernels) of neural-tangents, or (None, message, None)."""
    if not os.path.exists(args.nt_python):
        return None, "not installed", None
    x_path, out_path = os.path.join(tmp, "x.npy"), os.path.join(tmp, "k.npz")
    np.save(x_path, X)
    limit = int(args.nt_limit_gib * 2**30)

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    run = subprocess.run([args.nt_python, str(Path(__file__).with_name("_nt_cnn.py")), x_path, out_path, case,
                          str(batch), str(args.nt_repeats)], capture_output=True, text=True, preexec_fn=cap,
                         cwd=str(Path(__file__).parent), env={**os.environ, "JAX_PLATFORMS": "cpu"})
    lines = dict(line.split(" ", 1) for line in run.stdout.splitlines() if " " in line)
    if "seconds" not in lines:
        reason = lines.get("failed:", "") or (run.stderr.strip().splitlines() or ["no output"])[-1][:120]
        return None, f"failed ({reason[:90]})", None
    kernels = np.load(out_path)
    result = (kernels["ntk"], kernels["theta"]) if batch == "empirical" else (kernels["nngp"], kernels["ntk"])
    return float(lines["seconds"]), float(lines["peak_mib"]), result


def differences(ours, theirs):
    off = ~np.eye(ours.shape[0], dtype=bool)
    scale = np.max(np.abs(theirs))
    diagonal = np.max(np.abs(np.diag(ours) - np.diag(theirs)) / np.abs(np.diag(theirs)))
    return np.max(np.abs(ours - theirs)[off]) / scale, diagonal


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=128)
    p.add_argument("--n-large", type=int, default=64)
    p.add_argument("--n-empirical", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--nt-repeats", type=int, default=1)
    p.add_argument("--nt-batch", type=int, default=16)
    p.add_argument("--nt-limit-gib", type=float, default=16)
    p.add_argument("--nt-python", default=str(Path.home() / ".cache/neural-tangents-venv/bin/python"))
    p.add_argument("--single-only", action="store_true", help="only the single-precision table")
    p.add_argument("--empirical-only", action="store_true", help="only the empirical NTK table")
    args = p.parse_args()
    print_environment(ntk, np, scipy)
    rng = np.random.default_rng(0)
    if args.single_only:
        return single_precision_table(args, rng)
    if args.empirical_only:
        with tempfile.TemporaryDirectory() as tmp:
            return empirical_table(args, rng, tmp)
    print(f"\n{'case':>16} {'n':>4} {'libntk s':>9} {'entries/s':>10} {'peak MiB':>9} {'nt s':>8} {'entries/s':>10} "
          f"{'peak MiB':>9} {'ratio':>6} {'rel diff off-diag / diag':>26}")
    with tempfile.TemporaryDirectory() as tmp:
        for case, n, batch in (("cntk-gap-16", args.n, args.nt_batch), ("cntk-flatten-16", args.n, args.nt_batch),
                               ("cntk-gap-32", args.n_large, 0)):
            shape, _ = CASES[case]
            X = rng.standard_normal((n, *shape))
            net = ntk_network(case)
            result = {}

            def ours(net=net, X=X, result=result):
                result["k"] = ntk.infinite_width_kernels(net, X)

            seconds = timed(ours, args.repeats)
            peak = peak_rss_mib()
            nt_seconds, nt_peak, nt_kernels = nt_side(args, case, X, batch, tmp)
            row = f"{case:>16} {n:>4} {seconds:>9.3f} {n * n / seconds:>10.0f} {peak:>9.0f} "
            if nt_seconds is None:
                print(row + f"  neural-tangents: {nt_peak}")
                continue
            off = max(differences(result["k"][0], nt_kernels[0])[0], differences(result["k"][1], nt_kernels[1])[0])
            diag = max(differences(result["k"][0], nt_kernels[0])[1], differences(result["k"][1], nt_kernels[1])[1])
            print(row + f"{nt_seconds:>8.2f} {n * n / nt_seconds:>10.0f} {nt_peak:>9.0f} {nt_seconds / seconds:>6.1f} "
                  f"{off:>13.1e} / {diag:.1e}")
        empirical_table(args, rng, tmp)
    single_precision_table(args, rng)


def single_precision_table(args, rng):
    print(f"\nSingle precision, n = {args.n}: float32 against float64 on the same float32 images")
    print(f"{'case':>16} {'float64 s':>10} {'float32 s':>10} {'f64 / f32':>10} {'f32 entries/s':>14} "
          f"{'max diff / max':>15}")
    for case in ("cntk-gap-16", "cntk-flatten-16"):
        shape, _ = CASES[case]
        X32 = rng.standard_normal((args.n, *shape)).astype(np.float32)
        X64 = X32.astype(np.float64)
        net = ntk_network(case)
        t64 = timed(lambda: ntk.infinite_width_kernels(net, X64), args.repeats)
        t32 = timed(lambda: ntk.infinite_width_kernels(net, X32, dtype=np.float32), args.repeats)
        want = ntk.infinite_width_kernels(net, X64)
        got = ntk.infinite_width_kernels(net, X32, dtype=np.float32)
        diff = max(np.max(np.abs(g.astype(np.float64) - w)) / np.max(np.abs(w)) for g, w in zip(got, want))
        print(f"{case:>16} {t64:>10.3f} {t32:>10.3f} {t64 / t32:>9.2f}x {args.n ** 2 / t32:>14.0f} {diff:>15.1e}")


def empirical_table(args, rng, tmp):
    case, n = "cnn-16x16-k10", args.n_empirical
    shape, _ = CASES[case]
    X = rng.standard_normal((n, *shape))
    net = ntk_network(case)
    print(f"\nempirical NTK, {case} ({net.num_parameters} parameters), n = {n}, mean over {net.output_dim} outputs")
    nt_seconds, nt_peak, nt_result = nt_side(args, case, X, "empirical", tmp)
    if nt_seconds is not None:
        net.set_flat_parameters(nt_result[1])  # nt's initial parameters, flattened in the same layout
    result = {}

    def ours():
        result["k"] = ntk.empirical_ntk(net, X)

    seconds = timed(ours, args.repeats)
    print(f"{'libntk s':>9} {'peak MiB':>9} {'nt s':>8} {'peak MiB':>9} {'ratio':>6} {'max rel diff':>13}")
    if nt_seconds is None:
        print(f"{seconds:>9.3f} {peak_rss_mib():>9.0f}  neural-tangents: {nt_peak}")
        return
    diff = np.max(np.abs(result["k"] - nt_result[0])) / np.max(np.abs(nt_result[0]))
    print(f"{seconds:>9.3f} {peak_rss_mib():>9.0f} {nt_seconds:>8.3f} {nt_peak:>9.0f} {nt_seconds / seconds:>6.1f} "
          f"{diff:>13.1e}")


if __name__ == "__main__":
    main()
