"""How the package finds libntk.so and chooses OpenBLAS kernels (each case in a fresh process)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import ntk

PACKAGE = Path(ntk.__file__).resolve().parent
LIBRARY = Path(ntk.library_path()).resolve()
BUILT = (Path(__file__).resolve().parents[3] / ".build" / "release" / "libntk.so").resolve()  # SwiftPM's
REPO = Path(__file__).resolve().parents[3]  # bindings/python/tests/ -> the repository


def run(code, cwd, env_updates, package_parent):
    env = {k: v for k, v in os.environ.items() if k not in ("NTK_LIBRARY", "OPENBLAS_CORETYPE")}
    env.update(env_updates)
    env["PYTHONPATH"] = str(package_parent)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def copy_package(tmp_path):
    shutil.copytree(PACKAGE, tmp_path / "pkg" / "ntk", ignore=shutil.ignore_patterns("libntk.so*", "__pycache__"))
    return tmp_path / "pkg"


def test_missing_library_lists_every_path_tried(tmp_path):
    parent = copy_package(tmp_path)
    r = run("import ntk", tmp_path, {"NTK_LIBRARY": str(tmp_path / "nowhere.so")}, parent)
    assert r.returncode != 0
    assert "LibraryNotFoundError" in r.stderr
    assert str(tmp_path / "nowhere.so") in r.stderr and "NTK_LIBRARY" in r.stderr
    assert "next to the package" in r.stderr and "SwiftPM build folder" in r.stderr


def test_environment_variable_wins(tmp_path):
    parent = copy_package(tmp_path)
    r = run("import ntk; print(ntk.library_path())", tmp_path, {"NTK_LIBRARY": str(LIBRARY.parent)}, parent)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()).resolve() == LIBRARY


def test_library_next_to_package(tmp_path):
    parent = copy_package(tmp_path)
    os.symlink(LIBRARY, parent / "ntk" / "libntk.so")
    r = run("import ntk; print(ntk.library_path())", tmp_path, {}, parent)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == parent / "ntk" / "libntk.so"


def test_swiftpm_build_folder_of_the_current_directory(tmp_path):
    parent = copy_package(tmp_path)
    r = run("import ntk; print(ntk.library_path())", REPO / "Sources", {}, parent)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()).resolve() == BUILT


def test_openblas_core_is_chosen_for_avx512(tmp_path):
    from ntk._library import _cpu_flags
    code = "import os, ntk; print(os.environ.get('OPENBLAS_CORETYPE')); print(ntk.blas_info()['core'])"
    r = run(code, tmp_path, {"NTK_LIBRARY": str(LIBRARY)}, PACKAGE.parent)
    assert r.returncode == 0, r.stderr
    coretype, core = r.stdout.split()
    if {"avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"} <= _cpu_flags():
        assert coretype == "SkylakeX" and core == "SkylakeX"
    else:
        assert coretype == "None"
    # A user's own choice is respected.
    r = run(code, tmp_path, {"NTK_LIBRARY": str(LIBRARY), "OPENBLAS_CORETYPE": "Haswell"}, PACKAGE.parent)
    assert r.stdout.split() == ["Haswell", "Haswell"]
