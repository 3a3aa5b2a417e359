#!/usr/bin/env bash
# Runs CYCLES create/use/free cycles of every handle type (Tests/c/leaks.c) under valgrind
# and fails unless valgrind reports 0 bytes definitely or indirectly lost.
# Usage: scripts/leaks.sh [CYCLES=10000]   (valgrind: apt-get install valgrind)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install valgrind"; exit 1; }
lib="${NTK_LIBRARY:-$(scripts/build.sh)}"
libdir="$(dirname "$lib")"
mkdir -p .build/ctests
gcc -std=c99 -O1 -g -Wall -Wextra -Werror -Iinclude Tests/c/leaks.c -L"$libdir" -lntk -Wl,-rpath,"$libdir" -lm -o .build/ctests/leaks
log=.build/ctests/valgrind.log
OPENBLAS_NUM_THREADS=1 valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=3 \
    --log-file="$log" .build/ctests/leaks "${1:-10000}"
grep -E "definitely lost|indirectly lost|possibly lost|ERROR SUMMARY" "$log" | sed 's/^==[0-9]*== */valgrind: /'
grep -q "definitely lost: 0 bytes" "$log" || ! grep -q "definitely lost" "$log"
