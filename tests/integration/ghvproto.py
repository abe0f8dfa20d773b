"""The vsbd <-> vsb-ghv boundary protocol (boundary/PROTOCOL.md), spoken
from the operator's side, for tests. Two levels:

- low: pack/unpack any message with arbitrary type, flags, seq and id,
  raw 64-byte slots, ring indices read and written directly, eventfd kicks;
  a hostile-operator test uses these to send malformed, out-of-range,
  replayed or flooding traffic;
- high: `Session` does the handshake, keeps the sequence numbers and ids,
  sends requests and waits for their replies, answers forwarded accesses.

    s = Session.connect("/tmp/x/ghv.sock")
    assert s.request(GHV_CREATE, create(s.welcome.name)).status == 0
    s.up.push_raw(b"\\xff" * 64); s.kick()       # garbage in the next slot
    s.up.set_head(s.up.tail() + 1000)            # an impossible index

Layout (ghv_proto.h; little endian): the shared region is a 64-byte
header, then the down ring (vsbd -> ghv), then the up ring; a ring is a
128-byte index block (head at +0, tail at +64) and 256 slots of 64 bytes.
"""
import mmap
import os
import select
import socket
import struct
import time
from collections import namedtuple

GHV_MAGIC = 0x47425356
GHV_VERSION = 1
SLOTS = 256
SLOT_SIZE = 64
NAME_MAX = 32
HDR_SIZE = 16
PAYLOAD_SIZE = SLOT_SIZE - HDR_SIZE

# message types
GHV_IO_REQ, GHV_REPLY, GHV_EVENT = 1, 2, 3
GHV_IO_DONE, GHV_CREATE, GHV_START, GHV_STOP, GHV_DESTROY = 16, 17, 18, 19, 20
GHV_MAP_IO, GHV_UNMAP_IO, GHV_PCI_ATTACH, GHV_IRQ_LINE = 21, 22, 23, 24
# address spaces, routing, events, destroy modes
SPACE_PIO, SPACE_MMIO, SPACE_PCI_CFG = 0, 1, 2
ROUTING_BYPASS, ROUTING_TRADITIONAL = 0, 1
EV_RUNNING, EV_PAUSED, EV_STOPPED = 1, 2, 3
DESTROY_POWEROFF, DESTROY_RESET = 0, 1
# descriptor order in the welcome
FD_SHM, FD_KICK_DOWN, FD_KICK_UP, FD_RAM, FD_FB = range(5)
# limits vsbd enforces
PIO_LIMIT = 0x10000
MMIO_BASE, MMIO_END = 0xE0000000, 0xFEC00000
MAX_MAPS = 64
NR_GSI = 24

RING_IDX_SIZE = 128
RING_SIZE = RING_IDX_SIZE + SLOTS * SLOT_SIZE
DOWN_OFF = 64
UP_OFF = DOWN_OFF + RING_SIZE
SHM_SIZE = (UP_OFF + RING_SIZE + 4095) & ~4095

HDR = struct.Struct("<HHIQ")            # type, flags, seq, id
HELLO = struct.Struct("<IHH")           # magic, version_min, version_max
WELCOME = struct.Struct("<IHHQQIIQIIII32s")
IO = struct.Struct("<BBBBIQQ")          # space len is_write vcpu pad addr data
IO_DONE = struct.Struct("<Q")
REPLY = struct.Struct("<iIQQQ")         # status pad val[3]
EVENT = struct.Struct("<Ii")            # kind arg
CREATE = struct.Struct("<32s")
DESTROY = struct.Struct("<I")
MAP_IO = struct.Struct("<B7sQQ")        # space pad[7] base len
PCI_ATTACH = struct.Struct("<B")
IRQ_LINE = struct.Struct("<II")         # gsi level

assert HDR.size == HDR_SIZE and WELCOME.size == 88 and SHM_SIZE == 36864

Welcome = namedtuple("Welcome", "magic version routing ram_size ram_low_size "
                     "nr_vcpus shm_size fb_gpa fb_width fb_height fb_stride "
                     "nfds name")
Io = namedtuple("Io", "space len is_write vcpu pad addr data")
Reply = namedtuple("Reply", "status pad val")
Event = namedtuple("Event", "kind arg")


class ProtocolError(Exception):
    pass


# ---- messages ----

def pack(mtype, payload=b"", seq=0, mid=0, flags=0, strict=True):
    """One 64-byte slot: header + payload, zero padded. strict=False lets a
    test overflow the payload area (it is then cut at 64 bytes)."""
    if strict and len(payload) > PAYLOAD_SIZE:
        raise ValueError("payload longer than 48 bytes")
    raw = HDR.pack(mtype & 0xFFFF, flags & 0xFFFF, seq & 0xFFFFFFFF,
                   mid & 0xFFFFFFFFFFFFFFFF) + bytes(payload)
    return raw[:SLOT_SIZE].ljust(SLOT_SIZE, b"\0")


class Msg(namedtuple("Msg", "type flags seq id payload")):
    """A decoded slot; payload is the raw 48 bytes."""

    @classmethod
    def unpack(cls, raw):
        if len(raw) != SLOT_SIZE:
            raise ValueError("a slot is 64 bytes")
        return cls(*HDR.unpack_from(raw), bytes(raw[HDR_SIZE:]))

    def io(self):
        return Io(*IO.unpack_from(self.payload))

    def reply(self):
        status, pad, v0, v1, v2 = REPLY.unpack_from(self.payload)
        return Reply(status, pad, (v0, v1, v2))

    def event(self):
        return Event(*EVENT.unpack_from(self.payload))

    # convenient on replies
    @property
    def status(self):
        return self.reply().status


def io_done(data=0):
    return IO_DONE.pack(data & 0xFFFFFFFFFFFFFFFF)


def create(name):
    n = name.encode() if isinstance(name, str) else bytes(name)
    return CREATE.pack(n)


def destroy(how=DESTROY_POWEROFF):
    return DESTROY.pack(how)


def map_io(space, base, length, pad=b""):
    return MAP_IO.pack(space, pad, base, length)


def unmap_io(space, base):
    return MAP_IO.pack(space, b"", base, 0)


def pci_attach(slot):
    return PCI_ATTACH.pack(slot)


def irq_line(gsi, level):
    return IRQ_LINE.pack(gsi, level)


def pci_cfg_addr(slot, fn, reg):
    return slot << 16 | fn << 8 | reg


def pack_hello(vmin=GHV_VERSION, vmax=GHV_VERSION, magic=GHV_MAGIC):
    return HELLO.pack(magic, vmin, vmax)


def unpack_welcome(raw):
    if len(raw) != WELCOME.size:
        raise ProtocolError(f"welcome of {len(raw)} bytes")
    f = list(WELCOME.unpack(raw))
    f[-1] = f[-1].rstrip(b"\0").decode(errors="replace")
    return Welcome(*f)


# ---- rings ----

class Ring:
    """One ring in the shared region as one side sees it. producer=True:
    we write head and slots (the up ring); False: we write tail (down)."""

    def __init__(self, shm, base, producer):
        self.shm, self.base, self.producer = shm, base, producer
        self.pos = 0  # our private index (head or tail)
        self._words = None

    # indices, raw
    # One aligned 4-byte load or store each, through a memoryview of
    # unsigned ints: struct.pack_into writes "<I" byte by byte, and vsbd
    # rightly refuses the torn index a reader can see in between.
    def _word(self, off):
        if self._words is None:
            self._words = memoryview(self.shm).cast("I")
        return (self.base + off) // 4

    def head(self):
        return self._load(0)

    def tail(self):
        return self._load(64)

    def _load(self, off):
        i = self._word(off)
        return self._words[i]

    def set_head(self, v):
        self._words[self._word(0)] = v & 0xFFFFFFFF

    def set_tail(self, v):
        self._words[self._word(64)] = v & 0xFFFFFFFF

    def write_idx_pad(self, data, off=4):
        """Scribbles on the index block's padding (bytes vsbd ignores)."""
        self.shm[self.base + off:self.base + off + len(data)] = data

    # slots, raw
    def slot_off(self, i):
        return self.base + RING_IDX_SIZE + (i % SLOTS) * SLOT_SIZE

    def write_slot(self, i, raw):
        raw = bytes(raw).ljust(SLOT_SIZE, b"\0")[:SLOT_SIZE]
        o = self.slot_off(i)
        self.shm[o:o + SLOT_SIZE] = raw

    def read_slot(self, i):
        o = self.slot_off(i)
        return bytes(self.shm[o:o + SLOT_SIZE])

    def used(self):
        """Slots in use as the index block says now (may be impossible)."""
        return (self.head() - self.tail()) & 0xFFFFFFFF

    # the protocol's operations
    def push_raw(self, raw, publish=True):
        """Producer: writes raw into the next slot and publishes head.
        Returns False when the ring is full (the peer's tail is behind)."""
        used = (self.pos - self.tail()) & 0xFFFFFFFF
        if used > SLOTS:
            raise ProtocolError(f"peer tail impossible (used {used})")
        if used == SLOTS:
            return False
        self.write_slot(self.pos, raw)
        self.pos = (self.pos + 1) & 0xFFFFFFFF
        if publish:
            self.set_head(self.pos)
        return True

    def pop_raw(self):
        """Consumer: the next slot's bytes, or None when empty."""
        used = (self.head() - self.pos) & 0xFFFFFFFF
        if used > SLOTS:
            raise ProtocolError(f"peer head impossible (used {used})")
        if used == 0:
            return None
        raw = self.read_slot(self.pos)
        self.pos = (self.pos + 1) & 0xFFFFFFFF
        self.set_tail(self.pos)
        return raw


# ---- eventfds ----

def kick(fd, value=1):
    os.write(fd, (value & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little"))


def wait_fd(fd, timeout):
    r, _, _ = select.select([fd], [], [], max(0.0, timeout))
    return bool(r)


def drain_eventfd(fd):
    try:
        return int.from_bytes(os.read(fd, 8), "little")
    except BlockingIOError:
        return 0


# ---- a session ----

class Session:
    """One operator connection. seq counts what we sent (the next message
    gets seq + 1 unless told otherwise); down_seq what vsbd sent."""

    def __init__(self, sock, welcome, fds):
        self.sock, self.welcome, self.fds = sock, welcome, fds
        self.shm = mmap.mmap(fds[FD_SHM], SHM_SIZE, mmap.MAP_SHARED,
                             mmap.PROT_READ | mmap.PROT_WRITE)
        self.down = Ring(self.shm, DOWN_OFF, producer=False)
        self.up = Ring(self.shm, UP_OFF, producer=True)
        self.seq = 0
        self.down_seq = 0
        self.next_id = 0
        self.backlog = []  # down messages read while waiting for something else
        self.ram = None
        for fd in (fds[FD_KICK_DOWN],):
            os.set_blocking(fd, False)

    @classmethod
    def connect(cls, path, hello=None, timeout=10.0):
        """Connects and does the handshake. hello: raw bytes to send instead
        of a proper hello. Raises ProtocolError if vsbd closes instead."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.settimeout(timeout)
        s.connect(path)
        s.send(pack_hello() if hello is None else hello)
        data, fds, _flags, _addr = socket.recv_fds(s, WELCOME.size + 1, 8)
        if not data:
            for fd in fds:
                os.close(fd)
            s.close()
            raise ProtocolError("vsbd closed the socket")
        w = unpack_welcome(data)
        if w.magic != GHV_MAGIC or w.nfds != len(fds):
            raise ProtocolError(f"bad welcome {w} with {len(fds)} fds")
        return cls(s, w, fds)

    def close(self):
        for r in (self.up, self.down):
            if r._words is not None:
                r._words.release()
                r._words = None
        for m in (self.ram, self.shm):
            if m is not None:
                m.close()
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def map_ram(self):
        self.ram = mmap.mmap(self.fds[FD_RAM], self.welcome.ram_size,
                             mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        return self.ram

    def peer_closed(self):
        """True once vsbd closed its end of the socket."""
        r, _, _ = select.select([self.sock], [], [], 0)
        if not r:
            return False
        try:
            return self.sock.recv(64, socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    # sending
    def kick(self, value=1):
        kick(self.fds[FD_KICK_UP], value)

    def push(self, raw, do_kick=True, wait=2.0):
        """Pushes a raw slot, waiting up to `wait` s for room."""
        deadline = time.monotonic() + wait
        while not self.up.push_raw(raw):
            if time.monotonic() > deadline:
                raise ProtocolError("up ring full")
            time.sleep(0.001)
        if do_kick:
            self.kick()

    def send(self, mtype, payload=b"", mid=None, seq=None, flags=0,
             do_kick=True):
        """Sends one message; seq defaults to the next one (and advances
        our counter only then), mid to a fresh id. Returns the id."""
        if mid is None:
            self.next_id += 1
            mid = self.next_id
        if seq is None:
            self.seq += 1
            seq = self.seq
        self.push(pack(mtype, payload, seq, mid, flags), do_kick)
        return mid

    # receiving
    def recv(self, timeout=5.0):
        """The next down message (backlog first), or None at the timeout.
        Checks vsbd's sequence numbers: a gap raises ProtocolError."""
        if self.backlog:
            return self.backlog.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            raw = self.down.pop_raw()
            if raw is not None:
                m = Msg.unpack(raw)
                if m.seq != self.down_seq + 1:
                    raise ProtocolError(f"vsbd seq {m.seq}, expected {self.down_seq + 1}")
                self.down_seq = m.seq
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            wait_fd(self.fds[FD_KICK_DOWN], min(left, 0.05))
            drain_eventfd(self.fds[FD_KICK_DOWN])

    def wait_for(self, pred, timeout=5.0, io_handler=None):
        """Reads until pred(msg); others go to the backlog, except forwarded
        accesses, which io_handler(io) answers (default: all-ones)."""
        deadline = time.monotonic() + timeout
        kept = []
        try:
            while True:
                left = deadline - time.monotonic()
                m = self.recv(max(0.0, left)) if left > 0 else None
                if m is None:
                    return None
                if pred(m):
                    return m
                if m.type == GHV_IO_REQ:
                    self.answer(m, io_handler)
                else:
                    kept.append(m)
        finally:
            self.backlog = kept + self.backlog

    def answer(self, m, io_handler=None):
        io = m.io()
        data = io_handler(io) if io_handler else (0 if io.is_write else ~0)
        self.send(GHV_IO_DONE, io_done(data or 0), mid=m.id)

    def request(self, mtype, payload=b"", timeout=5.0, io_handler=None, **kw):
        """Sends a request and returns its GHV_REPLY (a Msg), or None."""
        mid = self.send(mtype, payload, **kw)
        return self.wait_for(lambda m: m.type == GHV_REPLY and m.id == mid,
                             timeout, io_handler)

    def wait_event(self, kind, timeout=5.0, io_handler=None):
        return self.wait_for(lambda m: m.type == GHV_EVENT and
                             m.event().kind == kind, timeout, io_handler)

    def serve(self, io_handler, until=None, timeout=10.0):
        """Answers forwarded accesses until until(msg) or the timeout;
        returns the message that ended it (or None)."""
        return self.wait_for(until or (lambda m: False), timeout, io_handler)


if __name__ == "__main__":
    raise SystemExit("a library for the tests in this folder")
