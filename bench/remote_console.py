#!/usr/bin/python3
"""The tenant's serial console: vsbd through a real OpenSSH client, vsbd's
raw UNIX console socket, and QEMU's serial on a UNIX socket, same guests,
same run.

    bench/remote_console.py [--samples N] [--bytes N] [--runs R] [--quick]

Two figures for each of the three paths:

- echo latency (echo guest): one printable byte is sent, its echo awaited,
  then the next; median and p99 of the round trip in ms over --samples
  keystrokes per path;
- throughput (flood guest with the `wait` word): the guest waits for one
  byte, then prints --bytes bytes; bytes/ms from the first byte received to
  the last, checked against the guest's pattern.

"vsbd ssh" is `ssh -tt` with stdin and stdout on pipes, attached to vsbd's
SSH server (`--console none --ssh 127.0.0.1:PORT`); -tt makes vsbd see a
pty request, but vsbd has no line discipline, so bytes pass unchanged.
"vsbd socket" is vsbd's `--console unix:PATH`, "qemu socket" is QEMU's
`-chardev socket` on a UNIX path as `-serial` (-accel kvm). Each run boots
every path's VMM afresh, one at a time (the guests poll the UART, so each
keeps a CPU busy), in an order rotated from run to run. Figures are
printed, never judged: the exit status is non-zero only if something
failed."""
import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BUILD, QEMU, BenchError, Proc, Stream,  # noqa: E402
                      TenantKeys, connect_unix, free_port, guest, interleave,
                      median, need_tools, p99, run_main, split, table,
                      wait_tcp)

SYSTEMS = ["vsbd ssh", "vsbd socket", "qemu socket"]
QEMU_REF = "qemu socket"
VM_NAME = "bench"  # the SSH user name selects the VM
# What the echo test types: printable, and no byte twice in a row, so an
# echo is never mistaken for the previous one's.
KEYS = b"abcdefghijklmnopqrstuvwxyz0123456789"


@contextlib.contextmanager
def console(system, kernel, append, build, keys):
    """Boots kernel (command line `append`) under `system` and yields a
    Stream on its serial console."""
    vsbd = os.path.join(build, "vsbd")
    cmdline = ["-a", append] if append else []
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="vsbbench-"))
        sock = os.path.join(tmp, "console.sock")
        if system == "vsbd ssh":
            port = free_port()
            vm = stack.enter_context(Proc(
                [vsbd, "run", "--name", VM_NAME, "--console", "none"]
                + cmdline + keys.vsbd_args(port) + [kernel], "vsbd"))
            wait_tcp(port, vm)
            # -e none: no ~ escapes in what we send (vsbd's own escape,
            # Ctrl-], is not printable either).
            ssh = stack.enter_context(Proc(
                keys.ssh_args(port, VM_NAME, "-tt", "-e", "none"), "ssh",
                stdin=subprocess.PIPE, stdout=subprocess.PIPE))
            s = Stream(ssh.proc.stdout.fileno(), ssh.proc.stdin.fileno(), ssh)
            s.read_until(b"help)")  # vsbd's attach line
        elif system == "vsbd socket":
            # The guest starts when we connect.
            vm = stack.enter_context(Proc(
                [vsbd, "run", "--console", "unix:" + sock] + cmdline
                + [kernel], "vsbd"))
            s = Stream.of_socket(stack.enter_context(connect_unix(sock, vm)))
        elif system == "qemu socket":
            # wait=on: QEMU starts the guest once we are connected.
            vm = stack.enter_context(Proc(
                QEMU + ["-chardev", f"socket,id=c0,path={sock},server=on,wait=on",
                        "-serial", "chardev:c0", "-kernel", kernel]
                + (["-append", append] if append else []), "qemu"))
            s = Stream.of_socket(stack.enter_context(connect_unix(sock, vm)))
        else:
            raise AssertionError(system)
        yield s


# ---- echo latency ----

def wait_echo(s, timeout=60):
    """Until the guest echoes: sends '.' every 0.5 s (QEMU boots through
    SeaBIOS first, ~2 s here), then drops whatever else comes."""
    deadline = time.monotonic() + timeout
    while True:
        s.write(b".")
        try:
            s.buf = b""
            s.read_until(b".", timeout=0.5)
            break
        except BenchError:
            if time.monotonic() > deadline:
                raise BenchError("the echo guest never answered")
    s.drain()


def echo_round_trips(s, n, warmup=50):
    """n round trips of one byte each; returns their times in ms."""
    times = []
    for i in range(-warmup, n):
        c = KEYS[i % len(KEYS):][:1]
        t0 = time.perf_counter()
        s.write(c)
        got = s.read_some(time.monotonic() + 10)
        t1 = time.perf_counter()
        if got != c:
            raise BenchError(f"sent {c!r}, echo was {got!r}")
        if i >= 0:
            times.append((t1 - t0) * 1000)
    return times


def bench_echo(a, keys):
    echo = guest(a.build, "echo")
    samples = {name: [] for name in SYSTEMS}
    for run, n in enumerate(split(a.samples, a.runs)):
        for name in interleave(SYSTEMS, run):
            with console(name, echo, "", a.build, keys) as s:
                wait_echo(s)
                samples[name] += echo_round_trips(s, n)
    print(f"serial echo latency: echo guest, one byte at a time, "
          f"{a.samples} keystrokes per path over {a.runs} run(s)")
    ref = median(samples[QEMU_REF])
    rows = []
    for name in SYSTEMS:
        med = median(samples[name])
        rows.append([name, f"{med:.3f}", f"{p99(samples[name]):.3f}",
                     f"{min(samples[name]):.3f}", f"{med / ref:.2f}"])
    table(["path", "median ms", "p99 ms", "min ms", "median/qemu"], rows)


# ---- throughput ----

def flood_pattern(n):
    """The first n bytes the flood guest prints (guests/flood.c): byte i
    is 'a' + i % 26, or '\\n' where i % 64 == 63; that repeats every
    lcm(26, 64) = 832 bytes."""
    period = bytes(10 if i % 64 == 63 else ord("a") + i % 26
                   for i in range(832))
    return (period * (n // 832 + 1))[:n]


def flood_once(s, n):
    """Starts the flood (one byte) and reads n bytes; returns seconds from
    the first byte to the n-th."""
    s.write(b"x")
    deadline = time.monotonic() + 300
    data = bytearray()
    first = None
    while len(data) < n:
        chunk = s.read_some(deadline)
        if first is None:
            first = time.perf_counter()
        data += chunk
    last = time.perf_counter()
    if bytes(data[:n]) != flood_pattern(n):
        why = ""
        if b"bytes of console output skipped" in data:
            why = " (vsbd skipped output: the reader fell behind)"
        raise BenchError("flood output is not the guest's pattern" + why)
    return last - first


def bench_flood(a, keys):
    flood = guest(a.build, "flood")
    # Ask for more than we read so the window never includes the
    # shutdown (as serial_flood.py).
    append = f"{a.bytes + 4096} wait"
    secs = {name: [] for name in SYSTEMS}
    for run in range(a.runs):
        for name in interleave(SYSTEMS, run):
            with console(name, flood, append, a.build, keys) as s:
                secs[name].append(flood_once(s, a.bytes))
    print(f"console throughput: flood guest, {a.bytes} bytes, "
          f"{a.runs} run(s) per path")
    rate = {name: a.bytes / (median(v) * 1000) for name, v in secs.items()}
    rows = []
    for name in SYSTEMS:
        worst = a.bytes / (max(secs[name]) * 1000)
        rows.append([name, f"{rate[name]:.2f}", f"{worst:.2f}",
                     f"{rate[name] / rate[QEMU_REF]:.2f}"])
    table(["path", "median bytes/ms", "slowest run", "median/qemu"], rows)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Defaults: 1000 keystrokes and 100000 bytes per path, 3 runs "
        "(about 2.5 minutes here: the flood guest prints ~6 bytes/ms).")
    ap.add_argument("--samples", type=int, default=1000,
                    help="echo round trips per path, over all runs")
    ap.add_argument("--bytes", type=int, default=100000,
                    help="bytes the flood guest prints per run")
    ap.add_argument("--runs", type=int, default=3,
                    help="boots of each path per figure, interleaved")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 100 keystrokes, 20000 bytes, 1 run")
    ap.add_argument("--only", choices=["echo", "flood"],
                    help="measure only one of the two")
    ap.add_argument("--build", default=BUILD, help="build directory")
    a = ap.parse_args()
    if a.quick:
        a.samples, a.bytes, a.runs = 100, 20000, 1
    if a.samples < a.runs or a.bytes < 1 or a.runs < 1:
        ap.error("need --runs >= 1, --samples >= --runs, --bytes >= 1")
    need_tools("qemu-system-x86_64")
    with TenantKeys() as keys:
        if a.only != "flood":
            bench_echo(a, keys)
        if a.only != "echo":
            bench_flood(a, keys)


if __name__ == "__main__":
    run_main(main)
