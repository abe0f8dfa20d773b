"""Helpers shared by the benchmarks: starting vsbd and QEMU, reaching their
consoles (UNIX sockets, a real OpenSSH client), tenant keys, statistics and
tables. Standard library only; everything stays on loopback.

The VMM processes are wrapped so that whatever happens (an error, ^C) they
are killed and their temporary files removed when the `with` block ends."""
import math
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from report import fmt  # the report's number format, for the CLIs too

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.join(TOP, "build")

# The QEMU machine every benchmark compares against: same guest ELF, KVM,
# the default i440fx PC, no devices we did not ask for.
QEMU = ["qemu-system-x86_64", "-accel", "kvm", "-M", "pc", "-m", "256",
        "-display", "none", "-monitor", "none", "-nodefaults"]

# An OpenSSH client that reads no user configuration, trusts the throwaway
# host key, and never prompts (as tests/integration/sshtest.py).
SSH_BASE = ["ssh", "-F", "/dev/null", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=10"]


class BenchError(Exception):
    """Something did not work (not: something was slow). main() turns it
    into an error message and a non-zero exit status."""


def guest(build, name):
    path = os.path.join(build, "guests", name + ".elf")
    if not os.path.exists(path):
        raise BenchError(f"no {path}; run make")
    return path


def need_tools(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise BenchError("missing " + ", ".join(missing))


def run_main(main):
    """Runs main(); a BenchError becomes a message and exit status 1.
    SIGTERM and ^C unwind the with-blocks, so no VMM outlives us."""
    def terminated(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, terminated)
    try:
        main()
    except BenchError as e:
        sys.exit(f"{os.path.basename(sys.argv[0])}: error: {e}")
    except KeyboardInterrupt:
        sys.exit(130)


# ---- processes ----

class Proc:
    """A VMM (or ssh) process with stderr in a file, killed on close."""

    def __init__(self, cmd, name, stdin=subprocess.DEVNULL,
                 stdout=subprocess.DEVNULL):
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix="vsbbench-")
        self.err_path = os.path.join(self.tmp, "stderr")
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=stdin, stdout=stdout,
                                     stderr=self.err)

    def path(self, name):
        """A path in this process's private temporary directory."""
        return os.path.join(self.tmp, name)

    def stderr(self):
        self.err.flush()
        with open(self.err_path, "rb") as f:
            return f.read().decode(errors="replace")

    def check_alive(self):
        if self.proc.poll() is not None:
            raise BenchError(f"{self.name} exited with status "
                             f"{self.proc.returncode}: {self.stderr()[-800:]}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                f.close()
        self.err.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect_unix(path, proc, timeout=30):
    """Connects to a console socket that proc (a Proc or Popen) is about to
    create."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if isinstance(proc, Proc):
            proc.check_alive()
        elif proc.poll() is not None:
            raise BenchError(f"VMM exited early with {proc.returncode}")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            time.sleep(0.01)
    raise BenchError(f"no console socket at {path}")


def free_port(low=None):
    """A free loopback TCP port; with low, one >= low (VNC display numbers
    need >= 5900)."""
    for _ in range(200):
        s = socket.socket()
        try:
            port = 0 if low is None else low + int.from_bytes(os.urandom(2), "little") % 9000
            s.bind(("127.0.0.1", port))
            return s.getsockname()[1]
        except OSError:
            continue
        finally:
            s.close()
    raise BenchError("no free port")


def wait_tcp(port, proc, timeout=30):
    """Waits until something accepts on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.check_alive()
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"{proc.name}: nothing listening on port {port}")


# ---- reading byte streams ----

class Stream:
    """Both directions of a console: a socket, or an ssh client's stdin and
    stdout pipes. Reads use select() with a deadline, so a stuck VMM is an
    error and not a hang."""

    def __init__(self, rfd, wfd, owner=None):
        self.rfd, self.wfd = rfd, wfd
        self.owner = owner  # keeps the socket or pipes alive
        self.buf = b""

    @classmethod
    def of_socket(cls, sock):
        return cls(sock.fileno(), sock.fileno(), sock)

    def write(self, data):
        while data:
            n = os.write(self.wfd, data)
            data = data[n:]

    def read_some(self, deadline, size=1 << 20):
        """What is there (at least one byte), or BenchError at the deadline
        or at EOF."""
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([self.rfd], [], [], left)[0]:
            raise BenchError(f"timed out; last output {self.buf[-200:]!r}")
        data = os.read(self.rfd, size)
        if not data:
            raise BenchError(f"console closed; last output {self.buf[-200:]!r}")
        return data

    def read_until(self, needle, timeout=30):
        """Reads until needle; returns and forgets everything up to it."""
        deadline = time.monotonic() + timeout
        while needle not in self.buf:
            self.buf += self.read_some(deadline)
        i = self.buf.index(needle) + len(needle)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def discard(self):
        """Reads and drops what has arrived, without waiting."""
        while select.select([self.rfd], [], [], 0)[0]:
            if not os.read(self.rfd, 1 << 20):
                raise BenchError("console closed")

    def drain(self, quiet=0.3, timeout=10):
        """Reads and drops output until none has come for `quiet` s."""
        deadline = time.monotonic() + timeout
        self.buf = b""
        while time.monotonic() < deadline:
            if not select.select([self.rfd], [], [], quiet)[0]:
                return
            if not os.read(self.rfd, 1 << 20):
                raise BenchError("console closed")
        raise BenchError("console never went quiet")


# ---- SSH ----

class TenantKeys:
    """A throwaway ed25519 tenant key, its authorized_keys file and a host
    key directory for vsbd."""

    def __init__(self):
        need_tools("ssh", "ssh-keygen")
        self.dir = tempfile.mkdtemp(prefix="vsbbench-ssh-")
        self.key = os.path.join(self.dir, "tenant")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                        "bench", "-f", self.key], check=True)
        self.auth = os.path.join(self.dir, "authorized_keys")
        shutil.copyfile(self.key + ".pub", self.auth)
        self.hostkeys = os.path.join(self.dir, "hostkeys")

    def vsbd_args(self, port):
        """vsbd options serving SSH on 127.0.0.1:port for this key."""
        return ["--ssh", f"127.0.0.1:{port}", "--authorized-keys", self.auth,
                "--host-keys", self.hostkeys]

    def ssh_args(self, port, user, *extra):
        return SSH_BASE + ["-i", self.key, "-p", str(port)] + list(extra) + \
            [f"{user}@127.0.0.1"]

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- statistics and tables ----

def p99(xs):
    """99th percentile, nearest rank (with fewer than 100 samples: the
    largest)."""
    s = sorted(xs)
    return s[max(0, math.ceil(0.99 * len(s)) - 1)]


def median(xs):
    return statistics.median(xs)


def table(headers, rows):
    """Prints rows (lists of strings) under headers, columns right-aligned
    except the first."""
    cols = list(zip(headers, *rows))
    widths = [max(len(c) for c in col) for col in cols]
    for r in [headers] + rows:
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in
                                           zip(r[1:], widths[1:])]
        print("  " + "  ".join(cells).rstrip())


def interleave(names, run):
    """The order of the systems in run number `run`: rotated each run, so no
    system always goes first (or last, after the others warmed the
    caches)."""
    k = run % len(names)
    return names[k:] + names[:k]


def split(total, parts):
    """total samples spread over parts runs, as evenly as possible."""
    return [total // parts + (1 if i < total % parts else 0)
            for i in range(parts)]


# ---- figures (the schema bench/report.py reads: bench/README.md) ----

def summary(xs):
    """median, p99, min, max and n of a list of samples."""
    return {"median": median(xs), "p99": p99(xs), "min": min(xs),
            "max": max(xs), "n": len(xs)}


def compare(exp_id, number, title, what, unit, better, stats, labels,
            columns, stat="median", subject="bypass", ratios_to=(),
            paper=None, notes=()):
    """A "compare" experiment: stats is {system: {column: value}}, in
    the order the systems are to be shown."""
    return {"id": exp_id, "number": str(number), "title": title,
            "what": what, "kind": "compare", "skipped": None,
            "paper": paper, "notes": list(notes), "unit": unit,
            "better": better, "stat": stat, "columns": columns,
            "systems": [{"name": s, "label": labels.get(s, s), "stats": v}
                        for s, v in stats.items()],
            "subject": subject,
            "ratios_to": [r for r in ratios_to if r in stats and r != subject]}


def print_compare(exp):
    """A compare experiment as a plain-text table, for the CLIs."""
    print(f"{exp['title']} ({exp['unit']}, {exp['better']} is better)")
    head = exp["stat"]
    rows = []
    for s in exp["systems"]:
        st = s["stats"]
        row = [s["name"]] + [fmt(st.get(k)) for k, _ in exp["columns"]]
        row.append(str(st.get("n", "-")))
        for r in exp["ratios_to"]:
            ref = next(x["stats"][head] for x in exp["systems"] if x["name"] == r)
            row.append(f"{st[head] / ref:.2f}")
        rows.append(row)
    table(["system"] + [h for _, h in exp["columns"]] + ["n"]
          + [f"{head}/{r}" for r in exp["ratios_to"]], rows)
