#!/usr/bin/env python3
"""cryptvmi-agent as an administrator and the handler see it: its state
commands (keygen, enroll-tenant, add-instance, list) and their refusals,
then `serve` over real HTTPS (certtool certificates, curl --cacert) with
every refusal that needs no sealed request: health, malformed and
incomplete JSON, an oversized body, an unknown tenant, ciphertexts that
do not open, wrong methods and paths, idle connections. The agent must
answer each with its documented status and code, keep serving, and log
one line per request without the ciphertext. Sealed requests end to end
are in test_cryptvmi.py (with the tenant CLI)."""
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vsbtest import BUILD, Skip, run_all, test  # noqa: E402
from cvmitest import Pki, Service, run  # noqa: E402

AGENT = os.path.join(BUILD, "cryptvmi-agent")


def agent(d, *args):
    r = subprocess.run([AGENT, "--dir", d] + list(args),
                       capture_output=True, text=True, timeout=30)
    # The ASan build reports here.
    assert "runtime error" not in r.stderr and "Sanitizer" not in r.stderr, r
    return r


def certs(d):
    """A test CA in d and the agent's certificate for 127.0.0.1 from it:
    (CA file, certificate, key)."""
    if not shutil.which("certtool"):
        raise Skip("no certtool (gnutls-bin)")
    pki = Pki(d)
    return (pki.ca,) + pki.cert("agent")


class Served:
    """An agent state directory with two tenants and an instance, served
    on a free loopback port."""

    def __init__(self):
        if not shutil.which("curl"):
            raise Skip("no curl")
        self.tmp = tempfile.mkdtemp(prefix="cvmi-agent-")
        self.st = os.path.join(self.tmp, "st")
        self.ca, self.cert, self.key = certs(self.tmp)
        for cmd in (["keygen"],):
            r = agent(self.st, *cmd)
            assert r.returncode == 0, r
        for t in ("alice", "bob"):
            td = os.path.join(self.tmp, t)
            assert agent(td, "keygen").returncode == 0
            r = agent(self.st, "enroll-tenant", t,
                      os.path.join(td, "agent.pub"))
            assert r.returncode == 0, r
        ram = os.path.join(self.tmp, "ram")
        with open(ram, "wb") as f:
            f.truncate(1 << 20)
        r = agent(self.st, "add-instance", "web1", "alice", "vm-web1",
                  f"ram:{ram}:pc")
        assert r.returncode == 0, r
        try:
            self.svc = Service([AGENT, "--dir", self.st, "serve", "--listen",
                                "127.0.0.1:0", "--cert", self.cert, "--key",
                                self.key],
                               os.path.join(self.tmp, "agent.log"), "agent")
        except Exception:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        self.proc = self.svc.proc
        self.port = self.svc.port
        self.url = f"https://127.0.0.1:{self.port}"

    def text(self):
        return self.svc.text()

    def curl(self, path, body=None, method=None, extra=()):
        """(status, parsed JSON body or raw text) through real TLS."""
        cmd = ["curl", "-sS", "--max-time", "20", "--cacert", self.ca,
               "-o", "-", "-w", "\n%{http_code}"]
        if body is not None:
            bf = os.path.join(self.tmp, f"body-{threading.get_ident()}")
            with open(bf, "wb") as f:
                f.write(body if isinstance(body, bytes) else body.encode())
            cmd += ["-X", "POST", "-H", "Content-Type: application/json",
                    "--data-binary", "@" + bf]
        if method:
            cmd += ["-X", method]
        cmd += list(extra) + [self.url + path]
        r = subprocess.run(cmd, capture_output=True, timeout=30)
        out, _, code = r.stdout.rpartition(b"\n")
        try:
            parsed = json.loads(out)
        except ValueError:
            parsed = out.decode(errors="replace")
        return int(code or 0), parsed

    def check_log(self):
        """No sanitizer report (the ASan build) in the agent's output."""
        log = self.text()
        assert "runtime error" not in log and "Sanitizer" not in log, log

    def close(self):
        self.svc.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def query(**fields):
    base = {"v": 1, "tenant": "alice", "instance": "web1", "vm": "vm-web1",
            "ciphertext": "AAAA"}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None})


def refused(got, status, code):
    st, body = got
    assert st == status, (got, status)
    assert isinstance(body, dict) and set(body) == {"error", "code"}, got
    assert body["code"] == code, (got, code)


@test
def state_commands_and_their_refusals():
    with tempfile.TemporaryDirectory() as t:
        st = os.path.join(t, "st")
        r = agent(st, "keygen")
        assert r.returncode == 0, r
        lines = r.stdout.splitlines()
        assert re.fullmatch(r"cryptvmi-public-key-v1 [A-Za-z0-9+/]{43}=",
                            lines[0]), lines
        assert lines[1].startswith("fingerprint "), lines
        assert open(os.path.join(st, "agent.pub")).read().strip() == lines[0]
        assert os.stat(os.path.join(st, "agent.key")).st_mode & 0o777 == 0o600
        # Never a second key over the first.
        r = agent(st, "keygen")
        assert r.returncode == 1 and "agent.key" in r.stderr, r
        assert open(os.path.join(st, "agent.pub")).read().strip() == lines[0]

        td = os.path.join(t, "alice")
        assert agent(td, "keygen").returncode == 0
        pub, sec = os.path.join(td, "agent.pub"), os.path.join(td, "agent.key")
        r = agent(st, "enroll-tenant", "alice", pub)
        assert r.returncode == 0 and "enrolled tenant alice" in r.stdout, r
        r = agent(st, "enroll-tenant", "alice", pub)
        assert r.returncode == 1 and "already enrolled" in r.stderr, r
        # A secret key, garbage, a bad name: refused, nothing written.
        r = agent(st, "enroll-tenant", "bob", sec)
        assert r.returncode == 1, r
        secret_b64 = open(sec).read().split()[1]
        assert secret_b64[:20] not in r.stderr + r.stdout
        junk = os.path.join(t, "junk.pub")
        with open(junk, "w") as f:
            f.write("cryptvmi-public-key-v1 not-base64!\n")
        assert agent(st, "enroll-tenant", "bob", junk).returncode == 1
        assert agent(st, "enroll-tenant", "../bob", pub).returncode == 2
        assert sorted(os.listdir(os.path.join(st, "tenants"))) == ["alice.pub"]

        r = agent(st, "add-instance", "web1", "alice", "vm-web1",
                  "qemu:/dev/shm/g:/run/g.qmp")
        assert r.returncode == 0, r
        r = agent(st, "add-instance", "db1", "alice", "vm-db1",
                  "vsbd:/run/vsbd/db1.ctl")
        assert r.returncode == 0, r
        r = agent(st, "add-instance", "web1", "alice", "vm-x", "core:/c")
        assert r.returncode == 1 and "already" in r.stderr, r
        r = agent(st, "add-instance", "web2", "carol", "vm-x", "core:/c")
        assert r.returncode == 1 and "not enrolled" in r.stderr, r
        for src in ("qemu:/only-one-path", "vsbd:relative", "xen:/a",
                    "ram:/r:sparc", "core:/a b"):
            r = agent(st, "add-instance", "web3", "alice", "vm3", src)
            assert r.returncode == 2, (src, r)
        assert agent(st, "add-instance", "a/b", "alice", "v",
                     "core:/c").returncode == 2
        with open(os.path.join(st, "instances")) as f:
            assert f.read() == ("web1 alice vm-web1 qemu:/dev/shm/g:/run/g.qmp\n"
                                "db1 alice vm-db1 vsbd:/run/vsbd/db1.ctl\n")
        r = agent(st, "list")
        assert r.returncode == 0, r
        assert "alice" in r.stdout and "vm-db1" in r.stdout, r.stdout
        assert "qemu:/dev/shm/g:/run/g.qmp" in r.stdout, r.stdout
        assert lines[1].split()[1] in r.stdout

        # A hand-edited file with a mistake: list and serve name its line.
        with open(os.path.join(st, "instances"), "a") as f:
            f.write("# fine\nweb9 alice vm9\n")
        r = agent(st, "list")
        assert r.returncode == 1 and "line 4" in r.stderr, r
        r = agent(st, "serve", "--listen", "127.0.0.1:0", "--cert", "/x",
                  "--key", "/y")
        assert r.returncode == 1 and "line 4" in r.stderr, r
        # Usage errors.
        assert agent(st, "frobnicate").returncode == 2
        assert agent(st, "serve").returncode == 2
        assert agent(st, "serve", "--listen", "x", "--cert", "c", "--key",
                     "k", "--max-skew", "0").returncode == 2
        r = subprocess.run([AGENT, "--help"], capture_output=True, text=True)
        assert r.returncode == 0 and "add-instance" in r.stdout


@test
def serve_refuses_bad_listen_and_certificates():
    with tempfile.TemporaryDirectory() as t:
        st = os.path.join(t, "st")
        assert agent(st, "keygen").returncode == 0
        _, crt, key = certs(t)
        for listen in ("127.0.0.1", "127.0.0.1:99999", "localhost:1",
                       ":80", "127.0.0.1:-1"):
            r = agent(st, "serve", "--listen", listen, "--cert", crt,
                      "--key", key)
            assert r.returncode == 1 and "--listen" in r.stderr, (listen, r)
        r = agent(st, "serve", "--listen", "127.0.0.1:0", "--cert",
                  os.path.join(t, "nope.pem"), "--key", key)
        assert r.returncode == 1 and "nope.pem" in r.stderr, r
        garbage = os.path.join(t, "garbage.pem")
        with open(garbage, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nAAAA\n")
        r = agent(st, "serve", "--listen", "127.0.0.1:0", "--cert", garbage,
                  "--key", key)
        assert r.returncode == 1 and "not PEM" in r.stderr, r
        # A key that is not the certificate's.
        other = os.path.join(t, "other.key")
        run("certtool", "--generate-privkey", "--key-type", "ecdsa",
            "--outfile", other)
        r = agent(st, "serve", "--listen", "127.0.0.1:0", "--cert", crt,
                  "--key", other)
        assert r.returncode == 1 and "not a PEM pair" in r.stderr, r
        # A port someone else holds.
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            r = agent(st, "serve", "--listen", f"127.0.0.1:{port}", "--cert",
                      crt, "--key", key)
            assert r.returncode == 1 and "cannot serve" in r.stderr, r
        # The TLS key never appears in a message.
        assert open(key).read().splitlines()[1][:20] not in r.stderr


@test
def health_and_refusals_over_https():
    s = Served()
    try:
        st, body = s.curl("/v1/health")
        assert (st, body) == (200, {"status": "ok"}), (st, body)
        refused(s.curl("/v1/query", "{not json"), 400, "bad_request")
        refused(s.curl("/v1/query", "[]"), 400, "bad_request")
        refused(s.curl("/v1/query", ""), 400, "bad_request")
        refused(s.curl("/v1/query", query(vm=None)), 400, "bad_request")
        refused(s.curl("/v1/query", query(v=2)), 400, "bad_request")
        refused(s.curl("/v1/query", query(v="1")), 400, "bad_request")
        refused(s.curl("/v1/query", query(extra=1)), 400, "bad_request")
        refused(s.curl("/v1/query", query(tenant="../alice")), 400,
                "bad_request")
        refused(s.curl("/v1/query", query(ciphertext=5)), 400, "bad_request")
        dup = ('{"v":1,"tenant":"alice","tenant":"bob","instance":"web1",'
               '"vm":"vm-web1","ciphertext":"AAAA"}')
        refused(s.curl("/v1/query", dup), 400, "bad_request")
        refused(s.curl("/v1/query", query(tenant="mallory")), 404, "unknown")
        # Ciphertexts that do not open: garbage, not base64, bob's
        # request relabelled is the same to the agent (the box does not
        # open with alice's key).
        for ct in ("AAAA", "", "not base64!", "A" * 200, "=" * 8,
                   "QUFB" * 50000):
            refused(s.curl("/v1/query", query(ciphertext=ct)), 401,
                    "bad_ciphertext")
        refused(s.curl("/v1/query", query(tenant="bob", ciphertext="QUFB")),
                401, "bad_ciphertext")
        # Over 8 MiB: refused from Content-Length, body unread.
        big = query(ciphertext="A" * (8 << 20))
        refused(s.curl("/v1/query", big), 413, "too_large")
        # Wrong method, unknown path.
        refused(s.curl("/v1/query"), 405, "bad_method")
        refused(s.curl("/v1/health", "{}"), 405, "bad_method")
        refused(s.curl("/v1/nothing"), 404, "not_found")
        st, body = s.curl("/v1/health")
        assert st == 200, (st, body)
        # One line per request; the ciphertexts never logged.
        log = s.text()
        lines = [l for l in log.splitlines() if "status=" in l]
        assert len(lines) == 24, log
        assert "QUFBQUFB" not in log and "not base64" not in log, log
        assert re.search(r"query tenant=alice instance=web1 op=- "
                         r"status=401 code=bad_ciphertext us=\d+", log), log
        assert re.search(r"query tenant=mallory instance=web1 op=- "
                         r"status=404 code=unknown", log), log
        assert s.proc.poll() is None
        s.check_log()
    finally:
        s.close()


@test
def tls_is_required_and_verified():
    s = Served()
    try:
        # Plain HTTP on the TLS port: no answer in the clear.
        c = socket.create_connection(("127.0.0.1", s.port), 5)
        c.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        c.settimeout(5)
        try:
            data = c.recv(4096)
        except (socket.timeout, OSError):
            data = b""
        c.close()
        assert b"status" not in data, data
        # Without the CA, curl refuses the certificate.
        r = subprocess.run(["curl", "-sS", "--max-time", "10",
                            s.url + "/v1/health"], capture_output=True)
        assert r.returncode != 0, r
        # Python's TLS client: TLS 1.2 or better.
        ctx = ssl.create_default_context(cafile=s.ca)
        with socket.create_connection(("127.0.0.1", s.port), 5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                assert tls.version() in ("TLSv1.2", "TLSv1.3"), tls.version()
        assert s.curl("/v1/health")[0] == 200
        s.check_log()
    finally:
        s.close()


@test
def keeps_serving_idle_and_concurrent_clients():
    s = Served()
    try:
        # Idle connections (TCP only, and TLS with no request) do not
        # block others.
        idle = [socket.create_connection(("127.0.0.1", s.port), 5)
                for _ in range(8)]
        ctx = ssl.create_default_context(cafile=s.ca)
        tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", s.port),
                                                       5),
                              server_hostname="127.0.0.1")
        # A body cut short by the client.
        half = ctx.wrap_socket(socket.create_connection(("127.0.0.1", s.port),
                                                        5),
                               server_hostname="127.0.0.1")
        half.sendall(b"POST /v1/query HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"v\":1")
        half.close()
        results = []

        def one(i):
            results.append(s.curl("/v1/query",
                                  query(ciphertext="QUFB" * (i + 1))))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 24
        for got in results:
            refused(got, 401, "bad_ciphertext")
        for c in idle:
            c.close()
        tls.close()
        assert s.curl("/v1/health")[0] == 200
        assert s.proc.poll() is None
        # SIGTERM stops it cleanly.
        s.proc.terminate()
        assert s.proc.wait(10) == 0
        assert "stopping" in s.text()
        s.check_log()
    finally:
        s.close()


if __name__ == "__main__":
    run_all()
