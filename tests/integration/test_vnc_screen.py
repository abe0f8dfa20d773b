#!/usr/bin/env python3
"""The tenant's screen and keyboard over VNC: the fbecho guest draws into
vsbd's shadow framebuffer; real VNC clients (vncsnapshot, TigerVNC under
Xvfb driven by xdotool) reach it through `ssh -L`, as a tenant would."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vsbtest import Skip, guest, run_all, test  # noqa: E402
from sshtest import SshVm  # noqa: E402
import fbtext  # noqa: E402
import vnctest  # noqa: E402

FONT = None


def font():
    global FONT
    if FONT is None:
        FONT = fbtext.load_psf()
    return FONT


def need():
    if not os.path.exists("/dev/kvm"):
        raise Skip("no /dev/kvm")
    vnctest.need_tools()
    if not os.path.exists(fbtext.FONT):
        raise Skip("no console font (kbd)")


def text_at(text, col, row):
    return lambda img: fbtext.find_text(img, text, col * 8, row * 16, font())


@test
def screen_through_ssh_tunnel_shows_guest_text():
    need()
    with SshVm(guest("fbecho")) as s, s.session() as con:
        con.read_until(b"fbecho: ready 1024x768")
        with vnctest.Tunnel(s) as t:
            img = vnctest.wait_for_text(t.port, text_at("vsb fbecho ready", 0, 0))
            assert img is not None, "banner not on the screen"
            assert img.size == (1024, 768), img.size
            # Serial input is drawn too: the dirty log must report it.
            con.send(b"typed over ssh")
            con.read_until(b"typed over ssh")
            assert vnctest.wait_for_text(t.port, text_at("typed over ssh", 0, 2)), \
                "serial input not drawn on the screen"


@test
def keys_from_a_vnc_viewer_reach_screen_and_console():
    need()
    with SshVm(guest("fbecho")) as s, s.session() as con:
        con.read_until(b"fbecho: ready")
        with vnctest.Tunnel(s) as t, vnctest.Viewer(t.port) as v:
            v.type("Hello VNC 42!")
            # fbecho echoes keyboard characters on the serial console.
            con.read_until(b"Hello VNC 42!", timeout=30)
            # A second viewer at the same time sees what the keys drew.
            assert vnctest.wait_for_text(t.port, text_at("Hello VNC 42!", 0, 2)), \
                "typed text not on the screen"
            # Enter starts the next row (xdotool types "\n" as Linefeed).
            v.type("\nnext line")
            con.read_until(b"\r\nnext line", timeout=30)
            assert vnctest.wait_for_text(t.port, text_at("next line", 0, 3)), \
                "Enter did not start a new row"
            # A full-screen redraw ('#' fills the frame red) reaches viewers.
            v.type("#")
            con.read_until(b"fbecho: fill 1")
            img = vnctest.wait_for_text(
                t.port, lambda im: all(im.getpixel(p)[0] > 200 and im.getpixel(p)[1] < 60
                                       for p in ((0, 0), (512, 384), (1023, 767))))
            assert img is not None, "full-screen fill not seen"


@test
def only_the_vnc_port_can_be_forwarded():
    need()
    with SshVm(guest("fbecho")) as s, s.session() as con:
        con.read_until(b"fbecho: ready")
        port = vnctest.free_vnc_port()
        # ssh opens the local port; the server refuses the channel when a
        # connection arrives, so the client sees it closed at once.
        import socket
        import subprocess
        import time
        p = subprocess.Popen(s.ssh_args(tty=False, extra=["-N", "-L", f"{port}:127.0.0.1:22"]),
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        try:
            vnctest.wait_port(port, proc=p)
            c = socket.create_connection(("127.0.0.1", port), 5)
            c.settimeout(10)
            assert c.recv(100) == b"", "a forward to port 22 was opened"
            c.close()
        finally:
            # OpenSSH now and then sits on a SIGTERM (seen once under
            # ASan timing): it has done its part, so make sure it goes.
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            p.stderr.close()
        time.sleep(0.2)
        # vsbd logs the refusal (one line, naming the target).
        assert re.search(r"(refus|prohibit|denied).*127\.0\.0\.1.*22|22.*(refus|prohibit|denied)",
                         s.vm.stderr(), re.I), s.vm.stderr()


if __name__ == "__main__":
    run_all()
