#!/usr/bin/env bash
# Builds libntk.so (release) into .build/release. The build folder's library has no soname, so C
# programs linked against it with -L.build/release -lntk (and an rpath) run as they are; the
# installed library (scripts/install.sh) carries the soname and its links.
# Usage: scripts/build.sh   (prints the library's path last)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product ntk >&2
lib="$(swift build -c release --show-bin-path)/libntk.so"
rm -f "$(dirname "$lib")/libntk.so.0"  # the soname link of versions up to 0.2, now stale
echo "$lib"
