#!/usr/bin/env bash
# Checks the installed forms of libntk, as a new user would use them (run by scripts/test.sh):
#   1. C: scripts/install.sh into a temporary prefix (and a DESTDIR staging); Tests/install/app.c
#      built three ways (pkg-config; CMake find_package + ntk::ntk; plain -I/-L/-lntk with an
#      rpath) and run; the installed library's soname, exports (only ntk_*), stripped; the
#      version in ntk.pc and the CMake version check; --uninstall leaves nothing.
#   2. MPI: the same install with the distributed layer (libntk_mpi.so.0.Y, ntk_mpi.h, ntk_mpi.pc,
#      ntk::ntk_mpi): soname, needs the installed libntk, exports; Tests/install/mpi/app_mpi.c
#      built with pkg-config and with CMake (COMPONENTS mpi) and run under mpirun -np 2;
#      ntk.distributed finding it next to NTK_LIBRARY=<prefix>/lib/libntk.so.0.Y.
#   3. Python: scripts/wheel.sh; the manylinux tag (auditwheel show); the wheel installed into a
#      fresh virtual environment and run from another folder with no NTK_LIBRARY, no repository
#      on the path and the system's OpenBLAS/LAPACKE hidden (scripts/without_system_blas.sh);
#      its numbers = the system build's to 1e-12 (Tests/install/wheel_check.py); `pip show
#      libntk`; the sdist installed with pip (built from its Swift sources) and run.
#   4. Swift: a package in a temporary folder that depends on libntk by URL (file:// to a clone
#      tagged with the header's version) and one that depends on it by path (a folder with
#      another name), each built and run. Needs the committed tree (it clones HEAD).
# Usage: scripts/check_install.sh [c|mpi|python|swift ...]   (default: all four)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
parts=("${@:-c mpi python swift}")
parts=(${parts[*]})
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "check_install: $*" >&2; exit 1; }

version="$(sed -n 's/^#define NTK_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' "$repo/include/ntk.h" | paste -sd.)"
minor="$(echo "$version" | cut -d. -f2)"
soname="libntk.so.0.$minor"
[ "${version%%.*}" = 0 ] || soname="libntk.so.${version%%.*}"

check_c() {
    local prefix="$tmp/prefix" app="$repo/Tests/install/app.c"
    bash "$repo/scripts/install.sh" --prefix "$prefix" >/dev/null
    local lib="$prefix/lib/libntk.so.$version"
    [ -f "$lib" ] && [ "$(readlink "$prefix/lib/$soname")" = "libntk.so.$version" ] &&
        [ "$(readlink "$prefix/lib/libntk.so")" = "$soname" ] || fail "missing library or links in $prefix/lib"
    readelf -d "$lib" | grep -q "(SONAME) *Library soname: \[$soname\]" || fail "soname is not $soname"
    ! readelf -d "$lib" | grep -qE "RPATH|RUNPATH" || fail "the installed library carries an rpath"
    ! readelf -S "$lib" | grep -qE '\.symtab|\.debug_' || fail "the installed library is not stripped"
    local declared exported
    declared="$(grep -oE '\bntk_[a-z0-9_]+[[:space:]]*\(' "$prefix/include/ntk.h" | tr -d ' (' | sort -u)"
    exported="$(nm -D --defined-only --extern-only "$lib" | awk '{print $3}' | sort -u)"
    [ "$declared" = "$exported" ] || fail "exports differ from the header: $(diff <(echo "$declared") <(echo "$exported") | head)"
    echo "ok   C install: $lib, soname $soname, stripped, exports exactly the $(echo "$exported" | wc -l) ntk_* functions"

    export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
    [ "$(pkg-config --modversion ntk)" = "$version" ] || fail "pkg-config --modversion ntk is not $version"
    # shellcheck disable=SC2046
    gcc -std=c99 -Wall -Wextra -Werror "$app" $(pkg-config --cflags --libs ntk) -lm -Wl,-rpath,"$prefix/lib" -o "$tmp/app-pc"
    "$tmp/app-pc" | grep -q "libntk $version ok" || fail "the pkg-config build does not run"
    echo "ok   pkg-config: cc \$(pkg-config --cflags --libs ntk) builds and runs"

    mkdir -p "$tmp/cmake"
    cp "$repo/Tests/install/CMakeLists.txt" "$app" "$tmp/cmake/"
    cmake -S "$tmp/cmake" -B "$tmp/cmake/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_RPATH="$prefix/lib" >/dev/null
    cmake --build "$tmp/cmake/build" >/dev/null
    "$tmp/cmake/build/app" | grep -q "libntk $version ok" || fail "the CMake build does not run"
    readelf -d "$tmp/cmake/build/app" | grep -q "NEEDED.*\[$soname\]" || fail "the CMake build does not need $soname"
    if [ "${version%%.*}" = 0 ] && [ "$minor" != 1 ]; then
        mkdir -p "$tmp/cmake-old"
        printf 'cmake_minimum_required(VERSION 3.16)\nproject(old NONE)\nfind_package(ntk 0.1 QUIET)\nif(ntk_FOUND)\n  message(FATAL_ERROR "accepted")\nendif()\n' \
            > "$tmp/cmake-old/CMakeLists.txt"
        cmake -S "$tmp/cmake-old" -B "$tmp/cmake-old/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null 2>&1 ||
            fail "find_package(ntk 0.1) accepted $version (before 1.0 each minor version is another ABI)"
    fi
    echo "ok   CMake: find_package(ntk 0.$minor REQUIRED) + ntk::ntk builds and runs; find_package(ntk 0.1) is refused"

    gcc -std=c99 -Wall -Wextra -Werror "$app" -I"$prefix/include" -L"$prefix/lib" -lntk -lm -Wl,-rpath,"$prefix/lib" -o "$tmp/app-plain"
    "$tmp/app-plain" | grep -q "libntk $version ok" || fail "the plain -I/-L/-lntk build does not run"
    echo "ok   plain: cc -I<prefix>/include -L<prefix>/lib -lntk -Wl,-rpath,<prefix>/lib builds and runs"

    DESTDIR="$tmp/stage" bash "$repo/scripts/install.sh" --prefix /opt/ntk >/dev/null
    [ -f "$tmp/stage/opt/ntk/lib/libntk.so.$version" ] && grep -q "^prefix=/opt/ntk$" "$tmp/stage/opt/ntk/lib/pkgconfig/ntk.pc" ||
        fail "DESTDIR staging did not put the files under DESTDIR with the final prefix in ntk.pc"
    DESTDIR="$tmp/stage" bash "$repo/scripts/install.sh" --prefix /opt/ntk --uninstall >/dev/null
    bash "$repo/scripts/install.sh" --prefix "$prefix" --uninstall >/dev/null
    [ -z "$(find "$prefix" "$tmp/stage" -type f -o -type l)" ] || fail "--uninstall left files: $(find "$prefix" "$tmp/stage" -type f -o -type l)"
    echo "ok   DESTDIR staging, and --uninstall removes every file it installed"

    # The build folder's library, linked directly as the README shows, runs without any link.
    local built
    built="$("$repo/scripts/build.sh" 2>/dev/null)"
    gcc -std=c99 "$app" -I"$repo/include" -L"$(dirname "$built")" -lntk -lm -Wl,-rpath,"$(dirname "$built")" -o "$tmp/app-build"
    "$tmp/app-build" | grep -q "libntk $version ok" || fail "a program linked against the build folder does not run"
    echo "ok   build folder: -L.build/release -lntk runs after a plain build"
}

check_mpi() {
    command -v mpicc >/dev/null || fail "the mpi part needs MPI (apt-get install libopenmpi-dev libscalapack-openmpi-dev)"
    local prefix="$tmp/prefix-mpi" src="$repo/Tests/install/mpi" so_mpi="libntk_mpi.so.${soname#libntk.so.}"
    bash "$repo/scripts/install.sh" --prefix "$prefix" 2>/dev/null | grep -q "with the MPI layer" ||
        fail "install.sh did not install the MPI layer where mpicc exists"
    local lib="$prefix/lib/libntk_mpi.so.$version"
    [ -f "$lib" ] && [ "$(readlink "$prefix/lib/$so_mpi")" = "libntk_mpi.so.$version" ] &&
        [ "$(readlink "$prefix/lib/libntk_mpi.so")" = "$so_mpi" ] && [ -f "$prefix/include/ntk_mpi.h" ] ||
        fail "missing libntk_mpi, its links or ntk_mpi.h in $prefix"
    readelf -d "$lib" > "$tmp/mpi.dynamic"
    grep -q "(SONAME) *Library soname: \[$so_mpi\]" "$tmp/mpi.dynamic" || fail "libntk_mpi's soname is not $so_mpi"
    grep -q "(NEEDED) *Shared library: \[$soname\]" "$tmp/mpi.dynamic" || fail "libntk_mpi does not need $soname"
    ! grep -qE "RPATH|RUNPATH" "$tmp/mpi.dynamic" || fail "the installed libntk_mpi carries an rpath"
    ! readelf -S "$lib" | grep -qE '\.symtab|\.debug_' || fail "the installed libntk_mpi is not stripped"
    local declared exported
    declared="$(grep -oE '\bntk_mpi_[a-z_]+\(' "$prefix/include/ntk_mpi.h" | tr -d '(' | sort -u)"
    exported="$(nm -D --defined-only --extern-only "$lib" | awk '{print $3}' | sort -u)"
    [ "$declared" = "$exported" ] || fail "libntk_mpi's exports differ from ntk_mpi.h"
    echo "ok   MPI install: $lib, soname $so_mpi, needs $soname, stripped, exports exactly the $(echo "$exported" | wc -l) ntk_mpi_* functions"

    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
    export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
    # shellcheck disable=SC2046
    gcc -std=c99 -Wall -Wextra -Werror "$src/app_mpi.c" $(pkg-config --cflags --libs ntk_mpi) -lm \
        -Wl,-rpath,"$prefix/lib" -o "$tmp/app-mpi-pc"
    timeout 120 mpirun --oversubscribe -np 2 "$tmp/app-mpi-pc" | grep -q "libntk_mpi $version ok on 2 ranks" ||
        fail "the pkg-config build of the MPI program does not run under mpirun -np 2"
    echo "ok   pkg-config: cc \$(pkg-config --cflags --libs ntk_mpi) builds; runs under mpirun -np 2"
    mkdir -p "$tmp/cmake-mpi"
    cp "$src/CMakeLists.txt" "$src/app_mpi.c" "$tmp/cmake-mpi/"
    cmake -S "$tmp/cmake-mpi" -B "$tmp/cmake-mpi/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_RPATH="$prefix/lib" >/dev/null
    cmake --build "$tmp/cmake-mpi/build" >/dev/null
    readelf -d "$tmp/cmake-mpi/build/app_mpi" | grep -q "NEEDED.*\[$so_mpi\]" || fail "the CMake build does not need $so_mpi"
    timeout 120 mpirun --oversubscribe -np 2 "$tmp/cmake-mpi/build/app_mpi" | grep -q "libntk_mpi $version ok on 2 ranks" ||
        fail "the CMake build of the MPI program does not run under mpirun -np 2"
    echo "ok   CMake: find_package(ntk 0.$minor REQUIRED COMPONENTS mpi) + ntk::ntk_mpi builds; runs under mpirun -np 2"

    # Python: ntk.distributed finds the installed libntk_mpi next to the installed libntk it was
    # pointed at, and refuses one that links another libntk than the package's (handles cross).
    NTK_LIBRARY="$prefix/lib/$soname" PYTHONPATH="$repo/bindings/python" python3 -c \
        "import os; from ntk import distributed as d; print(os.path.realpath(d.mpi._name))" | grep -qx "$lib" ||
        fail "ntk.distributed does not find the installed libntk_mpi next to NTK_LIBRARY=$prefix/lib/$soname"
    (NTK_LIBRARY="$("$repo/scripts/build.sh" 2>/dev/null)" NTK_MPI_LIBRARY="$lib" LD_LIBRARY_PATH="$prefix/lib" \
        PYTHONPATH="$repo/bindings/python" python3 -c "from ntk import distributed" 2>&1 || true) |
        grep -q "links another libntk.so than the one this package loaded" ||
        fail "ntk.distributed accepted a libntk_mpi that links another libntk"
    echo "ok   Python: ntk.distributed finds the installed libntk_mpi (NTK_LIBRARY=<prefix>/lib/$soname), refuses a mismatched one"
    bash "$repo/scripts/install.sh" --prefix "$prefix" --uninstall >/dev/null
    [ -z "$(find "$prefix" -type f -o -type l)" ] || fail "--uninstall left files: $(find "$prefix" -type f -o -type l)"
    echo "ok   --uninstall removes the MPI layer too"
}

check_python() {
    local built dists wheel sdist venv="$tmp/venv" elsewhere="$tmp/elsewhere" check="$repo/Tests/install/wheel_check.py"
    built="$("$repo/scripts/build.sh" 2>/dev/null)"
    dists="$(bash "$repo/scripts/wheel.sh")"
    wheel="$(echo "$dists" | sed -n 1p)"; sdist="$(echo "$dists" | sed -n 2p)"
    case "$wheel" in *"libntk-$version-py3-none-manylinux_"*"_x86_64.whl") ;; *) fail "unexpected wheel $wheel" ;; esac
    local tag
    tag="$("$repo/.build/wheel-tools/bin/auditwheel" show "$wheel" 2>/dev/null | tr -s ' \n' ' ' |
           grep -o 'consistent with the following platform tag: "[^"]*"' | cut -d'"' -f2)"
    case "$tag" in manylinux_*_x86_64) ;; *) fail "auditwheel show: $wheel is not manylinux (\"$tag\")" ;; esac
    unzip -l "$wheel" > "$tmp/wheel.list"  # (not piped into grep -q: pipefail would see unzip's SIGPIPE)
    grep -q "libntk.libs/libopenblas" "$tmp/wheel.list" || fail "the wheel bundles no OpenBLAS"
    echo "ok   wheel: $(basename "$wheel"), $(du -k "$wheel" | cut -f1) KiB; auditwheel show: $tag; OpenBLAS, LAPACKE, libgfortran bundled"

    # A fresh venv and another folder; the system's BLAS stack hidden from the loader, no NTK_LIBRARY.
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel"
    mkdir -p "$elsewhere"
    (cd "$elsewhere" && env -u NTK_LIBRARY -u PYTHONPATH bash "$repo/scripts/without_system_blas.sh" "$venv/bin/python" - "$venv" <<'EOF'
import sys
import numpy as np
import ntk
assert ntk.library_path().startswith(sys.argv[1]), ntk.library_path()   # the bundled library
info = ntk.blas_info()
assert info["bundled"] and info["library"].startswith(sys.argv[1]), info
assert info["core"] not in ("Prescott", "Core2", "Generic"), info   # OpenBLAS's core detection works
K = np.array([[2.0, 1.0], [1.0, 2.0]])
_, test = ntk.kernel_ridge(K, np.array([0.8, 2.0]), K_test_train=K[:1], ridge=0.5)
assert abs(test[0] - 0.8) < 1e-12, test      # alpha = (0, 0.8), K[0] alpha = 0.8
print("wheel ok", ntk.__version__, ntk.version())
EOF
    ) | grep -q "wheel ok $version $version" || fail "the installed wheel does not run without the system's BLAS"
    [ "$("$venv/bin/python" -m pip show libntk | sed -n 's/^Version: //p')" = "$version" ] || fail "pip show libntk is not $version"
    echo "ok   wheel in a fresh venv, from another folder, no NTK_LIBRARY, system OpenBLAS/LAPACKE hidden: runs its bundled BLAS"
    (cd "$elsewhere" && env -u NTK_LIBRARY -u PYTHONPATH bash "$repo/scripts/without_system_blas.sh" \
        "$venv/bin/python" "$check" "$tmp/wheel.npz" >/dev/null) || fail "wheel_check.py failed with the wheel"
    NTK_LIBRARY="$built" PYTHONPATH="$repo/bindings/python" python3 "$check" "$tmp/system.npz" >/dev/null ||
        fail "wheel_check.py failed with the system build"
    python3 "$check" --compare "$tmp/wheel.npz" "$tmp/system.npz" > "$tmp/compare.log" ||
        { cat "$tmp/compare.log" >&2; fail "the wheel's numbers differ from the system build's"; }
    echo "ok   wheel = system build: kernel ridge and empirical NTK agree to 1e-12 ($(grep -c 'difference' "$tmp/compare.log") checks)"

    # The sdist builds libntk.so from its Swift sources (about 2 minutes on 2 cores).
    tar -tzf "$sdist" > "$tmp/sdist.list"
    grep -q "libntk-$version/libntk-source/Package.swift" "$tmp/sdist.list" || fail "the sdist carries no Swift sources"
    python3 -m venv "$tmp/venv-sdist"
    "$tmp/venv-sdist/bin/python" -m pip install --quiet --disable-pip-version-check "$sdist" > "$tmp/sdist.log" 2>&1 ||
        { tail -20 "$tmp/sdist.log" >&2; fail "pip install of the sdist failed"; }
    (cd "$elsewhere" && env -u NTK_LIBRARY -u PYTHONPATH "$tmp/venv-sdist/bin/python" -c \
        "import ntk, sys; assert ntk.library_path().startswith(sys.argv[1]); print(ntk.version())" "$tmp/venv-sdist") |
        grep -qx "$version" || fail "the package built from the sdist does not run"
    echo "ok   sdist: $(basename "$sdist") builds libntk.so from its sources with pip install, and runs"
}

check_swift() {
    git -C "$repo" diff --quiet HEAD -- Package.swift Sources include ||
        echo "note: uncommitted changes in Package.swift, Sources or include are not in the clones" >&2
    mkdir -p "$tmp/remote"
    git clone --quiet "$repo" "$tmp/remote/libntk"
    git -C "$tmp/remote/libntk" tag -f "$version" >/dev/null  # HEAD, even where a release tag exists
    git clone --quiet "$repo" "$tmp/another-folder-name"
    local kind dep package
    for kind in url path; do
        if [ "$kind" = url ]; then
            dep=".package(url: \"file://$tmp/remote/libntk\", from: \"$version\")"; package="libntk"
        else
            dep=".package(path: \"$tmp/another-folder-name\")"; package="another-folder-name"
        fi
        mkdir -p "$tmp/consumer-$kind/Sources/consumer"
        cp "$repo/Tests/install/swift/main.swift" "$tmp/consumer-$kind/Sources/consumer/main.swift"
        cat > "$tmp/consumer-$kind/Package.swift" <<EOF
// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "consumer",
    dependencies: [$dep],
    targets: [.executableTarget(name: "consumer", dependencies: [.product(name: "NTK", package: "$package")])]
)
EOF
        (cd "$tmp/consumer-$kind" && swift build --quiet >/dev/null 2>"$tmp/swift-$kind.log") ||
            { cat "$tmp/swift-$kind.log" >&2; fail "the Swift package depending on libntk by $kind does not build"; }
        "$tmp/consumer-$kind/.build/debug/consumer" | grep -q "NTK $version ok" || fail "the Swift consumer ($kind) does not run"
        echo "ok   Swift: a package depending on libntk by $kind ($dep) builds and runs"
    done
}

for part in "${parts[@]}"; do
    case "$part" in
        c) check_c ;;
        mpi) check_mpi ;;
        python) check_python ;;
        swift) check_swift ;;
        *) fail "unknown part '$part' (c, mpi, python, swift)" ;;
    esac
done
