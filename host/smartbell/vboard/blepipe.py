"""Pipe transport for the virtual board's stand-in `bluetooth`: the firmware's radio is a text pipe
to `smartbell.vperipheral`, which mirrors it on a bumble peripheral. Runs under MicroPython and CPython.

One message per line, fields separated by one space, bytes in lower-case hex ("-" = empty).
Device -> host (stdout):
    A <adv_hex> <resp_hex>        advertise ("A - -" = stop advertising)
    R <json>                      GATT table as given to register(), UUIDs as strings
    N <conn> <handle> <hex>       notification
    V <handle> <hex>              the local value of a characteristic changed (gatts_write)
    D <conn>                      the device drops the connection
    T <t_ms>                      lockstep: device clock wants to pass t_ms, waits for a grant
Host -> device (stdin):
    C <conn> <addr_type> <addr_hex>   central connected      -> _IRQ_CENTRAL_CONNECT
    X <conn> <addr_type> <addr_hex>   central disconnected   -> _IRQ_CENTRAL_DISCONNECT
    W <conn> <handle> <hex>           central wrote          -> _IRQ_GATTS_WRITE
    M <conn> <mtu>                    MTU exchanged          -> _IRQ_MTU_EXCHANGED
    G <t_ms>                          lockstep: the device clock may run up to t_ms
Lockstep (env SMARTBELL_BLE_LOCKSTEP=1, or `lockstep=True`): `pace(t_ms)` blocks until granted, so
the host decides how device time flows (a 30 s outage costs no wall time). Otherwise `pace` is free.
"""
import sys

try:
    import select
except ImportError:  # pragma: no cover - both ports have it
    select = None
import binascii
import json
import os

_IRQ_CENTRAL_CONNECT = 1
_IRQ_CENTRAL_DISCONNECT = 2
_IRQ_GATTS_WRITE = 3
_IRQ_MTU_EXCHANGED = 21
# Tick values wrap (2**30 on an ESP32); grants are compared by difference, never by size.
_TICKS_MASK = (1 << 30) - 1
_TICKS_HALF = 1 << 29


def _ticks_diff(a, b):
    return ((a - b + _TICKS_HALF) & _TICKS_MASK) - _TICKS_HALF


def _hex(data):
    if not data:
        return "-"
    return binascii.hexlify(bytes(data)).decode()


def _unhex(text):
    if text == "-":
        return b""
    return binascii.unhexlify(text)


def _plain(obj):
    """The GATT table as JSON-able lists: UUID objects become their string form."""
    if isinstance(obj, (list, tuple)):
        return [_plain(x) for x in obj]
    if isinstance(obj, (int, str)) or obj is None:
        return obj
    if isinstance(obj, (bytes, bytearray)):
        return _hex(obj)
    text = str(obj)
    if text.startswith("UUID("):  # MicroPython's bluetooth.UUID repr
        text = text[5:-1].strip("'\"")
    return text


class Transport:
    def __init__(self, lockstep=None, stdin=None, stdout=None):
        if lockstep is None:
            lockstep = os.getenv("SMARTBELL_BLE_LOCKSTEP") == "1"
        self.lockstep = lockstep
        self._in = stdin if stdin is not None else sys.stdin
        self._out = stdout if stdout is not None else sys.stdout
        self._ble = None
        self._granted = None
        self._pending = b""
        self._closed = False
        self._poll = None
        if select is not None:
            self._poll = select.poll()
            self._poll.register(self._in, select.POLLIN)
        # CPython's buffered stdin hides lines from poll(); read the fd. MicroPython's stdin is
        # unbuffered, but readinto() loops until the buffer is full, so read one byte at a time.
        self._fd = None
        if hasattr(os, "read"):
            try:
                self._fd = self._in.fileno()
            except (AttributeError, OSError, ValueError):
                self._fd = None
        self._byte = bytearray(1)

    # -- outgoing -------------------------------------------------------------------------
    def _send(self, line):
        self._out.write(line + "\n")
        try:
            self._out.flush()
        except AttributeError:
            pass

    def attach(self, ble):
        self._ble = ble

    def advertise(self, adv_bytes, resp_bytes=None):
        self._send("A %s %s" % (_hex(adv_bytes), _hex(resp_bytes)))

    def register(self, table):
        self._send("R " + json.dumps(_plain(table)))

    def notify(self, conn, handle, data):
        self._send("N %d %d %s" % (conn, handle, _hex(data)))

    def write(self, handle, data):
        """Optional: mirrors gatts_write so the host's reads see the value (battery, device info)."""
        self._send("V %d %s" % (handle, _hex(data)))

    def disconnect(self, conn):
        self._send("D %d" % conn)

    # -- incoming -------------------------------------------------------------------------
    def _ready(self):
        if self._poll is None:
            return False
        for _obj, ev in self._poll.poll(0):
            if ev & select.POLLIN:
                return True
            if ev & (select.POLLHUP | select.POLLERR):
                return True  # a read will then see the end of input
        return False

    def _read_some(self):
        """One read that does not wait past the data already there; b"" at end of input."""
        if self._fd is not None:
            return os.read(self._fd, 4096)
        n = self._in.buffer.readinto(self._byte) if hasattr(self._in, "buffer") else \
            self._in.readinto(self._byte)
        return bytes(self._byte) if n else b""

    def _take_line(self):
        i = self._pending.find(b"\n")
        if i < 0:
            return None
        line = self._pending[:i]
        self._pending = self._pending[i + 1:]
        return line.decode().strip()

    def _handle(self, line):
        parts = line.split()
        if not parts:
            return
        kind = parts[0]
        ble = self._ble
        try:
            if kind == "G":
                self._granted = int(parts[1])
            elif kind == "C" or kind == "X":
                event = _IRQ_CENTRAL_CONNECT if kind == "C" else _IRQ_CENTRAL_DISCONNECT
                ble._deliver(event, (int(parts[1]), int(parts[2]), _unhex(parts[3])))
            elif kind == "W":
                ble._deliver(_IRQ_GATTS_WRITE, (int(parts[1]), int(parts[2]), _unhex(parts[3])))
            elif kind == "M":
                ble._deliver(_IRQ_MTU_EXCHANGED, (int(parts[1]), int(parts[2])))
            else:
                sys.stderr.write("blepipe: unknown line %r\n" % line)
        except (IndexError, ValueError) as exc:
            # A garbled line from the host must not take the device down.
            sys.stderr.write("blepipe: bad line %r: %r\n" % (line, exc))

    def _pump(self, block):
        """Handle every complete line waiting; with `block`, wait for at least one."""
        handled = False
        while True:
            line = self._take_line()
            if line is not None:
                self._handle(line)
                handled = True
                continue
            if self._closed or (handled or not block) and not self._ready():
                return handled
            chunk = self._read_some()
            if not chunk:
                self._closed = True
                return handled
            self._pending += chunk

    def poll(self):
        self._pump(False)

    def pace(self, t_ms):
        if not self.lockstep:
            self._pump(False)
            return
        if self._granted is None or _ticks_diff(t_ms, self._granted) > 0:
            self._send("T %d" % t_ms)
            while not self._closed and (self._granted is None or _ticks_diff(t_ms, self._granted) > 0):
                self._pump(True)
        else:
            self._pump(False)
        if self._closed and self.lockstep:
            # The host went away: nobody can grant time any more, so the run is over.
            raise SystemExit(0)
