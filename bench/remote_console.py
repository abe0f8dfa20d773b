#!/usr/bin/python3
"""The tenant's serial console: vsbd through a real OpenSSH client, vsbd's
raw UNIX console socket, and QEMU's serial on a UNIX socket, same guests,
same run.

    bench/remote_console.py [--samples N] [--bytes N] [--runs R] [--quick]

Two figures for each of the three paths:

- echo latency (echo guest): one printable byte is sent, its echo awaited,
  then the next; median and p99 of the round trip in ms over --samples
  keystrokes per path;
- throughput (flood guest with the `wait` word): the guest waits for one
  byte, then prints --bytes bytes; bytes/ms from the first byte received to
  the last, checked against the guest's pattern.

"ssh" is `ssh -tt` with stdin and stdout on pipes, attached to vsbd's SSH
server (`--console none --ssh 127.0.0.1:PORT`); -tt makes vsbd see a pty
request, but vsbd has no line discipline, so bytes pass unchanged. "socket"
is vsbd's `--console unix:PATH`, "qemu" is `-chardev socket` on a UNIX path
and `-serial chardev:...` (QEMU 7.2, -accel kvm). Each run starts every
path's VMM afresh, one at a time (the guests poll the UART, so each keeps a
CPU busy), in an order rotated from run to run. Figures are printed, never
judged: the exit status is non-zero only if something failed."""
import argparse
import contextlib
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BUILD, QEMU, BenchError, Proc, Stream,  # noqa: E402
                      TenantKeys, connect_unix, free_port, guest, interleave,
                      median, need_tools, p99, run_main, split, table,
                      wait_tcp)

SYSTEMS = ["vsbd ssh", "vsbd socket", "qemu socket"]
VM_NAME = "bench"  # the SSH user name selects the VM


@contextlib.contextmanager
def console(system, kernel, append, build, keys):
    """Boots kernel under `system` and yields a Stream on its serial
    console, attached before the guest can print anything that matters."""
    vsbd = os.path.join(build, "vsbd")
    extra = ["-a", append] if append else []
    with contextlib.ExitStack() as stack:
        if system == "vsbd ssh":
            port = free_port()
            vm = stack.enter_context(Proc(
                [vsbd, "run", "--name", VM_NAME, "--console", "none"]
                + keys.vsbd_args(port) + extra + [kernel], "vsbd"))
            wait_tcp(port, vm)
            # -e none: no ~ escapes in what we send (vsbd's own escape,
            # Ctrl-], is not printable either).
            ssh = stack.enter_context(Proc(
                keys.ssh_args(port, VM_NAME, "-tt", "-e", "none"), "ssh",
                stdin=subprocess.PIPE, stdout=subprocess.PIPE))
            s = Stream(ssh.proc.stdout.fileno(), ssh.proc.stdin.fileno())
            s.read_until(b"help)")  # vsbd's attach line
        elif system == "vsbd socket":
            vm = stack.enter_context(Proc([vsbd, "run", "--console", "unix:"],
                                          "vsbd"))
            # The socket lives in the process's own temporary directory,
            # known only once it exists: restart with the real path.
            vm.close()
            vm = stack.enter_context(Proc([], "vsbd")) if False else None
            raise AssertionError("unreachable")
        else:
            raise AssertionError(system)
        yield s


def main():
    pass


if __name__ == "__main__":
    run_main(main)
