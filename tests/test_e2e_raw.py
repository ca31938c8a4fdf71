"""`--raw`: the live raw IMU stream recorded through the whole chain (firmware under micropython ->
bumble -> bleak -> logger) lands in a CSV with `smartbell analyze`'s input contract and in the
journal, and re-analysing that recording finds the same reps as the original trace."""
import asyncio
import shutil

import pytest
from bumble.link import LocalLink

from smartbell.analyze import HEADER, analyze
from smartbell.bumble_backend import BumbleCentral
from smartbell.journal import Journal
from smartbell.live import LiveView
from smartbell.logger import Session, Step
from smartbell.simulate import simulate
from smartbell.spec import load_spec
from fakes.mpybuild import build_mpy
from smartbell.vperipheral import VirtualPeripheral

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not shutil.which("micropython"), reason="needs the micropython command")]


class PhaseLog(LiveView):
    """Records the phases the view was asked to show."""

    def __init__(self):
        super().__init__(enabled=False)
        self.phases = []

    def update(self, state):
        if not self.phases or self.phases[-1] != state.phase:
            self.phases.append(state.phase)
        super().update(state)


async def record(trace_path, tmp_path, view):
    link = LocalLink()
    vp = VirtualPeripheral(link, trace_path, stderr_path=tmp_path / "firmware.log",
                           mpy_dir=build_mpy())
    await vp.start()
    journal = Journal.open(tmp_path / "journal.sqlite3")
    session = Session([Step("good-morning", load_spec("good-morning"))], journal=journal,
                      backend=BumbleCentral(link).backend(), view=view,
                      raw_csv=tmp_path / "raw.csv")

    try:
        summary = await asyncio.wait_for(vp.run_session(session), 120)
    finally:
        await vp.stop()
    return journal, summary


def test_raw_recording_reanalyses_to_the_same_reps(tmp_path, monkeypatch):
    # Device time runs ~100x faster than wall time in lockstep: a view redrawn every 50 ms of wall
    # time would sample the phases seconds of device time apart and miss short ones at random.
    monkeypatch.setattr("smartbell.logger.REDRAW_EVERY_S", 0.0)
    trace = simulate("good-morning", 6, seed=1, rate_hz=100)
    trace_path, _ = trace.write(tmp_path / "trace.csv")
    view = PhaseLog()
    journal, summary = asyncio.run(record(trace_path, tmp_path, view))
    # Raw live data carries no phase: the host runs the same detector and the view still shows
    # each rep's phases in order.
    assert view.phases.count("hold") >= 6 and "out" in view.phases and "return" in view.phases, " ".join(view.phases)
    raw_csv = tmp_path / "raw.csv"
    assert raw_csv.read_text().splitlines()[0].split(",") == HEADER
    raw = journal.raw(summary["session_id"])
    assert summary["raw_samples"] == len(raw) == len(raw_csv.read_text().splitlines()) - 1
    # Live data starts with the logger's second command: all but the first moments are there.
    assert len(raw) >= len(trace.t_s) - 50
    original = analyze(trace_path, "good-morning").reps
    again = analyze(raw_csv, "good-morning").reps
    assert len(again) == len(original) == 6
    offset = float((again["end_s"] - original["end_s"]).median())   # device clock vs trace clock
    assert abs(offset) <= 0.05
    assert abs(again["end_s"] - offset - original["end_s"]).max() <= 0.02
    assert abs(again["rom_deg"] - original["rom_deg"]).max() <= 0.3
    assert list(again["verdict"]) == list(original["verdict"])
