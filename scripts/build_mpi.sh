#!/usr/bin/env bash
# Builds libntk_mpi.so (Sources/NTKMPI, C against include/ntk_mpi.h) next to the release
# libntk.so, with mpicc. Needs the release build (scripts/build.sh) and Debian's
# libopenmpi-dev + libscalapack-openmpi-dev (scripts/setup_mpi.sh installs them).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
bin="$(swift build -c release --show-bin-path)"
test -f "$bin/libntk.so" || { echo "build_mpi.sh: $bin/libntk.so is missing: run scripts/build.sh first" >&2; exit 1; }
mpicc -std=c11 -O2 -fPIC -shared -Wall -Wextra -Werror -Wno-unused-parameter \
    -I include -I Sources/NTKMPI \
    -Wl,--version-script=Sources/NTKMPI/exports.map \
    Sources/NTKMPI/*.c -o "$bin/libntk_mpi.so" \
    -L "$bin" -lntk -Wl,-rpath,'$ORIGIN' -lscalapack-openmpi -lopenblas -lm
echo "built $bin/libntk_mpi.so"
