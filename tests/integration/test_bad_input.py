"""Bad kernels and bad command lines: a clear one-line message and the
documented exit status, never a crash."""
import os
import struct
import tempfile

from vsbtest import KERNEL, Skip, guest, run_vsbd, run_all, test

EXIT_USAGE, EXIT_BAD_IMAGE = 2, 3


def write_tmp(data):
    fd, path = tempfile.mkstemp(prefix="vsbbad-")
    os.write(fd, data)
    os.close(fd)
    return path


def rejected(path, *extra, expect):
    r = run_vsbd("run", *extra, path)
    err = r.stderr.decode()
    assert r.returncode == EXIT_BAD_IMAGE, (r.returncode, err)
    assert expect in err, err
    assert "AddressSanitizer" not in err and "runtime error" not in err, err
    return err


@test
def missing_kernel_file():
    rejected("/nonexistent/kernel", expect="cannot open kernel")


@test
def garbage_is_neither_format():
    p = write_tmp(os.urandom(4096))
    try:
        rejected(p, expect="neither a bzImage nor a PVH ELF")
    finally:
        os.unlink(p)


@test
def empty_file():
    p = write_tmp(b"")
    try:
        rejected(p, expect="neither a bzImage nor a PVH ELF")
    finally:
        os.unlink(p)


def debian_kernel():
    if not os.path.exists(KERNEL):
        raise Skip("no Debian kernel")
    with open(KERNEL, "rb") as f:
        return f.read()


@test
def truncated_bzimage():
    img = debian_kernel()
    p = write_tmp(img[:64 * 1024])
    try:
        rejected(p, expect="truncated")
    finally:
        os.unlink(p)


@test
def too_old_boot_protocol():
    img = bytearray(debian_kernel())
    struct.pack_into("<H", img, 0x206, 0x0205)
    p = write_tmp(bytes(img))
    try:
        rejected(p, expect="protocol")
    finally:
        os.unlink(p)


@test
def cmdline_too_long():
    img = debian_kernel()
    p = write_tmp(img)
    try:
        rejected(p, "-m", "512M", "-a", "x" * 5000, expect="command line")
    finally:
        os.unlink(p)


@test
def kernel_larger_than_ram():
    debian_kernel()
    rejected(KERNEL, "-m", "16M", expect="not all RAM")
    big = write_tmp(b"\0" * (17 << 20))
    try:
        rejected(big, "-m", "16M", expect="do not fit")
    finally:
        os.unlink(big)


@test
def pvh_kernel_cmdline_too_long():
    rejected(guest("hello"), "-a", "y" * 5000, expect="command line")


@test
def bad_options_exit_2():
    for args in (["run"], ["run", "--cpus", "0", guest("hello")],
                 ["run", "--cpus", "65", guest("hello")],
                 ["run", "-m", "1M", guest("hello")],
                 ["run", "-m", "12X", guest("hello")],
                 ["run", "--console", "tcp:1", guest("hello")],
                 ["run", "--escape", "12", guest("hello")],
                 ["run", "--bogus", guest("hello")], ["frobnicate"], []):
        r = run_vsbd(*args)
        assert r.returncode == EXIT_USAGE, (args, r.returncode, r.stderr)
        assert r.stderr, args


@test
def help_documents_every_option():
    r = run_vsbd("--help")
    assert r.returncode == 0
    out = r.stdout.decode()
    for opt in ("--memory", "--cpus", "--append", "--initrd", "--console",
                "--control", "--escape", "--verbose", "--quiet", "Exit status"):
        assert opt in out, opt


if __name__ == "__main__":
    run_all()
