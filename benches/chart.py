#!/usr/bin/env python3
"""Draws BENCHMARKS.md's throughput chart from the load driver's CSV, as plain SVG.

    python3 benches/chart.py [benches/figures/throughput.csv] [benches/figures/throughput.svg]
    python3 benches/chart.py --table [benches/figures/throughput.csv]   # the Markdown tables
    python3 benches/chart.py --spread FILE   # how the per-round ratios spread

The CSV is what `cargo run --release --example load -- ... --csv FILE` appends: one row
per protocol, side, concurrency and round. The chart shows, for each protocol (plain
HTTP/1.1, HTTPS/1.1, HTTPS/2) and side (bare client, pipeline, seed's shape), the median
over the rounds of the rate, against the concurrency (both axes logarithmic). Needs
Python 3 only (no packages).
"""

import csv
import math
import statistics
import sys
from collections import defaultdict

WIDTH, HEIGHT = 860, 520
SIGNING = "raw-current+sign"
LEFT, RIGHT, TOP, BOTTOM = 80, 250, 40, 60
SIDES = {"raw": ("bare client", "#1f77b4"), "pipeline": ("pipeline", "#d62728"),
         "seed": ("seed's shape", "#2ca02c"), "default": ("transport default", "#9467bd"),
         # The bare client on a current-thread runtime making, signing and timing out
         # each request itself (`--client-runtimes ...,current+sign`).
         SIGNING: ("bare client, signing", "#ff7f0e")}
PROTOCOLS = {"http1": ("HTTP/1.1", ""), "https1": ("HTTPS/1.1", "8 4"),
             "https2": ("HTTPS/2", "2 3")}


def medians(path):
    """{(protocol, side): {c: median rate}} from the CSV rows."""
    rates = defaultdict(lambda: defaultdict(list))
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            rate = float(row["rate"])
            if rate > 0:
                rates[(row["protocol"], row["side"])][int(row["c"])].append(rate)
    return {key: {c: statistics.median(v) for c, v in by_c.items()}
            for key, by_c in rates.items()}


def scale(lo, hi, size, flip):
    """A log scale from [lo, hi] to [0, size] (flipped for y)."""
    span = (math.log10(hi) - math.log10(lo)) or 1.0  # one concurrency: a single column

    def to(v):
        x = (math.log10(v) - math.log10(lo)) / span * size
        return size - x if flip else x
    return to


def svg(series):
    cs = sorted({c for points in series.values() for c in points})
    values = [v for points in series.values() for v in points.values()]
    ylo = 10 ** math.floor(math.log10(min(values)))
    yhi = 10 ** math.ceil(math.log10(max(values)))
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    sx, sy = scale(min(cs), max(cs), pw, False), scale(ylo, yhi, ph, True)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{LEFT}" y="22" font-size="15">Delivery throughput against '
           'concurrency (loopback, signing on; medians of rounds)</text>',
           f'<g transform="translate({LEFT},{TOP})">',
           f'<rect width="{pw}" height="{ph}" fill="none" stroke="#444"/>']
    for c in cs:
        x = sx(c)
        out.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{ph}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{ph + 18}" text-anchor="middle">{c}</text>')
    decade = ylo
    while decade <= yhi:
        for m in (1, 2, 5):
            v = decade * m
            if ylo <= v <= yhi:
                y = sy(v)
                out.append(f'<line x1="0" y1="{y:.1f}" x2="{pw}" y2="{y:.1f}" stroke="#eee"/>')
                label = f"{v / 1000:g}k" if v >= 1000 else f"{v:g}"
                out.append(f'<text x="-8" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
        decade *= 10
    out.append(f'<text x="{pw / 2}" y="{ph + 40}" text-anchor="middle">concurrency '
               '(requests in flight)</text>')
    out.append(f'<text transform="translate(-58,{ph / 2}) rotate(-90)" '
               'text-anchor="middle">requests or events per second</text>')
    legend = 0
    for protocol, (pname, dash) in PROTOCOLS.items():
        for side, (sname, colour) in SIDES.items():
            points = series.get((protocol, side))
            if not points:
                continue
            path = " ".join(f"{sx(c):.1f},{sy(v):.1f}" for c, v in sorted(points.items()))
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                       f'stroke-width="2" stroke-dasharray="{dash}"/>')
            for c, v in sorted(points.items()):
                out.append(f'<circle cx="{sx(c):.1f}" cy="{sy(v):.1f}" r="3" fill="{colour}"/>')
            ly = 10 + legend * 20
            out.append(f'<line x1="{pw + 15}" y1="{ly}" x2="{pw + 50}" y2="{ly}" '
                       f'stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>')
            out.append(f'<text x="{pw + 56}" y="{ly + 4}">{sname}, {pname}</text>')
            legend += 1
    out.append("</g></svg>")
    return "\n".join(out) + "\n"


def table(path):
    """BENCHMARKS.md's tables: per protocol and concurrency, each side's median rate,
    the median of its per-round ratios to the bare client, and its median CPU per item
    (this process / the sink); then the bare client's runtimes."""
    rows = defaultdict(dict)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            key = (row["protocol"], int(row["c"]))
            rows[key].setdefault(row["side"], {})[int(row["round"])] = row
    present = {side for by_side in rows.values() for side in by_side}
    sides = [s for s in ("raw", SIGNING, "pipeline", "seed", "default")
             if s in present or s in ("raw", "pipeline")]
    print("| protocol | C | " + " | ".join(
        f"{SIDES[s][0]} /s (× bare) [CPU µs: client / sink]" for s in sides) + " |")
    print("|---|---|" + "---|" * len(sides))
    for (protocol, c), by_side in sorted(rows.items()):
        raw = by_side.get("raw", {})
        cells = []
        for side in sides:
            rounds = by_side.get(side)
            if not rounds:
                cells.append("")
                continue
            rate = statistics.median(float(r["rate"]) for r in rounds.values())
            ratios = [float(r["rate"]) / float(raw[n]["rate"])
                      for n, r in rounds.items() if n in raw and float(raw[n]["rate"]) > 0]
            cpu = (statistics.median(float(r["cpu_client_us"]) for r in rounds.values()),
                   statistics.median(float(r["cpu_sink_us"]) for r in rounds.values()))
            ratio = f" (×{statistics.median(ratios):.3f})" if side != "raw" and ratios else ""
            cells.append(f"{rate:,.0f}{ratio} [{cpu[0]:.1f} / {cpu[1]:.1f}]")
        print(f"| {PROTOCOLS[protocol][0]} | {c} | " + " | ".join(cells) + " |")
    print()
    names = flavours(rows)
    print("| protocol | C | bare client: " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for (protocol, c), by_side in sorted(rows.items()):
        cells = []
        for flavour in names:
            rounds = by_side.get(f"raw-{flavour}", {})
            cells.append(f"{statistics.median(float(r['rate']) for r in rounds.values()):,.0f}"
                         if rounds else "")
        print(f"| {PROTOCOLS[protocol][0]} | {c} | " + " | ".join(cells) + " |")


def flavours(rows):
    """The bare client's runtimes found in the rows (`raw-<runtime>` sides), the
    default three first, then the others (e.g. `current+sign`) by name."""
    found = {side[4:] for by_side in rows.values() for side in by_side if side.startswith("raw-")}
    default = [f for f in ("current", "multi1", "multi2") if f in found]
    return default + sorted(found - set(default))


def spread(path):
    """Per protocol and concurrency, the pipeline's per-round ratios to each of the bare
    client's runtimes: rounds, median, quartiles, lowest and highest."""
    rates = defaultdict(lambda: defaultdict(dict))
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            key = (row["protocol"], int(row["c"]))
            rates[key][row["side"]][int(row["round"])] = float(row["rate"])
    print("| protocol | C | pipeline / bare client on | rounds | median | quartiles | lowest | highest |")
    print("|---|---|---|---|---|---|---|---|")
    for (protocol, c), by_side in sorted(rates.items()):
        pipeline = by_side.get("pipeline", {})
        for flavour in flavours(rates):
            raw = by_side.get(f"raw-{flavour}", {})
            ratios = sorted(r / raw[n] for n, r in pipeline.items() if raw.get(n, 0) > 0)
            if len(ratios) < 2:
                continue
            q1, _, q3 = statistics.quantiles(ratios, n=4)
            print(f"| {PROTOCOLS[protocol][0]} | {c} | {flavour} | {len(ratios)} "
                  f"| {statistics.median(ratios):.3f} | {q1:.3f}–{q3:.3f} "
                  f"| {ratios[0]:.3f} | {ratios[-1]:.3f} |")


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("--table", "--spread"):
        report = table if sys.argv[1] == "--table" else spread
        report(sys.argv[2] if len(sys.argv) > 2 else "benches/figures/throughput.csv")
        return
    if any(arg.startswith("-") for arg in sys.argv[1:]):
        # `--help` or an option this script does not have: the usage, and no file
        # written (a flag taken for the CSV's path used to truncate the chart).
        sys.exit(__doc__)
    source = sys.argv[1] if len(sys.argv) > 1 else "benches/figures/throughput.csv"
    target = sys.argv[2] if len(sys.argv) > 2 else "benches/figures/throughput.svg"
    # Drawn before the target is opened, so a CSV that cannot be read leaves the old
    # chart in place.
    drawing = svg(medians(source))
    with open(target, "w") as f:
        f.write(drawing)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
