#!/usr/bin/python3
"""The tenant's serial console under bypass (vsbd's shadow UART, through a
real OpenSSH client), bypass-raw (vsbd's UNIX console socket),
traditional (the operator's vsb-ghv serving COM1 through its own SSH
server) and QEMU's serial on a UNIX socket: same guests, same run.

    bench/remote_console.py [--samples N] [--bytes N] [--runs R] [--quick]
                            [--only echo|flood] [--systems A,B,...]

Two figures for each system (bench/systems.py says how each is booted):

- echo latency (echo guest): one printable byte is sent, its echo awaited,
  then the next; median and p99 of the round trip in ms over --samples
  keystrokes per system;
- throughput (flood guest with the `wait` word): the guest waits for one
  byte, then prints --bytes bytes; bytes/ms from the first byte received to
  the last, checked against the guest's pattern.

The SSH paths use `ssh -tt` with stdin and stdout on pipes; -tt makes the
server see a pty request, but vsbd and vsb-ghv have no line discipline, so
bytes pass unchanged. Each run boots every system's VMM afresh, one at a
time (the guests poll the UART, so each keeps a CPU busy), in an order
rotated from run to run. Figures are printed, never judged: the exit
status is non-zero only if something failed."""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BUILD, BenchError, TenantKeys, compare,  # noqa: E402
                      guest, interleave, need_tools, print_compare, run_main,
                      split, summary)
import systems  # noqa: E402

# What the echo test types: printable, and no byte twice in a row, so an
# echo is never mistaken for the previous one's.
KEYS = b"abcdefghijklmnopqrstuvwxyz0123456789"
PAPER_ECHO = ("VSBypass's echo was 1.3 ms slower than the traditional system "
              "(nested virtualization; slide 19)")
PAPER_FLOOD = ("VSBypass's throughput was almost the same as the traditional "
               "system's, a few tens of chars/ms (slide 19)")


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


def measure_echo(names, samples, runs, keys, build=BUILD):
    """{system: [round trip ms, ...]}, samples per system over runs."""
    echo = guest(build, "echo")
    out = {name: [] for name in names}
    for run, n in enumerate(split(samples, runs)):
        for name in interleave(names, run):
            with systems.boot(name, echo, keys=keys, build=build) as vm:
                wait_echo(vm.console)
                out[name] += echo_round_trips(vm.console, n)
    return out


def echo_figure(ms, runs, notes=()):
    n = len(next(iter(ms.values())))
    return compare(
        "serial_echo", 1, "Serial console response time",
        f"The `echo` PVH guest (it polls LSR, reads RBR, polls LSR, writes "
        f"THR: four port exits a byte). A real `ssh -tt` client (or the raw "
        f"socket) sends one printable byte and waits for its echo, then the "
        f"next: {n} keystrokes per system over {runs} boot(s), after 50 "
        f"unmeasured ones; round trip from the write to the echo's arrival.",
        "ms", "lower", {k: summary(v) for k, v in ms.items()}, systems.LABELS,
        [["median", "median"], ["p99", "p99"], ["min", "min"]],
        ratios_to=["traditional", "qemu"], paper=PAPER_ECHO, notes=notes)


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


def measure_flood(names, nbytes, runs, keys, build=BUILD):
    """{system: [bytes/ms of each run]}."""
    flood = guest(build, "flood")
    # Ask for more than we read so the window never includes the
    # shutdown (as serial_flood.py).
    append = f"{nbytes + 4096} wait"
    out = {name: [] for name in names}
    for run in range(runs):
        for name in interleave(names, run):
            with systems.boot(name, flood, append, keys=keys, build=build) as vm:
                out[name].append(nbytes / (flood_once(vm.console, nbytes) * 1000))
    return out


def flood_figure(rates, nbytes, notes=()):
    runs = len(next(iter(rates.values())))
    return compare(
        "serial_throughput", 2, "Serial console throughput",
        f"The `flood` PVH guest waits for one byte, then prints {nbytes} "
        f"bytes of a known pattern to COM1, polling LSR before each (two "
        f"port exits a byte). Bytes per ms from the first byte the client "
        f"receives to the last, checked against the pattern; median of "
        f"{runs} boot(s) per system, and the slowest.",
        "bytes/ms", "higher", {k: summary(v) for k, v in rates.items()},
        systems.LABELS, [["median", "median"], ["min", "slowest run"]],
        ratios_to=["traditional", "qemu"], paper=PAPER_FLOOD, notes=notes)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Defaults: 1000 keystrokes and 30000 bytes per system, 3 runs "
        "(about 2 minutes here: the flood guest prints ~7 bytes/ms, ~2.5 "
        "through vsb-ghv).")
    ap.add_argument("--samples", type=int, default=1000,
                    help="echo round trips per system, over all runs")
    ap.add_argument("--bytes", type=int, default=30000,
                    help="bytes the flood guest prints per run")
    ap.add_argument("--runs", type=int, default=3,
                    help="boots of each system per figure, interleaved")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 100 keystrokes, 5000 bytes, 1 run")
    ap.add_argument("--only", choices=["echo", "flood"],
                    help="measure only one of the two")
    ap.add_argument("--systems", default=",".join(systems.SYSTEMS),
                    help="comma-separated, from " + ", ".join(systems.SYSTEMS))
    ap.add_argument("--build", default=BUILD, help="build directory")
    a = ap.parse_args()
    if a.quick:
        a.samples, a.bytes, a.runs = 100, 5000, 1
    names = a.systems.split(",")
    if a.samples < a.runs or a.bytes < 1 or a.runs < 1:
        ap.error("need --runs >= 1, --samples >= --runs, --bytes >= 1")
    if not names or any(n not in systems.SYSTEMS for n in names):
        ap.error("--systems: choose from " + ", ".join(systems.SYSTEMS))
    need_tools("qemu-system-x86_64")
    with TenantKeys() as keys:
        if a.only != "flood":
            print_compare(echo_figure(
                measure_echo(names, a.samples, a.runs, keys, a.build), a.runs))
        if a.only != "echo":
            print_compare(flood_figure(
                measure_flood(names, a.bytes, a.runs, keys, a.build), a.bytes))


if __name__ == "__main__":
    run_main(main)
