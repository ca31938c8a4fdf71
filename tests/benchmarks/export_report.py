"""Benchmark: CSV export of 100 simulated 30-minute sessions (< 5 s) and one such report (< 10 s).

Four 30-minute traces (both exercises, messy, 100 Hz) are simulated and run through the firmware's
detector once; their results are journaled as 100 sessions (a journal built the way the logger
builds it: one transaction per event). Timed: `export_sessions` for all 100, a session report of
one 30-minute session with its raw data (HTML and PDF), and journal writes per event.

    python tests/benchmarks/export_report.py [--sessions 100] [--minutes 30]

Prints its figures; the last line is a JSON object of them.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from smartbell.analyze import Trace, analyze
from smartbell.export import export_sessions
from smartbell.journal import Journal, record_result
from smartbell.plan import load_plan
from smartbell.report import session_report, write_report
from smartbell.simulate import simulate


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs; the median is reported")
    args = ap.parse_args()
    plan = load_plan("example")
    work = Path(tempfile.mkdtemp(prefix="sb-bench-"))
    journal = Journal.open(work / "journal.sqlite3")

    t_build = time.perf_counter()
    analysed = []
    for k, exercise in enumerate(("good-morning", "hyperextension", "good-morning",
                                  "hyperextension")):
        sim = simulate(exercise, 120, seed=100 + k, rate_hz=100, messy=True,
                       duration_s=args.minutes * 60)
        trace = Trace(sim.t_s, sim.accel_g, sim.gyro_dps)
        analysed.append((exercise, trace, analyze(trace, plan.spec_for(exercise), weight_kg=2.0)))
    t_analyse = time.perf_counter() - t_build
    t0 = datetime(2026, 9, 1, 8, 0, tzinfo=timezone(timedelta(hours=2)))
    ids, event_times = [], []
    for n in range(args.sessions):
        exercise, trace, result = analysed[n % len(analysed)]
        t = time.perf_counter()
        ids.append(record_result(journal, result, plan=plan, weight_kg=2.0,
                                 started_at=t0 + timedelta(days=n), t_end_s=trace.t_s[-1]))
        event_times.append((time.perf_counter() - t) / max(1, journal.session(ids[-1])["n_events"]))
    # The report's session also carries its raw samples (the slow part of a report).
    exercise, trace, result = analysed[0]
    report_sid = record_result(journal, result, trace, plan=plan, weight_kg=2.0,
                               started_at=t0 - timedelta(days=1), t_end_s=trace.t_s[-1])
    reps_total = sum(journal.session(s)["n_reps"] for s in ids)
    events_total = sum(journal.session(s)["n_events"] for s in ids)
    print(f"built {args.sessions} sessions of {args.minutes:g} min ({reps_total} reps, "
          f"{events_total} events) in {time.perf_counter() - t_build:.1f} s "
          f"(simulate+analyse {t_analyse:.1f} s); raw samples in the report session: "
          f"{len(trace.t_s)}")

    export_s = []
    for _ in range(args.repeat):
        dt, paths = timed(export_sessions, journal, ids, work / "out" / "reps.csv")
        export_s.append(dt)
    rows = sum(1 for _ in open(paths[0])) - 1
    print(f"export of {len(ids)} sessions ({rows} rep rows): median {statistics.median(export_s):.2f} s "
          f"(runs {', '.join(f'{x:.2f}' for x in export_s)})  target < 5 s")

    report_s = {}
    for suffix in ("html", "pdf"):
        runs = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            report = session_report(journal, report_sid)
            write_report(report, work / f"report.{suffix}")
            report.close()
            runs.append(time.perf_counter() - t)
        report_s[suffix] = statistics.median(runs)
        print(f"report of one {args.minutes:g}-min session with raw data ({suffix}): median "
              f"{report_s[suffix]:.2f} s (runs {', '.join(f'{x:.2f}' for x in runs)})  "
              "target < 10 s")
    event_ms = statistics.median(event_times) * 1000
    print(f"journal write, one transaction per event (WAL, synchronous=FULL): {event_ms:.2f} ms/event")
    print(json.dumps({
        "sessions": len(ids), "session_minutes": args.minutes, "rep_rows": rows,
        "export_s": round(statistics.median(export_s), 3),
        "report_html_s": round(report_s["html"], 3), "report_pdf_s": round(report_s["pdf"], 3),
        "report_raw_samples": int(len(trace.t_s)),
        "journal_ms_per_event": round(event_ms, 3),
    }))


if __name__ == "__main__":
    main()
