#!/usr/bin/env python3
"""Where each thread of a load run spends its time: running, or runnable but waiting for
a core (BENCHMARKS.md, "Round 6").

    python3 benches/threads.py [--after S] [--for S] -- LOAD_ARGS...

It starts `target/release/examples/load LOAD_ARGS...` (build it first with
`cargo build --release --example load`), waits `--after` seconds (default 3) for the
warm-up to pass, then reads `/proc/<pid>/task/*/schedstat` and `status` of the load
process and of its sink (its child process) twice, `--for` seconds apart (default 4),
and prints per thread: the share of the window it ran, the share it was runnable but
waited for a core, its voluntary (it slept) and involuntary (it was preempted) context
switches and its moves between cores per second, and, from its `stat` read every 20 ms
while it was running, how often it was on each core. Threads that ran under 1 % of the window are left out.
Give the load driver enough work (`-n`) to outlast both waits, with `--slices 1` and one
side so that the window sees that side only. Linux only (it needs schedstat); Python 3,
no packages.
"""

import os
import subprocess
import sys
import time

LOAD = os.path.join("target", "release", "examples", "load")


def snapshot(pid):
    """Per thread id: (ns run, ns waited, voluntary, involuntary, migrations, name)."""
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        base = f"/proc/{pid}/task/{tid}"
        try:
            with open(f"{base}/schedstat") as f:
                run, wait = (int(x) for x in f.read().split()[:2])
            with open(f"{base}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            with open(f"{base}/comm") as f:
                name = f.read().strip()
            with open(f"{base}/sched") as f:
                sched = dict(
                    (key.strip(), value) for key, value in
                    (line.split(":", 1) for line in f if ":" in line)
                )
        except OSError:
            continue  # the thread ended between the listing and the read
        voluntary = int(fields["voluntary_ctxt_switches"])
        involuntary = int(fields["nonvoluntary_ctxt_switches"])
        migrations = int(sched["se.nr_migrations"].split()[0])
        threads[tid] = (run, wait, voluntary, involuntary, migrations, name)
    return threads


def sample_cores(pids, seconds, cores):
    """For `seconds`, every 20 ms: the core of each running thread of `pids`, counted in
    `cores` (thread id -> {core: samples})."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for pid in pids:
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in tids:
                try:
                    with open(f"/proc/{pid}/task/{tid}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                # After the name: state is field 3 of stat(5), the last core field 39.
                if fields[0] == "R":
                    per = cores.setdefault(tid, {})
                    per[int(fields[36])] = per.get(int(fields[36]), 0) + 1
        time.sleep(0.02)


def child_of(pid):
    """The first child process of `pid` (the sink), or None."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                # The name may hold spaces: the parent's pid follows its closing paren.
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            return int(entry)
    return None


def report(label, before, after, seconds, cores):
    for tid, (run1, wait1, vol1, inv1, mig1, name) in sorted(after.items()):
        if tid not in before:
            continue
        run0, wait0, vol0, inv0, mig0, _ = before[tid]
        run = (run1 - run0) / 1e9 / seconds
        if run < 0.01:
            continue
        wait = (wait1 - wait0) / 1e9 / seconds
        on = ", ".join(f"{core}: {n}" for core, n in sorted(cores.get(tid, {}).items()))
        print(f"| {label} | {name} ({tid}) | {run:.3f} | {wait:.3f} | "
              f"{(vol1 - vol0) / seconds:.0f} | {(inv1 - inv0) / seconds:.0f} | "
              f"{(mig1 - mig0) / seconds:.1f} | {on} |")


def main(argv):
    after, window = 3.0, 4.0
    while argv and argv[0] != "--":
        flag, value, argv = argv[0], argv[1], argv[2:]
        if flag == "--after":
            after = float(value)
        elif flag == "--for":
            window = float(value)
        else:
            sys.exit(f"threads.py: unknown option {flag!r}: expected --after, --for or --")
    if not argv:
        sys.exit("threads.py: expected -- and the load driver's arguments")
    load = subprocess.Popen([LOAD, *argv[1:]], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(after)
        sink = child_of(load.pid)
        first = (snapshot(load.pid), snapshot(sink) if sink else {})
        start = time.monotonic()
        cores = {}
        sample_cores([p for p in (load.pid, sink) if p], window, cores)
        # Sampling takes a little longer than the window: measure what it took.
        window = time.monotonic() - start
        second = (snapshot(load.pid), snapshot(sink) if sink else {})
    finally:
        out, _ = load.communicate()
    print("| process | thread | ran | waited for a core | voluntary / s | involuntary / s "
          "| moves / s | running on core: samples |")
    print("|---|---|---|---|---|---|---|---|")
    report("load", first[0], second[0], window, cores)
    report("sink", first[1], second[1], window, cores)
    rates = [line for line in out.splitlines() if "items/s" in line]
    print("\n".join(rates))
    if load.returncode != 0:
        sys.exit(f"threads.py: the load driver exited with {load.returncode}")


if __name__ == "__main__":
    main(sys.argv[1:])
