#!/usr/bin/env python3
"""The table of the rexfs benchmark (tests/bench.sh).

  report.py ROWS RESULTS

ROWS, one line per row of the table in its order, tab-separated:
    ROW  GROUP  UNIT  LABEL
RESULTS, one line per measurement, tab-separated:
    ROW  COLUMN  RUN  VALUE
where COLUMN is rexfs, xfs, ext4 or raw and VALUE a number, "failed", or
another word saying why there is no number ("n/a", "n/a (no O_DIRECT)").

A UNIT ending in "/s" (MiB/s, IOPS as "IOPS", ops/s) is a rate, higher
better; any other (ms, s, us/op) a time, lower better. Each cell shows the
best of the runs and, in parentheses, their spread: (max - min) / max. A
cell with a failed run reads "failed"; one without a number its word; one
never measured "-". The last column is rexfs's best over XFS's for a rate,
XFS's over rexfs's for a time: above 1, rexfs is faster.

The scaling rows (BENCH_SCALE=1) come in families, one row per size, named
scale_FAMILY_1k, scale_FAMILY_10k, scale_FAMILY_100k; all are times. After
the table, a "Scaling" section has a line per family with both a 1k and a
100k row: rexfs's best at 100k over its best at 1k (the target: at most 2)
and over XFS's best at 100k (at most 1.5), and whether each is in its
target.
"""
import re
import sys

COLUMNS = [("rexfs", "rexfs"), ("xfs", "XFS"), ("ext4", "ext4"), ("raw", "raw device")]

SCALE_ROW = re.compile(r"^scale_(\w+)_(1k|100k)$")
# The targets: rexfs's time per operation at 100k at most this many
# times its own at 1k, and XFS's at 100k.
GROWTH_TARGET = 2.0
XFS_TARGET = 1.5


def is_rate(unit):
    return unit.endswith("/s") or unit == "IOPS"


def fmt(v):
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def cell(values, rate):
    """(text, best) for one row and column; best is None without a number."""
    if not values:
        return "-", None
    if "failed" in values:
        return "failed", None
    words = [v for v in values if number(v) is None]
    if words:
        return words[0], None
    nums = [number(v) for v in values]
    best = max(nums) if rate else min(nums)
    hi = max(nums)
    text = fmt(best)
    if len(nums) > 1:
        spread = (hi - min(nums)) / hi * 100 if hi > 0 else 0
        text += f" ({spread:.0f}%)"
    return text, best


def main(rows_path, results_path):
    rows = []
    with open(rows_path) as f:
        for line in f:
            if line.strip():
                row, group, unit, label = line.rstrip("\n").split("\t")
                rows.append((row, group, unit, label))
    values = {}
    with open(results_path) as f:
        for line in f:
            if line.strip():
                row, column, _run, value = line.rstrip("\n").split("\t")
                values.setdefault((row, column), []).append(value)

    table = []  # (group, label, unit, [cells], ratio)
    bests_of = {}  # row -> {column: best or None}
    for row, group, unit, label in rows:
        rate = is_rate(unit)
        cells, bests = [], {}
        for col, _title in COLUMNS:
            text, best = cell(values.get((row, col), []), rate)
            cells.append(text)
            bests[col] = best
        bests_of[row] = bests
        r, x = bests["rexfs"], bests["xfs"]
        if r is not None and x is not None and r > 0 and x > 0:
            ratio = fmt(r / x if rate else x / r)
        else:
            ratio = "-"
        table.append((group, label, unit, cells, ratio))

    # A group's title has a line of its own and may run past the labels.
    label_w = max([len(t[1]) + 2 for t in table] + [10])
    unit_w = max([len(t[2]) for t in table] + [4])
    col_w = [max([len(t[3][i]) for t in table] + [len(title)])
             for i, (_c, title) in enumerate(COLUMNS)]
    ratio_title = "rexfs/XFS"

    def line(label, unit, cells, ratio):
        parts = [label.ljust(label_w), unit.ljust(unit_w)]
        parts += [c.rjust(w) for c, w in zip(cells, col_w)]
        parts.append(ratio.rjust(len(ratio_title)))
        return "  ".join(parts).rstrip()

    print(line("", "unit", [title for _c, title in COLUMNS], ratio_title))
    group = None
    for g, label, unit, cells, ratio in table:
        if g != group:
            print(g)
            group = g
        print(line("  " + label, unit, cells, ratio))
    scaling(rows, bests_of)


def ratio_to_target(a, b, target):
    """a / b and whether it is within TARGET; "-" without both numbers."""
    if a is None or b is None or b <= 0:
        return "-"
    r = a / b
    return f"{fmt(r)} {'ok' if r <= target else 'over'}"


def scaling(rows, bests_of):
    """The Scaling section: each family's 100k row against its 1k row and
    against XFS's at 100k."""
    families = {}  # family -> {size: (row, label)}, in table order
    for row, _group, _unit, label in rows:
        m = SCALE_ROW.match(row)
        if m:
            families.setdefault(m.group(1), {})[m.group(2)] = (row, label)
    lines = []
    for sizes in families.values():
        if "1k" not in sizes or "100k" not in sizes:
            continue
        small, large = bests_of[sizes["1k"][0]], bests_of[sizes["100k"][0]]
        lines.append((sizes["100k"][1],
                      ratio_to_target(large["rexfs"], small["rexfs"], GROWTH_TARGET),
                      ratio_to_target(large["rexfs"], large["xfs"], XFS_TARGET)))
    if not lines:
        return
    titles = ("rexfs 100k / 1k", "rexfs / XFS at 100k")
    label_w = max(len(l[0]) for l in lines) + 2
    widths = [max([len(l[i + 1]) for l in lines] + [len(t)]) for i, t in enumerate(titles)]
    print()
    print(f"Scaling: rexfs's best time per operation at 100k over its own at 1k (target: at most"
          f" {GROWTH_TARGET:g})")
    print(f"and over XFS's at 100k (target: at most {XFS_TARGET:g}); \"over\": the target missed")
    print("  ".join([" " * label_w] + [t.rjust(w) for t, w in zip(titles, widths)]).rstrip())
    for label, growth, vs_xfs in lines:
        print("  ".join([("  " + label).ljust(label_w), growth.rjust(widths[0]),
                         vs_xfs.rjust(widths[1])]))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: report.py ROWS RESULTS")
    main(sys.argv[1], sys.argv[2])
