#!/usr/bin/env bash
# The distributed layer (libntk_mpi.so, include/ntk_mpi.h) under mpirun with 1, 2 and 4 ranks
# (oversubscribed: the machine may have fewer cores): its header as C99 and C++, its exported
# symbols, then the C test (Tests/mpi), the Python tests (bindings/python/tests_mpi, mpi4py) and
# the Swift binding's check (bindings/swift-mpi). Each run has a time limit, so a rank left
# waiting in a collective fails the run instead of hanging it.
# Needs the release build and Debian's openmpi-bin, libopenmpi-dev, libscalapack-openmpi-dev
# (scripts/setup.sh installs them). Usage: scripts/test_mpi.sh [RANKS...] (default 1 2 4).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
ranks=("${@:-1 2 4}")
read -r -a ranks <<< "${ranks[*]}"
bin="$(swift build -c release --show-bin-path)"
bash scripts/build_mpi.sh
# One BLAS thread per rank; mpirun as root (CI) needs its consent; ranks may exceed cores.
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
run() { timeout 600 mpirun --oversubscribe -np "$@"; }

mkdir -p .build/mpitests
echo "== ntk_mpi.h compiles as C99 and C++11 (-Wall -Wextra -pedantic -Werror)"
printf '#include "ntk_mpi.h"\nint main(void) { return ntk_mpi_last_error() == 0; }\n' > .build/mpitests/header.c
mpicc -std=c99 -Wall -Wextra -pedantic -Werror -Iinclude -fsyntax-only .build/mpitests/header.c
# (Open MPI's deprecated C++ bindings do not compile warning-free: skipped as usual.)
mpicxx -std=c++11 -Wall -Wextra -pedantic -Werror -DOMPI_SKIP_MPICXX=1 -Iinclude -fsyntax-only -x c++ .build/mpitests/header.c

echo "== libntk_mpi.so exports the functions of ntk_mpi.h and nothing else"
declared="$(grep -oE '\bntk_mpi_[a-z_]+\(' include/ntk_mpi.h | tr -d '(' | sort -u)"
exported="$(nm -D --defined-only "$bin/libntk_mpi.so" | awk '{print $3}' | sort -u)"
if [ "$declared" != "$exported" ]; then
    diff <(echo "$declared") <(echo "$exported") || true
    echo "libntk_mpi.so's exports differ from ntk_mpi.h" >&2
    exit 1
fi
echo "$(echo "$exported" | wc -l) functions"

echo "== ABI: ntk.distributed's ctypes declarations against ntk_mpi.h"
NTK_LIBRARY="$bin/libntk.so" python3 scripts/check_abi.py --mpi-header include/ntk_mpi.h
# ... and the check fails on a header whose struct field changed type.
python3 -c 'import sys; s = open("include/ntk_mpi.h").read(); k = "const double *X;\n    int64_t ldx;"
assert k in s; sys.stdout.write(s.replace(k, "const double *X;\n    int ldx;"))' > .build/mpitests/ntk_mpi_broken.h
if NTK_LIBRARY="$bin/libntk.so" python3 scripts/check_abi.py --mpi-header .build/mpitests/ntk_mpi_broken.h > /dev/null; then
    echo "check_abi.py accepted a broken ntk_mpi.h" >&2
    exit 1
fi

echo "== C test under mpirun"
mpicc -std=c11 -O1 -g -Wall -Wextra -Werror -Iinclude Tests/mpi/test_mpi.c -o .build/mpitests/test_mpi \
    -L"$bin" -lntk_mpi -lntk -Wl,-rpath,"$bin" -lm
for np in "${ranks[@]}"; do
    echo "-- np = $np"
    run "$np" .build/mpitests/test_mpi 2>&1 | grep -v "agreed error"
done

echo "== Swift binding (NTKDistributed) under mpirun"
swift build -c release --package-path bindings/swift-mpi -Xlinker -L"$bin" -Xlinker -rpath -Xlinker "$bin" 2>&1 | tail -1
for np in "${ranks[@]}"; do
    echo "-- np = $np"
    run "$np" bindings/swift-mpi/.build/release/ntk-mpi-check
done

echo "== Python (ntk.distributed, mpi4py) under mpirun"
for np in "${ranks[@]}"; do
    echo "-- np = $np"
    NTK_LIBRARY="$bin/libntk.so" PYTHONPATH="$repo/bindings/python" run "$np" python3 -m pytest -q --color=no -p no:cacheprovider bindings/python/tests_mpi
done
