"""The manylinux wheel's bundled BLAS against the system build, same jobs, same machine.

The wheel (scripts/wheel.sh) carries its own OpenBLAS, LAPACKE and Fortran runtime in
libntk.libs/; the system build (scripts/build.sh) links Debian's. Both are timed on the jobs
users run most: a kernel ridge fit of n = 4096 (Cholesky solve of the infinite-width NTK, 10
outputs) and the empirical NTK of a relu [512, 512] MLP at n = 1024, d = 64. Each side runs in
its own process (a worker of this file): the wheel in a fresh virtual environment with the
system's BLAS hidden from the loader (scripts/without_system_blas.sh), the system build from the
repository. Rounds alternate the two sides; the table shows medians over rounds, the ratio
wheel / system (the issue asks for <= 1.10), GFLOP/s, peak memory and the BLAS each loaded.

Usage: python3 benchmarks/bench_wheel.py [--rounds 5] [--wheel dist/libntk-...whl]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
N_RIDGE, K_OUT = 4096, 10
N_NTK, D_NTK, WIDTHS = 1024, 64, [512, 512]


def worker(repeats):
    """Times both jobs in this process (best of ``repeats``) and prints them as JSON."""
    import numpy as np

    import ntk
    from _common import peak_rss_mib, timed

    rng = np.random.default_rng(0)
    X = rng.standard_normal((N_RIDGE, 16))
    net = ntk.MLP(16, [512, 512], activation="relu", W_std=2 ** 0.5, b_std=0.1, seed=0)
    _, theta = ntk.infinite_width_kernels(net, X)
    Y = rng.standard_normal((N_RIDGE, K_OUT))
    X_ntk = rng.standard_normal((N_NTK, D_NTK))
    big = ntk.MLP(D_NTK, WIDTHS, activation="relu", W_std=2 ** 0.5, b_std=0.1, seed=1)
    jobs = {"ridge": lambda: ntk.kernel_ridge(theta, Y, ridge=1e-3), "ntk": lambda: ntk.empirical_ntk(big, X_ntk)}
    times = {name: timed(job, repeats) for name, job in jobs.items()}
    info = ntk.blas_info()
    print(json.dumps({"times": times, "core": info["core"], "library": info["library"], "threads": info["num_threads"],
                      "bundled": info["bundled"], "rss": peak_rss_mib()}))


def wheel_python(wheel):
    """A fresh virtual environment with ``wheel`` installed: its python."""
    venv = Path(tempfile.mkdtemp(prefix="bench_wheel_")) / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    str(wheel)], check=True)
    return venv / "bin" / "python"


def run_side(command, env):
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True, cwd=tempfile.gettempdir())
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per job in each round (best taken)")
    parser.add_argument("--wheel", help="the wheel to test (default: build one with scripts/wheel.sh)")
    args = parser.parse_args()
    wheel = args.wheel or subprocess.run(["bash", str(REPO / "scripts" / "wheel.sh")], check=True,
                                         capture_output=True, text=True).stdout.splitlines()[0]
    system_lib = subprocess.run(["bash", str(REPO / "scripts" / "build.sh")], check=True, capture_output=True,
                                text=True).stdout.strip().splitlines()[-1]
    python = wheel_python(wheel)
    bench_dir = str(REPO / "benchmarks")
    base = {k: v for k, v in os.environ.items() if k not in ("NTK_LIBRARY", "PYTHONPATH", "LD_LIBRARY_PATH")}
    sides = {
        "wheel": (["bash", str(REPO / "scripts" / "without_system_blas.sh"), str(python), __file__, "--worker",
                   str(args.repeats)], {**base, "PYTHONPATH": bench_dir}),
        "system": ([sys.executable, __file__, "--worker", str(args.repeats)],
                   {**base, "NTK_LIBRARY": system_lib, "PYTHONPATH": f"{REPO / 'bindings' / 'python'}:{bench_dir}"}),
    }
    results = {side: [] for side in sides}
    for _ in range(args.rounds):
        for side, (command, env) in sides.items():
            results[side].append(run_side(command, env))
    report(results, Path(wheel))


def report(results, wheel):
    from bench_empirical_ntk import minimal_flops

    flops = {"ridge": N_RIDGE ** 3 / 3 + 2 * N_RIDGE ** 2 * K_OUT,  # Cholesky, two triangular solves
             "ntk": minimal_flops(N_NTK, [D_NTK, *WIDTHS, 1])}
    names = {"ridge": f"kernel ridge n={N_RIDGE}, {K_OUT} outputs",
             "ntk": f"empirical NTK n={N_NTK} d={D_NTK} {WIDTHS}"}
    print(f"wheel: {wheel.name}, {wheel.stat().st_size / 2 ** 20:.1f} MiB")
    for side, runs in results.items():
        r = runs[0]
        print(f"{side:>6}: OpenBLAS {r['core']} ({r['threads']} threads) from {r['library']}")
    print(f"{'job':<42} {'system s':>9} {'wheel s':>9} {'wheel/system':>13} {'GFLOP/s sys':>12} {'GFLOP/s whl':>12}"
          f" {'peak MiB sys/whl':>17}")
    for job in names:
        med = {side: statistics.median(r["times"][job] for r in runs) for side, runs in results.items()}
        rss = "/".join(f"{max(r['rss'] for r in results[s]):.0f}" for s in ("system", "wheel"))
        print(f"{names[job]:<42} {med['system']:>9.3f} {med['wheel']:>9.3f} {med['wheel'] / med['system']:>13.3f} "
              f"{flops[job] / med['system'] / 1e9:>12.1f} {flops[job] / med['wheel'] / 1e9:>12.1f} {rss:>17}")
    print(f"medians of {len(results['system'])} rounds, each the best of its timed runs; rounds alternate the sides")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        worker(int(sys.argv[2]))
    else:
        main()
