#!/usr/bin/env bash
# Checks that include/ntk.h compiles as strict C99 and C++11 and that libntk.so exports exactly
# the ntk_* functions the header declares and no other symbol (the Swift runtime and core stay
# local: Sources/NTKC/exports.map). Usage: scripts/check_exports.sh path/to/libntk.so
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
lib="${1:?usage: check_exports.sh path/to/libntk.so}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
printf '#include "ntk.h"\nint main(void){return 0;}\n' > "$tmp/h.c"
cp "$tmp/h.c" "$tmp/h.cpp"
gcc -std=c99 -Wall -Wextra -pedantic -Werror -I"$repo/include" -fsyntax-only "$tmp/h.c"
g++ -std=c++11 -Wall -Wextra -pedantic -Werror -I"$repo/include" -fsyntax-only "$tmp/h.cpp"
declared="$(grep -oE '\bntk_[a-z0-9_]+[[:space:]]*\(' "$repo/include/ntk.h" | tr -d ' (' | sort -u)"
exported="$(nm -D --defined-only --extern-only "$lib" | awk '{print $3}' | sort -u)"
missing="$(comm -23 <(echo "$declared") <(echo "$exported"))"
extra="$(comm -13 <(echo "$declared") <(echo "$exported"))"
status=0
[ -n "$missing" ] && { echo "declared in ntk.h but not exported: $missing"; status=1; }
[ -n "$extra" ] && { echo "exported but not declared in ntk.h: $extra"; status=1; }
[ $status = 0 ] && echo "ntk.h compiles as C99 and C++11; libntk.so exports the $(echo "$declared" | wc -l) declared functions and nothing else"
exit $status
