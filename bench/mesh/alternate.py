#!/usr/bin/env python3
"""Time commands in alternation, one run of each per round, so that load
which comes and goes on a shared machine lands on all of them alike.

    bench/mesh/alternate.py -r 15 -- "cmd one" "cmd two" ...

Prints, per command, the median, minimum and spread (interquartile range)
of wall time, and user and system CPU time (from wait4), then the ratio of
each command's median to the first one's, and the median of the per-round
ratios (each run against the first command's run of the same round, which
cancels load that lasts longer than a round). Environment assignments at the
start of a command (GOMAXPROCS=1 ...) are honoured; output is discarded.
"""
import argparse
import os
import shlex
import statistics
import subprocess
import time


def run(cmd):
    words = shlex.split(cmd)
    env = dict(os.environ)
    while words and "=" in words[0] and not words[0].startswith("="):
        k, v = words.pop(0).split("=", 1)
        env[k] = v
    t0 = time.perf_counter()
    p = subprocess.Popen(words, env=env, stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"{cmd!r} failed with status {status}")
    return wall, ru.ru_utime, ru.ru_stime, ru.ru_minflt


def quart(xs):
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return q[0], q[2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-r", "--runs", type=int, default=10)
    ap.add_argument("-w", "--warmup", type=int, default=1)
    ap.add_argument("cmds", nargs="+")
    a = ap.parse_args()
    for _ in range(a.warmup):
        for c in a.cmds:
            run(c)
    res = {c: [] for c in a.cmds}
    for _ in range(a.runs):
        for c in a.cmds:
            res[c].append(run(c))
    base = None
    first = res[a.cmds[0]]
    for c in a.cmds:
        wall = [r[0] for r in res[c]]
        user = [r[1] for r in res[c]]
        sys_ = [r[2] for r in res[c]]
        flt = [r[3] for r in res[c]]
        med = statistics.median(wall)
        cpu = statistics.median([u + s for u, s in zip(user, sys_)])
        lo, hi = quart(wall)
        if base is None:
            base = (med, cpu)
        print(f"{c}\n  wall median {med*1e3:7.1f} ms  min {min(wall)*1e3:7.1f}  IQR {lo*1e3:.1f}-{hi*1e3:.1f}  "
              f"user {statistics.median(user)*1e3:6.1f}  sys {statistics.median(sys_)*1e3:5.1f}  "
              f"cpu {cpu*1e3:6.1f} ms  faults {int(statistics.median(flt))}\n"
              f"  ratio to first: wall {med/base[0]:.3f}x  cpu {cpu/base[1]:.3f}x  ({a.runs} runs)")
        pw = sorted(r[0] / f[0] for r, f in zip(res[c], first))
        pc = sorted((r[1] + r[2]) / (f[1] + f[2]) for r, f in zip(res[c], first))
        if c != a.cmds[0]:
            print(f"  per-round ratio to first: wall median {statistics.median(pw):.3f}x (IQR {quart(pw)[0]:.3f}-{quart(pw)[1]:.3f})  "
                  f"cpu median {statistics.median(pc):.3f}x (IQR {quart(pc)[0]:.3f}-{quart(pc)[1]:.3f})")


main()
