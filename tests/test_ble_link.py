"""The logger over a real BLE stack (bleak -> bumble backend -> LocalLink -> bumble peripheral ->
pipe -> device process), with a small scripted device that speaks the protocol (ring buffer,
replay, responses). Fast checks of reconnect/replay/dedupe independent of the firmware; the
firmware itself is in tests/test_e2e_*.py."""
import asyncio
import os
import shutil
import sys

import pytest
from bumble.link import LocalLink

from mpy import FIRMWARE, VBOARD
from smartbell.bumble_backend import BumbleCentral
from smartbell.journal import Journal
from smartbell.live import LiveView
from smartbell.logger import Session, Step
from smartbell.spec import load_spec
from smartbell.vperipheral import VirtualPeripheral

# A device that emits one rep event every `PERIOD` ms of device time during a set, keeps a ring
# of 256 events, replays on request and holds new events after a connection until a command,
# as docs/protocol.md says. Uses the real protocol module's encoders.
FAKE_DEVICE = r"""
import sys
import blepipe
from sbcore import protocol as P

PERIOD = int(sys.argv[1])
N_REPS = int(sys.argv[2])
ring = []           # (seq, bytes)
state = {"conn": None, "deliver_from": None, "hold": False, "set": False, "reps": 0, "seq": 0,
         "rseq": 0, "t": 0, "since_conn": 0}
buf = bytearray(20)

class BLE:
    def _deliver(self, event, data):
        if event == 1:
            state["conn"] = data[0]; state["hold"] = True; state["since_conn"] = state["t"]
            state["deliver_from"] = state["seq"]
        elif event == 2:
            state["conn"] = None
            t.advertise(ADV, None)
        elif event == 3:
            command(data[0], data[1], data[2])

def respond(conn, cmd, token, code, value):
    n = P.pack_response(buf, state["rseq"], state["t"], cmd, token, code, value)
    state["rseq"] += 1
    t.notify(conn, 3, bytes(buf[:n]))

def command(conn, handle, data):
    try:
        c = P.decode_command(data)
    except P.ProtocolError as e:
        respond(conn, data[1] if len(data) > 1 else 0, data[2] if len(data) > 2 else 0, e.status, 0)
        return
    cmd, value, code = c["cmd"], 0, P.OK
    if state["hold"]:
        state["hold"] = False
    if cmd == P.CMD_REPLAY and c["from_seq"] > state["seq"]:
        code, value = P.E_RANGE, state["seq"]      # a number it never issued (it restarted)
    elif cmd == P.CMD_REPLAY:
        state["deliver_from"] = c["from_seq"]
        value = state["seq"] - c["from_seq"]
    elif cmd == P.CMD_GET:
        value = {P.GET_EVENT_HEAD: state["seq"], P.GET_ACCEL_LSB_PER_G: 4096,
                 P.GET_GYRO_MDPS_PER_LSB: 30518, P.GET_FW_VERSION: 100}.get(c["key"], 1)
    elif cmd == P.CMD_START:
        state["set"] = True; state["reps"] = 0
    elif cmd == P.CMD_STOP:
        state["set"] = False; value = state["reps"]
    respond(conn, cmd, c["token"], code, value)

ADV = bytes([15, 9]) + b"smartbell-FAKE" + bytes([17, 7]) + bytes(reversed(bytes.fromhex(P.SERVICE_UUID.replace("-", ""))))
t = blepipe.Transport()
t.attach(BLE())
t.register([[P.SERVICE_UUID, [[1, P.EVENTS_UUID, 0x12], [2, P.LIVE_UUID, 0x10], [3, P.CONTROL_UUID, 0x18]]],
            ["0x180f", [[4, "0x2a19", 0x12]]]])
t.write(4, bytes([77]))
t.advertise(ADV, None)
next_rep = PERIOD
while state["reps"] < N_REPS or state["deliver_from"] != state["seq"]:
    t.pace(state["t"])
    state["t"] += 20
    if state["set"] and state["t"] >= next_rep and state["reps"] < N_REPS:
        state["reps"] += 1
        n = P.pack_rep(buf, state["seq"], state["t"], state["reps"], 4000, 1500, 1000, 1500, 400, 40, 1100)
        ring.append((state["seq"], bytes(buf[:n])))
        ring[:] = ring[-256:]
        state["seq"] += 1
    if not state["set"]:
        next_rep = state["t"] + PERIOD
    else:
        next_rep = max(next_rep, state["t"]) if state["t"] < next_rep else state["t"] + PERIOD
    if state["conn"] is None:
        continue
    if state["hold"] and state["t"] - state["since_conn"] > 1000:
        state["hold"] = False
    if state["hold"]:
        continue
    sent = 0
    for seq, pkt in ring:
        if seq >= state["deliver_from"] and sent < 4:
            t.notify(state["conn"], 1, pkt)
            state["deliver_from"] = seq + 1
            sent += 1
while True:
    t.pace(state["t"])
    state["t"] += 20
"""


def device_command(tmp_path, period_ms, n_reps):
    script = tmp_path / "fake_device.py"
    script.write_text(FAKE_DEVICE)
    env = dict(os.environ, SMARTBELL_BLE_LOCKSTEP="1")
    mpy = shutil.which("micropython")
    if mpy:
        env["MICROPYPATH"] = f"{VBOARD}:{FIRMWARE}:.frozen"
        return [mpy, str(script), str(period_ms), str(n_reps)], env
    env["PYTHONPATH"] = f"{VBOARD}:{FIRMWARE}"
    return [sys.executable, str(script), str(period_ms), str(n_reps)], env


def run_session(tmp_path, *, n_reps, outages, sets=1, period_ms=3000):
    async def main():
        link = LocalLink()
        vp = VirtualPeripheral(link, "-", outages=outages, command=device_command(tmp_path, period_ms, n_reps),
                               stderr_path=tmp_path / "device.stderr")
        await vp.start()
        central = BumbleCentral(link)
        journal = Journal.open(tmp_path / "journal.sqlite3")
        steps = [Step("good-morning", load_spec("good-morning"), sets=sets, reps=n_reps // sets, rest_s=0)]
        session = Session(steps, journal=journal, backend=central.backend(), rest_scale=0,
                          view=LiveView(enabled=False), scan_timeout_s=2)
        try:
            summary = await asyncio.wait_for(session.run(), 60)
        finally:
            await vp.stop()
        return session, journal, vp, summary
    return asyncio.run(main())


def test_session_over_bumble_with_outages_loses_and_duplicates_nothing(tmp_path):
    outages = [(5_000 + 7_000 * i, 1_000 + 1_500 * i) for i in range(8)]
    session, journal, vp, summary = run_session(tmp_path, n_reps=20, outages=outages)
    reps = journal.events(summary["session_id"], type="rep")
    assert list(reps["rep"]) == list(range(1, 21))
    assert list(reps["seq"]) == sorted(set(reps["seq"]))
    assert vp.stats["outages"] == 8 and summary["reconnects"] >= 8
    assert summary["missing_events"] == 0 and summary["malformed"] == 0
    assert session.device_info["fw_version"] == 100 and session.state.battery_pct == 77


def test_plan_sets_walk_and_every_rep_lands_in_its_set(tmp_path):
    session, journal, vp, summary = run_session(tmp_path, n_reps=6, outages=[], sets=2)
    reps = journal.events(summary["session_id"], type="rep")
    assert list(reps["set_no"]) == [1, 1, 1, 2, 2, 2]
    assert list(reps["rep"]) == [1, 2, 3, 1, 2, 3]
    assert summary["exercises"]["good-morning"]["reps"] == 6


def test_scan_lists_name_address_signal_and_battery(tmp_path):
    from smartbell.ble import scan
    from smartbell.logger import format_scan

    async def main():
        link = LocalLink()
        vp = VirtualPeripheral(link, "-", command=device_command(tmp_path, 3000, 1))
        await vp.start()
        try:
            return await scan(0.3, BumbleCentral(link).backend())
        finally:
            await vp.stop()

    (found,) = asyncio.run(main())
    assert (found.name, found.address, found.battery_pct) == ("smartbell-FAKE", "C0:5B:00:00:00:01", 77)
    table = format_scan([found]).splitlines()
    assert table[0].split() == ["name", "address", "signal", "battery"]
    assert table[1].split() == ["smartbell-FAKE", "C0:5B:00:00:00:01", str(found.rssi), "dBm", "77%"]
    assert "no smartbell found" in format_scan([])


def test_scan_without_bluetooth_is_one_clear_line(capsys):
    from smartbell.cli import main
    if os.path.exists("/run/dbus/system_bus_socket") or os.path.exists("/var/run/dbus/system_bus_socket"):
        pytest.skip("this machine has a D-Bus system bus: bleak may find a real adapter")
    assert main(["scan", "--timeout", "0.1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("smartbell scan: error: Bluetooth is not available")


def test_keys_start_and_stop_sets_move_on_and_quit(tmp_path):
    """--manual: nothing starts by itself; space starts and stops a set, n moves to the next
    exercise (its thresholds are pushed), q ends the session."""
    async def main():
        link = LocalLink()
        vp = VirtualPeripheral(link, "-", command=device_command(tmp_path, 1000, 50))
        await vp.start()
        journal = Journal.open(tmp_path / "journal.sqlite3")
        steps = [Step("good-morning", load_spec("good-morning"), sets=2, reps=None),
                 Step("hyperextension", load_spec("hyperextension"), sets=1, reps=None)]
        session = Session(steps, journal=journal, backend=BumbleCentral(link).backend(),
                          auto=False, view=LiveView(enabled=False))
        run = asyncio.create_task(session.run())

        async def until(cond, what):
            for _ in range(500):
                if cond():
                    return
                await asyncio.sleep(0.01)
            raise AssertionError(f"timed out waiting for {what}")

        await until(lambda: session.state.connection == "connected", "the link")
        await asyncio.sleep(0.2)
        assert not session.state.in_set and session.state.set_no == 0
        session.handle_key(" ")
        await until(lambda: session.state.in_set, "the set to start")
        await until(lambda: session.state.reps >= 2, "two reps")
        session.handle_key(" ")
        await until(lambda: not session.state.in_set, "the set to stop")
        writes_before = vp.stats["writes"]
        session.handle_key("n")
        await until(lambda: session.state.exercise == "hyperextension", "the next exercise")
        await until(lambda: vp.stats["writes"] > writes_before, "the new thresholds")
        session.handle_key("Q")
        summary = await asyncio.wait_for(run, 10)
        await vp.stop()
        return session, journal, summary

    session, journal, summary = asyncio.run(main())
    reps = journal.events(summary["session_id"], type="rep")
    assert set(reps["set_no"]) == {1} and len(reps) >= 2   # the device counts only in a set
    assert journal.session(summary["session_id"])["ended_at"]


def test_malformed_notifications_over_the_link_are_counted_and_lose_nothing(tmp_path):
    import random

    from sbcore import protocol as P
    rng = random.Random(7)
    good = P.encode({"type": "rep", "seq": 9, "t_ms": 1000, "rep": 1, "duration_s": 4,
                     "to_far_s": 1.5, "hold_s": 1, "return_s": 1.5, "rom_deg": 40,
                     "peak_speed_dps": 40, "peak_accel_g": 1.1})
    junk = []
    for i in range(40):
        kind = i % 4
        if kind == 0:
            junk.append(bytes([2]) + good[1:])                          # unknown version
        elif kind == 1:
            junk.append(good[:rng.randrange(0, len(good))])             # cut short
        elif kind == 2:
            junk.append(bytes([1, 0x7F]) + rng.randbytes(rng.randrange(6, 30)))  # unknown type
        else:
            junk.append(good + rng.randbytes(rng.randrange(1, 5)))      # too long

    async def main():
        link = LocalLink()
        vp = VirtualPeripheral(link, "-", command=device_command(tmp_path, 1000, 10), speed=20)
        await vp.start()
        journal = Journal.open(tmp_path / "journal.sqlite3")
        session = Session([Step("good-morning", load_spec("good-morning"))],
                          journal=journal, backend=BumbleCentral(link).backend(),
                          view=LiveView(enabled=False))

        async def inject():
            while vp.connection is None or session.session_id is None:
                await asyncio.sleep(0.005)
            events_char = vp.chars[1]   # the scripted device's events characteristic
            for data in junk:           # interleaved with the device's own events
                await vp.device.notify_subscriber(vp.connection, events_char, data)
                await asyncio.sleep(0.002)
            while session.state.reps < 10:
                await asyncio.sleep(0.01)
            session.stop()

        injector = asyncio.create_task(inject())
        summary = await asyncio.wait_for(session.run(), 60)
        await injector
        await vp.stop()
        return journal, summary

    journal, summary = asyncio.run(main())
    assert summary["malformed"] == len(junk)
    faults = journal.faults(summary["session_id"])
    assert len(faults) == len(junk) and set(faults["kind"]) == {"malformed"}
    assert list(journal.events(summary["session_id"], type="rep")["rep"]) == list(range(1, 11))


def test_a_device_that_restarts_mid_set_is_followed(tmp_path):
    """Power or watchdog reset: the device numbers events from 0 again and is out of its set.
    The logger notices (replay of a number never issued), keeps its own numbering, says so in
    the journal, pushes the exercise again and restarts the set; no event is overwritten."""
    async def main():
        link = LocalLink()
        # 10x real time: a rep every 100 ms of wall time, so the power cut falls mid-set.
        first = VirtualPeripheral(link, "-", command=device_command(tmp_path, 1000, 50), speed=10)
        await first.start()
        journal = Journal.open(tmp_path / "journal.sqlite3")
        session = Session([Step("good-morning", load_spec("good-morning"), reps=6)], journal=journal,
                          backend=BumbleCentral(link).backend(), view=LiveView(enabled=False))
        run = asyncio.create_task(session.run())
        while session.state.reps < 3:
            await asyncio.sleep(0.005)
        await first.stop()                                  # power gone: off the link
        second = VirtualPeripheral(link, "-", command=device_command(tmp_path, 1000, 50))
        await second.start()                                # a fresh boot at the same address
        try:
            summary = await asyncio.wait_for(run, 30)
        finally:
            await second.stop()
        return session, journal, summary

    session, journal, summary = asyncio.run(main())
    reps = journal.events(summary["session_id"], type="rep")
    assert len(reps) == 6 and reps["seq"].is_unique and reps["seq"].is_monotonic_increasing
    assert list(reps["set_no"]) == [1] * 6
    counts = list(reps["rep"])
    k = counts.index(1, 1)                      # the device's own count restarted with it
    assert k >= 3 and counts == list(range(1, k + 1)) + list(range(1, 7 - k))
    faults = journal.faults(summary["session_id"])
    assert list(faults["kind"]) == ["device_restart"]
    assert session.seq.epochs == 1 and summary["exercises"]["good-morning"]["reps"] == 6
