"""Reports render for empty, one-rep and long sessions, and what they draw is really there."""
import base64
import io
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from smartbell.journal import Journal, record_analysis
from smartbell.plan import PLANS_DIR, load_plan
from smartbell.report import (ReportError, figure_png, pdf_pages, progress_report,
                              session_report, write_report)
from smartbell.simulate import simulate

CET = timezone(timedelta(hours=1))
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=CET)


def pdf_pages_in(path) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", path.read_bytes()))


def assert_png_has_content(png: bytes, data: bool = True) -> None:
    """A real PNG with something drawn; with ``data``, coloured marks (bars, shading, lines)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    rgb = mpimg.imread(io.BytesIO(png))[..., :3]
    non_white = np.mean(np.any(rgb < 0.95, axis=-1))
    assert non_white > 0.005, f"figure is blank ({non_white:.4f} drawn)"
    if data:
        saturation = rgb.max(axis=-1) - rgb.min(axis=-1)
        coloured = np.mean(saturation > 0.1)
        assert coloured > 0.003, f"no data drawn in colour ({coloured:.4f})"


def new_session(j, when=T0, patient="P-07", plan=None):
    plan = plan or load_plan("example")
    return j.start_session(patient=patient, exercise_plan=plan.to_dict(),
                           spec_name="good-morning", spec={}, weight_kg=2.0,
                           device_name="smartbell-1a2b", device_id="AA:BB", firmware_version="0.1",
                           started_at=when)


def add_rep(j, sid, seq, n, set_no=1, t0=0.0, hold_s=3.5, to_far_s=2.5):
    end = t0 + to_far_s + hold_s + 2.5
    j.add_event(sid, seq=seq, type="rep", t_ms=int(end * 1000), host_time=T0 + timedelta(seconds=end),
                exercise="good-morning", set_no=set_no,
                fields={"rep": n, "start_s": t0, "end_s": end, "to_far_s": to_far_s,
                        "hold_s": hold_s, "return_s": 2.5, "duration_s": end - t0,
                        "rom_deg": 40.0, "peak_speed_dps": 30.0, "peak_accel_g": 0.1})
    return end


@pytest.fixture
def journal(tmp_path):
    with Journal.open(tmp_path / "j.sqlite3") as j:
        yield j


def render_all(report, tmp_path, name, data=True):
    """Figures to PNG (looked at), then the HTML and PDF files."""
    assert len(report.figures) >= 2
    for caption, fig in report.figures:
        assert caption and fig.axes
        assert_png_has_content(figure_png(fig, dpi=60), data)
    html = write_report(report, tmp_path / f"{name}.html").read_text()
    imgs = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert len(imgs) == len(report.figures)
    for png in imgs:
        assert_png_has_content(base64.b64decode(png), data)
    # Every PDF page rendered to PNG and looked at: summary and table pages hold text.
    pages = 0
    for page in pdf_pages(report):
        assert_png_has_content(figure_png(page, dpi=50), data=False)
        pages += 1
    pdf = write_report(report, tmp_path / f"{name}.pdf")
    assert pdf_pages_in(pdf) == pages
    report.close()
    return html, pdf


def test_empty_session(journal, tmp_path):
    sid = new_session(journal)
    report = session_report(journal, sid)
    angle_ax = report.figures[0][1].axes[0]
    assert any("no movement recorded" in t.get_text() for t in angle_ax.texts)
    html, pdf = render_all(report, tmp_path, "empty", data=False)
    assert "Reps done / planned</th><td>0 / 44" in html
    assert "Exercises done</th><td>none" in html
    assert "Exercises planned</th><td>good-morning, hyperextension" in html
    assert "not closed" in html  # the session was never ended: said, not hidden
    assert pdf_pages_in(pdf) == 1 + 2 + 2  # summary page, two figures, sets and reps tables


def test_device_sensor_faults_are_counted_by_kind(journal):
    # A FIFO overrun or a bus error on the device reaches the journal as a status event; the
    # report counts them (a "recovered" is not a fault), apart from the logger's own faults.
    sid = new_session(journal)
    assert dict(session_report(journal, sid).facts)["Sensor faults on the device"] == "0"
    for seq, (status, kind) in enumerate([("fault", "overrun"), ("recovered", "overrun"),
                                          ("fault", "i2c"), ("fault", "overrun"), ("low_battery", None)]):
        fields = {"t_s": seq, "status": status, "value": 3}
        if kind:
            fields["fault"] = kind
        journal.add_event(sid, seq=seq, type="status", t_ms=1000 * seq, host_time=T0, exercise=None,
                          set_no=None, fields=fields)
    facts = dict(session_report(journal, sid).facts)
    assert facts["Sensor faults on the device"] == "3 (overrun x2, i2c x1)"
    assert facts["Recording faults"] == "0"


def test_one_rep_session(journal, tmp_path):
    sid = new_session(journal)
    add_rep(journal, sid, 0, 1, t0=5.0, hold_s=1.0)  # too short for the plan's 3 s
    journal.end_session(sid, T0 + timedelta(minutes=1))
    report = session_report(journal, sid)
    angle_ax = report.figures[0][1].axes[0]
    assert len(angle_ax.patches) >= 1  # the rep is shaded
    hold_ax = report.figures[1][1].axes[0]
    bars = [p for p in hold_ax.patches if p.get_height() > 0]
    assert [round(b.get_height(), 3) for b in bars] == [1.0]
    (_, reps_table) = report.tables[-1]
    assert reps_table["check_hold"].tolist() == ["hold too short"]
    html, pdf = render_all(report, tmp_path, "one")
    assert "hold too short" in html and "<td class=\"bad\">fix</td>" in html
    assert "1 min 0 s" in html and "outline from the rep measurements" not in html
    assert pdf_pages_in(pdf) == 5


def test_long_session_paginates_and_stays_readable(journal, tmp_path):
    sid = new_session(journal)
    t, seq = 0.0, 0
    for set_no in range(1, 6):
        for n in range(1, 41):
            t = add_rep(journal, sid, seq, n, set_no=set_no, t0=t + 1.0) + 0.5
            seq += 1
        journal.add_event(sid, seq=seq, type="abrupt", t_ms=int(t * 1000), host_time=T0,
                          exercise="good-morning", set_no=set_no,
                          fields={"t_s": t, "peak_accel_g": 1.5, "jerk_gps": 40.0})
        seq += 1
        t += 60.0
    journal.end_session(sid, T0 + timedelta(seconds=t))
    report = session_report(journal, sid)
    angle_fig = report.figures[0][1]
    assert 2 <= len(angle_fig.axes) <= 8  # long sessions are split into strips
    assert sum(len(ax.patches) for ax in angle_fig.axes) >= 200
    _, pdf = render_all(report, tmp_path, "long")
    # 200 reps over 32-row pages, plus the summary, two figures and one sets page
    assert pdf_pages_in(pdf) == 1 + 2 + 1 + int(np.ceil(200 / 32))


@pytest.mark.parametrize("gyro", [True, False], ids=["imu", "accel-only"])
def test_session_with_raw_data_shows_the_measured_angle(journal, tmp_path, gyro):
    plan = load_plan("example")
    sid = record_analysis(journal, simulate("good-morning", 4, seed=2, gyro=gyro),
                          "good-morning", plan=plan, weight_kg=2.0, started_at=T0, raw=True,
                          end=False)
    record_analysis(journal, simulate("good-morning", 3, seed=5, gyro=gyro), "good-morning",
                    plan=plan, weight_kg=2.0, session_id=sid, set_no=2, raw=True)
    assert journal.raw(sid)["gx_dps"].isna().all() != gyro
    report = session_report(journal, sid)
    ax = report.figures[0][1].axes[0]
    assert "(measured)" in ax.get_title()
    line = max(ax.lines, key=lambda ln: len(ln.get_xdata()))
    angle = np.asarray(line.get_ydata(), dtype=float)
    assert np.isnan(angle).any()  # the pause between the sets is not drawn as movement
    assert np.nanmax(angle) > 25  # the reps are in it
    render_all(report, tmp_path, "raw")


def test_progress_report(journal, tmp_path):
    text = (Path(PLANS_DIR / "example.toml").read_text()
            .replace("starts = 2026-11-23", "starts = 2026-11-02")
            .replace("ends = 2026-12-21", "ends = 2026-11-15"))
    (tmp_path / "plan.toml").write_text(text)
    plan = load_plan(tmp_path / "plan.toml")
    for k, day in enumerate((0, 2, 4, 9)):
        sid = new_session(journal, when=T0 + timedelta(days=day), plan=plan)
        for n in range(1, 4 + k):
            add_rep(journal, sid, n, n, t0=10.0 * n, hold_s=2.0 + k * 0.5)
        for a in range(k % 2):
            journal.add_event(sid, seq=100 + a, type="abrupt", t_ms=0, host_time=T0,
                              exercise="good-morning", set_no=1,
                              fields={"t_s": 1.0, "peak_accel_g": 1.5, "jerk_gps": 40.0})
    new_session(journal, patient="someone-else")
    report = progress_report(journal, "P-07", since="2026-11-01")
    (_, per) = report.tables[0]
    assert per["reps_done"].tolist() == [3, 4, 5, 6]
    assert per["hold_mean_s"].tolist() == [2.0, 2.5, 3.0, 3.5]
    assert per["reps_passed"].tolist() == [0, 0, 5, 6]  # the plan wants 3 s holds
    assert per["abrupt_count"].tolist() == [0, 1, 0, 1]
    abrupt_ax = report.figures[1][1].axes[2]
    assert [p.get_height() for p in abrupt_ax.patches] == [0, 1, 0, 1]
    weeks_ax = report.figures[0][1].axes[0]
    # The plan runs two weeks (2 to 15 November): three sessions, then one.
    assert [p.get_height() for p in weeks_ax.patches] == [3, 1]
    html, pdf = render_all(report, tmp_path, "progress")
    assert "4 (plan: 3 per week over 2 weeks = 6)" in html
    assert pdf_pages_in(pdf) >= 4
    with pytest.raises(ReportError, match="no sessions for patient 'P-99'"):
        progress_report(journal, "P-99")


def test_report_cli(tmp_path, monkeypatch, capsys):
    from smartbell.cli import main

    monkeypatch.setenv("SMARTBELL_HOME", str(tmp_path))
    with Journal.open() as j:
        sid = new_session(j)
        add_rep(j, sid, 0, 1)
    out = tmp_path / "r" / "report.pdf"
    assert main(["report", sid, "--out", str(out)]) == 0
    assert pdf_pages_in(out) == 5
    assert main(["report", "--patient", "P-07", "--out", str(tmp_path / "p.html")]) == 0
    capsys.readouterr()
    for argv, word in ((["report", sid, "--out", str(tmp_path / "r.docx")], "must end in .html"),
                       (["report", "--out", str(out)], "either a SESSION"),
                       (["report", "nope", "--out", str(out)], "no session 'nope'")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert word in err and err.count("\n") == 1
