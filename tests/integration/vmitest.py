"""Harness for the introspection tests: a real Debian Linux guest (the
lab's busybox image plus vmitarget) under QEMU TCG on this machine, with
its RAM in a shared memory-backend-file and a QMP socket, so that `vmi`
can read it from outside while the test drives its serial shell."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from vsbtest import BUILD, CACHE, KERNEL, TOP, Skip

VMI = os.path.join(BUILD, "vmi")
VMITARGET = os.path.join(BUILD, "guests", "linux", "vmitarget")
LAB_GUEST = os.path.join(CACHE, "lab", "guest.cpio.gz")
PROMPT = "guest# "


def lab_guest_image():
    """The lab's L2 guest initramfs, built (idempotently) by lab/build."""
    if not os.path.exists(KERNEL):
        raise Skip(f"no kernel at {KERNEL} (scripts/setup.sh)")
    r = subprocess.run([os.path.join(TOP, "lab", "build")],
                       capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(LAB_GUEST):
        raise RuntimeError("lab/build failed: " + r.stdout + r.stderr)
    return LAB_GUEST


def make_initrd(path, extra):
    """The lab image with extra files appended as a second cpio archive
    (the kernel unpacks concatenated archives in turn). extra maps guest
    paths to host files."""
    stage = tempfile.mkdtemp(prefix="vmi-initrd-")
    try:
        for gpath, host in extra.items():
            dst = os.path.join(stage, gpath.lstrip("/"))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy(host, dst)
        names = subprocess.run(["find", ".", "-mindepth", "1"], cwd=stage,
                               capture_output=True, text=True,
                               check=True).stdout
        cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"],
                              cwd=stage, input=names.encode(),
                              capture_output=True, check=True).stdout
        import gzip
        with open(path, "wb") as out:
            with open(lab_guest_image(), "rb") as base:
                out.write(base.read())
            out.write(gzip.compress(cpio))
    finally:
        shutil.rmtree(stage, ignore_errors=True)


class Qmp:
    """A minimal QMP client for the tests' own checks and core dumps."""

    def __init__(self, path, timeout=30):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.f = self.s.makefile("rwb")
        json.loads(self.f.readline())
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.f.write(json.dumps(msg).encode() + b"\n")
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if "event" in r:
                continue
            if "error" in r:
                raise RuntimeError(f"QMP {name}: {r['error']}")
            return r["return"]

    def close(self):
        self.f.close()
        self.s.close()


class LinuxGuest:
    """The Debian kernel and busybox under QEMU TCG, RAM in DIR/ram."""

    def __init__(self, mem_mb=256, append="", extra=None):
        if not shutil.which("qemu-system-x86_64"):
            raise Skip("no qemu-system-x86_64")
        if not os.path.exists(VMITARGET):
            raise Skip(f"no {VMITARGET} (make)")
        self.dir = tempfile.mkdtemp(prefix="vmitest-")
        self.ram = os.path.join(self.dir, "ram")
        self.qmp_path = os.path.join(self.dir, "qmp.sock")
        # QEMU serves one client per QMP socket: vmi gets one, the test
        # its own.
        self.qmp_test_path = os.path.join(self.dir, "qmp-test.sock")
        initrd = os.path.join(self.dir, "initrd.cpio.gz")
        files = {"/bin/vmitarget": VMITARGET}
        files.update(extra or {})
        make_initrd(initrd, files)
        self.out = b""
        self.pos = 0
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            ["qemu-system-x86_64", "-accel", "tcg", "-m", f"{mem_mb}",
             "-smp", "1", "-nodefaults", "-no-user-config",
             "-display", "none", "-no-reboot",
             "-object", f"memory-backend-file,id=ram,size={mem_mb}M,"
                        f"mem-path={self.ram},share=on",
             "-machine", "pc,memory-backend=ram",
             "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
             "-qmp", f"unix:{self.qmp_test_path},server=on,wait=off",
             "-serial", "stdio", "-kernel", KERNEL, "-initrd", initrd,
             "-append", "console=ttyS0 panic=-1 quiet " + append],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        try:
            self.expect("vsb-guest: ready", 120)
            self.expect(PROMPT, 30)
            # No echo, no prompt noise: output lines are the commands'.
            self.send("stty -echo; PS1=''; echo sync-$((6*7))")
            self.expect("sync-42", 30)
        except Exception:
            self.close()
            raise

    def _read(self):
        while True:
            b = self.proc.stdout.read1(65536)
            if not b:
                return
            with self.lock:
                self.out += b

    def text(self):
        with self.lock:
            return self.out.decode("latin-1")

    def expect(self, pattern, timeout=30):
        """Waits for regex pattern in output not consumed yet; consumes up
        to the match's end and returns the match."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        while True:
            t = self.text()
            m = rx.search(t, self.pos)
            if m:
                self.pos = m.end()
                return m
            if self.proc.poll() is not None:
                raise RuntimeError(f"QEMU exited ({self.proc.returncode}); "
                                   f"console:\n{t[-3000:]}")
            if time.monotonic() > end:
                raise TimeoutError(f"no /{pattern}/ within {timeout}s; "
                                   f"console tail:\n{t[-3000:]}")
            time.sleep(0.05)

    def send(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def run(self, cmd, timeout=60):
        """Runs cmd in the guest shell; returns its output lines."""
        tag = f"@@{time.monotonic_ns()}@@"
        self.send(f"echo {tag}-begin; {cmd}; echo {tag}-end")
        self.expect(re.escape(tag) + "-begin\r?\n", timeout)
        m = self.expect(r"([\s\S]*?)" + re.escape(tag) + "-end", timeout)
        return [l.rstrip("\r") for l in m.group(1).split("\n") if l.strip()]

    def vmi(self, *args, check=True, json_out=True, source=None):
        """Runs the vmi CLI on this guest; parsed JSON or the process."""
        src = source or ["--qemu", self.ram, "--qmp", self.qmp_path]
        cmd = [VMI] + src + (["--json"] if json_out else []) + list(args)
        r = subprocess.run(cmd, capture_output=True, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: "
                               f"{r.stderr.decode(errors='replace')}")
        if check and json_out:
            return json.loads(r.stdout)
        return r

    def qmp(self):
        return Qmp(self.qmp_test_path)

    def ps(self):
        """pid -> (ppid, comm) from the guest's own ps, without ps itself."""
        out = {}
        for l in self.run("ps -o pid,ppid,comm")[1:]:
            pid, ppid, comm = l.split(None, 2)
            if comm != "ps":
                out[int(pid)] = (int(ppid), comm)
        return out

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def ps_map(rows):
    """pid -> (ppid, comm) from the rows of `ps` in JSON (vmi --json, or
    the CryptVMI agent's result)."""
    return {p["pid"]: (p["ppid"], p["comm"]) for p in rows}


def same_name(guest_name, ours):
    """/proc shows a kernel worker's comm with the workqueue it serves
    appended (kworker/0:1-events, cut at 15 bytes); task_struct.comm,
    which vmi reads, has only the worker's own name."""
    return guest_name == ours or (ours.startswith("kworker/") and
                                  guest_name.startswith(ours + "-"))


def same_list(guest_list, ours):
    return guest_list.keys() == ours.keys() and all(
        guest_list[p][0] == ours[p][0] and same_name(guest_list[p][1], ours[p][1])
        for p in ours)


def stable_compare(g, list_ours):
    """list_ours() (pid -> (ppid, comm) as introspection sees g), taken
    between two identical snapshots of the guest's own ps, must equal
    them; kernel workers come and go, so a changing guest is retried.
    Returns it."""
    for _ in range(4):
        before = g.ps()
        ours = list_ours()
        after = g.ps()
        if before == after:
            assert same_list(before, ours), (
                f"ours only: {sorted(set(ours.items()) - set(before.items()))}; "
                f"guest only: {sorted(set(before.items()) - set(ours.items()))}")
            return ours
    raise AssertionError("the guest's process list never held still")
