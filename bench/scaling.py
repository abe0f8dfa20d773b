#!/usr/bin/python3
"""The tenant figures with many VMs at once: serial echo latency, serial
throughput and VNC key-to-screen latency with 1, 8 and 32 concurrent VMs
on one node, every VM's tenant busy at the same time; and the memory each
VM's VMM costs beyond guest RAM.

    bench/scaling.py [--scales 1,8,32] [--keys N] [--flood-total N]
                     [--vnc-keys N] [--systems A,B,...]

One vsbd process per VM (as QEMU and Firecracker: a VM's VMM is its own
process, so one crashing VMM or one hostile guest takes no other VM with
it). The test guests poll their devices, so each keeps a CPU busy: with 8
or 32 VMs on this node's 2 CPUs every figure includes waiting for a CPU,
the same for every system; the comparison is between systems at the same
scale.

- echo: each VM's client sends a byte, waits for its echo, sends the next
  (--keys per VM), all VMs at once from one select() loop;
- throughput: every VM's flood guest is started at once and prints
  --flood-total / N bytes; the aggregate is all bytes over the time from
  the first VM's first byte to the last VM's last;
- VNC: one RFB client per VM, each in its own thread, types --vnc-keys
  keys (idle 0-100 ms before each) and times each to the update that shows
  it, as bench/vnc_latency.py does for one;
- memory: per VM, the resident memory of its VMM processes outside guest
  RAM (vsbd's guest-RAM memfd, QEMU's RAM block), measured on the VNC
  boot (screen drawn, viewer attached): RSS, and the private part of it
  (shared libraries counted once are what a further VM does not cost)."""
import argparse
import concurrent.futures
import contextlib
import os
import random
import select
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BUILD, BenchError, TenantKeys, guest,  # noqa: E402
                      median, need_tools, p99, run_main, table)
from report import fmt  # noqa: E402
import systems  # noqa: E402
from remote_console import KEYS, flood_pattern, wait_echo  # noqa: E402
from vnc_latency import Screen, load_font, sample_phase  # noqa: E402

SYSTEMS = ["bypass", "traditional", "qemu"]
BOOT_THREADS = 8
GUEST_RAM_MIN = 200 << 20  # QEMU's RAM block: an anonymous mapping this big


@contextlib.contextmanager
def boot_many(system, kernel, n, keys, build, **kw):
    """n VMs of system, booted BOOT_THREADS at a time; yields their Vms."""
    with contextlib.ExitStack() as stack:
        def one(_):
            vm_stack = contextlib.ExitStack()
            try:
                return vm_stack, vm_stack.enter_context(
                    systems.boot(system, kernel, keys=keys, build=build, **kw))
            except BaseException:
                vm_stack.close()
                raise
        with concurrent.futures.ThreadPoolExecutor(BOOT_THREADS) as pool:
            futures = [pool.submit(one, i) for i in range(n)]
            vms, error = [], None
            for f in futures:
                try:
                    vm_stack, vm = f.result()
                except BenchError as e:
                    error = error or e
                    continue
                stack.push(vm_stack)
                vms.append(vm)
        if error:
            raise BenchError(f"{system}, {n} VMs: {error}")
        yield vms


# ---- echo ----

def echo_all(vms, per_vm, warmup=5):
    """Round trips of every VM's console at once; returns the ms of the
    measured ones."""
    for vm in vms:
        wait_echo(vm.console)
    streams = {vm.console.rfd: vm.console for vm in vms}
    left = {fd: warmup + per_vm for fd in streams}
    sent = {}
    times = []

    def send(fd):
        c = KEYS[left[fd] % len(KEYS):][:1]
        sent[fd] = (c, time.perf_counter())
        streams[fd].write(c)

    for fd in streams:
        send(fd)
    deadline = time.monotonic() + 60 + per_vm
    while sent:
        ready = select.select(list(sent), [], [], max(0, deadline - time.monotonic()))[0]
        if not ready:
            raise BenchError(f"echo: {len(sent)} VM(s) stopped answering")
        for fd in ready:
            got = os.read(fd, 64)
            t1 = time.perf_counter()
            c, t0 = sent.pop(fd)
            if got != c:
                raise BenchError(f"echo: sent {c!r}, got {got!r}")
            left[fd] -= 1
            if left[fd] < per_vm:
                times.append((t1 - t0) * 1000)
            if left[fd]:
                send(fd)
    return times


# ---- throughput ----

def flood_all(vms, nbytes):
    """Starts every VM's flood at once; returns (bytes/ms of each VM,
    aggregate bytes/ms)."""
    want = flood_pattern(nbytes)
    got = {vm.console.rfd: bytearray() for vm in vms}
    first, last = {}, {}
    for vm in vms:
        vm.console.write(b"x")
    deadline = time.monotonic() + 600
    while len(last) < len(got):
        busy = [fd for fd in got if fd not in last]
        ready = select.select(busy, [], [], max(0, deadline - time.monotonic()))[0]
        if not ready:
            raise BenchError(f"flood: {len(busy)} VM(s) stopped printing")
        for fd in ready:
            data = os.read(fd, 1 << 16)
            if not data:
                raise BenchError("flood: a console closed")
            now = time.perf_counter()
            first.setdefault(fd, now)
            got[fd] += data
            if len(got[fd]) >= nbytes:
                last[fd] = now
                if bytes(got[fd][:nbytes]) != want:
                    raise BenchError("flood output is not the guest's pattern")
    rates = [nbytes / ((last[fd] - first[fd]) * 1000) for fd in got]
    total = nbytes * len(got) / ((max(last.values()) - min(first.values())) * 1000)
    return rates, total


# ---- VNC ----

def vnc_all(vms, per_vm, build, seed=1):
    """Every VM's VNC client types per_vm keys at once, each from its own
    thread; returns the ms of all keys."""
    font = load_font(build)
    for vm in vms:
        vm.console.read_until(b"fbecho: ready", timeout=120)

    def one(i):
        out = []
        sample_phase(100, random.Random(seed + i), vms[i].vnc_port,
                     vms[i].console, Screen(), font, vms[i].system, "keys",
                     per_vm, out)
        return [ms for ms, _ in out]

    with concurrent.futures.ThreadPoolExecutor(len(vms)) as pool:
        return [ms for r in pool.map(one, range(len(vms))) for ms in r]


# ---- memory ----

def vmm_memory_kib(pid):
    """(RSS, private) KiB of a process outside guest RAM, from smaps."""
    rss = private = 0
    skip = False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and not head[0].endswith(":"):
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                skip = "vsbd-guest-ram" in line or (
                    hi - lo >= GUEST_RAM_MIN and len(head) < 6)
            elif not skip and head[0] == "Rss:":
                rss += int(head[1])
            elif not skip and head[0] in ("Private_Clean:", "Private_Dirty:"):
                private += int(head[1])
    return rss, private


def memory(vms):
    """Per VM (mean over vms): {"vmm": (rss, private) MiB of its VMM,
    "operator": the same for vsb-ghv, when there is one}."""
    out = {}
    for role in ("vmm", "operator"):
        got = [vmm_memory_kib(vm.pids[role]) for vm in vms if role in vm.pids]
        if got:
            out[role] = tuple(sum(x) / len(got) / 1024 for x in zip(*got))
    return out


# ---- the whole experiment ----

def measure(names, scales, keys, build=BUILD, per_vm_keys=20,
            flood_total=32000, vnc_keys=10, log=print):
    """{system: {n: {"echo": [ms], "flood": ([rates], total),
    "vnc": [ms], "memory": {...}}}}; a scale that failed holds
    {"error": message} instead."""
    res = {s: {} for s in names}
    for n in scales:
        for name in names:
            t0 = time.monotonic()
            try:
                r = {}
                with boot_many(name, guest(build, "echo"), n, keys, build) as vms:
                    r["echo"] = echo_all(vms, per_vm_keys)
                nbytes = max(200, flood_total // n)
                with boot_many(name, guest(build, "flood"), n, keys, build,
                               append=f"{nbytes + 4096} wait") as vms:
                    r["flood"] = flood_all(vms, nbytes)
                with boot_many(name, guest(build, "fbecho"), n, keys, build,
                               vnc=True, qemu_append="fb=bochs") as vms:
                    r["vnc"] = vnc_all(vms, vnc_keys, build)
                    r["memory"] = memory(vms)
            except BenchError as e:
                r = {"error": str(e)}
            res[name][n] = r
            log(f"scaling: {name} x{n}: {time.monotonic() - t0:.0f} s"
                + (f" (failed: {r['error']})" if "error" in r else ""))
    return res


def _series(res, scales, stats_of):
    return [{"name": s, "label": systems.LABELS[s], "points": [
        {"x": n, "stats": None, "skipped": res[s][n]["error"]}
        if "error" in res[s][n] else {"x": n, "stats": stats_of(res[s][n])}
        for n in scales]} for s in res]


def _lat(xs):
    return {"median": median(xs), "p99": p99(xs), "n": len(xs)}


def figures(res, scales, what_common, notes=()):
    """The scaling experiments in the report's schema."""
    def fig(exp_id, title, what, unit, better, stat, columns, stats_of,
            ratios=("traditional", "qemu")):
        return {"id": exp_id, "number": "7", "title": title, "kind": "scaling",
                "what": what + " " + what_common, "skipped": None, "paper": None,
                "notes": list(notes), "unit": unit, "better": better,
                "stat": stat, "x_label": "concurrent VMs", "columns": columns,
                "series": _series(res, scales, stats_of), "subject": "bypass",
                "ratios_to": [r for r in ratios if r in res]}
    lat_cols = [["median", "median"], ["p99", "p99"]]
    return [
        fig("scaling_echo", "Serial echo latency with concurrent VMs",
            "Every VM's console client types at once, one byte in flight each.",
            "ms", "lower", "median", lat_cols, lambda r: _lat(r["echo"])),
        fig("scaling_throughput", "Serial throughput with concurrent VMs",
            "Every VM floods its console at once; bytes/ms of all VMs together "
            "(and the median VM's own rate).",
            "bytes/ms", "higher", "total",
            [["total", "all VMs"], ["median", "median VM"]],
            lambda r: {"total": r["flood"][1], "median": median(r["flood"][0]),
                       "n": len(r["flood"][0])}),
        fig("scaling_vnc", "VNC key-to-screen latency with concurrent VMs",
            "Every VM's VNC client types at once.", "ms", "lower", "median",
            lat_cols, lambda r: _lat(r["vnc"])),
        fig("memory_per_vm", "VMM memory per VM beyond guest RAM",
            "Resident memory of each VM's VMM process(es) outside guest RAM "
            "(vsbd's 3 MiB frame and QEMU's VGA memory count), mean per VM; "
            "traditional adds the operator's vsb-ghv.", "MiB", "lower", "rss",
            [["rss", "RSS"], ["private", "private"], ["vsbd", "vsbd alone"]],
            _memory_stats),
    ]


def _memory_stats(r):
    m = r["memory"]
    rss = sum(v[0] for v in m.values())
    private = sum(v[1] for v in m.values())
    out = {"rss": rss, "private": private}
    if "operator" in m:
        out["vsbd"] = m["vmm"][0]
    return out


def print_figures(figs):
    for f in figs:
        print(f"{f['title']} ({f['unit']}, {f['better']} is better)")
        rows = []
        for s in f["series"]:
            for p in s["points"]:
                st = p["stats"]
                cells = ([fmt(st.get(k)) for k, _ in f["columns"]]
                         if st else ["failed: " + p["skipped"][:60]]
                         + [""] * (len(f["columns"]) - 1))
                rows.append([s["name"], str(p["x"])] + cells)
        table(["system", "VMs"] + [h for _, h in f["columns"]], rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", default="1,8,32", help="numbers of VMs")
    ap.add_argument("--keys", type=int, default=20, help="echo keystrokes per VM")
    ap.add_argument("--flood-total", type=int, default=32000,
                    help="bytes printed by all VMs together")
    ap.add_argument("--vnc-keys", type=int, default=10, help="VNC keys per VM")
    ap.add_argument("--systems", default=",".join(SYSTEMS),
                    help="comma-separated, from " + ", ".join(SYSTEMS))
    ap.add_argument("--build", default=BUILD, help="build directory")
    a = ap.parse_args()
    try:
        scales = [int(x) for x in a.scales.split(",")]
    except ValueError:
        ap.error("--scales: comma-separated numbers")
    names = a.systems.split(",")
    if any(n not in SYSTEMS for n in names):
        ap.error("--systems: choose from " + ", ".join(SYSTEMS))
    if min(scales) < 1 or max(scales) > 64 or min(a.keys, a.vnc_keys, a.flood_total) < 1:
        ap.error("need 1 <= scales <= 64 and positive counts")
    need_tools("qemu-system-x86_64")
    with TenantKeys() as keys:
        res = measure(names, scales, keys, a.build, a.keys, a.flood_total,
                      a.vnc_keys)
    print_figures(figures(res, scales, ""))


if __name__ == "__main__":
    run_main(main)
