"""cryptvmi-handler and cryptvmi-admin (cryptvmi/README.md, "Handler" and
"Admin tool"): a directory made with the real admin tool, the real handler
on a free loopback port with certificates made by certtool, tenants played
by the real curl, and fake agents written here (HTTPS on loopback with their
own CA): one that records what it gets and answers canned JSON, one that is
slow, one whose certificate comes from the wrong CA, and one that is down.
Every status of PROTOCOL.md's table, the body the agent receives, health,
metrics, that the handler keeps serving after each error, and that neither
its log nor its directory holds a token or a ciphertext."""
import base64
import http.server
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from vsbtest import BUILD, Skip, run_all, test  # noqa: E402
from cvmitest import Pki, Service, free_port, run  # noqa: E402

HANDLER = os.path.join(BUILD, "cryptvmi-handler")
ADMIN = os.path.join(BUILD, "cryptvmi-admin")
AGENT_TIMEOUT_MS = 1000


def sh(*cmd, **kw):
    """A command whose failure the test checks itself."""
    return run(*cmd, check=False, **kw)


class FakeAgent:
    """An agent on loopback: records each POST and answers by instance."""

    def __init__(self, cert, key, delay=0.0):
        self.received = []
        agent = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True      # headers and body at once

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                agent.received.append((self.path, dict(self.headers), body))
                if delay:
                    time.sleep(delay)
                try:
                    inst = json.loads(body).get("instance")
                except ValueError:
                    inst = None
                status, out = agent.answer(inst)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 64     # the handler's bursts

        self.srv = Server(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        # The handler hangs up on the slow agent: not an error here.
        self.srv.handle_error = lambda request, address: None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        # Handshakes in the request threads, not one by one in accept.
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True,
                                          do_handshake_on_connect=False)
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever,
                                       daemon=True)
        self.thread.start()

    # What the agent says, byte for byte, per instance.
    REPLY = b'{"v": 1,  "ciphertext": "UkVTVUxUIQ==", "note": "as is"}'

    def answer(self, inst):
        if inst == "replayed":
            return 409, b'{"error": "replayed request", "code": "replay"}'
        if inst == "garbled":
            return 200, b"this is not JSON"
        if inst == "broken":
            return 500, b'{"error": "agent bug"}'
        return 200, self.REPLY

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def ct():
    """A fresh, recognisable ciphertext (the handler only sees base64)."""
    return base64.b64encode(secrets.token_bytes(48)).decode()


class World:
    def __init__(self):
        for tool in ("certtool", "curl"):
            if not shutil.which(tool):
                raise Skip(f"{tool} not installed")
        if not (os.access(HANDLER, os.X_OK) and os.access(ADMIN, os.X_OK)):
            raise Skip("cryptvmi-handler/admin not built")
        self.d = tempfile.mkdtemp(prefix="cvmi-handler-")
        d = self.d
        self.handler_ca = Pki(d, "handler-ca", "handler-ca")
        self.agent_ca = Pki(d, "agent-ca", "agent-ca")
        self.rogue_ca = Pki(d, "rogue-ca", "rogue-ca")
        self.cert, self.key = self.handler_ca.cert("handler")
        acert = self.agent_ca.cert("agent")
        rcert = self.rogue_ca.cert("rogue")
        self.agent = FakeAgent(*acert)
        self.slow = FakeAgent(*acert, delay=AGENT_TIMEOUT_MS / 1000 + 1.5)
        self.rogue = FakeAgent(*rcert)
        self.db = f"{d}/dir.db"
        self.log = f"{d}/handler.log"
        self.ciphertexts = []
        self.tokens = {}
        for t in ("alice", "bob"):
            self.tokens[t] = self.admin_ok("add-tenant", t).strip()
        nodes = {"n1": self.agent.port, "slow": self.slow.port,
                 "rogue": self.rogue.port, "down": free_port()}
        for n, port in nodes.items():
            self.admin_ok("add-node", n, f"https://127.0.0.1:{port}",
                          "--ca", self.agent_ca.ca)
        # The real agent, but checked against the system's CAs only.
        self.admin_ok("add-node", "sysca", f"https://127.0.0.1:{self.agent.port}")
        for inst, tenant, node, vm in (
                ("web1", "alice", "n1", "vsbd-web1"),
                ("replayed", "alice", "n1", "vm2"),
                ("garbled", "alice", "n1", "vm3"),
                ("broken", "alice", "n1", "vm4"),
                ("db1", "bob", "n1", "vsbd-db1"),
                ("sleepy", "alice", "slow", "vm5"),
                ("fake", "alice", "rogue", "vm6"),
                ("gone", "alice", "down", "vm7"),
                ("public", "alice", "sysca", "vm9")):
            self.admin_ok("add-instance", inst, "--tenant", tenant,
                          "--node", node, "--vm", vm)
        self.start_handler()

    def start_handler(self):
        # Its own log (--log) says where it listens; the rest of its
        # output goes to handler.out.
        self.svc = Service(
            [HANDLER, "--db", self.db, "--listen", "127.0.0.1:0",
             "--cert", self.cert, "--key", self.key,
             "--agent-timeout", str(AGENT_TIMEOUT_MS), "--log", self.log],
            f"{self.d}/handler.out", "handler", listen_log=self.log)
        self.proc = self.svc.proc
        self.port = self.svc.port

    def admin(self, *args):
        return sh(ADMIN, "--db", self.db, *args)

    def admin_ok(self, *args):
        r = self.admin(*args)
        assert r.returncode == 0, (args, r.stderr)
        return r.stdout

    def url(self, path):
        return f"https://127.0.0.1:{self.port}{path}"

    def curl(self, path, body=None, token=None, extra=(), raw_file=None):
        """Returns (status, body bytes) as the real curl sees them."""
        # Files of their own: tests run queries from several threads.
        fd, out = tempfile.mkstemp(dir=self.d, prefix="out-")
        os.close(fd)
        cmd = ["curl", "-sS", "--cacert", self.handler_ca.ca, "-o", out,
               "-w", "%{http_code}", "--max-time", "30"] + list(extra)
        if token is not None:
            cmd += ["-H", f"Authorization: Bearer {token}"]
        if body is not None or raw_file:
            f = raw_file
            if raw_file is None:
                fd, f = tempfile.mkstemp(dir=self.d, prefix="body-")
                with os.fdopen(fd, "wb") as fh:
                    fh.write(body if isinstance(body, bytes) else body.encode())
            cmd += ["-H", "Content-Type: application/json",
                    "--data-binary", "@" + f]
        r = subprocess.run(cmd + [self.url(path)], capture_output=True)
        assert r.returncode == 0, r.stderr.decode()
        with open(out, "rb") as fh:
            data = fh.read()
        os.unlink(out)
        if body is not None and raw_file is None:
            os.unlink(f)
        return int(r.stdout), data

    def query(self, tenant="alice", instance="web1", token=None, obj=None,
              ciphertext=None, **kw):
        if ciphertext is None:
            ciphertext = ct()
        self.ciphertexts.append(ciphertext)
        if obj is None:
            obj = {"v": 1, "tenant": tenant, "instance": instance,
                   "ciphertext": ciphertext}
        body = obj if isinstance(obj, (str, bytes)) else json.dumps(obj)
        if token is None:
            token = self.tokens.get(tenant, "x" * 43)
        return self.curl("/v1/query", body=body, token=token, **kw)

    def expect(self, status, code, **kw):
        st, body = self.query(**kw)
        assert st == status, (st, body)
        if code:
            j = json.loads(body)
            assert j["code"] == code and isinstance(j["error"], str), j
        self.alive()
        return body

    def alive(self):
        assert self.proc.poll() is None, "handler died"
        st, body = self.curl("/v1/health")
        assert st == 200 and json.loads(body) == {"status": "ok"}, (st, body)

    def close(self):
        self.svc.stop()
        for a in (self.agent, self.slow, self.rogue):
            a.close()
        shutil.rmtree(self.d, ignore_errors=True)


W = None
W_FAILED = None


def world():
    """The shared set-up, made once (a failure is reported by every test
    rather than retried)."""
    global W, W_FAILED
    if W_FAILED is not None:
        raise W_FAILED
    if W is None:
        try:
            W = World()
        except Exception as e:
            W_FAILED = e
            raise
    return W


@test
def admin_usage_errors():
    w = world()
    for args, status, msg in (
            ([], 2, "no command"),
            (["list"], 2, "--db"),
            (["--db", w.db, "frobnicate"], 2, "unknown command"),
            (["--db", w.db, "add-tenant"], 2, "takes 1 argument"),
            (["--db", w.db, "add-tenant", "a", "b"], 2, "takes 1 argument"),
            (["--db", w.db, "add-node", "n9"], 2, "takes 2 arguments"),
            (["--db", w.db, "add-instance", "i9", "--tenant", "alice"], 2,
             "needs --tenant, --node and --vm"),
            (["--db", w.db, "add-tenant", "carol", "--ca", "x"], 2,
             "--ca is only for add-node"),
            (["--db", w.db, "--bogus", "list"], 2, ""),
            (["--db", w.db, "add-tenant", "--", "-bad"], 1, "bad tenant name"),
            (["--db", w.db, "add-tenant", ".hidden"], 1, "bad tenant name"),
            (["--db", w.db, "add-tenant", "a/b"], 1, "bad tenant name"),
            (["--db", w.db, "add-tenant", "x" * 65], 1, "bad tenant name"),
            (["--db", w.db, "add-tenant", "alice"], 1, "already exists"),
            (["--db", w.db, "add-node", "n1", "https://h:1"], 1,
             "already exists"),
            (["--db", w.db, "add-node", "n9", "http://h:1"], 1,
             "bad agent URL"),
            (["--db", w.db, "add-node", "n9", "https://h:1", "--ca",
              "/nonexistent"], 1, "No such file"),
            (["--db", w.db, "add-node", "n9", "https://h:1", "--ca", w.db],
             1, "no PEM certificate"),
            (["--db", w.db, "add-instance", "web1", "--tenant", "alice",
              "--node", "n1", "--vm", "v"], 1, "already exists"),
            (["--db", w.db, "add-instance", "i9", "--tenant", "carol",
              "--node", "n1", "--vm", "v"], 1, "unknown tenant 'carol'"),
            (["--db", w.db, "add-instance", "i9", "--tenant", "alice",
              "--node", "n9", "--vm", "v"], 1, "unknown node 'n9'"),
            (["--db", w.db, "remove-node", "n1"], 1, "still has"),
            (["--db", w.db, "remove-tenant", "bob"], 1, "still has 1"),
            (["--db", w.db, "remove-instance", "nope"], 1,
             "unknown instance 'nope'"),
            (["--db", w.db, "rotate-token", "carol"], 1,
             "unknown tenant 'carol'"),
            (["--db", f"{w.d}/missing.db", "list"], 1, "No such file")):
        r = sh(ADMIN, *args)
        assert r.returncode == status, (args, r.returncode, r.stderr)
        assert msg in r.stderr, (args, r.stderr)
        assert r.stdout == "", (args, r.stdout)
        assert len(r.stderr.strip().splitlines()) <= 2, r.stderr
    r = sh(ADMIN, "--help")
    assert r.returncode == 0 and "add-instance" in r.stdout
    assert not os.path.exists(f"{w.d}/missing.db")


@test
def admin_garbage_db():
    w = world()
    bad = f"{w.d}/garbage.db"
    with open(bad, "wb") as f:
        f.write(b"this is not a database, just bytes\n" * 200)
    for args in (["list"], ["add-tenant", "x"]):
        r = sh(ADMIN, "--db", bad, *args)
        assert r.returncode == 1 and "not an SQLite database" in r.stderr, r
    r = sh(HANDLER, "--db", bad, "--listen", "127.0.0.1:0", "--cert",
           w.cert, "--key", w.key)
    assert r.returncode == 1 and "not an SQLite database" in r.stderr, r
    with open(bad, "rb") as f:   # untouched
        assert f.read().startswith(b"this is not a database")


@test
def admin_list_has_no_secrets():
    w = world()
    out = w.admin_ok("list")
    lines = out.splitlines()
    assert "tenant   alice" in lines and "tenant   bob" in lines, out
    assert any(l.startswith("node     n1  url=https://127.0.0.1:") for l in lines)
    assert ("instance web1  tenant=alice  node=n1  vm=vsbd-web1") in lines
    assert any(l.startswith("node     sysca ") and l.endswith("ca=(system)")
               for l in lines), out
    for tok in w.tokens.values():
        assert tok not in out
    # Nothing that looks like a token or a hash of one.
    assert not re.search(r"[A-Za-z0-9_-]{40,}", out), out
    assert os.stat(w.db).st_mode & 0o077 == 0


@test
def handler_usage_errors():
    w = world()
    for args, msg in (([], "required"),
                      (["--db", w.db, "--listen", "127.0.0.1:0",
                        "--cert", w.cert], "required"),
                      (["--db", w.db, "--listen", "127.0.0.1:0", "--cert",
                        w.cert, "--key", w.key, "--agent-timeout", "0"],
                       "bad agent timeout")):
        r = sh(HANDLER, *args)
        assert r.returncode == 2 and msg in r.stderr, (args, r.stderr)
    for args, msg in ((["--listen", "nowhere:1", "--cert", w.cert, "--key",
                        w.key], "bad listen address"),
                      (["--listen", "127.0.0.1:0", "--cert", w.key, "--key",
                        w.key], "bad certificate or key"),
                      (["--listen", "127.0.0.1:0", "--cert", w.cert, "--key",
                        f"{w.d}/nokey"], "No such file"),
                      (["--listen", f"127.0.0.1:{w.port}", "--cert", w.cert,
                        "--key", w.key], "Address already in use")):
        r = sh(HANDLER, "--db", w.db, *args, timeout=10)
        assert r.returncode == 1 and msg in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


@test
def health_and_unknown_paths():
    w = world()
    w.alive()
    st, body = w.curl("/nope")
    assert st == 404 and json.loads(body)["code"] == "not_found"
    st, body = w.curl("/v1/query")     # GET
    assert st == 405 and json.loads(body)["code"] == "bad_method", st
    st, body = w.curl("/v1/health", body="{}")  # POST
    assert st == 405, st
    w.alive()


@test
def idle_and_concurrent_connections():
    w = world()
    # Idle TCP and half-done TLS connections hold no one else up.
    idle = [socket.create_connection(("127.0.0.1", w.port)) for _ in range(4)]
    ctx = ssl.create_default_context(cafile=w.handler_ca.ca)
    tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", w.port)),
                          server_hostname="127.0.0.1")
    tls.sendall(b"POST /v1/query HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: 100\r\n\r\n{\"v\"")
    w.alive()
    # Sixteen tenants' queries at once, each forwarded with its own body.
    results = {}

    def one(i):
        c = ct()
        results[i] = (c, w.query(ciphertext=c))

    w.agent.received.clear()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r[1][0] == 200 for r in results.values()), results
    got = sorted(json.loads(b)["ciphertext"] for _, _, b in w.agent.received)
    assert got == sorted(r[0] for r in results.values())
    for s in idle + [tls]:
        s.close()
    w.alive()


@test
def query_forwarded_and_answered():
    w = world()
    w.agent.received.clear()
    c = ct()
    st, body = w.query(ciphertext=c)
    assert st == 200, (st, body)
    assert body == FakeAgent.REPLY, body     # byte for byte
    assert len(w.agent.received) == 1
    path, headers, fwd = w.agent.received[0]
    assert path == "/v1/query"
    assert json.loads(fwd) == {"v": 1, "tenant": "alice", "instance": "web1",
                               "vm": "vsbd-web1", "ciphertext": c}, fwd
    assert headers.get("Content-Type") == "application/json"
    # The tenant's token stays with the handler.
    assert not any(k.lower() == "authorization" for k in headers), headers
    # Bob's instance, with Bob's token, goes to Bob's VM.
    st, body = w.query("bob", "db1")
    assert st == 200
    assert json.loads(w.agent.received[-1][2])["vm"] == "vsbd-db1"


@test
def bad_requests_400():
    w = world()
    good = {"v": 1, "tenant": "alice", "instance": "web1",
            "ciphertext": ct()}
    n = len(w.agent.received)
    for obj in ('{"v": 1, "tenant": "alice"',          # malformed
                "",
                "[1, 2]",
                '"just a string"',
                '{"v":1,"tenant":"alice","tenant":"alice","instance":"web1",'
                '"ciphertext":"QUJD"}',                 # duplicate key
                {k: v for k, v in good.items() if k != "ciphertext"},
                {k: v for k, v in good.items() if k != "tenant"},
                dict(good, extra=1),
                dict(good, v=2),
                dict(good, v="1"),
                dict(good, v=1.0),
                dict(good, tenant=7),
                dict(good, instance=None),
                dict(good, instance="../etc"),
                dict(good, tenant=""),
                dict(good, tenant="a" * 65),
                dict(good, ciphertext=""),
                dict(good, ciphertext="not base64!"),
                dict(good, ciphertext={"x": 1}),
                b'{"v":1,"tenant":"al\xffice","instance":"web1",'
                b'"ciphertext":"QUJD"}',                # not UTF-8
                '{"v":1,"tenant":"alice\\u0000","instance":"web1",'
                '"ciphertext":"QUJD"}',
                json.dumps(good) + " trailing"):
        w.expect(400, "bad_request", obj=obj)
    assert len(w.agent.received) == n, "a bad request reached the agent"


@test
def too_large_413():
    w = world()
    big = f"{w.d}/big"
    with open(big, "wb") as f:
        f.write(b'{"v":1,"tenant":"alice","instance":"web1","ciphertext":"')
        f.write(b"A" * (9 << 20))
        f.write(b'"}')
    w.expect(413, "too_large", raw_file=big)
    # Chunked: no Content-Length to refuse early.
    w.expect(413, "too_large", raw_file=big,
             extra=["-H", "Transfer-Encoding: chunked"])
    # Just under the limit is read (and then judged on its content).
    ok = f"{w.d}/ok"
    c = "QUJD" * ((8 << 20) // 4 - 40)
    with open(ok, "w") as f:
        f.write(json.dumps({"v": 1, "tenant": "alice", "instance": "web1",
                            "ciphertext": c}))
    assert os.path.getsize(ok) <= 8 << 20
    st, _ = w.query(raw_file=ok)
    assert st == 200, st


@test
def bad_token_401():
    w = world()
    n = len(w.agent.received)
    bodies = set()
    for kw in (dict(token=w.tokens["bob"]),                 # bob's for alice
               dict(token="x" * 43),                        # well formed
               dict(token="short"),
               dict(token=""),
               dict(tenant="mallory", token=w.tokens["alice"]),  # unknown
               dict(tenant="mallory", instance="nope", token="x" * 43),
               dict(token=w.tokens["alice"] + "x")):
        bodies.add(w.expect(401, "bad_token", **kw))
    # No header at all.
    st, body = w.curl("/v1/query", body=json.dumps(
        {"v": 1, "tenant": "alice", "instance": "web1", "ciphertext": ct()}))
    assert st == 401
    bodies.add(body)
    # Unknown tenant and bad token read the same.
    assert len(bodies) == 1, bodies
    assert len(w.agent.received) == n


@test
def unknown_instance_404_and_not_owner_403():
    w = world()
    n = len(w.agent.received)
    w.expect(404, "unknown_instance", instance="nope")
    w.expect(403, "not_owner", instance="db1")               # bob's
    w.expect(403, "not_owner", tenant="bob", instance="web1")  # alice's
    assert len(w.agent.received) == n


@test
def agent_unreachable_502():
    w = world()
    w.expect(502, "agent_unreachable", instance="gone")     # agent down
    w.expect(502, "agent_unreachable", instance="fake")     # wrong CA
    assert w.rogue.received == [], "TLS to the rogue agent went through"
    # The node's CA is not the system's.
    n = len(w.agent.received)
    w.expect(502, "agent_unreachable", instance="public")
    assert len(w.agent.received) == n
    # An instance whose node is not in the directory (the file edited
    # behind the admin tool's back, foreign keys off).
    subprocess.run(["sqlite3", w.db,
                    "PRAGMA foreign_keys=OFF; INSERT INTO instances "
                    "VALUES ('orphan', 'alice', 'ghost', 'vm8');"],
                   check=True, capture_output=True)
    w.expect(502, "agent_unreachable", instance="orphan")


@test
def agent_timeout_504():
    w = world()
    w.expect(504, "agent_timeout", instance="sleepy")


@test
def slow_agent_does_not_block_others():
    w = world()
    out = f"{w.d}/slow-out"
    with open(f"{w.d}/slow-body", "w") as f:
        c = ct()
        w.ciphertexts.append(c)
        f.write(json.dumps({"v": 1, "tenant": "alice", "instance": "sleepy",
                            "ciphertext": c}))
    slow = subprocess.Popen(
        ["curl", "-sS", "--cacert", w.handler_ca.ca, "-o", out, "-w",
         "%{http_code}", "-H", f"Authorization: Bearer {w.tokens['alice']}",
         "--data-binary", f"@{w.d}/slow-body", w.url("/v1/query")],
        stdout=subprocess.PIPE)
    time.sleep(0.2)
    st, _ = w.query()
    assert st == 200
    assert slow.poll() is None, "the fast query waited for the slow one"
    assert slow.communicate(timeout=30)[0] == b"504"


@test
def agent_refusal_passed_through():
    w = world()
    body = w.expect(409, None, instance="replayed")
    assert body == b'{"error": "replayed request", "code": "replay"}', body
    # A 200 that is not the protocol's, and a 500, are not passed on.
    w.expect(502, "agent_error", instance="garbled")
    w.expect(502, "agent_error", instance="broken")


@test
def token_rotation_and_removal_take_effect_live():
    w = world()
    old = w.tokens["alice"]
    new = w.admin_ok("rotate-token", "alice").strip()
    assert new != old and len(new) == 43
    w.tokens["alice"] = new
    w.expect(401, "bad_token", token=old)
    w.expect(200, None)
    w.admin_ok("add-instance", "tmp1", "--tenant", "alice", "--node", "n1",
               "--vm", "vmt")
    w.expect(200, None, instance="tmp1")
    w.admin_ok("remove-instance", "tmp1")
    w.expect(404, "unknown_instance", instance="tmp1")


@test
def metrics():
    w = world()
    st, body = w.curl("/metrics")
    assert st == 200
    text = body.decode()

    def val(name):
        m = re.search("^" + re.escape(name) + r" ([0-9.]+)$", text, re.M)
        assert m, (name, text)
        return float(m.group(1))

    assert val('cryptvmi_handler_requests_total{code="200"}') >= 5
    for code in (400, 401, 403, 404, 409, 413, 502, 504):
        assert val(f'cryptvmi_handler_requests_total{{code="{code}"}}') >= 1
    fwd = val("cryptvmi_handler_forwards_total")
    assert fwd >= 8
    assert val("cryptvmi_handler_forward_seconds_count") == fwd
    assert val("cryptvmi_handler_forward_seconds_sum") > 0
    for kind in ("unreachable", "timeout", "bad_reply", "unknown_node"):
        assert val(f'cryptvmi_handler_agent_errors_total{{kind="{kind}"}}') >= 1
    assert val("cryptvmi_handler_agent_refusals_total") >= 1
    assert "# TYPE cryptvmi_handler_requests_total counter" in text
    for name in ("alice", "bob", "web1"):
        assert name not in text


@test
def log_and_db_hold_no_secrets():
    w = world()
    w.alive()
    log = open(w.log, "rb").read()
    lines = log.decode().splitlines()
    assert any(re.search(r" query tenant=alice instance=web1 status=200 "
                         r"us=\d+$", l) for l in lines), log[-2000:]
    assert any("status=401" in l and "code=bad_token" in l for l in lines)
    assert any("status=504" in l and "code=agent_timeout" in l for l in lines)
    files = [w.db, w.db + "-wal", w.db + "-shm"]
    blobs = [log] + [open(f, "rb").read() for f in files if os.path.exists(f)]
    secrets_ = list(w.tokens.values()) + w.ciphertexts
    assert len(w.ciphertexts) > 20
    for blob in blobs:
        for s in secrets_:
            assert s.encode() not in blob, "a secret leaked"
    # Every line is "TIME text", short, no body in it.
    for l in lines:
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z ", l), l
        assert len(l) < 400, l


@test
def stops_on_sigterm():
    w = world()
    w.proc.terminate()
    assert w.proc.wait(15) == 0
    assert "stopping" in open(w.log).read()


def main():
    try:
        run_all()
    finally:
        if W is not None:
            W.close()


if __name__ == "__main__":
    main()
