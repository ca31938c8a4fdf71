"""`smartbell demo`: the whole chain with a simulated dumbbell and no hardware.

A simulated person does a set of reps (`smartbell.simulate`); the real firmware runs on the
virtual board (under `micropython` when installed, else CPython) and serves them over a bumble
BLE peripheral; the unchanged logger connects through bleak, survives a dropped link, journals
every event, and the session is exported to CSV. Without a terminal it runs unattended.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from smartbell import SmartbellError

DEMO_PATIENT = "demo"
FIRMWARE_RATE_HZ = 100


class DemoError(SmartbellError, RuntimeError):
    """The demo chain could not run (firmware did not start, nothing was recorded)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exercise", default="good-morning", help="exercise to simulate")
    parser.add_argument("--reps", type=int, default=6, help="reps in the simulated set (default 6)")
    parser.add_argument("--sets", type=int, default=2, help="the plan splits the reps into sets")
    parser.add_argument("--seed", type=int, default=1, help="simulation seed")
    parser.add_argument("--speed", type=float, default=0.0,
                        help="device time per wall second (default: as fast as possible when not "
                             "in a terminal, 5x in one)")
    parser.add_argument("--disconnects", type=int, default=1,
                        help="scripted radio dropouts during the session (default 1)")
    parser.add_argument("--out", type=Path, help="folder for the trace and CSV (default: a new temp dir)")
    parser.add_argument("--cpython", action="store_true",
                        help="run the firmware under CPython even if micropython is installed")


def _outages(trace_s: float, n: int) -> list[tuple[int, int]]:
    """n dropouts of 2-6 s spread over the middle of the session, in device-time ms."""
    if n <= 0:
        return []
    span = trace_s * 0.6
    step = span / n
    return [(int((trace_s * 0.2 + i * step) * 1000), int(min(6.0, 2.0 + i, step * 0.6) * 1000))
            for i in range(n)]


async def demo_chain(args, console: Console, journal, interactive: bool) -> dict:
    from bumble.link import LocalLink

    from smartbell.bumble_backend import BumbleCentral
    from smartbell.live import LineView, LiveView
    from smartbell.logger import Session, Step, _with_keys
    from smartbell.simulate import simulate
    from smartbell.spec import load_spec
    from smartbell.vperipheral import VirtualPeripheral

    out = args.out
    # At the firmware's default IMU rate: the virtual IMU serves the trace sample by sample.
    trace = simulate(args.exercise, args.reps, seed=args.seed, rate_hz=FIRMWARE_RATE_HZ)
    trace_path, _truth = trace.write(out / "trace.csv")
    trace_s = float(trace.t_s[-1])
    speed = args.speed or (5.0 if interactive else None)
    link = LocalLink()
    vp = VirtualPeripheral(link, trace_path, outages=_outages(trace_s, args.disconnects),
                           speed=speed, prefer_micropython=not args.cpython,
                           stderr_path=out / "firmware.log")
    t0 = time.perf_counter()
    try:
        await vp.start()
    except Exception as exc:
        raise DemoError(f"the firmware did not start on the virtual board: {exc} "
                        f"(see {out / 'firmware.log'})") from None
    console.print(f"firmware running on the virtual board under {vp.interpreter}; "
                  f"simulated {args.reps} reps of {args.exercise} ({trace_s:.0f} s of device time)")
    spec = load_spec(args.exercise)
    sets = max(1, min(args.sets, args.reps))
    steps = [Step(spec.name, spec, sets=sets, reps=args.reps // sets, hold_s=spec.hold_target_s,
                  rest_s=0.0)]
    view = LiveView(console) if console.is_terminal else LineView(console)
    session = Session(steps, journal=journal, patient=DEMO_PATIENT, weight_kg=2.0,
                      backend=BumbleCentral(link).backend(), view=view, rest_scale=0.0,
                      scan_timeout_s=5.0)

    try:
        summary = await (_with_keys(session, vp.run_session(session)) if interactive
                         else vp.run_session(session))
    finally:
        await vp.stop()
    summary["wall_s"] = round(time.perf_counter() - t0, 2)
    summary["firmware"] = vp.interpreter
    summary["outages"] = vp.stats["outages"]
    return summary


def run(args) -> int:
    from smartbell.journal import Journal
    from smartbell.logger import print_summary

    console = Console()
    if not console.is_terminal:
        console = Console(soft_wrap=True)   # a log or a pipe: one event per line, unwrapped
    interactive = sys.stdin.isatty() and console.is_terminal
    args.out = args.out or Path(tempfile.mkdtemp(prefix="smartbell-demo-"))
    args.out.mkdir(parents=True, exist_ok=True)
    with Journal.open() as journal:
        summary = asyncio.run(demo_chain(args, console, journal, interactive))
        print_summary(summary, console)
        sid = summary.get("session_id")
        if not sid or not summary["events"]:
            raise DemoError(f"no events were recorded (see {args.out / 'firmware.log'})")
        csv_path = args.out / "reps.csv"
        written = _export(journal, sid, csv_path)
        console.print(f"demo finished in {summary['wall_s']:.1f} s with {summary['outages']} "
                      f"dropped link(s), firmware under {summary['firmware']}")
        console.print(f"journal: {journal.path} (session {sid}, patient '{DEMO_PATIENT}')")
        console.print(f"trace:   {args.out / 'trace.csv'}")
        for path in written:
            console.print(f"export:  {path}")
        console.print(f"next:    smartbell report {sid} --out {args.out / 'report.html'}")
    return 0


def _export(journal, session_id: str, csv_path: Path) -> list[Path]:
    try:
        from smartbell.export import export_sessions
    except ImportError:  # the export module is optional for the demo
        reps = journal.events(session_id, type="rep")
        reps.to_csv(csv_path, index=False)
        return [csv_path]
    return [Path(p) for p in export_sessions(journal, [session_id], csv_path)]
