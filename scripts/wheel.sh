#!/usr/bin/env bash
# Builds the Python wheel of libntk into dist/: libntk-X.Y.Z-py3-none-<platform>.whl, the ntk
# package with a stripped libntk.so inside (see bindings/python/setup.py). It installs with
# `pip install dist/libntk-*.whl` on a machine without Swift, needing only the system's OpenBLAS
# and LAPACKE (Debian/Ubuntu: apt-get install libopenblas0 liblapacke). Prints the wheel's path.
# Usage: scripts/wheel.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
version="$(sed -n 's/^#define NTK_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' "$repo/include/ntk.h" | paste -sd.)"
mkdir -p "$repo/dist"
rm -f "$repo/dist/libntk-$version-"*.whl
PIP_ROOT_USER_ACTION=ignore python3 -m pip wheel --quiet --no-deps --disable-pip-version-check \
    -w "$repo/dist" "$repo/bindings/python" >&2
wheel="$(ls "$repo/dist/libntk-$version-"*.whl)"
case "$wheel" in
    *-py3-none-any.whl) echo "wheel.sh: $wheel has no libntk.so inside (see the build's message)" >&2; exit 1 ;;
esac
echo "$wheel"
