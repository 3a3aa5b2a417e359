#!/usr/bin/env python3
"""Wraps lines longer than 120 columns in Swift, C and Python sources the way the code base is
written by hand: an argument list breaks after its last comma that fits, and the continuation is
aligned one column after the open bracket; a string literal that still does not fit is split into
two literals joined by `+` (Swift, Python) or by juxtaposition (C); a comment is re-flowed.
Lines it cannot wrap are left for a person. A developer tool (the limit itself is checked by
scripts/check_style.py); usage: wrap_long_lines.py FILE..."""

import re
import sys

LIMIT = 120


def scan(line, lang):
    """Per column: bracket depth stack positions and whether inside a string, plus comment start."""
    stack, states, in_str, i, comment = [], [], None, 0, None
    while i < len(line):
        ch = line[i]
        if in_str:
            states.append((True, stack[-1] if stack else None))
            if ch == "\\":
                if lang == "swift" and i + 1 < len(line) and line[i + 1] == "(":
                    # interpolation: treat as nested code until the matching paren
                    depth, j = 0, i + 1
                    while j < len(line):
                        if line[j] == "(":
                            depth += 1
                        elif line[j] == ")":
                            depth -= 1
                            if depth == 0:
                                break
                        j += 1
                    for _ in range(i + 1, min(j + 1, len(line))):
                        states.append((None, stack[-1] if stack else None))
                    i = j + 1
                    continue
                states.append((True, stack[-1] if stack else None))
                i += 2
                continue
            if ch == in_str:
                in_str = None
            i += 1
            continue
        if ch in "\"'" and (lang != "swift" or ch == '"'):
            in_str = ch
            states.append((True, stack[-1] if stack else None))
            i += 1
            continue
        if line.startswith("//", i) or (lang == "python" and ch == "#") or line.startswith("/*", i):
            comment = i
            break
        if ch in "([{":
            stack.append(i)
        elif ch in ")]}" and stack:
            stack.pop()
        states.append((False, stack[-1] if stack else None))
        i += 1
    return states, comment


def depth_at(line, states, i):
    """How many brackets are open at column i (outside strings)."""
    depth = 0
    for j in range(i):
        if states[j][0] is False:
            depth += line[j] in "([{"
            depth -= line[j] in ")]}"
    return depth


def wrap_guard(line):
    """`guard c else { body }` on one line -> a three-line guard (Swift)."""
    m = re.match(r"^(\s*)(guard .* else) \{ (.*) \}$", line)
    if not m or "{" in m.group(3):
        return None
    indent = m.group(1)
    return [f"{indent}{m.group(2)} {{", f"{indent}    {m.group(3)}", f"{indent}}}"]


def wrap_code(line, lang):
    if lang == "swift":
        guard = wrap_guard(line)
        if guard:
            return guard
    states, comment = scan(line, lang)
    if comment is not None and comment < LIMIT:
        return None
    # The comma of the shallowest bracket that fits (the rightmost of those): arguments of the
    # outer call stay together, nested calls are not torn apart.
    best = None
    for i in range(min(len(states), LIMIT) - 1, 0, -1):
        in_str, open_col = states[i]
        if in_str is False and line[i] == "," and i + 1 < len(line) and line[i + 1] == " ":
            if open_col is None:
                # A continuation line's own level (an argument list opened on an earlier line):
                # break there, aligned with this line. Not in Python (no implicit continuation).
                if lang == "python":
                    continue
                open_col = len(line) - len(line.lstrip()) - 1
            depth = depth_at(line, states, i)
            if best is None or depth < best[2]:
                best = (i, open_col, depth)
    if best:
        i, open_col, _ = best
        head, tail = line[: i + 1].rstrip(), line[i + 2:].lstrip()
        indent = open_col + 1
        if indent + len(tail) < len(line) and tail and indent < 90:
            return [head, " " * indent + tail]
    # split a string literal (not in Python: f-strings and prefixes make it unsafe)
    for i in range(0) if lang == "python" else range(min(len(states), LIMIT - 3) - 1, 0, -1):
        in_str, open_col = states[i]
        if in_str is True and line[i] == " " and states[i - 1][0] is True and line[i - 1] != "\\":
            quote = '"'
            head = line[: i + 1] + quote
            indent = (open_col + 1) if open_col is not None else len(line) - len(line.lstrip()) + 4
            joiner = "+ " if lang in ("swift", "python") else ""
            tail = " " * indent + joiner + quote + line[i + 1:]
            return [head, tail]
    return None


def wrap_comment(line):
    m = re.match(r"^(\s*(?:///|//|#:?|\*|/\*)\s?)(.*)$", line)
    if not m:
        return None
    prefix, text = m.groups()
    if "/*" in prefix:
        prefix = prefix.replace("/*", " *")
    cut = text.rfind(" ", 0, LIMIT - len(prefix))
    if cut <= 0:
        return None
    cont = prefix if not prefix.strip().startswith("*") else re.sub(r"\S.*", "* ", prefix)
    return [m.group(1) + text[:cut], cont + text[cut + 1:]]


def python_string_split(line):
    """Splits a plain or f-string literal inside brackets at a space before the limit into two
    adjacent literals with the same prefix (implicit concatenation), aligned after the bracket
    that holds the literal; never inside an f-string's braces."""
    i, stack, best = 0, [], None
    while i < len(line):
        ch = line[i]
        if ch == "#":
            break
        if ch in "([{":
            stack.append(i)
        elif ch in ")]}" and stack:
            stack.pop()
        elif ch in "\"'":
            j = i - 1
            while j >= 0 and line[j].isalpha():
                j -= 1
            prefix = line[j + 1:i].lower()
            if line.startswith(ch * 3, i) or prefix not in ("", "f"):
                return None
            k, braces = i + 1, 0
            while k < len(line) and line[k] != ch:
                if line[k] == "\\":
                    k += 2
                    continue
                if prefix == "f" and line[k] == "{":
                    braces += 1
                elif prefix == "f" and line[k] == "}":
                    braces -= 1
                elif line[k] == " " and braces == 0 and stack and k < LIMIT - 2 and k > i + 1:
                    best = (k, prefix + ch, stack[-1] + 1)
                k += 1
            i = k + 1
            continue
        i += 1
    if not best:
        return None
    k, opener, column = best
    return [line[: k + 1] + opener[-1], " " * column + opener + line[k + 1:]]


def wrap(line, lang):
    stripped = line.lstrip()
    if stripped.startswith(("///", "//", "#", "* ", "/*")) and not (lang == "c" and stripped.startswith("#define")):
        return wrap_comment(line)
    parts = wrap_code(line, lang)
    if parts is None and lang == "python":
        parts = python_string_split(line)
    return parts


def main():
    for path in sys.argv[1:]:
        lang = "swift" if path.endswith(".swift") else "python" if path.endswith(".py") else "c"
        lines = open(path).read().split("\n")
        out, changed = [], 0
        queue = list(lines)
        docstring = False
        while queue:
            line = queue.pop(0)
            if lang == "python" and line.count('"""') % 2 == 1:
                docstring = not docstring
                out.append(line)
                continue
            if len(line) > LIMIT and not docstring:
                parts = wrap(line, lang)
                if parts and all(len(p) < len(line) for p in parts):
                    changed += 1
                    queue[0:0] = parts
                    continue
            out.append(line)
        if changed:
            open(path, "w").write("\n".join(out))
        print(f"{path}: {changed} wrap(s)")


if __name__ == "__main__":
    main()
