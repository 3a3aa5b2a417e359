"""Every example in the README and in docs/ runs as written, so none can rot: the Python blocks
(each checks its own numbers), the C programs (the README's quick start with its compile lines,
built-folder and installed, and every C block of docs/ that names its file), the compile line
for examples/ntk_ridge.c, the Swift blocks, and the studies (examples/ntk_study.py,
examples/ensemble_study.py) in small configurations with their reports and plots. The MPI blocks
(```python mpi) run under mpirun in tests_mpi/test_docs_mpi.py."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ntk

REPO = Path(__file__).resolve().parents[3]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def blocks(page, language):
    """The fenced blocks of `language` exactly (```python, not ```python neural-tangents)."""
    return re.findall(rf"```{language}\n(.*?)```", page.read_text(), flags=re.S)


#: What each page shows in code that the tests run (a page may have more).
COVERAGE = {
    "README.md": ["python", "c", "swift"], "equations.md": ["python"], "conventions.md": ["python"],
    "python.md": ["python"], "large-scale.md": ["python"], "long-computations.md": ["python"],
    "studies.md": ["python"], "distributed.md": ["python mpi"], "c-api.md": ["c"], "swift.md": ["swift"],
    "tuning.md": ["python", "c", "swift"], "classification.md": ["python", "c"],
    "models.md": ["python", "c", "swift"], "architectures.md": ["python", "c", "swift"],
}


def test_every_page_is_covered():
    names = {p.name for p in PAGES}
    assert set(COVERAGE) <= names
    for page in PAGES:
        for language in COVERAGE.get(page.name, []):
            assert blocks(page, language), f"{page.name} has no {language} example"


def test_the_readme_stays_short():
    """The README is what a newcomer reads first; the manual is in docs/."""
    assert len((REPO / "README.md").read_text().splitlines()) <= 200


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_blocks_run(page, capsys):
    for i, snippet in enumerate(blocks(page, "python")):
        exec(compile(snippet, f"{page.name}, Python block {i + 1}", "exec"), {"__name__": f"{page.stem}_{i}"})
    if page.name == "README.md":
        assert "not positive definite" in capsys.readouterr().out


def sh_lines(prefix):
    """The lines of the sh blocks of every page that start with `prefix`."""
    return [ln for page in PAGES for b in blocks(page, "sh") for ln in b.splitlines() if ln.startswith(prefix)]


def readme_compile(source_name, source, exe, prefix=None):
    """Runs the documented gcc line for `source_name` (README or docs/) from the repository root,
    with the source and the executable redirected into a temporary folder (nothing else
    changed): the line that links the build folder, or with `prefix` the one that uses
    pkg-config on an installed prefix (the docs' `$HOME/.local`, here `prefix`)."""
    marker = "pkg-config" if prefix else "-L.build/release"
    (line,) = [ln for ln in sh_lines("gcc ") if f" {source_name} " in ln and marker in ln]
    output = Path(source_name).stem
    assert line.endswith(f"-o {output}"), line
    env = None
    if prefix:
        line = line.replace('"$HOME/.local', f'"{prefix}')
        env = dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"))
    else:
        libdir = Path(ntk.library_path()).parent
        if libdir.resolve() != (REPO / ".build" / "release").resolve():
            pytest.fail(f"the README's line links .build/release, but the library under test is in {libdir}")
    command = (line.replace("$PWD", str(REPO)).replace(f" {source_name} ", f" {source} ")
               .replace(f"-o {output}", f"-o {exe}"))
    subprocess.run(command, shell=True, cwd=REPO, check=True, env=env)


@pytest.mark.parametrize("form", ["build folder", "installed"])
def test_c_quick_start_builds_with_the_readme_line_and_runs(tmp_path, form):
    (snippet,) = [b for b in blocks(REPO / "README.md", "c") if b.startswith("/* quick.c */")]
    src = tmp_path / "quick.c"
    src.write_text(snippet)
    prefix = None
    if form == "installed":  # the README's install line, into a temporary prefix
        (install,) = sh_lines("bash scripts/install.sh")
        prefix = tmp_path / "prefix"
        subprocess.run(install.replace('"$HOME/.local"', str(prefix)), shell=True, cwd=REPO, check=True,
                       capture_output=True)
    readme_compile("quick.c", src, tmp_path / "quick", prefix)
    out = subprocess.run([str(tmp_path / "quick")], capture_output=True, text=True, check=True).stdout
    m = re.match(r"x = (\S+) (\S+) (\S+), Theta\[0\]\[1\] = (\S+)", out)
    assert m, out
    x, theta01 = [float(v) for v in m.groups()[:3]], float(m.group(4))
    # Independent check: (A Aᵀ + 0.1 I) x = y.
    a = np.array([[1, 0], [0, 1], [1, 1]], float)
    assert np.allclose(x, np.linalg.solve(a @ a.T + 0.1 * np.eye(3), [1, 2, 3]), rtol=1e-5)
    # The same infinite-width NTK from Python (the erf kernel itself is tested against its
    # closed form in test_infinite_width.py); printf's %g keeps 6 digits.
    net = ntk.MLP(2, [1, 1], activation="erf", W_std=1.5, b_std=0.1)
    assert theta01 == pytest.approx(ntk.infinite_width_ntk(net, a)[0, 1], rel=1e-5)


def test_every_named_c_block_of_the_docs_builds_and_runs(tmp_path):
    """A C block that starts with `/* name.c */` is a whole program: it builds against the build
    folder's library as the README does (with -lm, and -Wall -Wextra -Werror -pedantic) and
    exits 0."""
    programs = [(page.name, b) for page in PAGES[1:] for b in blocks(page, "c") if re.match(r"/\* \w+\.c \*/", b)]
    assert programs, "docs/ has no complete C program"
    for page, program in programs:
        name = re.match(r"/\* (\w+)\.c \*/", program).group(1)
        src = tmp_path / f"{name}.c"
        src.write_text(program)
        subprocess.run(f"gcc -std=c99 -Wall -Wextra -Werror -pedantic -Iinclude {src} -L.build/release -lntk "
                       f"-Wl,-rpath,{REPO}/.build/release -lm -o {tmp_path / name}", shell=True, cwd=REPO, check=True)
        run = subprocess.run([str(tmp_path / name)], capture_output=True, text=True)
        assert run.returncode == 0, f"{page}, {name}.c: {run.stdout}{run.stderr}"


def test_c_example_builds_with_the_readme_line_and_runs(tmp_path):
    readme_compile("examples/ntk_ridge.c", REPO / "examples" / "ntk_ridge.c", tmp_path / "ntk_ridge")
    run = subprocess.run([str(tmp_path / "ntk_ridge")], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr   # exits 2 if the fit explains < 90 % of the variance
    r2 = float(re.search(r"R\^2 ([0-9.]+)", run.stdout).group(1))
    assert 0.9 < r2 <= 1.0
    assert "K is 400 x 400" in run.stdout


def test_swift_blocks_build_and_run(tmp_path):
    """Each Swift block (the README's quick start first, then docs/) as the main.swift of an
    executable target, in one package that depends on this one by path."""
    if shutil.which("swift") is None:
        pytest.fail("the Swift toolchain is needed for this test (it is part of the development setup)")
    (readme,) = blocks(REPO / "README.md", "swift")
    snippets = [readme] + [b for page in PAGES[1:] for b in blocks(page, "swift")]
    assert len(snippets) >= 3
    package = tmp_path / "quickstart"
    names = [f"Example{i}" for i in range(len(snippets))]
    for name, snippet in zip(names, snippets):
        (package / "Sources" / name).mkdir(parents=True)
        (package / "Sources" / name / "main.swift").write_text(snippet)
    # SwiftPM names a path dependency after its folder, and the README calls it libntk.
    (tmp_path / "libntk").symlink_to(REPO)
    dependency = '.product(name: "NTK", package: "libntk")'
    targets = ",\n        ".join(f'.executableTarget(name: "{name}", dependencies: [{dependency}])' for name in names)
    (package / "Package.swift").write_text(f'''// swift-tools-version:6.0
import PackageDescription
let package = Package(
    name: "quickstart",
    dependencies: [.package(path: "{tmp_path / 'libntk'}")],
    targets: [
        {targets}
    ]
)
''')
    build = subprocess.run(["swift", "build", "--package-path", str(package)], capture_output=True, text=True,
                           timeout=900)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    outputs = []
    for name in names:
        run = subprocess.run(["swift", "run", "--skip-build", "--package-path", str(package), name],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, f"{name}: {run.stderr[-3000:]}"
        outputs.append(run.stdout)
    assert "Matrix(3 × 1)" in outputs[0]


def test_the_study_writes_its_report_and_four_plots(tmp_path):
    """examples/ntk_study.py in a small configuration (the demo runs the full one)."""
    out = tmp_path / "study"
    run = subprocess.run([sys.executable, str(REPO / "examples" / "ntk_study.py"), "--out", str(out), "--epochs", "60",
                          "--widths", "64", "64", "--compare-widths", "16"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "training [64, 64]" in run.stdout and "wrote" in run.stdout   # progress is shown
    plots = sorted(p.name for p in out.glob("*.png"))
    assert plots == ["1_training_dynamics.png", "2_spectrum_and_filters.png", "3_kernel_movement.png",
                     "4_predictors.png"]
    for name in plots:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, name
    report = (out / "report.txt").read_text()
    rows = dict(re.findall(r"^  (\S.*?)\s{2,}([0-9.]+)\s+-?[0-9.]+$", report, flags=re.M))
    for name in ("trained network f(x; theta_T)", "initial NTK, kernel ridge (GCV)",
                 "infinite-width NTK, kernel ridge (GCV)", "after-kernel, kernel ridge (eq. 25, GCV)",
                 "boosting the network (eq. 24, GCV)", "predicting the training mean"):
        assert name in rows, name
    # Independent check of the data pipeline: the same split and standardisation in numpy.
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))
    train, test = order[:300], order[300:]
    z = (y - y[train].mean()) / y[train].std()
    assert float(rows["predicting the training mean"]) == pytest.approx(np.mean(z[test] ** 2), abs=5e-5)
    assert float(rows["infinite-width NTK, kernel ridge (GCV)"]) < float(rows["predicting the training mean"])


def test_the_ensemble_study_writes_its_report_and_two_plots(tmp_path):
    """examples/ensemble_study.py in a small configuration."""
    out = tmp_path / "ensemble"
    run = subprocess.run([sys.executable, str(REPO / "examples" / "ensemble_study.py"), "--out", str(out), "--networks",
                          "12", "--widths", "64"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "sampling 12 linearised networks" in run.stdout and "wrote" in run.stdout
    plots = sorted(p.name for p in out.glob("*.png"))
    assert plots == ["1_seed_family.png", "2_calibration.png"]
    for name in plots:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, name
    report = (out / "report.txt").read_text()
    gaps = [float(g) for g in re.findall(r"mean gap median ([0-9.]+)", report)]
    ratios = [float(r) for r in re.findall(r"std ratio median ([0-9.]+)", report)]
    assert len(gaps) == 4 and len(ratios) == 4
    # 12 networks of width 64 follow the limit loosely at finite times; at t = inf without a ridge
    # the narrow networks' small NTK eigenvalues (inverted) spread them far more than the limit.
    assert max(gaps[:3]) < 1.0 and all(0.3 < r < 3 for r in ratios[:3]) and ratios[3] > 0
    coverages = [float(c) for c in re.findall(r"(?:68|95) %: ([0-9.]+)", report)]
    assert len(coverages) == 4 and all(0 <= c <= 1 for c in coverages)
    assert coverages[1] > coverages[0]      # the 95 % interval covers more than the 68 % one


def test_the_tuned_diamonds_example_writes_its_report(tmp_path):
    """examples/diamonds_tuned.py in a small configuration (400 training rows, tuning on 200)."""
    out = tmp_path / "tuned"
    run = subprocess.run([sys.executable, str(REPO / "examples" / "diamonds_tuned.py"), "--no-full", "--train-rows",
                          "400", "--test-rows", "300", "--tune-rows", "200", "--out", str(out)],
                         capture_output=True, text=True, timeout=600, cwd=REPO / "examples")
    assert run.returncode == 0, run.stderr[-3000:]
    report = (out / "report.txt").read_text()
    rows = dict(re.findall(r"^(.+?), n = 400\s+[0-9.]+\s+(?:[0-9.]+\s+)?([0-9.]+)\s+[0-9.]+$", report, flags=re.M))
    assert len(rows) == 5, report
    assert float(rows['NTKRegressor(tune="gcv", ard=True)']) < float(rows["ordinary least squares"])


def test_every_example_script_compiles():
    """The examples that the tests do not run end to end (they take minutes, or MPI) at least
    parse: a syntax error in one once went unnoticed until the demo ran it."""
    import py_compile

    scripts = sorted((REPO / "examples").glob("*.py"))
    assert {"diamonds_large_scale.py", "distributed_ridge.py", "diamonds_data.py"} <= {p.name for p in scripts}
    for script in scripts:
        py_compile.compile(str(script), doraise=True)
