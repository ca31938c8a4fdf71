"""Stand-in for MicroPython's `bluetooth` module on the virtual board, over a pluggable transport.

Behaves like the real module for what the firmware uses: `BLE()` (one radio), `active`,
`config` ('mac', 'gap_name', 'mtu'), `irq`, `gap_advertise`, `gatts_register_services` (returns
value handles like the real one), `gatts_notify` (OSError 107 ENOTCONN on a closed connection;
data longer than MTU-3 is cut like NimBLE does), `gatts_write`, `gatts_read`, `gap_disconnect`,
`UUID`, the `FLAG_*` constants. IRQ event numbers are MicroPython's.

Transport interface (the transport is chosen at BLE() time: `SMARTBELL_BLE_TRANSPORT=pipe` uses
`blepipe.Transport()`, else `MemoryTransport()`):
- `transport.attach(ble)` once;
- outgoing: `transport.advertise(adv_bytes, resp_bytes)` (both None: advertising stopped),
  `transport.register(chars)` with `chars` a list of `(value_handle, service_uuid, char_uuid,
  flags)` (UUIDs as strings: '0x180a' or the 128-bit form), `transport.notify(conn, handle,
  data)` (may raise OSError(12) when its buffers are full: the firmware retries),
  `transport.disconnect(conn)`, and (optional) `transport.write(handle, data)` when the
  firmware changes a characteristic's local value with `gatts_write`;
- incoming: the transport calls `ble._deliver(event, data)` with `(_IRQ_CENTRAL_CONNECT=1,
  (conn, addr_type, addr))`, `(_IRQ_CENTRAL_DISCONNECT=2, (conn, addr_type, addr))`,
  `(_IRQ_GATTS_WRITE=3, (conn, value_handle, value_bytes))` (the value is stored, the IRQ
  handler gets `(conn, value_handle)` as on a board) and `(_IRQ_MTU_EXCHANGED=21, (conn, mtu))`;
- `transport.poll()` is called from the app's loop through `bluetooth._poll_hook()` (it may read
  a pipe without blocking and deliver events); `transport.pace(t_ms)` (optional) is called
  through `bluetooth._pace_hook(t_ms)` every 20 ms of device time and may block (lockstep).
"""
try:
    import os
    _getenv = os.getenv
except (ImportError, AttributeError):
    def _getenv(name, default=None):
        return default

FLAG_BROADCAST = 0x0001
FLAG_READ = 0x0002
FLAG_WRITE_NO_RESPONSE = 0x0004
FLAG_WRITE = 0x0008
FLAG_NOTIFY = 0x0010
FLAG_INDICATE = 0x0020

_IRQ_CENTRAL_CONNECT = 1
_IRQ_CENTRAL_DISCONNECT = 2
_IRQ_GATTS_WRITE = 3
_IRQ_MTU_EXCHANGED = 21

_ENOMEM = 12
_ENOTCONN = 107
_EINVAL = 22
_DEFAULT_MTU = 23

class UUID:
    def __init__(self, value):
        if isinstance(value, UUID):
            self._s = value._s
        elif isinstance(value, int):
            if not 0 <= value <= 0xFFFF:
                raise ValueError("invalid UUID")
            self._s = "0x%04x" % value
        elif isinstance(value, str) and len(value) == 36 and value.count("-") == 4:
            self._s = value.lower()
        else:
            raise ValueError("invalid UUID")

    def __str__(self):
        return self._s

    def __repr__(self):
        return "UUID(%s)" % self._s

    def __eq__(self, other):
        return isinstance(other, UUID) and other._s == self._s

    def __hash__(self):
        return hash(self._s)


class MemoryTransport:
    """Default transport: keeps everything in memory for tests. Inject a central with
    `connect()`, `central_write(char_uuid, data)`, `mtu(n)`, `drop()`; read what the device sent in
    `notifications` as (t_ms, conn, char_uuid, bytes). `budget` notifications are accepted per
    pace() period (None: unlimited); beyond it notify raises OSError(ENOMEM) like a full stack."""

    def __init__(self, budget=None, clock=None):
        self.ble = None
        self.pending = []
        self.notifications = []
        self.refused = 0
        self.advertising = None
        self.chars = []
        self.values = {}
        self.by_uuid = {}
        self.by_handle = {}
        self.conn = None
        self.budget = budget
        self._left = budget
        self.clock = clock
        self.sink = None          # callable(t_ms, conn, char_uuid, data): gets them instead

    def attach(self, ble):
        self.ble = ble

    def advertise(self, adv, resp):
        self.advertising = None if adv is None else (bytes(adv), bytes(resp or b""))

    def register(self, chars):
        self.chars = list(chars)
        for h, _svc, uuid, _flags in chars:
            self.by_uuid[uuid] = h
            self.by_handle[h] = uuid

    def notify(self, conn, handle, data):
        if self._left is not None:
            if self._left <= 0:
                self.refused += 1
                raise OSError(_ENOMEM)
            self._left -= 1
        t = self.clock() if self.clock else 0
        if self.sink is not None:
            self.sink(t, conn, self.by_handle.get(handle, handle), data)
        else:
            self.notifications.append((t, conn, self.by_handle.get(handle, handle), bytes(data)))

    def disconnect(self, conn):
        self.pending.append((_IRQ_CENTRAL_DISCONNECT, (conn, 0, b"\x00" * 6)))

    def poll(self):
        while self.pending:
            ev, data = self.pending.pop(0)
            self.ble._deliver(ev, data)

    def pace(self, t_ms):
        self._left = self.budget

    # -- the test plays the central --
    def connect(self, conn=1, mtu=None):
        self.conn = conn
        self.pending.append((_IRQ_CENTRAL_CONNECT, (conn, 0, b"\xc0\x01\x02\x03\x04\x05")))
        if mtu:
            self.pending.append((_IRQ_MTU_EXCHANGED, (conn, mtu)))

    def drop(self):
        """The link is lost (out of range): the device sees a disconnect."""
        if self.conn is not None:
            self.pending.append((_IRQ_CENTRAL_DISCONNECT, (self.conn, 0, b"\x00" * 6)))
            self.conn = None

    def mtu(self, mtu):
        self.pending.append((_IRQ_MTU_EXCHANGED, (self.conn, mtu)))

    def central_write(self, char_uuid, data):
        self.pending.append((_IRQ_GATTS_WRITE, (self.conn, self.by_uuid[char_uuid], bytes(data))))

    def write(self, handle, data):
        """The firmware set a characteristic's local value (gatts_write)."""
        self.values[self.by_handle.get(handle, handle)] = bytes(data)

    def sent(self, char_uuid=None):
        return [n[3] for n in self.notifications if char_uuid is None or n[2] == char_uuid]


def _make_transport():
    if _getenv("SMARTBELL_BLE_TRANSPORT") == "pipe":
        import blepipe
        return blepipe.Transport()
    return MemoryTransport()


_ble = None


class BLE:
    """The one radio (MicroPython's BLE() is a singleton too)."""

    def __new__(cls, *args):
        global _ble
        if _ble is None:
            _ble = object.__new__(cls)
            _ble._init(None)
        return _ble

    def __init__(self, *args):
        pass

    def _init(self, transport):
        self._active = False
        self._handler = None
        self._values = {}
        self._flags = {}
        self._conns = {}          # conn -> mtu
        self._gap_name = b"MPY ESP32"
        self._mtu_pref = 256         # NimBLE's BLE_ATT_PREFERRED_MTU, the ESP32 default
        self.truncated = 0
        self.transport = transport if transport is not None else _make_transport()
        self.transport.attach(self)

    def active(self, v=None):
        if v is not None:
            self._active = bool(v)
        return self._active

    def config(self, *names, **kw):
        for k in kw:
            if k == "gap_name":
                self._gap_name = kw[k].encode() if isinstance(kw[k], str) else bytes(kw[k])
            elif k == "mtu":
                if not 23 <= kw[k] <= 517:
                    raise ValueError("mtu")
                self._mtu_pref = kw[k]
            elif k not in ("rxbuf", "io", "bond", "mitm", "le_secure", "addr_mode"):
                raise ValueError("unknown config param")
        if names:
            name = names[0]
            if name == "mac":
                import machine
                return (0, bytes(machine.unique_id()[:6]))
            if name == "gap_name":
                return self._gap_name
            if name == "mtu":
                return self._mtu_pref
            raise ValueError("unknown config param")

    def irq(self, handler):
        self._handler = handler

    def _need_active(self):
        if not self._active:
            raise OSError(_EINVAL)

    def gap_advertise(self, interval_us, adv_data=None, resp_data=None, connectable=True):
        self._need_active()
        if interval_us is None:
            self.transport.advertise(None, None)
        else:
            self.transport.advertise(bytes(adv_data or b""), bytes(resp_data or b""))

    def gatts_register_services(self, services):
        self._need_active()
        handle = 1
        out = []
        chars = []
        for svc_uuid, svc_chars in services:
            handle += 1                      # service declaration
            hs = []
            for ch in svc_chars:
                uuid, flags = ch[0], ch[1]
                handle += 1                  # characteristic declaration
                vh = handle
                handle += 1
                hs.append(vh)
                self._values[vh] = b""
                self._flags[vh] = flags
                chars.append((vh, str(svc_uuid), str(uuid), flags))
                if flags & (FLAG_NOTIFY | FLAG_INDICATE):
                    handle += 1              # CCCD
                for _d in (ch[2] if len(ch) > 2 else ()):
                    hs.append(handle)
                    handle += 1
            out.append(tuple(hs))
        self.transport.register(chars)
        return tuple(out)

    def gatts_read(self, handle):
        if handle not in self._values:
            raise OSError(_EINVAL)
        return self._values[handle]

    def gatts_write(self, handle, data, send_update=False):
        if handle not in self._values:
            raise OSError(_EINVAL)
        self._values[handle] = bytes(data)
        w = getattr(self.transport, "write", None)
        if w is not None:
            w(handle, self._values[handle])
        if send_update:
            for conn in list(self._conns):
                self.transport.notify(conn, handle, self._values[handle])

    def gatts_notify(self, conn, handle, data=None):
        if conn not in self._conns:
            raise OSError(_ENOTCONN)
        if handle not in self._values:
            raise OSError(_EINVAL)
        if data is None:
            data = self._values[handle]
        limit = self._conns[conn] - 3
        if len(data) > limit:
            self.truncated += 1
            data = data[:limit]
        self.transport.notify(conn, handle, data)

    def gap_disconnect(self, conn):
        if conn not in self._conns:
            return False
        self.transport.disconnect(conn)
        return True

    def _deliver(self, event, data):
        """Called by the transport: update the radio's state, then run the IRQ handler."""
        if event == _IRQ_CENTRAL_CONNECT:
            self._conns[data[0]] = _DEFAULT_MTU
        elif event == _IRQ_CENTRAL_DISCONNECT:
            if data[0] not in self._conns:
                return
            del self._conns[data[0]]
        elif event == _IRQ_GATTS_WRITE:
            conn, handle, value = data
            if conn not in self._conns or handle not in self._values:
                return
            self._values[handle] = bytes(value)
            data = (conn, handle)
        elif event == _IRQ_MTU_EXCHANGED:
            if data[0] not in self._conns:
                return
            self._conns[data[0]] = min(data[1], self._mtu_pref)
            data = (data[0], self._conns[data[0]])
        if self._handler:
            self._handler(event, data)


def _reset(transport=None):
    """Test side: a fresh radio with `transport` (default: a new MemoryTransport)."""
    global _ble
    _ble = object.__new__(BLE)
    _ble._init(transport)
    return _ble


def _poll_hook():
    if _ble is not None:
        _ble.transport.poll()


def _pace_hook(t_ms):
    if _ble is not None:
        pace = getattr(_ble.transport, "pace", None)
        if pace:
            pace(t_ms)
