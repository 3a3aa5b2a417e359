"""The verdict on valgrind (memcheck) logs, one per process.

    valgrind_verdict.py [--ours-only] LOG...

Fails unless each log shows valgrind ran its program to the end (an ERROR SUMMARY line: a
valgrind that gave up, say on debug information it cannot read, writes none) and found no error
and no block definitely or indirectly lost. With --ours-only (a Python interpreter, whose own
uninitialised reads valgrind reports by the thousand) only errors with a libntk or libntk_mpi
frame in their stack count, and leaks are not judged. Prints one line per log.
"""

import re
import sys

OURS = re.compile(r"libntk|ntk_mpi_|\$s3NTK|NTKMPI")


def verdict(path, ours_only):
    text = open(path, encoding="utf-8", errors="replace").read()
    summaries = re.findall(r"ERROR SUMMARY: (\d+) errors", text)
    if not summaries:
        return False, f"{path}: valgrind did not run to the end"
    blocks = re.split(r"\n==\d+== \n", text)
    errors = [b for b in blocks if re.search(r"Invalid|uninitialised|Conditional jump|Syscall param|Mismatched free|"
                                             r"lost in loss record", b)]
    if ours_only:
        errors = [b for b in errors if OURS.search(b) and "lost in loss record" not in b]
        return not errors, f"{path}: {len(errors)} errors in libntk frames ({sum(map(int, summaries))} in all)"
    lost = re.findall(r"(?:definitely|indirectly) lost: ([\d,]+) bytes", text)
    bad = sum(map(int, summaries)) > 0 or any(n.replace(",", "") != "0" for n in lost)
    if bad:
        for block in errors[:3]:
            print(block[:3000], file=sys.stderr)
    return not bad, f"{path}: {sum(map(int, summaries))} errors, lost {', '.join(lost) or '0'} bytes"


def main():
    args = sys.argv[1:]
    ours_only = "--ours-only" in args
    logs = [a for a in args if a != "--ours-only"]
    if not logs:
        sys.exit(__doc__)
    ok = True
    for log in logs:
        good, line = verdict(log, ours_only)
        print(("ok   " if good else "FAIL ") + line)
        ok &= good
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
