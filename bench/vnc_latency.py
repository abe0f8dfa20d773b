#!/usr/bin/python3
"""The tenant's screen: how long a key typed in a VNC client takes to show
on that client's screen, and how long a full-screen redraw takes to arrive,
under bypass (vsbd's shadow framebuffer through a real `ssh -N -L`),
bypass-raw (vsbd's loopback VNC listener), traditional (the operator's
vsb-ghv serving the screen through its own SSH server) and QEMU's VNC
server, same guest (fbecho), same run.

    bench/vnc_latency.py [--samples N] [--fills N] [--runs R] [--gap MS]
                         [--quick] [--systems A,B,...]

The client is bench/rfbclient.py (RFB 3.8, Raw encoding, a local copy of
the frame), always with one incremental FramebufferUpdateRequest
outstanding, as real viewers do.

- key to screen: KeyEvent down+up of a letter; the time until an update
  has arrived after which the client's copy of the glyph cell where fbecho
  draws that letter (8x16 cells from row 2, tracked as we type) holds
  exactly the guest's glyph (from build/guests/font.h, the guest's own
  table). --samples keys per system.
- full screen: Shift+'#' makes fbecho fill the whole 1024x768 frame with
  the next palette colour; the time until the client's copy is that colour
  everywhere (3 MB of Raw pixels). --fills per system.

Before each key or fill the client idles a random 0..--gap ms (reading
what arrives), as a typist would, so the keys do not fall in step with the
servers' refresh timers: sending the next key right after an update would
always land just after a refresh and measure the worst case.

bench/systems.py says how each system is booted; QEMU runs with
`-vga std` and fbecho's `fb=bochs`. Each run boots every system's VM
afresh, one at a time, in an order rotated from run to run. Figures are
printed, never judged: the exit status is non-zero only if something
failed."""
import argparse
import contextlib
import os
import random
import re
import select
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BUILD, BenchError, TenantKeys, compare,  # noqa: E402
                      guest, interleave, need_tools, print_compare, run_main,
                      split, summary)
from rfbclient import RfbClient, RfbError  # noqa: E402
import systems  # noqa: E402

PAPER_KEY = ("VSBypass's key-to-screen response was 13 ms slower than the "
             "traditional system's (slide 20)")
PAPER_FILL = ("VSBypass's screen update time was 23 ms longer than the "
              "traditional system's (slide 20)")

# guests/fbecho.c
CELL_W, CELL_H = 8, 16
TEXT_ROW0 = 2
PALETTE = [0xFF0000, 0x00FF00, 0x0000FF, 0xFFFFFF, 0x000000]  # per '#'
XK_RETURN = 0xFF0D
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def load_font(build):
    """The guest's glyph table, parsed from the font.h it was built with:
    {code point: 16 row bytes, bit 7 leftmost}."""
    path = os.path.join(build, "guests", "font.h")
    try:
        text = open(path).read()
    except OSError:
        raise BenchError(f"no {path}; run make")
    font = {}
    for m in re.finditer(r"\[0x([0-9a-fA-F]+)\] = \{([^}]*)\}", text):
        font[int(m.group(1), 16)] = bytes(int(v, 16) for v in m.group(2).split(","))
    return font


def glyph_pixels(font, ch):
    """What RfbClient.cell() returns for a cell holding ch: white on black,
    3 bytes a pixel."""
    out = bytearray()
    for bits in font[ord(ch)]:
        for i in range(CELL_W):
            out += b"\xff\xff\xff" if bits & (0x80 >> i) else b"\x00\x00\x00"
    return bytes(out)


class Screen:
    """fbecho's state on one VM, which every client on it shares: where the
    next character goes and how many fills there were."""

    def __init__(self):
        self.col, self.row, self.fills = 0, TEXT_ROW0, 0
        self.cols = self.rows = None

    def next_cell(self, c):
        """The cell the next letter goes to. Drawing in the very last cell
        would make fbecho clear the text rows at once (it starts over
        rather than scroll): press Return there instead, unmeasured, and
        wait for the cleared rows."""
        if self.cols is None:
            self.cols, self.rows = c.width // CELL_W, c.height // CELL_H
        if self.row == self.rows - 1 and self.col == self.cols - 1:
            c.tap(XK_RETURN)
            top = TEXT_ROW0 * CELL_H * c.stride
            deadline = time.monotonic() + 30
            while c.fb[top:] != bytes(len(c.fb) - top):
                c.read_update(deadline)
                c.request()
            self.col, self.row = 0, TEXT_ROW0
        cell = (self.col, self.row)
        self.col += 1
        if self.col == self.cols:
            self.col, self.row = 0, self.row + 1
        return cell


@contextlib.contextmanager
def boot(system, keys, build):
    """Boots fbecho under system; yields the Vm once the guest has drawn
    its banner (`fbecho: ready` on its serial console)."""
    with systems.boot(system, guest(build, "fbecho"), keys=keys, build=build,
                      vnc=True, qemu_append="fb=bochs") as vm:
        vm.console.read_until(b"fbecho: ready", timeout=60)
        yield vm


@contextlib.contextmanager
def viewer(port):
    """A connected client with an up-to-date copy of the frame."""
    try:
        c = RfbClient("127.0.0.1", port)
    except (OSError, RfbError) as e:
        raise BenchError(f"VNC connection to port {port}: {e}")
    with c:
        try:
            c.request(incremental=False)
            c.read_update(time.monotonic() + 30)
            c.request()
        except (OSError, RfbError) as e:
            raise BenchError(f"VNC port {port}, first frame: {e}")
        yield c


def idle(c, con, seconds):
    """Waits `seconds`, applying whatever updates arrive meanwhile (and
    asking for the next each time). Drops what the guest printed on its
    serial console (a line per key or fill): unread, the VMM's socket
    fills after a few hundred one-byte writes and the guest stops."""
    con.discard()
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return
        if not c.rbuf and not select.select([c.sock], [], [], left)[0]:
            return
        c.read_update(time.monotonic() + 30)
        c.request()


def wait_for(c, t0, done, timeout=30):
    """Reads updates until done() holds after one; returns (ms from t0 to
    the end of that update, bytes received meanwhile)."""
    deadline = time.monotonic() + timeout
    b0 = c.received
    while True:
        try:
            c.read_update(deadline)
        except RfbError as e:
            raise BenchError(f"waiting for the screen to change: {e}")
        t1 = time.perf_counter()
        c.request()
        if done():
            return (t1 - t0) * 1000, c.received - b0


def key_latency(c, scr, font, i):
    ch = LETTERS[i % len(LETTERS)]
    col, row = scr.next_cell(c)
    x, y = col * CELL_W, row * CELL_H
    want = glyph_pixels(font, ch)
    if c.cell(x, y, CELL_W, CELL_H) == want:
        raise BenchError(f"cell {col},{row} already shows {ch!r}: cursor lost")
    t0 = time.perf_counter()
    c.tap(ord(ch))
    return wait_for(c, t0, lambda: c.cell(x, y, CELL_W, CELL_H) == want)


def fill_latency(c, scr):
    rgb = PALETTE[scr.fills % len(PALETTE)]
    scr.fills += 1
    b, g, r = rgb & 0xFF, rgb >> 8 & 0xFF, rgb >> 16
    n = c.width * c.height
    last = (n - 1) * 4

    def filled():
        # Corners first (cheap), then every pixel, X byte ignored.
        fb = c.fb
        if fb[0:3] != bytes((b, g, r)) or fb[last:last + 3] != bytes((b, g, r)):
            return False
        return (fb[0::4] == bytes((b,)) * n and fb[1::4] == bytes((g,)) * n
                and fb[2::4] == bytes((r,)) * n)

    t0 = time.perf_counter()
    c.tap(ord("#"), shift=True)  # Shift + the 3 key, as a viewer sends it
    return wait_for(c, t0, filled)


def sample_phase(gap, rng, port, con, scr, font, system, phase, n, out):
    """n keys or fills from one client connected to port; appends (ms,
    bytes) to out."""
    with viewer(port) as c:
        for i in range(n):
            try:
                idle(c, con, rng.uniform(0, gap) / 1000)
                out.append(key_latency(c, scr, font, len(out))
                           if phase == "keys" else fill_latency(c, scr))
            except (BenchError, RfbError) as e:
                raise BenchError(f"{system}, {phase}, sample {i + 1}: {e}")


def measure(names, nkeys, nfills, runs, gap, keys, build=BUILD, seed=1):
    """({system: [(ms, bytes received), ...] for keys}, the same for fills)."""
    font = load_font(build)
    rng = random.Random(seed)
    key_res = {s: [] for s in names}
    fill_res = {s: [] for s in names}
    for run, (nk, nf) in enumerate(zip(split(nkeys, runs), split(nfills, runs))):
        for system in interleave(names, run):
            with boot(system, keys, build) as vm:
                # Keys first: fills would leave the text cells coloured
                # (still fine, the check is against the whole glyph).
                scr = Screen()
                for phase, n, out in (("keys", nk, key_res), ("fills", nf, fill_res)):
                    sample_phase(gap, rng, vm.vnc_port, vm.console, scr, font,
                                 system, phase, n, out[system])
    return key_res, fill_res


def _stats(res):
    out = {}
    for s, v in res.items():
        out[s] = summary([ms for ms, _ in v])
        out[s]["kib"] = sum(b for _, b in v) / len(v) / 1024
    return out


def _figure(exp_id, number, title, what, res, paper, notes):
    return compare(exp_id, number, title, what, "ms", "lower", _stats(res),
                   systems.LABELS,
                   [["median", "median"], ["p99", "p99"], ["min", "min"],
                    ["kib", "received (KiB)"]],
                   ratios_to=["traditional", "qemu"], paper=paper, notes=notes)


def key_figure(res, runs, gap, notes=()):
    n = len(next(iter(res.values())))
    return _figure(
        "vnc_key", 3, "VNC response time",
        f"The `fbecho` PVH guest draws each key it reads from the i8042 in "
        f"the next 8x16 cell of its 1024x768 frame. A VNC client "
        f"(`bench/rfbclient.py`, RFB 3.8, Raw, one incremental request "
        f"always outstanding) sends a key press and release, then waits for "
        f"the update after which its copy of that cell holds exactly the "
        f"guest's glyph; it idles a random 0-{gap:g} ms before each key. "
        f"{n} keys per system over {runs} boot(s).", res, PAPER_KEY, notes)


def fill_figure(res, runs, notes=()):
    n = len(next(iter(res.values())))
    return _figure(
        "vnc_update", 4, "VNC full-screen update time",
        f"Shift+`#` makes `fbecho` fill its whole 1024x768x32 frame with the "
        f"next colour; the time from the key to the end of the update after "
        f"which the client's copy is that colour in every pixel (3 MiB of "
        f"Raw). {n} fills per system over {runs} boot(s).", res, PAPER_FILL,
        notes)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Defaults: 200 keys and 30 fills per system, 3 runs, gap 100 ms.")
    ap.add_argument("--samples", type=int, default=200,
                    help="keys per system, over all runs")
    ap.add_argument("--fills", type=int, default=30,
                    help="full-screen fills per system, over all runs")
    ap.add_argument("--runs", type=int, default=3,
                    help="boots of each system, interleaved")
    ap.add_argument("--gap", type=float, default=100,
                    help="idle time before each key or fill: random, "
                    "0 to this many ms")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 20 keys, 5 fills, 1 run")
    ap.add_argument("--seed", type=int, default=1, help="for the gaps")
    ap.add_argument("--systems", default=",".join(systems.SYSTEMS),
                    help="comma-separated, from " + ", ".join(systems.SYSTEMS))
    ap.add_argument("--build", default=BUILD, help="build directory")
    a = ap.parse_args()
    if a.quick:
        a.samples, a.fills, a.runs = 20, 5, 1
    names = a.systems.split(",")
    if a.runs < 1 or a.samples < a.runs or a.fills < a.runs or a.gap < 0:
        ap.error("need --runs >= 1, --samples and --fills >= --runs, --gap >= 0")
    if any(n not in systems.SYSTEMS for n in names):
        ap.error("--systems: choose from " + ", ".join(systems.SYSTEMS))
    need_tools("qemu-system-x86_64")
    with TenantKeys() as keys:
        key_res, fill_res = measure(names, a.samples, a.fills, a.runs, a.gap,
                                    keys, a.build, a.seed)
    print_compare(key_figure(key_res, a.runs, a.gap))
    print_compare(fill_figure(fill_res, a.runs))


if __name__ == "__main__":
    run_main(main)
