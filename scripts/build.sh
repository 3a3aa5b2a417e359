#!/usr/bin/env bash
# Builds libntk.so (release) into .build/release and adds the soname link libntk.so.0.
# Usage: scripts/build.sh   (prints the library's path last)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product ntk >&2
lib="$(swift build -c release --show-bin-path)/libntk.so"
ln -sf libntk.so "$(dirname "$lib")/libntk.so.0"
echo "$lib"
