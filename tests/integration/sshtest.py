"""Real OpenSSH clients against vsbd's SSH server: a VM with a generated
tenant key, and ssh sessions whose output the tests read as it comes."""
import os
import select
import socket
import subprocess
import time

from vsbtest import Vsbd

SSH_BASE = ["ssh", "-F", "/dev/null", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=10"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test",
                    "-f", path], check=True)
    return path


class SshVm:
    """vsbd running `kernel` with no local console, SSH on a loopback port
    and one tenant key; a second, unlisted key for refusals."""

    def __init__(self, kernel, *args, name="vm1"):
        self.name = name
        self.port = free_port()
        import tempfile
        self.keydir = tempfile.mkdtemp(prefix="vsbssh-")
        self.key = keygen(os.path.join(self.keydir, "tenant"))
        self.stranger = keygen(os.path.join(self.keydir, "stranger"))
        self.auth = os.path.join(self.keydir, "authorized_keys")
        with open(self.key + ".pub") as src, open(self.auth, "w") as dst:
            dst.write(src.read())
        self.hostkeys = os.path.join(self.keydir, "hostkeys")
        self.vm = Vsbd(kernel, "--name", name, "--ssh", f"127.0.0.1:{self.port}",
                       "--authorized-keys", self.auth, "--host-keys", self.hostkeys,
                       *args, console="none")
        self._wait_port()

    def _wait_port(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.vm.proc.poll() is not None:
                raise AssertionError(f"vsbd exited {self.vm.proc.returncode}: {self.vm.stderr()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("ssh port never opened: " + self.vm.stderr())

    def ssh_args(self, *cmd, key=None, user=None, tty=True, extra=()):
        return (SSH_BASE + ["-i", key or self.key, "-p", str(self.port)]
                + (["-tt"] if tty else ["-T"]) + list(extra)
                + [f"{user or self.name}@127.0.0.1"] + list(cmd))

    def session(self, *cmd, **kw):
        return Session(self.ssh_args(*cmd, **kw))

    def run(self, *cmd, timeout=20, input=b"", **kw):
        return subprocess.run(self.ssh_args(*cmd, **kw), input=input,
                              capture_output=True, timeout=timeout)

    def close(self):
        self.vm.close()
        subprocess.run(["rm", "-rf", self.keydir])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Session:
    """One ssh client process with piped stdin/stdout (-tt makes the server
    see a pty request)."""

    def __init__(self, args):
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.buf = b""

    def send(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def read_until(self, needle, timeout=15.0):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while needle not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {needle!r}; got {self.buf[-300:]!r}")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    err = self.proc.stderr.read().decode(errors="replace")
                    raise AssertionError(f"ssh ended before {needle!r}; got {self.buf[-300:]!r}; stderr {err!r}")
                self.buf += chunk
        return self.buf

    def wait(self, timeout=15.0):
        return self.proc.wait(timeout)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
