"""Simulated raw IMU traces of the rehab exercises, with ground truth, for tests, benchmarks, demo.

    from smartbell.simulate import simulate
    trace = simulate("good-morning", reps=8, seed=3, messy=True)
    trace.write("trace.csv")        # trace.csv (t,ax,ay,az,gx,gy,gz) + trace.truth.json

The dumbbell's true motion comes from `smartbell.kinematics`; the sensor adds a random mounting,
gyro bias, accelerometer offset, noise and int16 quantisation. Truth is computed from the noise-free
trajectory.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from smartbell import SmartbellError
from smartbell.kinematics import (
    G0, BodyModel, Carry, Piecewise, Sway, hann_pulse_avg, min_rotation_duration_s,
    random_rotation, rot_log, rot_vec, rotation_angle, unit_vector,
)

EXERCISES = ("good-morning", "hyperextension")
LEAD_INS = ("settle", "quick", "flowing")  # how the first rep follows the pick-up (messy traces)

# The hold definition shared with the detector (sbcore.motion) and written into every truth file.
HOLD_SPEED_DPS = 5.0
HOLD_BAND_DEG = 5.0

ACCEL_LSB_PER_G = 4096.0   # +-8 g full scale
GYRO_LSB_PER_DPS = 32.8    # +-1000 dps full scale
ACCEL_NOISE_G = 0.01
GYRO_NOISE_DPS = 0.1
GYRO_BIAS_MAX_DPS = 3.0
# Accelerometer zero-g offset per axis, uniform in +-this: MEMS parts are specified at +-20 mg
# (LSM6DSOX, typical) to +-50 mg (MPU-6050 X/Y; 80 mg Z) after factory trim.
ACCEL_OFFSET_MAX_G = 0.04
JITTER_S = 0.3e-3
# Planned movements stay under this; sway and the hips' shift use part of the 0.35 g margin left
# between movement and the weakest injected abrupt pulse (0.9 g).
MOVE_LIMIT_G = 0.28
FATIGUE_END = 0.55        # with `fatigue`: the set's last rep, share of the nominal range
REGRIP_P = 0.35           # with `regrips`: share of rests of 1 s or more with one
HESITATE_P = 0.5          # with `hesitations`: share of reps that stop part of the way
SWAY_MAX_DPS = 2.5         # a hold's true angular speed must stay under 3 deg/s
REST_SPREAD_DEG = 1.5     # the start position varies this much between reps
TRUTH_RATE_HZ = 500.0      # grid of the noise-free truth (hold_s to +-2 ms)


class SimulationError(SmartbellError, ValueError):
    """Invalid simulator request (unknown exercise, impossible duration, bad parameter)."""


@dataclass
class Trace:
    """A raw trace as the device would record it, plus what really happened."""
    t_s: np.ndarray
    accel_g: np.ndarray
    gyro_dps: np.ndarray | None
    truth: dict
    model: BodyModel | None = field(default=None, repr=False)  # the noise-free motion, for tests

    def write(self, path: str | Path) -> tuple[Path, Path]:
        """Write `path` (CSV: t,ax,ay,az,gx,gy,gz; empty gyro cells without gyro) and
        `<stem>.truth.json` beside it; returns both paths."""
        import pandas as pd

        path = Path(path)
        truth_path = truth_path_for(path)
        gyro = self.gyro_dps if self.gyro_dps is not None else np.full((len(self.t_s), 3), np.nan)
        table = pd.DataFrame({"t": self.t_s, "ax": self.accel_g[:, 0], "ay": self.accel_g[:, 1],
                              "az": self.accel_g[:, 2], "gx": gyro[:, 0], "gy": gyro[:, 1],
                              "gz": gyro[:, 2]})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # 6 decimals keep every quantised value exact to well under half an LSB.
            table.to_csv(path, index=False, float_format="%.6f", na_rep="")
            truth_path.write_text(json.dumps(self.truth, indent=1) + "\n")
        except OSError as exc:
            raise SimulationError(f"cannot write {exc.filename or path}: {exc.strerror or exc}") from exc
        return path, truth_path


def truth_path_for(csv_path: str | Path) -> Path:
    csv_path = Path(csv_path)
    return csv_path.with_name(csv_path.stem + ".truth.json")


def in_phase(start_s: float, end_s: float, true_reps: list[dict], tol_s: float = 1.0) -> bool:
    """Whether a detected rep from `start_s` to `end_s` is in phase with a true rep (truth
    "reps"): its start and its end both within `tol_s` of that rep's."""
    return any(abs(start_s - r["start_s"]) <= tol_s and abs(end_s - r["end_s"]) <= tol_s
               for r in true_reps)


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


class _Schedule:
    """Lays out the hinge angle theta(t) segment by segment and notes what happened when."""

    def __init__(self, rng, *, nominal_rad, lever_m, hip_back_m, hold_range_s, hesitate_rng=None,
                 fatigue_reps: int = 0):
        self.rng = rng
        self.fatigue_reps = fatigue_reps   # range shrinks to FATIGUE_END over this many reps
        self.hesitate_rng = hesitate_rng   # own stream: with or without, every other draw is the same
        self.nominal_rad = nominal_rad
        self.lever_m = lever_m
        self.hip_back_m = hip_back_m
        self.hold_range_s = hold_range_s
        self.theta = Piecewise(0.0, 0.0)
        self.reps: list[dict] = []
        self.dips: list[dict] = []
        self.pauses: list[dict] = []
        self.hesitations: list[dict] = []

    def _half_s(self, amp_rad: float, fast: bool) -> float:
        drawn = _u(self.rng, 0.9, 1.2) if fast else _u(self.rng, 1.5, 3.0)
        shift_m = self.hip_back_m * amp_rad / self.nominal_rad
        return max(drawn, min_rotation_duration_s(amp_rad, self.lever_m, MOVE_LIMIT_G, shift_m))

    def rest(self, duration_s: float) -> None:
        self.theta.hold(duration_s)

    def pause(self) -> None:
        start = self.theta.end_s
        self.rest(_u(self.rng, 5.0, 15.0))
        self.pauses.append({"start_s": start, "end_s": self.theta.end_s})

    def dip(self) -> None:
        """A partial movement that is not a rep: 3-10 deg, at most 30% of the nominal range."""
        amp = min(math.radians(_u(self.rng, 3.0, 10.0)), 0.3 * self.nominal_rad)
        start, rest = self.theta.end_s, self.theta.value
        apex = self.theta.move(rest + amp, self._half_s(amp, False) * 0.6)
        self.theta.hold(_u(self.rng, 0.0, 0.5))
        end = self.theta.move(rest, self._half_s(amp, False) * 0.6)
        self.dips.append({"start_s": start, "t_s": apex, "end_s": end,
                          "amplitude_deg": math.degrees(amp)})
        self.rest(_u(self.rng, 0.8, 1.5))

    def rep(self, *, fast: bool, hold_kind: str, hold_s: float | None = None) -> None:
        amp = self.nominal_rad * _u(self.rng, 0.9, 1.1)
        if self.fatigue_reps > 1:
            amp *= 1.0 - (1.0 - FATIGUE_END) * min(len(self.reps), self.fatigue_reps - 1) / (self.fatigue_reps - 1)
        if hold_s is not None:
            hold = hold_s
        elif hold_kind == "none":
            hold = 0.0
        elif hold_kind == "short":
            hold = _u(self.rng, 0.0, 1.0)
        else:
            hold = _u(self.rng, *self.hold_range_s)
        start, top = self.theta.end_s, self.theta.value + amp
        way = None
        if self.hesitate_rng is not None and self.hesitate_rng.random() < HESITATE_P:
            h = self.hesitate_rng
            way = "out" if h.random() < 0.6 else "back"
            frac, stop_s = float(h.uniform(0.35, 0.7)), float(h.uniform(0.5, 2.0))
        far = self._move(top, self._half_s(amp, fast), way == "out" and (frac, stop_s))
        ret = self.theta.hold(hold)
        # Nobody comes back to exactly the same place: the next rest is a little off.
        rest = math.radians(_u(self.rng, -REST_SPREAD_DEG, REST_SPREAD_DEG))
        end = self._move(rest, self._half_s(top - rest, fast), way == "back" and (frac, stop_s))
        self.reps.append({"start_s": start, "far_s": far, "return_s": ret, "end_s": end,
                          "fast": fast, "planned_hold_s": hold})

    def _move(self, target: float, duration_s: float, stop) -> float:
        """Move theta to `target` in `duration_s`; with `stop` = (fraction, seconds), stop that
        long after that fraction of the way (a hesitation), each part no faster than the whole."""
        if not stop:
            return self.theta.move(target, duration_s)
        frac, stop_s = stop
        start_v = self.theta.value
        amp = abs(target - start_v)
        parts = []
        for f in (frac, 1.0 - frac):
            shift_m = self.hip_back_m * amp * f / self.nominal_rad
            parts.append(max(duration_s * math.sqrt(f),
                             min_rotation_duration_s(amp * f, self.lever_m, MOVE_LIMIT_G, shift_m)))
        t0 = self.theta.move(start_v + frac * (target - start_v), parts[0])
        t1 = self.theta.hold(stop_s)
        self.hesitations.append({"start_s": t0, "end_s": t1,
                                 "fraction": round(frac, 3), "way": 0 if target > start_v else 1})
        return self.theta.move(target, parts[1])

    def snapshot(self) -> tuple[int, int, int, int, int]:
        return len(self.theta.t), len(self.reps), len(self.dips), len(self.pauses), len(self.hesitations)

    def restore(self, snap: tuple[int, int, int, int, int]) -> None:
        n_knots, n_reps, n_dips, n_pauses, n_hes = snap
        del self.theta.t[n_knots:], self.theta.v[n_knots:]
        del self.reps[n_reps:], self.dips[n_dips:], self.pauses[n_pauses:], self.hesitations[n_hes:]


def _own_rng(seed: int, exercise: str, messy: bool, stream: int) -> np.random.Generator:
    """An option's own random numbers: with or without it, every other draw of the seed is the same."""
    return np.random.default_rng([int(seed), EXERCISES.index(exercise), int(messy), stream])


def _add_regrips(model: BodyModel, sched: _Schedule, rng: np.random.Generator) -> None:
    """Re-settle the dumbbell in the arms in some rests between reps (own random numbers)."""
    for before, after in zip(sched.reps, sched.reps[1:]):
        gap = after["start_s"] - before["end_s"]
        if gap < 1.0 or rng.random() >= REGRIP_P:
            continue
        dur = min(1.0, 0.6 * gap)
        t0 = before["end_s"] + (gap - dur) / 2
        angle = math.radians(_u(rng, 10.0, 35.0))
        model.regrips.append((t0, t0 + dur, unit_vector(rng) * angle))
    # (The set-down starts from the dumbbell as turned by them: carries are relative to the
    # body's pose, which includes the re-grips.)


def _turn_floor_to_far_end(model: BodyModel, sched: _Schedule, seed: int) -> None:
    """Lay the dumbbell on the floor (before the pick-up) in the orientation of the first rep's
    far end, turned by up to 10 deg about a random axis. Own random numbers: nothing else moves."""
    if model.pickup is None or not sched.reps:
        raise SimulationError("floor_near_far needs a messy trace with at least one rep")
    rng = np.random.default_rng([int(seed), 7919])
    far_r, body_r = model.body_pose(np.array([sched.reps[0]["far_s"], model.pickup.t0]))[0]
    floor_r = far_r @ rot_vec(unit_vector(rng) * math.radians(_u(rng, 0.0, 10.0)))
    # On the floor the dumbbell is the body's pose turned back by the pick-up's turn.
    model.pickup.rotvec = rot_log(floor_r.T @ body_r)


def _check_args(exercise, reps, seed, rate_hz, n_abrupt, duration_s, fast_reps, lead_in, messy) -> None:
    if exercise not in EXERCISES:
        raise SimulationError(f"unknown exercise {exercise!r}; valid: {', '.join(EXERCISES)}")
    if lead_in not in LEAD_INS:
        raise SimulationError(f"unknown lead_in {lead_in!r}; valid: {', '.join(LEAD_INS)}")
    if lead_in != LEAD_INS[0] and not messy:
        raise SimulationError(f"lead_in {lead_in!r} needs a messy trace (a pick-up for the first rep to follow)")
    for name, value in (("reps", reps), ("seed", seed), ("fast_reps", fast_reps)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                  or value < 0):
            raise SimulationError(f"{name} must be a whole number >= 0, got {value!r}")
    if rate_hz is not None and not 10.0 <= rate_hz <= 1000.0:
        raise SimulationError(f"rate_hz must be within 10..1000 Hz, got {rate_hz!r}")
    if n_abrupt is not None and n_abrupt < 0:
        raise SimulationError(f"n_abrupt must be >= 0, got {n_abrupt!r}")
    if duration_s is not None and duration_s <= 0:
        raise SimulationError(f"duration_s must be positive, got {duration_s!r}")
    if fast_reps is not None and not 0 <= fast_reps <= reps:
        raise SimulationError(f"fast_reps must be within 0..reps ({reps}), got {fast_reps!r}")


def _body(exercise: str, rng: np.random.Generator) -> dict:
    """Per-trace anatomy and nominal range."""
    if exercise == "good-morning":
        lever = _u(rng, 0.45, 0.55)  # hip joint to the dumbbell at the chest
        return {"lever_m": lever, "nominal_rad": math.radians(_u(rng, 30, 75)), "base_rad": 0.0,
                "sign": 1.0, "chest_m": np.array([0.0, 0.0, lever]),
                "hip_back_m": _u(rng, 0.03, 0.08), "hold_range_s": (2.0, 5.0)}
    lever = _u(rng, 0.35, 0.45)
    flex_deg = _u(rng, 45, 70)  # upper body hanging below horizontal at the start
    raise_deg = min(_u(rng, 30, 60), flex_deg + 3.0)  # up to about horizontal
    return {"lever_m": lever, "nominal_rad": math.radians(raise_deg),
            "base_rad": math.radians(flex_deg), "sign": -1.0, "chest_m": np.array([lever, 0, 0]),
            "hip_back_m": 0.0, "hold_range_s": (1.0, 3.0)}


def _sway(rng: np.random.Generator, envelope: Piecewise) -> Sway:
    """Roll, pitch, yaw (rows): a slow sway and a faint faster tremor each, under SWAY_MAX_DPS."""
    amp_deg = np.array([[_u(rng, 0.3, 0.6), _u(rng, 0.03, 0.08)],
                        [_u(rng, 0.5, 1.5), _u(rng, 0.03, 0.08)],
                        [_u(rng, 0.3, 0.6), _u(rng, 0.03, 0.08)]])
    # Slow enough that +-1.5 deg of sway stays under SWAY_MAX_DPS without shrinking, mostly.
    freq = np.array([[_u(rng, 0.2, 0.3), _u(rng, 0.6, 1.0)] for _ in range(3)])
    sway = Sway(np.radians(amp_deg), freq, rng.uniform(0, 2 * np.pi, size=(3, 2)), envelope)
    bound_dps = math.degrees(sway.peak_speed_rad_s())
    if bound_dps > SWAY_MAX_DPS:
        sway.amp *= SWAY_MAX_DPS / bound_dps
    return sway


def _carry(rng: np.random.Generator, lifting: bool) -> Carry:
    """A pick-up (floor -> chest) or set-down (chest -> floor), to be `place`d on the timeline."""
    drop = np.array([_u(rng, 0.05, 0.25), _u(rng, -0.1, 0.1), -_u(rng, 0.75, 0.95)])
    dist = float(np.linalg.norm(drop))
    dur = max(_u(rng, 1.2, 2.0), min_rotation_duration_s(0.0, 0.0, MOVE_LIMIT_G, dist))
    rotvec = unit_vector(rng) * math.radians(_u(rng, 60, 150))
    return Carry(dur, drop, rotvec, lifting)


def _place_pulses(rng, n: int, lo: float, hi: float, explicit: bool) -> list[float]:
    """`n` pulse centres in [lo, hi], at least 1.5 s apart."""
    times: list[float] = []
    for _ in range(200 * max(n, 1)):
        if len(times) == n:
            break
        c = _u(rng, lo, hi) if hi > lo else lo
        if all(abs(c - o) >= 1.5 for o in times):
            times.append(c)
    if len(times) < n and explicit:
        raise SimulationError(f"cannot fit {n} abrupt events 1.5 s apart in {hi - lo:.1f} s")
    return sorted(times)


def _longest_run_s(ok: np.ndarray, dt: float) -> float:
    if not ok.any():
        return 0.0
    edges = np.diff(np.concatenate([[0], ok.astype(np.int8), [0]]))
    lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    return float((lengths.max() - 1) * dt)


def _rep_truth(model: BodyModel, rep: dict, abrupt: list[dict]) -> dict:
    """Rep measures from the noise-free motion; hold_s by the definition shared with the detector.

    `peak_accel_g` is the true linear acceleration's peak over the rep, injected pulses included;
    `peak_motion_accel_g` leaves them out."""
    dt = 1.0 / TRUTH_RATE_HZ
    grid = np.arange(rep["start_s"], rep["end_s"] + dt / 2, dt)
    kin = model.kinematics(grid)
    r_start, r_far = model.pose(np.array([rep["start_s"], rep["far_s"]]))[0]
    angle_deg = np.degrees(rotation_angle(r_start.T @ kin["r"]))
    speed_dps = np.linalg.norm(kin["omega_dps"], axis=1)
    ok = (speed_dps < HOLD_SPEED_DPS) & (angle_deg >= angle_deg.max() - HOLD_BAND_DEG)
    motion_g = float(np.linalg.norm(kin["accel_g"], axis=1).max())
    inside = [e for e in abrupt if rep["start_s"] <= e["t_s"] <= rep["end_s"]]
    out = {k: round(rep[k], 4) for k in ("start_s", "far_s", "return_s", "end_s")}
    out.update({
        "to_far_s": round(rep["far_s"] - rep["start_s"], 4),
        "duration_s": round(rep["end_s"] - rep["start_s"], 4),
        "rom_deg": round(float(np.degrees(rotation_angle(r_start.T @ r_far))), 3),
        "peak_angle_deg": round(float(angle_deg.max()), 3),
        "hold_s": round(_longest_run_s(ok, dt), 4),
        "peak_speed_dps": round(float(speed_dps.max()), 2),
        "back_s": round(rep["end_s"] - rep["return_s"], 4),
        "peak_accel_g": round(max([motion_g] + [e["peak_accel_g"] for e in inside]), 4),
        "peak_motion_accel_g": round(motion_g, 4),
        "abrupt_count": len(inside),
        "fast": rep["fast"],
        "planned_hold_s": round(rep["planned_hold_s"], 4),
    })
    return out


def _quantise(x: np.ndarray, lsb_per_unit: float) -> np.ndarray:
    return np.clip(np.round(x * lsb_per_unit), -32768, 32767) / lsb_per_unit


def _lay_out(rng, body: dict, reps: int, messy: bool, duration_s: float | None,
             fast_reps: int | None, hold_s: float | None = None,
             hesitate_rng=None, fatigue: bool = False,
             lead_in: str = "settle") -> tuple[BodyModel, _Schedule, float]:
    """The whole true motion: lead-in, sets of reps with the messy extras, tail."""
    sched = _Schedule(rng, nominal_rad=body["nominal_rad"], lever_m=body["lever_m"],
                      hip_back_m=body["hip_back_m"], hold_range_s=body["hold_range_s"],
                      hesitate_rng=hesitate_rng, fatigue_reps=reps if fatigue else 0)
    envelope = Piecewise(0.0, 0.0 if messy else 1.0)
    model = BodyModel(theta=sched.theta, base_rad=body["base_rad"], sign=body["sign"],
                      chest_m=body["chest_m"], hip_back_m=body["hip_back_m"],
                      theta_ref_rad=body["nominal_rad"], sway=_sway(rng, envelope))

    # Lead-in: on the floor, pick-up, settle (messy); or standing still at the start position.
    if messy:
        model.pickup = _carry(rng, lifting=True)
        floor_s, settle_s = _u(rng, 1.0, 3.0), _u(rng, 1.0, 3.0)
        model.pickup.place(floor_s)
        # "quick": 0.05-0.15 s, straight from the pick-up into the first rep (the body's sway
        # still builds up over the drawn 1-3 s: appearing within 0.1 s it would be a jolt).
        # "flowing": the first rep starts 0.1-0.4 s before the lift ends (no stop at all).
        if lead_in == "flowing":
            lead = model.pickup.t1 - (0.1 + 0.15 * (settle_s - 1.0))
        else:
            lead = model.pickup.t1 + (settle_s * 0.05 if lead_in == "quick" else settle_s)
        sched.rest(lead)
        envelope.hold(model.pickup.t1)
        envelope.move(1.0, settle_s)
    else:
        sched.rest(_u(rng, 2.0, 4.0))

    # Per-rep variety of the first set, decided up front so a seed always gives the same set.
    if fast_reps is None:
        fast_reps = max(1, int(rng.binomial(reps, 0.15))) if messy and reps else 0
    fast_idx = set(rng.choice(reps, size=fast_reps, replace=False).tolist()) if reps else set()
    # Every messy trace shows each kind of mess at least once.
    forced = ({k: int(rng.integers(0, reps)) for k in ("pause", "dip", "nohold")}
              if messy and reps else {})

    # The tail is drawn first so that `duration_s` can be met exactly.
    tail_rest = _u(rng, 2.0, 4.0)
    setdown = _carry(rng, lifting=False) if messy else None
    tail_settle = _u(rng, 1.0, 3.0) if messy else 0.0
    tail_floor = _u(rng, 1.0, 2.0) if messy else 0.0
    tail_s = tail_rest + tail_settle + tail_floor + (setdown.duration_s if setdown else 0.0)

    i = 0
    while reps and (duration_s is not None or i < reps):
        snap = sched.snapshot()
        first_set = i < reps
        if i and i % reps == 0:
            sched.rest(_u(rng, 20.0, 40.0))  # rest between sets
        elif i:
            sched.rest(_u(rng, 0.3, 1.5))
        if messy and (forced.get("pause") == i or rng.random() < 0.15):
            sched.pause()
        if messy and (forced.get("dip") == i or rng.random() < 0.2):
            sched.dip()
        fast = i in fast_idx if first_set else bool(messy and rng.random() < 0.15)
        roll = rng.random()
        if messy and (forced.get("nohold") == i or roll < 0.12):
            hold_kind = "none"
        elif fast or roll > 0.85:
            hold_kind = "short"
        else:
            hold_kind = "normal"
        sched.rep(fast=fast, hold_kind=hold_kind, hold_s=hold_s)
        i += 1
        if duration_s is not None and sched.theta.end_s + tail_s > duration_s:
            if i <= reps:
                raise SimulationError(f"duration_s={duration_s:g} is too short for {reps} reps "
                                      f"(this set needs at least {sched.theta.end_s + tail_s:.0f} s)")
            sched.restore(snap)
            break
    if duration_s is not None:
        tail_rest = duration_s - sched.theta.end_s - (tail_s - tail_rest)

    sched.rest(tail_rest)
    if setdown is not None:
        envelope.hold(sched.theta.end_s - envelope.end_s)
        envelope.move(0.0, tail_settle)
        sched.rest(tail_settle + setdown.duration_s + tail_floor)
        setdown.place(envelope.end_s)
        model.setdown = setdown
    return model, sched, duration_s if duration_s is not None else sched.theta.end_s


def _inject_pulses(rng, model: BodyModel, sched: _Schedule, t_s: np.ndarray, lin_g: np.ndarray,
                   rate: float, total_s: float, n_abrupt: int, explicit: bool) -> list[dict]:
    """Add abrupt pulses to `lin_g` (world frame, g) in place, inside or between reps; their truth.

    Each is seen averaged over one sample period, as an IMU's decimation filter reports it."""
    lo = model.pickup.t1 + 0.5 if model.pickup else 0.5
    hi = model.setdown.t0 - 0.5 if model.setdown else total_s - 0.5
    if sched.reps:
        lo = max(lo, sched.reps[0]["start_s"] - 1.5)
        hi = min(hi, sched.reps[-1]["end_s"] + 1.5)
    abrupt = []
    for centre in _place_pulses(rng, n_abrupt, lo, hi, explicit):
        width, peak_g, direction = _u(rng, 0.04, 0.15), _u(rng, 0.9, 2.5), unit_vector(rng)
        a, b = np.searchsorted(t_s, [centre - width, centre + width + 2.0 / rate])
        lin_g[a:b] += np.outer(hann_pulse_avg(t_s[a:b], centre, width, 1.0 / rate),
                               direction * peak_g)
        motion_g = model.kinematics(np.array([centre]))["accel_g"][0]
        abrupt.append({"t_s": round(centre, 4),
                       "peak_accel_g": round(float(np.linalg.norm(motion_g + direction * peak_g)), 4),
                       "pulse_g": round(peak_g, 4), "width_s": round(width, 4),
                       "direction": [round(float(v), 4) for v in direction]})
    return abrupt


def simulate(exercise: str, reps: int, *, seed: int = 0, rate_hz: float | None = None,
             messy: bool = False, gyro: bool = True, n_abrupt: int | None = None,
             duration_s: float | None = None, fast_reps: int | None = None,
             hold_s: float | None = None, floor_near_far: bool = False,
             hesitations: bool = False, regrips: bool = False, fatigue: bool = False,
             lead_in: str = "settle") -> Trace:
    """Simulate one set of `reps` reps (see the module docstring).

    For tests of hard cases (both leave every other random draw, so the rest of the trace, as
    it is without them): `hold_s` makes every rep hold its far end exactly this long;
    `floor_near_far` (messy traces) turns the pick-up so that the dumbbell lies on the floor in
    the orientation of the first rep's far end, give or take 10 deg: the case where the floor
    looks like the far end of a rep to a detector that only sees the gravity direction;
    `hesitations` makes half of the reps stop for 0.5-2 s part of the way (35-70 %) out or back,
    as a cautious patient does (truth: `hesitations`, each with its start and end, `fraction` of
    the way and `way` 0 out, 1 back). The hold is still only the far end's. `regrips`: in about a
    third of the rests of a second or more between reps the dumbbell is turned in the arms by
    10-35 deg about a random axis (re-settled at the chest), and stays so (truth: `regrips`).
    `fatigue`: the range shrinks steadily over the set, the last rep reaching FATIGUE_END (55 %) of
    the first's nominal range (no other draw changes). `lead_in` (messy traces; no other draw
    changes): how the first rep follows the pick-up: "settle", 1-3 s after it; "quick", 0.05-0.15 s
    after it; "flowing", begun 0.1-0.4 s before it ends, the two movements adding (no stop between
    them at all).

    `duration_s` pads the trace to exactly that length with more sets of `reps` reps separated by
    20-40 s rests (the last set may be partial). `fast_reps` is how many reps of the first set are
    done fast (0.9-1.2 s each way, longer if the 0.35 g margin needs it); by default none on clean
    traces and some on messy ones.

    Truth per rep: instants `start_s`, `far_s`, `return_s` (leaves the far end; note the host's
    rep tables use `return_s` for the return's duration), `end_s`; durations `to_far_s`, `hold_s`,
    `back_s`, `duration_s`; `rom_deg`, `peak_speed_dps`, `peak_accel_g`, `abrupt_count`.
    """
    _check_args(exercise, reps, seed, rate_hz, n_abrupt, duration_s, fast_reps, lead_in, messy)
    # Exercise and messiness take part in the seed so every (seed, kind) is its own person.
    rng = np.random.default_rng([int(seed), EXERCISES.index(exercise), int(messy)])
    body = _body(exercise, rng)
    rate = float(rate_hz) if rate_hz is not None else _u(rng, 50.0, 200.0)
    mount_r, mount_q = random_rotation(rng)
    bias_dps = rng.uniform(-GYRO_BIAS_MAX_DPS, GYRO_BIAS_MAX_DPS, size=3)
    hesitate_rng = _own_rng(seed, exercise, messy, 2) if hesitations else None
    model, sched, total_s = _lay_out(rng, body, reps, messy, duration_s, fast_reps, hold_s,
                                     hesitate_rng, fatigue, lead_in)
    if floor_near_far:
        _turn_floor_to_far_end(model, sched, seed)
    if regrips:
        _add_regrips(model, sched, _own_rng(seed, exercise, messy, 3))

    # Samples at the device's clock: nominal period plus read jitter.
    n = int(math.floor(total_s * rate)) + 1
    t_s = np.clip(np.arange(n) / rate + rng.uniform(-JITTER_S, JITTER_S, size=n), 0.0, total_s)
    kin = model.kinematics(t_s)
    lin_g = kin["accel_g"].copy()
    explicit = n_abrupt is not None
    if n_abrupt is None:
        n_abrupt = int(rng.integers(1, 5)) if messy else int(rng.integers(0, 3))
    abrupt = _inject_pulses(rng, model, sched, t_s, lin_g, rate, total_s, n_abrupt, explicit)

    # Sensor frame = dumbbell frame turned by the mounting; specific force reads +1 g up at rest.
    r_ws = kin["r"] @ mount_r
    force_g = np.einsum("nij,ni->nj", r_ws, lin_g + np.array([0.0, 0.0, 1.0]))
    # (The offset has its own random stream, so adding it changed no other draw of a seed.)
    offset_g = _own_rng(seed, exercise, messy, 1).uniform(-ACCEL_OFFSET_MAX_G, ACCEL_OFFSET_MAX_G, size=3)
    accel_g = _quantise(force_g + offset_g + rng.normal(0, ACCEL_NOISE_G, size=(n, 3)), ACCEL_LSB_PER_G)
    gyro_dps = None
    if gyro:
        rate_dps = kin["omega_dps"] @ mount_r + bias_dps
        gyro_dps = _quantise(rate_dps + rng.normal(0, GYRO_NOISE_DPS, size=(n, 3)), GYRO_LSB_PER_DPS)

    rep_truth = [{"rep": k + 1, **_rep_truth(model, r, abrupt)} for k, r in enumerate(sched.reps)]
    for event in abrupt:
        event["rep"] = next((r["rep"] for r in rep_truth
                             if r["start_s"] <= event["t_s"] <= r["end_s"]), None)

    def rounded(items):
        return [{k: round(v, 4) for k, v in item.items()} for item in items]

    def interval(c):
        return {"start_s": round(c.t0, 4), "end_s": round(c.t1, 4)} if c else None

    truth = {
        "exercise": exercise, "messy": messy, "seed": seed, "gyro": gyro, "lead_in": lead_in,
        "rate_hz": rate, "duration_s": round(total_s, 4), "n_samples": n,
        "rep_count": len(rep_truth),
        "hold_speed_dps": HOLD_SPEED_DPS, "hold_band_deg": HOLD_BAND_DEG,
        "nominal_rom_deg": round(math.degrees(body["nominal_rad"]), 3),
        "lever_m": round(body["lever_m"], 4),
        "gyro_bias_dps": [round(float(v), 4) for v in bias_dps],
        "accel_offset_g": [round(float(v), 4) for v in offset_g],
        # v_dumbbell = R(q) v_sensor; dumbbell frame = body frame (x forward, y left, z up when
        # standing upright).
        "mounting": [round(float(v), 6) for v in mount_q],
        "pickup": interval(model.pickup), "setdown": interval(model.setdown),
        "pauses": rounded(sched.pauses), "partial_dips": rounded(sched.dips),
        "hesitations": rounded(sched.hesitations),
        "regrips": [{"start_s": round(t0, 4), "end_s": round(t1, 4),
                     "angle_deg": round(math.degrees(float(np.linalg.norm(v))), 2)}
                    for t0, t1, v in model.regrips],
        "abrupt": abrupt, "reps": rep_truth,
    }
    return Trace(t_s=t_s, accel_g=accel_g, gyro_dps=gyro_dps, truth=truth, model=model)


# --- CLI: smartbell simulate ---------------------------------------------------------------------

def add_arguments(parser) -> None:
    parser.add_argument("--exercise", required=True, help=f"one of: {', '.join(EXERCISES)}")
    parser.add_argument("--reps", type=int, default=8, help="reps in the set (default 8)")
    parser.add_argument("--out", required=True, help="CSV to write; the truth goes to <stem>.truth.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate-hz", type=float, default=None, help="sample rate (default: random 50-200)")
    parser.add_argument("--messy", action="store_true",
                        help="pick-up, set-down, pauses, partial dips, fast reps")
    parser.add_argument("--no-gyro", action="store_true", help="accelerometer only (empty gyro columns)")
    parser.add_argument("--abrupt", type=int, default=None, metavar="N", help="abrupt events to inject")
    parser.add_argument("--minutes", type=float, default=None,
                        help="pad to this length with more sets and rests")
    patient = parser.add_argument_group("what patients do (the detector's hard cases)")
    patient.add_argument("--hesitations", action="store_true",
                         help="half the reps stop for 0.5-2 s part of the way out or back")
    patient.add_argument("--regrips", action="store_true",
                         help="the dumbbell re-settled in the arms (turned 10-35 deg) in some rests")
    patient.add_argument("--fatigue", action="store_true", help="the range shrinks over the set")
    patient.add_argument("--lead-in", choices=LEAD_INS, default=LEAD_INS[0],
                         help="with --messy: the first rep 1-3 s after the pick-up (settle, default), "
                              "straight after it (quick), or begun before the lift ends (flowing)")


def run(args) -> int:
    trace = simulate(args.exercise, args.reps, seed=args.seed, rate_hz=args.rate_hz,
                     messy=args.messy, gyro=not args.no_gyro, n_abrupt=args.abrupt,
                     duration_s=None if args.minutes is None else args.minutes * 60.0,
                     hesitations=args.hesitations, regrips=args.regrips, fatigue=args.fatigue,
                     lead_in=args.lead_in)
    csv_path, truth_path = trace.write(args.out)
    t = trace.truth
    print(f"{t['exercise']}: {t['rep_count']} reps, {len(t['abrupt'])} abrupt, "
          f"{t['duration_s']:.1f} s at {t['rate_hz']:.1f} Hz ({t['n_samples']} samples)"
          f"{', messy' if t['messy'] else ''}{'' if t['gyro'] else ', no gyro'} -> {csv_path}, {truth_path}")
    return 0
