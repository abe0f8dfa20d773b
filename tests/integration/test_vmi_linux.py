"""The introspection library on a real Debian Linux guest under QEMU TCG
(RAM in a shared file, QMP for registers and pause): `vmi` from outside
must agree with what the guest itself says through its serial shell —
ps, lsmod, /proc/kallsyms, a secret in a process's memory — live, on a
core dumped by QEMU, and through the page-table fallback; and a task list
corrupted through the shared file gives a clean error."""
import os
import re
import secrets
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from vsbtest import CACHE, run_all, test  # noqa: E402
import vmitest  # noqa: E402
from vmitest import VMI, LinuxGuest, ps_map  # noqa: E402

G = None
TARGETS = {}  # name -> (pid, addr, secret)


def guest():
    global G
    if G is None:
        G = LinuxGuest()
        cmd = []
        for name in ("vsb-alpha", "vsb-bravo", "vsb-charlie"):
            s = f"SECRET-{name}-{secrets.token_hex(8)}"
            TARGETS[name] = [None, None, s]
            cmd.append(f"vmitarget {name} {s} &")
        lines = G.run(" ".join(cmd) + " sleep 1")
        for l in lines:
            m = re.match(r"vmitarget pid=(\d+) name=(\S+) addr=(0x[0-9a-f]+)", l)
            if m:
                TARGETS[m.group(2)][0] = int(m.group(1))
                TARGETS[m.group(2)][1] = int(m.group(3), 16)
        assert all(v[0] for v in TARGETS.values()), lines
    return G


def H(x):
    """vmi's JSON gives addresses as "0x..." strings."""
    return int(x, 16)


def vmi_ps(g, *extra):
    return ps_map(g.vmi(*extra, "ps"))


def stable_compare(g, *extra):
    """`vmi ps` (with extra options) against the guest's own ps."""
    return vmitest.stable_compare(g, lambda: vmi_ps(g, *extra))


@test
def info_matches_the_guests_own_view():
    g = guest()
    info = g.vmi("info")
    assert info["release"] == g.run("uname -r")[0], info
    assert info["banner"] == g.run("cat /proc/version")[0], info
    assert info["kaslr_source"] == "vmcoreinfo", info
    # Every symbol of the kernel image, as /proc/kallsyms lists them
    # (module symbols there carry a [module] suffix).
    own = int(g.run("grep -vc '\\]$' /proc/kallsyms")[0])
    assert info["symbol_source"] == "kallsyms" and info["symbols"] == own, \
        (info["symbols"], own)
    assert info["btf_source"] == "guest memory" and info["btf_bytes"] > 1 << 20
    # The guest's own /proc/kallsyms (root sees real addresses) against
    # what vmi found in its memory: proves the KASLR offset.
    for sym in ("init_task", "_text", "linux_banner", "init_top_pgt"):
        line = g.run(f"grep ' {sym}$' /proc/kallsyms")[0]
        assert int(line.split()[0], 16) == H(g.vmi("sym", sym)["addr"]), line
    text = H(g.vmi("sym", "_text")["addr"])
    assert text - 0xffffffff81000000 == H(info["kaslr_offset"])


@test
def ps_lists_exactly_the_guests_processes():
    g = guest()
    ours = stable_compare(g)
    for name, (pid, _, _) in TARGETS.items():
        assert ours[pid][1] == name, (pid, ours.get(pid))
    full = {p["pid"]: p for p in g.vmi("ps")}
    assert full[1]["comm"] == "init" and not full[1]["kthread"]
    assert H(full[1]["pgd"]) and full[1]["uid"] == 0
    assert full[2]["comm"] == "kthreadd" and full[2]["kthread"]
    assert H(full[2]["pgd"]) == 0
    # The table form says the same.
    table = g.vmi("ps", json_out=False).stdout.decode()
    assert re.search(r"^\s+%d\s+\d+\s+0\s+\S+\s+0x[0-9a-f]+\s+vsb-alpha$"
                     % TARGETS["vsb-alpha"][0], table, re.M), table


@test
def lsmod_lists_exactly_the_guests_modules():
    g = guest()
    proc = {}
    for l in g.run("cat /proc/modules"):
        f = l.split()
        proc[f[0]] = (int(f[1]), int(f[-1], 16))
    ours = {m["name"]: (m["size"], H(m["base"])) for m in g.vmi("lsmod")}
    assert "virtio_blk" in ours and len(ours) >= 10, ours
    assert ours == proc, (ours, proc)
    assert all(m["state"] == "live" for m in g.vmi("lsmod"))


@test
def reads_a_secret_from_a_process_address_space():
    g = guest()
    for name, (pid, addr, secret) in TARGETS.items():
        r = g.vmi("--pid", str(pid), "read", hex(addr), str(len(secret)),
                  "--raw", json_out=False)
        assert r.stdout.decode() == secret, (name, r.stdout)
    # Another process does not have it at that address.
    a, b = TARGETS["vsb-alpha"], TARGETS["vsb-bravo"]
    r = g.vmi("--pid", str(b[0]), "read", hex(a[1]), str(len(a[2])), "--raw",
              json_out=False)
    assert r.stdout.decode() != a[2]
    # Unmapped, a kernel thread, no such pid: clean failures.
    r = g.vmi("--pid", str(a[0]), "read", "0x10", "16", check=False)
    assert r.returncode == 1 and b"not mapped" in r.stderr, r.stderr
    r = g.vmi("--pid", "2", "read", "0x400000", "16", check=False)
    assert r.returncode == 1 and b"kernel thread" in r.stderr, r.stderr
    r = g.vmi("--pid", "99999", "read", "0x400000", "16", check=False)
    assert r.returncode == 1 and b"no process 99999" in r.stderr, r.stderr


@test
def reads_kernel_and_physical_memory():
    g = guest()
    banner = H(g.vmi("sym", "linux_banner")["addr"])
    r = g.vmi("read", hex(banner), "13", "--raw", json_out=False)
    assert r.stdout == b"Linux version"
    j = g.vmi("read", hex(banner), "5")
    assert bytes.fromhex(j["hex"]) == b"Linux"
    # The same bytes at their physical address (kernel image: phys_base).
    info = g.vmi("info")
    # (phys_base is negative, modulo 2^64, when KASLR moved the kernel
    # further in virtual than in physical memory.)
    pa = (banner - 0xffffffff80000000 + H(info["phys_base"])) % (1 << 64)
    r = g.vmi("--phys", "read", hex(pa), "13", "--raw", json_out=False)
    assert r.stdout == b"Linux version"
    r = g.vmi("--phys", "read", hex(1 << 40), "16", check=False)
    assert r.returncode == 1 and b"not guest RAM" in r.stderr, r.stderr


@test
def writes_a_process_memory():
    g = guest()
    pid, addr, secret = TARGETS["vsb-charlie"]
    r = g.vmi("--pid", str(pid), "write", hex(addr), b"WROTE".hex(),
              check=False, json_out=False)
    assert r.returncode == 2 and b"--write" in r.stderr
    g.vmi("--write", "--pid", str(pid), "write", hex(addr),
          b"WROTE".hex(), json_out=False)
    r = g.vmi("--pid", str(pid), "read", hex(addr), str(len(secret)), "--raw",
              json_out=False)
    assert r.stdout.decode() == "WROTE" + secret[5:]
    TARGETS["vsb-charlie"][2] = "WROTE" + secret[5:]


@test
def registers_and_pause_resume():
    g = guest()
    q = g.qmp()
    try:
        assert g.vmi("pause") == {"state": "paused"}
        assert q.cmd("query-status")["status"] == "paused"
        regs = {k: H(v) if isinstance(v, str) else v
                for k, v in g.vmi("regs", "0").items()}
        assert regs["cr0"] & (1 << 31) and regs["cr0"] & 1, regs
        assert regs["cr3"] and regs["cr4"] & (1 << 5), regs  # PAE
        # Paused, the kernel's stack and code are where symbols say.
        assert regs["rip"] >= 0xffffffff80000000 or regs["rip"] < 1 << 47
        r = g.vmi("regs", "7", check=False)
        assert r.returncode == 1 and b"no such vCPU" in r.stderr, r.stderr
        assert g.vmi("resume") == {"state": "running"}
        assert q.cmd("query-status")["status"] == "running"
        assert g.run("echo alive-$((1+1))") == ["alive-2"]
    finally:
        q.cmd("cont")
        q.close()


@test
def finds_the_kernel_through_page_tables_without_vmcoreinfo():
    g = guest()
    a = g.vmi("info")
    b = g.vmi("--no-vmcoreinfo", "info")
    assert b["kaslr_source"] == "page tables", b
    for k in ("kaslr_offset", "phys_base", "kernel_root", "release"):
        assert a[k] == b[k], (k, a[k], b[k])
    stable_compare(g, "--no-vmcoreinfo")


@test
def system_map_is_checked_against_the_guest():
    g = guest()
    placeholder = os.path.join(
        CACHE, "pkgs", "linux-image-6.1.0-56-amd64", "boot",
        "System.map-6.1.0-56-amd64")
    if os.path.exists(placeholder):
        r = g.vmi("--system-map", placeholder, "ps", check=False)
        assert r.returncode == 1 and b"placeholder" in r.stderr, r.stderr
    # A real System.map made of the link-time addresses of what vmi needs.
    off = H(g.vmi("info")["kaslr_offset"])
    names = ["_text", "init_top_pgt", "linux_banner", "init_task", "modules",
             "__start_BTF", "__stop_BTF", "init_uts_ns"]
    good = os.path.join(g.dir, "System.map")
    bad = os.path.join(g.dir, "System.map.other")
    with open(good, "w") as f, open(bad, "w") as fb:
        for n in names:
            a = H(g.vmi("sym", n)["addr"]) - off
            f.write(f"{a:016x} D {n}\n")
            fb.write(f"{a + 0x200000:016x} D {n}\n")
    info = g.vmi("--system-map", good, "info")
    assert info["symbol_source"] == "System.map"
    assert H(info["kaslr_offset"]) == off
    stable_compare(g, "--system-map", good)
    # Another kernel's map (everything 2 MiB off) is refused, not trusted.
    r = g.vmi("--system-map", bad, "ps", check=False)
    assert r.returncode == 1 and b"does not match" in r.stderr, r.stderr


@test
def the_same_on_a_core_dumped_by_qemu():
    g = guest()
    core = os.path.join(g.dir, "guest.core")
    q = g.qmp()
    try:
        q.cmd("stop")
        live = vmi_ps(g)
        q.cmd("dump-guest-memory", paging=False, protocol="file:" + core)
        src = ["--core", core]
        assert vmi_ps(g, *[]) == live
        assert ps_map(g.vmi("ps", source=src)) == live
        assert g.vmi("lsmod", source=src) == g.vmi("lsmod")
        info = g.vmi("info", source=src)
        assert info["kaslr_offset"] == g.vmi("info")["kaslr_offset"]
        pid, addr, secret = TARGETS["vsb-alpha"]
        r = g.vmi("--pid", str(pid), "read", hex(addr), str(len(secret)),
                  "--raw", source=src, json_out=False)
        assert r.stdout.decode() == secret
        # The core's QEMU notes carry CR3: the fallback works there too.
        b = g.vmi("--no-vmcoreinfo", "info", source=src)
        assert b["kaslr_offset"] == info["kaslr_offset"]
        r = g.vmi("pause", source=src, check=False)
        assert r.returncode == 1 and b"not a live guest" in r.stderr
        # A truncated core is refused with a message.
        with open(core, "r+b") as f:
            f.truncate(os.path.getsize(core) // 2)
        r = g.vmi("ps", source=src, check=False)
        assert r.returncode == 1 and r.stderr.startswith(b"vmi: "), r.stderr
    finally:
        q.cmd("cont")
        q.close()


@test
def a_cyclic_or_dangling_task_list_gives_a_clean_error():
    g = guest()
    lay = g.vmi("info")["layout"]
    q = g.qmp()
    try:
        g.vmi("pause")
        tasks = g.vmi("ps")
        by_pid = {t["pid"]: t for t in tasks}
        victim = by_pid[TARGETS["vsb-bravo"][0]]
        earlier = by_pid[1]
        node = H(victim["task"]) + lay["task_struct.tasks"]
        nxt = node + lay["list_head.next"]
        orig = g.vmi("read", hex(nxt), "8")["hex"]
        cases = {
            # back to an earlier task: a loop that never reaches the head
            "cycle": H(earlier["task"]) + lay["task_struct.tasks"],
            # LIST_POISON1, a freed entry's pointer: not canonical
            "poison": 0xdead000000000100,
            # a kernel address far beyond the guest's 256 MiB of RAM
            "outside": 0xffffffff00000000,
            # user space, which the kernel's tables do not map here
            "null-ish": 0x10,
        }
        for what, ptr in cases.items():
            g.vmi("--write", "write", hex(nxt),
                  ptr.to_bytes(8, "little").hex(), json_out=False)
            r = g.vmi("ps", check=False, json_out=False)
            assert r.returncode == 1, (what, r.stdout[-300:])
            assert re.search(rb"^vmi: process list: task list: .*"
                             rb"(corrupt|loops|not mapped)", r.stderr), \
                (what, r.stderr)
            # lsmod does not depend on the task list.
            assert g.vmi("lsmod")
        g.vmi("--write", "write", hex(nxt), orig, json_out=False)
        assert len(g.vmi("ps")) == len(tasks)
    finally:
        q.cmd("cont")
        q.close()
    assert g.run("echo alive-$((2+2))") == ["alive-4"]


@test
def bad_sources_and_usage_are_refused_clearly():
    g = guest()
    vmi = g.vmi
    r = vmi("ps", source=["--ram", "/nonexistent"], check=False)
    assert r.returncode == 1 and b"/nonexistent" in r.stderr, r.stderr
    zeros = os.path.join(g.dir, "zeros")
    with open(zeros, "wb") as f:
        f.truncate(64 << 20)
    r = vmi("ps", source=["--ram", zeros], check=False)
    assert r.returncode == 1 and b"kallsyms" in r.stderr, r.stderr
    r = vmi("regs", source=["--ram", zeros], check=False)
    assert r.returncode == 1 and b"no registers" in r.stderr, r.stderr
    r = vmi("ps", source=["--qemu", g.ram, "--qmp", zeros], check=False)
    assert r.returncode == 1, r.stderr
    for args in (["frobnicate"], ["ps", "extra"], ["read", "0x10"],
                 ["read", "0x10", "0"], ["regs", "x"]):
        r = vmi(*args, check=False)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
    r = subprocess.run([VMI, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "Usage: vmi" in r.stdout


try:
    run_all()
finally:
    if G:
        G.close()
