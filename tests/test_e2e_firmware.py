"""End to end through a real BLE stack with the firmware itself under `micropython`: a simulated
20-rep trace goes into the virtual board's IMU, the firmware detects and serves the reps, the
unchanged logger receives them through bleak -> bumble across 20 scripted disconnects of 1-30 s
of device time, and the journal and the exported CSV equal `smartbell analyze` on the same trace."""
import asyncio
import shutil

import pandas as pd
import pytest
from bumble.link import LocalLink

from smartbell.analyze import analyze_trace
from smartbell.bumble_backend import BumbleCentral
from smartbell.export import export_sessions
from smartbell.journal import Journal
from smartbell.live import LiveView
from smartbell.logger import Session, Step
from smartbell.simulate import simulate
from smartbell.spec import load_spec
from fakes.mpybuild import build_mpy
from smartbell.vperipheral import MPY_HEAP, VirtualPeripheral

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not shutil.which("micropython"), reason="needs the micropython command")]

EXERCISE = "good-morning"
# 20 dropouts, 1-30 s of device time each, with 3.5 s of link between them, all inside the set.
OUTAGE_S = [1, 2, 3, 5, 8, 30, 1, 1, 2, 4, 1, 6, 1, 2, 3, 1, 10, 1, 2, 1]


def outage_plan(first_ms=8_000, gap_ms=3_500):
    out, t = [], first_ms
    for d in OUTAGE_S:
        out.append((t, d * 1000))
        t += d * 1000 + gap_ms
    return out, t


async def logged_session(trace_path, tmp_path, outages):
    link = LocalLink()
    vp = VirtualPeripheral(link, trace_path, outages=outages, stderr_path=tmp_path / "firmware.log",
                           mpy_dir=build_mpy())
    await vp.start()
    journal = Journal.open(tmp_path / "journal.sqlite3")
    spec = load_spec(EXERCISE)
    session = Session([Step(EXERCISE, spec, sets=1, reps=None)], journal=journal,
                      backend=BumbleCentral(link).backend(), view=LiveView(enabled=False),
                      scan_timeout_s=3)

    try:
        summary = await asyncio.wait_for(vp.run_session(session), 240)
    finally:
        await vp.stop()
    return session, journal, vp, summary


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    trace = simulate(EXERCISE, 20, seed=3, rate_hz=100)
    trace_path, _ = trace.write(tmp / "trace.csv")
    outages, last_end_ms = outage_plan()
    assert last_end_ms < trace.t_s[-1] * 1000 - 5_000, "every dropout must fall inside the set"
    session, journal, vp, summary = asyncio.run(logged_session(trace_path, tmp, outages))
    return dict(tmp=tmp, trace_path=trace_path, session=session, journal=journal, vp=vp,
                summary=summary, expected=analyze_trace(trace_path, EXERCISE))


def test_every_event_arrives_once_across_20_disconnects(run):
    summary, vp, journal = run["summary"], run["vp"], run["journal"]
    assert vp.interpreter.startswith("micropython")
    # the firmware as a board gets it (.mpy) in the ESP32's 56wK plus the virtual board's share
    assert f"heapsize={MPY_HEAP}" in vp.argv and MPY_HEAP == "76wK"
    assert vp.stats["outages"] == 20 and summary["reconnects"] >= 20
    events = journal.events(summary["session_id"])
    seqs = list(events["seq"])
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a gap or a duplicate in the journal"
    assert summary["missing_events"] == 0 and summary["malformed"] == 0
    reps = events[events["type"] == "rep"]
    assert list(reps["rep"]) == list(range(1, len(run["expected"]) + 1))
    # Reps that ended while the link was down reached the journal by replay after reconnecting.
    outages, _ = outage_plan()
    offline = [t for t in reps["t_ms"] if any(a <= t < a + d for a, d in outages)]
    assert len(offline) >= 5


MEASURES = ["start_s", "end_s", "duration_s", "to_far_s", "hold_s", "return_s", "rom_deg",
            "peak_speed_dps", "peak_accel_g"]
# One wire LSB (docs/protocol.md: 10 ms, 0.1 deg, 1 deg/s, 4 mg) plus analyze's own rounding.
TOLERANCE = {"start_s": 0.011, "end_s": 0.011, "duration_s": 0.011, "to_far_s": 0.011,
             "hold_s": 0.011, "return_s": 0.011, "rom_deg": 0.11, "peak_speed_dps": 1.01,
             "peak_accel_g": 0.0041}
# The device counts ms since its boot, the trace since its first sample: one constant apart.
CLOCK_OFFSET_MAX_S = 0.05


def assert_same_reps(got: pd.DataFrame, expected: pd.DataFrame, checks: bool):
    assert len(got) == len(expected) == 20
    assert list(got["rep"]) == list(expected["rep"])
    offset = float((got["end_s"] - expected["end_s"]).median())
    assert abs(offset) <= CLOCK_OFFSET_MAX_S
    for col in MEASURES:
        g = got[col].to_numpy(dtype=float) - (offset if col in ("start_s", "end_s") else 0)
        e = expected[col].to_numpy(dtype=float)
        assert abs(g - e).max() <= TOLERANCE[col], f"{col}: logged {g} vs analyze {e}"
    if checks:
        for col in [c for c in expected.columns if c.startswith("check_")] + ["verdict", "abrupt_count"]:
            assert list(got[col]) == list(expected[col]), col


def test_journal_equals_analyze_on_the_same_trace(run):
    reps = run["journal"].events(run["summary"]["session_id"], type="rep")
    assert_same_reps(reps.reset_index(drop=True), run["expected"], checks=False)


def test_exported_csv_equals_analyze_on_the_same_trace(run):
    out = run["tmp"] / "reps.csv"
    export_sessions(run["journal"], [run["summary"]["session_id"]], out)
    assert_same_reps(pd.read_csv(out, keep_default_na=False, na_values=[""]), run["expected"],
                     checks=True)


def test_thresholds_the_firmware_refuses_end_the_session_clearly(tmp_path):
    import dataclasses

    from smartbell.logger import SessionError
    bad = dataclasses.replace(load_spec(EXERCISE), detector={"rep_min_rom_deg": 500})  # max 170
    trace = simulate(EXERCISE, 1, seed=3, rate_hz=100)
    trace_path, _ = trace.write(tmp_path / "trace.csv")

    async def main():
        link = LocalLink()
        vp = VirtualPeripheral(link, trace_path)
        await vp.start()
        session = Session([Step(EXERCISE, bad)], journal=Journal.open(tmp_path / "j.sqlite3"),
                          backend=BumbleCentral(link).backend(), view=LiveView(enabled=False))
        try:
            with pytest.raises(SessionError, match="device refused 'select': bad_value"):
                await asyncio.wait_for(session.run(), 30)
        finally:
            await vp.stop()

    asyncio.run(main())
