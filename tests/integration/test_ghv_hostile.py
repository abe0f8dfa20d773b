"""A hostile operator against a real vsbd: a test client (ghvproto.py) that
speaks the boundary protocol badly. Each malformed, out-of-range, replayed
or flooding message must be refused (a GHV_REPLY with the documented errno
where the protocol answers, a count on the control socket always) while
vsbd keeps its guest running: the fbecho guest echoes what the test types
on vsbd's own console before, during and after every attack."""
import errno
import os
import shutil
import socket
import struct
import tempfile
import time

import ghvproto as gp
from vsbtest import Vsbd, control, guest, run_all, test


class Target:
    """vsbd with fbecho, its console on a UNIX socket, an operator socket
    and a control socket."""

    def __init__(self, *args, console="unix"):
        self.dir = tempfile.mkdtemp(prefix="vsbhostile-")
        self.sock = os.path.join(self.dir, "ghv.sock")
        self.ctl = os.path.join(self.dir, "ctl")
        self.vm = Vsbd(guest("fbecho"), "--name", "vm", "--fb", "640x480",
                       "--operator", self.sock, "--control", self.ctl, *args,
                       console=console)
        deadline = time.monotonic() + 10
        while not (os.path.exists(self.sock) and os.path.exists(self.ctl)):
            assert self.vm.proc.poll() is None, self.vm.stderr()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        self.n = 0

    def echo_ok(self):
        """The guest still echoes on vsbd's console, and vsbd lives."""
        self.n += 1
        word = f"alive{self.n}".encode()
        self.vm.send(word)
        self.vm.read_until(word, timeout=20)
        assert self.vm.proc.poll() is None, self.vm.stderr()

    def operator(self):
        return control(self.ctl, "operator")

    def refused(self):
        st = self.operator()
        return int(st.split("refused=")[1].split()[0]) if "refused=" in st else 0

    def close(self):
        self.vm.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def status(reply):
    assert reply is not None, "no reply"
    return reply.status


def fbecho_io(io):
    """Answers the guest's PCI scan as a disk at slot 3 would (ID only)."""
    if io.space == gp.SPACE_PCI_CFG and (io.addr & 0xFF) == 0:
        return 0xDEADBEEF_10011AF4  # upper bytes must not reach the guest
    return 0 if io.is_write else ~0


def started(t, ses):
    """CREATE and START, answering the guest's PCI scan until it is ready."""
    assert status(ses.request(gp.GHV_CREATE, gp.create("vm"))) == 0
    assert status(ses.request(gp.GHV_START, io_handler=fbecho_io)) == 0
    ses.serve(fbecho_io, timeout=2)
    t.vm.read_until(b"fbecho: ready", timeout=30)


@test
def bad_handshakes_are_refused_and_a_good_one_still_works():
    t = Target()
    try:
        for hello in (b"", b"\0" * 8, gp.pack_hello(magic=0x12345678),
                      gp.pack_hello(vmin=2, vmax=9), gp.pack_hello() + b"x"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.settimeout(10)
            s.connect(t.sock)
            s.send(hello)
            data, fds, _, _ = socket.recv_fds(s, 4096, 8)
            assert data == b"" and fds == [], (hello, data)
            s.close()
        assert t.operator().startswith("ok waiting"), t.operator()
        with gp.Session.connect(t.sock) as ses:
            assert ses.welcome.routing == gp.ROUTING_BYPASS
            assert ses.welcome.nfds == 4  # no framebuffer in bypass routing
            # A second operator is turned away while one is connected.
            try:
                gp.Session.connect(t.sock, timeout=5).close()
                raise AssertionError("a second operator was welcomed")
            except (gp.ProtocolError, OSError):
                pass
            # The memfds it holds are sealed: it cannot pull guest RAM or
            # the rings from under vsbd (a SIGBUS in the TCB).
            for fd in (ses.fds[gp.FD_RAM], ses.fds[gp.FD_SHM]):
                try:
                    os.ftruncate(fd, 4096)
                    raise AssertionError("shrank a memfd vsbd maps")
                except PermissionError:
                    pass
    finally:
        t.close()


@test
def malformed_out_of_range_and_replayed_requests_get_errors():
    t = Target()
    try:
        with gp.Session.connect(t.sock) as ses:
            req = ses.request
            EPERM, EINVAL, ENOENT, EEXIST, EPROTO = (-errno.EPERM, -errno.EINVAL,
                                                     -errno.ENOENT, -errno.EEXIST,
                                                     -errno.EPROTO)
            assert status(req(gp.GHV_START)) == EPERM           # before CREATE
            assert status(req(gp.GHV_CREATE, gp.create("other"))) == ENOENT
            assert status(req(gp.GHV_CREATE, gp.create("v m"))) == EINVAL
            assert status(req(gp.GHV_CREATE, gp.create("vm"))) == 0
            assert status(req(gp.GHV_CREATE, gp.create("vm"))) == EPERM
            # Replays: an old sequence number, and a jump ahead.
            assert status(req(gp.GHV_MAP_IO, gp.map_io(0, 0x510, 4), seq=1)) == EPROTO
            assert status(req(gp.GHV_MAP_IO, gp.map_io(0, 0x510, 4),
                              seq=ses.seq + 5)) == EPROTO
            assert status(req(gp.GHV_MAP_IO, gp.map_io(0, 0x510, 4), flags=1)) == EINVAL
            assert status(req(gp.GHV_MAP_IO, gp.map_io(0, 0x510, 4, pad=b"\1"))) == EINVAL
            # Ranges: vsbd's own devices, the framebuffer, wraps, limits.
            assert status(req(gp.GHV_MAP_IO, gp.map_io(0, 0x3F8, 8))) == EEXIST
            assert status(req(gp.GHV_MAP_IO, gp.map_io(0, 0xCF8, 1))) == EEXIST
            assert status(req(gp.GHV_MAP_IO, gp.map_io(0, 0xFFFF, 2))) == EINVAL
            assert status(req(gp.GHV_MAP_IO, gp.map_io(0, 0x10, 0))) == EINVAL
            assert status(req(gp.GHV_MAP_IO, gp.map_io(1, 0xD0000000, 4096))) == EPERM
            assert status(req(gp.GHV_MAP_IO, gp.map_io(1, 0xFEC00000, 4096))) == EPERM
            assert status(req(gp.GHV_MAP_IO, gp.map_io(1, 2**64 - 4096, 8192))) == EINVAL
            assert status(req(gp.GHV_MAP_IO, gp.map_io(1, 0x1000, 4096))) == EPERM  # RAM
            assert status(req(gp.GHV_MAP_IO, gp.map_io(7, 0x510, 4))) == EINVAL
            assert status(req(gp.GHV_MAP_IO, gp.map_io(0, 0x510, 4))) == 0
            assert status(req(gp.GHV_MAP_IO, gp.map_io(0, 0x512, 4))) == EEXIST
            assert status(req(gp.GHV_UNMAP_IO, gp.unmap_io(0, 0x60))) == ENOENT
            assert status(req(gp.GHV_UNMAP_IO, gp.unmap_io(0, 0x510))) == 0
            assert status(req(gp.GHV_MAP_IO, gp.map_io(1, 0xE0000000, 4096))) == 0
            # PCI slots and interrupt lines.
            for slot in (0, 32, 255):
                assert status(req(gp.GHV_PCI_ATTACH, gp.pci_attach(slot))) == EINVAL
            r = req(gp.GHV_PCI_ATTACH, gp.pci_attach(3))
            assert status(r) == 0 and r.reply().val[0] == 16 + 3
            assert status(req(gp.GHV_PCI_ATTACH, gp.pci_attach(3))) == EEXIST
            for gsi in (0, 2, 4, 1, 8, 9, 12):  # vsbd's lines in bypass routing
                assert status(req(gp.GHV_IRQ_LINE, gp.irq_line(gsi, 1))) == EPERM
            assert status(req(gp.GHV_IRQ_LINE, gp.irq_line(24, 1))) == EINVAL
            assert status(req(gp.GHV_IRQ_LINE, gp.irq_line(10, 2))) == EINVAL
            assert status(req(gp.GHV_STOP)) == EPERM            # not running
            # Types only vsbd sends, and unknown ones: refused, no reply.
            for mtype in (gp.GHV_IO_REQ, gp.GHV_REPLY, 99, 0xFFFF):
                ses.send(mtype)
            before = t.refused()
            assert before >= 4
            assert status(req(gp.GHV_START, io_handler=fbecho_io)) == 0
            ses.serve(fbecho_io, timeout=2)
            # The guest scans PCI at boot: the forwarded reads of slot 3 are
            # answered (with junk above the 4 bytes read), then a late and
            # a made-up answer are refused.
            t.vm.read_until(b"fbecho: pci 03 1af4:1001", timeout=30)
            t.vm.read_until(b"fbecho: ready", timeout=30)
            ses.send(gp.GHV_IO_DONE, gp.io_done(1), mid=1)
            ses.send(gp.GHV_IO_DONE, gp.io_done(1), mid=0xFFFFFFFF)
            time.sleep(0.3)
            assert t.refused() >= before + 2
            t.echo_ok()
            assert t.operator().startswith("ok up"), t.operator()
            assert status(req(gp.GHV_STOP)) == 0
            assert ses.wait_event(gp.EV_PAUSED) is not None
            assert status(req(gp.GHV_START)) == 0
            t.echo_ok()
    finally:
        t.close()


@test
def a_flood_of_messages_does_not_stop_the_guest():
    t = Target()
    try:
        with gp.Session.connect(t.sock) as ses:
            started(t, ses)
            # Never reading the down ring: vsbd's replies to the flood fill
            # it and are dropped, vsbd does not wait for us.
            junk = [gp.pack(gp.GHV_IRQ_LINE, gp.irq_line(10, 1), seq=0),
                    gp.pack(77, b"\xff" * 48, seq=0),
                    gp.pack(gp.GHV_MAP_IO, gp.map_io(0, 0x3F8, 8), seq=0)]
            sent, start = 0, time.monotonic()
            while time.monotonic() - start < 3:
                for _ in range(200):
                    raw = bytearray(junk[sent % 3])
                    ses.seq += 1
                    struct.pack_into("<I", raw, 4, ses.seq)
                    try:
                        ses.push(bytes(raw), do_kick=False, wait=1.0)
                    except gp.ProtocolError:
                        break
                    sent += 1
                ses.kick()
                if sent % 2000 < 200:
                    t.echo_ok()
            t.echo_ok()
            assert sent > 5000, sent
            assert t.operator().startswith("ok up"), t.operator()
            assert t.refused() >= sent // 3
            # vsbd's memory did not grow with the flood.
            with open(f"/proc/{t.vm.proc.pid}/status") as f:
                rss = int(next(l for l in f if l.startswith("VmRSS")).split()[1])
            assert rss < 200 * 1024, rss
    finally:
        t.close()


@test
def broken_ring_indices_take_the_operator_down_not_vsbd():
    t = Target()
    try:
        with gp.Session.connect(t.sock) as ses:
            started(t, ses)
            ses.up.set_head(ses.up.pos + 100000)
            ses.kick()
            deadline = time.monotonic() + 10
            while not ses.peer_closed() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert ses.peer_closed()
            st = t.operator()
            assert st.startswith("ok down") and "up ring" in st, st
            t.echo_ok()
    finally:
        t.close()


@test
def a_silent_operator_times_out_and_the_guest_goes_on():
    t = Target("--operator-timeout", "300")
    try:
        with gp.Session.connect(t.sock) as ses:
            assert status(ses.request(gp.GHV_CREATE, gp.create("vm"))) == 0
            assert status(ses.request(gp.GHV_PCI_ATTACH, gp.pci_attach(3))) == 0
            ses.send(gp.GHV_START)  # then never answers anything
            # The guest's first read of slot 3 waits 300 ms, then reads as
            # no device; the scan and the guest carry on.
            t.vm.read_until(b"fbecho: ready", timeout=30)
            assert b"fbecho: pci 03" not in t.vm.buf
            st = t.operator()
            assert st.startswith("ok down") and "timed out" in st and "timeouts=1" in st, st
            t.echo_ok()
    finally:
        t.close()


@test
def traditional_routing_hands_over_a_sealed_framebuffer():
    t = Target("--routing", "traditional", console="none")
    try:
        with gp.Session.connect(t.sock) as ses:
            w = ses.welcome
            assert w.routing == gp.ROUTING_TRADITIONAL and w.nfds == 5, w
            assert (w.fb_width, w.fb_height) == (640, 480), w
            try:
                os.ftruncate(ses.fds[gp.FD_FB], 4096)
                raise AssertionError("shrank the framebuffer memfd")
            except PermissionError:
                pass
            # COM1 is the operator's now: it may drive IRQ 4, and vsbd's
            # other lines stay its own.
            assert status(ses.request(gp.GHV_CREATE, gp.create("vm"))) == 0
            assert ses.request(gp.GHV_IRQ_LINE, gp.irq_line(4, 0),
                               timeout=0.5) is None  # no reply: accepted
            assert status(ses.request(gp.GHV_IRQ_LINE, gp.irq_line(9, 1))) == -errno.EPERM
    finally:
        t.close()


@test
def only_the_operator_user_may_connect():
    t = Target("--operator-user", "nobody")
    try:
        st = os.stat(t.sock)
        assert st.st_uid == 65534 and (st.st_mode & 0o777) == 0o600, oct(st.st_mode)
        try:  # root is not the operator
            gp.Session.connect(t.sock, timeout=5).close()
            raise AssertionError("root was welcomed as the operator")
        except (gp.ProtocolError, OSError):
            pass
        assert t.operator().startswith("ok waiting"), t.operator()
    finally:
        t.close()


if __name__ == "__main__":
    run_all()
