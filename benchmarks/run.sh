#!/usr/bin/env bash
# Sets up (as the tests do), then runs every benchmark. Extra arguments go to each benchmark.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
source scripts/setup.sh
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore threadpoolctl
python3 benchmarks/bench_linalg.py "$@"
