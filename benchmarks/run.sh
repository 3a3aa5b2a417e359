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
