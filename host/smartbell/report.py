"""Session and progress reports for the therapist, as a self-contained HTML page or a PDF.

``smartbell report SESSION --out report.html|report.pdf``: the movement angle over time with reps
shaded, holds and abrupt movements marked, hold time and tempo per rep against the plan's targets,
and the verdict table. ``smartbell report --patient P --since DATE --out progress.pdf``: sessions
done against the plan, reps done and passed, hold and range over time, abrupt movements over time.
Figures are plain matplotlib (Agg); ``session_report(...)``/``progress_report(...)`` return them so
tests and other tools can render them to PNG.
"""
from __future__ import annotations

import base64
import html
import io
import math
import textwrap
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Iterator

import matplotlib

matplotlib.use("Agg")  # reports are files; never open a window, work without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from smartbell import SmartbellError, __version__  # noqa: E402
from smartbell.export import session_spec, tables  # noqa: E402
from smartbell.journal import Journal  # noqa: E402

OK_COLOUR, FIX_COLOUR, ABRUPT_COLOUR, TARGET_COLOUR = "#4daf4a", "#ff7f00", "#e41a1c", "#377eb8"
HOLD_COLOUR, ROM_COLOUR = "#984ea3", "#a65628"
PAGE_IN = (11.69, 8.27)  # A4 landscape
TABLE_ROWS_PER_PAGE = 32
ROW_SPAN_S = 300.0
GAP_S = 2.0  # a pause in the raw recording longer than this starts a new stretch (a new set)  # one strip of the angle plot covers five minutes
MAX_STRIPS = 8


class ReportError(SmartbellError, ValueError):
    """Nothing to report on, or an output that cannot be written."""


@dataclass
class Report:
    """What a report shows: a title, key facts, figures (each with a caption) and tables."""

    title: str
    facts: list[tuple[str, str]]
    figures: list[tuple[str, Figure]] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # "how to read this report" paragraphs

    def close(self) -> None:
        for _, fig in self.figures:
            plt.close(fig)


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=14,
            color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


# -- the angle over time -----------------------------------------------------------------------
def angle_from_raw(raw: pd.DataFrame, spec=None,
                   max_points: int = 20000) -> tuple[np.ndarray, np.ndarray]:
    """Replay raw samples through the firmware's own detector (set up as ``smartbell analyze``
    does, with the spec's thresholds) and return (t_s, angle_deg).

    Each stretch of recording (sets are separated by gaps of more than ``GAP_S``) gets a fresh
    detector, as the device starts a set; a NaN between stretches breaks the plotted line."""
    from smartbell.analyze import Trace, make_detector, to_raw
    from smartbell.spec import load_spec

    spec = spec or load_spec("generic")
    t_s = raw["t_s"].to_numpy()
    gyro = raw[["gx_dps", "gy_dps", "gz_dps"]].to_numpy()
    has_gyro = bool(np.isfinite(gyro).all())
    every = max(1, len(t_s) // max_points)
    cuts = np.flatnonzero(np.diff(t_s) > GAP_S) + 1
    out_t, out_a = [], []
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(t_s)]):
        t_ms, acc, gyr = to_raw(Trace(t_s[lo:hi], raw[["ax_g", "ay_g", "az_g"]].to_numpy()[lo:hi],
                                      gyro[lo:hi] if has_gyro else None))
        det = make_detector(spec, has_gyro)
        step = det.step
        acc = acc.tolist()
        gyr = gyr.tolist() if gyr is not None else [(0, 0, 0)] * len(acc)
        angle = np.empty(hi - lo)
        for i, t in enumerate(t_ms.tolist()):
            a, g = acc[i], gyr[i]
            step(t, a[0], a[1], a[2], g[0], g[1], g[2])
            angle[i] = det.angle_ddeg
        out_t += [t_s[lo:hi:every], [np.nan]]
        out_a += [angle[::every] / 10.0, [np.nan]]
    return np.concatenate(out_t), np.concatenate(out_a)


def angle_from_reps(reps: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """A rep-by-rep outline (start, far end, hold, return) when no raw data was recorded."""
    t, a = [], []
    for r in reps.itertuples():
        far = r.start_s + (r.to_far_s if pd.notna(r.to_far_s) else 0.0)
        back = r.end_s - (r.return_s if pd.notna(r.return_s) else 0.0)
        rom = r.rom_deg if pd.notna(r.rom_deg) else 0.0
        t += [r.start_s, far, max(far, back), r.end_s, np.nan]
        a += [0.0, rom, rom, 0.0, np.nan]
    return np.asarray(t, dtype=float), np.asarray(a, dtype=float)


def _angle_figure(reps: pd.DataFrame, abrupt_t: np.ndarray, raw: pd.DataFrame,
                  spec=None) -> Figure:
    measured = len(raw) > 0
    t, angle = angle_from_raw(raw, spec) if measured else angle_from_reps(reps)
    starts = [v for v in (np.nanmin(t) if len(t) else np.nan,
                          np.nanmin(abrupt_t) if len(abrupt_t) else np.nan) if np.isfinite(v)]
    ends = [v for v in (np.nanmax(t) if len(t) else np.nan,
                        np.nanmax(abrupt_t) if len(abrupt_t) else np.nan) if np.isfinite(v)]
    if not starts:
        fig, ax = plt.subplots(figsize=PAGE_IN)
        _no_data(ax, "no movement recorded in this session")
        ax.set_title("Movement angle over time")
        return fig
    t0, t1 = min(starts), max(ends)
    span = max(t1 - t0, 1.0)
    n = min(MAX_STRIPS, max(1, math.ceil(span / ROW_SPAN_S)))
    width = span / n
    fig, axes = plt.subplots(n, 1, figsize=(PAGE_IN[0], max(3.0, min(PAGE_IN[1], 1.6 + 1.6 * n))),
                             squeeze=False)
    top = max(10.0, float(np.nanmax(angle)) if np.isfinite(angle).any() else 10.0) * 1.35
    for i, ax in enumerate(axes[:, 0]):
        lo, hi = t0 + i * width, t0 + (i + 1) * width
        for r in reps.itertuples():
            if r.end_s < lo or r.start_s > hi:
                continue
            ax.axvspan(r.start_s, r.end_s, color=OK_COLOUR if r.verdict == "ok" else FIX_COLOUR,
                       alpha=0.18, lw=0)
            if pd.notna(r.hold_s) and r.hold_s > 0 and pd.notna(r.to_far_s):
                h0 = r.start_s + r.to_far_s
                level = r.rom_deg
                if measured:  # on the drawn curve: the live angle and the rep's range differ
                    ok = np.isfinite(angle)
                    level = float(np.interp(h0 + r.hold_s / 2, t[ok], angle[ok]))
                ax.plot([h0, h0 + r.hold_s], [level, level], color=TARGET_COLOUR,
                        lw=4, solid_capstyle="butt")
        mask = (t >= lo - 1) & (t <= hi + 1) | np.isnan(t)
        ax.plot(t[mask], angle[mask], color="black", lw=0.8)
        for ta in abrupt_t[(abrupt_t >= lo) & (abrupt_t <= hi)]:
            ax.axvline(ta, color=ABRUPT_COLOUR, lw=1.2)
            ax.plot([ta], [top * 0.95], marker="v", color=ABRUPT_COLOUR, ms=8)
        ax.set_xlim(lo - 0.01 * width, hi + 0.01 * width)
        ax.set_ylim(min(-5.0, float(np.nanmin(angle)) if np.isfinite(angle).any() else -5.0),
                    top)
        ax.set_ylabel("angle (deg)")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time on the dumbbell's clock (s)")
    source = "measured" if measured else "outline from the rep measurements (no raw data recorded)"
    axes[0, 0].set_title(f"Movement angle over time ({source})")
    handles = [plt.Rectangle((0, 0), 1, 1, color=OK_COLOUR, alpha=0.3),
               plt.Rectangle((0, 0), 1, 1, color=FIX_COLOUR, alpha=0.3),
               plt.Line2D([], [], color=TARGET_COLOUR, lw=4),
               plt.Line2D([], [], color=ABRUPT_COLOUR, marker="v")]
    axes[0, 0].legend(handles, ["rep, all checks ok", "rep to fix", "hold", "abrupt movement"],
                      loc="upper right", fontsize=8, ncol=4)
    fig.tight_layout()
    return fig


# -- per-rep bars ------------------------------------------------------------------------------
def _rep_labels(reps: pd.DataFrame) -> list[str]:
    multi = reps["exercise"].nunique() > 1
    return [(f"{e[:4]} " if multi else "") + f"{s}.{r}"
            for e, s, r in zip(reps["exercise"], reps["set"], reps["rep"])]


def _set_ticks(ax, labels: list[str]) -> None:
    every = max(1, len(labels) // 40)
    ax.set_xticks(range(0, len(labels), every))
    ax.set_xticklabels(labels[::every], rotation=90, fontsize=7)
    ax.set_xlabel("set.rep")


def _hold_tempo_figure(reps: pd.DataFrame, limits: dict[str, dict]) -> Figure:
    """Hold and tempo per rep; ``limits`` maps a limit name to {exercise: value}."""
    fig, (ax_h, ax_t) = plt.subplots(2, 1, figsize=PAGE_IN, sharex=True)
    if reps.empty:
        _no_data(ax_h, "no reps recorded")
        _no_data(ax_t, "no reps recorded")
    else:
        x = np.arange(len(reps))
        ok = (reps["check_hold"].fillna("ok") == "ok").to_numpy()
        ax_h.bar(x, reps["hold_s"].fillna(0), color=np.where(ok, OK_COLOUR, FIX_COLOUR))
        if reps["hold_target_s"].notna().any():
            ax_h.step(x, reps["hold_target_s"], where="mid", color=TARGET_COLOUR, lw=2,
                      label="shortest hold allowed")
            ax_h.legend(loc="upper right", fontsize=8)
        ax_h.set_ylabel("hold (s)")
        ax_t.plot(x, reps["to_far_s"], "o-", color=HOLD_COLOUR, ms=3, label="going out")
        ax_t.plot(x, reps["return_s"], "s-", color=ROM_COLOUR, ms=3, label="coming back")
        for key, style, label in (("to_far_min_s", "--", "quickest allowed going out"),
                                  ("return_min_s", ":", "quickest allowed coming back")):
            limit = reps["exercise"].map(limits.get(key, {})).astype("float64")
            if limit.notna().any():
                ax_t.step(x, limit, where="mid", color=TARGET_COLOUR, lw=2, ls=style,
                          label=label)
        fast = (reps["check_tempo"].fillna("ok") != "ok").to_numpy()
        if fast.any():
            ax_t.plot(x[fast], reps["to_far_s"].to_numpy()[fast], "x", color=FIX_COLOUR, ms=9,
                      mew=2, label="tempo check failed")
        ax_t.set_ylabel("time (s)")
        ax_t.set_ylim(0, max(1.0, float(np.nanmax(reps[["to_far_s", "return_s"]].to_numpy(
            dtype=float), initial=0.0))) * 1.3)
        ax_t.legend(loc="upper right", fontsize=8, ncol=3)
        _set_ticks(ax_t, _rep_labels(reps))
    ax_h.set_title("Hold at the far end, per rep (green: hold ok, orange: too short or too long)")
    ax_t.set_title("Tempo per rep: time going out and coming back")
    for ax in (ax_h, ax_t):
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


# -- the whole session report ------------------------------------------------------------------
VERDICT_TABLE = ["exercise", "set", "rep", "weight_kg", "rom_deg", "to_far_s", "hold_s",
                 "return_s", "peak_accel_g", "abrupt_count", "check_rom", "check_tempo",
                 "check_hold", "check_abrupt", "check_weight", "verdict"]


READING_NOTES = [
    "A rep: the dumbbell leaves the start position, reaches the far end, is held there still, "
    "then comes back. Angles are in degrees from the start position, times in seconds.",
    "Every rep is checked against the exercise's spec as adjusted by the plan: range of motion "
    "('too shallow', 'too deep'), tempo ('too fast' going out or coming back, 'too slow' overall),"
    " hold at the far end ('hold too short', 'hold too long'), abrupt movement (a sudden jerk "
    "during the rep) and weight ('too heavy'). '-' means the spec does not make that check. The "
    "verdict is 'ok' when every check passed, otherwise 'fix'.",
]


def _duration(session: dict) -> str:
    if not session.get("ended_at"):
        return "not closed (logger stopped before the end)"
    s = (datetime.fromisoformat(session["ended_at"])
         - datetime.fromisoformat(session["started_at"])).total_seconds()
    return f"{int(s // 60)} min {int(s % 60)} s"


def session_report(j: Journal, session_id: str) -> Report:
    reps, sets, (session,) = tables(j, [session_id])
    events = j.events(session_id, type="abrupt")
    abrupt_t = events["t_s"].to_numpy(dtype=float) if "t_s" in events else np.empty(0)
    raw = j.raw(session_id)
    status = j.events(session_id, type="status")
    sensor = status[status["status"] == "fault"] if "status" in status else status.iloc[:0]
    kinds = ", ".join(f"{k} x{n}" for k, n in sensor["fault"].value_counts(sort=False).items()) \
        if len(sensor) and "fault" in sensor else ""
    limits = {key: dict(zip(sets["exercise"], sets[key])) for key in ("to_far_min_s",
                                                                       "return_min_s")}
    planned = sets["reps_planned"].fillna(0).sum()
    facts = [
        ("Patient", session["patient"]),
        ("Started", datetime.fromisoformat(session["started_at"]).strftime("%Y-%m-%d %H:%M %z")),
        ("Duration", _duration(session)),
        ("Exercises done", ", ".join(dict.fromkeys(reps["exercise"])) or "none"),
        ("Exercises planned", ", ".join(dict.fromkeys(sets.loc[sets["reps_planned"].notna(),
                                                               "exercise"])) or "no plan"),
        ("Weight", "not entered" if session["weight_kg"] is None
         else f"{session['weight_kg']:g} kg"),
        ("Reps done / planned", f"{len(reps)} / {int(planned)}" if planned else str(len(reps))),
        ("Reps with every check ok", f"{int((reps['verdict'] == 'ok').sum())} of {len(reps)}"),
        ("Abrupt movements", str(len(abrupt_t))),
        ("Recording faults", str(session["n_faults"])),
        ("Sensor faults on the device", f"{len(sensor)} ({kinds})" if kinds else str(len(sensor))),
        ("Device", f"{session['device_name'] or '?'} ({session['device_id'] or '?'}), "
                   f"firmware {session['firmware_version'] or '?'}"),
        ("Spec", session["spec_name"]),
        ("Session id", session_id),
    ]
    report = Report(f"Session report: {session['patient']}, "
                    f"{datetime.fromisoformat(session['started_at']):%Y-%m-%d}", facts,
                    notes=list(READING_NOTES))
    report.figures.append((
        "The angle of the dumbbell over the session. Each rep is shaded (green: every check ok, "
        "orange: something to fix), the blue bar is the hold at the far end and red marks are "
        "abrupt movements.", _angle_figure(reps, abrupt_t, raw, session_spec(session))))
    report.figures.append((
        "Top: how long each rep was held at the far end, against the shortest hold allowed (the "
        "plan's target). Bottom: the time each rep took going out and coming back, against the "
        "quickest allowed; shorter means a fast, jerky rep.",
        _hold_tempo_figure(reps, limits)))
    table = reps[VERDICT_TABLE].copy()
    report.tables.append(("Every rep and its checks ('ok' or the problem found)", table))
    set_view = sets[["exercise", "set", "reps_planned", "reps_done", "reps_passed",
                     "hold_mean_s", "hold_target_s", "rom_mean_deg", "abrupt_count"]]
    report.tables.insert(0, ("Sets: reps done against planned", set_view))
    return report


def _plan_date(value) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


# -- progress across sessions ------------------------------------------------------------------
def progress_report(j: Journal, patient: str, since: str | None = None) -> Report:
    sessions = j.sessions(patient=patient, since=since)
    if not sessions:
        raise ReportError(f"no sessions for patient {patient!r}"
                          + (f" since {since}" if since else ""))
    reps, sets, _ = tables(j, [s["id"] for s in sessions])
    days = [datetime.fromisoformat(s["started_at"]) for s in sessions]
    per = pd.DataFrame({
        "session_id": [s["id"] for s in sessions],
        "date": [d.strftime("%Y-%m-%d") for d in days],
        "reps_planned": [sets.loc[sets["session_id"] == s["id"], "reps_planned"].fillna(0).sum()
                         for s in sessions],
    })
    grouped = reps.groupby("session_id", sort=False)
    per["reps_done"] = per["session_id"].map(grouped.size()).fillna(0).astype(int)
    per["reps_passed"] = per["session_id"].map(
        grouped["verdict"].apply(lambda v: int((v == "ok").sum()))).fillna(0).astype(int)
    per["hold_mean_s"] = per["session_id"].map(grouped["hold_s"].mean()).round(2)
    per["rom_mean_deg"] = per["session_id"].map(grouped["rom_deg"].mean()).round(1)
    per["abrupt_count"] = [s["n_abrupt"] for s in sessions]
    plan = sessions[-1]["exercise_plan"] or {}
    spw = plan.get("sessions_per_week")
    # The plan's period when it gives one, else first session to today; never hiding a session.
    today = datetime.now(days[-1].tzinfo).date()
    starts, ends = (_plan_date(plan.get(k)) for k in ("starts", "ends"))
    first = min(days[0].date(), starts or days[0].date())
    if since:
        first = max(first, min(days[0].date(), _plan_date(str(since)[:10]) or first))
    last = max(days[-1].date(), min(ends, today) if ends else today)
    weeks = pd.Series(pd.PeriodIndex([d.date() for d in days], freq="W-SUN"))
    all_weeks = pd.period_range(first, last, freq="W-SUN")
    per_week = weeks.value_counts().reindex(all_weeks, fill_value=0)

    x = np.arange(len(per))
    labels = list(per["date"])
    fig1, (a1, a2) = plt.subplots(2, 1, figsize=PAGE_IN)
    a1.bar(range(len(per_week)), per_week.to_numpy(), color=TARGET_COLOUR)
    if spw:
        a1.axhline(spw, color=FIX_COLOUR, lw=2, ls="--", label=f"plan: {spw} per week")
        a1.legend(loc="upper right", fontsize=8)
    a1.set_xticks(range(len(per_week)))
    a1.set_xticklabels([f"week of {p.start_time:%d %b}" for p in per_week.index], fontsize=8,
                       rotation=30)
    a1.set_ylabel("sessions")
    a1.set_title("Sessions done per week")
    a2.bar(x - 0.2, per["reps_done"], 0.4, color="0.6", label="reps done")
    a2.bar(x + 0.2, per["reps_passed"], 0.4, color=OK_COLOUR, label="reps with all checks ok")
    if per["reps_planned"].gt(0).any():
        a2.plot(x, per["reps_planned"], "_", color=TARGET_COLOUR, ms=20, mew=3,
                label="reps planned")
    a2.set_ylim(0, max(1, per["reps_done"].max(), per["reps_planned"].max()) * 1.3)
    a2.legend(loc="upper left", fontsize=8, ncol=3)
    a2.set_title("Reps per session")
    a2.set_ylabel("reps")
    fig2, (b1, b2, b3) = plt.subplots(3, 1, figsize=PAGE_IN, sharex=True)
    # One line per exercise: a good-morning hold and a hyperextension hold are not comparable.
    pos = {sid: i for i, sid in enumerate(per["session_id"])}
    by_ex = reps.groupby(["exercise", "session_id"], sort=False)[["hold_s", "rom_deg"]].mean()
    for k, (exercise, rows) in enumerate(by_ex.groupby(level="exercise", sort=False)):
        xs = [pos[sid] for sid in rows.index.get_level_values("session_id")]
        marker = "os^vD"[k % 5]
        b1.plot(xs, rows["hold_s"], marker + "-", color=HOLD_COLOUR, alpha=1 - 0.25 * (k % 3),
                label=f"{exercise}: mean hold")
        b2.plot(xs, rows["rom_deg"], marker + "-", color=ROM_COLOUR, alpha=1 - 0.25 * (k % 3),
                label=exercise)
        target = sets.loc[sets["exercise"] == exercise, "hold_target_s"].dropna()
        if len(target):
            b1.axhline(target.iloc[-1], color=TARGET_COLOUR, lw=1.5, ls="--" if k == 0 else ":",
                       label=f"{exercise}: shortest hold allowed")
    if len(by_ex):
        top = np.nanmax([by_ex["hold_s"].max(), sets["hold_target_s"].max(), 1.0])
        b1.set_ylim(0, top * 1.35)  # from zero, with room for the legend above the data
        b2.set_ylim(0, max(10.0, by_ex["rom_deg"].max()) * 1.35)
        b1.legend(loc="upper left", fontsize=8, ncol=2)
        b2.legend(loc="upper left", fontsize=8)
    else:
        _no_data(b1, "no reps recorded")
        _no_data(b2, "no reps recorded")
    b1.set_ylabel("hold (s)")
    b1.set_title("Mean hold time per session")
    b2.set_ylabel("range (deg)")
    b2.set_title("Mean range of motion per session")
    b3.bar(x, per["abrupt_count"], color=ABRUPT_COLOUR)
    b3.set_ylim(0, max(1, int(per["abrupt_count"].max())) * 1.2)
    b3.set_ylabel("count")
    b3.set_title("Abrupt movements per session")
    for ax in (a2, b3):
        ax.set_xticks(x[:: max(1, len(x) // 30)])
        ax.set_xticklabels(labels[:: max(1, len(x) // 30)], rotation=60, fontsize=7)
    for ax in (a1, a2, b1, b2, b3):
        ax.grid(alpha=0.3, axis="y")
    fig1.tight_layout()
    fig2.tight_layout()
    facts = [("Patient", patient),
             ("Period", f"{days[0]:%Y-%m-%d} to {days[-1]:%Y-%m-%d}"),
             ("Sessions", str(len(sessions)) + (f" (plan: {spw} per week over {len(all_weeks)}"
                                                f" weeks = {spw * len(all_weeks)})" if spw else "")),
             ("Reps done / passed", f"{int(per['reps_done'].sum())} / "
                                    f"{int(per['reps_passed'].sum())}"),
             ("Abrupt movements", str(int(per["abrupt_count"].sum())))]
    report = Report(f"Progress report: {patient}", facts, notes=[
        READING_NOTES[1], "Sessions and reps planned come from the plan the patient used; a week "
        "is Monday to Sunday."])
    report.figures.append(("Top: sessions done each week against the plan. Bottom: reps done, "
                           "reps where every check was ok, and reps planned, per session.", fig1))
    report.figures.append(("Mean hold time and mean range of motion per session for each "
                           "exercise, and abrupt movements per session, oldest first.", fig2))
    report.tables.append(("Sessions", per))
    return report


# -- writing -----------------------------------------------------------------------------------
def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


_CSS = """body{font-family:sans-serif;max-width:1150px;margin:auto;color:#222}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}
th{background:#eee}td.bad{background:#ffe0c0}td.ok{background:#e3f5e1}
img{max-width:100%}.facts th{text-align:left}figcaption{font-style:italic;margin-bottom:1em}"""


def _fmt(v) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:.2f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)


def _is_problem(text: str) -> bool:
    """A check or verdict cell that is not ok: 'fix', 'too shallow', 'hold too short', ..."""
    return text == "fix" or text.startswith(("too ", "hold ", "abrupt"))


def _html_table(df: pd.DataFrame) -> str:
    def cell(v) -> str:
        text = _fmt(v)
        cls = ' class="ok"' if text == "ok" else (' class="bad"' if _is_problem(text) else "")
        return f"<td{cls}>{html.escape(text)}</td>"

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<table><tr>{head}</tr>{body}</table>"


def write_html(report: Report, out: Path) -> None:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>"
             f"{html.escape(report.title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(report.title)}</h1><table class='facts'>"]
    parts += [f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
              for k, v in report.facts]
    parts.append("</table>")
    if report.notes:
        parts.append("<h2>How to read this report</h2>"
                     + "".join(f"<p>{html.escape(n)}</p>" for n in report.notes))
    for caption, fig in report.figures:
        data = base64.b64encode(figure_png(fig)).decode("ascii")
        parts.append(f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,"
                     f"{data}'><figcaption>{html.escape(caption)}</figcaption></figure>")
    for caption, df in report.tables:
        parts.append(f"<h2>{html.escape(caption)}</h2>" + _html_table(df))
    parts.append(f"<p><small>smartbell {__version__}, made "
                 f"{datetime.now().astimezone():%Y-%m-%d %H:%M %z}</small></p></body></html>")
    out.write_text("\n".join(parts), encoding="utf-8")


def _text_page(report: Report) -> Figure:
    fig = plt.figure(figsize=PAGE_IN)
    fig.text(0.06, 0.92, report.title, fontsize=20, weight="bold")
    for i, (k, v) in enumerate(report.facts):
        fig.text(0.06, 0.84 - i * 0.045, k, fontsize=12, weight="bold")
        fig.text(0.32, 0.84 - i * 0.045, v, fontsize=12)
    y = 0.84 - len(report.facts) * 0.045 - 0.04
    paragraphs = report.notes + [f"Figure {i + 1}: {caption}"
                                 for i, (caption, _) in enumerate(report.figures)]
    for text in paragraphs:
        wrapped = textwrap.fill(text, 150)
        fig.text(0.06, y, wrapped, fontsize=9, va="top")
        y -= 0.025 * (wrapped.count("\n") + 1) + 0.015
    return fig


def _table_pages(caption: str, df: pd.DataFrame) -> list[Figure]:
    """Tables as pages of monospaced rows (matplotlib's cell tables take seconds per page);
    rows with a problem are drawn in orange."""
    pages = []
    starts = range(0, max(len(df), 1), TABLE_ROWS_PER_PAGE)
    for n, i in enumerate(starts):
        chunk = df.iloc[i:i + TABLE_ROWS_PER_PAGE]
        fig = plt.figure(figsize=PAGE_IN)
        fig.text(0.03, 0.95, caption + (f" ({n + 1}/{len(starts)})" if len(starts) > 1 else ""),
                 fontsize=12, weight="bold")
        if chunk.empty:
            fig.text(0.5, 0.5, "nothing recorded", ha="center", fontsize=14, color="0.4")
        else:
            text = chunk.to_string(index=False, na_rep="", formatters={
                c: _fmt for c in chunk.columns}).splitlines()
            bad = [any(_is_problem(_fmt(v)) for v in row)
                   for row in chunk.itertuples(index=False)]
            step = 0.88 / (TABLE_ROWS_PER_PAGE + 1)
            for k, line in enumerate(text):
                fig.text(0.03, 0.9 - k * step, line, family="monospace", fontsize=7,
                         weight="bold" if k == 0 else "normal",
                         color=FIX_COLOUR if k and bad[k - 1] else "black")
        pages.append(fig)
    return pages


def pdf_pages(report: Report) -> Iterator[Figure]:
    """The PDF's pages in order: summary, the report's figures, then the tables. Pages made
    here are closed once the consumer moves on (the report's own figures stay open)."""
    page = _text_page(report)
    yield page
    plt.close(page)
    for _, fig in report.figures:
        yield fig
    for caption, df in report.tables:
        for page in _table_pages(caption, df):
            yield page
            plt.close(page)


def write_pdf(report: Report, out: Path) -> None:
    with PdfPages(out, metadata={"Title": report.title, "Creator": f"smartbell {__version__}"}) \
            as pdf:
        for page in pdf_pages(report):
            pdf.savefig(page)


def write_report(report: Report, out: str | Path) -> Path:
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm", ".pdf"):
        raise ReportError(f"{out}: the report name must end in .html or .pdf")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        (write_pdf if out.suffix.lower() == ".pdf" else write_html)(report, out)
    except OSError as exc:
        raise ReportError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out


# -- `smartbell report` ------------------------------------------------------------------------
def add_arguments(parser) -> None:
    parser.add_argument("session", nargs="?", metavar="SESSION", help="session id")
    parser.add_argument("--patient", help="progress report for this patient")
    parser.add_argument("--since", metavar="DATE", help="with --patient: from this date on")
    parser.add_argument("--out", required=True, help="report.html or report.pdf")
    parser.add_argument("--journal", metavar="PATH", help="journal file (default: the user's)")


def run(args) -> int:
    if bool(args.session) == bool(args.patient):
        raise ReportError("give either a SESSION id or --patient P [--since DATE]")
    with Journal.open(args.journal) as j:
        report = (session_report(j, args.session) if args.session
                  else progress_report(j, args.patient, args.since))
    try:
        path = write_report(report, args.out)
    finally:
        report.close()
    print(f"wrote {path}")
    return 0
