"""Harness for the CryptVMI tests: TLS certificates (certtool), the agent,
the handler and its directory, tenants with the real `cryptvmi` CLI, and
an operator's tap: a TLS-terminating proxy that records every byte the
handler receives and sends, and can tamper with, replay or swap them (the
operator controls the handler, so everything the tap does the handler
could do)."""
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time

from vsbtest import BUILD

AGENT = os.path.join(BUILD, "cryptvmi-agent")
HANDLER = os.path.join(BUILD, "cryptvmi-handler")
ADMIN = os.path.join(BUILD, "cryptvmi-admin")
CLI = os.path.join(BUILD, "cryptvmi")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def run(*cmd, check=True, **kw):
    r = subprocess.run(list(cmd), capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: "
                           f"{r.stdout}{r.stderr}")
    return r


class Pki:
    """A test CA and certificates for 127.0.0.1 signed by it. name: the
    CA's files in d (several CAs can share d), cn: its certificate's."""

    def __init__(self, d, name="ca", cn="cryptvmi test CA"):
        self.d = d
        self.ca_key = os.path.join(d, name + ".key")
        self.ca = os.path.join(d, name + ".pem")
        tmpl = os.path.join(d, name + ".tmpl")
        with open(tmpl, "w") as f:
            f.write(f'cn = "{cn}"\nca\ncert_signing_key\n'
                    'expiration_days = 2\n')
        run("certtool", "--generate-privkey", "--key-type", "ecdsa",
            "--outfile", self.ca_key)
        run("certtool", "--generate-self-signed", "--load-privkey",
            self.ca_key, "--template", tmpl, "--outfile", self.ca)

    def cert(self, name):
        key = os.path.join(self.d, name + ".key")
        crt = os.path.join(self.d, name + ".pem")
        tmpl = os.path.join(self.d, name + ".tmpl")
        with open(tmpl, "w") as f:
            f.write(f'cn = "{name}"\nip_address = "127.0.0.1"\n'
                    'dns_name = "localhost"\ntls_www_server\n'
                    'encryption_key\nsigning_key\nexpiration_days = 2\n')
        run("certtool", "--generate-privkey", "--key-type", "ecdsa",
            "--outfile", key)
        run("certtool", "--generate-certificate", "--load-privkey", key,
            "--load-ca-certificate", self.ca, "--load-ca-privkey",
            self.ca_key, "--template", tmpl, "--outfile", crt)
        return crt, key


def _check_alive(proc, what):
    if proc.poll() is not None:
        raise RuntimeError(f"{what} exited {proc.returncode}: "
                           + open(proc.args_log).read()[-2000:])


def wait_port(port, proc, what, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        _check_alive(proc, what)
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{what} never listened on {port}")


def wait_listening(log, proc, what, timeout=20):
    """The port a server given --listen 127.0.0.1:0 says in log that it
    bound ("listening on 127.0.0.1:PORT")."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        _check_alive(proc, what)
        if os.path.exists(log):
            with open(log, errors="replace") as f:
                m = re.search(r"listening on 127\.0\.0\.1:(\d+)", f.read())
            if m:
                return int(m.group(1))
        time.sleep(0.05)
    raise TimeoutError(f"{what} never said where it listens")


class Service:
    """A server process with its stdout and stderr in a log file. Without
    a port it binds one itself (--listen 127.0.0.1:0) and says which in
    listen_log (default: that log)."""

    def __init__(self, cmd, log, what, port=None, listen_log=None):
        self.log = log
        self._f = open(log, "w")
        self.proc = subprocess.Popen(cmd, stdout=self._f,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.proc.args_log = log
        try:
            if port is None:
                port = wait_listening(listen_log or log, self.proc, what)
            else:
                wait_port(port, self.proc, what)
        except Exception:
            self.stop()
            raise
        self.port = port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._f.close()

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()


class Agent:
    def __init__(self, root, pki, name):
        self.dir = os.path.join(root, name)
        self.name = name
        os.makedirs(self.dir)
        run(AGENT, "--dir", self.dir, "keygen")
        self.pub = os.path.join(self.dir, "agent.pub")
        self.cert, self.key = pki.cert(name)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.svc = None

    def enroll(self, tenant, pub):
        run(AGENT, "--dir", self.dir, "enroll-tenant", tenant, pub)

    def add_instance(self, inst, tenant, vm, source):
        run(AGENT, "--dir", self.dir, "add-instance", inst, tenant, vm,
            source)

    def start(self):
        self.svc = Service([AGENT, "--dir", self.dir, "serve", "--listen",
                            f"127.0.0.1:{self.port}", "--cert", self.cert,
                            "--key", self.key],
                           os.path.join(self.dir, "log"), "agent",
                           self.port)

    def stop(self):
        if self.svc:
            self.svc.stop()


class Handler:
    def __init__(self, root, pki):
        self.db = os.path.join(root, "directory.sqlite")
        self.cert, self.key = pki.cert("handler")
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.logfile = os.path.join(root, "handler.log")
        self.svc = None

    def admin(self, *args, check=True):
        return run(ADMIN, "--db", self.db, *args, check=check)

    def start(self):
        self.svc = Service([HANDLER, "--db", self.db, "--listen",
                            f"127.0.0.1:{self.port}", "--cert", self.cert,
                            "--key", self.key, "--agent-timeout", "8000"],
                           self.logfile, "handler", self.port)

    def stop(self):
        if self.svc:
            self.svc.stop()


class Tenant:
    def __init__(self, root, name):
        self.name = name
        self.dir = os.path.join(root, "tenant-" + name)
        self.cli("keygen")
        self.pub = os.path.join(self.dir, "tenant.pub")

    def cli(self, *args, check=True):
        return run(CLI, "--config", self.dir, *args, check=check)

    def json(self, *args):
        import json
        return json.loads(self.cli("--json", *args).stdout)


class Tap:
    """The operator's tap: terminates TLS with its own certificate (the
    operator runs the handler, so it has one), records every byte in both
    directions, forwards to upstream over TLS. `mode` lets a test act as a
    malicious operator on the next exchange: "tamper-request",
    "tamper-response", "swap" (answer with the previous response)."""

    def __init__(self, pki, name, upstream_port, ca):
        self.cert, self.key = pki.cert(name)
        self.port = free_port()
        self.up = upstream_port
        self.ca = ca
        self.recorded = bytearray()
        self.requests, self.responses = [], []
        self.mode = None
        self.lock = threading.Lock()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", self.port))
        self.srv.listen(64)
        self.sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.sctx.load_cert_chain(self.cert, self.key)
        self.cctx = ssl.create_default_context(cafile=ca)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    @staticmethod
    def _read_http(s):
        """One HTTP message (headers + Content-Length body) or b""."""
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                return buf
            buf += d
        head, _, body = buf.partition(b"\r\n\r\n")
        n = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v.strip())
        while len(body) < n:
            d = s.recv(65536)
            if not d:
                break
            body += d
        return head + b"\r\n\r\n" + body

    @staticmethod
    def _flip_ciphertext(msg):
        """Changes one base64 character inside "ciphertext": a bit flip in
        the box."""
        i = msg.find(b'"ciphertext":')
        if i < 0:
            return msg
        j = msg.find(b'"', i + 13) + 20
        c = msg[j:j + 1]
        return msg[:j] + (b"A" if c != b"A" else b"B") + msg[j + 1:]

    def _serve(self, c):
        try:
            cs = self.sctx.wrap_socket(c, server_side=True)
            up = self.cctx.wrap_socket(
                socket.create_connection(("127.0.0.1", self.up), 10),
                server_hostname="127.0.0.1")
            while True:
                req = self._read_http(cs)
                if not req:
                    break
                with self.lock:
                    mode = self.mode
                    if mode:
                        self.mode = None
                    self.recorded += req
                    self.requests.append(req)
                if mode == "tamper-request":
                    req = self._flip_ciphertext(req)
                up.sendall(req)
                resp = self._read_http(up)
                with self.lock:
                    self.recorded += resp
                    prev = self.responses[-1] if self.responses else resp
                    self.responses.append(resp)
                if mode == "tamper-response":
                    resp = self._flip_ciphertext(resp)
                elif mode == "swap":
                    resp = prev
                cs.sendall(resp)
        except (OSError, ssl.SSLError):
            pass
        finally:
            c.close()

    def close(self):
        self.srv.close()


def cleanup(root):
    shutil.rmtree(root, ignore_errors=True)


def tempdir():
    return tempfile.mkdtemp(prefix="cvmitest-")
