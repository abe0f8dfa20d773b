"""The same PVH ELF boots under QEMU (-kernel) and prints the same text as
under vsbd: the guests are real PVH kernels, not vsbd-specific blobs."""
import shutil
import subprocess

from vsbtest import Skip, guest, run_vsbd, run_all, test


def qemu(kernel, append, accel="tcg", timeout=60):
    if not shutil.which("qemu-system-x86_64"):
        raise Skip("qemu-system-x86_64 not installed")
    r = subprocess.run(
        ["qemu-system-x86_64", "-accel", accel, "-M", "pc", "-m", "256",
         "-display", "none", "-monitor", "none", "-serial", "stdio",
         "-no-reboot", "-kernel", kernel, "-append", append],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return r


@test
def hello_prints_the_same_under_qemu_and_vsbd():
    q = qemu(guest("hello"), "same=text")
    # No framebuffer: its vsb.fb= word would be on the printed cmdline.
    v = run_vsbd("run", "--fb", "none", "-a", "same=text", guest("hello"))
    assert q.returncode == 0, q.stderr
    assert v.returncode == 0, v.stderr
    assert q.stdout == v.stdout, (q.stdout, v.stdout)
    assert b"cmdline: same=text" in v.stdout


@test
def flood_output_identical_under_qemu_and_vsbd():
    q = qemu(guest("flood"), "5000")
    v = run_vsbd("run", "-a", "5000", guest("flood"))
    assert q.returncode == 0 and v.returncode == 0, (q.stderr, v.stderr)
    assert len(v.stdout) == 5000
    assert q.stdout == v.stdout


if __name__ == "__main__":
    run_all()
