#!/usr/bin/env python3
"""Introspection figures (issue 5): a real Debian guest under QEMU TCG with
its RAM in a shared file runs about 500 processes; then, each beside its
comparison in the same run:

  * `ps`: one walk of the task list by the library (build/bench/vmi_bench,
    guest paused) beside a memcpy of the same task_struct bytes from the
    mapped file; the whole `vmi ps` command (open: VMCOREINFO, kallsyms and
    BTF found in guest memory, then the walk) beside the guest's own
    busybox `ps` timed inside the guest;
  * kernel-virtual read throughput (page walk per 4 KiB page, direct map)
    beside memcpy of the same RAM.

    bench/vmi.py [--procs N] [--reps N] [--read-mb N]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
from vmitest import VMI, LinuxGuest  # noqa: E402

BENCH = os.path.join(TOP, "build", "bench", "vmi_bench")


def measure(procs=480, reps=15, read_mb=64):
    """(vmi_bench's {name: value}, processes in /proc, processes `vmi ps`
    listed, the guest's own ps ms, `vmi ps` command ms)."""
    for f in (VMI, BENCH):
        if not os.path.exists(f):
            raise RuntimeError(f"no {f}: run make")
    g = LinuxGuest(mem_mb=768)
    try:
        g.run(f"vmitarget bench {procs} {procs} >/dev/null & sleep 5",
              timeout=300)
        total = int(g.run("ls -d /proc/[0-9]* | wc -l")[0])
        # The guest's own ps, timed inside the guest (TCG: slow, but it is
        # what a tenant or an agent in the guest would pay).
        own = []
        for _ in range(3):
            line = g.run("t0=$(cat /proc/uptime); ps >/dev/null; "
                         "t1=$(cat /proc/uptime); echo $t0 $t1")[0].split()
            own.append((float(line[2]) - float(line[0])) * 1e3)
        cli = []
        for _ in range(reps):
            s = time.monotonic()
            r = subprocess.run([VMI, "--qemu", g.ram, "--qmp", g.qmp_path,
                                "ps"], capture_output=True)
            cli.append((time.monotonic() - s) * 1e3)
            if r.returncode:
                raise RuntimeError("vmi ps failed: " + r.stderr.decode())
        listed = len(r.stdout.splitlines()) - 1
        out = subprocess.run([BENCH, g.ram, g.qmp_path, str(read_mb),
                              str(reps)], capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError("vmi_bench failed: " + out.stderr)
        f = dict(re.findall(r"^(\S+) (\S+)$", out.stdout, re.M))
    finally:
        g.close()
    return f, total, listed, own, cli


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, default=480,
                    help="vmitarget processes to start (default 480)")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--read-mb", type=int, default=64)
    a = ap.parse_args()
    try:
        f, total, listed, own, cli = measure(a.procs, a.reps, a.read_mb)
    except RuntimeError as e:
        sys.exit(f"bench/vmi.py: {e}")
    ps, cp = float(f["ps_ms"]), float(f["ps_memcpy_ms"])
    rd, rc = float(f["read_mbps"]), float(f["read_memcpy_mbps"])
    print(f"guest: {total} processes in /proc, vmi ps listed {listed} "
          f"(walk: {f['ps_tasks']} tasks with the idle task)")
    print("| figure | vmi | comparison | ratio |")
    print("| --- | --- | --- | --- |")
    print(f"| ps walk, median of {a.reps} (guest paused) | {ps:.2f} ms | "
          f"memcpy of the same {int(f['ps_bytes']) >> 10} KiB: {cp:.3f} ms "
          f"| {ps / cp:.0f}x |")
    print(f"| `vmi ps` command, median (open + walk + print) | "
          f"{statistics.median(cli):.0f} ms (open {float(f['open_ms']):.0f} ms)"
          f" | the guest's own `ps` under TCG: {statistics.median(own):.0f} ms"
          f" | {statistics.median(cli) / statistics.median(own):.2f} |")
    print(f"| kernel-virtual read, {int(f['read_bytes']) >> 20} MiB | "
          f"{rd:.0f} MB/s | memcpy: {rc:.0f} MB/s | {rd / rc:.2f} |")


if __name__ == "__main__":
    main()
