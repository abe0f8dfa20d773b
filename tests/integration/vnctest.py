"""Real VNC clients for the tests: vncsnapshot for screenshots and TigerVNC's
viewer under Xvfb, driven by xdotool, for typing. Both reach vsbd's VNC
server through an `ssh -L` tunnel, as a tenant's would."""
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time

from vsbtest import Skip

TOOLS = ("vncsnapshot", "Xvfb", "xtigervncviewer", "xdotool")


def need_tools():
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise Skip("missing " + ", ".join(missing) + " (scripts/setup.sh installs them)")
    try:
        import PIL  # noqa: F401
    except ImportError:
        raise Skip("no python3-pil")


def free_vnc_port():
    """A free loopback port >= 5900, so VNC clients can name it as a display
    number (port - 5900)."""
    for _ in range(100):
        port = 5900 + random.randint(100, 9000)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise AssertionError("no free port")


def wait_port(port, timeout=15, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"tunnel exited {proc.returncode}: "
                                 + proc.stderr.read().decode(errors="replace"))
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"port {port} never opened")


class Tunnel:
    """ssh -N -L PORT:localhost:5900 to the VM: the tenant's way in."""

    def __init__(self, sshvm, target="localhost:5900"):
        self.port = free_vnc_port()
        self.proc = subprocess.Popen(
            sshvm.ssh_args(tty=False, extra=["-N", "-o", "ExitOnForwardFailure=yes",
                                             "-L", f"{self.port}:{target}"]),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        wait_port(self.port, proc=self.proc)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def snapshot(port, timeout=30):
    """One screenshot through vncsnapshot, as a PIL image (RGB)."""
    from PIL import Image
    d = tempfile.mkdtemp(prefix="vsbsnap-")
    path = os.path.join(d, "shot.jpg")
    try:
        r = subprocess.run(["vncsnapshot", "-quiet", "-allowblank", "-quality", "100",
                            "-nojpeg", f"127.0.0.1:{port - 5900}", path],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout)
        assert r.returncode == 0 and os.path.exists(path), \
            f"vncsnapshot failed ({r.returncode}): {r.stderr.decode(errors='replace')}"
        img = Image.open(path)
        img.load()
        return img.convert("RGB")
    finally:
        shutil.rmtree(d)


def wait_for_text(port, finder, timeout=20):
    """Takes screenshots until finder(image) is true; returns the image."""
    deadline = time.monotonic() + timeout
    while True:
        img = snapshot(port)
        if finder(img):
            return img
        if time.monotonic() > deadline:
            return None
        time.sleep(0.3)


class Viewer:
    """TigerVNC's viewer on a private Xvfb display; type() sends real X key
    events to it with xdotool, which the viewer turns into RFB key events."""

    def __init__(self, port):
        self.display = f":{random.randint(200, 900)}"
        self.env = dict(os.environ, DISPLAY=self.display)
        self.xvfb = subprocess.Popen(["Xvfb", self.display, "-screen", "0", "1280x1024x24",
                                      "-nolisten", "tcp"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.viewer = None
        sock = f"/tmp/.X11-unix/X{self.display[1:]}"
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            if self.xvfb.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("Xvfb did not start")
            time.sleep(0.05)
        self.viewer = subprocess.Popen(
            ["xtigervncviewer", "-SecurityTypes", "None", "-Shared=1",
             "-AcceptClipboard=0", "-SendClipboard=0", f"127.0.0.1::{port}"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        r = subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--name", "TigerVNC"],
                           env=self.env, capture_output=True, timeout=20)
        ids = r.stdout.split()
        assert ids, "the viewer window never appeared: " + r.stderr.decode(errors="replace")
        self.window = ids[0].decode()
        subprocess.run(["xdotool", "windowfocus", "--sync", self.window], env=self.env,
                       capture_output=True, timeout=10)

    def type(self, text, delay_ms=40):
        subprocess.run(["xdotool", "type", "--delay", str(delay_ms), text],
                       env=self.env, check=True, timeout=60)

    def key(self, *keys):
        subprocess.run(["xdotool", "key", "--delay", "40"] + list(keys),
                       env=self.env, check=True, timeout=30)

    def close(self):
        for p in (self.viewer, self.xvfb):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if self.viewer is not None:
            self.viewer.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
