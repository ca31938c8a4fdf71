"""Logger figures: rep event arriving -> live view showing it (target <= 100 ms), and the
20-disconnect end-to-end run (firmware under micropython -> bumble -> bleak -> logger).

    python tests/benchmarks/logger_latency.py            # last line: JSON of the figures

Rates over bumble's in-process link are CPU-bound: compare runs with each other, never read
them as radio timings.
"""
import asyncio
import io
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bumble.link import LocalLink
from rich.console import Console

from sbcore import protocol as P
from smartbell.bumble_backend import BumbleCentral
from smartbell.journal import Journal
from smartbell.live import LiveView
from smartbell.logger import Session, Step
from smartbell.simulate import simulate
from smartbell.spec import load_spec
from smartbell.vperipheral import VirtualPeripheral

OUTAGE_S = [1, 2, 3, 5, 8, 30, 1, 1, 2, 4, 1, 6, 1, 2, 3, 1, 10, 1, 2, 1]


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def view():
    # A real rich Live view drawing a full screen into memory, as on a terminal.
    return LiveView(Console(file=io.StringIO(), force_terminal=True, width=100, height=40))


async def chain(trace_path, tmp, outages):
    link = LocalLink()
    vp = VirtualPeripheral(link, trace_path, outages=outages, stderr_path=tmp / "firmware.log")
    t0 = time.perf_counter()
    await vp.start()
    journal = Journal.open(tmp / f"journal-{len(outages)}.sqlite3")
    session = Session([Step("good-morning", load_spec("good-morning"))], journal=journal,
                      backend=BumbleCentral(link).backend(), view=view())

    summary = await vp.run_session(session)
    await vp.stop()
    wall = time.perf_counter() - t0
    events = journal.events(summary["session_id"])
    seqs = list(events["seq"])
    offline = sum(1 for t in events["t_ms"] if any(a <= t < a + d for a, d in outages))
    return {"wall_s": wall, "session": session, "summary": summary, "vp": vp,
            "gaps": len(set(range(seqs[0], seqs[-1] + 1)) - set(seqs)),
            "duplicates_in_journal": len(seqs) - len(set(seqs)),
            "reps": int((events["type"] == "rep").sum()), "device_s": vp.device_ms / 1000,
            "offline_events": offline}


def render_only(n=300):
    """handle_packet(rep) -> view drawn, without BLE: the consumer's own share."""
    tmp = Path(tempfile.mkdtemp())
    journal = Journal.open(tmp / "j.sqlite3")
    s = Session([Step("good-morning", load_spec("good-morning"), reps=1000)], journal=journal, view=view())
    s.device_info.update(name="bench", address="00", fw_version=100)
    s._start_journal()
    s.seq.start(0)
    lat = []
    with s.view:
        for i in range(n):
            pkt = P.encode({"type": "rep", "seq": i, "t_ms": 10_000 + i * 6000, "rep": i + 1,
                            "duration_s": 6, "to_far_s": 2, "hold_s": 2, "return_s": 2,
                            "rom_deg": 40, "peak_speed_dps": 30, "peak_accel_g": 0.1})
            s.handle_packet(time.time(), pkt)
        lat = s.stats.render_latency_s
    shutil.rmtree(tmp, ignore_errors=True)
    return lat


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="smartbell-bench-"))
    trace = simulate("good-morning", 20, seed=3, rate_hz=100)
    trace_path, _ = trace.write(tmp / "trace.csv")
    figures = {}

    lat = render_only()
    figures["consumer_rep_to_view_ms_median"] = round(statistics.median(lat) * 1000, 2)
    figures["consumer_rep_to_view_ms_max"] = round(max(lat) * 1000, 2)
    print(f"consumer only ({len(lat)} reps): rep -> view median {figures['consumer_rep_to_view_ms_median']} ms, "
          f"max {figures['consumer_rep_to_view_ms_max']} ms")

    plain = asyncio.run(chain(trace_path, tmp, []))
    lat = plain["session"].stats.render_latency_s
    figures["e2e_rep_to_view_ms_median"] = round(statistics.median(lat) * 1000, 2)
    figures["e2e_rep_to_view_ms_p95"] = round(pct(lat, 0.95) * 1000, 2)
    figures["e2e_rep_to_view_ms_max"] = round(max(lat) * 1000, 2)
    figures["e2e_wall_s"] = round(plain["wall_s"], 2)
    print(f"end to end, no dropouts: {plain['reps']} reps, {plain['device_s']:.0f} s device time in "
          f"{plain['wall_s']:.1f} s wall under {plain['vp'].interpreter}; notification -> view "
          f"median {figures['e2e_rep_to_view_ms_median']} ms, p95 {figures['e2e_rep_to_view_ms_p95']} ms, "
          f"max {figures['e2e_rep_to_view_ms_max']} ms")

    outages, t = [], 8_000
    for d in OUTAGE_S:
        outages.append((t, d * 1000))
        t += d * 1000 + 3_500
    run = asyncio.run(chain(trace_path, tmp, outages))
    st = run["session"].stats
    figures.update({
        "disconnects": run["vp"].stats["outages"], "outage_device_s_total": sum(OUTAGE_S),
        "reps": run["reps"], "events": run["summary"]["events"],
        "events_made_while_disconnected": run["offline_events"], "lost": run["gaps"],
        "duplicated_in_journal": run["duplicates_in_journal"],
        "duplicates_dropped": run["summary"]["duplicates_dropped"],
        "reconnects": run["summary"]["reconnects"],
        "relink_ms_median": round(statistics.median(st.relink_s) * 1000, 1),
        "relink_ms_max": round(max(st.relink_s) * 1000, 1),
        "disconnect_run_wall_s": round(run["wall_s"], 2),
        "disconnect_run_device_s": round(run["device_s"], 1),
    })
    print(f"20 dropouts of 1-30 s ({sum(OUTAGE_S)} s device time): {run['reps']} reps, "
          f"{run['summary']['events']} events ({run['offline_events']} made while disconnected), lost {run['gaps']}, duplicated {run['duplicates_in_journal']} "
          f"({run['summary']['duplicates_dropped']} replays dropped), {run['summary']['reconnects']} reconnects, "
          f"re-link median {figures['relink_ms_median']} ms / max {figures['relink_ms_max']} ms wall, "
          f"run {run['wall_s']:.1f} s wall")
    shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
