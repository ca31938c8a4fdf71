"""Benchmark: cost of the motion detector's per-sample step, under MicroPython and CPython.

    python tests/benchmarks/firmware_cost.py [--rate-hz 200] [--minutes 2.5] [--runs 3]

A simulated trace (good-morning, 200 Hz, >= 24k samples) is stepped through `sbcore.motion` by
the same runner script under `micropython -X heapsize=56wK` (firmware compiled to .mpy, `.frozen`
on the path) and under CPython. Samples are preloaded in `array`s chunk by chunk (the whole trace
does not fit a 56 KB heap); only the stepping loops are timed, gc is disabled during them, and
`gc.mem_alloc()` deltas over them give bytes per sample. The last line is a JSON object.

The runner and the vector file format are also used by tests/test_motion.py (parity, heap lock).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from array import array
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "host"), str(ROOT / "firmware")]

from mpy import micropath, micropython_exe, ESP32_HEAP  # noqa: E402
from fakes.mpybuild import build_mpy  # noqa: E402

MAGIC = 0x5342_4D56      # "SBMV"
HEADER_INTS = 8
CHUNK = 256              # samples per preloaded block: 7 KB, small beside a 56 KB heap

# Runs unchanged under MicroPython and CPython: argv = vectors file, mode.
# mode "events": one line per sample with flags (index, flags, every attribute of the events
#   raised), then a digest of the live state (phase, angle, speed) over every sample.
# mode "lock":   the step loop with micropython.heap_lock() held around each block.
# mode "cost":   timing and gc.mem_alloc deltas of the step loop, gc disabled, RUNS times.
RUNNER = r'''
import sys, gc
from array import array
try:
    import micropython
except ImportError:
    micropython = None
try:
    from time import ticks_us, ticks_diff
except ImportError:
    from time import perf_counter_ns
    def ticks_us():
        return perf_counter_ns() // 1000
    def ticks_diff(a, b):
        return a - b
from sbcore.motion import Detector, EV_REP, EV_HOLD, EV_ABRUPT

mem_alloc = getattr(gc, "mem_alloc", lambda: 0)     # CPython has no allocation counter
CHUNK = %(chunk)d


def open_vectors(path):
    # The file, a detector set up as the header says, and the block buffer.
    f = open(path, "rb")
    hdr = array("i", bytes(4 * %(header_ints)d))
    f.readinto(hdr)
    if hdr[0] != %(magic)d:
        raise ValueError("not a vectors file")
    params = array("i", bytes(8 * hdr[5]))
    if hdr[5]:
        f.readinto(params)
    det = Detector(accel_lsb_per_g=hdr[3], gyro_mdps_per_lsb=hdr[4] / 1000000, has_gyro=bool(hdr[2]))
    for k in range(hdr[5]):
        if not det.set_param_id(params[2 * k], params[2 * k + 1]):
            raise ValueError("param refused")
    return f, det, array("i", bytes(28 * CHUNK))


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
                line = "%%d %%d" %% (base + j, fl)
                if fl & EV_REP:
                    line += " rep %%d %%d %%d %%d %%d %%d %%d %%d %%d" %% (
                        det.rep_count, det.rep_t_start_ms, det.rep_t_far_ms, det.rep_t_return_ms,
                        det.rep_t_end_ms, det.rep_rom_ddeg, det.rep_hold_ms,
                        det.rep_peak_speed_dps, det.rep_peak_accel_mg)
                if fl & EV_HOLD:
                    line += " hold %%d %%d %%d" %% (det.hold_t_start_ms, det.hold_ms, det.hold_angle_ddeg)
                if fl & EV_ABRUPT:
                    line += " abrupt %%d %%d %%d %%d" %% (det.abrupt_t_ms, det.abrupt_peak_mg,
                                                       det.abrupt_jerk_gps, det.abrupt_count)
                print(line)
        base += got
    print("end %%d samples, %%d reps, digest %%d" %% (base, det.rep_count, digest))


def loop(det, buf, got):
    # No range object, no bound method object (det.step(...) is a method call, not a lookup
    # that builds one), no boxing: only what step() itself does.
    j = 0
    o = 0
    while j < got:
        det.step(buf[o], buf[o + 1], buf[o + 2], buf[o + 3], buf[o + 4], buf[o + 5], buf[o + 6])
        j += 1
        o += 7


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
            print("MemoryError in block at sample %%d" %% n)
            return
        micropython.heap_unlock()
        alloc += mem_alloc() - a0
        n += got
    print("locked %%d samples, %%d reps, %%d bytes" %% (n, det.rep_count, alloc))


def cost(path, runs):
    for r in range(runs):
        f, det, buf = open_vectors(path)
        n = 0
        us = 0
        alloc = 0
        gc.collect()
        gc.disable()
        while True:
            got = f.readinto(buf) // 28
            if not got:
                break
            a0 = mem_alloc()
            t0 = ticks_us()
            loop(det, buf, got)
            us += ticks_diff(ticks_us(), t0)
            alloc += mem_alloc() - a0
            n += got
        gc.enable()
        f.close()
        print("cost %%d %%d %%d %%d" %% (n, us, alloc, det.rep_count))


mode = sys.argv[2] if len(sys.argv) > 2 else "events"
if mode == "events":
    events(sys.argv[1])
elif mode == "lock":
    locked(sys.argv[1])
else:
    cost(sys.argv[1], int(sys.argv[3]))
''' % {"chunk": CHUNK, "header_ints": HEADER_INTS, "magic": MAGIC}


def write_vectors(path: Path, t_ms, acc, gyr, *, accel_lsb_per_g: int, gyro_mdps_per_lsb: float,
                  params: dict | None = None) -> Path:
    """Raw samples (ticks and int16, as `smartbell.analyze.to_raw` gives them) as an int32 file
    the runner can read block by block into preallocated arrays under either interpreter."""
    from sbcore.motion import PARAMS

    ids = {p[1]: p[0] for p in PARAMS}
    pairs = [v for name, value in (params or {}).items() for v in (ids[name], int(value))]
    has_gyro = gyr is not None
    out = array("i", [MAGIC, len(t_ms), int(has_gyro), int(accel_lsb_per_g),
                      int(round(gyro_mdps_per_lsb * 1_000_000)), len(pairs) // 2, 0, 0])
    out.extend(pairs)
    for i in range(len(t_ms)):
        g = gyr[i] if has_gyro else (0, 0, 0)
        out.extend((int(t_ms[i]), int(acc[i][0]), int(acc[i][1]), int(acc[i][2]),
                    int(g[0]), int(g[1]), int(g[2])))
    path.write_bytes(out.tobytes())
    return path


def vectors_from_trace(path: Path, trace, spec_name: str, *, tick0_ms: int = 0) -> Path:
    """Write a simulated trace as the analyzer would feed it (same scales, the spec's params)."""
    from smartbell.analyze import ACCEL_LSB_PER_G, GYRO_LSB_PER_DPS, Trace, to_raw
    from smartbell.spec import load_spec

    t_ms, acc, gyr = to_raw(Trace(trace.t_s, trace.accel_g, trace.gyro_dps))
    t_ms = (t_ms + tick0_ms) & ((1 << 30) - 1)
    return write_vectors(path, t_ms.tolist(), acc.tolist(), None if gyr is None else gyr.tolist(),
                         accel_lsb_per_g=ACCEL_LSB_PER_G, gyro_mdps_per_lsb=1000 / GYRO_LSB_PER_DPS,
                         params=load_spec(spec_name).detector_params())


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
    print(f"trace: good-morning messy, {mpy['samples']} samples at {args.rate_hz:g} Hz, "
          f"{trace.truth['rep_count']} true reps; median of {args.runs} runs")
    print(f"micropython -X heapsize={ESP32_HEAP}: {mpy['us_per_sample']:.2f} us/sample, "
          f"{mpy['bytes_per_sample']:.2f} bytes/sample, {mpy['reps']} reps")
    print(f"cpython {sys.version.split()[0]}: {cpy['us_per_sample']:.2f} us/sample, "
          f"{cpy['reps']} reps")
    print(json.dumps({
        "samples": mpy["samples"], "rate_hz": args.rate_hz, "runs": args.runs,
        "us_per_sample_micropython": round(mpy["us_per_sample"], 3),
        "bytes_per_sample_micropython": round(mpy["bytes_per_sample"], 3),
        "us_per_sample_cpython": round(cpy["us_per_sample"], 3),
        "reps_micropython": mpy["reps"], "reps_cpython": cpy["reps"],
        "reps_true": trace.truth["rep_count"],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
