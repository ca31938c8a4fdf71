"""The session journal: durable, duplicate-proof, readable while written."""
import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from smartbell import SmartbellError
from smartbell.export import export_sessions
from smartbell.journal import Journal, JournalError, default_path

CET = timezone(timedelta(hours=1))
T0 = datetime(2026, 11, 25, 8, 15, 0, tzinfo=CET)


def start(j, patient="P-07", when=T0, **kw):
    args = dict(patient=patient, exercise_plan={"exercises": [{"name": "good-morning"}]},
                spec_name="good-morning", spec={"name": "good-morning", "rom_deg": [30, 60]},
                weight_kg=3.0, device_name="smartbell-1a2b", device_id="AA:BB:CC:DD:EE:FF",
                firmware_version="0.1.0", started_at=when)
    args.update(kw)
    return j.start_session(**args)


def rep_fields(n):
    return {"rep": n, "start_s": 10.0 * n, "end_s": 10.0 * n + 6, "to_far_s": 2.0, "hold_s": 2.5,
            "return_s": 1.5, "duration_s": 6.0, "rom_deg": 40.0 + n, "peak_speed_dps": 55.5,
            "peak_accel_g": 0.31}


@pytest.fixture
def journal(tmp_path):
    with Journal.open(tmp_path / "j.sqlite3") as j:
        yield j


def test_default_path_honours_smartbell_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SMARTBELL_HOME", str(tmp_path / "home"))
    assert default_path() == tmp_path / "home" / "journal.sqlite3"
    with Journal.open() as j:
        start(j)
    assert (tmp_path / "home" / "journal.sqlite3").exists()


def test_wal_and_full_sync(journal):
    assert journal._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_session_id_is_sortable_and_metadata_round_trips(journal):
    sid = start(journal)
    assert sid.startswith("20261125-081500-") and len(sid) == len("20261125-081500-3f2a")
    s = journal.session(sid)
    assert s["patient"] == "P-07" and s["weight_kg"] == 3.0
    assert s["spec"] == {"name": "good-morning", "rom_deg": [30, 60]}
    assert s["device_id"] == "AA:BB:CC:DD:EE:FF" and s["firmware_version"] == "0.1.0"
    assert datetime.fromisoformat(s["started_at"]) == T0
    assert s["ended_at"] is None and s["n_reps"] == 0


def test_events_round_trip_and_duplicates_are_ignored(journal):
    sid = start(journal)
    for n in (1, 2, 3):
        assert journal.add_event(sid, seq=n, type="rep", t_ms=1000 * n,
                                 host_time=T0 + timedelta(seconds=n), exercise="good-morning",
                                 set_no=1, fields=rep_fields(n), raw_bytes=bytes([n, 0xFF]))
    journal.add_event(sid, seq=4, type="abrupt", t_ms=4000, host_time=T0, exercise="good-morning",
                      set_no=1, fields={"t_s": 4.0, "peak_accel_g": 2.1, "jerk_gps": 40.0})
    # A replay after a reconnect: same seq, refused, original kept.
    assert not journal.add_event(sid, seq=2, type="rep", t_ms=9, host_time=T0, exercise="x",
                                 set_no=9, fields=rep_fields(99))
    reps = journal.events(sid, type="rep")
    assert list(reps["seq"]) == [1, 2, 3]
    assert list(reps["rom_deg"]) == [41.0, 42.0, 43.0]
    assert list(reps["exercise"]) == ["good-morning"] * 3
    assert reps["host_time"].iloc[0] == pd.Timestamp(T0 + timedelta(seconds=1))
    assert reps["raw_bytes"].iloc[2] == bytes([3, 0xFF])
    everything = journal.events(sid)
    assert list(everything["type"]) == ["rep", "rep", "rep", "abrupt"]
    assert everything["jerk_gps"].iloc[3] == 40.0 and pd.isna(everything["jerk_gps"].iloc[0])
    s = journal.session(sid)
    assert (s["n_reps"], s["n_abrupt"], s["n_events"]) == (3, 1, 4)
    assert journal.last_event(sid) == (4, 4000)
    assert s["exercises_done"] == ["good-morning"]


def test_same_seq_in_another_session_is_not_a_duplicate(journal):
    a, b = start(journal), start(journal)
    assert a != b
    for sid in (a, b):
        assert journal.add_event(sid, seq=1, type="status", t_ms=0, host_time=T0, exercise=None,
                                 set_no=None, fields={"battery_pct": 80})
    both = journal.events([b, a])  # several sessions at once, in the order asked
    assert both["session_id"].tolist() == [b, a] and both["seq"].tolist() == [1, 1]


def test_bad_input_is_refused_with_a_clear_error(journal):
    sid = start(journal)
    ok = dict(seq=1, type="rep", t_ms=0, host_time=T0, exercise="e", set_no=1, fields={})
    for bad, word in [({"type": "squat"}, "type"), ({"seq": -1}, "seq"),
                      ({"host_time": datetime(2026, 1, 1)}, "timezone-aware"),
                      ({"fields": {"x": object()}}, "JSON")]:
        with pytest.raises(JournalError, match=word):
            journal.add_event(sid, **{**ok, **bad})
    with pytest.raises(JournalError, match="no session"):
        journal.add_event("nope", **ok)
    with pytest.raises(JournalError, match="no session"):
        journal.session("nope")
    with pytest.raises(JournalError, match="timezone-aware"):
        start(journal, when=datetime(2026, 1, 1))
    for bad in ("", " P", "=1+1", "-2", "../etc", "x" * 65, None):
        with pytest.raises(JournalError, match="pseudonym"):
            start(journal, patient=bad)
    start(journal, patient="Zoë K_2.b")  # letters of any alphabet are fine
    assert issubclass(JournalError, SmartbellError) and issubclass(JournalError, ValueError)
    assert journal.events(sid).empty  # nothing half-written


def test_not_a_journal_file(tmp_path):
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(JournalError, match="not a smartbell journal"):
        Journal.open(bad)
    other = tmp_path / "other.sqlite3"
    import sqlite3
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER)")
    with pytest.raises(JournalError, match="not a smartbell journal.*photos"):
        Journal.open(other)
    with sqlite3.connect(other) as conn:  # left as it was: not switched to WAL
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    with pytest.raises(JournalError, match="cannot open"):
        Journal.open(tmp_path)  # a folder
    with sqlite3.connect(tmp_path / "newer.sqlite3") as conn:
        conn.execute("PRAGMA user_version=99")
    with pytest.raises(JournalError, match="newer"):
        Journal.open(tmp_path / "newer.sqlite3")


def test_raw_samples_and_faults(journal):
    sid = start(journal)
    rows = [(i / 100, 0.0, 0.1, 1.0, 1.5, -2.0, 0.0) for i in range(50)]
    assert journal.add_raw_samples(sid, rows) == 50
    raw = journal.raw(sid)
    assert list(raw.columns) == ["t_s", "ax_g", "ay_g", "az_g", "gx_dps", "gy_dps", "gz_dps"]
    assert len(raw) == 50 and raw["t_s"].iloc[-1] == 0.49 and raw["gy_dps"].iloc[0] == -2.0
    with pytest.raises(JournalError, match="expected 7"):
        journal.add_raw_samples(sid, [(0.0, 1.0)])
    journal.add_fault(sid, "malformed", "length 7, expected 20", b"\x01\x02")
    journal.add_fault(None, "unknown-version", "version 9")  # before any session: still kept
    f = journal.faults(sid)
    assert list(f["kind"]) == ["malformed"] and f["raw_bytes"].iloc[0] == b"\x01\x02"
    assert len(journal.faults()) == 2 and journal.session(sid)["n_faults"] == 1


def test_sessions_filter_and_end(journal):
    early = start(journal, "P-01", when=T0 - timedelta(days=10))
    mine = start(journal, "P-07", when=T0)
    start(journal, "P-01", when=T0 + timedelta(days=1))
    journal.end_session(mine, T0 + timedelta(minutes=30), {"reps": 12, "advice": "keep"})
    assert [s["id"] for s in journal.sessions()][0] == early
    assert [s["patient"] for s in journal.sessions(patient="P-01")] == ["P-01", "P-01"]
    assert len(journal.sessions(since="2026-11-20")) == 2
    assert len(journal.sessions(patient="P-01", since=T0.date())) == 1
    s = journal.session(mine)
    assert s["summary"] == {"reps": 12, "advice": "keep"}
    with pytest.raises(JournalError):
        journal.end_session("nope", T0)
    with pytest.raises(JournalError, match="since"):
        journal.sessions(since="last tuesday")


def test_reader_sees_writes_of_another_connection(tmp_path):
    path = tmp_path / "j.sqlite3"
    with Journal.open(path) as writer, Journal.open(path) as reader:
        sid = start(writer)
        writer.add_event(sid, seq=0, type="rep", t_ms=0, host_time=T0, exercise="e", set_no=1,
                         fields=rep_fields(1))
        assert len(reader.events(sid)) == 1


def test_sigkill_loses_nothing_received(tmp_path):
    """A logger killed mid-session keeps every event for which add_event had returned."""
    path = tmp_path / "j.sqlite3"
    child = textwrap.dedent(f"""
        import sys
        from datetime import datetime, timezone
        from smartbell.journal import Journal
        j = Journal.open({str(path)!r})
        now = datetime.now(timezone.utc)
        sid = j.start_session(patient="P", exercise_plan={{}}, spec_name="generic", spec={{}},
                              weight_kg=1, device_name=None, device_id=None,
                              firmware_version=None, started_at=now)
        print(sid, flush=True)
        seq = 0
        while True:
            j.add_event(sid, seq=seq, type="rep", t_ms=seq, host_time=now, exercise="generic",
                        set_no=1, fields={{"rep": seq, "start_s": 0.0, "end_s": 1.0,
                                          "to_far_s": 0.4, "hold_s": 0.2, "return_s": 0.4,
                                          "duration_s": 1.0, "rom_deg": 20.0,
                                          "peak_speed_dps": 50.0, "peak_accel_g": 0.1}})
            print(seq, flush=True)   # acknowledged only after the commit returned
            seq += 1
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    sid = proc.stdout.readline().strip()
    acked = -1
    while acked < 30:
        acked = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Journal.open(path) as j:
        seqs = list(j.events(sid)["seq"])
        assert j.session(sid)["ended_at"] is None
        reps_csv = export_sessions(j, [sid], tmp_path / "after-kill.csv")[0]
    assert seqs[: acked + 1] == list(range(acked + 1))
    assert seqs == list(range(len(seqs)))  # no holes either
    assert pd.read_csv(reps_csv)["rep"].tolist() == seqs  # and all of it exports


def test_sessions_cli(tmp_path, monkeypatch, capsys):
    from smartbell.cli import main

    monkeypatch.setenv("SMARTBELL_HOME", str(tmp_path))
    assert main(["sessions"]) == 0
    assert "no sessions" in capsys.readouterr().out
    with Journal.open() as j:
        sid = start(j)
        j.add_event(sid, seq=1, type="rep", t_ms=0, host_time=T0, exercise="good-morning",
                    set_no=1, fields=rep_fields(1))
        j.end_session(sid, T0 + timedelta(minutes=3, seconds=5))
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["sessions", "--patient", "P-07"]) == 0
    out = capsys.readouterr().out
    assert sid in out and "2026-11-25 08:15" in out and "good-morning" in out and "3:05" in out
