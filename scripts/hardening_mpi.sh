#!/usr/bin/env bash
# The distributed layer under the memory checkers, as the core is (run by scripts/test.sh):
#   1. valgrind (memcheck), one log per rank: the C test (Tests/mpi/test_mpi.c) at np = 1 and 2
#      with libntk_mpi built -O1 -g; no error and nothing definitely or indirectly lost. Open
#      MPI's own leaks in MPI_Init/MPI_Finalize and its PMIx thread are suppressed
#      (Tests/mpi/openmpi.supp with Debian's openmpi-valgrind.supp); anything allocated under a
#      libntk frame is still reported. libntk.so runs without its debug sections, which
#      valgrind 3.19 cannot read.
#   2. AddressSanitizer + UndefinedBehaviorSanitizer: libntk_mpi and the C test built with them
#      at np = 2, and the Python MPI tests (ntk.distributed) at np = 2 on the ASan build.
#   3. The fuzz driver of the ntk_mpi_* entry points (Tests/mpi/fuzz_mpi.c) with ASan + UBSan
#      at np = 1 for SECONDS, 0 findings.
# With --python-valgrind, also the Python MPI tests under valgrind at np = 2 (about 11 minutes;
# CPython itself reports thousands of uninitialised reads, so only errors with a libntk frame
# count). Needs the release build, Open MPI, ScaLAPACK and valgrind (scripts/setup.sh).
# Usage: scripts/hardening_mpi.sh [SECONDS=30] [--python-valgrind]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
seconds=30
python_valgrind=0
for arg in "$@"; do
    case "$arg" in
        --python-valgrind) python_valgrind=1 ;;
        *[!0-9]*|"") echo "usage: scripts/hardening_mpi.sh [SECONDS] [--python-valgrind]" >&2; exit 2 ;;
        *) seconds="$arg" ;;
    esac
done
bin="$(swift build -c release --show-bin-path)"
test -f "$bin/libntk.so" || { echo "hardening_mpi.sh: $bin/libntk.so is missing: run scripts/build.sh" >&2; exit 1; }
out=.build/mpi-hardening
rm -rf "$out"
mkdir -p "$out/valgrind" "$out/asan" "$out/logs"
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
run() { timeout 900 mpirun --oversubscribe -np "$@"; }
build_mpi() {  # build_mpi FOLDER EXTRA_FLAGS...: libntk_mpi.so next to a copy of libntk.so
    local folder="$1"; shift
    objcopy --strip-debug "$bin/libntk.so" "$folder/libntk.so"
    mpicc -std=c11 -O1 -g -fno-omit-frame-pointer -fPIC -shared -Wall -Wextra -Werror -Wno-unused-parameter "$@" \
        -I include -I Sources/NTKMPI -Wl,--version-script=Sources/NTKMPI/exports.map Sources/NTKMPI/*.c \
        -o "$folder/libntk_mpi.so" -L "$folder" -lntk -Wl,-rpath,'$ORIGIN' -lscalapack-openmpi -lopenblas -lm
}
suppressions=(--suppressions=Tests/mpi/openmpi.supp)
[ -f /usr/share/openmpi/openmpi-valgrind.supp ] && suppressions+=(--suppressions=/usr/share/openmpi/openmpi-valgrind.supp)
memcheck=(valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --num-callers=40 "${suppressions[@]}")

echo "== valgrind: the C test, one log per rank"
build_mpi "$out/valgrind"
mpicc -std=c11 -O1 -g -Wall -Wextra -Werror -Iinclude Tests/mpi/test_mpi.c -o "$out/valgrind/test_mpi" \
    -L"$out/valgrind" -lntk_mpi -lntk -Wl,-rpath,"$PWD/$out/valgrind" -lm
for np in 1 2; do
    run "$np" "${memcheck[@]}" --log-file="$out/logs/c-np$np.rank%q{OMPI_COMM_WORLD_RANK}.log" \
        "$out/valgrind/test_mpi" > "$out/logs/c-np$np.out" 2>&1 || { tail -20 "$out/logs/c-np$np.out"; exit 1; }
    python3 scripts/dev/valgrind_verdict.py "$out/logs/c-np$np".rank*.log
done

echo "== ASan + UBSan: the C test and the Python MPI tests at np = 2"
sanitize=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
build_mpi "$out/asan" "${sanitize[@]}"
mpicc -std=c11 -O1 -g -Wall -Wextra -Werror "${sanitize[@]}" -Iinclude Tests/mpi/test_mpi.c -o "$out/asan/test_mpi" \
    -L"$out/asan" -lntk_mpi -lntk -Wl,-rpath,"$PWD/$out/asan" -lm
# Leaks are valgrind's part: LeakSanitizer would list Open MPI's and OpenBLAS's own.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1
run 2 "$out/asan/test_mpi" 2>&1 | grep -v "agreed error" | tail -2
test "${PIPESTATUS[0]}" = 0
libasan="$(gcc -print-file-name=libasan.so)"
libubsan="$(gcc -print-file-name=libubsan.so)"
NTK_LIBRARY="$PWD/$out/asan/libntk.so" NTK_MPI_LIBRARY="$PWD/$out/asan/libntk_mpi.so" PYTHONPATH="$repo/bindings/python" \
    run 2 -x LD_PRELOAD="$libasan:$libubsan" -x ASAN_OPTIONS -x NTK_LIBRARY -x NTK_MPI_LIBRARY python3 -m pytest -q --color=no -p no:cacheprovider bindings/python/tests_mpi 2>&1 | tail -2
test "${PIPESTATUS[0]}" = 0

echo "== the ntk_mpi_* fuzz driver, ASan + UBSan, np = 1, $seconds s"
mpicc -std=c11 -O1 -g -Wall -Wextra -Werror "${sanitize[@]}" -Iinclude Tests/mpi/fuzz_mpi.c -o "$out/asan/fuzz_mpi" \
    -L"$out/asan" -lntk_mpi -lntk -Wl,-rpath,"$PWD/$out/asan" -lm
# The seed and, on a finding, the sanitizer's report (the driver's first lines) stay in the log.
run 1 "$out/asan/fuzz_mpi" "$seconds" ${NTK_FUZZ_SEED:-} > "$out/logs/fuzz_mpi.log" 2>&1 \
    || { grep -v '^\s*$' "$out/logs/fuzz_mpi.log" | head -40; exit 1; }
grep "^fuzz_mpi:" "$out/logs/fuzz_mpi.log"

if [ "$python_valgrind" = 1 ]; then
    echo "== valgrind: the Python MPI tests at np = 2 (errors with a libntk frame)"
    python="$(python3 -c 'import sys; print(sys.executable)')"  # the interpreter, not a pyenv shim
    NTK_LIBRARY="$PWD/$out/valgrind/libntk.so" NTK_MPI_LIBRARY="$PWD/$out/valgrind/libntk_mpi.so" PYTHONMALLOC=malloc \
        PYTHONPATH="$repo/bindings/python" run 2 -x PYTHONMALLOC -x NTK_LIBRARY -x NTK_MPI_LIBRARY \
        valgrind --leak-check=no --num-callers=40 "${suppressions[@]}" \
        --log-file="$out/logs/python.rank%q{OMPI_COMM_WORLD_RANK}.log" \
        "$python" -m pytest -q --color=no -p no:cacheprovider bindings/python/tests_mpi 2>&1 | tail -2
    python3 scripts/dev/valgrind_verdict.py --ours-only "$out/logs"/python.rank*.log
fi
