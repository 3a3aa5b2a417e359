#!/usr/bin/env python3
"""The library version has one source, include/ntk.h's NTK_VERSION_MAJOR/MINOR/PATCH; this script
writes it into the two places that cannot read the header at run time — the Swift core
(Sources/NTK/Support/Version.swift) and the Python package (`ntk.__version__`, from which
`ntk._library.EXPECTED_VERSION` and the wheel's version follow) — and checks that they and
CHANGELOG.md agree.

Usage:
  version.py            print the header's version
  version.py --write    rewrite the Swift and Python copies from the header (after editing ntk.h)
  version.py --check    exit 1 unless every copy, and a CHANGELOG.md heading, matches the header
"""

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEADER = REPO / "include" / "ntk.h"
SWIFT = REPO / "Sources" / "NTK" / "Support" / "Version.swift"
PYTHON = REPO / "bindings" / "python" / "ntk" / "__init__.py"
CHANGELOG = REPO / "CHANGELOG.md"


def header_version():
    text = HEADER.read_text()
    return tuple(int(re.search(rf"^#define NTK_VERSION_{p} (\d+)$", text, re.M).group(1))
                 for p in ("MAJOR", "MINOR", "PATCH"))


def swift_text(text, version):
    major, minor, patch = version
    for name, value in (("major", major), ("minor", minor), ("patch", patch)):
        text = re.sub(rf"(public static let {name} = )\d+", rf"\g<1>{value}", text)
    return re.sub(r'(public static let string: StaticString = )"[^"]*"', rf'\g<1>"{major}.{minor}.{patch}"', text)


def python_text(text, version):
    return re.sub(r'^__version__ = "[^"]*"$', '__version__ = "{}.{}.{}"'.format(*version), text, flags=re.M)


def main():
    version = header_version()
    dotted = "{}.{}.{}".format(*version)
    targets = [(SWIFT, swift_text), (PYTHON, python_text)]
    if "--write" in sys.argv:
        for path, rewrite in targets:
            path.write_text(rewrite(path.read_text(), version))
        print(f"version {dotted} written to {', '.join(str(p.relative_to(REPO)) for p, _ in targets)}")
        return 0
    if "--check" in sys.argv:
        stale = [str(p.relative_to(REPO)) for p, rewrite in targets if rewrite(p.read_text(), version) != p.read_text()]
        if f"## [{dotted}]" not in CHANGELOG.read_text():
            stale.append(f"CHANGELOG.md (no '## [{dotted}]' heading)")
        if stale:
            print(f"version {dotted} (include/ntk.h) is not in: {', '.join(stale)}; run scripts/version.py --write")
            return 1
        print(f"version {dotted}: include/ntk.h, Version.swift, ntk.__version__ and CHANGELOG.md agree")
        return 0
    print(dotted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
