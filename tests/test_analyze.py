"""`smartbell simulate` + `smartbell analyze` end to end through the real command, the output
files against the simulator's truth, and the errors for malformed trace files."""
import json
import math
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from smartbell.analyze import analyze, read_trace
from smartbell.cli import main as cli_main
from smartbell.simulate import simulate
from smartbell.spec import CHECKS

MATCH_S = 0.3


# The installed console script when there is one (what a user types), else the module.
COMMAND = [shutil.which("smartbell")] if shutil.which("smartbell") else [sys.executable, "-m", "smartbell.cli"]


def smartbell(*args, check=True):
    proc = subprocess.run([*COMMAND, *map(str, args)],
                          capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """One simulated messy trace (gyro) and one accelerometer-only trace, analysed by the CLI."""
    tmp = tmp_path_factory.mktemp("analyze")
    out = {}
    for name, extra in (("gyro", ["--messy", "--abrupt", "2"]), ("accel", ["--no-gyro"])):
        trace = tmp / f"{name}.csv"
        smartbell("simulate", "--exercise", "hyperextension", "--reps", 4, "--seed", 5,
                  "--rate-hz", 100, "--out", trace, *extra)
        proc = smartbell("analyze", trace, "--exercise", "hyperextension", "--out", tmp / f"{name}-out")
        truth = json.loads((tmp / f"{name}.truth.json").read_text())
        out[name] = (trace, tmp / f"{name}-out", truth, proc.stdout)
    return out


@pytest.mark.parametrize("name", ["gyro", "accel"])
def test_analyze_writes_reps_events_and_summary_matching_the_truth(session, name):
    trace, out, truth, stdout = session[name]
    reps = pd.read_csv(out / "reps.csv", keep_default_na=False)
    events = pd.read_csv(out / "events.csv")
    summary = json.loads((out / "summary.json").read_text())
    for col in ("rep", "start_s", "end_s", "rom_deg", "hold_s", "peak_accel_g", *CHECKS, "verdict"):
        assert col in reps.columns, col
    assert len(reps) == truth["rep_count"] == 4
    assert reps["rep"].tolist() == [1, 2, 3, 4]
    assert (reps.end_s > reps.start_s).all() and reps.rom_deg.between(10, 90).all()
    assert set(reps.verdict) <= {"ok", "fix"}
    for c in CHECKS:
        assert set(reps[c]) <= {"ok", "-", "too shallow", "too deep", "too fast", "too slow",
                                "hold too short", "hold too long", "abrupt", "too heavy"}, c
    # Each true rep's far end lies inside one detected rep.
    for r in truth["reps"]:
        assert ((reps.start_s <= r["far_s"]) & (reps.end_s >= r["far_s"])).sum() == 1, r
    assert {"type", "t_s"} <= set(events.columns)
    assert set(events.type) <= {"rep", "hold", "abrupt"}
    assert (events.type == "rep").sum() == 4
    assert events.t_s.is_monotonic_increasing
    assert summary["reps"] == 4 and summary["exercise"] == "hyperextension"
    assert summary["gyro"] is (name == "gyro")
    assert summary["abrupt_events"] == (events.type == "abrupt").sum()
    assert summary["rate_hz"] == pytest.approx(100, rel=0.01)
    assert "4 reps" in stdout


def test_analyze_abrupt_events_at_the_injected_times(session):
    _, out, truth, _ = session["gyro"]
    events = pd.read_csv(out / "events.csv")
    t_det = events.loc[events.type == "abrupt", "t_s"].tolist()
    t_true = [a["t_s"] for a in truth["abrupt"]]
    assert len(t_true) == 2
    assert all(any(abs(t - d) <= MATCH_S for d in t_det) for t in t_true), (t_true, t_det)
    assert all(any(abs(t - d) <= MATCH_S for t in t_true) for d in t_det), (t_true, t_det)
    reps = pd.read_csv(out / "reps.csv", keep_default_na=False)
    # A rep containing an injected event is flagged by the spec (abrupt_max = 0).
    for t in t_true:
        inside = reps[(reps.start_s <= t) & (reps.end_s >= t)]
        assert (inside.check_abrupt == "abrupt").all() and (inside.verdict == "fix").all()


def test_accel_only_trace_has_empty_gyro_cells(session):
    trace, *_ = session["accel"]
    lines = trace.read_text().splitlines()
    assert lines[0] == "t,ax,ay,az,gx,gy,gz"
    assert all(ln.endswith(",,,") for ln in lines[1:50])
    assert read_trace(trace).gyro_dps is None


@pytest.mark.parametrize("rate_hz", [12.5, 400.0])
def test_rates_at_the_contract_limits_are_accepted(tmp_path, rate_hz):
    tr = simulate("good-morning", 2, seed=8, rate_hz=rate_hz)
    path, _ = tr.write(tmp_path / "t.csv")
    result = analyze(path, "good-morning")
    assert result.summary["rate_hz"] == pytest.approx(rate_hz, rel=0.01)
    assert result.summary["samples"] == len(tr.t_s)


# -- malformed trace files -----------------------------------------------------------------------

HEADER = "t,ax,ay,az,gx,gy,gz\n"
ROW = "{t},0.01,-0.02,1.0,0.1,0.2,-0.1\n"


def rows(n, start=0.0, dt=0.01, fmt=ROW):
    return "".join(fmt.format(t=round(start + i * dt, 4)) for i in range(n))


MALFORMED = {
    "bad header": ("t,ax,ay,az\n" + rows(5), ":1:", "header"),
    "header in ms": (HEADER.replace("t,", "t_ms,") + rows(5), ":1:", "header"),
    "text in a number": (HEADER + rows(2) + "0.02,0.01,abc,1.0,0,0,0\n" + rows(3, 0.03), ":4:", "ay='abc' is not a number"),
    "6 fields": (HEADER + rows(1) + "0.01,0.01,0.0,1.0,0,0\n", ":3:", "6 fields"),
    "8 fields": (HEADER + rows(3) + "0.03,0.01,0.0,1.0,0,0,0,9\n", ":5:", "8 fields"),
    "time goes back": (HEADER + rows(3) + ROW.format(t=0.015) + rows(3, 0.04), ":5:", "does not increase"),
    "time repeats": (HEADER + rows(3) + ROW.format(t=0.02), ":5:", "does not increase"),
    "gyro then none": (HEADER + rows(3) + "0.03,0.0,0.0,1.0,,,\n", ":5:", "gyro cells"),
    "none then gyro": (HEADER + rows(3, fmt="{t},0,0,1,,,\n") + ROW.format(t=0.03), ":5:", "gyro cells"),
    "some gyro cells": (HEADER + rows(2) + "0.02,0.0,0.0,1.0,0.1,,\n", ":4:", "some gyro cells empty"),
    "NaN": (HEADER + rows(2) + "0.02,nan,0.0,1.0,0,0,0\n", ":4:", "ax='nan' is not a finite number"),
    "inf": (HEADER + rows(2) + "0.02,0.0,0.0,1.0,0,inf,0\n", ":4:", "gy='inf' is not a finite number"),
    "rate too low (t in minutes?)": (HEADER + rows(20, dt=1.0), "", "sample rate 1.0 Hz is outside"),
    "rate too high (t in ms as s?)": (HEADER + rows(20, dt=0.001), "", "sample rate 1000.0 Hz is outside"),
    "empty file": ("", "", "empty file"),
    "header only": (HEADER, "", "at least 2 samples"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_trace_exits_2_naming_the_line_and_problem(tmp_path, capsys, case):
    text, where, problem = MALFORMED[case]
    path = tmp_path / "bad.csv"
    path.write_text(text)
    assert cli_main(["analyze", str(path), "--exercise", "good-morning", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("smartbell analyze: error: "), err
    assert f"{path}{where}" in err and problem in err, err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()            # nothing half-written


def test_missing_and_binary_files(tmp_path, capsys):
    missing = tmp_path / "missing.csv"
    assert cli_main(["analyze", str(missing), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "cannot open" in err
    binary = tmp_path / "bin.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    assert cli_main(["analyze", str(binary), "--out", str(tmp_path / "o")]) == 2
    assert str(binary) in capsys.readouterr().err


def test_malformed_trace_through_the_real_command_has_no_traceback(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(MALFORMED["NaN"][0])
    proc = smartbell("analyze", path, "--exercise", "good-morning", "--out", tmp_path / "o", check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert f"{path}:4:" in proc.stderr


def test_unknown_exercise_is_a_clean_error(tmp_path, capsys):
    tr = simulate("good-morning", 1, seed=1, rate_hz=50.0)
    path, _ = tr.write(tmp_path / "t.csv")
    assert cli_main(["analyze", str(path), "--exercise", "squat", "--out", str(tmp_path / "o")]) == 2
    assert "unknown exercise 'squat'" in capsys.readouterr().err


def test_values_round_trip_through_the_csv(tmp_path):
    # The CSV keeps every int16 quantised value: analysing the file equals analysing the arrays.
    tr = simulate("good-morning", 3, seed=2, rate_hz=100.0, messy=True)
    path, _ = tr.write(tmp_path / "t.csv")
    from smartbell.analyze import Trace

    a = analyze(path, "good-morning").reps
    b = analyze(Trace(tr.t_s, tr.accel_g, tr.gyro_dps), "good-morning").reps
    pd.testing.assert_frame_equal(a, b)
    assert not math.isnan(a.hold_s.sum())


def test_a_rep_estimated_to_start_before_the_recording_starts_at_its_first_sample():
    # The generic counter dates the set's first rep from its second half; in a recording that
    # begins mid-rep that date is before the first sample. It came out as a wrapped device tick
    # (start_s ~1,073,741 s); it is the first sample's time, and the durations agree with it.
    import numpy as np
    from smartbell.analyze import Trace
    rate = 50.0
    up = np.sin(np.pi / 2 * np.arange(int(rate)) / rate) ** 2
    segs = []
    for _ in range(6):
        segs += [np.zeros(int(rate)), up, up[::-1]]
    th = np.radians(60.0) * np.concatenate(segs)[int(1.5 * rate):]     # starts during rep 1
    t = np.arange(len(th)) / rate + 0.25
    acc = np.stack([0.8 * np.sin(th), 0.6 * np.sin(th), np.cos(th)], 1)
    reps = analyze(Trace(t, acc, None), "generic").reps
    assert len(reps) >= 5
    assert reps.start_s.min() >= 0.25 and reps.end_s.max() <= t[-1]
    assert (abs(reps.start_s + reps.duration_s - reps.end_s) < 1e-6).all()
    assert (reps.to_far_s >= 0).all() and (reps.to_far_s <= reps.duration_s).all()
