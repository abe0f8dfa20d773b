"""A small RFB 3.8 (VNC) client for benchmarks: security type None,
32 bpp true colour, Raw and CopyRect encodings (plus the DesktopSize
pseudo-encoding, so a server that changes mode mid-session keeps the frame
right), incremental update requests and key events. It keeps a copy of the
remote frame in `fb` (XRGB8888 little endian: bytes B, G, R, X per pixel,
`stride` bytes a line), which is what the benchmarks inspect.

    c = RfbClient("127.0.0.1", 5900)
    c.request(incremental=False)
    while True:
        rects = c.read_update(deadline)   # applied to c.fb already
        c.request()                       # ask for the next change
        ...

Not a general client: no other security types, encodings or server
messages beyond Bell, SetColourMapEntries and ServerCutText (read and
dropped)."""
import select
import socket
import struct
import time

ENC_RAW = 0
ENC_COPYRECT = 1
ENC_DESKTOP_SIZE = -223

XK_SHIFT_L = 0xFFE1


class RfbError(Exception):
    pass


class RfbClient:
    def __init__(self, host, port, timeout=30):
        self.sock = socket.create_connection((host, port), timeout)
        # Key events are a few bytes each: send them at once.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(None)
        self.rbuf = bytearray()
        self.received = 0  # bytes from the server so far
        self.deadline = time.monotonic() + timeout
        self._handshake()
        self.deadline = None

    # ---- reading ----

    def _fill(self):
        """At least one more byte into rbuf."""
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                raise RfbError("timed out waiting for the server")
        data = self.sock.recv(1 << 20)
        if not data:
            raise RfbError("server closed the connection")
        self.received += len(data)
        self.rbuf += data

    def _read(self, n):
        while len(self.rbuf) < n:
            self._fill()
        out = bytes(self.rbuf[:n])
        del self.rbuf[:n]
        return out

    def _read_into(self, mv):
        """Fills the memoryview mv: buffered bytes first, then straight
        from the socket (a full-screen update is 3 MB: no extra copy)."""
        k = min(len(self.rbuf), len(mv))
        mv[:k] = self.rbuf[:k]
        del self.rbuf[:k]
        while k < len(mv):
            if self.deadline is not None:
                left = self.deadline - time.monotonic()
                if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                    raise RfbError("timed out in the middle of an update")
            n = self.sock.recv_into(mv[k:])
            if not n:
                raise RfbError("server closed the connection")
            self.received += n
            k += n

    # ---- handshake ----

    def _handshake(self):
        version = self._read(12)
        if not version.startswith(b"RFB 003."):
            raise RfbError(f"not an RFB server: {version!r}")
        self.sock.sendall(b"RFB 003.008\n")
        ntypes = self._read(1)[0]
        if ntypes == 0:
            (n,) = struct.unpack(">I", self._read(4))
            raise RfbError("server refused: " + self._read(n).decode(errors="replace"))
        if 1 not in self._read(ntypes):
            raise RfbError("server does not offer security type None")
        self.sock.sendall(b"\x01")
        (result,) = struct.unpack(">I", self._read(4))
        if result:
            raise RfbError("security handshake failed")
        self.sock.sendall(b"\x01")  # ClientInit: shared
        w, h = struct.unpack(">HH", self._read(4))
        self._read(16)  # the server's pixel format: we set ours below
        (n,) = struct.unpack(">I", self._read(4))
        self.name = self._read(n).decode(errors="replace")
        self._resize(w, h)
        # SetPixelFormat: 32 bpp, depth 24, little endian, true colour,
        # 8 bits each, red at bit 16, green 8, blue 0 (XRGB8888).
        self.sock.sendall(struct.pack(">B3xBBBBHHHBBB3x", 0, 32, 24, 0, 1,
                                      255, 255, 255, 16, 8, 0))
        encs = [ENC_RAW, ENC_COPYRECT, ENC_DESKTOP_SIZE]
        self.sock.sendall(struct.pack(">BxH", 2, len(encs))
                          + b"".join(struct.pack(">i", e) for e in encs))

    def _resize(self, w, h):
        self.width, self.height = w, h
        self.stride = w * 4
        self.fb = bytearray(self.stride * h)

    # ---- client messages ----

    def request(self, incremental=True):
        """FramebufferUpdateRequest for the whole screen."""
        self.sock.sendall(struct.pack(">BBHHHH", 3, int(incremental), 0, 0,
                                      self.width, self.height))

    def key_msg(self, keysym, down):
        return struct.pack(">BBxxI", 4, int(down), keysym)

    def tap(self, keysym, shift=False):
        """Presses and releases a key, with Shift held around it if asked,
        in one write."""
        msgs = [self.key_msg(keysym, True), self.key_msg(keysym, False)]
        if shift:
            msgs = [self.key_msg(XK_SHIFT_L, True)] + msgs + \
                [self.key_msg(XK_SHIFT_L, False)]
        self.sock.sendall(b"".join(msgs))

    # ---- server messages ----

    def read_update(self, deadline=None):
        """Reads server messages until one FramebufferUpdate has been read
        whole and applied to fb; returns its rectangles as (x, y, w, h,
        encoding). Other messages are dropped."""
        self.deadline = deadline
        try:
            while True:
                kind = self._read(1)[0]
                if kind == 0:
                    return self._update()
                if kind == 1:  # SetColourMapEntries
                    _, _, n = struct.unpack(">BHH", self._read(5))
                    self._read(6 * n)
                elif kind == 2:  # Bell
                    pass
                elif kind == 3:  # ServerCutText
                    (n,) = struct.unpack(">3xI", self._read(7))
                    self._read(n)
                else:
                    raise RfbError(f"unknown server message {kind}")
        finally:
            self.deadline = None

    def _update(self):
        (n,) = struct.unpack(">xH", self._read(3))
        rects = []
        for _ in range(n):
            x, y, w, h, enc = struct.unpack(">HHHHi", self._read(12))
            rects.append((x, y, w, h, enc))
            if enc == ENC_DESKTOP_SIZE:
                self._resize(w, h)
                continue
            if x + w > self.width or y + h > self.height:
                raise RfbError(f"rectangle {w}x{h}+{x}+{y} outside the frame")
            if enc == ENC_RAW:
                self._raw(x, y, w, h)
            elif enc == ENC_COPYRECT:
                sx, sy = struct.unpack(">HH", self._read(4))
                if sx + w > self.width or sy + h > self.height:
                    raise RfbError("CopyRect source outside the frame")
                self._copy(sx, sy, x, y, w, h)
            else:
                raise RfbError(f"encoding {enc} not asked for")
        return rects

    def _raw(self, x, y, w, h):
        fb = memoryview(self.fb)
        if x == 0 and w == self.width:
            # Whole lines: contiguous in fb too.
            self._read_into(fb[y * self.stride:(y + h) * self.stride])
            return
        line = w * 4
        for j in range(h):
            off = (y + j) * self.stride + x * 4
            self._read_into(fb[off:off + line])

    def _copy(self, sx, sy, x, y, w, h):
        line = w * 4
        # Copy the source out first: it may overlap the destination.
        src = []
        for j in range(h):
            off = (sy + j) * self.stride + sx * 4
            src.append(bytes(self.fb[off:off + line]))
        for j in range(h):
            off = (y + j) * self.stride + x * 4
            self.fb[off:off + line] = src[j]

    # ---- looking at the frame ----

    def cell(self, x, y, w, h):
        """The pixels of a rectangle, line after line, without the X byte
        (what servers put there is not specified)."""
        out = bytearray()
        for j in range(h):
            off = (y + j) * self.stride + x * 4
            line = self.fb[off:off + w * 4]
            del line[3::4]
            out += line
        return bytes(out)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
