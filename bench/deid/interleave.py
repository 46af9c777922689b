#!/usr/bin/env python3
"""Interleaved paired ratios for bench/deid/run.sh.

Usage: interleave.py COMMANDS.tsv ROUNDS NFILES NBYTES OUT.md
COMMANDS.tsv rows: name<TAB>prepare<TAB>command. Round 0 is a warm-up. In each
round every command runs once, the order rotated by one per round; prepare is
untimed. A paired ratio of A over B is the median over rounds of t(B)/t(A), both
timed in the same round, which cancels slowdowns of a shared machine that hit a
whole round. Ratios above 1 mean A is faster.
"""
import statistics
import subprocess
import sys
import time

PAIRS = [  # (anchor, reference): how fast deid is against each yardstick
    ("deid_j1", "gocopy_j1"), ("deid_j2", "gocopy_j2"), ("deid_basic_j2", "gocopy_j2"),
    ("deid_j2", "gdcmanon_basic"), ("deid_j1", "gdcmanon_basic"),
    ("deid_j2", "pydicom_deid"), ("deid_j1", "pydicom_deid"),
    ("deid_j4", "gocopy_j2"), ("deid_j4", "gdcmanon_basic"), ("deid_j4", "pydicom_deid"),
    ("gdcmanon_basic", "gocopy_j1"), ("pydicom_deid", "gocopy_j1"),
]


def main():
    tsv, rounds, nfiles, nbytes, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    cmds = [line.rstrip("\n").split("\t") for line in open(tsv) if line.strip()]
    times = {c[0]: [] for c in cmds}
    for r in range(rounds + 1):
        k = r % len(cmds)
        for name, prep, cmd in cmds[k:] + cmds[:k]:
            subprocess.run(["bash", "-c", prep], check=True)
            t0 = time.perf_counter()
            subprocess.run(["bash", "-c", cmd], check=True, stdout=subprocess.DEVNULL)
            if r:
                times[name].append(time.perf_counter() - t0)
        print(f"round {r}/{rounds} done", file=sys.stderr)
    lines = [f"Interleaved: {rounds} rounds (+1 warm-up), {nfiles} files, {nbytes / 1e6:.1f} MB.", "",
             "| command | median s (min-max) | files/s | MB/s |", "|---|---|--:|--:|"]
    for name, ts in times.items():
        med = statistics.median(ts)
        lines.append(f"| {name} | {med:.3f} ({min(ts):.3f}-{max(ts):.3f}) | {nfiles / med:,.0f} | {nbytes / med / 1e6:,.0f} |")
    lines += ["", "| paired ratio | median | min-max |", "|---|--:|--:|"]
    for a, b in PAIRS:
        if a in times and b in times:
            rs = [tb / ta for ta, tb in zip(times[a], times[b])]
            lines.append(f"| {a} vs {b} | {statistics.median(rs):.2f}x | {min(rs):.2f}-{max(rs):.2f} |")
    text = "\n".join(lines) + "\n"
    open(out, "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
