"""Benchmark: cost of the motion detector's per-sample step, under MicroPython and CPython.

    python tests/benchmarks/firmware_cost.py [--rate-hz 200] [--minutes 2.5] [--runs 3]

A simulated trace (good-morning, 200 Hz, >= 24k samples) is stepped through `sbcore.motion` by
the same runner script under `micropython -X heapsize=56wK` (firmware compiled to .mpy, `.frozen`
on the path) and under CPython, with the good-morning spec; and under micropython once more with
the generic spec (its cycle counter on top). Samples are preloaded in `array`s chunk by chunk (the whole trace
does not fit a 56 KB heap); only the stepping loops are timed, gc is disabled during them, and
`gc.mem_alloc()` deltas over them give bytes per sample. The last line is a JSON object.

The timed loop is `sbdev.bench`, which `smartbell device bench` runs on a real board; the vectors
file is written by `smartbell.vectors`. The runner's other modes are used by tests/test_motion.py
(parity, heap lock).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "host"), str(ROOT / "firmware")]

from mpy import micropath, micropython_exe, ESP32_HEAP  # noqa: E402
from fakes.mpybuild import build_mpy  # noqa: E402

# Runs unchanged under MicroPython and CPython: argv = vectors file, mode.
# mode "events": one line per sample with flags (index, flags, every attribute of the events
#   raised), then a digest of the live state (phase, angle, speed) over every sample.
# mode "lock":   the step loop with micropython.heap_lock() held around each block.
# mode "cost":   timing and gc.mem_alloc deltas of the step loop, gc disabled, RUNS times.
RUNNER = r'''
import sys, gc
try:
    import micropython
except ImportError:
    micropython = None
from sbcore.motion import EV_REP, EV_HOLD, EV_ABRUPT
from sbdev.bench import open_vectors, loop, cost

mem_alloc = getattr(gc, "mem_alloc", lambda: 0)     # CPython has no allocation counter


def events(path):
    f, det, buf = open_vectors(path)
    base = 0
    digest = 0
    while True:
        got = f.readinto(buf) // 28
        if not got:
            break
        for j in range(got):
            o = 7 * j
            fl = det.step(buf[o], buf[o + 1], buf[o + 2], buf[o + 3], buf[o + 4], buf[o + 5], buf[o + 6])
            digest = (digest * 31 + det.phase * 7919 + det.angle_ddeg * 3 + det.speed_dps) & 0xFFFFFF
            if fl:
                line = "%d %d" % (base + j, fl)
                if fl & EV_REP:
                    line += " rep %d %d %d %d %d %d %d %d %d" % (
                        det.rep_count, det.rep_t_start_ms, det.rep_t_far_ms, det.rep_t_return_ms,
                        det.rep_t_end_ms, det.rep_rom_ddeg, det.rep_hold_ms,
                        det.rep_peak_speed_dps, det.rep_peak_accel_mg)
                if fl & EV_HOLD:
                    line += " hold %d %d %d" % (det.hold_t_start_ms, det.hold_ms, det.hold_angle_ddeg)
                if fl & EV_ABRUPT:
                    line += " abrupt %d %d %d %d" % (det.abrupt_t_ms, det.abrupt_peak_mg,
                                                       det.abrupt_jerk_gps, det.abrupt_count)
                print(line)
        base += got
    print("end %d samples, %d reps, digest %d" % (base, det.rep_count, digest))


def locked(path):
    f, det, buf = open_vectors(path)
    n = 0
    alloc = 0
    gc.collect()
    while True:
        got = f.readinto(buf) // 28
        if not got:
            break
        a0 = mem_alloc()
        micropython.heap_lock()
        try:
            loop(det, buf, got)
        except MemoryError:
            micropython.heap_unlock()
            print("MemoryError in block at sample %d" % n)
            return
        micropython.heap_unlock()
        alloc += mem_alloc() - a0
        n += got
    print("locked %d samples, %d reps, %d bytes" % (n, det.rep_count, alloc))


mode = sys.argv[2] if len(sys.argv) > 2 else "events"
if mode == "events":
    events(sys.argv[1])
elif mode == "lock":
    locked(sys.argv[1])
else:
    cost(sys.argv[1], int(sys.argv[3]))
'''


from smartbell.vectors import vectors_from_trace  # noqa: E402


def runner_path(tmp: Path) -> Path:
    p = tmp / "motion_runner.py"
    p.write_text(RUNNER)
    return p


def run_runner(vectors: Path, mode: str, *args, interpreter: str = "micropython",
               timeout: float = 300) -> str:
    """Run the runner on `vectors` under `micropython` (56wK heap, firmware as .mpy first on the
    path) or `cpython`; returns stdout, raising with everything on a failure."""
    script = runner_path(vectors.parent)
    if interpreter == "micropython":
        cmd = [micropython_exe(), "-X", f"heapsize={ESP32_HEAP}", str(script), str(vectors), mode, *map(str, args)]
        env = dict(os.environ, MICROPYPATH=micropath(build_mpy()))
    else:
        cmd = [sys.executable, str(script), str(vectors), mode, *map(str, args)]
        env = dict(os.environ, PYTHONPATH=str(ROOT / "firmware"))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(ROOT))
    if proc.returncode != 0:
        raise RuntimeError(f"{interpreter} runner exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def measure(vectors: Path, interpreter: str, runs: int) -> dict:
    lines = [ln.split() for ln in run_runner(vectors, "cost", runs, interpreter=interpreter).splitlines()
             if ln.startswith("cost ")]
    n = int(lines[0][1])
    us = statistics.median(int(ln[2]) for ln in lines)
    alloc = statistics.median(int(ln[3]) for ln in lines)
    return {"samples": n, "us_per_sample": us / n, "bytes_per_sample": alloc / n,
            "reps": int(lines[0][4])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate-hz", type=float, default=200.0)
    ap.add_argument("--minutes", type=float, default=2.5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)

    from smartbell.simulate import simulate

    trace = simulate("good-morning", 8, seed=args.seed, rate_hz=args.rate_hz, messy=True,
                     duration_s=args.minutes * 60)
    with tempfile.TemporaryDirectory(prefix="sb-cost-") as tmp:
        vectors = vectors_from_trace(Path(tmp) / "trace.bin", trace, "good-morning")
        mpy = measure(vectors, "micropython", args.runs)
        cpy = measure(vectors, "cpython", args.runs)
        # The same samples with the generic spec: the cycle counter (signal 2) on top.
        vectors = vectors_from_trace(Path(tmp) / "generic.bin", trace, "generic")
        gen = measure(vectors, "micropython", args.runs)
    print(f"trace: good-morning messy, {mpy['samples']} samples at {args.rate_hz:g} Hz, "
          f"{trace.truth['rep_count']} true reps; median of {args.runs} runs")
    print(f"micropython -X heapsize={ESP32_HEAP}: {mpy['us_per_sample']:.2f} us/sample, "
          f"{mpy['bytes_per_sample']:.2f} bytes/sample, {mpy['reps']} reps")
    print(f"cpython {sys.version.split()[0]}: {cpy['us_per_sample']:.2f} us/sample, "
          f"{cpy['reps']} reps")
    print(f"micropython, --exercise generic: {gen['us_per_sample']:.2f} us/sample, "
          f"{gen['bytes_per_sample']:.2f} bytes/sample, {gen['reps']} reps")
    print(json.dumps({
        "samples": mpy["samples"], "rate_hz": args.rate_hz, "runs": args.runs,
        "us_per_sample_micropython": round(mpy["us_per_sample"], 3),
        "bytes_per_sample_micropython": round(mpy["bytes_per_sample"], 3),
        "us_per_sample_cpython": round(cpy["us_per_sample"], 3),
        "us_per_sample_micropython_generic": round(gen["us_per_sample"], 3),
        "bytes_per_sample_micropython_generic": round(gen["bytes_per_sample"], 3),
        "reps_micropython": mpy["reps"], "reps_cpython": cpy["reps"],
        "reps_true": trace.truth["rep_count"],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
