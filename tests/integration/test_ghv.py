"""The operator's guest hypervisor vsb-ghv against a real vsbd, and the
eavesdropping experiment of the VSBypass paper.

A tenant types a secret through a real `ssh` (the serial console) and
another through a real VNC viewer (TigerVNC under Xvfb, through `ssh -L`);
the fbecho guest echoes both on its console and its screen. vsb-ghv runs
as `nobody` under its seccomp sandbox with its operator tap on.

- traditional routing: the consoles are vsb-ghv's own (its SSH server, its
  UART/i8042/framebuffer): the tap, and vsb-ghv's memory, hold the secrets,
  which proves the tap and the memory scan work;
- bypass routing: the consoles are vsbd's shadow devices: the tap holds
  the guest's PCI configuration reads of vsb-ghv's disk (it works) but no
  byte of either secret, and neither do vsb-ghv's log or its memory, apart
  from the guest RAM it maps for DMA (left visible to operators by the
  paper's threat model: boundary/PROTOCOL.md, operator/README.md).

Then vsb-ghv is killed: the tenant's console keeps working and vsbd's
control socket reports the operator down."""
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import fbtext
import vnctest
from sshtest import SSH_BASE, Session, free_port, keygen
from vsbtest import BUILD, Vsbd, control, guest, run_all, test

GHV = os.path.join(BUILD, "vsb-ghv")


def memory_of(pid, skip="vsbd-guest-ram"):
    """Every readable mapping of a process but the guest RAM it maps."""
    out = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            parts = line.split()
            if parts[1][0] != "r" or skip in line or "[vvar]" in line:
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if hi - lo > 1 << 30:
                continue  # an ASan build's shadow, not data
            try:
                mem.seek(lo)
                out.append(mem.read(hi - lo))
            except OSError:
                continue
    return b"".join(out)


def tap_bytes(tap):
    data = b""
    for name in sorted(os.listdir(tap)):
        with open(os.path.join(tap, name), "rb") as f:
            data += f.read()
    return data


def read_or_empty(tap, name):
    try:
        with open(os.path.join(tap, name), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def io_bytes(tap, port, direction):
    """Data bytes of the tap's io.log accesses to one port."""
    out = bytearray()
    path = os.path.join(tap, "io.log")
    if not os.path.exists(path):
        return bytes(out)
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 5 and p[0] == "pio" and p[1] == direction \
                    and int(p[2], 16) == port and p[3] == "1":
                out.append(int(p[4], 16) & 0xFF)
    return bytes(out)


class OperatorVm:
    """vsbd running fbecho with --operator, and vsb-ghv as nobody with its
    tap; the tenant's SSH endpoint is vsbd's (bypass) or vsb-ghv's
    (traditional)."""

    def __init__(self, routing):
        self.routing = routing
        self.dir = tempfile.mkdtemp(prefix="vsbghv-")
        os.chmod(self.dir, 0o755)
        self.sock = os.path.join(self.dir, "ghv.sock")
        self.ctl = os.path.join(self.dir, "ctl")
        self.tap = os.path.join(self.dir, "tap")
        self.key = keygen(os.path.join(self.dir, "tenant"))
        self.auth = os.path.join(self.dir, "authorized_keys")
        shutil.copy(self.key + ".pub", self.auth)
        os.chmod(self.auth, 0o644)
        self.hostkeys = os.path.join(self.dir, "hostkeys")
        os.mkdir(self.hostkeys)
        self.disk = os.path.join(self.dir, "disk.img")
        with open(self.disk, "wb") as f:
            f.truncate(1 << 20)
        self.port = free_port()
        args = ["--name", "vm", "--operator", self.sock, "--operator-user", "nobody",
                "--control", self.ctl]
        ghv_args = ["--tap", self.tap, "--disk", self.disk + ",ro"]
        if routing == "traditional":
            args += ["--routing", "traditional"]
            # The operator's own console endpoint, as nova's proxies are.
            os.chown(self.hostkeys, 65534, 65534)
            ghv_args += ["--ssh", f"127.0.0.1:{self.port}", "--authorized-keys",
                         self.auth, "--host-keys", self.hostkeys]
        else:
            args += ["--ssh", f"127.0.0.1:{self.port}", "--authorized-keys",
                     self.auth, "--host-keys", self.hostkeys]
        self.vm = Vsbd(guest("fbecho"), *args, console="none")
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            assert self.vm.proc.poll() is None, self.vm.stderr()
            assert time.monotonic() < deadline, "no operator socket"
            time.sleep(0.02)
        self.ghv_err = os.path.join(self.dir, "ghv.stderr")
        with open(self.ghv_err, "wb") as err:
            self.ghv = subprocess.Popen(
                [GHV, "--vsbd", self.sock, "--vm", "vm", "--user", "nobody"] + ghv_args,
                stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        self._wait_ssh()

    def _wait_ssh(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p, what in ((self.vm.proc, "vsbd"), (self.ghv, "vsb-ghv")):
                if p.poll() is not None:
                    raise AssertionError(f"{what} exited {p.returncode}: "
                                         + self.vm.stderr() + self.ghv_log())
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("no SSH endpoint: " + self.vm.stderr() + self.ghv_log())

    def ghv_log(self):
        with open(self.ghv_err, "rb") as f:
            return f.read().decode(errors="replace")

    # The sshtest.SshVm interface vnctest.Tunnel needs.
    def ssh_args(self, *cmd, tty=True, extra=()):
        return (SSH_BASE + ["-i", self.key, "-p", str(self.port)]
                + (["-tt"] if tty else ["-T"]) + list(extra)
                + ["vm@127.0.0.1"] + list(cmd))

    def close(self):
        if self.ghv.poll() is None:
            self.ghv.kill()
            self.ghv.wait()
        self.vm.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def eavesdrop(routing):
    """Runs the experiment; returns what the operator side holds."""
    vnctest.need_tools()
    font = fbtext.load_psf()
    s_ssh = "pw" + secrets.token_hex(6)
    s_vnc = "kb" + secrets.token_hex(6)
    op = OperatorVm(routing)
    try:
        with Session(op.ssh_args()) as con:
            con.read_until(b"fbecho: ready", timeout=30)
            pci = re.findall(rb"fbecho: pci (\d+) ([0-9a-f:]+)", con.buf)
            con.send(s_ssh.encode() + b"\r")
            con.read_until(s_ssh.encode(), timeout=20)
            with vnctest.Tunnel(op) as t, vnctest.Viewer(t.port) as v:
                v.type(s_vnc)
                con.read_until(s_vnc.encode(), timeout=30)
                shown = vnctest.wait_for_text(
                    t.port, lambda img: fbtext.locate_text(img, s_vnc, font) is not None)
            # Let the tap's screen thread (every 200 ms) see the last frame.
            time.sleep(1.0)
            got = {
                "pci": pci,
                "screen-shows-secret": shown is not None,
                "tap": tap_bytes(op.tap) if os.path.isdir(op.tap) else b"",
                "tap-files": sorted(os.listdir(op.tap)) if os.path.isdir(op.tap) else [],
                "thr": io_bytes(op.tap, 0x3F8, "w"),
                "console-in": read_or_empty(op.tap, "console-in.log"),
                "console-out": read_or_empty(op.tap, "console-out.log"),
                "memory": memory_of(op.ghv.pid),
                "ghv-alive": op.ghv.poll() is None,
                "operator": control(op.ctl, "operator"),
            }
            screens = []
            if os.path.isdir(op.tap):
                from PIL import Image
                for name in got["tap-files"]:
                    if name.startswith("screen-"):
                        with Image.open(os.path.join(op.tap, name)) as img:
                            screens.append(fbtext.locate_text(img.convert("RGB"),
                                                              s_vnc, font) is not None)
            got["tap-screen-shows-secret"] = any(screens)
            if routing == "bypass":
                # The operator's process dies: the shadow console lives on.
                op.ghv.send_signal(signal.SIGKILL)
                op.ghv.wait(10)
                deadline = time.monotonic() + 10
                while "down" not in control(op.ctl, "operator") and \
                        time.monotonic() < deadline:
                    time.sleep(0.1)
                got["operator-after-kill"] = control(op.ctl, "operator")
                con.send(b"after-kill\r")
                con.read_until(b"after-kill", timeout=20)
                got["console-after-kill"] = True
        got["ghv-log"] = op.ghv_log().encode()
        got["vsbd-log"] = op.vm.stderr()
        return got, s_ssh.encode(), s_vnc.encode()
    finally:
        op.close()


_runs = {}


def run(routing):
    if routing not in _runs:
        _runs[routing] = eavesdrop(routing)
    return _runs[routing]


@test
def traditional_routing_the_operator_tap_captures_both_secrets():
    got, s_ssh, s_vnc = run("traditional")
    assert got["ghv-alive"], got["ghv-log"]
    assert got["operator"].startswith("ok up routing=traditional"), got["operator"]
    assert got["screen-shows-secret"]
    tap = got["tap"]
    # Console bytes both ways, the UART's transmit register, the VNC keys
    # and the screens: each channel alone gives the secrets away.
    assert s_ssh in got["console-in"], got["console-in"][-100:]
    assert s_ssh in got["console-out"] and s_vnc in got["console-out"], \
        got["console-out"][-200:]
    assert s_ssh in got["thr"] and s_vnc in got["thr"], got["thr"][-200:]
    # keys.log: the VNC secret's keysyms (ASCII for these characters),
    # each pressed, in order.
    presses = re.findall(rb"^([0-9a-f]+) 1$", tap, re.M)
    typed = bytes(int(k, 16) for k in presses if int(k, 16) < 0x80)
    assert s_vnc in typed, typed[-100:]
    assert got["tap-screen-shows-secret"], got["tap-files"]
    assert s_ssh in got["memory"] and s_vnc in got["memory"]


@test
def bypass_routing_the_operator_sees_no_secret():
    got, s_ssh, s_vnc = run("bypass")
    assert got["ghv-alive"], got["ghv-log"]
    assert got["operator"].startswith("ok up routing=bypass"), got["operator"]
    assert got["screen-shows-secret"]
    # The tap works: the guest's scan of PCI bus 0 found vsb-ghv's disk
    # through forwarded configuration reads, which the tap recorded.
    assert (b"03", b"1af4:1001") in got["pci"], got["pci"]
    assert re.search(rb"^pcicfg r 30000 4 10011af4$", got["tap"], re.M), got["tap"][:500]
    tap, mem, log = got["tap"], got["memory"], got["ghv-log"]
    for secret in (s_ssh, s_vnc):
        for where, data in (("tap", tap), ("log", log), ("memory", mem)):
            assert secret not in data, f"{secret!r} in vsb-ghv's {where}"
            # Also each secret's distinctive half, and hex dumps of it.
            assert secret[2:].hex().encode() not in data, where
    assert not got["thr"] and not got["console-in"] and not got["console-out"]
    assert not any(f.startswith("screen-") for f in got["tap-files"]), got["tap-files"]
    # The memory scan reads real memory: vsb-ghv's own paths are there.
    assert b"/tap" in mem and b"disk.img" in mem


@test
def bypass_console_survives_the_operator_being_killed():
    got, _, _ = run("bypass")
    assert got.get("console-after-kill"), got
    assert got["operator-after-kill"].startswith("ok down"), got["operator-after-kill"]
    assert "closed its socket" in got["operator-after-kill"], got["operator-after-kill"]


if __name__ == "__main__":
    run_all()
