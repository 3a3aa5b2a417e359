"""Build of the Python package (distribution ``libntk``, import name ``ntk``) with its library.

The metadata is in pyproject.toml; this file only bundles ``libntk.so`` into the package, next
to ``__init__.py``, where ``import ntk`` looks for it after ``NTK_LIBRARY``:

- from a repository checkout (``pip install ./bindings/python``) or from the sdist (which carries
  the Swift sources in ``libntk-source/``) the library is built with ``scripts/build.sh`` (the
  Swift toolchain, OpenBLAS and LAPACKE are needed) and a stripped copy is bundled: the package
  then works from any folder, with the system's OpenBLAS and LAPACKE;
- ``NTK_BUNDLE_LIBRARY=/path/to/libntk.so`` bundles that file instead (no build);
  ``NTK_BUNDLE_LIBRARY=none`` bundles nothing (the package then needs ``NTK_LIBRARY``);
- without sources or a Swift toolchain nothing is bundled, and the build says so.

A wheel built here is a platform wheel (``py3-none-linux_x86_64``: ctypes, so any Python 3 on that
platform) that needs the system's OpenBLAS and LAPACKE at run time. ``scripts/wheel.sh`` turns it
into the self-contained ``manylinux`` wheel (auditwheel bundles OpenBLAS, LAPACKE and their
runtime) and writes the sdist. The version is ``ntk.__version__``, which must equal the header's
``NTK_VERSION_*`` (checked here when the header is at hand, and by the tests).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    try:
        from wheel.bdist_wheel import bdist_wheel
    except ImportError:
        bdist_wheel = None

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
#: Where the sdist carries the Swift sources, and which parts of the checkout it carries.
SDIST_SOURCES = "libntk-source"
SOURCE_PARTS = ("Package.swift", "Sources", "Tests/NTKTests", "include", "scripts/build.sh")
_bundle = []  # [path or None], decided once


def source_tree():
    """The libntk sources to build: the checkout around this folder, else the sdist's copy, else None."""
    for root in (REPO, HERE / SDIST_SOURCES):
        if (root / "Package.swift").is_file() and (root / "scripts" / "build.sh").is_file():
            return root
    return None


def header_version():
    """``"X.Y.Z"`` from include/ntk.h, or None without sources."""
    root = source_tree()
    header = root / "include" / "ntk.h" if root else None
    if header is None or not header.is_file():
        return None
    text = header.read_text()
    parts = [re.search(rf"^#define NTK_VERSION_{p} (\d+)$", text, re.M) for p in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(m.group(1) for m in parts) if all(parts) else None


def package_version():
    return re.search(r'^__version__ = "([^"]+)"$', (HERE / "ntk" / "__init__.py").read_text(), re.M).group(1)


def library_to_bundle():
    """The libntk.so to bundle, or None (with a note on stderr saying why)."""
    if _bundle:
        return _bundle[0]
    choice = os.environ.get("NTK_BUNDLE_LIBRARY", "")
    path, why = None, None
    if choice.lower() == "none":
        why = "NTK_BUNDLE_LIBRARY=none"
    elif choice:
        path = Path(choice)
        if not path.is_file():
            sys.exit(f"NTK_BUNDLE_LIBRARY={choice}: no such file")
    elif source_tree() is None:
        why = "neither a libntk checkout nor an sdist with its sources"
    elif shutil.which("swift") is None:
        why = "no Swift toolchain to build it (https://swift.org/install)"
    else:
        run = subprocess.run(["bash", str(source_tree() / "scripts" / "build.sh")], stdout=subprocess.PIPE, text=True)
        if run.returncode != 0:
            sys.exit("scripts/build.sh failed: see its output above")
        path = Path(run.stdout.strip().splitlines()[-1])
    if path is None:
        print(f"libntk: the package is built WITHOUT libntk.so ({why}); set NTK_LIBRARY=/path/to/libntk.so "
              "before `import ntk`, or install a wheel that bundles it", file=sys.stderr)
    _bundle.append(path)
    return path


class BuildWithLibrary(build_py):
    """build_py, plus a stripped copy of libntk.so in the package."""

    def run(self):
        expected, have = header_version(), package_version()
        if expected is not None and expected != have:
            sys.exit(f"ntk.__version__ is {have} but include/ntk.h says {expected}: update "
                     f"bindings/python/ntk/__init__.py")
        super().run()
        library = library_to_bundle()
        if library is not None:
            target = Path(self.build_lib) / "ntk" / "libntk.so"
            shutil.copyfile(library, target)
            os.chmod(target, 0o755)
            if shutil.which("strip"):
                subprocess.run(["strip", "--strip-unneeded", str(target)], check=True)


class SdistWithSources(sdist):
    """sdist, plus the Swift sources in ``libntk-source/``: ``pip install libntk-X.Y.Z.tar.gz``
    then builds libntk.so where a Swift toolchain, OpenBLAS and LAPACKE exist."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        if not (REPO / "Package.swift").is_file():
            sys.exit("the sdist is made from a libntk checkout (scripts/wheel.sh)")
        target = Path(base_dir) / SDIST_SOURCES
        for part in SOURCE_PARTS:
            source, destination = REPO / part, target / part
            destination.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, destination, ignore=shutil.ignore_patterns(".build", "__pycache__", "*.pyc"))
            else:
                shutil.copy2(source, destination)


cmdclass = {"build_py": BuildWithLibrary, "sdist": SdistWithSources}

if bdist_wheel is not None:
    class PlatformWheel(bdist_wheel):
        """A platform wheel when the library is bundled (py3-none-<platform>), else pure."""

        def finalize_options(self):
            if library_to_bundle() is not None:  # files go to platlib, the wheel is not pure
                self.distribution.has_ext_modules = lambda: True
            super().finalize_options()

        def get_tag(self):
            python, abi, platform = super().get_tag()
            return ("py3", "none", platform) if not self.root_is_pure else (python, abi, platform)

    cmdclass["bdist_wheel"] = PlatformWheel

setup(cmdclass=cmdclass)
