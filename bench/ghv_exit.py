#!/usr/bin/env python3
"""The cost of one forwarded exit (vCPU -> vsbd -> vsb-ghv -> vsbd -> vCPU)
beside one exit handled by a device inside vsbd, same guest, same run.

    bench/ghv_exit.py [--n N] [--rounds R] [--build DIR]

The pciping PVH guest reads PCI configuration dwords with one `inl` each:
N reads of the host bridge (vsbd's pci_host answers) then N of slot 3,
where the real vsb-ghv attached its virtio-blk (the read goes round the
boundary protocol's rings), R rounds. The batches' wall times come from
the arrival of the guest's console lines; per-exit figures are the median
batch time over N."""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BUILD, BenchError, run_main  # noqa: E402


def one_run(build, n, rounds):
    with tempfile.TemporaryDirectory() as d:
        sock = os.path.join(d, "ghv.sock")
        disk = os.path.join(d, "disk.img")
        with open(disk, "wb") as f:
            f.truncate(1 << 20)
        os.chmod(d, 0o755)
        os.chmod(disk, 0o644)
        vsbd = subprocess.Popen(
            [os.path.join(build, "vsbd"), "run", "--console", "stdio",
             "--fb", "none", "--operator", sock, "--operator-user", "nobody",
             "-a", f"n={n} rounds={rounds} slot=3",
             os.path.join(build, "guests", "pciping.elf")],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        ghv = None
        try:
            for _ in range(100):
                if os.path.exists(sock):
                    break
                time.sleep(0.05)
            ghv = subprocess.Popen(
                [os.path.join(build, "vsb-ghv"), "--vsbd", sock, "--vm", "vm",
                 "--disk", disk + ",ro,slot=3", "--user", "nobody"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE)
            times = {"shadow": [], "forwarded": []}
            seen = []
            last = None
            for raw in vsbd.stdout:
                line = raw.decode(errors="replace").strip()
                now = time.perf_counter()
                seen.append(line)
                if line.startswith("pciping: timing"):
                    last = now
                for kind in times:
                    if line == f"pciping: {kind} {n}" and last is not None:
                        times[kind].append(now - last)
                        last = now
            vsbd.wait(timeout=60)
            if "pciping: 03 1af4:1001" not in seen:
                raise BenchError("vsb-ghv's disk not seen at slot 3: "
                                 + " | ".join(seen[-8:]) +
                                 vsbd.stderr.read().decode(errors="replace"))
            if len(times["forwarded"]) != rounds:
                raise BenchError("guest did not finish: " + " | ".join(seen[-5:]))
            return times
        finally:
            for p in (vsbd, ghv):
                if p and p.poll() is None:
                    p.kill()
                    p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--build", default=BUILD)
    a = ap.parse_args()
    t = one_run(a.build, a.n, a.rounds)
    sh = statistics.median(t["shadow"]) / a.n * 1e6
    fw = statistics.median(t["forwarded"]) / a.n * 1e6
    print(f"{'exit':<34}{'us/exit (median of ' + str(a.rounds) + ')':>26}")
    print(f"{'shadow (pci_host in vsbd)':<34}{sh:>26.2f}")
    print(f"{'forwarded (vsb-ghv virtio-blk)':<34}{fw:>26.2f}")
    print(f"forwarded/shadow: {fw / sh:.2f}x; the boundary protocol's round "
          f"trip adds {fw - sh:.2f} us")


if __name__ == "__main__":
    run_main(main)
