"""The virtual board's stand-ins behave like the real modules where the firmware relies on them:
`bluetooth` (handles, IRQ codes, notify on a closed connection, MTU), `machine` (I2C errors,
watchdog in virtual time, reset), under MicroPython and CPython."""
from fakes.fwtest import run_both

BLE = r"""
import bluetooth
tr = bluetooth.MemoryTransport()
ble = bluetooth._reset(tr)
ble.active(True)
U = bluetooth.UUID
svc = (U("7e5b0001-2f6c-4d1a-9b8e-3c2d1a0e5f60"), ((U("7e5b0002-2f6c-4d1a-9b8e-3c2d1a0e5f60"), bluetooth.FLAG_READ | bluetooth.FLAG_NOTIFY),
       (U("7e5b0004-2f6c-4d1a-9b8e-3c2d1a0e5f60"), bluetooth.FLAG_WRITE)))
bat = (U(0x180F), ((U(0x2A19), bluetooth.FLAG_READ),))
handles = ble.gatts_register_services((svc, bat))
print("HANDLES", handles)
events = []
ble.irq(lambda e, d: events.append((e, d)))
try:
    ble.gatts_notify(1, handles[0][0], b"x")
except OSError as e:
    print("CLOSED", e.args[0])
tr.connect(1)
tr.poll()
ble.gatts_notify(1, handles[0][0], bytes(range(30)))
print("CUT", len(tr.notifications[-1][3]), ble.truncated)
tr.mtu(100); tr.poll()
ble.gatts_notify(1, handles[0][0], bytes(range(30)))
print("MTU", len(tr.notifications[-1][3]), events[-1])
tr.central_write("7e5b0004-2f6c-4d1a-9b8e-3c2d1a0e5f60", b"\x01\x02")
tr.poll()
print("WRITE", events[-1], ble.gatts_read(handles[0][1]))
ble.gatts_write(handles[1][0], b"\x55")
print("LOCAL", tr.values["0x2a19"])
print("UUID", U(0x2A19) == U(0x2a19), U(0x2A19) == U(0x2A29), str(U("7E5B0001-2F6C-4D1A-9B8E-3C2D1A0E5F60")))
tr.drop(); tr.poll()
try:
    ble.gatts_notify(1, handles[0][0], b"x")
except OSError as e:
    print("AFTER", e.args[0], events[-1][0])
print("DONE")
"""


def test_bluetooth_stand_in_behaves_like_the_real_module():
    for out in run_both(BLE):
        assert "DONE" in out, out
        assert "HANDLES ((3, 6), (9,))" in out, out      # value handles as the real stack counts
        assert "CLOSED 107" in out and "AFTER 107 2" in out, out    # ENOTCONN, then IRQ 2
        assert "CUT 20 1" in out, out                   # default MTU 23: 20 bytes, like NimBLE
        assert "MTU 30 (21, (1, 100))" in out, out      # _IRQ_MTU_EXCHANGED = 21
        assert "WRITE (3, (1, 6)) b'\\x01\\x02'" in out, out   # IRQ 3 with (conn, handle)
        assert "LOCAL b'U'" in out, out
        assert "UUID True False 7e5b0001-2f6c-4d1a-9b8e-3c2d1a0e5f60" in out, out


MACHINE = r"""
import machine, vclock
vclock.start(0)
machine.reset_board()
i2c = machine.I2C(0)
try:
    i2c.readfrom_mem(0x68, 0x75, 1)
except OSError as e:
    print("NODEV", e.args[0])
w = machine.WDT(timeout=1000)
vclock.advance_us(900000); w.feed()
vclock.advance_us(1500000); w.feed()
print("WDT", machine.WDT.bites, machine.WDT.max_gap_ms)
try:
    machine.reset()
except machine.Reset:
    print("RESET")
p = machine.Pin(0, machine.Pin.IN, machine.Pin.PULL_UP)
hits = []
p.irq(lambda pin: hits.append(pin.value()), machine.Pin.IRQ_FALLING)
p._drive(0); p._drive(1); p._drive(0)
print("PIN", p.value(), hits)
machine.set_adc_uv(34, 1550000)
print("ADC", machine.ADC(machine.Pin(34)).read_uv(), machine.ADC(machine.Pin(34)).read_u16() > 30000)
print("DONE")
"""


def test_machine_stand_in():
    for out in run_both(MACHINE):
        assert "NODEV 19" in out and "WDT 1 1500" in out and "RESET" in out, out
        assert "PIN 0 [0, 0]" in out and "ADC 1550000 True" in out, out


TRACE_TIME = r"""
import struct, board, imus
PATH = %r
RATE = %d
with open(PATH, "wb") as f:                 # sample k of the trace carries k in its x axis
    for k in range(RATE * 12):
        f.write(struct.pack("<hhhhhh", k, 0, 4096, 0, 0, 0))
a, m, tr = board.build(imus.FileSource(PATH, RATE), "MPU6050", %d)
seen = []
step = a.det.step

def record(t, ax, ay, az, gx, gy, gz):
    seen.append((t, ax))
    return step(t, ax, ay, az, gx, gy, gz)

a.det.step = record
board.run(a, seconds=10)
# device ms - trace ms, x RATE; trace time 0 is the part's first FIFO sample, one period in
first = seen[0][0]
err = max(abs((t - first) * RATE - k * 1000) for t, k in seen)
print("TIME", len(seen), seen[-1][0], seen[-1][1], err, first, seen[0][1])
"""


def _trace_time(tmp_path, trace_hz, imu_hz):
    outs = run_both(TRACE_TIME % (str(tmp_path / "t.bin"), trace_hz, imu_hz), heapsize="96wK")
    return [[int(x) for x in out.split("TIME ")[1].split()[:6]] for out in outs]


def test_a_trace_at_another_rate_is_served_at_its_own_time(tmp_path):
    # 64 Hz on a 100 Hz part: each device sample is the trace sample nearest its time (the trace
    # does not run 1.56x fast); the part's own rate is kept.
    for n, last_t_ms, last_k, err, first_t_ms, first_k in _trace_time(tmp_path, 64, 100):
        assert n >= 990 and last_t_ms >= 9_980 and (first_t_ms, first_k) == (10, 0), (n, last_t_ms)
        assert abs(last_k - (last_t_ms - 10) * 64 / 1000) <= 0.5, (last_k, last_t_ms)
        assert err <= 500, err                   # within half a trace period everywhere


def test_device_time_equals_trace_time_at_the_same_rate(tmp_path):
    # Same rate: every trace sample once, from the first, in order, stamped with its own time
    # plus the one output period before the part's first sample (the device saw neither the
    # first samples nor their time before: they went to the part while it was being configured).
    for n, last_t_ms, last_k, err, first_t_ms, first_k in _trace_time(tmp_path, 100, 100):
        assert (first_t_ms, first_k) == (10, 0) and err == 0, (first_t_ms, first_k, err)
        assert last_k == n - 1 and last_t_ms == 10 * n, (n, last_t_ms, last_k)
