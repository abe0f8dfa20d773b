"""CryptVMI end to end on loopback: two real Debian guests under QEMU TCG
(shared RAM, QMP), two agents, one handler with its SQLite directory, two
tenants using the real `cryptvmi` CLI. Between the tenants and the
handler, and between the handler and the first agent, sits the operator's
tap (cvmitest.Tap), which records every byte the handler receives and
sends and plays the attacks: replay, tamper, swap, redirect, a foreign
instance. `cryptvmi ps` must equal the guest's own ps; the tap, the
handler's log and its database must hold none of the guest's process
names or the bytes read; every attack must be refused."""
import json
import os
import re
import secrets
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(__file__))
from vsbtest import Skip, run_all, test  # noqa: E402
from vmitest import LinuxGuest, ps_map, stable_compare  # noqa: E402
import cvmitest as cv  # noqa: E402

S = None


class Setup:
    def __init__(self):
        for b in (cv.AGENT, cv.HANDLER, cv.ADMIN, cv.CLI):
            if not os.path.exists(b):
                raise Skip(f"no {b}")
        self.root = cv.tempdir()
        self.guests = {}
        self.started = []
        errors = []

        def boot(name):
            try:
                self.guests[name] = LinuxGuest()
            except Exception as e:  # reported below
                errors.append(e)
        ts = [threading.Thread(target=boot, args=(n,)) for n in ("a", "b")]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise errors[0]
        a, b = self.guests["a"], self.guests["b"]
        # Processes whose names and memory only the tenant may learn.
        self.names = {}
        for g, key in ((a, "a"), (b, "b")):
            name = "cv" + secrets.token_hex(5)
            secret = "S3CRET-" + secrets.token_hex(12)
            line = g.run(f"vmitarget {name} {secret} & sleep 1")[0]
            m = re.match(r"vmitarget pid=(\d+) name=\S+ addr=(0x[0-9a-f]+)",
                         line)
            self.names[key] = (name, int(m.group(1)), m.group(2), secret)
        # A core of guest A: alice's second instance, on the second node.
        q = a.qmp()
        self.core = os.path.join(self.root, "web2.core")
        q.cmd("stop")
        q.cmd("dump-guest-memory", paging=False, protocol="file:" + self.core)
        q.cmd("cont")
        q.close()

        self.pki = cv.Pki(self.root)
        self.agent1 = cv.Agent(self.root, self.pki, "node1")
        self.agent2 = cv.Agent(self.root, self.pki, "node2")
        self.alice = cv.Tenant(self.root, "alice")
        self.bob = cv.Tenant(self.root, "bob")
        self.agent1.enroll("alice", self.alice.pub)
        self.agent2.enroll("alice", self.alice.pub)
        self.agent2.enroll("bob", self.bob.pub)
        self.agent1.add_instance("web1", "alice", "vm-a",
                                 f"qemu:{a.ram}:{a.qmp_path}")
        self.agent2.add_instance("db1", "bob", "vm-b",
                                 f"qemu:{b.ram}:{b.qmp_path}")
        self.agent2.add_instance("web2", "alice", "vm-web2",
                                 f"core:{self.core}")
        for ag in (self.agent1, self.agent2):
            ag.start()
            self.started.append(ag)

        self.handler = cv.Handler(self.root, self.pki)
        # The operator's tap in front of agent 1 and of the handler.
        self.tap_agent = cv.Tap(self.pki, "tap-agent", self.agent1.port,
                                self.pki.ca)
        h = self.handler
        tok = {t: token_of(h.admin("add-tenant", t).stdout)
               for t in ("alice", "bob")}
        self.tokens = tok
        h.admin("add-node", "node1",
                f"https://127.0.0.1:{self.tap_agent.port}", "--ca",
                self.pki.ca)
        h.admin("add-node", "node2", self.agent2.url, "--ca", self.pki.ca)
        h.admin("add-instance", "web1", "--tenant", "alice", "--node",
                "node1", "--vm", "vm-a")
        h.admin("add-instance", "db1", "--tenant", "bob", "--node", "node2",
                "--vm", "vm-b")
        h.admin("add-instance", "web2", "--tenant", "alice", "--node",
                "node2", "--vm", "vm-web2")
        h.start()
        self.started.append(h)
        self.tap = cv.Tap(self.pki, "tap-handler", h.port, self.pki.ca)
        for t in (self.alice, self.bob):
            t.cli("configure", "--handler",
                  f"https://127.0.0.1:{self.tap.port}", "--tenant", t.name,
                  "--token", tok[t.name], "--ca", self.pki.ca)
        self.alice.cli("trust", "web1", self.agent1.pub)
        self.alice.cli("trust", "web2", self.agent2.pub)
        self.bob.cli("trust", "db1", self.agent2.pub)

    def close(self):
        for s in self.started:
            s.stop()
        for g in self.guests.values():
            g.close()
        cv.cleanup(self.root)


def token_of(out):
    """The token cryptvmi-admin prints once: the longest base64url word."""
    words = re.findall(r"[A-Za-z0-9_-]{32,}", out)
    assert words, out
    return max(words, key=len)


def setup():
    global S
    if S is None:
        S = Setup()
    return S


def compare(tenant, inst, g):
    """The tenant's `cryptvmi ps` of inst against g's own ps."""
    return stable_compare(g, lambda: ps_map(tenant.json("ps", inst)))


@test
def cryptvmi_ps_equals_the_guests_own_ps():
    s = setup()
    ours = compare(s.alice, "web1", s.guests["a"])
    name, pid, _, _ = s.names["a"]
    assert ours[pid][1] == name
    ours = compare(s.bob, "db1", s.guests["b"])
    assert ours[s.names["b"][1]][1] == s.names["b"][0]
    # The table form too.
    out = s.alice.cli("ps", "web1").stdout
    assert re.search(r"^\s*%d\s.*%s$" % (pid, name), out, re.M), out


@test
def lsmod_read_regs_info_pause_resume_through_the_handler():
    s = setup()
    g = s.guests["a"]
    mods = {m["name"] for m in s.alice.json("lsmod", "web1")}
    own = {l.split()[0] for l in g.run("cat /proc/modules")}
    assert mods == own, (mods, own)
    name, pid, addr, secret = s.names["a"]
    r = s.alice.cli("read", "web1", addr, str(len(secret)), "--pid",
                    str(pid), "--raw")
    assert r.stdout == secret
    info = s.alice.json("info", "web1")
    assert info["release"] == g.run("uname -r")[0]
    assert s.alice.json("pause", "web1")["state"] == "paused"
    q = g.qmp()
    try:
        assert q.cmd("query-status")["status"] == "paused"
        regs = s.alice.json("regs", "web1", "0")
        assert int(regs["cr3"], 16) and int(regs["cr0"], 16) & 1
        assert s.alice.json("resume", "web1")["state"] == "running"
        assert q.cmd("query-status")["status"] == "running"
    finally:
        q.cmd("cont")
        q.close()
    # An operation that fails in the guest is an encrypted answer: exit 1.
    r = s.alice.cli("read", "web1", "0x10", "16", "--pid", str(pid),
                    check=False)
    assert r.returncode == 1 and "not mapped" in r.stderr, r.stderr
    # The second instance (a core on the second node) answers too.
    web2 = {p["pid"] for p in s.alice.json("ps", "web2")}
    assert pid in web2


@test
def the_handler_sees_no_process_name_and_no_byte_read():
    s = setup()
    for key, t, inst in (("a", s.alice, "web1"), ("b", s.bob, "db1")):
        name, pid, addr, secret = s.names[key]
        assert name in t.cli("ps", inst).stdout
        assert secret in t.cli("read", inst, addr, str(len(secret)),
                               "--pid", str(pid), "--raw").stdout
    seen = bytes(s.tap.recorded) + bytes(s.tap_agent.recorded)
    assert len(s.tap.requests) >= 4 and len(s.tap_agent.requests) >= 2
    with open(s.handler.logfile, "rb") as f:
        log = f.read()
    with open(s.handler.db, "rb") as f:
        db = f.read()
    for key in ("a", "b"):
        name, _, _, secret = s.names[key]
        for needle in (name, secret, secret.encode().hex(),
                       "kthreadd", "virtio_blk"):
            n = needle.encode() if isinstance(needle, str) else needle
            assert n not in seen, f"the tap saw {needle}"
            assert n not in log, f"the handler logged {needle}"
            assert n not in db, f"the directory holds {needle}"
    for tok in s.tokens.values():
        assert tok.encode() not in log and tok.encode() not in db


def raw_post(port, request):
    """Sends a recorded HTTP request as is; returns (status, body)."""
    ctx = ssl.create_default_context(cafile=S.pki.ca)
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 10),
                         server_hostname="127.0.0.1") as c:
        c.sendall(request)
        resp = cv.Tap._read_http(c)
    head, _, body = resp.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def last_request(tap, inst):
    for r in reversed(tap.requests):
        if f'"instance":"{inst}"'.encode() in r.replace(b" ", b""):
            return r
    raise AssertionError("no recorded request for " + inst)


@test
def a_replayed_request_is_refused():
    s = setup()
    s.alice.cli("ps", "web1")
    req = last_request(s.tap, "web1")
    status, body = raw_post(s.handler.port, req)
    assert status == 409 and json.loads(body)["code"] == "replay", body
    assert s.alice.cli("ps", "web1").returncode == 0


@test
def tampered_requests_and_answers_are_refused():
    s = setup()
    s.tap.mode = "tamper-request"
    r = s.alice.cli("ps", "web1", check=False)
    assert r.returncode == 3 and "401" in r.stderr, r.stderr
    s.tap.mode = "tamper-response"
    r = s.alice.cli("ps", "web1", check=False)
    assert r.returncode == 4, (r.returncode, r.stderr)
    assert s.alice.cli("ps", "web1").returncode == 0


@test
def a_swapped_answer_is_refused():
    s = setup()
    s.alice.cli("lsmod", "web1")
    s.tap.mode = "swap"  # the next answer is the previous one (lsmod's)
    r = s.alice.cli("ps", "web1", check=False)
    assert r.returncode == 4 and "another" in r.stderr, r.stderr


@test
def a_request_redirected_to_another_vm_is_refused():
    s = setup()
    # Relabelled in the clear: alice's request for web1 sent as web2's
    # (her instance on the other node): that agent cannot open it.
    s.alice.cli("info", "web1")
    req = last_request(s.tap, "web1").replace(b'"instance":"web1"',
                                              b'"instance":"web2"')
    req = req.replace(b'"instance": "web1"', b'"instance": "web2"')
    status, body = raw_post(s.handler.port, req)
    assert status in (401, 403), (status, body)
    # The operator rewrites its own directory: web1 now on node2, or web1
    # pointing at another VM of node1.
    db = sqlite3.connect(s.handler.db)
    try:
        db.execute("update instances set node='node2', vm='vm-web2' "
                   "where name='web1'")
        db.commit()
        r = s.alice.cli("ps", "web1", check=False)
        assert r.returncode == 3 and "401" in r.stderr, r.stderr
        db.execute("update instances set node='node1', vm='vm-other' "
                   "where name='web1'")
        db.commit()
        r = s.alice.cli("ps", "web1", check=False)
        assert r.returncode == 3 and "403" in r.stderr, r.stderr
    finally:
        db.execute("update instances set node='node1', vm='vm-a' "
                   "where name='web1'")
        db.commit()
        db.close()
    assert s.alice.cli("ps", "web1").returncode == 0


@test
def another_tenants_instance_is_refused():
    s = setup()
    s.alice.cli("trust", "db1", s.agent2.pub)
    r = s.alice.cli("ps", "db1", check=False)
    assert r.returncode == 3 and "403" in r.stderr, r.stderr
    # The operator hands bob's instance to alice in its directory: the
    # agent, which knows who owns what, still refuses.
    db = sqlite3.connect(s.handler.db)
    try:
        db.execute("update instances set tenant='alice' where name='db1'")
        db.commit()
        r = s.alice.cli("ps", "db1", check=False)
        assert r.returncode == 3 and "403" in r.stderr, r.stderr
    finally:
        db.execute("update instances set tenant='bob' where name='db1'")
        db.commit()
        db.close()
    # A wrong token, and curl with no token at all.
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                        "--cacert", s.pki.ca, "-X", "POST", "-d", "{}",
                        f"{s.handler.url}/v1/query"],
                       capture_output=True, text=True)
    assert r.stdout in ("400", "401"), r.stdout
    assert s.bob.cli("ps", "db1").returncode == 0


try:
    run_all()
finally:
    if S:
        S.close()
