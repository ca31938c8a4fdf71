"""The logger's consumer: decode, de-duplicate, check, journal; malformed packets counted, never
fatal. Packets are built with the protocol module's own encoder, the journal is the real one."""
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sbcore import protocol as P
from smartbell.journal import Journal
from smartbell.logger import SeqTracker, Session, SetRange, Step, steps_from
from smartbell.spec import load_spec


def rep_packet(seq, rep, end_ms, *, rom=40.0, hold=2.5, far=2.0, ret=2.0):
    return P.encode({"type": "rep", "seq": seq, "t_ms": end_ms, "rep": rep,
                     "duration_s": far + hold + ret, "to_far_s": far, "hold_s": hold,
                     "return_s": ret, "rom_deg": rom, "peak_speed_dps": 40, "peak_accel_g": 1.1})


def abrupt_packet(seq, t_ms):
    return P.encode({"type": "abrupt", "seq": seq, "t_ms": t_ms, "peak_accel_g": 2.5, "jerk_gps": 80})


def make_session(tmp_path, **kw):
    journal = Journal.open(tmp_path / "journal.sqlite3")
    steps = [Step("good-morning", load_spec("good-morning"), sets=2, reps=3, hold_s=2.0)]
    s = Session(steps, journal=journal, patient="P-test", weight_kg=3.0, **kw)
    s.device_info.update(name="smartbell-TEST", address="C0:5B:00:00:00:01", fw_version=100)
    s._start_journal()
    s.seq.start(0)
    return s, journal


def test_reps_are_checked_journaled_once_and_counted(tmp_path):
    s, j = make_session(tmp_path)
    s.state.in_set, s.state.set_no = True, 1
    s.set_ranges.append(SetRange("good-morning", 1, start_t_ms=1_000))  # as the start response does
    s.auto = False
    now = time.time()
    s.handle_packet(now, abrupt_packet(0, 5_000))
    s.handle_packet(now, rep_packet(1, 1, 8_000, rom=40))
    s.handle_packet(now, rep_packet(1, 1, 8_000, rom=40))       # replayed: dropped
    s.handle_packet(now, rep_packet(2, 2, 15_000, rom=10, hold=0.5))
    reps = j.events(s.session_id, type="rep")
    assert list(reps["seq"]) == [1, 2] and list(reps["rom_deg"]) == [40.0, 10.0]
    checked = s.reps["good-morning"]
    assert [r["check_abrupt"] for r in checked] == ["abrupt", "ok"]  # the abrupt at 5 s is in rep 1
    assert [r["check_rom"] for r in checked] == ["ok", "too shallow"]
    assert [r["verdict"] for r in checked] == ["fix", "fix"]
    assert s.state.reps == 2 and s.stats.duplicates == 1
    assert s.state.last_rep["check_hold"] == "hold too short"
    assert s.seq.replay_from() == 3


def test_an_abrupt_confirmed_after_its_rep_changes_that_reps_verdict(tmp_path):
    s, _ = make_session(tmp_path)
    s.handle_packet(time.time(), rep_packet(0, 1, 8_000, rom=40, hold=2.5))
    assert s.state.last_rep["check_abrupt"] == "ok"
    s.handle_packet(time.time(), abrupt_packet(1, 6_000))       # t inside rep 1, sent after it
    assert s.state.last_rep["check_abrupt"] == "abrupt" and s.state.last_rep["verdict"] == "fix"
    assert s.summary is None and s._summarise()["exercises"]["good-morning"]["abrupt"] == 1


def test_sequence_numbers_unwrap_across_65536():
    t = SeqTracker()
    t.start(65_530)
    fulls = [t.unwrap(s % 65536) for s in range(65_530, 65_545)]
    assert fulls == list(range(65_530, 65_545))
    for f in fulls[:8]:
        assert t.add(f)
    assert not t.add(fulls[3])
    assert t.replay_from() == (65_538 % 65536)
    assert t.add(fulls[10]) and t.replay_from() == 65_538 % 65536  # gap: still from the hole
    assert t.missing == 2


def test_steps_from_plan_walk_every_exercise():
    from smartbell.plan import PLANS_DIR, load_plan
    plan = load_plan(PLANS_DIR / "example.toml")
    steps = steps_from(None, plan)
    assert [s.name for s in steps] == [e.name for e in plan.exercises]
    assert steps[0].sets == plan.exercises[0].sets and steps[0].reps == plan.exercises[0].reps


packets = st.one_of(
    st.binary(max_size=40),
    st.builds(lambda b, t: bytes([1, t]) + b, st.binary(max_size=30),
              st.sampled_from([0x01, 0x02, 0x03, 0x04, 0x10, 0x11, 0x20, 0x7F])),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(noise=st.lists(packets, max_size=12))
def test_fuzzed_notifications_are_counted_and_lose_nothing(tmp_path_factory, noise):
    # The journal fsyncs every event: on a RAM disk when there is one, 300 examples stay fast.
    shm = Path("/dev/shm")
    where = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path_factory.mktemp("fuzz")
    s, j = make_session(where)
    expected_bad = 0
    good = []
    for i, junk in enumerate(noise):
        try:
            pkt = P.decode(junk)
            ok = pkt["type"] not in ("rep", "hold", "abrupt", "status")  # a valid event would count
        except P.ProtocolError:
            expected_bad += 1
            ok = True
        if ok:
            s.handle_packet(time.time(), junk)
        real = rep_packet(i, i + 1, 100_000 + i * 7_000)
        s.handle_packet(time.time(), real)
        good.append(i)
    assert s.stats.malformed == expected_bad
    assert len(j.faults(s.session_id)) == expected_bad
    assert list(j.events(s.session_id, type="rep")["seq"]) == sorted(good) or not good
    j.close()
    shutil.rmtree(where, ignore_errors=True)


def test_live_angle_drives_phase_and_hold_timer(tmp_path):
    s, _ = make_session(tmp_path)
    samples = [{"angle_deg": 5.0, "phase": 1}] * 2 + [{"angle_deg": 41.0, "phase": 2}] * 4
    s.handle_packet(time.time(), P.encode({"type": "live_angle", "seq": 1, "t_ms": 10_000,
                                           "period_ms": 40, "samples": samples}))
    assert s.state.phase == "hold" and s.state.angle_deg == 41.0
    assert s.state.hold_elapsed_s == pytest.approx(0.12)


def test_a_restarted_device_gets_a_new_epoch_of_numbers():
    t = SeqTracker()
    t.start(5)
    for s in range(5, 9):
        assert t.add(t.unwrap(s))
    t.new_epoch()                      # the device now numbers from 0 again
    assert t.replay_from() == 0
    fulls = [t.unwrap(s) for s in range(3)]
    assert fulls == [9, 10, 11] and all(t.add(f) for f in fulls)
    assert not t.add(t.unwrap(1))      # a replay of the new boot's event 1: a duplicate
    assert t.replay_from() == 3 and t.missing == 0


def test_rest_between_sets_is_counted_down(tmp_path, monkeypatch):
    import asyncio

    s, _ = make_session(tmp_path)                  # the plan rests 60 s between sets
    slept = []

    async def no_wait(seconds):
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", no_wait)
    messages = []
    s._render = lambda force=False: messages.append(s.state.message)
    started = []

    async def start_set():
        started.append(s.state.message)

    s._start_set = start_set
    s.state.set_no = 1
    asyncio.run(s._after_set())
    assert messages[0] == "Set 1 done. Rest: 60 s left, then set 2."
    assert messages[-1] == "Set 1 done. Rest: 0 s left, then set 2."
    assert len(messages) == 61 and sum(slept) == 60
    assert started == ["Set 1 done. Rest: 0 s left, then set 2."]   # the next set after the rest


def status_packet(seq, t_ms, code, detail=1, value=1):
    return P.encode({"type": "status", "seq": seq, "t_ms": t_ms, "code": code, "detail": detail,
                     "value": value})


def test_sets_started_and_stopped_with_the_device_button_are_followed(tmp_path):
    import asyncio

    async def scenario():
        s, j = make_session(tmp_path)
        s.auto = False
        now = time.time()
        s.handle_packet(now, status_packet(0, 1_000, P.ST_SET_STARTED, value=1))
        assert s.state.in_set and s.state.set_no == 1 and s.state.reps == 0
        s.handle_packet(now, rep_packet(1, 1, 8_000))
        s.handle_packet(now, status_packet(2, 9_000, P.ST_SET_STOPPED, value=1))
        await asyncio.sleep(0)                   # the end-of-set message is a task
        assert not s.state.in_set and s.state.reps == 1
        assert "Set 1 done" in s.state.message and "button" in s.state.message
        s.handle_packet(now, status_packet(2, 9_000, P.ST_SET_STOPPED, value=1))   # replayed
        s.handle_packet(now, rep_packet(3, 1, 12_000))           # between sets: in no set
        s.handle_packet(now, status_packet(4, 20_000, P.ST_SET_STARTED, value=2))
        s.handle_packet(now, rep_packet(5, 1, 25_000))
        assert s.state.in_set and s.state.set_no == 2 and s.state.reps == 1
        reps = j.events(s.session_id, type="rep")
        assert list(reps["set_no"]) == [1, 0, 2]
        # a set this logger is itself starting or stopping is not counted a second time
        s._set_busy = True
        s.handle_packet(now, status_packet(6, 30_000, P.ST_SET_STOPPED, value=1))
        assert s.state.in_set and s.state.set_no == 2
        s._set_busy = False
        s.handle_packet(now, status_packet(7, 31_000, P.ST_SET_STARTED, value=3))
        assert s.state.set_no == 2 and [r.set_no for r in s.set_ranges] == [1, 2]
    asyncio.run(scenario())
