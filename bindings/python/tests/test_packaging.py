"""One version, from include/ntk.h, everywhere; the installed package finds its bundled library."""

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import ntk
from ntk import _library

REPO = Path(__file__).resolve().parents[3]


def header_version():
    text = (REPO / "include" / "ntk.h").read_text()
    return tuple(int(re.search(rf"^#define NTK_VERSION_{p} (\d+)$", text, re.M).group(1))
                 for p in ("MAJOR", "MINOR", "PATCH"))


def test_every_version_is_the_headers():
    major, minor, patch = header_version()
    version = f"{major}.{minor}.{patch}"
    assert ntk.version() == version                                  # the library (Swift's Version)
    assert ntk.__version__ == version                                # the Python package
    assert importlib.metadata.version("libntk") == version           # the installed distribution
    assert _library.EXPECTED_VERSION == (major, minor)               # the ABI the binding declares
    assert f"## [{version}]" in (REPO / "CHANGELOG.md").read_text()  # its release notes
    swift = (REPO / "Sources" / "NTK" / "Support" / "Version.swift").read_text()
    assert f'public static let string: StaticString = "{version}"' in swift


def test_installed_package_finds_its_bundled_library(tmp_path):
    """`pip install ./bindings/python` bundles libntk.so: no NTK_LIBRARY, no repository needed."""
    env = {k: v for k, v in os.environ.items() if k not in ("NTK_LIBRARY", "PYTHONPATH")}
    code = "import ntk, os; print(ntk.library_path()); print(os.path.dirname(ntk.__file__))"
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    library, package = r.stdout.split()
    assert not Path(package).resolve().is_relative_to(REPO), package  # the installed copy
    assert Path(library) == Path(package) / "libntk.so"
