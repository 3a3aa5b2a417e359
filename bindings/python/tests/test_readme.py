"""The README's Python and C quick starts run as written (so they cannot rot)."""

import re
import subprocess
from pathlib import Path

import ntk

REPO = Path(__file__).resolve().parents[3]
README = (REPO / "README.md").read_text()


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_python_quick_start_runs(capsys):
    code = blocks("python")
    assert code, "the README has no Python example"
    for snippet in code:
        exec(compile(snippet, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "not positive definite" in out


def test_c_quick_start_compiles_and_runs(tmp_path):
    (snippet,) = [b for b in blocks("c") if b.startswith("/* quick.c */")]
    src = tmp_path / "quick.c"
    src.write_text(snippet)
    libdir = Path(ntk.library_path()).parent
    exe = tmp_path / "quick"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{REPO / 'include'}", str(src),
                    f"-L{libdir}", "-lntk", f"-Wl,-rpath,{libdir}", "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    x = [float(v) for v in out.split("=")[1].split()]
    # Independent check: (A Aᵀ + 0.1 I) x = y.
    import numpy as np
    a = np.array([[1, 0], [0, 1], [1, 1]], float)
    assert np.allclose(x, np.linalg.solve(a @ a.T + 0.1 * np.eye(3), [1, 2, 3]), rtol=1e-5)


def test_swift_quick_start_builds_and_runs(tmp_path):
    """The Swift snippet as the main.swift of a package that depends on this one by path."""
    import shutil
    if shutil.which("swift") is None:
        import pytest
        pytest.fail("the Swift toolchain is needed for this test (it is part of the development setup)")
    (snippet,) = blocks("swift")
    package = tmp_path / "quickstart"
    (package / "Sources" / "QuickStart").mkdir(parents=True)
    (package / "Sources" / "QuickStart" / "main.swift").write_text(snippet)
    # SwiftPM names a path dependency after its folder, and the README calls it libntk.
    (tmp_path / "libntk").symlink_to(REPO)
    (package / "Package.swift").write_text(f'''// swift-tools-version:6.0
import PackageDescription
let package = Package(
    name: "quickstart",
    dependencies: [.package(path: "{tmp_path / 'libntk'}")],
    targets: [.executableTarget(name: "QuickStart", dependencies: [.product(name: "NTK", package: "libntk")])]
)
''')
    run = subprocess.run(["swift", "run", "--package-path", str(package), "QuickStart"], capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Matrix(3 × 1)" in run.stdout
