#!/usr/bin/env python3
"""VM definitions the administrator's way: vsbadm creates a VM directory,
adds tenant keys (refusing private keys and garbage), and "vsbadm start"
runs vsbd from the definition, which a tenant then reaches over ssh."""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vsbtest import BUILD, Skip, guest, run_all, test  # noqa: E402
import sshtest  # noqa: E402

VSBADM = os.path.join(BUILD, "vsbadm")


def adm(d, *args):
    return subprocess.run([VSBADM, "--dir", d] + list(args), capture_output=True,
                          text=True, timeout=30)


@test
def create_show_add_key_and_refusals():
    with tempfile.TemporaryDirectory() as t:
        d = os.path.join(t, "vms")
        alice = sshtest.keygen(os.path.join(t, "alice"))
        bob = sshtest.keygen(os.path.join(t, "bob"))
        r = adm(d, "create", "web1", "--kernel", guest("echo"), "--memory", "64M",
                "--ssh", "2222", "--key", alice + ".pub")
        assert r.returncode == 0, r
        assert "vsbd run --config" in r.stdout, r.stdout
        conf = open(os.path.join(d, "web1", "vm.conf")).read()
        assert f"kernel = {guest('echo')}" in conf and "memory = 64M" in conf, conf
        assert adm(d, "list").stdout.split() == ["web1"]
        # A private key, garbage, a bad name, a second create: refused,
        # and the definition is unchanged.
        r = adm(d, "add-key", "web1", bob)
        assert r.returncode == 1 and "private key" in r.stderr, r
        with open(os.path.join(t, "junk.pub"), "w") as f:
            f.write("ssh-ed25519 not-a-key\n")
        r = adm(d, "add-key", "web1", os.path.join(t, "junk.pub"))
        assert r.returncode == 1 and "not an OpenSSH public key" in r.stderr, r
        r = adm(d, "create", "../evil", "--kernel", guest("echo"))
        assert r.returncode == 1 and "bad VM name" in r.stderr, r
        r = adm(d, "create", "web1", "--kernel", guest("echo"))
        assert r.returncode == 1 and "exists" in r.stderr, r
        keys = open(os.path.join(d, "web1", "authorized_keys")).read()
        assert keys.count("ssh-ed25519") == 1, keys
        assert adm(d, "add-key", "web1", bob + ".pub").returncode == 0
        shown = adm(d, "show", "web1").stdout
        assert shown.count("ssh-ed25519") == 2, shown
        assert adm(d, "remove", "web1").returncode == 0
        assert adm(d, "list").stdout == ""


@test
def start_runs_the_definition_and_the_tenant_gets_in():
    if not os.path.exists("/dev/kvm"):
        raise Skip("no /dev/kvm")
    with tempfile.TemporaryDirectory() as t:
        d = os.path.join(t, "vms")
        key = sshtest.keygen(os.path.join(t, "tenant"))
        port = sshtest.free_port()
        r = adm(d, "create", "db2", "--kernel", guest("echo"), "--memory", "64M",
                "--ssh", f"127.0.0.1:{port}", "--key", key + ".pub", "--fb", "none")
        assert r.returncode == 0, r
        # The command line overrides the file: no local console here.
        p = subprocess.Popen([VSBADM, "--dir", d, "start", "db2", "--console", "none",
                              "--host-keys", os.path.join(t, "hostkeys")],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 15
            while True:
                r = subprocess.run(sshtest.SSH_BASE + ["-i", key, "-p", str(port), "-T",
                                                       "db2@127.0.0.1", "help"],
                                   capture_output=True, timeout=20)
                if r.returncode == 0 or time.monotonic() > deadline or p.poll() is not None:
                    break
                time.sleep(0.2)
            assert r.returncode == 0, (r, p.poll())
            s = sshtest.Session(sshtest.SSH_BASE + ["-i", key, "-p", str(port), "-tt",
                                                    "db2@127.0.0.1"])
            with s:
                s.read_until(b"attached")
                s.send(b"from the definition\r")
                s.read_until(b"from the definition")
        finally:
            p.terminate()
            p.wait(10)
            err = p.stderr.read().decode(errors="replace")
            p.stderr.close()
        assert "VM db2" in err or "db2" in err, err


if __name__ == "__main__":
    run_all()
