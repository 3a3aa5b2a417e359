#!/usr/bin/env bash
# Runs CYCLES create/use/free cycles of every handle type (Tests/c/leaks.c) under valgrind
# and fails unless valgrind ran to the end and reports 0 bytes definitely or indirectly lost
# and no memory error.
# valgrind 3.19 (Debian 12) cannot read the DWARF 5 debug information of a Swift 6 build and
# gives up before running anything, so the program runs against a copy of libntk.so without
# its debug sections (symbols stay: reports still name the functions).
# Usage: scripts/leaks.sh [CYCLES=10000]   (valgrind: apt-get install valgrind)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install valgrind"; exit 1; }
lib="${NTK_LIBRARY:-$(scripts/build.sh)}"
libdir=.build/ctests/valgrind-lib
mkdir -p "$libdir"
objcopy --strip-debug "$lib" "$libdir/libntk.so"
gcc -std=c99 -O1 -g -Wall -Wextra -Werror -Iinclude Tests/c/leaks.c -L"$libdir" -lntk -Wl,-rpath,"$PWD/$libdir" -lm \
    -o .build/ctests/leaks
log=.build/ctests/valgrind.log
status=0
OPENBLAS_NUM_THREADS=1 valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=3 \
    --log-file="$log" .build/ctests/leaks "${1:-10000}" || status=$?
grep -E "definitely lost|indirectly lost|possibly lost|ERROR SUMMARY" "$log" | sed 's/^==[0-9]*== */valgrind: /'
[ "$status" = 0 ] || echo "valgrind exited with status $status" >&2
python3 scripts/dev/valgrind_verdict.py "$log" && [ "$status" = 0 ]
