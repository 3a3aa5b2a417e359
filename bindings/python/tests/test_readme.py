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
