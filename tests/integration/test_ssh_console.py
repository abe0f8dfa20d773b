#!/usr/bin/env python3
"""The tenant's serial console over SSH: real OpenSSH clients against vsbd's
SSH server, with the echo test guest on the other end of the UART."""
import os
import re
import signal
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vsbtest import Skip, guest, run_all, test  # noqa: E402
from sshtest import SshVm  # noqa: E402


def need_ssh():
    if not os.path.exists("/dev/kvm"):
        raise Skip("no /dev/kvm")
    if subprocess_which("ssh") is None:
        raise Skip("no ssh client (scripts/setup.sh installs openssh-client)")


def subprocess_which(prog):
    for d in os.environ.get("PATH", "").split(":"):
        if os.access(os.path.join(d, prog), os.X_OK):
            return d
    return None


@test
def typed_text_comes_back_over_ssh():
    need_ssh()
    with SshVm(guest("echo")) as s, s.session() as w:
        w.read_until(b"attached")
        w.send(b"hello vsbd\r")
        w.read_until(b"hello vsbd")
        # Host keys were made on first start, private parts 0600.
        keys = [f for f in os.listdir(s.hostkeys) if not f.endswith(".pub")]
        assert keys, "no host key files"
        for f in keys:
            mode = stat.S_IMODE(os.stat(os.path.join(s.hostkeys, f)).st_mode)
            assert mode == 0o600, f"{f} has mode {mode:o}"


@test
def wrong_key_and_unknown_vm_are_refused():
    need_ssh()
    with SshVm(guest("echo")) as s:
        r = s.run(key=s.stranger, tty=False)
        assert r.returncode == 255, r
        assert b"Permission denied" in r.stderr, r.stderr
        r = s.run(user="no-such-vm", tty=False)
        assert r.returncode == 255, r
        assert b"Permission denied" in r.stderr, r.stderr
        # The VM and its console carry on.
        with s.session() as w:
            w.read_until(b"attached")
            w.send(b"still here\r")
            w.read_until(b"still here")
        log = s.vm.stderr()
        assert "unknown" in log.lower() or "refused" in log.lower(), log


@test
def watcher_sees_writer_and_second_writer_is_refused():
    need_ssh()
    with SshVm(guest("echo")) as s, s.session() as w:
        w.read_until(b"attached")
        with s.session("watch") as watcher:
            watcher.read_until(b"attached")
            w.send(b"for the watcher\r")
            w.read_until(b"for the watcher")
            watcher.read_until(b"for the watcher")
            # Whatever a watcher types goes nowhere.
            watcher.send(b"ignored-input\r")
            r = s.run(timeout=20)
            assert r.returncode != 0, r
            assert b"writer" in r.stdout + r.stderr, r
            w.send(b"first one still works\r")
            w.read_until(b"first one still works")
            assert b"ignored-input" not in w.buf


@test
def replay_shows_output_from_before_attach():
    need_ssh()
    with SshVm(guest("echo")) as s:
        with s.session() as w:
            w.read_until(b"attached")
            w.send(b"said before\r")
            w.read_until(b"said before")
        with s.session("watch") as watcher:
            watcher.read_until(b"said before")


@test
def vanished_client_frees_the_console():
    need_ssh()
    with SshVm(guest("echo")) as s:
        w = s.session()
        w.read_until(b"attached")
        w.proc.send_signal(signal.SIGKILL)
        w.close()
        # The server notices the dead connection and releases the writer.
        deadline = time.monotonic() + 15
        while True:
            with s.session() as w2:
                try:
                    w2.read_until(b"attached", timeout=10)
                    w2.send(b"new writer\r")
                    w2.read_until(b"new writer", timeout=5)
                    break
                except AssertionError:
                    if time.monotonic() > deadline:
                        raise
            time.sleep(0.5)


@test
def input_flood_arrives_whole_and_in_order():
    need_ssh()
    with SshVm(guest("echo")) as s, s.session() as w:
        w.read_until(b"attached")
        lines = [b"line %04d %s" % (i, b"x" * 40) for i in range(60)]
        w.send(b"\r".join(lines) + b"\rEND-OF-FLOOD\r")
        w.read_until(b"END-OF-FLOOD", timeout=60)
        text = w.buf
        pos = 0
        for line in lines:
            at = text.find(line, pos)
            assert at >= 0, f"{line!r} missing or out of order"
            pos = at + len(line)


@test
def break_reaches_the_guest_and_no_secret_is_logged():
    need_ssh()
    with SshVm(guest("echo"), "--verbose") as s, s.session() as w:
        w.read_until(b"attached")
        # OpenSSH's escape: "~B" at the start of a line sends a break.
        w.send(b"s3cret-typed-word\r")
        w.read_until(b"s3cret-typed-word")
        w.send(b"\r~B")
        w.read_until(b"<BREAK>")
        # vsbd's own escape: Ctrl-] b sends one too, Ctrl-] . detaches.
        w.buf = b""
        w.send(b"\x1db")
        w.read_until(b"<BREAK>")
        w.send(b"\x1d.")
        assert w.wait(10) is not None
        log = s.vm.stderr()
        assert "s3cret" not in log, "typed bytes reached the log"
        assert re.search(r"SHA256:", log), "host key fingerprint not logged"


if __name__ == "__main__":
    run_all()
