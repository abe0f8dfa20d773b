"""vsbd on this machine's /dev/kvm with the PVH test guests: console output,
input, ordering and completeness, pause/resume, exit codes."""
import os
import signal
import socket
import tempfile
import time

from vsbtest import Vsbd, control, guest, run_vsbd, run_all, test, VSBD

HELLO = b"Hello from the vsbd PVH test guest\n"


@test
def hello_prints_and_powers_off():
    r = run_vsbd("run", "-a", "greeting=1", guest("hello"))
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert r.stdout.startswith(HELLO), r.stdout
    assert b"cmdline: greeting=1" in r.stdout, r.stdout


@test
def hello_on_unix_socket_console():
    with Vsbd(guest("hello")) as v:
        out = v.read_until(b"cmdline:")
        assert HELLO in out
        assert v.wait() == 0


@test
def echo_returns_bytes_from_socket():
    with Vsbd(guest("echo")) as v:
        payload = bytes(range(256)) * 8
        v.send(payload)
        v.read_exactly(len(payload), timeout=20)
        # The guest may print a banner first; the echo is the tail.
        assert v.buf.endswith(payload), v.buf[:100]
        assert v.stop() == 128 + signal.SIGTERM


@test
def echo_over_pipes():
    """stdin/stdout as pipes: input flows in, output out, EOF on stdin
    leaves the guest running until it is stopped."""
    with Vsbd(guest("echo"), console="stdio", stdin=subprocess_pipe()) as v:
        v.proc.stdin.write(b"ping-pong\n")
        v.proc.stdin.close()
        v.read_until(b"ping-pong\n")
        assert v.proc.poll() is None
        assert v.stop(signal.SIGINT) == 128 + signal.SIGINT


def subprocess_pipe():
    import subprocess
    return subprocess.PIPE


def expected_flood(n):
    return bytes(10 if i % 64 == 63 else ord("a") + i % 26 for i in range(n))


@test
def flood_delivers_exactly_n_bytes_in_order():
    n = 50000
    with Vsbd(guest("flood"), "-a", str(n)) as v:
        v.read_exactly(n, timeout=60)
        assert v.wait(30) == 0
        rest = v.sock.recv(65536)
        assert rest == b"", rest[:80]
        assert len(v.buf) == n, len(v.buf)
        assert v.buf == expected_flood(n)


def drain(sock):
    """Reads whatever is buffered without blocking; returns the byte count."""
    sock.setblocking(False)
    n = 0
    try:
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            n += len(chunk)
    except BlockingIOError:
        pass
    sock.setblocking(True)
    return n


@test
def pause_and_resume_through_control_socket():
    n = 3000000
    ctl = os.path.join(tempfile.mkdtemp(prefix="vsbctl-"), "ctl.sock")
    with Vsbd(guest("flood"), "-a", str(n), "--control", ctl) as v:
        v.read_exactly(10000, timeout=20)
        assert control(ctl, "status") == "ok running"
        assert control(ctl, "pause") == "ok paused"
        time.sleep(0.2)
        drain(v.sock)  # what was in flight before the pause
        time.sleep(0.5)
        leaked = drain(v.sock)
        assert leaked == 0, f"{leaked} bytes arrived while paused"
        assert control(ctl, "status") == "ok paused"
        assert control(ctl, "resume") == "ok running"
        v.sock.settimeout(10)
        assert len(v.sock.recv(1 << 20)) > 0
        assert control(ctl, "bogus") == "error unknown command"
        assert control(ctl, "stop") == "ok stopping"
        assert v.wait() == 128 + signal.SIGTERM
    assert not os.path.exists(ctl)


@test
def sigterm_and_sigint_exit_codes():
    for sig in (signal.SIGTERM, signal.SIGINT):
        with Vsbd(guest("echo")) as v:
            v.send(b"x")
            v.read_until(b"x")
            assert v.stop(sig) == 128 + sig


@test
def second_console_client_is_refused():
    with Vsbd(guest("echo")) as v:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(v.sock_path)
        s.settimeout(5)
        assert b"console busy" in s.recv(100)
        s.close()
        v.send(b"still-here")
        v.read_until(b"still-here")


@test
def guest_stop_reasons_have_distinct_exit_codes():
    # hello's cmdline word picks how it ends (guests/README.md).
    for word, code in (("", 0), ("reset", 4), ("fault", 5), ("halt", 6)):
        r = run_vsbd("run", "-a", word, guest("hello"), timeout=30)
        assert r.returncode == code, (word, r.returncode, r.stderr)
        assert r.stdout.startswith(HELLO), (word, r.stdout)


@test
def two_and_four_vcpus_start():
    for n in (2, 4):
        r = run_vsbd("run", "-c", str(n), "-a", str(n), guest("smp"), timeout=30)
        assert r.returncode == 0, r.stderr
        assert f"smp: {n} cpus up".encode() in r.stdout, r.stdout
    # Asking the guest for more CPUs than the VM has must not find them.
    r = run_vsbd("run", "-c", "2", "-a", "3", guest("smp"), timeout=30)
    assert b"only 2 of 3 cpus up" in r.stdout, r.stdout


if __name__ == "__main__":
    run_all()
