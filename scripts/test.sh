#!/usr/bin/env bash
# Sets everything up, then runs every test suite: the style and version checks, the exported-symbol
# and ABI checks, the Swift tests (XCTest), the C smoke, threads and leak tests, the sanitizer builds
# with a short fuzz run, the Python tests (pytest), the distributed layer under mpirun
# (scripts/test_mpi.sh) and under the memory checkers (scripts/hardening_mpi.sh), and the installed forms
# (scripts/check_install.sh). Exits non-zero if any fails.
#
#   bash scripts/test.sh           everything (what CI runs, about 20 minutes on 2 cores)
#   bash scripts/test.sh --quick   the developers' lane (a few minutes): style, version, exports, ABI,
#                                  Swift tests, pytest — no sanitizers, leaks, fuzzing, MPI or installs
set -euo pipefail
quick=0
case "${1:-}" in
    --quick) quick=1 ;;
    "") ;;
    *) echo "usage: scripts/test.sh [--quick]" >&2; exit 2 ;;
esac
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
source scripts/setup.sh

echo "== style: 120 columns, 80-line functions, BLAS only through LinearAlgebra/ (check_style.py); ruff"
python3 scripts/check_style.py
python3 -m ruff check .

echo "== one version: include/ntk.h, Version.swift, ntk.__version__, CHANGELOG.md"
python3 scripts/version.py --check

echo "== header / library agreement"
bash scripts/check_exports.sh "$NTK_LIBRARY"

echo "== ABI: the C boundary's prototypes and the Python ctypes declarations against ntk.h"
bash scripts/check_abi.sh

echo "== Swift tests"
swift test --disable-swift-testing 2>&1 | grep -vE "^Test Case '.*' (started|passed)"

if [ "$quick" = 1 ]; then
    echo "== Python tests"
    python3 -m pytest -q bindings/python/tests
    exit 0
fi

echo "== C smoke test"
libdir="$(dirname "$NTK_LIBRARY")"
mkdir -p .build/ctests
gcc -std=c99 -Wall -Wextra -Werror -pedantic -Iinclude Tests/c/smoke.c \
    -L"$libdir" -lntk -Wl,-rpath,"$libdir" -lm -o .build/ctests/smoke
.build/ctests/smoke

echo "== C threads test (8 threads, shared and own handles)"
gcc -std=c99 -Wall -Wextra -Werror -pedantic -pthread -Iinclude Tests/c/threads.c \
    -L"$libdir" -lntk -Wl,-rpath,"$libdir" -lm -o .build/ctests/threads
.build/ctests/threads | tail -2

echo "== leaks: create/use/free cycles of every handle under valgrind (short run)"
bash scripts/leaks.sh "${NTK_LEAK_CYCLES:-200}"

echo "== sanitizers (ASan, TSan) and the C API fuzz driver (short run)"
bash scripts/sanitizers.sh "${NTK_FUZZ_SECONDS:-60}"

echo "== Python tests"
python3 -m pytest -q bindings/python/tests

echo "== distributed layer (MPI + ScaLAPACK) under mpirun, 1, 2 and 4 ranks: C, Swift, Python"
bash scripts/test_mpi.sh 1 2 4

echo "== the distributed layer under valgrind (per rank), ASan + UBSan, and its fuzz driver"
bash scripts/hardening_mpi.sh "${NTK_FUZZ_SECONDS:-60}"

echo "== installed forms: C prefix (pkg-config, CMake, plain), the Python wheel, Swift package by URL and path"
bash scripts/check_install.sh
