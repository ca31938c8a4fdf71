"""Replay a raw IMU trace through the firmware's own detector and check every rep against a spec.

The detector is `sbcore.motion`, the very module that runs on the device: samples are turned
into the same int16 values an IMU would give and stepped one by one.

    result = analyze("trace.csv", "good-morning")
    result.reps        # DataFrame, one row per rep, one column per spec check, 'verdict'
    result.events      # DataFrame: type (rep/hold/abrupt), t_s, values
    result.summary     # dict

Input contract: CSV with header `t,ax,ay,az,gx,gy,gz` (s, g, deg/s), gyro cells may all be empty
(accelerometer only), sample rate 12.5-400 Hz.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sbcore.compat import ticks_diff
from sbcore.motion import EV_ABRUPT, EV_HOLD, EV_REP, Detector

from smartbell import SmartbellError
from smartbell.spec import CHECKS, Spec, load_spec

HEADER = ["t", "ax", "ay", "az", "gx", "gy", "gz"]
# The scales of the replay "IMU": +-8 g and +-1000 deg/s, as the firmware configures real ones.
ACCEL_LSB_PER_G = 4096
GYRO_LSB_PER_DPS = 32.8
MIN_RATE_HZ, MAX_RATE_HZ = 12.5, 400.0

REP_COLUMNS = ["rep", "start_s", "end_s", "duration_s", "to_far_s", "hold_s", "return_s",
               "rom_deg", "peak_speed_dps", "peak_accel_g", "abrupt_count"]
EVENT_COLUMNS = ["type", "t_s", "rep", "hold_s", "angle_deg", "rom_deg", "peak_accel_g", "jerk_gps"]


class TraceError(SmartbellError, ValueError):
    """A raw trace file that does not follow the input contract."""


@dataclass
class Trace:
    t_s: np.ndarray
    accel_g: np.ndarray
    gyro_dps: np.ndarray | None
    source: str = "<memory>"


@dataclass
class Analysis:
    spec: Spec
    reps: pd.DataFrame
    events: pd.DataFrame
    summary: dict


def read_trace(path: str | Path) -> Trace:
    """Read and validate a raw trace CSV; errors name the line and the problem."""
    path = Path(path)
    try:
        fh = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise TraceError(f"{path}: cannot open: {exc.strerror or exc}") from None
    rows: list[list[float]] = []
    has_gyro = None
    with fh:
        reader = csv.reader(fh)
        try:
            header = next(reader, None)
            if header is None:
                raise TraceError(f"{path}: empty file, expected the header {','.join(HEADER)}")
            if [h.strip() for h in header] != HEADER:
                raise TraceError(f"{path}:1: header is {','.join(header)!r}, expected {','.join(HEADER)}")
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != 7:
                    raise TraceError(f"{path}:{line}: {len(row)} fields, expected 7 ({','.join(HEADER)})")
                gyro_cells = [c.strip() for c in row[4:]]
                row_has_gyro = any(gyro_cells)
                if row_has_gyro and not all(gyro_cells):
                    raise TraceError(f"{path}:{line}: some gyro cells empty: give all three or none")
                if has_gyro is None:
                    has_gyro = row_has_gyro
                elif has_gyro != row_has_gyro:
                    raise TraceError(f"{path}:{line}: gyro cells {'missing' if has_gyro else 'present'} "
                                     "here but not in earlier rows")
                values = []
                for name, cell in zip(HEADER, row[: 7 if row_has_gyro else 4]):
                    try:
                        v = float(cell)
                    except ValueError:
                        raise TraceError(f"{path}:{line}: {name}={cell!r} is not a number") from None
                    if not math.isfinite(v):
                        raise TraceError(f"{path}:{line}: {name}={cell!r} is not a finite number")
                    values.append(v)
                if rows and values[0] <= rows[-1][0]:
                    raise TraceError(f"{path}:{line}: time t={values[0]} does not increase "
                                     f"(previous {rows[-1][0]})")
                rows.append(values if row_has_gyro else values + [0.0, 0.0, 0.0])
        except csv.Error as exc:
            raise TraceError(f"{path}:{reader.line_num}: malformed CSV: {exc}") from None
        except UnicodeDecodeError:
            raise TraceError(f"{path}: not a UTF-8 text file") from None
    if len(rows) < 2:
        raise TraceError(f"{path}: needs at least 2 samples, found {len(rows)}")
    data = np.asarray(rows, dtype=float)
    t = data[:, 0]
    rate = (len(t) - 1) / (t[-1] - t[0])
    if not MIN_RATE_HZ * 0.95 <= rate <= MAX_RATE_HZ * 1.05:
        raise TraceError(f"{path}: sample rate {rate:.1f} Hz is outside {MIN_RATE_HZ}-{MAX_RATE_HZ:g} Hz "
                         "(is t in seconds?)")
    return Trace(t, data[:, 1:4], data[:, 4:7] if has_gyro else None, str(path))


def to_raw(trace: Trace) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Device ticks (ms) and int16 samples as the firmware's IMU driver would deliver them."""
    t_ms = np.round(trace.t_s * 1000).astype(np.int64) & ((1 << 30) - 1)
    acc = np.clip(np.round(trace.accel_g * ACCEL_LSB_PER_G), -32768, 32767).astype(int)
    gyr = None
    if trace.gyro_dps is not None:
        gyr = np.clip(np.round(trace.gyro_dps * GYRO_LSB_PER_DPS), -32768, 32767).astype(int)
    return t_ms, acc, gyr


def rep_fields(det: Detector, t_first_s: float = 0.0) -> dict:
    """The detector's last rep as host fields (units in names). Same resolution as the protocol.

    Ticks are the replay's (trace ms, wrapping at 2^30): read with ticks_diff from tick 0, so a
    time just before the trace began is negative, not ~12 days. A rep whose start the detector
    estimated before the first sample (the generic counter's first rep) starts at `t_first_s`."""
    start, far, ret, end = det.rep_t_start_ms, det.rep_t_far_ms, det.rep_t_return_ms, det.rep_t_end_ms
    start_s = max(ticks_diff(start, 0) / 1000, t_first_s)
    end_s = ticks_diff(end, 0) / 1000
    return {
        "rep": det.rep_count,
        "start_s": start_s,
        "end_s": end_s,
        "duration_s": round(end_s - start_s, 3),
        "to_far_s": round(max(ticks_diff(far, 0) / 1000 - start_s, 0.0), 3),
        "hold_s": det.rep_hold_ms / 1000,
        "return_s": ticks_diff(end, ret) / 1000,
        "rom_deg": det.rep_rom_ddeg / 10,
        "peak_speed_dps": float(det.rep_peak_speed_dps),
        "peak_accel_g": det.rep_peak_accel_mg / 1000,
    }


def make_detector(spec: Spec, has_gyro: bool) -> Detector:
    det = Detector(accel_lsb_per_g=ACCEL_LSB_PER_G, gyro_mdps_per_lsb=1000 / GYRO_LSB_PER_DPS,
                   has_gyro=has_gyro)
    for name, value in spec.detector_params().items():
        det.set_param(name, value)
    return det


def run_detector(trace: Trace, spec: Spec) -> tuple[list[dict], list[dict]]:
    """Step every sample through the detector; returns (reps, events) as lists of dicts."""
    t_ms, acc, gyr = to_raw(trace)
    t_first_s = float(trace.t_s[0]) if len(trace.t_s) else 0.0
    det = make_detector(spec, gyr is not None)
    step = det.step
    reps: list[dict] = []
    events: list[dict] = []
    ax, ay, az = acc[:, 0].tolist(), acc[:, 1].tolist(), acc[:, 2].tolist()
    if gyr is not None:
        gx, gy, gz = gyr[:, 0].tolist(), gyr[:, 1].tolist(), gyr[:, 2].tolist()
    else:
        gx = gy = gz = [0] * len(ax)
    for i, t in enumerate(t_ms.tolist()):
        flags = step(t, ax[i], ay[i], az[i], gx[i], gy[i], gz[i])
        if not flags:
            continue
        if flags & EV_ABRUPT:
            events.append({"type": "abrupt", "t_s": det.abrupt_t_ms / 1000,
                           "peak_accel_g": det.abrupt_peak_mg / 1000, "jerk_gps": det.abrupt_jerk_gps})
        if flags & EV_HOLD:
            events.append({"type": "hold", "t_s": det.hold_t_start_ms / 1000, "hold_s": det.hold_ms / 1000,
                           "angle_deg": det.hold_angle_ddeg / 10})
        if flags & EV_REP:
            rep = rep_fields(det, t_first_s)
            reps.append(rep)
            events.append({"type": "rep", "t_s": rep["end_s"], "rep": rep["rep"], "hold_s": rep["hold_s"],
                           "rom_deg": rep["rom_deg"], "peak_accel_g": rep["peak_accel_g"]})
    return reps, events


def check_reps(reps: list[dict], abrupt_times: list[float], spec: Spec,
               weight_kg: float | None = None) -> pd.DataFrame:
    """One row per rep with its abrupt-event count and one column per spec check."""
    rows = []
    for rep in reps:
        n_abrupt = sum(1 for t in abrupt_times if rep["start_s"] <= t <= rep["end_s"])
        row = dict(rep, abrupt_count=n_abrupt)
        row.update(spec.check_rep(rep, abrupt_count=n_abrupt, weight_kg=weight_kg))
        rows.append(row)
    return pd.DataFrame(rows, columns=REP_COLUMNS + list(CHECKS) + ["verdict"])


def packet_gaps(accel_g, lengths=range(16, 257)) -> int | None:
    """Length of the transfer packets between which samples were lost, or None.

    A recording made of packets with samples lost between them jumps at every packet boundary
    far more than it moves from one sample to the next inside a packet, and a time column written
    from the nominal rate does not show the loss. Found when, for some packet length p with at
    least 4 boundaries, the median step across the boundaries (samples kp-1 -> kp) is at least
    6 times the median step of the whole recording.
    """
    a = np.asarray(accel_g, dtype=float)
    if len(a) < 64:
        return None
    step = np.linalg.norm(np.diff(a, axis=0), axis=1)
    inside = float(np.median(step))
    for p in lengths:
        across = step[p - 1::p]
        if len(across) < 4:
            break
        if np.median(across) >= 6 * inside:
            return p
    return None


def data_warnings(packet_gap: int | None) -> list[str]:
    """What in an input recording makes its counts unreliable, in words (empty when nothing)."""
    warnings = []
    p = packet_gap
    if p:
        warnings.append(f"the accelerometer jumps every {p} samples: samples were probably lost "
                        "between transfer packets, so reps are missing from this recording")
    return warnings


def analyze(source: str | Path | Trace, exercise: str | Spec, *, weight_kg: float | None = None) -> Analysis:
    trace = source if isinstance(source, Trace) else read_trace(source)
    spec = exercise if isinstance(exercise, Spec) else load_spec(exercise)
    reps, events = run_detector(trace, spec)
    abrupt_times = [e["t_s"] for e in events if e["type"] == "abrupt"]
    rep_df = check_reps(reps, abrupt_times, spec, weight_kg)
    ev_df = pd.DataFrame(events, columns=EVENT_COLUMNS).sort_values("t_s", kind="stable")
    duration = float(trace.t_s[-1] - trace.t_s[0])
    gap = packet_gaps(trace.accel_g)
    summary = {
        "source": trace.source,
        "exercise": spec.name,
        "spec": spec.source,
        "samples": int(len(trace.t_s)),
        "duration_s": round(duration, 3),
        "rate_hz": round((len(trace.t_s) - 1) / duration, 2) if duration > 0 else None,
        "gyro": trace.gyro_dps is not None,
        "reps": int(len(rep_df)),
        "reps_ok": int((rep_df["verdict"] == "ok").sum()),
        "abrupt_events": len(abrupt_times),
        "holds": int(sum(1 for e in events if e["type"] == "hold")),
        "mean_hold_s": round(float(rep_df["hold_s"].mean()), 3) if len(rep_df) else None,
        "mean_rom_deg": round(float(rep_df["rom_deg"].mean()), 1) if len(rep_df) else None,
        "weight_kg": weight_kg,
        "checks": {c: rep_df[c].value_counts().to_dict() for c in CHECKS},
        "packet_gap_samples": gap,
        "data_warnings": data_warnings(gap),
    }
    return Analysis(spec, rep_df, ev_df.reset_index(drop=True), summary)


def analyze_trace(source, exercise) -> pd.DataFrame:
    """The reps table only (what the logger's end-to-end test compares against)."""
    if isinstance(source, tuple):
        t_s, accel_g, gyro_dps = source
        source = Trace(np.asarray(t_s), np.asarray(accel_g), None if gyro_dps is None else np.asarray(gyro_dps))
    elif hasattr(source, "accel_g") and not isinstance(source, Trace):
        source = Trace(source.t_s, source.accel_g, source.gyro_dps)
    return analyze(source, exercise).reps


def write_outputs(result: Analysis, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "reps.csv", out_dir / "events.csv", out_dir / "summary.json"]
    result.reps.to_csv(paths[0], index=False, float_format="%.3f")
    result.events.to_csv(paths[1], index=False, float_format="%.3f")
    paths[2].write_text(json.dumps(result.summary, indent=2) + "\n", encoding="utf-8")
    return paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trace", help="raw trace CSV: t,ax,ay,az,gx,gy,gz (s, g, deg/s; gyro may be empty)")
    parser.add_argument("--exercise", default="generic", help="built-in spec name or a spec .toml path")
    parser.add_argument("--out", required=True, type=Path, help="output folder for reps.csv, events.csv, summary.json")
    parser.add_argument("--weight-kg", type=float, default=None, help="dumbbell weight, checked against the spec")


def run(args) -> int:
    result = analyze(args.trace, args.exercise, weight_kg=args.weight_kg)
    paths = write_outputs(result, args.out)
    s = result.summary
    print(f"{s['reps']} reps ({s['reps_ok']} ok), {s['abrupt_events']} abrupt events, "
          f"{s['duration_s']:.1f} s at {s['rate_hz']} Hz -> {', '.join(str(p) for p in paths)}")
    for w in s["data_warnings"]:
        print(f"smartbell analyze: warning: {args.trace}: {w}", file=sys.stderr)
    return 0
