#!/usr/bin/env python3
"""Serial throughput of the flood PVH guest: vsbd beside QEMU, same guest,
same run. The guest polls LSR before every byte, so each byte costs two
port-I/O exits; the figure is how fast each VMM turns those exits into bytes
on a UNIX console socket.

    bench/serial_flood.py [--bytes N] [--runs R] [--build DIR]

Prints bytes/ms delivered to the socket, vsbd's exits/s (counted by vsbd
itself; QEMU runs the same guest, so the same exits per byte), and the
vsbd/QEMU ratio."""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BUILD, QEMU, BenchError, connect_unix, run_main  # noqa: E402


def measure(cmd, sock_path, n):
    """Starts a VMM whose console is a listening socket and reads until the
    guest powers off. Returns (seconds from the first to the n-th byte,
    the VMM's stderr)."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        s = connect_unix(sock_path, proc)
        got = 0
        first = last = None
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            if first is None:
                first = time.perf_counter()
            got += len(chunk)
            if last is None and got >= n:
                last = time.perf_counter()
        s.close()
        err = proc.communicate(timeout=60)[1].decode(errors="replace")
        if last is None:
            raise BenchError(f"only {got} of {n} bytes from {cmd[0]}: {err}")
        return last - first, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def vsbd_exits(stderr):
    m = re.search(r"vCPU 0: (\d+) exits to vsbd \((\d+) port I/O", stderr)
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bytes", type=int, default=300000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--build", default=BUILD)
    a = ap.parse_args()

    flood = os.path.join(a.build, "guests", "flood.elf")
    vsbd = os.path.join(a.build, "vsbd")
    tmp = tempfile.mkdtemp(prefix="vsbbench-")
    sock = os.path.join(tmp, "console.sock")
    # The guest prints N bytes then powers off; ask for more than we read
    # so the measured window never includes the shutdown.
    total = str(a.bytes + 4096)
    vmms = {
        "vsbd": [vsbd, "run", "-v", "--console", "unix:" + sock, "-a", total,
                 flood],
        "qemu": QEMU + [
            "-chardev", f"socket,id=c0,path={sock},server=on,wait=on",
            "-serial", "chardev:c0", "-kernel", flood, "-append", total],
    }
    results = {}
    try:
        for run in range(a.runs):
            for name, cmd in vmms.items():
                results.setdefault(name, []).append(measure(cmd, sock, a.bytes))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"serial flood: {a.bytes} bytes to a UNIX socket console, "
          f"{a.runs} run(s) each, median shown")
    rate = {}
    for name, rs in results.items():
        secs = statistics.median(r[0] for r in rs)
        rate[name] = a.bytes / (secs * 1000)
        line = f"  {name:5} {rate[name]:8.2f} bytes/ms"
        if name == "vsbd":
            exits, io = vsbd_exits(rs[0][1])
            if exits:
                # Whole-run exits over the whole guest output.
                per_byte = exits / (a.bytes + 4096)
                line += (f"  {per_byte:.2f} exits/byte  "
                         f"{per_byte * rate[name] * 1000:,.0f} exits/s")
        print(line)
    print(f"  ratio vsbd/qemu: {rate['vsbd'] / rate['qemu']:.2f}")


if __name__ == "__main__":
    run_main(main)
