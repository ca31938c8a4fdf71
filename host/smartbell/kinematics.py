"""Noise-free kinematics of a dumbbell held at the chest: the maths behind `smartbell.simulate`.

A body segment (the torso) hinges about a horizontal lateral axis through the hip, with sway; the
dumbbell rides at the chest, or travels between the floor and the chest. Every function takes an
array of times and is vectorised, so a 10-minute trace costs a few array passes.
"""
from __future__ import annotations

import numpy as np

G0 = 9.80665  # m/s^2 per g

# Normalised minimum-jerk profile s(tau) on [0, 1] and its first two derivatives.
_TAU = np.linspace(0.0, 1.0, 2001)


def min_jerk(tau: np.ndarray) -> np.ndarray:
    tau = np.clip(tau, 0.0, 1.0)
    return tau**3 * (10.0 + tau * (-15.0 + 6.0 * tau))


def min_jerk_d1(tau: np.ndarray) -> np.ndarray:
    tau = np.clip(tau, 0.0, 1.0)
    return 30.0 * tau**2 * (1.0 - tau) ** 2


def min_jerk_d2(tau: np.ndarray) -> np.ndarray:
    tau = np.clip(tau, 0.0, 1.0)
    return 60.0 * tau * (1.0 - tau) * (1.0 - 2.0 * tau)


_S1 = min_jerk_d1(_TAU)
_S2 = min_jerk_d2(_TAU)


def min_rotation_duration_s(amp_rad: float, lever_m: float, limit_g: float,
                            translation_m: float = 0.0) -> float:
    """Shortest minimum-jerk duration keeping a point at `lever_m` from the pivot, swept through
    `amp_rad` (plus a translation of `translation_m` along the same profile), under `limit_g`.

    Bounds tangential (lever*amp*s''/T^2, translation added in the worst direction) and centripetal
    (lever*(amp*s'/T)^2) acceleration together.
    """
    tangential = (lever_m * amp_rad + translation_m) * np.abs(_S2)
    centripetal = lever_m * amp_rad**2 * _S1**2
    peak = float(np.max(np.hypot(tangential, centripetal)))
    return float(np.sqrt(peak / (limit_g * G0)))


class Piecewise:
    """A scalar that moves between knots (t_k, v_k) along minimum-jerk segments.

    Equal consecutive values make a hold; before the first and after the last knot it is constant.
    """

    def __init__(self, t0: float = 0.0, v0: float = 0.0):
        self.t = [t0]
        self.v = [v0]

    @property
    def end_s(self) -> float:
        return self.t[-1]

    @property
    def value(self) -> float:
        return self.v[-1]

    def hold(self, duration_s: float) -> float:
        return self.move(self.v[-1], duration_s)

    def move(self, value: float, duration_s: float) -> float:
        """Append a segment; returns the time it ends."""
        if duration_s <= 0:  # a jump would be infinite acceleration: zero-length moves are holds
            return self.t[-1]
        self.t.append(self.t[-1] + duration_s)
        self.v.append(value)
        return self.t[-1]

    def __call__(self, t: np.ndarray) -> np.ndarray:
        kt = np.asarray(self.t)
        kv = np.asarray(self.v)
        if len(kt) == 1:
            return np.full(np.shape(t), kv[0])
        i = np.clip(np.searchsorted(kt, t, side="right") - 1, 0, len(kt) - 2)
        span = kt[i + 1] - kt[i]
        tau = (t - kt[i]) / span
        return kv[i] + (kv[i + 1] - kv[i]) * min_jerk(tau)


# --- rotations -----------------------------------------------------------------------------------

def rot_x(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def rot_y(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def rot_z(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def rot_vec(v: np.ndarray) -> np.ndarray:
    """Rodrigues: rotation vectors (..., 3) in rad to matrices (..., 3, 3)."""
    v = np.asarray(v, dtype=float)
    angle = np.linalg.norm(v, axis=-1)
    axis = v / np.where(angle > 0, angle, 1.0)[..., None]
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([np.stack([zero, -z, y], -1), np.stack([z, zero, -x], -1),
                  np.stack([-y, x, zero], -1)], -2)
    s, c = np.sin(angle)[..., None, None], np.cos(angle)[..., None, None]
    return np.eye(3) + s * k + (1.0 - c) * (k @ k)


def rotation_angle(m: np.ndarray) -> np.ndarray:
    """Angle (rad) of rotation matrices (..., 3, 3); accurate near 0 and near pi."""
    vee = np.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                    m[..., 1, 0] - m[..., 0, 1]], -1)
    sin = 0.5 * np.linalg.norm(vee, axis=-1)
    cos = 0.5 * (np.trace(m, axis1=-2, axis2=-1) - 1.0)
    return np.arctan2(sin, cos)


def rot_log(m: np.ndarray) -> np.ndarray:
    """Rotation vector (rad) of one rotation matrix turning by less than about 170 deg."""
    angle = float(rotation_angle(m))
    vee = np.array([m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1]])
    n = float(np.linalg.norm(vee))
    return vee / n * angle if n > 1e-12 else np.zeros(3)


def random_rotation(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniformly distributed rotation: (matrix, unit quaternion w, x, y, z)."""
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    if q[0] < 0:
        q = -q
    w, x, y, z = q
    m = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])
    return m, q


def unit_vector(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


# --- the model -----------------------------------------------------------------------------------

class Sway:
    """Slow postural sway and tremor: pitch, roll, yaw of the body about the hip (rad).

    Each axis is a sum of sinusoids; `envelope` fades it in and out (zero while the dumbbell is
    on the floor or being carried)."""

    def __init__(self, amp_rad: np.ndarray, freq_hz: np.ndarray, phase: np.ndarray,
                 envelope: Piecewise):
        self.amp = np.asarray(amp_rad, float)  # (3 axes, K components)
        self.freq = np.asarray(freq_hz, float)
        self.phase = np.asarray(phase, float)
        self.envelope = envelope

    def peak_speed_rad_s(self) -> float:
        """Upper bound of the sway's angular speed at full envelope."""
        per_axis = np.sum(2 * np.pi * self.freq * np.abs(self.amp), axis=1)
        return float(np.linalg.norm(per_axis))

    def angles(self, t: np.ndarray) -> np.ndarray:
        arg = 2 * np.pi * self.freq[None] * t[:, None, None] + self.phase[None]
        ang = np.sum(self.amp[None] * np.sin(arg), axis=-1)  # (N, 3)
        return ang * self.envelope(t)[:, None]


class Carry:
    """The dumbbell carried between the floor and the chest, along a straight line while turning
    about one fixed axis; both in minimum-jerk time. `u` goes 0 (floor) -> 1 (chest).

    Relative to the body's pose: `drop_m` is the floor position from the chest (world frame),
    `rotvec` the turn from floor to chest (dumbbell frame, rad)."""

    def __init__(self, duration_s: float, drop_m: np.ndarray, rotvec: np.ndarray, lifting: bool):
        self.duration_s = duration_s
        self.drop_m = np.asarray(drop_m, float)
        self.rotvec = np.asarray(rotvec, float)
        self.lifting = lifting
        self.t0 = self.t1 = 0.0

    def place(self, t0: float) -> None:
        self.t0, self.t1 = t0, t0 + self.duration_s

    def offset(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Turn (dumbbell frame) and shift (world, m) of the dumbbell from the body's pose at `t`."""
        u = min_jerk((t - self.t0) / (self.t1 - self.t0))
        if not self.lifting:
            u = 1.0 - u
        return rot_vec((u - 1.0)[:, None] * self.rotvec), (1.0 - u)[:, None] * self.drop_m


class BodyModel:
    """World frame: x forward, y left, z up. The torso's orientation is
    sway @ rot_y(base_rad + sign * theta(t)); the dumbbell (frame D) sits at torso @ chest_m from
    the hip, which moves back by `hip_back_m` * theta / theta_ref while hinging."""

    def __init__(self, *, theta: Piecewise, base_rad: float, sign: float, chest_m: np.ndarray,
                 hip_back_m: float, theta_ref_rad: float, sway: Sway):
        self.theta = theta
        self.base_rad = base_rad
        self.sign = sign
        self.chest_m = np.asarray(chest_m, float)
        self.hip_back_m = hip_back_m
        self.theta_ref_rad = theta_ref_rad
        self.sway = sway
        self.pickup: Carry | None = None
        self.setdown: Carry | None = None
        # Re-grips: (t0, t1, rotvec) in time order; the dumbbell turns in the arms by rotvec
        # (dumbbell frame, rad) about its centre, in minimum-jerk time, and stays turned.
        self.regrips: list[tuple[float, float, np.ndarray]] = []

    def body_pose(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.atleast_1d(np.asarray(t, float))
        th = self.theta(t)
        sw = self.sway.angles(t)
        r = rot_z(sw[:, 2]) @ rot_x(sw[:, 0]) @ rot_y(sw[:, 1]) @ rot_y(self.base_rad + self.sign * th)
        hip = np.zeros((len(t), 3))
        hip[:, 0] = -self.hip_back_m * th / self.theta_ref_rad
        p = hip + r @ self.chest_m
        for t0, t1, rotvec in self.regrips:
            r = r @ rot_vec(min_jerk((t - t0) / (t1 - t0))[:, None] * rotvec)
        return r, p

    def pose(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World-from-dumbbell rotation (N, 3, 3) and dumbbell position (N, 3) in m."""
        t = np.atleast_1d(np.asarray(t, float))
        r, p = self.body_pose(t)
        for carry, mask in ((self.pickup, t < (self.pickup.t1 if self.pickup else 0)),
                            (self.setdown, t > (self.setdown.t0 if self.setdown else 0))):
            if carry is not None and mask.any():
                # Relative to the body's pose: a rep may begin before a pick-up ends (the two
                # movements add).
                turn, shift = carry.offset(t[mask])
                r[mask] = r[mask] @ turn
                p[mask] = p[mask] + shift
        return r, p

    def kinematics(self, t: np.ndarray, h_s: float = 1e-3) -> dict[str, np.ndarray]:
        """True state at times `t`: `r` (world from dumbbell), `p` (m), `omega_dps` (body rate in
        the dumbbell frame), `accel_g` (linear acceleration in the world frame, gravity excluded),
        by central differences over +-h_s of the smooth trajectory."""
        t = np.atleast_1d(np.asarray(t, float))
        r0, p0 = self.pose(t - h_s)
        r1, p1 = self.pose(t)
        r2, p2 = self.pose(t + h_s)
        rel = np.swapaxes(r0, -1, -2) @ r2  # body-frame rotation over 2h
        vee = 0.5 * np.stack([rel[:, 2, 1] - rel[:, 1, 2], rel[:, 0, 2] - rel[:, 2, 0],
                              rel[:, 1, 0] - rel[:, 0, 1]], -1)
        sin = np.linalg.norm(vee, axis=-1)
        scale = np.where(sin > 1e-12, np.arcsin(np.clip(sin, 0, 1)) / np.where(sin > 0, sin, 1), 1.0)
        omega = vee * scale[:, None] / (2 * h_s)
        accel = (p2 - 2 * p1 + p0) / (h_s * h_s) / G0
        return {"r": r1, "p": p1, "omega_dps": np.degrees(omega), "accel_g": accel}


def hann_pulse_avg(t: np.ndarray, center_s: float, width_s: float, window_s: float) -> np.ndarray:
    """Mean over [t - window_s, t] of a sin^2 pulse of unit peak centred at `center_s`, `width_s`
    long: what an IMU's decimation filter reports of a pulse shorter than a few samples."""
    def cum(x):
        x = np.clip(x - (center_s - width_s / 2), 0.0, width_s)
        return x / 2 - width_s / (4 * np.pi) * np.sin(2 * np.pi * x / width_s)

    return (cum(t) - cum(t - window_s)) / window_s
