"""CSV export: columns match the therapist docs, values round-trip from the journal exactly."""
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smartbell.spec import load_spec

from smartbell.analyze import Trace, analyze
from smartbell.export import (REP_COLUMNS, SET_COLUMNS, ExportError, companion_paths,
                              export_sessions, read_reps, tables)
from smartbell.journal import Journal, record_analysis
from smartbell.plan import load_plan
from smartbell.simulate import simulate

DOC = Path(__file__).resolve().parents[1] / "docs" / "therapist.md"
CET = timezone(timedelta(hours=1))
T0 = datetime(2026, 11, 25, 8, 15, tzinfo=CET)


def documented_columns(kind: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    block = re.search(rf"<!-- columns:{kind} -->\n(.*?)<!-- /columns -->", text, re.S).group(1)
    lines = [ln for ln in block.splitlines() if ln.strip()]
    cols = []
    for ln in lines:
        m = re.fullmatch(r"- `([a-z_]+)`: \S.*", ln)
        assert m, f"column doc line not in '- `name`: meaning' form: {ln!r}"
        cols.append(m.group(1))
    return cols


def bare_session(journal, spec_name="good-morning"):
    """A session without plan or device details, as a minimal logger would journal it."""
    return journal.start_session(patient="P", exercise_plan={}, spec_name=spec_name, spec={},
                                 weight_kg=1.0, device_name=None, device_id=None,
                                 firmware_version=None, started_at=T0)


def rep_fields(n=1, end_s=18.0, **over):
    """An 8-second rep ending at ``end_s`` (2 s out, 3 s hold, 2 s back), fields as journaled."""
    return {"rep": n, "start_s": end_s - 8.0, "end_s": end_s, "to_far_s": 2.0, "hold_s": 3.0,
            "return_s": 2.0, "duration_s": 8.0, "rom_deg": 40.0, "peak_speed_dps": 30.0,
            "peak_accel_g": 0.2, **over}


@pytest.fixture(scope="module")
def traces():
    return [simulate("good-morning", 5, seed=3), simulate("good-morning", 4, seed=4)]


@pytest.fixture
def journal(tmp_path):
    with Journal.open(tmp_path / "j.sqlite3") as j:
        yield j


@pytest.fixture
def two_set_session(journal, traces):
    plan = load_plan("example")
    sid = record_analysis(journal, traces[0], "good-morning", plan=plan, weight_kg=2.5,
                          started_at=T0, end=False)
    record_analysis(journal, traces[1], "good-morning", plan=plan, weight_kg=2.5,
                    session_id=sid, set_no=2)
    return sid


def test_documented_columns_are_exactly_the_exported_ones(journal, two_set_session, tmp_path):
    rep_path, set_path, _ = export_sessions(journal, [two_set_session], tmp_path / "out.csv")
    for kind, path, declared in (("reps", rep_path, REP_COLUMNS), ("sets", set_path,
                                                                   SET_COLUMNS)):
        header = path.read_text().splitlines()[0].split(",")
        doc = documented_columns(kind)
        assert header == declared
        assert [c for c in header if c not in doc] == [], f"undocumented {kind} columns"
        assert [c for c in doc if c not in header] == [], f"documented but missing in {kind}"
        assert header == doc  # and in the documented order


def test_export_round_trips_the_journal_and_matches_analyze(journal, two_set_session, traces,
                                                            tmp_path):
    rep_path, set_path, meta_path = export_sessions(journal, [two_set_session], tmp_path / "r.csv")
    assert (rep_path, set_path, meta_path) == companion_paths(tmp_path / "r.csv")
    assert set_path.name == "r.sets.csv" and meta_path.name == "r.meta.json"
    csv = read_reps(rep_path)
    journaled = journal.events(two_set_session, type="rep")
    assert len(csv) == len(journaled) > 0
    for col in ("rep", "start_s", "end_s", "to_far_s", "hold_s", "return_s", "duration_s",
                "rom_deg", "peak_speed_dps", "peak_accel_g"):
        assert csv[col].tolist() == journaled[col].tolist(), col  # exact, not approximate
    assert csv["set"].tolist() == journaled["set_no"].tolist()
    # The same reps and verdicts as `smartbell analyze` on the same traces with the same spec.
    spec = load_plan("example").spec_for("good-morning")
    expected = pd.concat([analyze(Trace(t.t_s, t.accel_g, t.gyro_dps), spec, weight_kg=2.5).reps
                          for t in traces],
                         ignore_index=True)
    for col in ("rom_deg", "hold_s", "abrupt_count", "check_rom", "check_hold", "check_tempo",
                "check_abrupt", "check_weight", "verdict"):
        assert csv[col].tolist() == expected[col].tolist(), col
    assert (csv["hold_target_s"] == 3.0).all()  # the plan's hold_s, not the spec's 2.0
    assert (csv["weight_kg"] == 2.5).all() and (csv["check_weight"] == "ok").all()
    # ISO 8601 with the session's UTC offset, the rep's end on the wall clock.
    first = datetime.fromisoformat(csv["time"].iloc[0])
    assert csv["time"].iloc[0].endswith("+01:00")
    assert abs((first - T0).total_seconds() - csv["end_s"].iloc[0]) < 1.0
    assert (csv["device_id"] == "00:00:00:00:00:00").all()
    assert (csv["spec_name"] == "good-morning").all()


def test_sets_file_counts_against_the_plan(journal, two_set_session, tmp_path):
    reps, sets, _ = tables(journal, [two_set_session])
    gm = sets[sets["exercise"] == "good-morning"]
    assert gm["set"].tolist() == [1, 2, 3]  # set 3 was planned, not done
    for set_no in (1, 2):
        r = reps[reps["set"] == set_no]
        row = gm[gm["set"] == set_no].iloc[0]
        assert row["reps_done"] == len(r) and row["reps_planned"] == 8
        assert row["reps_passed"] == (r["verdict"] == "ok").sum()
        assert row["hold_mean_s"] == pytest.approx(r["hold_s"].mean(), abs=1e-3)
        assert row["to_far_min_s"] == load_spec("good-morning").limits["to_far_min_s"]  # the plan leaves it
    assert gm[gm["set"] == 3].iloc[0]["reps_done"] == 0
    hyper = sets[sets["exercise"] == "hyperextension"]
    assert hyper["reps_done"].tolist() == [0, 0] and hyper["reps_planned"].tolist() == [10, 10]
    abrupt = journal.events(two_set_session, type="abrupt")
    assert sets["abrupt_count"].sum() == len(abrupt)


def test_metadata_sidecar(journal, two_set_session, tmp_path):
    _, _, meta_path = export_sessions(journal, [two_set_session], tmp_path / "x.csv")
    meta = json.loads(meta_path.read_text())
    (s,) = meta["sessions"]
    assert s["id"] == two_set_session and s["firmware_version"] == "simulated"
    assert s["spec"]["limits"]["hold_min_s"] == 3.0 and s["exercise_plan"]["patient"] == "P-07"
    assert meta["files"] == {"reps": "x.csv", "sets": "x.sets.csv"}


def test_empty_session_exports_headers_and_planned_sets(journal, tmp_path):
    plan = load_plan("example")
    sid = journal.start_session(patient="P-07", exercise_plan=plan.to_dict(),
                                spec_name="good-morning", spec={}, weight_kg=None,
                                device_name=None, device_id=None, firmware_version=None,
                                started_at=T0)
    rep_path, set_path, _ = export_sessions(journal, [sid], tmp_path / "e.csv")
    reps = pd.read_csv(rep_path)
    assert reps.empty and list(reps.columns) == REP_COLUMNS
    sets = pd.read_csv(set_path)
    assert sets["reps_done"].tolist() == [0] * 5 and sets["reps_planned"].sum() == 44


def test_spec_that_is_gone_gives_unchecked_not_lost_reps(journal, tmp_path):
    sid = bare_session(journal, spec_name="/gone/custom.toml")
    journal.add_event(sid, seq=0, type="rep", t_ms=5000, host_time=T0, exercise="/gone/custom.toml",
                      set_no=1, fields=rep_fields(end_s=5.0, rom_deg=33.3))
    reps = read_reps(export_sessions(journal, [sid], tmp_path / "u.csv")[0])
    assert reps["verdict"].tolist() == ["unchecked"] and reps["rom_deg"].tolist() == [33.3]


def test_rep_time_comes_from_the_device_clock_not_a_late_replay(journal):
    sid = bare_session(journal)
    fields = rep_fields(end_s=108.0)
    # Rep 1 arrives 40 ms after it ended; rep 2 (ended at device 120 s) is replayed 95 s late.
    journal.add_event(sid, seq=0, type="rep", t_ms=108_000,
                      host_time=T0 + timedelta(seconds=10.04), exercise="good-morning",
                      set_no=1, fields=fields)
    journal.add_event(sid, seq=1, type="rep", t_ms=120_000,
                      host_time=T0 + timedelta(seconds=117), exercise="good-morning", set_no=1,
                      fields=dict(fields, rep=2, start_s=112.0, end_s=120.0))
    reps, _, _ = tables(journal, [sid])
    assert reps["time"].tolist() == ["2026-11-25T08:15:10+01:00", "2026-11-25T08:15:22+01:00"]


def test_rep_times_never_precede_the_session_when_the_device_clock_runs_fast(journal):
    """The demo runs the device 40x faster than the wall clock: reps still follow the start."""
    sid = bare_session(journal)
    for n in range(1, 5):
        end_s = 2.0 + 10.0 * n
        journal.add_event(sid, seq=n, type="rep", t_ms=int(end_s * 1000),
                          host_time=T0 + timedelta(seconds=end_s / 40), exercise="good-morning",
                          set_no=1, fields=rep_fields(n, end_s))
    times = [datetime.fromisoformat(t) for t in tables(journal, [sid])[0]["time"]]
    # The first event is put at the session's start, the rest keep their device spacing.
    assert [(t - T0).total_seconds() for t in times] == [0.0, 10.0, 20.0, 30.0]


def test_abrupt_events_are_counted_in_their_rep(journal, tmp_path):
    sid = bare_session(journal)
    rep = rep_fields(end_s=18.0)
    for seq, t in enumerate((5.0, 12.0, 17.9)):
        journal.add_event(sid, seq=seq, type="abrupt", t_ms=int(t * 1000), host_time=T0,
                          exercise="good-morning", set_no=1,
                          fields={"t_s": t, "peak_accel_g": 1.2, "jerk_gps": 30.0})
    journal.add_event(sid, seq=9, type="rep", t_ms=18000, host_time=T0, exercise="good-morning",
                      set_no=1, fields=rep)
    reps, sets, _ = tables(journal, [sid])
    assert reps["abrupt_count"].tolist() == [2]
    assert reps["check_abrupt"].tolist() == ["abrupt"] and reps["verdict"].tolist() == ["fix"]
    assert sets["abrupt_count"].tolist() == [3]  # the one between reps counts for the set


def test_cli_all_since_and_errors(tmp_path, monkeypatch, capsys, traces):
    from smartbell.cli import main

    monkeypatch.setenv("SMARTBELL_HOME", str(tmp_path))
    with Journal.open() as j:
        old = record_analysis(j, traces[0], "good-morning", patient="P-1",
                              started_at=T0 - timedelta(days=30))
        new = record_analysis(j, traces[1], "good-morning", patient="P-1", started_at=T0)
        record_analysis(j, traces[1], "good-morning", patient="P-2", started_at=T0)
    out = tmp_path / "exp" / "all.csv"
    assert main(["export", "--all", "--since", "2026-11-01", "--patient", "P-1",
                 "--out", str(out)]) == 0
    assert set(read_reps(out)["session_id"]) == {new}
    assert main(["export", old, "--out", str(out)]) == 0
    assert set(read_reps(out)["session_id"]) == {old}
    capsys.readouterr()
    for argv, word in ((["export", "nope", "--out", str(out)], "no session 'nope'"),
                       (["export", "--out", str(out)], "name a SESSION"),
                       (["export", "--all", "--since", "2030-01-01"], "no sessions match")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert word in err and err.count("\n") == 1
    with pytest.raises(ExportError):
        with Journal.open() as j:
            export_sessions(j, [], out)


def test_logger_style_session_without_a_plan_file(journal):
    """The logger journals a stand-in plan (no reps) and its own check columns in the fields:
    export still checks every exercise against its spec and keeps one set of columns."""
    from dataclasses import asdict

    from smartbell.spec import load_spec

    stand_in = {"patient": "me", "exercises": [{"name": "generic", "sets": 1, "rest_s": 60.0},
                                               {"name": "good-morning", "sets": 1}]}
    sid = journal.start_session(patient="me", exercise_plan=stand_in, spec_name="generic",
                                spec=asdict(load_spec("generic")), weight_kg=None,
                                device_name="smartbell-1a2b", device_id="AA", firmware_version="0.1",
                                started_at=T0)
    rep = rep_fields(end_s=5.0, to_far_s=0.5, return_s=0.5, hold_s=0.0, abrupt_count=0,
                     check_rom="x", verdict="x")
    for seq, ex in enumerate(("generic", "good-morning")):
        journal.add_event(sid, seq=seq, type="rep", t_ms=5000, host_time=T0, exercise=ex,
                          set_no=1, fields=rep)
    reps, sets, _ = tables(journal, [sid])
    assert list(reps.columns) == REP_COLUMNS
    assert reps["verdict"].tolist() == ["ok", "fix"]  # generic checks nothing; GM: too fast
    assert reps["check_tempo"].tolist() == ["-", "too fast"]
    assert sets["reps_planned"].isna().all() and sets["reps_done"].tolist() == [1, 1]


def test_text_a_spreadsheet_would_run_is_defused(journal, tmp_path):
    sid = bare_session(journal, spec_name="=cmd|' /C calc'!A0")
    for seq, exercise in enumerate(("@SUM(1+1)", "generic")):
        journal.add_event(sid, seq=seq, type="rep", t_ms=18000, host_time=T0, exercise=exercise,
                          set_no=1, fields=rep_fields())
    rep_path, set_path, _ = export_sessions(journal, [sid], tmp_path / "f.csv")
    reps = read_reps(rep_path)
    assert reps["exercise"].tolist() == ["'@SUM(1+1)", "generic"]
    assert reps["spec_name"].tolist() == ["'=cmd|' /C calc'!A0"] * 2
    assert reps["check_rom"].tolist()[1] == "-"  # "not checked" stays as it is
    assert not any(line.split(",")[3].startswith(("=", "@")) for line in
                   set_path.read_text().splitlines())
