#!/usr/bin/env bash
# Sets up everything libntk needs on a fresh Debian machine with the Swift toolchain:
# OpenBLAS + LAPACKE (and gcc, valgrind for the tests) with apt, a release build of libntk.so, and
# with pip the Python package with its optional extras for the examples and the tests (numpy,
# scipy, scikit-learn, matplotlib, pandas, pytest). Safe to run again: it only installs what is missing.
# Sourced by scripts/demo.sh and scripts/test.sh; exports NTK_LIBRARY.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

need=()
for pkg in libopenblas-dev liblapacke-dev gcc valgrind; do
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

echo "== installing Python dependencies and the ntk package (pip)"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    "$repo/bindings/python[examples,test]"
