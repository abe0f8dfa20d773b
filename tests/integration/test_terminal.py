"""The console on a real terminal (a pty): raw mode while the guest runs,
the escape keys, and the terminal restored afterwards."""
import os
import pty
import select
import subprocess
import termios
import time

from vsbtest import VSBD, guest, run_all, test


def read_until(fd, needle, timeout=10):
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        assert left > 0, f"timed out waiting for {needle!r}; got {buf!r}"
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def start_on_pty(*args):
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen([VSBD, "run", *args], stdin=slave, stdout=slave,
                            stderr=slave, close_fds=True)
    return proc, master, slave, before


@test
def raw_mode_escape_quit_and_restore():
    proc, master, slave, before = start_on_pty(guest("echo"))
    try:
        read_until(master, b"Ctrl-A x quits")
        # Raw mode: no echo by the line discipline, no line buffering, so
        # a byte without newline reaches the guest and comes back once.
        during = termios.tcgetattr(slave)
        assert not during[3] & termios.ICANON
        assert not during[3] & termios.ECHO
        os.write(master, b"Zq7")
        read_until(master, b"Zq7")
        # Ctrl-C is data for the guest in raw mode, not a signal to vsbd.
        os.write(master, b"\x03")
        read_until(master, b"\x03")
        assert proc.poll() is None
        os.write(master, b"\x01h")
        read_until(master, b"send a serial break")
        os.write(master, b"\x01x")
        assert proc.wait(10) == 130
        after = termios.tcgetattr(slave)
        assert after == before, "terminal settings not restored"
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
        os.close(slave)


@test
def escape_prefix_twice_sends_it_to_the_guest():
    proc, master, slave, _ = start_on_pty("--escape", "b", guest("echo"))
    try:
        read_until(master, b"Ctrl-B x quits")
        os.write(master, b"\x02\x02")
        read_until(master, b"\x02")
        os.write(master, b"\x01")  # Ctrl-A is plain data now
        read_until(master, b"\x01")
        os.write(master, b"\x02x")
        assert proc.wait(10) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
        os.close(slave)


@test
def terminal_restored_when_guest_powers_off():
    proc, master, slave, before = start_on_pty(guest("hello"))
    try:
        read_until(master, b"Hello from the vsbd PVH test guest")
        assert proc.wait(10) == 0
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


if __name__ == "__main__":
    run_all()
