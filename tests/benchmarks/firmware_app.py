"""Benchmark: the firmware app end to end on a 10-minute 200 Hz simulated trace, under the
MicroPython unix port in virtual time, with an ESP32-sized heap for the firmware.

    python tests/benchmarks/firmware_app.py [--minutes 10] [--seed 7] [--imu MPU6050]

Prints: samples lost, samples processed with the heap locked, the firmware's live heap peak,
the latency from the true end of each rep to its event leaving the device, and the events lost or
repeated over 20+ scripted disconnects with replay. The last line is a JSON object of the figures.

Heap: the virtual board (fake machine, bluetooth, IMU) and the test host share the interpreter's
heap but do not exist on a board, so the run gets 56wK plus their measured footprint, and the
firmware's own peak is the live heap (after gc.collect, every 5 s of device time) minus it.
"""
import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "host"), str(ROOT / "firmware")]

from mpy import run_micropython  # noqa: E402
from fakes.mpybuild import build_mpy  # noqa: E402

ESP32_WK = 56          # -X heapsize=56wK: the ESP32's 56 KB heap at this build's object sizes
RATE_HZ = 200

PROBE = r"""
import gc
gc.collect(); a0 = gc.mem_alloc()
import vclock, machine, bluetooth, imus, board
from scenario import Host
imus.PARTS[%(imu)r]              # the part's register map module (LSM6 maps load on first use)
host = Host(max_events=%(max_events)d)
gc.collect()
print("VBOARD", gc.mem_alloc() - a0, gc.mem_alloc() + gc.mem_free())
"""

RUN = r"""
import gc, micropython, time
import vclock, machine, bluetooth, imus, board
from scenario import Host, flap, lock_sample_path
host = Host(keep_bytes=False, max_events=%(max_events)d)
host.keep_live = False
imus.PARTS[%(imu)r]
gc.collect()
base = gc.mem_alloc()
a, m, tr = board.build(imus.FileSource(%(path)r), %(imu)r, %(rate)d)
host.attach(tr)
locked = lock_sample_path(a)
st = [base, 0]                # live heap peak, ticks

def on_tick(app):
    st[1] += 1
    if st[1] %% 250 == 0:        # every 5 s of device time
        gc.collect()
        if gc.mem_alloc() > st[0]:
            st[0] = gc.mem_alloc()

mode = %(mode)r
host.connect()
drops = 0
t0 = time.ticks_ms()
if mode == "steady":
    board.run(a, imu_map=m, on_tick=on_tick)
else:
    drops = flap(a, m, host, (2300, 700, 4100, 1500, 900, 300, 3100, 2600, 1700, 100, 12000, 5000),
                 on_tick)
wall = time.ticks_diff(time.ticks_ms(), t0)
gc.collect()
print("STATS", a.samples, m.fifo_in, m.overflowed, a.imu.overruns, locked[0], base, st[0],
      gc.mem_alloc() + gc.mem_free(), wall, m.fifo_t0_us // 1000, m.produced - m.fifo_in,
      drops, a.ring.next_seq, host.n)
for i in range(host.n):
    print("EV", host.seq_buf[i], host.type_buf[i], host.t_buf[i], host.sent_buf[i])
"""


def heap_wk(nbytes_total, extra_bytes):
    """heapsize in wK for the 56wK heap plus extra_bytes (1 wK = total/56 bytes here)."""
    per_wk = nbytes_total / ESP32_WK
    return ESP32_WK + math.ceil(extra_bytes / per_wk)


# sample period at 200 Hz: the LSM6 parts run at 208 Hz
PERIOD_US = {"MPU6050": 5000, "MPU6500": 5000, "MPU6886": 5000, "LSM6DS3": 4807, "LSM6DSOX": 4807}


def measure(minutes=10.0, seed=7, imu="MPU6050"):
    """Run the trace twice (steady link, then scripted disconnects); returns the figures."""
    from smartbell.simulate import simulate

    trace = simulate("good-morning", reps=10, seed=seed, rate_hz=RATE_HZ, messy=True,
                     n_abrupt=4, duration_s=minutes * 60)
    tmp = Path(tempfile.mkdtemp(prefix="smartbell-bench-"))
    acc = np.clip(np.round(trace.accel_g * 4096), -32768, 32767)
    gyr = np.clip(np.round(trace.gyro_dps * 32.8), -32768, 32767)
    (tmp / "trace.bin").write_bytes(np.hstack([acc, gyr]).astype("<i2").tobytes())
    n_samples = len(trace.t_s)
    max_events = 600
    mpy_dir = build_mpy()

    def mp(code, heap):
        return run_micropython(code, extra_path=(mpy_dir,), heapsize=heap, timeout=600).stdout.decode()

    probe = mp(PROBE % {"max_events": max_events, "imu": imu}, f"{ESP32_WK}wK").split()
    vboard_b, total_b = int(probe[1]), int(probe[2])
    heap = f"{heap_wk(total_b, vboard_b)}wK"

    results = {}
    for mode in ("steady", "disconnects"):
        t0 = time.perf_counter()
        out = mp(RUN % {"path": str(tmp / "trace.bin"), "rate": RATE_HZ, "mode": mode, "imu": imu,
                        "max_events": max_events}, heap)
        lines = out.splitlines()
        st = [int(x) for x in [ln for ln in lines if ln.startswith("STATS")][0].split()[1:]]
        events = [tuple(int(x) for x in ln.split()[1:]) for ln in lines if ln.startswith("EV")]
        results[mode] = (st, events, time.perf_counter() - t0)

    (samples, fifo_in, overflowed, overruns, locked, base, peak, total, wall_ms, fifo_t0, first,
     _drops, next_seq, _n) = results["steady"][0]
    events = results["steady"][1]
    period_us = PERIOD_US[imu]
    # device time of trace sample j: the FIFO's first sample is trace sample `first`
    rep_ends = [e[2] for e in events if e[1] == 0x01]
    rep_sent = [e[3] for e in events if e[1] == 0x01]
    latencies = []
    for rep in trace.truth["reps"]:
        # the fake IMU serves trace sample j at its own output rate
        true_end = fifo_t0 + (round(rep["end_s"] * RATE_HZ) - first) * period_us // 1000
        if not rep_ends:
            break
        i = int(np.argmin([abs(t - true_end) for t in rep_ends]))
        if abs(rep_ends[i] - true_end) <= 3000:
            latencies.append(rep_sent[i] - true_end)
    d_st, d_events, _ = results["disconnects"]
    d_seqs = [e[0] for e in d_events]
    lost = len(set(range(d_st[12])) - set(d_seqs))
    repeated = len(d_seqs) - len(set(d_seqs))
    in_order = d_seqs == sorted(d_seqs)
    firmware_peak = peak - base

    figures = {
        "trace_minutes": minutes, "rate_hz": RATE_HZ, "imu": imu, "trace_samples": n_samples,
        "samples_processed": samples, "samples_into_fifo": fifo_in, "samples_lost": fifo_in - samples
        + overflowed, "fifo_overruns": overruns, "samples_heap_locked": locked,
        "heap_total_bytes": total, "heap_arg": heap, "vboard_bytes": vboard_b,
        "firmware_peak_heap_bytes": firmware_peak,
        "firmware_peak_heap_pct_of_56wK": round(100 * firmware_peak / (total_b), 1),
        "reps_true": len(trace.truth["reps"]), "reps_matched": len(latencies),
        "latency_ms_max": max(latencies) if latencies else None,
        "latency_ms_median": float(np.median(latencies)) if latencies else None,
        "pipeline_latency_ms_max": max(s - e for s, e in zip(rep_sent, rep_ends)) if rep_ends else None,
        "disconnects": d_st[11], "events": d_st[12], "events_lost": lost,
        "events_repeated": repeated, "events_in_order": in_order,
        "unix_us_per_sample": round(1000 * wall_ms / max(samples, 1), 2),
        "wall_s_steady": round(results["steady"][2], 1), "heap_56wK_bytes": total_b,
    }
    return figures


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--imu", default="MPU6050", choices=sorted(PERIOD_US))
    args = ap.parse_args(argv)
    f = measure(args.minutes, args.seed, args.imu)
    print(f"trace: {args.minutes:g} min at {RATE_HZ} Hz on a virtual {args.imu}, {f['trace_samples']} samples, {f['reps_true']} true reps")
    print(f"samples: {f['samples_processed']} processed of {f['samples_into_fifo']} into the FIFO, "
          f"lost {f['samples_lost']}, FIFO overruns {f['fifo_overruns']}; "
          f"{f['samples_heap_locked']} processed with the heap locked")
    print(f"heap: run with {f['heap_arg']} = 56wK + virtual board {f['vboard_bytes']} B; firmware "
          f"live peak {f['firmware_peak_heap_bytes']} B = {f['firmware_peak_heap_pct_of_56wK']} % "
          f"of the 56wK heap ({f['heap_56wK_bytes']} B here)")
    print(f"latency true rep end -> event sent: max {f['latency_ms_max']} ms, median "
          f"{f['latency_ms_median']} ms over {f['reps_matched']} reps (negative: the detector "
          f"ends a rep on the way back, before the dumbbell is fully home); detected end -> sent: "
          f"max {f['pipeline_latency_ms_max']} ms")
    print(f"disconnects: {f['disconnects']}, events {f['events']}, lost {f['events_lost']}, "
          f"repeated {f['events_repeated']}, in order {f['events_in_order']}")
    print(f"speed: {f['unix_us_per_sample']} us per sample on the unix port, "
          f"{f['wall_s_steady']} s wall for the steady run")
    print(json.dumps(f))
    return 0


if __name__ == "__main__":
    sys.exit(main())
