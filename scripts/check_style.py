#!/usr/bin/env python3
"""The source-shape rules of docs/development.md that no formatter enforces for us:

- no line of library source longer than 120 columns (Swift, C, the C headers, Python);
- no library function longer than 80 lines (Swift `func`/`init`, C function definitions, Python
  functions of the package without their docstrings);
- `Sources/NTK/LargeScale/` calls no BLAS or LAPACK directly (`LinearAlgebra/` wraps them);
- `Sources/NTKMPI/` restates none of libntk's spectral formulas (it calls `ntk_x_spectrum_*`);
- `Sources/NTK/` exports no function generic over the scalar type (`<S: BLASScalar>` and the
  like) as `package` or `public`: the C boundary's call would cross the module boundary, where
  Swift cannot specialise it, and run many times slower; the generic body stays internal behind
  concrete Double and Float forms;
- the Python package's public functions, methods and classes that take parameters document
  them in a numpydoc ``Parameters`` section.

Usage: check_style.py [--list]   (exit 1 and one line per violation; --list prints the longest
functions too). Run by scripts/test.sh (both lanes)."""

import ast
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAX_COLUMNS = 120
MAX_FUNCTION_LINES = 80
LIBRARY = [*REPO.glob("Sources/**/*.swift"), *REPO.glob("Sources/**/*.c"), *REPO.glob("Sources/**/*.h"),
           *REPO.glob("include/*.h"), *REPO.glob("bindings/python/ntk/*.py"),
           *REPO.glob("bindings/swift-mpi/Sources/**/*.swift")]
# What a spectral formula looks like in C: the filter's expm1, the GCV denominator, the LOO ratio.
SPECTRAL_PATTERNS = [r"expm1\s*\(", r"1\s*-\s*trace\s*/", r"DBL_EPSILON\s*\*", r"solved\[[^]]*\]\s*/\s*d\b"]
# An exported function generic over the scalar type (the constraint protocols of LinearAlgebra/).
EXPORTED_SCALAR_GENERIC = r"\b(package|public)\s+(static\s+)?func\s+\w+\s*<[^>]*:\s*(BLASScalar|InfiniteWidthScalar)"


def functions(path, lines):
    """(name, first line, line count) of each function body in a Swift or C file, by brace
    matching from a line that opens a `func`/`init` (Swift) or a top-level definition (C)."""
    swift = path.suffix == ".swift"
    start = re.compile(r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|package|private|fileprivate|internal|static|"
                       r"override|final|convenience|mutating|nonisolated|required)\s+)*(?:func\s+(\w+)|(init)\b)"
                       if swift else r"^(?:static\s+)?[A-Za-z_][\w\s\*]*?\b(\w+)\s*\([^;]*$")
    i = 0
    while i < len(lines):
        m = start.match(lines[i])
        if not m or (not swift and lines[i].startswith((" ", "\t", "#", "/", "}"))):
            i += 1
            continue
        name = next(g for g in m.groups() if g)
        depth, opened, j = 0, False, i
        while j < len(lines):
            code = re.sub(r'"(?:\\.|[^"\\])*"', '""', lines[j].split("//")[0])
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if opened and depth <= 0:
                break
            if not opened and code.rstrip().endswith(";"):
                break
            j += 1
        if opened:
            yield name, i + 1, j - i + 1
        i = j + 1 if opened else i + 1


def python_functions(text):
    """(name, first line, line count) of each Python function, its docstring not counted."""
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            documented = len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            start = body[1].lineno if documented else body[0].lineno
            yield node.name, node.lineno, node.end_lineno - start + 2


def undocumented_parameters(text):
    """(qualified name, line) of the public functions, methods and classes (by their __init__)
    of a module that take parameters but have no numpydoc Parameters section."""
    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if child.name.startswith("_") if isinstance(child, (ast.ClassDef, ast.FunctionDef)) else True:
                continue
            if isinstance(child, ast.ClassDef):
                init = [m for m in child.body if isinstance(m, ast.FunctionDef) and m.name == "__init__"]
                takes = bool(init) and len(init[0].args.args) > 1
                yield from ([] if not takes or "Parameters\n" in (ast.get_docstring(child) or "")
                            else [(prefix + child.name, child.lineno)])
                yield from visit(child, prefix + child.name + ".")
            elif not any(isinstance(d, ast.Name) and d.id == "property" for d in child.decorator_list):
                names = [a.arg for a in child.args.args + child.args.kwonlyargs if a.arg not in ("self", "cls")]
                if names and "Parameters\n" not in (ast.get_docstring(child) or ""):
                    yield prefix + child.name, child.lineno
    yield from visit(ast.parse(text), "")


def main():
    problems, lengths = [], []
    for path in sorted(set(LIBRARY)):
        rel = path.relative_to(REPO)
        lines = path.read_text().splitlines()
        for n, line in enumerate(lines, 1):
            if len(line) > MAX_COLUMNS:
                problems.append(f"{rel}:{n}: {len(line)} columns (limit {MAX_COLUMNS})")
        if path.suffix in (".swift", ".c", ".py"):
            found = python_functions("\n".join(lines)) if path.suffix == ".py" else functions(path, lines)
            for name, first, count in found:
                lengths.append((count, f"{rel}:{first} {name}"))
                if count > MAX_FUNCTION_LINES:
                    problems.append(f"{rel}:{first}: {name} is {count} lines (limit {MAX_FUNCTION_LINES})")
        if rel.parts[:3] == ("bindings", "python", "ntk") and not path.name.startswith("_"):
            for name, line in undocumented_parameters("\n".join(lines)):
                problems.append(f"{rel}:{line}: {name} takes parameters but has no numpydoc Parameters section")
        if rel.parts[:3] == ("Sources", "NTK", "LargeScale"):
            for n, line in enumerate(lines, 1):
                if re.search(r"\b(cblas_|LAPACKE_)\w+", line):
                    problems.append(f"{rel}:{n}: calls BLAS/LAPACK directly (use LinearAlgebra/)")
        if rel.parts[:2] == ("Sources", "NTK"):
            for n, line in enumerate(lines, 1):
                if re.search(EXPORTED_SCALAR_GENERIC, line):
                    problems.append(f"{rel}:{n}: an exported function generic over the scalar type (unspecialised "
                                    "across modules: keep it internal behind Double/Float forms)")
        if rel.parts[:2] == ("Sources", "NTKMPI"):
            for n, line in enumerate(lines, 1):
                for pattern in SPECTRAL_PATTERNS:
                    if re.search(pattern, line.split("/*")[0]):
                        problems.append(f"{rel}:{n}: a spectral formula in libntk_mpi (use ntk_x_spectrum_*)")
    if "--list" in sys.argv:
        for count, where in sorted(lengths, reverse=True)[:15]:
            print(f"{count:5d}  {where}")
    for p in problems:
        print(p)
    print(f"check_style: {len(problems)} problem(s) in {len(set(LIBRARY))} files")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
