#!/usr/bin/env bash
# Builds and runs the Swift tests under AddressSanitizer and (the concurrent code) under
# ThreadSanitizer, each in its own build folder, then the C API fuzz driver built with ASan and
# UndefinedBehaviorSanitizer for SECONDS. (Swift has no UBSan on Linux: its own checks trap on
# overflow and out-of-bounds access, which the tests and the fuzzer would see as a crash.)
# Usage: scripts/sanitizers.sh [SECONDS=30]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export ASAN_OPTIONS=detect_leaks=0   # the OpenBLAS thread pool keeps its buffers until exit
echo "== swift test, AddressSanitizer"
swift test --disable-swift-testing --scratch-path .build-asan --sanitize=address 2>&1 | grep -E "error|ERROR|Executed .* tests" | tail -3
test "${PIPESTATUS[0]}" = 0
echo "== swift test, ThreadSanitizer (concurrent code: parallel tiles, shared handles)"
mkdir -p .build-tsan
swift test --disable-swift-testing --scratch-path .build-tsan --sanitize=thread \
    --filter 'InfiniteWidthKernelTests|NetworkTests|CholeskySolverTests' > .build-tsan/tsan.log 2>&1 || { tail -40 .build-tsan/tsan.log; exit 1; }
grep -E "Executed .* tests" .build-tsan/tsan.log | tail -1
if grep -q "WARNING: ThreadSanitizer" .build-tsan/tsan.log; then grep -A20 "WARNING: ThreadSanitizer" .build-tsan/tsan.log | head -40; exit 1; fi
echo "== C API fuzz driver, ASan + UBSan"
bash scripts/fuzz.sh "${1:-30}"
