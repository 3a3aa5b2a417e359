#!/usr/bin/env bash
# Sets everything up, then runs the main job: the NTK study on scikit-learn's diabetes data
# (examples/ntk_study.py: report + 4 plots in ntk_study_output/, about a minute on 2 cores), the
# family of interpolators over seeds (examples/ensemble_study.py: report + 2 plots in
# ensemble_study_output/, about 15 s), Nyström and the matrix-free empirical NTK on 53,940 diamonds
# (examples/diamonds_large_scale.py: report + plot in diamonds_output/, about 1.5 min), the tuned
# NTK against least squares and gradient boosting (examples/diamonds_tuned.py: report in
# diamonds_tuned_output/, about 3 min), images: infinite-width CNTKs and a PyTorch CNN on digits
# with its after-kernel (examples/torch_after_kernel.py: report + plot in
# torch_after_kernel_output/, about 4 minutes), the same
# table over two MPI ranks (examples/distributed_ridge.py under mpirun -np 2, about 1.5 min), and
# the C example (examples/ntk_ridge.c: an empirical NTK and a kernel ridge prediction).
# Arguments are passed to the study, e.g. `bash scripts/demo.sh --large` or `--out DIR`.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
source scripts/setup.sh

echo; echo "== The NTK study (examples/ntk_study.py)"
python3 examples/ntk_study.py "$@"

echo; echo "== The family of interpolators (examples/ensemble_study.py)"
python3 examples/ensemble_study.py

echo; echo "== Past the dense ceiling: 53,940 diamonds (examples/diamonds_large_scale.py)"
python3 examples/diamonds_large_scale.py

echo; echo "== Kernels fitted to the data: the tuned NTK against gradient boosting (examples/diamonds_tuned.py)"
python3 examples/diamonds_tuned.py

echo; echo "== Images: CNTKs, a PyTorch CNN on digits and its kernels (examples/torch_after_kernel.py)"
python3 examples/torch_after_kernel.py

echo; echo "== Over MPI ranks: the diamonds on 2 ranks (examples/distributed_ridge.py, mpirun -np 2)"
OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
    mpirun --oversubscribe -np 2 python3 examples/distributed_ridge.py

echo; echo "== C example (examples/ntk_ridge.c, built with the compile line of docs/c-api.md)"
mkdir -p .build/examples
gcc -std=c99 -Iinclude examples/ntk_ridge.c -L.build/release -lntk -Wl,-rpath,"$PWD/.build/release" -lm \
    -o .build/examples/ntk_ridge
# Debian's OpenBLAS may not recognise recent AVX-512 CPUs: name the kernels there (elsewhere its
# own choice stands; an empty OPENBLAS_CORETYPE would override it).
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi
# OpenBLAS's idle threads spin ~0.1 s after each call by default; libntk's own threaded loops run
# between its BLAS calls, so a short spin is faster (docs/c-api.md; the Python package sets it).
export OPENBLAS_THREAD_TIMEOUT="${OPENBLAS_THREAD_TIMEOUT:-16}"
.build/examples/ntk_ridge
