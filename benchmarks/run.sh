#!/usr/bin/env bash
# Sets up (as the tests do), then runs every benchmark with its defaults. Takes a few minutes.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
source scripts/setup.sh
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore threadpoolctl scikit-learn
echo "== benchmarks/bench_linalg.py"
python3 benchmarks/bench_linalg.py
echo; echo "== benchmarks/bench_solvers.py"
python3 benchmarks/bench_solvers.py
echo; echo "== benchmarks/bench_empirical_ntk.py (several minutes: the numpy baseline costs n^2 P flops)"
python3 benchmarks/bench_empirical_ntk.py
echo; echo "== benchmarks/bench_infinite_width.py"
python3 benchmarks/bench_infinite_width.py
echo; echo "== benchmarks/bench_training.py"
python3 benchmarks/bench_training.py
echo; echo "== benchmarks/bench_sklearn.py"
python3 benchmarks/bench_sklearn.py
echo; echo "== benchmarks/bench_nystrom.py (about 20 minutes: 10^6 points, a dense 30,000-point kernel ridge, neural-tangents at 2 10^5)"
python3 benchmarks/bench_nystrom.py
echo; echo "== benchmarks/bench_empirical_solvers.py (about 15 minutes: PCG at n = 2 10^5)"
python3 benchmarks/bench_empirical_solvers.py
echo; echo "== benchmarks/bench_distributed.py (about 25 minutes: n = 16,000 eigendecompositions, single process, mpirun -np 2 and scipy)"
python3 benchmarks/bench_distributed.py
echo; echo "== benchmarks/bench_models.py (about 20 minutes: JAX and PyTorch recipes side by side, CG at n = 10^5 through a model's products)"
python3 benchmarks/bench_models.py
echo; echo "== benchmarks/bench_wheel.py (a few minutes: builds the manylinux wheel, then it against the system build)"
python3 benchmarks/bench_wheel.py
echo; echo "== benchmarks/bench_blas_spin.py (about 12 minutes: OPENBLAS_THREAD_TIMEOUT 28 against 16, in alternating processes)"
python3 benchmarks/bench_blas_spin.py
