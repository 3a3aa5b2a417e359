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
    # This process imported ntk, which set the OpenBLAS variables: each case starts without them.
    env = {k: v for k, v in os.environ.items()
           if k not in ("NTK_LIBRARY", "OPENBLAS_CORETYPE", "OPENBLAS_THREAD_TIMEOUT")}
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


SPIN = """
import os, resource, time
import numpy as np
import ntk
rng = np.random.default_rng(0)
X = rng.standard_normal((1500, 64))
for _ in range(3):
    K = ntk.infinite_width_ntk(ntk.MLP(64, [64], 1), X)  # a threaded BLAS-3 call (the input Gram), then tiles
    ntk.KernelRidge(K, X[:, 0], ridge=1.0)  # then threaded LAPACK
    before = resource.getrusage(resource.RUSAGE_SELF)
    time.sleep(0.2)
    after = resource.getrusage(resource.RUSAGE_SELF)
    busy = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
print(os.environ.get("OPENBLAS_THREAD_TIMEOUT"), ntk.blas_info()["num_threads"], busy)
"""


def test_openblas_threads_stop_spinning_soon(tmp_path):
    """The package shortens OpenBLAS's idle spin (OPENBLAS_THREAD_TIMEOUT=16): after a threaded
    call, a sleeping process burns (almost) no CPU; with OpenBLAS's default 2^28 cycles its idle
    thread spins ~0.1 s. A user's own value is respected."""
    env = {"NTK_LIBRARY": str(LIBRARY), "OPENBLAS_NUM_THREADS": "2"}
    r = run(SPIN, tmp_path, env, PACKAGE.parent)
    assert r.returncode == 0, r.stderr
    timeout, threads, busy = r.stdout.split()
    assert timeout == "16" and threads == "2"
    assert float(busy) < 0.02, f"{busy} s of CPU while sleeping 0.2 s"
    r = run(SPIN, tmp_path, {**env, "OPENBLAS_THREAD_TIMEOUT": "28"}, PACKAGE.parent)
    assert r.returncode == 0, r.stderr
    timeout, _, busy_default = r.stdout.split()
    assert timeout == "28"
    assert float(busy_default) > float(busy), (busy_default, busy)
