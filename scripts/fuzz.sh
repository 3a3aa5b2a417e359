#!/usr/bin/env bash
# Builds the C API fuzz driver (Tests/fuzz/fuzz_api.c) with AddressSanitizer and
# UndefinedBehaviorSanitizer and runs it. Usage: scripts/fuzz.sh [SECONDS=60] [SEED=time]
# Exits non-zero on any finding (crash, undocumented status, silent failure, leaked handle).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
lib="${NTK_LIBRARY:-$(scripts/build.sh)}"
libdir="$(dirname "$lib")"
mkdir -p .build/fuzz
gcc -std=c99 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -Wall -Wextra -Werror -Iinclude \
    Tests/fuzz/fuzz_api.c -L"$libdir" -lntk -Wl,-rpath,"$libdir" -lm -o .build/fuzz/fuzz_api
# LeakSanitizer would report the OpenBLAS thread pool's buffers; handles are checked by count.
ASAN_OPTIONS=detect_leaks=0 .build/fuzz/fuzz_api "${1:-60}" ${2:-}
