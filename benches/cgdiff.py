#!/usr/bin/env python3
"""Per-event instruction counts of two callgrind runs, function by function.

    python3 benches/cgdiff.py A[,A2...] B[,B2...] [--events N]

A and B are callgrind output files (several, comma-separated, are summed: e.g. the
worker's and the producer's threads from `--separate-threads=yes`). Each function's
exclusive count is divided by N (22,000: the load driver's `-n 20000` plus its C x 250
warm-up at C = 8) and the functions are listed by how much more B spends on them than A.
Needs `callgrind_annotate` (valgrind). BENCHMARKS.md, "Round 11", part 4, shows how the
files are made.
"""
import collections
import re
import subprocess
import sys


def per_event(files, events):
    counts = collections.Counter()
    for path in files:
        out = subprocess.run(
            ["callgrind_annotate", "--threshold=100", path],
            capture_output=True, text=True, check=True,
        ).stdout
        for line in out.splitlines():
            m = re.match(r"\s*([\d,]+)\s+\([ \d.]+%\)\s+(.*)", line)
            if not m or "PROGRAM TOTALS" in line:
                continue
            name = m.group(2)
            name = name[4:] if name.startswith("???:") else re.sub(r"^\S*:", "", name, count=1)
            name = re.sub(r" \[.*\]$", "", name)
            counts[name] += int(m.group(1).replace(",", "")) / events
    return counts


def main():
    args = sys.argv[1:]
    events = 22000
    if "--events" in args:
        at = args.index("--events")
        events = int(args[at + 1])
        del args[at:at + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    a = per_event(args[0].split(","), events)
    b = per_event(args[1].split(","), events)
    print(f"instructions per event: A {sum(a.values()):.0f}, B {sum(b.values()):.0f}")
    print(f"{'A':>8} {'B':>8} {'B - A':>8}  function")
    rows = sorted(set(a) | set(b), key=lambda k: -(b.get(k, 0) - a.get(k, 0)))
    shown = rows[:45] + [None] + rows[-15:] if len(rows) > 60 else rows
    for key in shown:
        if key is None:
            print("...")
            continue
        x, y = a.get(key, 0), b.get(key, 0)
        print(f"{x:8.0f} {y:8.0f} {y - x:+8.0f}  {key[:150]}")


if __name__ == "__main__":
    main()
