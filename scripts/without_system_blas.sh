#!/usr/bin/env bash
# Runs a command where the dynamic loader cannot find the system's BLAS stack: Debian's OpenBLAS,
# BLAS, LAPACK, LAPACKE, tmglib, libgfortran and libquadmath are hidden, with LD_LIBRARY_PATH and
# LD_PRELOAD cleared — a machine on which nobody ran `apt-get install libopenblas0 liblapacke`.
# How: a private mount namespace (unshare --mount; as non-root, inside a user namespace too) in
# which the library folder is replaced by a folder of links to everything else in it. The change
# is seen only by the command and its children; the machine is untouched.
# Used by scripts/check_install.sh to show that the manylinux wheel brings its own BLAS.
# Usage: scripts/without_system_blas.sh COMMAND [ARGS...]
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: scripts/without_system_blas.sh COMMAND [ARGS...]" >&2; exit 2; }
libdir=/usr/lib/x86_64-linux-gnu
[ -d "$libdir" ] || { echo "without_system_blas.sh: no $libdir (a Debian/Ubuntu x86-64 layout is assumed)" >&2; exit 1; }
userns=()
[ "$(id -u)" = 0 ] || userns=(--user --map-root-user)
exec unshare "${userns[@]}" --mount --propagation private bash -c '
set -euo pipefail
libdir="$1"; shift
work="$(mktemp -d)"
mkdir "$work/real" "$work/shadow"
mount --bind "$libdir" "$work/real"
for entry in "$work/real"/* "$work/real"/.[!.]*; do
    [ -e "$entry" ] || [ -L "$entry" ] || continue
    name="${entry##*/}"
    case "$name" in
        libopenblas*|openblas-*|libblas.*|libblas64*|blas|liblapack*|lapack|libtmglib*|libgfortran*|libquadmath*) ;;
        *) ln -s "$entry" "$work/shadow/$name" ;;
    esac
done
mount --bind "$work/shadow" "$libdir"
exec env -u LD_LIBRARY_PATH -u LD_PRELOAD "$@"
' without_system_blas "$libdir" "$@"
