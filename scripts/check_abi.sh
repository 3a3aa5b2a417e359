#!/usr/bin/env bash
# Checks the C ABI three ways against include/ntk.h (see scripts/check_abi.py):
#   - the C boundary: swiftc writes the C prototypes of Sources/NTKC's @_cdecl functions, which
#     are compiled after ntk.h (a mismatched type is a "conflicting types" error);
#   - the Python binding: its ctypes signatures, enum values and struct layouts.
# Needs the release build (scripts/build.sh). Usage: scripts/check_abi.sh [HEADER=include/ntk.h]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
header="${1:-include/ntk.h}"
bin="$(swift build -c release --show-bin-path)"
modules="$bin/Modules"
# The package name SwiftPM compiled NTK with (the checkout folder's name), so that the core's
# `package` declarations are visible to NTKC here as they are in the build.
package_name="$(grep -o '"-package-name","[^"]*"' .build/release.yaml | head -1 | cut -d'"' -f4)"
mkdir -p .build/abi
# The NTKC sources type-checked against the built NTK module, the header module CNTK, CBLAS and
# the core's C kernels (CKernels, whose module map SwiftPM generates).
swiftc -typecheck -parse-as-library -module-name NTKC -package-name "$package_name" Sources/NTKC/*.swift -I "$modules" \
    -Xcc -fmodule-map-file=Sources/CNTK/module.modulemap -Xcc -fmodule-map-file=Sources/CBLAS/module.modulemap \
    -Xcc -fmodule-map-file="$bin/CKernels.build/module.modulemap" \
    -emit-clang-header-path .build/abi/NTKC-generated.h
python3 scripts/check_abi.py --header "$header" --swift-header .build/abi/NTKC-generated.h --python
