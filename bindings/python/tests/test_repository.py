"""The repository's own rules, checked by scripts that CI runs: the source shape
(scripts/check_style.py) and the single version (scripts/version.py). Each script is run on a
small copy of the tree with a deliberate violation, so a check that stopped checking would fail."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def run(script, root, *args):
    return subprocess.run([sys.executable, str(root / "scripts" / script), *args], capture_output=True, text=True,
                          timeout=60)


def copy(root, *paths):
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / path, root / path)


def test_the_tree_keeps_its_shape():
    r = run("check_style.py", REPO)
    assert r.returncode == 0, r.stdout


def test_check_style_finds_each_kind_of_violation(tmp_path):
    copy(tmp_path, "scripts/check_style.py")
    large = tmp_path / "Sources" / "NTK" / "LargeScale"
    large.mkdir(parents=True)
    body = "\n".join(f"        x += {i}" for i in range(85))
    (large / "Bad.swift").write_text(
        "func long() {\n        var x = 0\n" + body + "\n}\n"
        + "func short() { cblas_ddot(1, nil, 1, nil, 1) }\n"
        + "let wide = " + "1 + " * 40 + "1\n")
    kernels = tmp_path / "Sources" / "NTK" / "Kernels"
    kernels.mkdir(parents=True)
    (kernels / "Generic.swift").write_text("extension K {\n    package static func run<S: BLASScalar>(_ x: S) {}\n"
                                           "    static func fine<S: BLASScalar>(_ x: S) {}\n}\n")
    mpi = tmp_path / "Sources" / "NTKMPI"
    mpi.mkdir(parents=True)
    (mpi / "bad.c").write_text("static double g(double s, double t) {\n    return -expm1(-s * t) / s;\n}\n")
    package = tmp_path / "bindings" / "python" / "ntk"
    package.mkdir(parents=True)
    (package / "bad.py").write_text('''def documented(x):
    """Twice x.

    Parameters
    ----------
    x : float
    """
    return 2 * x


def undocumented(x):
    """Twice x."""
    return 2 * x
''')
    r = run("check_style.py", tmp_path)
    assert r.returncode == 1
    problems = [line for line in r.stdout.splitlines() if not line.startswith("check_style:")]
    assert any("long is 88 lines" in p for p in problems), r.stdout
    assert any("calls BLAS/LAPACK directly" in p for p in problems), r.stdout
    assert any("columns (limit 120)" in p for p in problems), r.stdout
    assert any("spectral formula in libntk_mpi" in p for p in problems), r.stdout
    assert any("undocumented takes parameters" in p for p in problems), r.stdout
    assert any("Generic.swift:2: an exported function generic over the scalar type" in p for p in problems), r.stdout
    assert len(problems) == 6, r.stdout


def test_version_has_one_source(tmp_path):
    files = ["scripts/version.py", "include/ntk.h", "Sources/NTK/Support/Version.swift",
             "bindings/python/ntk/__init__.py", "CHANGELOG.md"]
    copy(tmp_path, *files)
    assert run("version.py", tmp_path, "--check").returncode == 0
    header = tmp_path / "include" / "ntk.h"
    header.write_text(header.read_text().replace("#define NTK_VERSION_MINOR 2", "#define NTK_VERSION_MINOR 7"))
    assert run("version.py", tmp_path).stdout.strip() == "0.7.0"
    r = run("version.py", tmp_path, "--check")
    assert r.returncode == 1 and "Version.swift" in r.stdout and "__init__.py" in r.stdout
    assert run("version.py", tmp_path, "--write").returncode == 0
    swift = (tmp_path / "Sources/NTK/Support/Version.swift").read_text()
    assert "public static let minor = 7" in swift and '"0.7.0"' in swift
    assert '__version__ = "0.7.0"' in (tmp_path / "bindings/python/ntk/__init__.py").read_text()
    r = run("version.py", tmp_path, "--check")
    assert r.returncode == 1 and "CHANGELOG.md" in r.stdout  # release notes are written by hand
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text("## [0.7.0]\n" + changelog.read_text())
    assert run("version.py", tmp_path, "--check").returncode == 0
