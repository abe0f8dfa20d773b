"""Small harness for integration tests: runs real vsbd processes on this
machine's /dev/kvm and prints TAP lines that tests/run counts."""
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

TOP = os.environ.get("VSB_TOP", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
BUILD = os.environ.get("VSB_BUILD", os.path.join(TOP, "build"))
CACHE = os.environ.get("VSB_CACHE", os.path.join(TOP, ".cache"))
VSBD = os.path.join(BUILD, "vsbd")
GUESTS = os.path.join(BUILD, "guests")
KERNEL = os.environ.get("VSB_KERNEL", os.path.join(CACHE, "vmlinuz"))

_tests = []


class Skip(Exception):
    pass


def test(fn):
    _tests.append(fn)
    return fn


def guest(name):
    return os.path.join(GUESTS, name + ".elf")


def run_all():
    n = 0
    for fn in _tests:
        n += 1
        start = time.monotonic()
        try:
            fn()
        except Skip as e:
            print(f"ok {n} - {fn.__name__} # SKIP {e}")
            continue
        except Exception:
            print(f"not ok {n} - {fn.__name__}")
            for line in traceback.format_exc().splitlines():
                print("# " + line)
            continue
        print(f"ok {n} - {fn.__name__} ({time.monotonic() - start:.1f}s)")
    print(f"1..{n}")


class Vsbd:
    """A vsbd process whose console is a UNIX socket (or its stdio)."""

    def __init__(self, kernel, *args, console="unix", stdin=None):
        self.tmp = tempfile.mkdtemp(prefix="vsbtest-")
        self.sock_path = os.path.join(self.tmp, "console.sock")
        self.err_path = os.path.join(self.tmp, "stderr")
        cmd = [VSBD, "run"] + list(args)
        if console == "unix":
            cmd += ["--console", "unix:" + self.sock_path]
        elif console == "none":
            cmd += ["--console", "none"]
        cmd.append(kernel)
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            cmd, stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE if console == "stdio" else subprocess.DEVNULL,
            stderr=self.err)
        self.sock = None
        self.buf = b""
        if console == "unix":
            self.sock = self._connect()

    def _connect(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"vsbd exited {self.proc.returncode}: {self.stderr()}")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.sock_path)
                return s
            except OSError:
                s.close()
                time.sleep(0.02)
        raise AssertionError("console socket never appeared")

    def stderr(self):
        self.err.flush()
        with open(self.err_path, "rb") as f:
            return f.read().decode(errors="replace")

    def send(self, data):
        self.sock.sendall(data)

    def read_until(self, needle, timeout=10.0):
        """Reads console output until needle appears; returns all of it."""
        deadline = time.monotonic() + timeout
        fd = self.sock.fileno() if self.sock else self.proc.stdout.fileno()
        while needle not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {needle!r}; got {self.buf[-300:]!r}")
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"console closed before {needle!r}; got {self.buf[-300:]!r}")
            self.buf += chunk
        return self.buf

    def read_exactly(self, n, timeout=30.0):
        deadline = time.monotonic() + timeout
        fd = self.sock.fileno() if self.sock else self.proc.stdout.fileno()
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {len(self.buf)} of {n} bytes")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                self.buf += chunk
        return self.buf

    def wait(self, timeout=10.0):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"vsbd still running after {timeout}s; stderr: {self.stderr()}")

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.sock:
            self.sock.close()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.err.close()
        subprocess.run(["rm", "-rf", self.tmp])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def need_lab():
    """Skips unless the lab can run: the Debian kernel and the release
    build (the lab node carries build/'s binaries)."""
    if not os.path.exists(os.path.join(CACHE, "vmlinuz")):
        raise Skip("no Debian kernel: run scripts/setup.sh")
    if os.path.basename(BUILD) != "build":
        raise Skip("the lab runs the release build's vsbd")


def control(path, cmd):
    """One command on vsbd's control socket (--control PATH); its reply
    line, stripped."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(cmd.encode() + b"\n")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    s.close()
    return buf.decode().strip()


def run_vsbd(*args, timeout=20, input=None):
    """Runs vsbd to completion with stdio console; returns CompletedProcess."""
    return subprocess.run([VSBD] + list(args), input=input, capture_output=True,
                          timeout=timeout)


if __name__ == "__main__":
    sys.exit("a library for the tests in this folder")
