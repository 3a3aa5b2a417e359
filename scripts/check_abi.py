#!/usr/bin/env python3
"""Checks that the three descriptions of the C ABI agree with include/ntk.h, the contract.

1. The C boundary: the Clang header that swiftc writes for the ``@_cdecl`` functions of
   ``Sources/NTKC`` (``--swift-header``) is compiled after ``ntk.h`` by a C compiler, so any
   disagreement in a parameter or return type is a "conflicting types" error. Handles are the
   one thing normalised first: Swift sees every opaque handle (``ntk_mlp *``, ...) as a
   ``void *``, so the copy of ``ntk.h`` used here spells handle parameters ``void *`` too.
2. The Python binding: every prototype of ``ntk.h`` against ``ntk._library._SIGNATURES``
   (argument and return ctypes), every enum against ``ntk._library.ENUMS`` (names and values),
   and every struct against its ctypes ``Structure`` (field names and types in order, and
   ``sizeof``/``offsetof`` of every field as the C compiler lays them out).

3. The distributed binding (``--mpi-header include/ntk_mpi.h``): ``ntk.distributed``'s
   signatures, enums and struct layouts against ntk_mpi.h, the same way.

Usage:
  check_abi.py [--header include/ntk.h] [--swift-header GENERATED.h] [--python]
  check_abi.py --mpi-header include/ntk_mpi.h
Exits 1 and lists every disagreement, 0 when all agree. ``scripts/check_abi.sh`` generates the
Swift header and runs both checks; ``bindings/python/tests/test_contract.py`` runs them on
deliberately broken copies of the header to show that they fail.
"""

import argparse
import ctypes
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HANDLES = ("ntk_mlp", "ntk_kernel_ridge", "ntk_kernel_logistic", "ntk_spectral", "ntk_cholesky_factor", "ntk_nystrom",
           "ntk_empirical_ridge", "ntk_model", "ntk_network")


# ---------------------------------------------------------------------------------------------
# Parsing ntk.h (the subset of C it is written in: prototypes, typedef enums, typedef structs)


def _strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def _normal_type(t):
    """A C type with one space between tokens and '*' kept apart: 'const double *'."""
    t = t.replace("*", " * ")
    return " ".join(t.split())


def _split_param(p):
    """('const double *', 'K') from 'const double *K'; a function-pointer typedef name stays a type."""
    p = _normal_type(p)
    if p == "void":
        return None
    m = re.match(r"^(.*?)([A-Za-z_]\w*)$", p)
    if not m or not m.group(1).strip():
        raise ValueError(f"cannot read the parameter {p!r}")
    return _normal_type(m.group(1)), m.group(2)


def parse_header(text):
    """``(prototypes, enums, structs)`` of a header's text.

    prototypes: {name: (return type, [(type, name), ...])}; enums: {typedef name: {constant:
    value}}; structs: {typedef name: [(type, field), ...]}.
    """
    code = _strip_comments(text)
    macros = dict(re.findall(r"^\s*#define\s+(\w+)\s+(\d+)\s*$", code, flags=re.M))
    code = re.sub(r"^\s*#.*$", " ", code, flags=re.M)  # preprocessor lines
    enums = {}
    for m in re.finditer(r"typedef\s+enum\s+\w*\s*\{(.*?)\}\s*(\w+)\s*;", code, flags=re.S):
        values, nxt = {}, 0
        for item in filter(None, (i.strip() for i in m.group(1).split(","))):
            name, _, value = (s.strip() for s in item.partition("="))
            nxt = int(value.replace("(", "").replace(")", "")) if value else nxt
            values[name] = nxt
            nxt += 1
        enums[m.group(2)] = values
    structs = {}
    for m in re.finditer(r"typedef\s+struct\s+\w*\s*\{(.*?)\}\s*(\w+)\s*;", code, flags=re.S):
        fields = []
        for decl in filter(None, (d.strip() for d in m.group(1).split(";"))):
            array = re.match(r"^(.*?)\s*\[\s*(\w+)\s*\]$", decl)  # type name[N], N a number or macro
            if array:
                c_type, field = _split_param(array.group(1))
                fields.append((f"{c_type} [{macros.get(array.group(2), array.group(2))}]", field))
            else:
                fields.append(_split_param(decl))
        structs[m.group(2)] = fields
    body = re.sub(r"typedef[^;]*;", " ", code)
    prototypes = {}
    for m in re.finditer(r"([A-Za-z_][\w\s\*]*?)\b(ntk_\w+)\s*\(([^()]*)\)\s*;", body):
        params = [p for p in (_split_param(p) for p in m.group(3).split(",")) if p is not None]
        prototypes[m.group(2)] = (_normal_type(m.group(1)), params)
    return prototypes, enums, structs


# ---------------------------------------------------------------------------------------------
# 1. The C boundary against the header


def handles_as_void(text):
    """ntk.h with every handle parameter written as Swift declares it: ``void *``/``void **``."""
    names = "|".join(HANDLES)
    text = re.sub(rf"(?:const\s+)?\b(?:{names})\s*\*\s*\*", "void **", text)
    return re.sub(rf"(?:const\s+)?\b(?:{names})\s*\*", "void *", text)


def swift_prototypes(generated):
    """The C prototypes of the @_cdecl functions in swiftc's generated header."""
    lines = [line for line in generated.splitlines() if line.startswith("SWIFT_EXTERN") and "ntk_" in line]
    out = []
    for line in lines:
        line = line.replace("SWIFT_EXTERN", "extern")
        line = re.sub(r"\s*SWIFT_\w+", "", line)
        out.append(line)
    return out


def check_swift(header_text, generated_text, compiler="cc"):
    """Compiles the header (handles as void *) followed by the Swift prototypes; returns errors."""
    prototypes = swift_prototypes(generated_text)
    declared = set(parse_header(header_text)[0])
    errors = []
    defined = {re.search(r"\b(ntk_\w+)\s*\(", p).group(1) for p in prototypes}
    for name in sorted(declared - defined):
        errors.append(f"{name}: declared in ntk.h but not defined by a @_cdecl function")
    for name in sorted(defined - declared):
        errors.append(f"{name}: a @_cdecl function that ntk.h does not declare")
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "ntk_abi.h").write_text(handles_as_void(header_text))
        unit = Path(tmp, "abi.c")
        unit.write_text("#define _Nullable\n#define _Nonnull\n#include <stdbool.h>\n#include \"ntk_abi.h\"\n"
                        + "\n".join(prototypes) + "\n")
        run = subprocess.run([compiler, "-std=c11", "-fsyntax-only", "-Werror", "-I", tmp, str(unit)],
                             capture_output=True, text=True)
        if run.returncode != 0:
            for line in run.stderr.splitlines():
                if "error" in line:
                    errors.append(f"C boundary: {line.split('error:', 1)[-1].strip()}")
            if not errors:
                errors.append("C boundary: the compiler failed:\n" + run.stderr)
    return errors


# ---------------------------------------------------------------------------------------------
# 2. The Python binding against the header


def ctypes_of(c_type, lib, handles=HANDLES):
    """The ctypes type the binding must use for a C type of ntk.h (or ntk_mpi.h)."""
    t = c_type.replace("const ", "")
    array = re.match(r"^(.*) \[(\d+)\]$", t)
    if array:
        return ctypes_of(array.group(1), lib, handles) * int(array.group(2))
    if t == "MPI_Comm":  # a pointer in Open MPI; mpi4py hands its value over as a void *
        return ctypes.c_void_p
    scalars = {"int": ctypes.c_int, "int64_t": ctypes.c_int64, "uint64_t": ctypes.c_uint64, "double": ctypes.c_double,
               "float": ctypes.c_float, "size_t": ctypes.c_size_t, "void": None}
    callbacks = {"ntk_progress_fn": lib.PROGRESS_FN, "ntk_reduce_fn": lib.REDUCE_FN, "ntk_epoch_fn": lib.EPOCH_FN,
                 "ntk_snapshot_fn": lib.SNAPSHOT_FN, "ntk_log_fn": lib.LOG_FN,
                 "ntk_model_product_fn": lib.MODEL_PRODUCT_FN, "ntk_model_rows_fn": lib.MODEL_ROWS_FN}
    if t in scalars:
        return scalars[t]
    if t in callbacks:
        return callbacks[t]
    if t in lib.ENUMS:
        return ctypes.c_int
    if t == "char *":
        return ctypes.c_char_p
    if t == "char * *":
        return ctypes.POINTER(ctypes.c_char_p)
    if t == "void *":
        return ctypes.c_void_p
    base = t[:-2] if t.endswith(" *") else None
    if base in handles:
        return ctypes.c_void_p
    if base and base.endswith(" *") and base[:-2] in handles:
        return ctypes.POINTER(ctypes.c_void_p)
    if base and base.endswith(" *") and base[:-2] in scalars:
        return ctypes.POINTER(ctypes.POINTER(scalars[base[:-2]]))
    if base in lib.STRUCTS:
        return ctypes.POINTER(lib.STRUCTS[base])
    if base in scalars:
        return ctypes.POINTER(scalars[base])
    raise KeyError(f"no ctypes rule for the C type {c_type!r}")


def _same(a, b):
    return a is b or (a is not None and b is not None and ctypes.sizeof(a) == ctypes.sizeof(b)
                      and getattr(a, "_type_", None) is getattr(b, "_type_", None) and a.__name__ == b.__name__)


def _compare(c_type, py, lib, errors, where, handles=HANDLES):
    """Appends an error unless the ctypes type `py` is the one the binding must use for `c_type`."""
    try:
        want = ctypes_of(c_type, lib, handles)
    except KeyError as e:
        errors.append(f"{where}: {e}")
        return
    if not _same(want, py):
        errors.append(f"{where} is {getattr(py, '__name__', py)} in Python, should be "
                      f"{getattr(want, '__name__', want)}")


def check_python(header_text, compiler="cc"):
    """Compares the binding's declarations with the header; returns errors."""
    sys.path.insert(0, str(REPO / "bindings" / "python"))
    from ntk import _library as lib  # noqa: E402  (needs libntk.so: the binding loads it)

    prototypes, enums, structs = parse_header(header_text)
    errors = []
    for name in sorted(set(prototypes) ^ set(lib._SIGNATURES)):
        where = "ntk.h" if name in prototypes else "the Python signatures"
        errors.append(f"{name}: only in {where}")
    for name, (ret, params) in sorted(prototypes.items()):
        if name not in lib._SIGNATURES:
            continue
        args, res = lib._SIGNATURES[name]
        if len(args) != len(params):
            errors.append(f"{name}: {len(params)} parameters in ntk.h, {len(args)} in the Python signatures")
            continue
        for i, ((c_type, pname), py) in enumerate(zip(params, args)):
            _compare(c_type, py, lib, errors, f"{name}: parameter {i} ({c_type} {pname})")
        _compare(ret, res, lib, errors, f"{name}: the return type ({ret})")
    for name in sorted(set(enums) ^ set(lib.ENUMS)):
        errors.append(f"enum {name}: only in {'ntk.h' if name in enums else 'ntk._library.ENUMS'}")
    for name, values in enums.items():
        if name in lib.ENUMS and values != lib.ENUMS[name]:
            errors.append(f"enum {name}: ntk.h has {values}, Python has {lib.ENUMS[name]}")
    for name in sorted(set(structs) ^ set(lib.STRUCTS)):
        errors.append(f"struct {name}: only in {'ntk.h' if name in structs else 'ntk._library.STRUCTS'}")
    common = _compare_fields(structs, lib.STRUCTS, lib, errors)
    errors += _compare_layouts(common, lib.STRUCTS, {"ntk.h": header_text}, compiler)
    return errors


def _compare_fields(structs, classes, lib, errors, handles=HANDLES):
    """Appends the field disagreements of the header's structs with their ctypes `classes`;
    returns the structs both have."""
    common = {n: f for n, f in structs.items() if n in classes}
    for name, fields in common.items():
        py_fields = classes[name]._fields_
        if [f for _, f in fields] != [f for f, _ in py_fields]:
            errors.append(f"struct {name}: fields {[f for _, f in fields]} in the header, {[f for f, _ in py_fields]} "
                          f"in Python")
            continue
        for (c_type, field), (_, py) in zip(fields, py_fields):
            _compare(c_type, py, lib, errors, f"struct {name}.{field} ({c_type})", handles)
    return common


def _compare_layouts(common, classes, headers, compiler, header="ntk.h"):
    """Errors where sizeof/offsetof of the structs `common` (as `header` in the files `headers`
    lays them out) differ from their ctypes `classes`."""
    errors = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, text in headers.items():
                Path(tmp, name).write_text(text)
            layout = _layout(common, compiler, tmp, header)
    except subprocess.CalledProcessError as e:
        return [f"the struct layout program does not compile: {e.stderr}"]
    for name, (size, offsets) in layout.items():
        cls = classes[name]
        if ctypes.sizeof(cls) != size:
            errors.append(f"struct {name}: sizeof is {size} in C, {ctypes.sizeof(cls)} in Python")
        for field, offset in offsets.items():
            if getattr(cls, field).offset != offset:
                errors.append(f"struct {name}.{field}: offset {offset} in C, {getattr(cls, field).offset} in Python")
    return errors


MPI_HANDLES = HANDLES + ("ntk_mpi_grid", "ntk_mpi_matrix", "ntk_mpi_kernel_ridge", "ntk_mpi_spectral")


def check_python_mpi(header_text, compiler="mpicc"):
    """Compares ntk.distributed's declarations with ntk_mpi.h (needs libntk_mpi.so); returns errors."""
    sys.path.insert(0, str(REPO / "bindings" / "python"))
    from ntk import _library as lib  # noqa: E402
    from ntk import distributed  # noqa: E402

    class Both:  # ntk.h's names and ntk_mpi.h's, as ctypes_of looks them up
        PROGRESS_FN, REDUCE_FN, EPOCH_FN, SNAPSHOT_FN, LOG_FN = (lib.PROGRESS_FN, lib.REDUCE_FN, lib.EPOCH_FN,
                                                                 lib.SNAPSHOT_FN, lib.LOG_FN)
        MODEL_PRODUCT_FN, MODEL_ROWS_FN = lib.MODEL_PRODUCT_FN, lib.MODEL_ROWS_FN
        ENUMS = {**lib.ENUMS, **distributed.ENUMS}
        STRUCTS = {**lib.STRUCTS, **distributed.STRUCTS}

    prototypes, enums, structs = parse_header(header_text)
    signatures = distributed._SIGNATURES
    errors = []
    for name in sorted(set(prototypes) ^ set(signatures)):
        errors.append(f"{name}: only in {'ntk_mpi.h' if name in prototypes else 'ntk.distributed._SIGNATURES'}")
    for name, (ret, params) in sorted(prototypes.items()):
        if name not in signatures:
            continue
        args, res = signatures[name]
        if len(args) != len(params):
            errors.append(f"{name}: {len(params)} parameters in ntk_mpi.h, {len(args)} in the Python signatures")
            continue
        for i, ((c_type, pname), py) in enumerate(zip(params, args)):
            _compare(c_type, py, Both, errors, f"{name}: parameter {i} ({c_type} {pname})", MPI_HANDLES)
        _compare(ret, res, Both, errors, f"{name}: the return type ({ret})", MPI_HANDLES)
    if enums != distributed.ENUMS:
        errors.append(f"enums: ntk_mpi.h has {enums}, ntk.distributed.ENUMS {distributed.ENUMS}")
    for name in sorted(set(structs) ^ set(distributed.STRUCTS)):
        errors.append(f"struct {name}: only in {'ntk_mpi.h' if name in structs else 'ntk.distributed.STRUCTS'}")
    common = _compare_fields(structs, distributed.STRUCTS, Both, errors, MPI_HANDLES)
    headers = {"ntk.h": (REPO / "include" / "ntk.h").read_text(), "ntk_mpi.h": header_text}
    return errors + _compare_layouts(common, distributed.STRUCTS, headers, compiler, header="ntk_mpi.h")


def _layout(structs, compiler, include_dir, header="ntk.h"):
    """{struct: (sizeof, {field: offsetof})} as the C compiler lays out the header in include_dir."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "layout.c")
        lines = ['#include <stdio.h>', '#include <stddef.h>', f'#include "{header}"', "int main(void) {"]
        for name, fields in structs.items():
            lines.append(f'    printf("{name} <sizeof> %zu\\n", sizeof({name}));')
            for _, field in fields:
                lines.append(f'    printf("{name} {field} %zu\\n", offsetof({name}, {field}));')
        lines += ["    return 0;", "}"]
        src.write_text("\n".join(lines) + "\n")
        exe = Path(tmp, "layout")
        subprocess.run([compiler, "-std=c99", "-I", include_dir, str(src), "-o", str(exe)],
                       check=True, capture_output=True, text=True)
        out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    layout = {}
    for line in out.splitlines():
        struct, field, value = line.split()
        size, offsets = layout.setdefault(struct, (None, {}))
        if field == "<sizeof>":
            layout[struct] = (int(value), offsets)
        else:
            offsets[field] = int(value)
    return layout


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--header", default=str(REPO / "include" / "ntk.h"))
    parser.add_argument("--swift-header", help="swiftc's generated Clang header of the NTKC module")
    parser.add_argument("--python", action="store_true", help="check the Python ctypes declarations")
    parser.add_argument("--mpi-header",
                        help="check ntk.distributed against this ntk_mpi.h (needs libntk_mpi.so, mpicc)")
    parser.add_argument("--cc", default=os.environ.get("CC", "cc"))
    args = parser.parse_args(argv)
    if args.mpi_header:
        text = Path(args.mpi_header).read_text()
        errors = check_python_mpi(text)
        for e in errors:
            print("ABI mismatch:", e)
        if errors:
            print(f"{len(errors)} disagreements with {args.mpi_header}")
            return 1
        print(f"{args.mpi_header}: {len(parse_header(text)[0])} functions; agrees with ntk.distributed's signatures, "
              "enums and struct layouts")
        return 0
    header = Path(args.header).read_text()
    errors = []
    checked = []
    if args.swift_header:
        errors += check_swift(header, Path(args.swift_header).read_text(), args.cc)
        checked.append("the C boundary (@_cdecl prototypes)")
    if args.python:
        errors += check_python(header, args.cc)
        checked.append("the Python signatures, enums and struct layouts")
    if not checked:
        parser.error("nothing to check: give --swift-header and/or --python")
    for e in errors:
        print("ABI mismatch:", e)
    count = len(parse_header(header)[0])
    if errors:
        print(f"{len(errors)} disagreements with {args.header}")
        return 1
    print(f"{args.header}: {count} functions; agrees with " + " and ".join(checked))
    return 0


if __name__ == "__main__":
    sys.exit(main())
