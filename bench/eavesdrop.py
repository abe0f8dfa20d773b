#!/usr/bin/python3
"""The paper's eavesdropping experiment as a table: how many bytes of a
secret the operator captures in each system.

    bench/eavesdrop.py [--systems A,B,...]

A tenant types one secret on the serial console (a real `ssh`; QEMU's
socket) and another in a VNC client (bench/rfbclient.py, through `ssh -L`
where there is SSH); the `fbecho` guest echoes both on COM1 and draws
both on its screen. Then, per channel the operator holds, the longest run
of each secret found there:

- bypass and traditional: vsb-ghv as `nobody` with its operator tap
  (`--tap`): the console bytes in and out, the UART's data register in
  the access log, the VNC keys, the screens it served, and every readable
  mapping of the vsb-ghv process but the guest RAM it maps for DMA;
- qemu: what an operator running QEMU records without touching the guest:
  the serial output (`-chardev ...,logfile=`), a QMP `screendump`, and the
  QEMU process's memory but guest RAM.

Guest RAM is left out everywhere: the paper's threat model leaves it
visible to operators in every system. Each secret is 12 random lowercase
letters; beside each figure is the same search for a third, never typed
string of the same shape: what chance alone finds in that channel."""
import argparse
import json
import os
import re
import secrets
import socket
import string
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BUILD, BenchError, TenantKeys, guest,  # noqa: E402
                      need_tools, run_main, table)
from rfbclient import RfbClient, RfbError  # noqa: E402
import systems  # noqa: E402
from vnc_latency import CELL_H, CELL_W, load_font  # noqa: E402

SYSTEMS = ["bypass", "traditional", "qemu"]
CHANNELS = [
    ("console-in", "console input"),
    ("console-out", "console output"),
    ("uart", "UART data register (access log)"),
    ("keys", "VNC key events"),
    ("screen", "screens (text read back)"),
    ("memory", "operator process memory"),
]
SECRET_LEN = 12
# A run this long is the secret, not chance: a given 8-letter string turns
# up by chance in 3 MiB of random letters with odds of about 1 in 70000.
CAPTURED = 8
XK_RETURN = 0xFF0D
PAPER = ("VSBypass: no data captured; the traditional system: all data "
         "(input/output characters, keys, screenshots; slide 18)")


def new_secret():
    return "".join(secrets.choice(string.ascii_lowercase)
                   for _ in range(SECRET_LEN)).encode()


def longest_run(secret, data):
    """The length of the longest piece of secret found whole in data."""
    for n in range(len(secret), 0, -1):
        if any(secret[i:i + n] in data for i in range(len(secret) - n + 1)):
            return n
    return 0


# ---- what the operator holds ----

def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def uart_bytes(tap):
    """The data bytes of COM1's data register in the tap's io.log: what
    the guest wrote to THR, then what it read from RBR, each in order."""
    ways = {"w": bytearray(), "r": bytearray()}
    for line in read(os.path.join(tap, "io.log")).decode(errors="replace").splitlines():
        p = line.split()
        if len(p) == 5 and p[0] == "pio" and p[1] in ways and int(p[2], 16) == 0x3F8:
            ways[p[1]].append(int(p[4], 16) & 0xFF)
    return bytes(ways["w"]) + b"\0" + bytes(ways["r"])


def typed_keys(tap):
    """The characters of the key presses in the tap's keys.log."""
    presses = re.findall(rb"^([0-9a-f]+) 1$", read(os.path.join(tap, "keys.log")), re.M)
    return bytes(int(k, 16) for k in presses if int(k, 16) < 0x80)


def ppm_text(path, glyphs):
    """The text fbecho drew in a P6 screenshot: each 8x16 cell whose
    white-on-black pixels match a glyph exactly becomes that character,
    any other a space; one line per cell row."""
    data = read(path)
    m = re.match(rb"P6\s+(\d+)\s+(\d+)\s+255\s", data)
    if not m:
        raise BenchError(f"{path}: not a P6 PPM")
    w, h = int(m.group(1)), int(m.group(2))
    px = data[m.end():]
    lines = []
    for row in range(h // CELL_H):
        line = bytearray()
        for col in range(w // CELL_W):
            bits = bytearray()
            for y in range(CELL_H):
                o = ((row * CELL_H + y) * w + col * CELL_W) * 3
                b = 0
                for x in range(CELL_W):
                    if px[o + 3 * x] > 127:
                        b |= 0x80 >> x
                bits.append(b)
            line.append(glyphs.get(bytes(bits), 0x20))
        lines.append(bytes(line).rstrip())
    return b"\n".join(lines)


def screens(tap, glyphs):
    return b"\n".join(ppm_text(os.path.join(tap, n), glyphs)
                      for n in sorted(os.listdir(tap)) if n.endswith(".ppm"))


def process_memory(pid):
    """Every readable mapping of the process but guest RAM (vsbd's memfd,
    or QEMU's anonymous block of the guest's size and up)."""
    out = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if parts[1][0] != "r" or "vsbd-guest-ram" in line or \
                    "[vvar]" in line or hi - lo >= 200 << 20:
                continue
            try:
                mem.seek(lo)
                out.append(mem.read(hi - lo))
            except OSError:
                continue  # a guard page, a device mapping
    return b"".join(out)


def qmp_screendump(path, out):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(20)
        s.connect(path)
        f = s.makefile("rwb")
        f.readline()  # the greeting
        for cmd in ({"execute": "qmp_capabilities"},
                    {"execute": "screendump", "arguments": {"filename": out}}):
            f.write(json.dumps(cmd).encode() + b"\n")
            f.flush()
            while True:
                reply = json.loads(f.readline())
                if "error" in reply:
                    raise BenchError(f"QMP {cmd['execute']}: {reply['error']}")
                if "return" in reply:
                    break


def captured(vm, glyphs):
    """{channel: bytes the operator holds}; a channel the system does not
    record is absent."""
    if vm.system == "qemu":
        qmp_screendump(vm.qmp, os.path.join(vm.tap, "screen.ppm"))
        return {"console-out": read(os.path.join(vm.tap, "console-out.log")),
                "screen": screens(vm.tap, glyphs),
                "memory": process_memory(vm.pids["vmm"])}
    # vsb-ghv's screen thread writes a PPM when the frame changed, every
    # 200 ms: let it see the last one.
    time.sleep(1.0)
    return {"console-in": read(os.path.join(vm.tap, "console-in.log")),
            "console-out": read(os.path.join(vm.tap, "console-out.log")),
            "uart": uart_bytes(vm.tap),
            "keys": typed_keys(vm.tap),
            "screen": screens(vm.tap, glyphs),
            "memory": process_memory(vm.pids["operator"])}


# ---- the tenant ----

def type_secrets(vm, s_con, s_vnc):
    con = vm.console
    con.read_until(b"fbecho: ready", timeout=60)
    con.write(s_con + b"\r")
    con.read_until(s_con, timeout=30)
    try:
        with RfbClient("127.0.0.1", vm.vnc_port) as c:
            for ch in s_vnc.decode():
                c.tap(ord(ch))
            c.tap(XK_RETURN)
            con.read_until(s_vnc, timeout=30)
            # The screen too: until the client's copy shows the last key.
            c.request(incremental=False)
            c.read_update(time.monotonic() + 30)
    except (OSError, RfbError) as e:
        raise BenchError(f"{vm.system}: VNC: {e}")


def measure(names, keys, build=BUILD):
    """{system: {channel: {"console": run, "vnc": run, "chance": run}}}"""
    font = load_font(build)
    glyphs = {bits: code for code, bits in font.items() if 0x20 < code < 0x7F}
    out = {}
    for name in names:
        s_con, s_vnc, control = new_secret(), new_secret(), new_secret()
        with systems.boot(name, guest(build, "fbecho"), keys=keys, build=build,
                          vnc=True, tap=True, qemu_append="fb=bochs") as vm:
            type_secrets(vm, s_con, s_vnc)
            got = captured(vm, glyphs)
        out[name] = {ch: {"console": longest_run(s_con, data),
                          "vnc": longest_run(s_vnc, data),
                          "chance": longest_run(control, data),
                          "bytes": len(data)}
                     for ch, data in got.items()}
    return out


def figure(res, notes=()):
    names = list(res)
    rows, groups = [], []
    for ch, label in CHANNELS:
        row, vals = [label], []
        for n in names:
            c = res[n].get(ch)
            if c is None:
                row.append("not recorded")
                vals.append(0)
                continue
            row.append(f"console {c['console']}/{SECRET_LEN}, VNC "
                       f"{c['vnc']}/{SECRET_LEN} (chance {c['chance']})")
            vals.append(sum(c[k] for k in ("console", "vnc") if c[k] >= CAPTURED))
        rows.append(row)
        groups.append({"name": ch, "values": vals})
    return {
        "id": "eavesdrop", "number": "5", "kind": "table", "skipped": None,
        "title": "Eavesdropping: bytes of the secrets the operator captures",
        "what": __doc__.split("\n\n", 2)[2].replace("\n", " "),
        "headers": ["channel"] + names, "rows": rows,
        "bars": {"unit": f"bytes of the two {SECRET_LEN}-byte secrets "
                         f"(runs of {CAPTURED}+)",
                 "labels": names, "groups": groups},
        "paper": PAPER, "notes": list(notes)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--systems", default=",".join(SYSTEMS),
                    help="comma-separated, from " + ", ".join(SYSTEMS))
    ap.add_argument("--build", default=BUILD, help="build directory")
    a = ap.parse_args()
    names = a.systems.split(",")
    if any(n not in SYSTEMS for n in names):
        ap.error("--systems: choose from " + ", ".join(SYSTEMS))
    need_tools("qemu-system-x86_64")
    with TenantKeys() as keys:
        fig = figure(measure(names, keys, a.build))
    print(fig["title"] + f" (longest run of each {SECRET_LEN}-byte secret)")
    table(fig["headers"], fig["rows"])


if __name__ == "__main__":
    run_main(main)
