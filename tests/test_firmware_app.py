"""The whole firmware app on the virtual board, replaying simulated raw traces in virtual time:
events come out as the specified bytes in order, replay across disconnects loses and repeats
nothing, malformed commands get error statuses, sensor faults are reported and recovered, the
per-sample path allocates nothing and no sample is lost. Runs under MicroPython (ESP32-sized
heap plus the virtual board's own share, see docs/firmware.md) and CPython."""
import json

import numpy as np
import pytest

from fakes.fwtest import run_both, run_cpython, run_mpy
from sbcore import protocol as P
from sbcore.motion import Detector, EV_REP, EV_HOLD, EV_ABRUPT, EV_ANCHOR, EV_CALIBRATED

# The scenarios share the heap with the virtual board and with what the test host records, so
# they run in a larger heap; tests/benchmarks/firmware_app.py measures the firmware's own peak
# against the ESP32-sized 56wK.
APP_HEAP = "96wK"


def _write_bin(trace, path):
    """The trace as the fake IMU's reference ints (4096 LSB/g, 32.8 LSB/dps), like vtrace does."""
    acc = np.clip(np.round(trace.accel_g * 4096), -32768, 32767)
    gyr = np.clip(np.round(trace.gyro_dps * 32.8), -32768, 32767)
    raw = np.hstack([acc, gyr]).astype("<i2")
    path.write_bytes(raw.tobytes())
    return raw


@pytest.fixture(scope="module")
def trace_bin(tmp_path_factory):
    from smartbell.simulate import simulate
    tr = simulate("good-morning", reps=6, seed=11, rate_hz=100, messy=True, n_abrupt=1)
    path = tmp_path_factory.mktemp("fw") / "gm.bin"
    raw = _write_bin(tr, path)
    return path, raw, tr.truth


PRELUDE = r"""
import sys, gc
import vclock, imus, board, machine
from scenario import Host
from sbcore import protocol as P
PATH = %r

def fresh(part="MPU6050", rate=100, keep_bytes=True, **kw):
    a, m, tr = board.build(imus.FileSource(PATH), part, rate, **kw)
    return a, m, tr, Host(tr, keep_bytes)
"""


def expected_events(raw, fifo_t0_ms, first, n, rate_hz=100):
    """What the device must send, computed independently on the host: the same raw samples at
    the times the FIFO timestamps them, through the detector, packed per docs/protocol.md."""
    det = Detector(accel_lsb_per_g=4096, gyro_mdps_per_lsb=30.5)
    period = 1000 // rate_hz
    buf = bytearray(20)
    out = [bytes(buf[:P.pack_status(buf, 0, 0, P.ST_BOOT, 1, rate_hz)])]

    def push(k):
        out.append(bytes(buf[:k]))

    for i in range(n):
        t = fifo_t0_ms + i * period
        flags = det.step(t, *[int(v) for v in raw[first + i]])
        seq = len(out)
        if flags & EV_REP:
            e = det.rep_t_end_ms
            push(P.pack_rep(buf, len(out), e, det.rep_count, e - det.rep_t_start_ms,
                            det.rep_t_far_ms - det.rep_t_start_ms, det.rep_hold_ms,
                            e - det.rep_t_return_ms, det.rep_rom_ddeg, det.rep_peak_speed_dps,
                            det.rep_peak_accel_mg))
        if flags & EV_HOLD:
            push(P.pack_hold(buf, len(out), det.hold_t_start_ms, det.hold_ms, det.hold_angle_ddeg))
        if flags & EV_ABRUPT:
            push(P.pack_abrupt(buf, len(out), det.abrupt_t_ms, det.abrupt_peak_mg,
                               det.abrupt_jerk_gps))
        if flags & EV_ANCHOR:
            push(P.pack_status(buf, len(out), t, P.ST_ANCHOR, 0, 0))
        if flags & EV_CALIBRATED:
            push(P.pack_status(buf, len(out), t, P.ST_CALIBRATED, 0, 0))
        del seq
    return out


RUN_ALL = PRELUDE + r"""
a, m, tr, host = fresh()
host.connect()
board.run(a, imu_map=m)
print("FIFO", m.fifo_t0_us // 1000, m.produced - m.fifo_in, m.fifo_in, m.overflowed, a.samples)
print("EVENTS", ",".join(["".join(["%%02x" %% b for b in e]) for e in host.events]))
print("DONE")
"""


def _parse_run(out):
    fifo = [ln.split()[1:] for ln in out.splitlines() if ln.startswith("FIFO")][0]
    t0, first, n, overflowed, samples = (int(x) for x in fifo)
    ev = [ln for ln in out.splitlines() if ln.startswith("EVENTS")][0].split()
    events = [bytes.fromhex(h) for h in ev[1].split(",")] if len(ev) > 1 else []
    return t0, first, n, overflowed, samples, events


def test_events_are_the_specified_bytes_in_order(trace_bin):
    path, raw, truth = trace_bin
    outs = run_both(RUN_ALL % str(path), heapsize=APP_HEAP)
    for out in outs:
        assert "DONE" in out, out
        t0, first, n, overflowed, samples, events = _parse_run(out)
        # no lost sample: every sample the FIFO took went through the detector
        assert overflowed == 0 and samples == n and n >= len(raw) - first - 1, out
        want = expected_events(raw, t0, first, n)
        assert [e.hex() for e in events] == [w.hex() for w in want]
        reps = [P.decode(e) for e in events if e[1] == P.T_REP]
        assert len(reps) == truth["rep_count"]
        assert [r["rep"] for r in reps] == list(range(1, len(reps) + 1))
        assert any(e[1] == P.T_ABRUPT for e in events)
    assert outs[0] == outs[1], "MicroPython and CPython runs differ"


DISCONNECTS = PRELUDE + r"""
a, m, tr, host = fresh(keep_bytes=False)
host.connect()
# scripted link losses: connected / disconnected periods in ms, cycled; the host replays from
# its last seen sequence number + 1 on every reconnect
from scenario import flap
drops = flap(a, m, host, (2300, 700, 4100, 1500, 900, 300, 3100, 2600, 1700, 100))
print("DROPS", drops, "CONNECTIONS", a.radio.connections)
print("SEQS", ",".join([str(s) for s in host.seqs]))
print("NEXT", a.ring.next_seq)
print("DONE")
"""


def test_replay_across_many_disconnects_loses_and_repeats_nothing(trace_bin):
    path, raw, truth = trace_bin
    for out in run_both(DISCONNECTS % str(path), heapsize=APP_HEAP):
        assert "DONE" in out, out
        drops = int(out.split("DROPS ")[1].split()[0])
        assert drops >= 20, out
        seqs = [int(s) for s in out.split("SEQS ")[1].split()[0].split(",")]
        nxt = int(out.split("NEXT ")[1].split()[0])
        assert seqs == list(range(nxt)), "events lost, repeated or out of order"


def test_replay_after_reconnect_matches_an_unbroken_session(trace_bin):
    path, raw, truth = trace_bin
    code = (PRELUDE + r"""
a, m, tr, host = fresh()
host.connect()
board.run(a, seconds=15)
host.drop()
board.run(a, seconds=12)           # events keep coming while nobody listens
host.connect()
board.run(a, imu_map=m)
print("EVENTS", ",".join(["".join(["%%02x" %% b for b in e]) for e in host.events]))
print("DONE")
""") % str(path)
    out = run_mpy(code, heapsize=APP_HEAP)
    broken = [bytes.fromhex(h) for h in out.split("EVENTS ")[1].split()[0].split(",")]
    unbroken = _parse_run(run_mpy(RUN_ALL % str(path), heapsize=APP_HEAP))[5]
    assert broken == unbroken


MALFORMED = PRELUDE + r"""
a, m, tr, host = fresh()
host.connect()
board.run(a, seconds=1)
bad = [b"", b"\x01", b"\x02\x03\x00", b"\x01\x7f\x05", b"\x01\x01\x06\x02\x01\x96\x00",
       b"\x01\x07\x07\x01", b"\x01\x08\x08\x1e\x00", b"\x01\x08\x09\x19\x02", b"\x01\x03\x0a\x00",
       b"\x01\x0a\x0b\x63", b"\xff" * 64, b"\x01\x02\x0c" + b"\x63\x01\x00\x00\x00",
       b"\x01\x02\x0d" + b"\x01\x00\x00\x01\x00", b"\x01\x04\x0e", b"\x01\x07\x0f\x00\x01"]
for i in range(len(bad)):
    host.write_raw(bad[i])
    board.run(a, seconds=0.1)
# random garbage
seed = 12345
for i in range(200):
    n = seed %% 23
    data = bytearray(n)
    for j in range(n):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        data[j] = seed >> 16 & 0xFF
    if n > 1 and (seed >> 8) & 1:
        data[0] = 1           # a valid version byte half the time, to reach the command parser
    host.write_raw(bytes(data))
    if i %% 4 == 0:
        board.run(a, seconds=0.02)
board.run(a, seconds=1)
for r in host.responses[1:len(bad) + 1]:      # [0] answers the replay of host.connect()
    print("RESP", r[8], r[9], r[10], P.decode(r)["value"])
print("COUNT", host.response_count, a.commands, a.command_errors)
s0 = a.samples
host.responses = []
t = host.send("get", key=5)
board.run(a, imu_map=m)
print("ALIVE", a.samples > s0, host.response(t)[10])
print("DONE")
"""


def test_malformed_control_writes_get_error_status_and_the_app_keeps_running(trace_bin):
    path, raw, truth = trace_bin
    for out in run_both(MALFORMED % str(path), heapsize=APP_HEAP):
        assert "DONE" in out, out
        resp = [tuple(int(x) for x in ln.split()[1:]) for ln in out.splitlines()
                if ln.startswith("RESP")]
        codes = [r[2] for r in resp]
        assert codes == [P.E_LENGTH, P.E_LENGTH, P.E_VERSION, P.E_UNKNOWN, P.E_LENGTH,
                         P.E_LENGTH, P.E_VALUE, P.E_VALUE, P.E_LENGTH, P.E_VALUE, P.E_VERSION,
                         P.E_PARAM, P.E_VALUE, P.E_STATE, P.E_RANGE], out
        assert resp[3][:2] == (0x7F, 5)      # unknown command echoed with its token
        assert resp[11][3] == 0x63           # the unknown param id is named
        assert resp[12][3] == 1              # ... and the param whose value is out of range
        count = [int(x) for x in out.split("COUNT ")[1].split()[:3]]
        assert count[0] == count[1] == 216 and count[2] == 215, out   # one response per write
        assert "ALIVE True 0" in out, out


COMMANDS = PRELUDE + r"""
from sbcore.motion import PARAMS
a, m, tr, host = fresh()
host.connect(mtu=247)
board.run(a, seconds=1)
t = host.send("select", exercise=3, params=[(1, 35), (9, 500)])
board.run(a, seconds=0.1)
print("SELECT", host.response(t)[10], a.det.get_param("rep_min_rom_deg"), a.det.get_param("hold_min_ms"), a.exercise)
t = host.send("start"); board.run(a, seconds=0.1)
print("START", host.response(t)[10], a.in_set)
t = host.send("start"); board.run(a, seconds=0.1)
print("START2", host.response(t)[10])
t = host.send("calibrate"); board.run(a, seconds=0.1)
print("CALIB_IN_SET", host.response(t)[10])
t = host.send("time_sync", host_ms=0xFFFFFFF0); board.run(a, seconds=0.1)
r = P.decode(host.response(t))
print("SYNC", r["code"], r["value"] & 0xFFFFFFFF == 0xFFFFFFF0, abs(r["t_ms"] - vclock.ticks_ms()) < 200)
t = host.send("live", rate_hz=50, content=1); board.run(a, seconds=2)
lv = P.decode(host.live[0])
print("LIVE", host.response(t)[10], P.decode(host.response(t))["value"], len(host.live), lv["type"], lv["period_ms"], len(lv["samples"]))
prev = None
even = True
n_t = 0
for p in host.live:
    for s in P.decode(p)["samples"]:
        if prev is not None and s["t_ms"] - prev != 20:
            even = False
        prev = s["t_ms"]
        n_t += 1
host.live = []
print("LIVE_T", even, n_t)
t = host.send("live", rate_hz=100, content=0); board.run(a, seconds=1)
print("LIVE_A", P.decode(host.live[-1])["type"], len(P.decode(host.live[-1])["samples"]))
t = host.send("live", rate_hz=0, content=0); board.run(a, seconds=0.2)
n_live = len(host.live); board.run(a, seconds=1)
print("LIVE_OFF", len(host.live) == n_live)
t = host.send("identify", seconds=2); board.run(a, seconds=2.5)
led = machine.pin(2)
print("IDENT", host.response(t)[10], led.changes > 8)
vals = []
for key in range(8):
    t = host.send("get", key=key); board.run(a, seconds=0.05)
    vals.append(P.decode(host.response(t))["value"])
print("GET", vals)
t = host.send("stop"); board.run(a, seconds=0.1)
print("STOP", host.response(t)[10], P.decode(host.response(t))["value"] == a.det.rep_count)
before = host.status_codes().count((5, 0))
t = host.send("calibrate"); board.run(a, seconds=4)
print("CALIB", host.response(t)[10], host.status_codes().count((5, 0)) - before)
print("STATUS", host.status_codes())
print("DONE")
"""


def test_control_commands_do_what_they_say(trace_bin):
    path, raw, truth = trace_bin
    for out in run_both(COMMANDS % str(path), heapsize=APP_HEAP):
        assert "DONE" in out, out
        assert "SELECT 0 35 500 3" in out, out
        assert "START 0 True" in out and "START2 5" in out and "CALIB_IN_SET 5" in out, out
        assert "SYNC 0 True True" in out, out
        live = out.split("LIVE ")[1].split()
        assert live[0] == "0" and live[3] == "live_raw" and live[4] == "20", out
        assert int(live[2]) >= 15 and int(live[1]) == int(live[5]) == 5, out  # 100 ms / packet
        assert "LIVE_T True" in out and "LIVE_A live_angle 10" in out, out
        assert "LIVE_OFF True" in out and "IDENT 0 True" in out, out
        vals = json.loads(out.split("GET ")[1].splitlines()[0])
        assert vals[:5] == [4096, 30500, 1, 100, 100] and vals[7] == 1, out
        assert "STOP 0 True" in out, out
        assert "CALIB 0 1" in out, out                  # bias learnt again: a new `calibrated`
        assert "(3, 3)" in out and "(4, 3)" in out      # set started / stopped, exercise 3


FAULTS = PRELUDE + r"""
a, m, tr, host = fresh()
host.connect()
board.run(a, seconds=5)
machine.fail_i2c(0, count=5, errno=5)         # the bus fails for a while
board.run(a, seconds=3)
m.frozen = True                               # the sensor keeps sending one sample
board.run(a, seconds=2)
m.frozen = False
board.run(a, seconds=2)
print("STATUS", host.status_codes())
print("FAULTS", [P.decode(e)["value"] for e in host.events if e[1] == P.T_STATUS and e[8] == 1])
print("SAMPLES", a.samples > 800, a.fault, a.reinits >= 2)
print("DONE")
"""


def test_sensor_faults_are_reported_and_recovered_without_reboot(trace_bin):
    path, raw, truth = trace_bin
    for out in run_both(FAULTS % str(path), heapsize=APP_HEAP):
        assert "DONE" in out, out
        st = out.split("STATUS ")[1].splitlines()[0]
        assert "(1, 1)" in st and "(2, 1)" in st, out            # i2c fault, recovered
        assert "(1, 2)" in st and "(2, 2)" in st, out            # stuck, recovered
        assert st.index("(1, 1)") < st.index("(2, 1)") < st.index("(1, 2)") < st.index("(2, 2)")
        assert "FAULTS [-5" in out, out                          # EIO named
        assert "SAMPLES True 0 True" in out, out                 # restarted after both faults


def test_missing_imu_at_boot_then_found():
    code = r"""
import vclock, imus, board, machine
from scenario import Host
a, m, tr = board.build(imus.ArraySource([0, 0, 4096, 0, 0, 0, 9, 0, 4096, 0, 0, 0], True),
                       "MPU6050", 100)
machine.detach_i2c(0)
a.imu = None                                   # as if nothing answered at boot
host = Host(tr); host.connect()
board.run(a, seconds=1)
t = host.send("start"); board.run(a, seconds=0.1)
print("START", host.response(t)[10])
machine.attach_i2c(0, 0x68, m)
board.run(a, seconds=3)
print("STATUS", host.status_codes(), a.imu is not None)
print("DONE")
"""
    for out in run_both(code, heapsize=APP_HEAP):
        assert "START 7" in out, out
        assert "(2, 4)" in out and "True" in out.split("STATUS")[1], out


def test_saturated_sensor_is_a_fault_until_it_clears():
    code = r"""
import vclock, imus, board
from scenario import Host
from array import array
v = array("h")
for k in range(300):
    if 100 <= k < 250:
        v.extend([32767, 0, 32767, 0, 0, 0])
    else:
        v.extend([0, 0, 4096, k % 3, 0, 0])
a, m, tr = board.build(imus.ArraySource(v), "MPU6050", 100)
host = Host(tr); host.connect()
board.run(a, imu_map=m)
print("STATUS", host.status_codes())
"""
    for out in run_both(code, heapsize=APP_HEAP):
        assert "(1, 3)" in out and "(2, 3)" in out, out


HEAPLOCK = PRELUDE + r"""
a, m, tr, host = fresh()
host.keep_live = False
host.connect(mtu=247)
from scenario import lock_sample_path
locked = lock_sample_path(a)
board.run(a, seconds=30)
host.send("live", rate_hz=100, content=1)     # live packing is in the per-sample path too
board.run(a, seconds=20)
host.send("live", rate_hz=50, content=0)
board.run(a, imu_map=m)
print("LOCKED", locked[0], a.samples, m.fifo_in, len(host.events), host.live_count)
print("DONE")
"""


def test_per_sample_path_allocates_nothing_and_loses_no_sample(trace_bin):
    path, raw, truth = trace_bin
    out = run_mpy(HEAPLOCK % str(path), heapsize=APP_HEAP)
    assert "DONE" in out, out
    locked, samples, fifo_in, n_events, n_live = (int(x) for x in out.split("LOCKED ")[1].split()[:5])
    assert locked + 2 == samples == fifo_in and samples > 4000, out
    assert n_events > 10 and n_live > 50, out


def test_pacing_never_drops_an_event_when_the_stack_is_full(trace_bin):
    path, raw, truth = trace_bin
    code = (PRELUDE + r"""
from bluetooth import MemoryTransport
a, m, tr = board.build(imus.FileSource(PATH), "MPU6050", 100, transport=MemoryTransport(budget=1))
host = Host(tr)
board.run(a, seconds=40)            # events pile up in the ring while nobody is connected
host.connect()
board.run(a, imu_map=m)
print("REFUSED", tr.refused > 0, host.seqs == list(range(a.ring.next_seq)), len(host.seqs))
print("DONE")
""") % str(path)
    out = run_cpython(code)
    assert "REFUSED True True" in out, out


def test_advertising_name_and_restart_after_disconnect():
    code = r"""
import board, imus, machine, bluetooth
from scenario import Host
machine.set_unique_id(b"\x24\x0a\xc4\x00\xbe\xef")
a, m, tr = board.build(imus.ArraySource([0, 0, 4096, 0, 0, 0], True), "MPU6050", 100)
print("NAME", a.name, tr.advertising[1][2:].decode())
print("UUID", bytes(reversed(tr.advertising[0][5:21])).hex())
host = Host(tr); host.connect(); board.run(a, seconds=0.2)
tr.advertising = None
host.drop(); board.run(a, seconds=0.2)
print("READV", tr.advertising is not None)
"""
    for out in run_both(code, heapsize=APP_HEAP):
        assert "NAME smartbell-BEEF smartbell-BEEF" in out, out
        assert "UUID " + P.SERVICE_UUID.replace("-", "") in out, out
        assert "READV True" in out, out


def test_led_flashes_briefly_while_connected_and_the_sensor_loop_keeps_up(trace_bin):
    code = PRELUDE % str(trace_bin[0]) + r"""
a, m, tr = board.build(imus.FileSource(PATH), "MPU6050", 100)
led = machine.pin(2)
board.run(a, seconds=3)
print("ADV", led.high_total_ms(), led.changes)
host = Host(tr); host.connect()
board.run(a, seconds=1)
h0, c0, s0 = led.high_total_ms(), led.changes, a.samples
led.longest_high_ms = 0
board.run(a, seconds=20)
print("CONN", led.high_total_ms() - h0, led.changes - c0, led.longest_high_ms, a.samples - s0)
"""
    for out in run_both(code, heapsize=APP_HEAP):
        adv = [int(x) for x in out.split("ADV ")[1].split()[:2]]
        assert 200 <= adv[0] <= 400 and adv[1] >= 5, out      # 100 ms a second, advertising
        on_ms, changes, longest_ms, samples = [int(x) for x in out.split("CONN ")[1].split()[:4]]
        # 20 s connected: ten flashes of about 50 ms (the pattern runs on 20 ms steps), not on
        assert 9 <= changes // 2 <= 11 and 40 <= longest_ms <= 60, out
        assert 400 <= on_ms <= 660, out                        # ~2.5 % duty instead of 100 %
        assert samples >= 1995, out                            # 100 Hz kept throughout


def test_watchdog_button_and_battery():
    code = r"""
import board, imus, machine
from scenario import Host
a, m, tr = board.build(imus.ArraySource([0, 0, 4096, 0, 0, 0], True), "MPU6050", 100)
host = Host(tr); host.connect()
machine.set_adc_uv(34, 1650000)              # 3.30 V at the battery through the 2:1 divider
board.run(a, seconds=11)
machine.pin(0)._drive(0); board.run(a, seconds=0.3); machine.pin(0)._drive(1)
board.run(a, seconds=0.3)
print("SET", a.in_set, a.battery_mv, a.radio.ble.gatts_read(a.radio.h_battery)[0])
print("STATUS", host.status_codes())
print("WDT", machine.WDT.bites, machine.WDT.max_gap_ms)
a.poll_sensor = lambda: None                  # the sensor loop dies
board.run(a, seconds=12)
print("STALL", machine.WDT._instance.expired())
"""
    for out in run_both(code, heapsize=APP_HEAP):
        assert "SET True 3300 0" in out, out
        assert "(6, 0)" in out and "(3, 0)" in out, out
        wdt = out.split("WDT ")[1].split()
        assert wdt[0] == "0" and int(wdt[1]) <= 200, out
        assert "STALL True" in out, out               # no more feeding: the board would reset


@pytest.fixture(scope="module")
def trace200_bin(tmp_path_factory):
    from smartbell.simulate import simulate
    tr = simulate("hyperextension", reps=5, seed=3, rate_hz=200)
    path = tmp_path_factory.mktemp("fw200") / "hx.bin"
    raw = _write_bin(tr, path)
    return path, raw, tr.truth


@pytest.mark.parametrize("part", ["LSM6DSOX", "LSM6DS3", "MPU6886"])
def test_every_imu_family_runs_the_app_at_200hz_without_losing_samples(part, trace200_bin):
    path, raw, truth = trace200_bin
    code = PRELUDE % str(path) + r"""
a, m, tr, host = fresh(%r, 200)
host.connect()
board.run(a, imu_map=m)
reps = [e for e in host.events if e[1] == P.T_REP]
print("RUN", a.imu.NAME, a.samples, m.fifo_in, m.overflowed, a.imu.overruns, len(reps), a.max_backlog)
print("DONE")
""" % part
    out = run_mpy(code, heapsize=APP_HEAP)
    name, samples, fifo_in, overflowed, overruns, reps, backlog = out.split("RUN ")[1].split()[:7]
    assert name.startswith(part[:7]), out
    assert samples == fifo_in and overflowed == overruns == "0", out
    assert int(samples) >= len(raw) * (200 / 208 if part.startswith("LSM") else 1) - 10, out
    assert int(reps) == truth["rep_count"], out
    assert int(backlog) <= 5, out          # drained every 20 ms: 4 samples, never a pile-up


def test_tick_wrap_changes_nothing_but_the_clock(trace_bin):
    path, raw, truth = trace_bin
    code = PRELUDE % str(path) + r"""
def session(t0):
    a, m, tr, host = fresh(ticks_ms0=t0)
    host.connect()
    board.run(a, imu_map=m)
    return a, host
a = host = None
for t0 in (0, (1 << 30) - 20000):           # the ESP32's tick counter wraps 20 s into the run
    a = host = None
    gc.collect()
    a, host = session(t0)
    reps = [P.decode(e) for e in host.events if e[1] == P.T_REP]
    print("T0", t0, a._epoch, host.seqs == list(range(a.ring.next_seq)))
    print("REPS", [(r["rep"], r["duration_s"], r["rom_deg"], r["hold_s"]) for r in reps])
    print("ENDS", [(r["t_ms"] - t0) & 0xFFFFFFFF for r in reps])
print("DONE")
"""
    for out in run_both(code, heapsize=APP_HEAP):
        assert "DONE" in out, out
        t0s = [ln.split() for ln in out.splitlines() if ln.startswith("T0")]
        assert t0s[0][2:] == ["0", "True"] and t0s[1][2:] == ["1", "True"], out
        reps = [ln for ln in out.splitlines() if ln.startswith("REPS")]
        ends = [ln for ln in out.splitlines() if ln.startswith("ENDS")]
        assert reps[0] == reps[1] and ends[0] == ends[1], out   # same reps, same times since boot
        assert len(reps[0]) > 20


def test_mtu_exchange_resizes_live_packets_and_reads_return_the_latest_event():
    code = r"""
import board, imus
from scenario import Host
from sbcore import protocol as P
a, m, tr = board.build(imus.ArraySource([0, 0, 4096, 0, 0, 0, 5, 0, 4096, 0, 0, 0], True),
                       "MPU6050", 100)
host = Host(tr); host.connect()
host.send("live", rate_hz=100, content=1); board.run(a, seconds=0.5)
print("SMALL", len(P.decode(host.live[-1])["samples"]))
tr.mtu(247); board.run(a, seconds=0.5)
print("BIG", len(P.decode(host.live[-1])["samples"]))
latest = tr.values[P.EVENTS_UUID]
print("READ", P.decode(latest)["seq"] == a.ring.next_seq - 1)
"""
    for out in run_both(code, heapsize=APP_HEAP):
        assert "SMALL 1" in out and "BIG 10" in out and "READ True" in out, out


def test_board_tasks_survive_an_exception():
    code = r"""
import asyncio, board, imus
a, m, tr = board.build(imus.ArraySource([0, 0, 4096, 0, 0, 0, 5, 0, 4096, 0, 0, 0], True),
                       "MPU6050", 100)
calls = [0]
poll = a.poll_sensor

def flaky():
    calls[0] += 1
    if calls[0] <= 3:
        raise RuntimeError("bug %d" % calls[0])
    poll()

a.poll_sensor = flaky

async def main():
    t = asyncio.create_task(a.run())
    await asyncio.sleep_ms(300)
    t.cancel()

asyncio.run(main())
print("TASKS", a.task_errors, calls[0] > 5)
"""
    out = run_mpy(code, heapsize=APP_HEAP)
    assert "TASKS 3 True" in out, out
