#!/usr/bin/env bash
# Sets up everything libntk needs on a fresh Debian machine with the Swift toolchain:
# OpenBLAS + LAPACKE (and for the tests and installs: gcc, valgrind, cmake, pkg-config, patchelf;
# for the distributed layer: Open MPI and ScaLAPACK) with apt, release builds of libntk.so and
# libntk_mpi.so, and with pip the Python package (distribution libntk, with the library bundled)
# and its optional extras for the examples, the tests and ntk.distributed (numpy, scipy,
# scikit-learn, matplotlib, pandas, pytest, tqdm, mpi4py, jax; torch's CPU build for
# ntk.models.from_torch). Safe to run again: it only installs what is missing.
# Sourced by scripts/demo.sh and scripts/test.sh; exports NTK_LIBRARY.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

need=()
# MPI and ScaLAPACK for the distributed layer (libntk_mpi.so); libntk.so itself needs neither.
for pkg in libopenblas-dev liblapacke-dev gcc valgrind cmake pkg-config patchelf \
           openmpi-bin libopenmpi-dev libscalapack-openmpi-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "== installing ${need[*]} (apt-get)"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "== building libntk.so (swift build -c release)"
NTK_LIBRARY="$("$repo/scripts/build.sh")"
export NTK_LIBRARY
echo "== building libntk_mpi.so (mpicc)"
bash "$repo/scripts/build_mpi.sh"

echo "== installing Python dependencies and the ntk package (pip)"
# Up to 0.2 the package's distribution was called "ntk" (a name taken on PyPI by another project):
# remove that old copy of ours so only the libntk distribution owns the ntk folder.
if python3 -m pip show -f ntk 2>/dev/null | grep -q "ntk/_library.py"; then
    python3 -m pip uninstall --quiet --yes --disable-pip-version-check --root-user-action=ignore ntk
fi
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    "$repo/bindings/python[examples,test,distributed]"
# PyTorch for ntk.models.from_torch (its tests and examples/torch_after_kernel.py): the CPU build
# (a 183 MB wheel, 23 s to install here) when pip can find it, else PyPI's default build, which
# pulls several GB of CUDA libraries.
if ! python3 -c "import torch" >/dev/null 2>&1; then
    echo "== installing PyTorch (CPU build) for ntk.models.from_torch (pip)"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "torch==2.13.0+cpu" \
        2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore torch
fi
