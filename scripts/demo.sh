#!/usr/bin/env bash
# Sets everything up, then runs the demo from Python and from C.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
source scripts/setup.sh

echo; echo "== Python demo (examples/demo.py)"
python3 examples/demo.py

echo; echo "== C demo (examples/demo.c)"
libdir="$(dirname "$NTK_LIBRARY")"
mkdir -p .build/examples
gcc -std=c99 -O2 -Wall -Wextra -Iinclude examples/demo.c -L"$libdir" -lntk -Wl,-rpath,"$libdir" -lm \
    -o .build/examples/demo
OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-$(grep -qw avx512f /proc/cpuinfo && echo SkylakeX || true)}" \
    .build/examples/demo
