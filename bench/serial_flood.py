#!/usr/bin/env python3
"""Serial throughput of the flood PVH guest: vsbd beside QEMU, same guest,
same run. The guest polls LSR before every byte, so each byte costs two
port-I/O exits; the figure is how fast each VMM turns those exits into bytes
on a UNIX console socket.

    bench/serial_flood.py [--bytes N] [--runs R] [--build DIR]

Prints bytes/ms delivered to the socket and KVM exits/s (from KVM's debugfs
counters, mounted here if needed), and the vsbd/QEMU ratio."""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DEBUGFS = "/sys/kernel/debug/kvm"


def kvm_counters():
    """Global KVM exit counters, or None if debugfs is unavailable."""
    if not os.path.isdir(DEBUGFS):
        subprocess.run(["mount", "-t", "debugfs", "none", "/sys/kernel/debug"],
                       stderr=subprocess.DEVNULL)
    try:
        with open(os.path.join(DEBUGFS, "exits")) as f:
            exits = int(f.read())
        with open(os.path.join(DEBUGFS, "io_exits")) as f:
            io = int(f.read())
        return exits, io
    except OSError:
        return None


def connect(path, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"VMM exited early with {proc.returncode}")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            time.sleep(0.01)
    sys.exit(f"no console socket at {path}")


def measure(cmd, sock_path, n):
    """Starts a VMM whose console is a listening socket, reads n bytes.
    Returns (seconds from first to last byte, exits, io_exits)."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        s = connect(sock_path, proc)
        got = 0
        first = None
        before = None
        while got < n:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            if first is None:
                first = time.perf_counter()
                before = kvm_counters()
            got += len(chunk)
        last = time.perf_counter()
        after = kvm_counters()
        s.close()
        if got < n:
            sys.exit(f"only {got} of {n} bytes from {cmd[0]}")
        exits = io = None
        if before and after:
            exits, io = after[0] - before[0], after[1] - before[1]
        return last - first, exits, io
    finally:
        proc.kill()
        proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bytes", type=int, default=300000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    a = ap.parse_args()

    flood = os.path.join(a.build, "guests", "flood.elf")
    vsbd = os.path.join(a.build, "vsbd")
    tmp = tempfile.mkdtemp(prefix="vsbbench-")
    sock = os.path.join(tmp, "console.sock")
    # The guest prints N bytes then powers off; ask for more than we read
    # so the measured window never includes the shutdown.
    total = str(a.bytes + 4096)
    vmms = {
        "vsbd": [vsbd, "run", "-q", "--console", "unix:" + sock, "-a", total,
                 flood],
        "qemu": ["qemu-system-x86_64", "-accel", "kvm", "-M", "pc", "-m",
                 "256", "-display", "none", "-monitor", "none", "-nodefaults",
                 "-chardev", f"socket,id=c0,path={sock},server=on,wait=on",
                 "-serial", "chardev:c0", "-kernel", flood, "-append", total],
    }
    results = {}
    for run in range(a.runs):
        for name, cmd in vmms.items():
            secs, exits, io = measure(cmd, sock, a.bytes)
            results.setdefault(name, []).append((secs, exits, io))
    print(f"serial flood: {a.bytes} bytes, {a.runs} runs each, median shown")
    print(f"{'vmm':6} {'bytes/ms':>10} {'exits/s':>10} {'exits/byte':>10} {'io_exits/s':>10}")
    rate = {}
    for name, rs in results.items():
        secs = statistics.median(r[0] for r in rs)
        rate[name] = a.bytes / (secs * 1000)
        ex = [r[1] for r in rs if r[1] is not None]
        io = [r[2] for r in rs if r[2] is not None]
        exs = statistics.median(ex) / secs if ex else float("nan")
        ios = statistics.median(io) / secs if io else float("nan")
        epb = statistics.median(ex) / a.bytes if ex else float("nan")
        print(f"{name:6} {rate[name]:10.2f} {exs:10.0f} {epb:10.2f} {ios:10.0f}")
    print(f"ratio vsbd/qemu bytes/ms: {rate['vsbd'] / rate['qemu']:.2f}")


if __name__ == "__main__":
    main()
