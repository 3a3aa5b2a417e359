"""The README's and docs' MPI examples (```python mpi blocks) run as written, on every rank of
the mpirun that runs these tests."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def mpi_blocks():
    for page in PAGES:
        for i, block in enumerate(re.findall(r"```python mpi\n(.*?)```", page.read_text(), flags=re.S)):
            yield page.name, i, block


def test_there_is_an_mpi_example():
    assert any(name == "distributed.md" for name, _, _ in mpi_blocks())


def test_mpi_examples_run():
    for name, i, block in mpi_blocks():
        exec(compile(block, f"{name}, MPI block {i + 1}", "exec"), {"__name__": f"mpi_{i}"})
