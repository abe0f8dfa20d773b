"""The systems the benchmarks compare, booted the way a tenant reaches
them, behind one interface:

- "bypass": vsbd alone; the serial console and screen are its shadow
  devices, reached with a real `ssh` (the console) and `ssh -N -L` (the
  screen), as a tenant does;
- "bypass-raw": the same vsbd VM without SSH: its `--console unix:PATH`
  and `--vnc-listen` (what SSH adds on top, and the fair match for QEMU,
  which has no SSH);
- "traditional": vsbd with `--operator --routing traditional` and the
  operator's vsb-ghv as `nobody`, which serves COM1, the keyboard and the
  screen from its own UART/i8042/framebuffer code through its own SSH
  server; the tenant uses the same `ssh` and `ssh -L` commands;
- "qemu": QEMU 7.2 (`-accel kvm`), its serial on a UNIX socket and its
  `-vnc` on loopback, same ELF.

`boot()` yields a `Vm` once the guest is reachable."""
import contextlib
import os
import shutil
import subprocess
import tempfile
import time

from benchlib import (BUILD, QEMU, BenchError, Proc, Stream, connect_unix,
                      free_port, wait_tcp)

SYSTEMS = ["bypass", "bypass-raw", "traditional", "qemu"]
LABELS = {
    "bypass": "bypass: vsbd's shadow devices, through ssh",
    "bypass-raw": "bypass, no ssh: vsbd's console socket / VNC listener",
    "traditional": "traditional: the operator's vsb-ghv, through its ssh",
    "qemu": "qemu: QEMU's serial socket / -vnc, no ssh",
}
VM_NAME = "bench"  # the SSH user name selects the VM
NOBODY = 65534     # vsb-ghv's user, as in production


class Vm:
    """One booted VM. console: the tenant's Stream on COM1 (None when not
    asked for); vnc_port: where the tenant's VNC client connects (None
    when not asked for); pids: {"vmm": pid, "operator": pid}; tap: the
    operator tap directory (with tap=True: vsb-ghv's --tap, or QEMU's
    console log) and qmp: QEMU's QMP socket (QEMU with tap=True)."""

    def __init__(self, system):
        self.system = system
        self.console = None
        self.vnc_port = None
        self.pids = {}
        self.tap = None
        self.qmp = None


def _ghv_dir(keys, stack):
    """A directory nobody can reach: vsbd's operator socket lives there,
    and vsb-ghv's copy of the tenant's authorized_keys and its host keys
    (vsb-ghv reads them after dropping to nobody)."""
    d = stack.enter_context(tempfile.TemporaryDirectory(prefix="vsbbench-ghv-"))
    os.chmod(d, 0o755)
    auth = os.path.join(d, "authorized_keys")
    shutil.copyfile(keys.auth, auth)
    os.chmod(auth, 0o644)
    hostkeys = os.path.join(d, "hostkeys")
    os.mkdir(hostkeys)
    os.chown(hostkeys, NOBODY, NOBODY)
    return d, auth, hostkeys


def _start_ghv(build, d, extra, stack):
    """vsbd (already started with --operator d/ghv.sock) gets its operator."""
    sock = os.path.join(d, "ghv.sock")
    deadline = time.monotonic() + 10
    while not os.path.exists(sock):
        if time.monotonic() > deadline:
            raise BenchError("vsbd made no operator socket")
        time.sleep(0.01)
    return stack.enter_context(Proc(
        [os.path.join(build, "vsb-ghv"), "--vsbd", sock, "--vm", VM_NAME,
         "--user", "nobody"] + extra, "vsb-ghv"))


def _attach_ssh(keys, port, proc, stack):
    """The tenant's console: `ssh -tt` with stdin and stdout on pipes; -e
    none keeps OpenSSH's ~ escapes out of what we type (vsbd's own escape,
    Ctrl-], is not printable either)."""
    wait_tcp(port, proc)
    ssh = stack.enter_context(Proc(
        keys.ssh_args(port, VM_NAME, "-tt", "-e", "none"), "ssh",
        stdin=subprocess.PIPE, stdout=subprocess.PIPE))
    s = Stream(ssh.proc.stdout.fileno(), ssh.proc.stdin.fileno(), ssh)
    s.read_until(b"help)")  # the SSH server's attach line
    return s


def _reach(vm, keys, port, server, stack, console, vnc):
    """The tenant reaches the VM through the SSH server on port (vsbd's or
    vsb-ghv's, run by server)."""
    if console:
        vm.console = _attach_ssh(keys, port, server, stack)
    if vnc:
        vm.vnc_port = _tunnel(keys, port, server, stack)


def _tunnel(keys, port, proc, stack):
    """The tenant's screen: `ssh -N -L` to the SSH server's localhost:5900."""
    wait_tcp(port, proc)
    tun_port = free_port()
    tunnel = stack.enter_context(Proc(
        keys.ssh_args(port, VM_NAME, "-N", "-o", "ExitOnForwardFailure=yes",
                      "-L", f"{tun_port}:localhost:5900"), "ssh -L"))
    wait_tcp(tun_port, tunnel)
    return tun_port


@contextlib.contextmanager
def boot(system, kernel, append="", *, keys, build=BUILD, vnc=False,
         console=True, tap=False, qemu_append=None):
    """Boots kernel under `system`; yields a Vm whose console (and, with
    vnc, screen) the tenant has reached. With console=False on the raw
    paths nobody reads COM1 until the caller does (vm.console is still
    set: vsbd's unix: console and QEMU's wait=on start the guest only once
    it is connected). qemu_append replaces append for QEMU (fbecho needs
    `fb=bochs` there)."""
    if system not in SYSTEMS:
        raise BenchError(f"unknown system {system!r}")
    vsbd = os.path.join(build, "vsbd")
    vm = Vm(system)
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="vsbbench-"))
        sock = os.path.join(tmp, "console.sock")
        cmdline = ["-a", append] if append else []
        if system == "qemu":
            qa = append if qemu_append is None else qemu_append
            chardev = f"socket,id=c0,path={sock},server=on,wait=on"
            args = []
            if tap:
                # What an operator running QEMU records without touching
                # the guest: the serial output (chardev logfile) and, by
                # QMP, the screen.
                vm.tap = os.path.join(tmp, "tap")
                os.mkdir(vm.tap)
                chardev += ",logfile=" + os.path.join(vm.tap, "console-out.log")
                vm.qmp = os.path.join(tmp, "qmp.sock")
                args += ["-qmp", f"unix:{vm.qmp},server=on,wait=off"]
            args = QEMU + args + ["-chardev", chardev, "-serial", "chardev:c0",
                                  "-kernel", kernel]
            args += ["-append", qa] if qa else []
            if vnc:
                vm.vnc_port = free_port(5900)
                args += ["-vga", "std", "-vnc", f"127.0.0.1:{vm.vnc_port - 5900}"]
            proc = stack.enter_context(Proc(args, "qemu"))
            vm.console = Stream.of_socket(stack.enter_context(connect_unix(sock, proc)))
            if vnc:
                wait_tcp(vm.vnc_port, proc)
        elif system == "bypass-raw":
            args = [vsbd, "run", "--name", VM_NAME, "--console", "unix:" + sock]
            if vnc:
                vm.vnc_port = free_port()
                args += ["--vnc-listen", f"127.0.0.1:{vm.vnc_port}"]
            proc = stack.enter_context(Proc(args + cmdline + [kernel], "vsbd"))
            vm.console = Stream.of_socket(stack.enter_context(connect_unix(sock, proc)))
            if vnc:
                wait_tcp(vm.vnc_port, proc)
        elif system == "bypass":
            port = free_port()
            args = [vsbd, "run", "--name", VM_NAME, "--console", "none"] + \
                keys.vsbd_args(port)
            ghv = None
            if tap:
                # The operator is there (a disk), but routing is bypass: the
                # eavesdropping experiment's control.
                d, _, _ = _ghv_dir(keys, stack)
                args += ["--operator", os.path.join(d, "ghv.sock"),
                         "--operator-user", "nobody"]
            proc = stack.enter_context(Proc(args + cmdline + [kernel], "vsbd"))
            if tap:
                vm.tap = _operator_tap(d)
                ghv = _start_ghv(build, d, ["--tap", vm.tap, "--disk", _disk(d) + ",ro"],
                                 stack)
                vm.pids["operator"] = ghv.proc.pid
            _reach(vm, keys, port, proc, stack, console, vnc)
        else:  # traditional
            d, auth, hostkeys = _ghv_dir(keys, stack)
            proc = stack.enter_context(Proc(
                [vsbd, "run", "--name", VM_NAME, "--console", "none",
                 "--operator", os.path.join(d, "ghv.sock"),
                 "--operator-user", "nobody", "--routing", "traditional"]
                + cmdline + [kernel], "vsbd"))
            port = free_port()
            extra = ["--ssh", f"127.0.0.1:{port}", "--authorized-keys", auth,
                     "--host-keys", hostkeys]
            if vnc:
                extra += ["--vnc", f"127.0.0.1:{free_port()}"]
            if tap:
                vm.tap = _operator_tap(d)
                extra += ["--tap", vm.tap, "--disk", _disk(d) + ",ro"]
            ghv = _start_ghv(build, d, extra, stack)
            vm.pids["operator"] = ghv.proc.pid
            _reach(vm, keys, port, ghv, stack, console, vnc)
        vm.pids["vmm"] = proc.proc.pid
        yield vm


def _operator_tap(d):
    """The tap directory, writable by vsb-ghv after it drops to nobody."""
    tap = os.path.join(d, "tap")
    os.mkdir(tap)
    os.chown(tap, NOBODY, NOBODY)
    return tap


def _disk(d):
    """A small blank disk for the operator to serve: its PCI configuration
    reads show in the tap whatever the routing."""
    path = os.path.join(d, "disk.img")
    with open(path, "wb") as f:
        f.truncate(1 << 20)
    os.chmod(path, 0o644)
    return path
