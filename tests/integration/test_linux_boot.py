"""The Debian kernel on this machine's KVM: it is booted through the Linux
64-bit boot protocol and its decompressor prints through vsbd's UART.
(PVM emulates CPL0, so a full boot belongs to the lab.)"""
import os
import time

from vsbtest import KERNEL, Skip, Vsbd, run_all, run_vsbd, test


@test
def debian_kernel_decompressor_prints_on_uart():
    if not os.path.exists(KERNEL):
        raise Skip("no Debian kernel: run scripts/setup.sh")
    start = time.monotonic()
    with Vsbd(KERNEL, "--allow-pvm", "-m", "512M", "-a",
              "earlyprintk=serial,ttyS0,115200 nokaslr console=ttyS0") as v:
        v.read_until(b"KASLR disabled: 'nokaslr' on cmdline.", timeout=60)
        print(f"# decompressor message after {time.monotonic() - start:.2f}s")


@test
def initrd_is_accepted_and_placed():
    """A bzImage with an initrd still reaches the decompressor (the loader
    placed both without overlap)."""
    if not os.path.exists(KERNEL):
        raise Skip("no Debian kernel: run scripts/setup.sh")
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".cpio") as f:
        f.write(os.urandom(3 << 20))
        f.flush()
        with Vsbd(KERNEL, "--allow-pvm", "-m", "512M", "-i", f.name, "-a",
                  "earlyprintk=serial,ttyS0,115200 nokaslr") as v:
            v.read_until(b"KASLR disabled", timeout=60)


@test
def bzimage_on_pvm_points_to_the_lab():
    if not os.path.exists(KERNEL):
        raise Skip("no Debian kernel: run scripts/setup.sh")
    if not os.path.exists("/sys/module/kvm_pvm"):
        raise Skip("this host's KVM is not kvm_pvm")
    r = run_vsbd("run", "-m", "512M", KERNEL, timeout=20)
    err = r.stderr.decode()
    assert r.returncode == 3, (r.returncode, err)
    assert "kvm_pvm" in err and "lab/run" in err, err


if __name__ == "__main__":
    run_all()
