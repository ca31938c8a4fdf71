"""Test side of the virtual board (MicroPython and CPython): a host that plays the BLE central
on the in-memory transport, keeping only what tests check (sequence numbers, packet bytes).

    app, m, tr = board.build(imus.FileSource(path), "MPU6050", 100)
    host = Host(tr); host.connect(); board.run(app, seconds=10); host.events
"""
from array import array

import board
from sbcore import protocol as P

CONTROL = P.CONTROL_UUID
EVENTS = P.EVENTS_UUID
LIVE = P.LIVE_UUID


class Host:
    def __init__(self, transport=None, keep_bytes=True, max_events=600):
        self.keep_bytes = keep_bytes
        self.events = []          # bytes of every event notification, in arrival order
        # sequence numbers and device send times, preallocated: a growing list would need
        # ever larger blocks in the small heap the firmware shares with this test
        self.seq_buf = array("H", bytes(2 * max_events))
        self.sent_buf = array("i", bytes(4 * max_events))
        self.type_buf = bytearray(max_events)     # packet type of each event
        self.t_buf = array("i", bytes(4 * max_events))   # its t_ms (low 31 bits)
        self.n = 0
        self.responses = []       # raw response packets (the first 64)
        self.response_count = 0
        self.live = []            # raw live packets (if keep_live)
        self.keep_live = True
        self.live_count = 0
        self.last_seq = -1
        self.token = 0
        if transport is not None:
            self.attach(transport)

    def attach(self, transport):
        self.tr = transport
        transport.sink = self._sink

    def _sink(self, t, conn, uuid, data):
        if uuid == EVENTS:
            seq = data[2] | (data[3] << 8)
            self.seq_buf[self.n] = seq
            self.sent_buf[self.n] = t
            self.type_buf[self.n] = data[1]
            self.t_buf[self.n] = (data[4] | (data[5] << 8) | (data[6] << 16) | (data[7] << 24)) & 0x7FFFFFFF
            self.n += 1
            if self.keep_bytes:
                self.events.append(bytes(data))
            self.last_seq = seq
        elif uuid == CONTROL:
            self.response_count += 1
            if len(self.responses) < 64:
                self.responses.append(bytes(data))
        elif uuid == LIVE:
            self.live_count += 1
            if self.keep_live:
                self.live.append(bytes(data))

    @property
    def seqs(self):
        return list(self.seq_buf[:self.n])

    @property
    def sent_ms(self):
        return list(self.sent_buf[:self.n])

    def connect(self, mtu=None, replay=True):
        self.tr.connect(1, mtu)
        if replay:
            self.send("replay", from_seq=(self.last_seq + 1) & 0xFFFF)

    def drop(self):
        self.tr.drop()

    def send(self, cmd, **args):
        self.token = (self.token + 1) & 0xFF
        self.tr.central_write(CONTROL, P.command(cmd, self.token, **args))
        return self.token

    def write_raw(self, data):
        self.tr.central_write(CONTROL, data)

    def response(self, token):
        for r in reversed(self.responses):
            if r[9] == token:
                return r
        return None

    def status_codes(self):
        return [(e[8], e[9]) for e in self.events if e[1] == P.T_STATUS]


def lock_sample_path(app):
    """Run the app's per-sample path with the heap locked (any allocation raises MemoryError).
    Returns [samples processed locked]. The first batch runs unlocked: sbcore.motion sets up
    its gain attributes on its second sample (one-time, reported to the detector's owner)."""
    import micropython
    orig = app._process
    st = [0, True]

    def process(n, t_read, backlog, period_us):
        if st[1]:
            st[1] = False
            orig(n, t_read, backlog, period_us)
            return
        micropython.heap_lock()
        try:
            orig(n, t_read, backlog, period_us)
        finally:
            micropython.heap_unlock()
        st[0] += n

    app._process = process
    return st


def flap(app, imu_map, host, plan, on_tick=None):
    """Run the trace to its end while the link comes and goes: connected and disconnected
    periods (ms) taken in turn from `plan`, cycled; every reconnect replays from the host's last
    seen sequence number + 1 (every third without an MTU exchange). Returns the drops."""
    k = 0
    drops = 0
    connected = True
    while not imu_map.exhausted:
        board.run(app, seconds=plan[k % len(plan)] / 1000, on_tick=on_tick)
        k += 1
        if connected:
            host.drop()
            drops += 1
        else:
            host.connect(mtu=247 if k % 3 else None)
        connected = not connected
    if not connected:
        host.connect()
    board.run(app, seconds=3, on_tick=on_tick)
    return drops
