"""The motion detector: raw IMU samples in, repetitions, holds and abrupt movements out.

One implementation for the device (MicroPython) and the host (`smartbell analyze` replays raw
traces through it). It streams one sample at a time with no look-ahead, in integer fixed point,
and `step()` allocates nothing, so it can run in the sensor loop on an ESP32.

    det = Detector(accel_lsb_per_g=4096, gyro_mdps_per_lsb=30.5)
    flags = det.step(t_ms, ax, ay, az, gx, gy, gz)      # raw int16 values
    if flags & EV_REP:
        print(det.rep_count, det.rep_rom_ddeg, det.rep_hold_ms)

How it works (docs/detector.md has the exact definitions):
- gravity is tracked in the sensor frame: the gyro rotates the estimate, the accelerometer pulls
  it back (a complementary filter); with no gyro it is a low-passed accelerometer. Accelerometer
  readings far from 1 g are not trusted while they last;
- the gyro bias is learnt whenever the accelerometer says the dumbbell is still;
- the start position is learnt when the dumbbell is held still; the movement angle is the angle
  between the current and the start gravity direction, so the mounting does not matter;
- a rep leaves the start position, reaches a far end at least `rep_min_rom_deg` away (and at
  least `rep_adapt_pct` % of the recent reps' range, so partial dips do not count), and comes
  back; a hold is the longest time the far end is held still;
- if the dumbbell comes to rest having moved up or down by `carry_min_mm` or more since its last
  rest (acceleration along gravity integrated twice between the two rests), it was carried
  (picked up, set down), not swung through a rep: nothing is counted and the start position is
  re-learnt there;
- if the dumbbell comes to rest somewhere else (a new posture) and the next movement leaves and
  returns to that new place, that place becomes the start position.
"""
try:
    import micropython
    from micropython import const
except ImportError:
    from sbcore.compat import micropython, const

from array import array

from sbcore.compat import ticks_add, ticks_diff
from sbcore.fixedmath import _ATAN_CDEG, isqrt

VERSION = const(1)

# step() result flags
EV_REP = const(1)
EV_HOLD = const(2)
EV_ABRUPT = const(4)
EV_ANCHOR = const(8)        # start position learnt (or re-learnt)
EV_CALIBRATED = const(16)   # gyro bias estimated for the first time

# live phase
PHASE_REST = const(0)
PHASE_OUT = const(1)
PHASE_HOLD = const(2)
PHASE_RETURN = const(3)
PHASE_SEARCH = const(4)     # no start position yet: hold still to learn it
PHASE_NAMES = ("rest", "out", "hold", "return", "search")

# Every threshold is a parameter: (id, name, default, min, max), integers in the unit the name
# says. The protocol's "set param" command carries (id, value); specs set them by name.
PARAMS = (
    (1, "rep_min_rom_deg", 20, 3, 170),     # a far end closer than this is a partial dip
    (2, "rep_adapt_pct", 40, 0, 90),        # ... or closer than this % of recent reps' range
    (3, "rep_min_ms", 800, 200, 10000),
    (4, "rep_max_ms", 12000, 2000, 60000),
    (5, "start_deg", 8, 2, 45),             # leaving the start position
    (6, "end_pct", 25, 5, 60),              # back within this % of the peak angle: rep done
    (7, "hold_speed_dps", 5, 1, 60),        # slower than this counts as held still
    (8, "hold_band_deg", 5, 1, 30),         # ... within this of the rep's peak angle
    (9, "hold_min_ms", 300, 0, 10000),      # shortest hold reported as a hold event
    (10, "abrupt_accel_mg", 600, 100, 16000),  # linear acceleration counted as abrupt
    (11, "abrupt_jerk_gps", 20, 1, 2000),   # jerk (g/s) counted as abrupt
    (12, "still_ms", 500, 100, 10000),      # still this long to learn the start position
    (13, "still_mg", 30, 5, 500),           # accelerometer wobble allowed while still
    (14, "gyro_tau_ms", 1000, 50, 10000),   # accelerometer correction of the gyro attitude
    (15, "accel_tau_ms", 150, 20, 2000),    # accelerometer-only low-pass
    (16, "signal", 0, 0, 2),                # 0: reps by angle (the target exercises)
                                            # 1: reps by up-down cycles of the dumbbell
                                            # 2: reps by cycles along the main axis of movement
    (17, "cycle_min_mm", 40, 5, 1000),      # signal 1: smallest up-down speed counted, mm/s
    (18, "cycle_min_mg", 50, 0, 2000),      # signal 2: smallest swing counted, peak to peak, mg
    (19, "carry_min_mm", 600, 100, 5000),   # moved up or down this much between two rests: carried
                                            # (picked up, set down), not a rep; start re-learnt
    (20, "far_vertical", 0, -1, 1),         # the far end lies below the start (-1), above it (1),
                                            # or either (0: not used)
)

_T_FAST_MS = const(60)       # fast accel average, for stillness
_T_SLOW_MS = const(400)      # slow accel average, for stillness
_T_BIAS_MS = const(2000)     # gyro bias averaging
_T_RATE_MS = const(100)      # accel-only angular rate smoothing
_T_JERK_MS = const(15)       # accel smoothing before differencing for jerk
_BIAS_GATE_SP2 = const(2304)  # never learn a bias turning faster than 12 deg/s: (12 * 4)^2, Q2
_HOLD_DEBOUNCE_MS = const(60)
_ABRUPT_QUIET_MS = const(250)  # an abrupt event ends after this long below both limits
_SEARCH_MS = const(600)     # never still this long: anchor at a turning point instead
_TURN_SP2 = const(6400)      # (20 deg/s in Q2)^2: slow enough to be a turning point
_TURN_CDPS = const(2000)     # the same in centidegrees/s
_REVERSAL_CD = const(300)    # turned back up by this much (or 1/8 of the way): a reversal
_REBASE_PCT = const(60)      # turned back this % of the way: the rep ends, start re-learnt
_QUIET_SP2 = const(576)      # (6 deg/s in Q2)^2: the gyro calls the dumbbell still
_CYC_TAU_MS = const(1000)    # signal 1: leak of the vertical-speed integrator
_CYC_ENV_MS = const(2000)    # signals 1, 2: mean and envelope averaging
_T_PCA_MS = const(100)       # signal 2: smoothing of the accelerometer before the projection
_CYC_BLOCK_MS = const(20)    # signals 1, 2: step on blocks of samples this long (a lift is < 2 Hz)
_HOLD_STEP_CD = const(100)   # accel-only holds: the angle has stopped changing if it moved less
_HOLD_BACK_MS = const(600)   # ... and a hold's start is moved back by at most this
_PAUSE_MS = const(200)       # still this long while out: a pause (a place the dumbbell stopped)
_OFF_PLANE_Q14 = const(1143)  # sin(4 deg): gravity this far out of the reps' plane left it
_SETTLE_MS = const(1000)     # longest wait for the dumbbell to settle at the end of a rep
_CARRY_MAX_MS = const(4000)   # vertical travel is judged over at most this long between rests
_CARRY_MAX_ACC_MS = const(4000)  # ... accelerometer only
_TRAVEL_MAX_MS = const(8000)  # ... and integrated for at most this long (far_vertical's test)
_FAR_STEP = const(4080)       # far_vertical: 40 mm (102 units a mm) between two rests says which way
_FAR_T2 = const(598)          # ... and without confirmation, that plus the error an acceleration
                              # error of 20 mg (~1 deg of tilt) leaves over T ms: T^2 / 598 units
_HIST_N = const(128)         # attitude history: this many entries ...
_HIST_MS = const(128)        # ... one every this long (16 s; a power of 2), for a rep seen only
                             # from its far end
_ONE_G = const(16384)        # Q14
_ONE_G10 = const(1024)       # Q10


def param_index(name):
    for i in range(len(PARAMS)):
        if PARAMS[i][1] == name:
            return i
    return -1


@micropython.native
def _mag3(x, y, z):
    # |(x, y, z)| within about 6 %: largest + 3/8 middle + 1/4 smallest, no square root.
    if x < 0:
        x = -x
    if y < 0:
        y = -y
    if z < 0:
        z = -z
    if x < y:
        x, y = y, x
    if x < z:
        x, z = z, x
    if y < z:
        y, z = z, y
    return x + ((y * 3) >> 3) + (z >> 2)


def _travel(p, v1, v0, dt, e):
    """Vertical travel between two rests from the double integral (units ~10 um): p the position
    integrated between them, v0 and v1 the velocity integrated at each (0.15 mm/s), dt ms apart,
    e the change of the accelerometer's level along gravity from the first rest to the second
    (Q10 g). Both ends are at rest, so the velocity the integral shows there is drift, taken as a
    constant error: it moved the position by (v0 + v1) T / 2. The offset along gravity turns with
    the dumbbell, from its level at one rest to its level at the other; as a ramp of E over T it
    leaves -E T^2 / 12 after that removal: added back."""
    if e > 256:
        e = 256
    elif e < -256:
        e = -256
    return p - ((v1 + v0) >> 3) * (dt >> 4) + e * ((dt >> 5) * (dt >> 5)) // 12


@micropython.native
def _clamp_rot(p):
    # At most 0.25 rad per step (Q16): beyond that the small-angle step is meaningless anyway
    # (a gap in the samples, or a saturated gyro).
    if p > 16384:
        return 16384
    if p < -16384:
        return -16384
    return p


@micropython.native
def _gain_q16(dt_ms, tau_ms):
    # Exponential smoothing weight for one step of dt: dt / (tau + dt), in Q16.
    return (dt_ms << 16) // (tau_ms + dt_ms)


class _Track:
    """Angle to one reference attitude and the rep/hold bookkeeping relative to it."""

    def __init__(self):
        # The reference unit vector r and two unit vectors u, v orthogonal to it, Q14, as
        # [rx, ry, rz, ux, uy, uz, vx, vy, vz]: angle() unpacks the list in one step, ~5 times
        # cheaper on MicroPython than nine attribute loads.
        self.ref = [0, 0, 0, 0, 0, 0, 0, 0, 0]
        self.reset(0)

    def set_ref(self, gx, gy, gz):
        n = isqrt(((gx >> 4) * (gx >> 4) + (gy >> 4) * (gy >> 4) + (gz >> 4) * (gz >> 4))) << 4
        if n == 0:
            return False
        rx = (gx << 14) // n
        ry = (gy << 14) // n
        rz = (gz << 14) // n
        # u: the axis least aligned with r, made orthogonal to r (Gram-Schmidt), normalised.
        ax, ay, az = (rx if rx > 0 else -rx), (ry if ry > 0 else -ry), (rz if rz > 0 else -rz)
        if ax <= ay and ax <= az:
            ex, ey, ez = _ONE_G, 0, 0
        elif ay <= az:
            ex, ey, ez = 0, _ONE_G, 0
        else:
            ex, ey, ez = 0, 0, _ONE_G
        d = (ex * rx + ey * ry + ez * rz) >> 14
        ux = ex - ((d * rx) >> 14)
        uy = ey - ((d * ry) >> 14)
        uz = ez - ((d * rz) >> 14)
        n = isqrt(((ux >> 4) * (ux >> 4) + (uy >> 4) * (uy >> 4) + (uz >> 4) * (uz >> 4))) << 4
        ux = (ux << 14) // n
        uy = (uy << 14) // n
        uz = (uz << 14) // n
        ref = self.ref
        ref[0] = rx
        ref[1] = ry
        ref[2] = rz
        ref[3] = ux
        ref[4] = uy
        ref[5] = uz
        ref[6] = (ry * uz - rz * uy) >> 14       # v = r x u
        ref[7] = (rz * ux - rx * uz) >> 14
        ref[8] = (rx * uy - ry * ux) >> 14
        return True

    def copy_ref(self, other):
        ref = self.ref
        src = other.ref
        for i in range(9):           # in place: the step allocates nothing
            ref[i] = src[i]

    @micropython.native
    def angle(self, gx, gy, gz):
        rx, ry, rz, ux, uy, uz, vx, vy, vz = self.ref
        c = (gx * rx + gy * ry + gz * rz) >> 14
        s1 = (gx * ux + gy * uy + gz * uz) >> 14
        s2 = (gx * vx + gy * vy + gz * vz) >> 14
        # hyp2(s1, s2), inlined (per-sample hot path)
        if s1 < 0:
            s1 = -s1
        if s2 < 0:
            s2 = -s2
        if s1 < s2:
            s1, s2 = s2, s1
        if s1 == 0:
            y = 0
        else:
            y = s1 + ((s2 * 3) >> 3)
            y = (y + (s1 * s1 + s2 * s2) // y) >> 1
        # atan2_cdeg(y, c), inlined
        ac = -c if c < 0 else c
        if y <= ac:
            if ac == 0:
                th = 0
            else:
                r = (y << 12) // ac
                i = r >> 6
                tab = _ATAN_CDEG
                lo = tab[i]
                th = lo + (((tab[i + 1] - lo) * (r & 63)) >> 6)
        else:
            r = (ac << 12) // y
            i = r >> 6
            tab = _ATAN_CDEG
            lo = tab[i]
            th = 9000 - lo - (((tab[i + 1] - lo) * (r & 63)) >> 6)
        if c < 0:
            th = 18000 - th
        return th

    def reset(self, t):
        self.out = False
        self.t_leave = t          # last time near the start position
        self.t_start = t
        self.th_max = 0
        self.th_base = 0
        self.th_lo = 0
        self.t_max = t
        self.settling = False
        self.t_cross = t
        self.set_lo = 0
        self.set_t_lo = t
        self.set_slow = False     # slowed down (stopped or turned round) while settling
        self.peak_lin2 = 0
        self.peak_speed = 0
        self.seg_on = False       # a still segment near the far end is running
        self.seg_t0 = t
        self.seg_t1 = t
        self.seg_hi = 0
        self.seg_lo = 0
        self.fast_ms = 0
        self.best_ms = 0
        self.best_t0 = t
        self.best_th = 0

    def leave(self, t, th, th_base, lin2, speed):
        # Out of the start position (left it at t_leave, at angle th_base), now at th.
        self.out = True
        self.t_start = self.t_leave
        self.th_base = th_base
        self.th_max = th
        self.th_lo = th
        self.t_max = t
        self.peak_lin2 = lin2
        self.peak_speed = speed
        self.seg_on = False
        self.best_ms = 0
        self.best_th = 0

    @micropython.native
    def _close_segment(self):
        # Keep the longest still segment at the deepest place reached so far.
        dur = ticks_diff(self.seg_t1, self.seg_t0)
        self.seg_on = False
        return dur

    @micropython.native
    def update(self, t, th, still_now, lin2, speed, start_cd, band_cd):
        """Advance the rep bookkeeping by one sample. Returns the length of a still segment that
        just ended at the far end (ms), or -1."""
        ended = -1
        if not self.out:
            # The rep starts when the dumbbell last was still (or, never still, last near home).
            if still_now or th < (start_cd >> 3):
                self.t_leave = t
            if th > start_cd:
                self.leave(t, th, th - start_cd, lin2, speed)
            return ended
        th_max = self.th_max
        if th > th_max:
            th_max = th
            self.th_max = th
            self.t_max = t
            self.th_lo = th
        elif th < self.th_lo:
            self.th_lo = th
        if lin2 > self.peak_lin2:
            self.peak_lin2 = lin2
        if speed > self.peak_speed:
            self.peak_speed = speed
        if self.seg_on:
            hi = self.seg_hi
            lo = self.seg_lo
            if th > hi:
                hi = th
                self.seg_hi = th
            if th < lo:
                lo = th
                self.seg_lo = th
            if still_now:
                self.seg_t1 = t
            # A segment ends when the movement resumes (debounced) or drifts out of the band.
            if (not still_now and self.fast_ms >= _HOLD_DEBOUNCE_MS) or hi - lo > band_cd:
                dur = self._close_segment()
                if hi > self.best_th + band_cd or (hi + band_cd >= self.best_th and dur > self.best_ms):
                    self.best_ms = dur
                    self.best_t0 = self.seg_t0
                    self.best_th = hi
                # A hold ends at the far end when the dumbbell moves back from it (below the top
                # of the still segment; sway may already have taken it below the segment's low).
                if hi + band_cd >= th_max and th < hi:
                    ended = dur
        elif still_now and th + band_cd >= th_max:
            self.seg_on = True
            self.seg_t0 = t
            self.seg_t1 = t
            self.seg_hi = th
            self.seg_lo = th
        return ended

    @micropython.native
    def begin_settle(self, t, th):
        # Back within end_pct of the start (of this track): wait for the movement to end.
        self.settling = True
        self.t_cross = t
        self.set_lo = th
        self.set_t_lo = t
        self.set_slow = False

    @micropython.native
    def settle(self, t, th):
        """One sample while settling, th the main track's angle: 1 if the movement has turned
        round (th back up _REVERSAL_CD from its lowest since, at set_t_lo), 2 if _SETTLE_MS has
        passed since the crossing, else 0."""
        if th < self.set_lo:
            self.set_lo = th
            self.set_t_lo = t
        if th - self.set_lo >= _REVERSAL_CD:
            return 1
        if ((t - self.t_cross + 0x20000000) & 0x3FFFFFFF) - 0x20000000 >= _SETTLE_MS:
            return 2
        return 0

    @micropython.native
    def hold_ms(self, band_cd):
        # The hold counts only if it was at the far end of the whole rep.
        best = self.best_ms
        if self.seg_on:
            dur = ticks_diff(self.seg_t1, self.seg_t0)
            if self.seg_hi + band_cd >= self.th_max and dur > best:
                return dur
        return best if self.best_th + band_cd >= self.th_max else 0


class _Principal:
    """Signal 2 state, kept off the detector (its attribute map is the hot path's main cost on
    MicroPython, and its layout decides that cost)."""

    def __init__(self):
        self.c = [0, 0, 0, 0, 0, 0]
        self.p = [0, 0, 0, 0, 0, 0]
        self.restart()

    def restart(self):
        self.lx = self.ly = self.lz = self.mx = self.my = self.mz = 0
        c = self.c
        for i in range(6):
            c[i] = 0
        self.vx = self.vy = self.vz = 9459              # 1/sqrt(3) in Q14: any start works
        self.n = -1
        self.pol = 0                                    # signals 1, 2: which side is "out"
        self.age = 0                                    # ms of data seen (warm-up)
        self.first = True
        self.xhi = 0                                    # signal 2: peak of the current out half
        # Signals 1, 2 step once a block of samples ~20 ms long (every sample at 50 Hz, every
        # 4th at 200 Hz): samples into this block, time of the last block's step.
        self.bn = 0
        self.bt = -1                                    # (-1: no block yet)
        self.lin2 = 0                                   # peaks since the last half-cycle
        self.speed = 0

    @micropython.native
    def principal(self, ax, ay, az, k, kl):
        # The accelerometer (lightly smoothed, slow mean removed, Q8 g) projected on the axis along
        # which it varies most (covariance over the last seconds, one power-iteration step every
        # 8 samples): whatever the lift, the repetition is the dominant oscillation there.
        # Every intermediate stays below 2^30 (a small int on a 32-bit board) for accelerations
        # up to the detector's 8 g and gains k < 2^15.
        if self.n < 0:                                # first sample: start the averages here
            self.n = 0
            self.lx = ax >> 6
            self.ly = ay >> 6
            self.lz = az >> 6
            self.mx = self.lx << 8
            self.my = self.ly << 8
            self.mz = self.lz << 8
        lx = self.lx + (((ax >> 6) - self.lx) * kl >> 16)        # Q8 g
        ly = self.ly + (((ay >> 6) - self.ly) * kl >> 16)
        lz = self.lz + (((az >> 6) - self.lz) * kl >> 16)
        self.lx = lx
        self.ly = ly
        self.lz = lz
        # The slow mean is kept in Q16: in Q8 its small steps would round to nothing.
        dx = lx - (self.mx >> 8)
        dy = ly - (self.my >> 8)
        dz = lz - (self.mz >> 8)
        self.mx += (dx * k) >> 8
        self.my += (dy * k) >> 8
        self.mz += (dz * k) >> 8
        # Covariance in (Q8 g)^2 << 3, of deviations clipped to 2 g; each update c += t * k >> 16
        # is done as (t >> 8) * k >> 8 plus (t & 255) * k >> 16, so that no product reaches 2^30.
        cx = 511 if dx > 511 else (-511 if dx < -511 else dx)
        cy = 511 if dy > 511 else (-511 if dy < -511 else dy)
        cz = 511 if dz > 511 else (-511 if dz < -511 else dz)
        c = self.c
        p = self.p                                    # this step's products, preallocated
        p[0] = cx * cx
        p[1] = cy * cy
        p[2] = cz * cz
        p[3] = cx * cy
        p[4] = cx * cz
        p[5] = cy * cz
        for i in range(6):
            t = (p[i] << 3) - c[i]
            c[i] += ((t >> 8) * k >> 8) + (((t & 255) * k) >> 16)
        self.n += 1
        if self.n >= 8:
            self.n = 0
            # Scale the covariance below 2^14 for the power-iteration step (its size is arbitrary).
            cm = 0
            for i in range(6):
                v = c[i] if c[i] > 0 else -c[i]
                if v > cm:
                    cm = v
            sh = 0
            while (cm >> sh) >= 16384:
                sh += 1
            c0 = c[0] >> sh
            c1 = c[1] >> sh
            c2 = c[2] >> sh
            c3 = c[3] >> sh
            c4 = c[4] >> sh
            c5 = c[5] >> sh
            vx = self.vx
            vy = self.vy
            vz = self.vz
            wx = (c0 * vx + c3 * vy + c4 * vz) >> 14
            wy = (c3 * vx + c1 * vy + c5 * vz) >> 14
            wz = (c4 * vx + c5 * vy + c2 * vz) >> 14
            n = isqrt(((wx >> 4) * (wx >> 4) + (wy >> 4) * (wy >> 4) + (wz >> 4) * (wz >> 4))) << 4
            if n > 0:
                self.vx = (wx << 14) // n
                self.vy = (wy << 14) // n
                self.vz = (wz << 14) // n
        return (dx * self.vx + dy * self.vy + dz * self.vz) >> 10      # 1 g = 4096


class _State:
    """The detector's per-sample state, kept off the detector: on MicroPython, when a class has a
    property (Detector has a few) every attribute store on its instances first looks the name up
    on the class (property? __setattr__?): ~50 ns a store there against ~6 ns on this plain one."""

    def __init__(self):
        self.bx = self.by = self.bz = 0                 # gyro bias, Q12 deg/s (kept by reset)
        self.ox = self.oy = self.oz = 0                 # accelerometer offset, Q14 g (kept too)
        self.reset()

    def reset(self):
        self.n = 0
        self.t = 0
        self.gx = self.gy = self.gz = 0                 # gravity estimate, Q14
        self.fx = self.fy = self.fz = 0                 # fast accel average (stillness)
        self.sx = self.sy = self.sz = 0                 # slow accel average
        self.jx = self.jy = self.jz = 0                 # accel smoothed for jerk
        self.still_for = 0
        self.anchored = False
        self.b_armed = False
        self.b_th = 0                                   # main track's angle where b was armed
        self.kx = self.ky = self.kz = 0                 # gravity at the current rep's far end
        self.nx = self.ny = self.nz = 0                 # normal of the last rep's plane, Q14 (0: none)
        self.rx = self.ry = self.rz = 0                 # accel-only gravity rate, Q14/1024 ms
        self.px = self.py = self.pz = 0                 # previous gravity estimate
        self.search_ms = 0
        self.peak_speed = 0
        self.lox = self.loy = self.loz = 0              # gravity at the lowest point since the peak
        self.speed = 0
        self.nf2 = 0                                    # accel-only speed noise power, (0.04 deg/s)^2
        self.hr = 0                                     # accel-only: angle at the last 1 deg step
        self.ht = 0                                     # ... and its time
        self.th = 0                                     # angle to the start position, cdeg
        self.phase = PHASE_SEARCH
        self.ab_on = False
        self.ab_quiet = 0
        self.ab_peak2 = 0
        self.ab_t = 0
        self.ab_jerk = 0
        # Vertical travel since the last rest (see step()): velocity (0.15 mm/s), position
        # (~10 um: 102 a mm) and time integrated (ms; -1: too long without a rest to tell).
        self.cv = 0
        self.cp = 0
        self.ct = 0
        self.cr = 0                                     # acceleration along gravity at rest, Q10 g
        self.ce0 = 0                                    # ... at the rest the integral started from


class _Far:
    """far_vertical's bookkeeping and the attitude history: used at rests and at rare moments,
    kept off Detector and _State. (On MicroPython an instance's attributes are an open-addressed
    table that grows only when full, and each `self.method()` call first misses in it: Detector
    at 70 of 71 slots cost 0.15 us a sample; see docs/developer-guide.md.)"""

    def __init__(self):
        self.hg = array("h", bytes(6 * _HIST_N))       # gravity estimate, Q14, 3 an entry
        self.ht = array("i", bytes(4 * _HIST_N))       # ... and its time (ticks, below 2^30)
        self.reset()

    def reset(self):
        # The first rest after leaving the second track's place (its gravity), and whether the
        # dumbbell got there by moving towards the start (then the place it left was a far end,
        # not a start position).
        self.bside = 0                                  # 0: not judged yet, 1: no, 2: yes
        self.bgx = self.bgy = self.bgz = 0
        self.bqp = self.bqv = 0                         # the integral when it left that place
        self.bqr = 0                                    # ... and the rest level cr there
        self.bqt = -1                                   # (its time; -1: unknown)
        self.bt0 = 0                                    # when the dumbbell stopped at that place
        self.bte = 0                                    # ... at the first rest after it
        self.b_left = 0                                 # ... and last still there
        self.home = 0                                   # the last rest was at the start position,
                                                        # where a rep ended (1) or a carry (2)
        self.ht0 = 0                                    # ... from this time
        self.hrc = 0                                    # ... (rep_count then: a rep ended there)
        # Attitude history: next slot, entries filled (the arrays are kept by reset).
        self.hi = 0
        self.hn = 0


class Detector:
    """Streaming rep / hold / abrupt-movement detector. See the module docstring."""

    def __init__(self, accel_lsb_per_g=4096, gyro_mdps_per_lsb=30.5, has_gyro=True):
        if accel_lsb_per_g < 1000 or accel_lsb_per_g > 20000:
            raise ValueError("accel_lsb_per_g out of range: %r" % (accel_lsb_per_g,))
        if gyro_mdps_per_lsb <= 0 or gyro_mdps_per_lsb > 200:
            raise ValueError("gyro_mdps_per_lsb out of range: %r" % (gyro_mdps_per_lsb,))
        # raw -> Q14 g and raw -> Q6 deg/s, as integer multiply-and-shift
        self._amul = (_ONE_G << 10) // int(accel_lsb_per_g)
        self._gmul = int(gyro_mdps_per_lsb * 64 * 4096 / 1000 + 0.5)
        self.has_gyro = bool(has_gyro)
        self.values = [p[2] for p in PARAMS]
        self._a = _Track()          # relative to the start position
        self._b = _Track()          # relative to the last place held still while out
        self._s = _State()
        self._f = _Far()
        self.calibrated = False
        self.rep_count = 0
        self.rep_t_start_ms = self.rep_t_far_ms = self.rep_t_return_ms = self.rep_t_end_ms = 0
        self.rep_rom_ddeg = self.rep_hold_ms = self.rep_peak_speed_dps = self.rep_peak_accel_mg = 0
        self.hold_t_start_ms = self.hold_ms = self.hold_angle_ddeg = 0
        self.abrupt_t_ms = self.abrupt_peak_mg = self.abrupt_jerk_gps = 0
        self.abrupt_count = 0
        self.reset()

    # -- parameters --------------------------------------------------------------------------
    def set_param(self, name, value):
        i = param_index(name)
        if i < 0:
            raise ValueError("unknown detector parameter %r" % (name,))
        p = PARAMS[i]
        if not isinstance(value, int) or value < p[3] or value > p[4]:
            raise ValueError("%s=%r outside %d..%d" % (name, value, p[3], p[4]))
        self.values[i] = value
        self._derive()

    def set_param_id(self, pid, value):
        """For the protocol: False for an unknown id or a value out of range."""
        for i in range(len(PARAMS)):
            p = PARAMS[i]
            if p[0] == pid:
                if value < p[3] or value > p[4]:
                    return False
                self.values[i] = value
                self._derive()
                return True
        return False

    def get_param(self, name):
        i = param_index(name)
        if i < 0:
            raise ValueError("unknown detector parameter %r" % (name,))
        return self.values[i]

    def _derive(self):
        v = self.values
        self._rom_min_cd = v[0] * 100
        self._adapt_pct = v[1]
        self._rep_min_ms = v[2]
        self._rep_max_ms = v[3]
        self._start_cd = v[4] * 100
        self._end_pct = v[5]
        hs = v[6] * 4                                   # Q2 deg/s
        self._hold_sp2 = hs * hs
        hr = v[6] * 25                                  # accel-only speed units (0.04 deg/s)
        self._hold_rate2 = hr * hr
        self._band_cd = v[7] * 100
        self._hold_min_ms = v[8]
        a = (v[9] * _ONE_G10) // 1000                   # Q10 g
        self._abrupt_lin2 = a * a
        self._abrupt_jerk = v[10]
        self._still_ms = v[11]
        self._still_q14 = (v[12] * _ONE_G) // 1000
        self._signal = v[15]
        self._cyc_min = v[16] * 1000                    # um
        self._cyc_pp = (v[17] * 4096) // 1000           # signal 2 units (1 g = 4096)
        self._carry_p = v[18] * 102                     # vertical travel units (9.8 um)
        self._far_v = v[19]
        if hasattr(self, "_k_dt"):
            self._set_gains(self._k_dt)      # the gyro/accel time constants may have changed
            self._set_rom_thr()

    # -- state -------------------------------------------------------------------------------
    def _set_gains(self, dt):
        self._k_dt = dt
        self._k_fast = _gain_q16(dt, _T_FAST_MS)
        self._k_slow = _gain_q16(dt, _T_SLOW_MS)
        self._k_bias = _gain_q16(dt, _T_BIAS_MS)
        self._k_rate = _gain_q16(dt, _T_RATE_MS) >> 2   # Q14
        self._k_jerk = _gain_q16(dt, _T_JERK_MS)
        self._k_gyro = _gain_q16(dt, self.values[13])      # gyro_tau_ms
        self._k_acc = _gain_q16(dt, self.values[14])       # accel_tau_ms
        # Signals 1, 2 step once a block of n samples, ~_CYC_BLOCK_MS long.
        n = (_CYC_BLOCK_MS + (dt >> 1)) // dt
        self._cyc_n = n if n > 1 else 1
        self._k_cyc = _gain_q16(dt * self._cyc_n, _CYC_ENV_MS)
        self._k_pca = _gain_q16(dt * self._cyc_n, _T_PCA_MS)

    def reset(self):
        """Forget everything learnt except the parameters and the gyro bias."""
        self._derive()
        self._set_gains(10)
        self._s.reset()
        self._f.reset()
        self._cv = self._cenv = 0                        # signal 1: vertical movement
        self._pca = _Principal()                         # signal 2
        self._cside = 0
        self._cam = 0
        self._c_t0 = self._c_t_far = 0
        self._rom_last = 0                               # last two reps' range, cdeg
        self._rom_prev = 0
        self._set_rom_thr()
        self._a.reset(0)
        self._b.reset(0)

    def reset_reps(self):
        """New set: rep numbers start again at 1; learnt attitude and bias are kept."""
        self.rep_count = 0
        self.abrupt_count = 0

    def recalibrate(self):
        """Forget the start position and gyro bias (the user will hold still)."""
        s = self._s
        s.bx = s.by = s.bz = 0
        self.calibrated = False
        self.reset()

    # -- the per-sample step -------------------------------------------------------------------
    @micropython.native
    def step(self, t, ax, ay, az, gx, gy, gz):
        """Feed one raw sample taken at device tick `t` (ms). Returns EV_* flags."""
        flags = 0
        s = self._s
        am = self._amul
        ax = (ax * am) >> 10
        ay = (ay * am) >> 10
        az = (az * am) >> 10
        # At most 8 g an axis (Q14): with that bound every product below stays under 2^30, a
        # small int on a 32-bit board (beyond it an int is allocated on the heap). Only a sensor
        # set to +-16 g can read more, and only in an impact.
        if ax > 131071 or ax < -131071 or ay > 131071 or ay < -131071 or az > 131071 or az < -131071:
            ax = 131071 if ax > 131071 else (-131071 if ax < -131071 else ax)
            ay = 131071 if ay > 131071 else (-131071 if ay < -131071 else ay)
            az = 131071 if az > 131071 else (-131071 if az < -131071 else az)
        # The accelerometer's zero-g offset, as learnt at rests (below), taken off every reading.
        ax -= s.ox
        ay -= s.oy
        az -= s.oz
        if s.n == 0:
            s.n = 1
            s.t = t
            s.fx = s.sx = s.jx = ax
            s.fy = s.sy = s.jy = ay
            s.fz = s.sz = s.jz = az
            # Gravity starts along the first reading, 1 g long (the first reading may be anything).
            n = isqrt((ax >> 4) * (ax >> 4) + (ay >> 4) * (ay >> 4) + (az >> 4) * (az >> 4))
            if n:
                s.gx = s.px = (ax << 10) // n
                s.gy = s.py = (ay << 10) // n
                s.gz = s.pz = (az << 10) // n
            else:
                s.gx = s.gy = s.px = s.py = 0
                s.gz = s.pz = _ONE_G
            self._a.reset(t)
            self._b.reset(t)
            return 0
        # ticks_diff, inlined: this is the hottest line of the firmware
        dt = ((t - s.t + 0x20000000) & 0x3FFFFFFF) - 0x20000000
        s.t = t
        if dt < 1:
            dt = 1
        elif dt > 200:
            dt = 200
        kdt = self._k_dt
        # Smoothing gains depend on dt only; timestamp jitter of +-25 % does not warrant new ones.
        if dt > kdt + (kdt >> 2) or dt < kdt - (kdt >> 2):
            self._set_gains(dt)

        has_gyro = self.has_gyro
        calibrated = self.calibrated
        acc_still = not (has_gyro and calibrated)
        if not acc_still:
            # Once the gyro bias is known the gyro alone says "still" (below 6 deg/s, below);
            # the accelerometer averages are only needed to bootstrap the bias.
            still = False
        else:
            # Stillness: a fast and a slow average of the accelerometer agree. (State is copied to
            # locals and back: attribute access is the dominant cost on MicroPython.)
            k = self._k_fast
            fx = s.fx
            fy = s.fy
            fz = s.fz
            fx += (((ax - fx) >> 4) * k) >> 12             # (< 2^18 >> 4) * (< 2^16) < 2^30
            fy += (((ay - fy) >> 4) * k) >> 12
            fz += (((az - fz) >> 4) * k) >> 12
            s.fx = fx
            s.fy = fy
            s.fz = fz
            k = self._k_slow
            sx = s.sx
            sy = s.sy
            sz = s.sz
            sx += (((ax - sx) >> 4) * k) >> 12
            sy += (((ay - sy) >> 4) * k) >> 12
            sz += (((az - sz) >> 4) * k) >> 12
            s.sx = sx
            s.sy = sy
            s.sz = sz
            # Largest axis difference (cheaper than a length, and as good for "is it still")
            dev = fx - sx
            if dev < 0:
                dev = -dev
            d = fy - sy
            if d < 0:
                d = -d
            if d > dev:
                dev = d
            d = fz - sz
            if d < 0:
                d = -d
            if d > dev:
                dev = d
            still = dev < self._still_q14

        # Accelerometer magnitude, Q10: readings far from 1 g are not trusted for attitude.
        a10x = ax >> 4
        a10y = ay >> 4
        a10z = az >> 4
        amag2 = a10x * a10x + a10y * a10y + a10z * a10z
        # Attitude correction weight: full while |a| is within ~10 % of 1 g, a quarter up to ~30 %,
        # none beyond (that is linear acceleration, not gravity).
        d = amag2 - 1048576
        if d < 0:
            d = -d
        trust = 2 if d < 200000 else (1 if d < 650000 else 0)

        g0 = s.gx
        g1 = s.gy
        g2 = s.gz
        sp2 = 0
        still_for = s.still_for
        if has_gyro:
            gm = self._gmul
            rx = (gx * gm) >> 12                          # Q6 deg/s
            ry = (gy * gm) >> 12
            rz = (gz * gm) >> 12
            bx = s.bx
            by = s.by
            bz = s.bz
            wx = rx - (bx >> 6)                           # bias removed
            wy = ry - (by >> 6)
            wz = rz - (bz >> 6)
            qx = wx >> 4
            qy = wy >> 4
            qz = wz >> 4
            sp2 = qx * qx + qy * qy + qz * qz             # (Q2 deg/s)^2
            # The gyro says still sooner than the accelerometer averages can (they lag ~0.3 s).
            if sp2 < _QUIET_SP2 and trust == 2:
                still = True
            if still and sp2 < _BIAS_GATE_SP2:
                # Learn the bias after 0.3 s of stillness while bootstrapping, then only from long
                # rests (2 s): short still spells within a set are often slow turns, not rest.
                if still_for >= (2000 if calibrated else 300):
                    k = self._k_bias
                    s.bx = bx + (((rx << 6) - bx) * k >> 16)
                    s.by = by + (((ry << 6) - by) * k >> 16)
                    s.bz = bz + (((rz << 6) - bz) * k >> 16)
                    if not calibrated and still_for >= 1500:
                        self.calibrated = True
                        flags |= EV_CALIBRATED
            else:
                still = False
            # Rotate the gravity estimate by the gyro (small angle, Q16 radians) ...
            px = (((wx * dt) >> 6) * 1171) >> 10
            py = (((wy * dt) >> 6) * 1171) >> 10
            pz = (((wz * dt) >> 6) * 1171) >> 10
            if px > 16384 or px < -16384 or py > 16384 or py < -16384 or pz > 16384 or pz < -16384:
                px = _clamp_rot(px)
                py = _clamp_rot(py)
                pz = _clamp_rot(pz)
            g0 += (g1 * pz - g2 * py) >> 16
            g1 += (g2 * px - g0 * pz) >> 16
            g2 += (g0 * py - g1 * px) >> 16
            # Keep it 1 g long: small-angle steps stretch it, and while the accelerometer is not
            # trusted nothing else would (one Newton step of x * (3 - |x|^2) / 2).
            m2 = (g0 >> 4) * (g0 >> 4) + (g1 >> 4) * (g1 >> 4) + (g2 >> 4) * (g2 >> 4)
            if 786432 < m2 < 1310720:           # within ~12 % of 1 g: the cheap step converges
                f = ((3 << 20) - m2) >> 7
            else:                               # far off (a huge rotation in one step): exact
                f = (1 << 24) // (isqrt(m2) + 1)
            g0 = (g0 * f) >> 14
            g1 = (g1 * f) >> 14
            g2 = (g2 * f) >> 14
            # ... and pull it towards the accelerometer when that can be trusted.
            if trust:
                k = self._k_gyro if trust == 2 else self._k_gyro >> 2
                g0 += (((ax - g0) >> 2) * k) >> 14
                g1 += (((ay - g1) >> 2) * k) >> 14
                g2 += (((az - g2) >> 2) * k) >> 14
        elif trust and not s.ab_on:
            # (During an abrupt movement the reading is the knock, not gravity: without a gyro
            # the attitude holds still until it is over, or a knock in a hold reads as a turn.)
            k = self._k_acc if trust == 2 else self._k_acc >> 2
            g0 += (((ax - g0) >> 2) * k) >> 14
            g1 += (((ay - g1) >> 2) * k) >> 14
            g2 += (((az - g2) >> 2) * k) >> 14
        s.gx = g0
        s.gy = g1
        s.gz = g2

        if still:
            still_for += dt
        else:
            still_for = 0
        s.still_for = still_for                # `still` is still_for > 0: one store less

        # Linear acceleration (Q10) and jerk (g/s, from a lightly smoothed accelerometer).
        lx = a10x - (g0 >> 4)
        ly = a10y - (g1 >> 4)
        lz = a10z - (g2 >> 4)
        if has_gyro:
            lin2 = lx * lx + ly * ly + lz * lz
        else:
            # Without a gyro the gravity estimate lags every turn, and |a - g| would call a brisk
            # turn abrupt; the change of |a| from 1 g does not depend on the attitude at all.
            d = (amag2 - 1048576) >> 11                 # ~ (|a| - 1 g), Q10
            if d > 16383:                               # (16 g: keeps d * d below 2^30)
                d = 16383
            lin2 = d * d
        # Vertical travel between two rests: the acceleration along gravity (with a gyro a.g - 1 g;
        # without, (|a|^2 - 1) / 2 ~ |a| - 1 g, since the accelerometer-only g lags every turn),
        # integrated twice from the end of one rest (still for still_ms) to the start of the next.
        # Both ends are at rest, so the velocity there is 0 and what the integral shows at the end
        # is drift: taken as a constant acceleration error (sensor offset, 1 g scale), which
        # moves the position by v * T / 2. Judged in step's anchored part below.
        if has_gyro:
            d = ((a10x * g0 + a10y * g1 + a10z * g2) >> 14) - 1024
        else:
            d = (amag2 - 1048576) >> 11
            if -4096 < d < 4096:
                d -= (d * d) >> 11                      # |a| - 1 = x - x^2 / 2, x = (|a|^2 - 1) / 2
        if d > 4096:                                    # 4 g: keeps v * dt below 2^30
            d = 4096
        elif d < -4096:
            d = -4096
        if still_for:
            # At rest this reads the accelerometer's offset along gravity (tens of mg on a real
            # part), which depends on how the dumbbell lies: its level at each rest, ~130 ms mean.
            e = s.cr
            e += ((d - e) * (dt if dt < 64 else 64)) >> 7
            s.cr = e
            if still_for >= 1000 and still_for - dt < 1000:
                # Once a rest, half of what is left of the offset along this rest's gravity is
                # taken off the readings from now on: rests in several orientations (floor,
                # start, far end) learn the offset in the directions the dumbbell is used in.
                if e > 256:
                    e = 256
                elif e < -256:
                    e = -256
                e <<= 3                                 # half the level, Q10 -> Q14
                ox = s.ox + ((e * g0) >> 14)
                oy = s.oy + ((e * g1) >> 14)
                oz = s.oz + ((e * g2) >> 14)
                s.ox = ox if -3277 < ox < 3277 else (3277 if ox > 0 else -3277)    # 0.2 g at most
                s.oy = oy if -3277 < oy < 3277 else (3277 if oy > 0 else -3277)
                s.oz = oz if -3277 < oz < 3277 else (3277 if oz > 0 else -3277)
        carried = False
        still_ms = self._still_ms
        integrate = still_for < still_ms
        if integrate:
            pass
        elif still_for - dt < still_ms:
            # Just came to rest: how far did the dumbbell move up or down since the last rest?
            ct = s.ct
            f = self._f
            far = False
            if ct > 0:
                dz = _travel(s.cp, s.cv, 0, ct, s.cr - s.ce0)
                if ct <= (_CARRY_MAX_MS if has_gyro else _CARRY_MAX_ACC_MS):
                    carried = dz >= self._carry_p or dz <= -self._carry_p
                if s.b_armed and not f.bside and self._b.out and self._far_v and f.bqt >= 0:
                    # The first rest since leaving the second track's place: did the dumbbell
                    # move towards the start (by _FAR_STEP or more) from there to here? Both
                    # ends at rest: the velocity the integral shows at each is drift, removed.
                    q = _travel(s.cp - f.bqp, s.cv, f.bqv, ct - f.bqt, s.cr - f.bqr)
                    f.bside = 2 if (q if self._far_v < 0 else -q) >= _FAR_STEP else 1
                    f.bgx = g0
                    f.bgy = g1
                    f.bgz = g2
                    f.bte = t - still_for
                    f.b_left = t
                if (f.home and self._far_v and self._a.out and has_gyro
                        and (dz if self._far_v < 0 else -dz) >= _FAR_STEP + ct * ct // _FAR_T2
                        and self._a.th_max >= self._rom_thr):
                    # From the start position, where a rep or a carry ended, to this rest a
                    # rep's range away, the dumbbell went towards where the start should be, by
                    # more than the estimate's error over the stretch: the "start" was a far end
                    # (the first rest after a pick-up flowing into a rep), and here is the start
                    # position, as after a carry. (Not from a start learnt at any rest: the
                    # travel from the floor may hold an unjudged lift.)
                    if f.home == 2:
                        # A carry was judged there: the rep begun during it was dropped with it,
                        # and is reported from its far end.
                        self._a.set_ref(g0, g1, g2)
                        flags |= self._far_rep(self._a, f.ht0, t - still_for)
                    far = True
            # Is this rest at the start position, where a carry (2) or a rep (1) ended?
            f.home = 0 if far else 2 if carried else (
                1 if not self._a.out and self.rep_count != f.hrc else 0)
            carried = carried or far
            if f.home:
                f.ht0 = t - still_for
            f.hrc = self.rep_count
            s.cv = 0
            s.cp = 0
            s.ct = 0
        elif acc_still:
            # The accelerometer averages notice a movement only once it is under way: while
            # resting, the integral restarts every second instead of every sample, so that it
            # holds the movement's onset too.
            if s.ct >= 1024:
                s.cv = 0
                s.cp = 0
                s.ct = 0
            else:
                integrate = True
        if integrate:
            ct = s.ct
            if ct >= 0:
                if ct > _TRAVEL_MAX_MS:
                    s.ct = -1
                else:
                    if ct == 0:
                        s.ce0 = s.cr                        # the offset's level at the start
                        if s.b_armed and not self._b.out:
                            f = self._f
                            f.bqp = f.bqv = f.bqt = 0       # (restarted at the second track's place)
                            f.bqr = s.cr
                    cv = s.cv + ((d * dt) >> 4)
                    s.cv = cv
                    s.cp += (cv * dt) >> 6
                    s.ct = ct + dt
        k = self._k_jerk
        jx = s.jx
        jy = s.jy
        jz = s.jz
        dx = (((ax - jx) >> 4) * k) >> 12
        dy = (((ay - jy) >> 4) * k) >> 12
        dz = (((az - jz) >> 4) * k) >> 12
        s.jx = jx + dx
        s.jy = jy + dy
        s.jz = jz + dz
        # Jerk (g/s) from the largest axis change plus half the others: within ~15 % of the
        # length, and no function call on the hot path.
        if dx < 0:
            dx = -dx
        if dy < 0:
            dy = -dy
        if dz < 0:
            dz = -dz
        jerk = ((dx + dy + dz + (dx if dx > dy and dx > dz else (dy if dy > dz else dz))) >> 1) * 1000 // (dt << 14)
        if s.ab_on or lin2 > self._abrupt_lin2 or jerk > self._abrupt_jerk:
            flags |= self._abrupt(t, lin2, jerk)

        if has_gyro:
            speed = sp2
            hold_still = sp2 < self._hold_sp2
        else:
            # Angular speed from how fast the gravity direction moves: the rate vector is
            # smoothed before taking its length, so sensor noise averages out instead of adding up.
            k = self._k_rate
            rx = s.rx
            ry = s.ry
            rz = s.rz
            # Rate of change of g (Q14 / 1024 ms) capped at 2^17 (~450 deg/s, faster than any
            # lift) so that the smoothing below stays under 2^30 on a 32-bit board.
            vx = ((g0 - s.px) << 10) // dt
            vy = ((g1 - s.py) << 10) // dt
            vz = ((g2 - s.pz) << 10) // dt
            if vx > 131072 or vx < -131072 or vy > 131072 or vy < -131072 or vz > 131072 or vz < -131072:
                vx = 131072 if vx > 131072 else (-131072 if vx < -131072 else vx)
                vy = 131072 if vy > 131072 else (-131072 if vy < -131072 else vy)
                vz = 131072 if vz > 131072 else (-131072 if vz < -131072 else vz)
            rx += (((vx - rx) >> 3) * k) >> 11
            ry += (((vy - ry) >> 3) * k) >> 11
            rz += (((vz - rz) >> 3) * k) >> 11
            s.rx = rx
            s.ry = ry
            s.rz = rz
            s.px = g0
            s.py = g1
            s.pz = g2
            speed = (_mag3(rx, ry, rz) * 358) >> 10    # cdeg/s
            # This estimate never reads 0: accelerometer noise comes through as a few deg/s of
            # speed, which adds in quadrature to the true one and would cut every hold short.
            # Its power is learnt while the accelerometer is still and taken off before comparing.
            # Squares in (0.04 deg/s)^2, kept below 2^30 so they stay small ints on a 32-bit
            # board: nothing above 14 deg/s is noise, nothing above 640 deg/s is held still.
            sp = speed >> 2
            if sp < 16000:
                sq = sp * sp
                if still and sq < 131072:
                    s.nf2 += ((sq - s.nf2) * self._k_bias) >> 16
                hold_still = sq < self._hold_rate2 + s.nf2
            else:
                hold_still = False
        # A turning point of the movement: slow in absolute terms, or against the recent peak
        # speed (fast continuous reps never get slow in absolute terms).
        pk = s.peak_speed
        pk -= (pk >> 11) * dt
        if speed > pk:
            pk = speed
        s.peak_speed = pk
        if has_gyro:
            turning = sp2 < _TURN_SP2 or sp2 < (pk >> 4)
        else:
            turning = speed < _TURN_CDPS or speed < (pk >> 2)

        if self._signal:
            cy = self._pca
            if carried:
                # Picked up or set down: not a rep, and the averages (mean position, main axis,
                # envelope) were learnt before it: start them again here.
                cy.restart()
                self._cenv = self._cam = self._cv = 0
                self._cside = 0
            if lin2 > cy.lin2:
                cy.lin2 = lin2
            if speed > cy.speed:
                cy.speed = speed
            n = cy.bn + 1
            if n < self._cyc_n:
                cy.bn = n
            else:
                cy.bn = 0
                if n > 1:
                    # One sample in n, of the accelerometer smoothed for the jerk (15 ms, enough
                    # against aliasing at ~50 Hz), over the block's time.
                    bt = cy.bt
                    if bt >= 0:
                        bt = ((t - bt + 0x20000000) & 0x3FFFFFFF) - 0x20000000
                        if bt > 200:                    # (as a sample's: keeps signal 1's
                            bt = 200                    # integration below 2^30)
                    else:
                        bt = dt * n
                    cy.bt = t
                    flags |= self._cycle(t, s.jx, s.jy, s.jz, bt)
                else:
                    flags |= self._cycle(t, ax, ay, az, dt)
        if not s.anchored:
            s.search_ms += dt
            # Held still: that is the start position. Never still (continuous reps): take a
            # turning point of the movement instead, after a while.
            if still_for >= still_ms or (s.search_ms >= _SEARCH_MS and turning):
                self._anchor(t)
                flags |= EV_ANCHOR
            return flags

        a = self._a
        if carried:
            # Picked up or set down (a rep's far end is a few tenths of a metre from its start, a
            # pick-up about a metre), or the start position was a far end (above): whatever was
            # under way was not a rep, and the start position is here.
            a.set_ref(g0, g1, g2)
            a.reset(t)
            s.b_armed = False
            s.phase = PHASE_REST
            s.th = 0
            return flags | EV_ANCHOR
        th = a.angle(g0, g1, g2)
        s.th = th
        s.speed = speed
        was_out = a.out
        start_cd = self._start_cd
        if not was_out and th <= start_cd:
            # Resting near the start position: the cheap path, most samples of a session.
            if hold_still or th < (start_cd >> 3):
                a.t_leave = t
            s.phase = PHASE_REST
            # Follow slow changes of the start posture while resting still near it.
            if still_for >= still_ms:
                if still_for - dt < still_ms or still_for % 1000 < dt:
                    a.set_ref(g0, g1, g2)
            return flags
        if hold_still:
            a.fast_ms = 0
        elif has_gyro or not s.ab_on:
            # (Without a gyro a knock reads as a turn: during an abrupt movement the time moving
            # does not count towards ending a hold. If the dumbbell is still after it, the hold
            # goes on; if it moves, the hold ends at its last still sample.)
            a.fast_ms += dt
        held = a.update(t, th, hold_still, lin2, speed, start_cd, self._band_cd)
        if not has_gyro:
            # The speed estimate lags the movement, most when it decays from a fast approach:
            # a still segment starting now started when the angle (which lags much less) stopped
            # changing, if that was recent: the last time it moved _HOLD_STEP_CD.
            d = th - s.hr
            if d > _HOLD_STEP_CD or d < -_HOLD_STEP_CD:
                s.hr = th
                s.ht = t
            elif a.seg_t0 == t and a.seg_on and ticks_diff(t, s.ht) <= _HOLD_BACK_MS:
                a.seg_t0 = s.ht
        if held >= self._hold_min_ms:
            self.hold_t_start_ms = a.seg_t0
            self.hold_ms = held
            self.hold_angle_ddeg = a.seg_hi // 10
            flags |= EV_HOLD
        if a.out:
            if not was_out:
                s.b_armed = False
            # The attitude each time the clock passes a multiple of _HIST_MS while out, but not
            # once the dumbbell has left the second track's place (the history up to that place
            # is kept): where a rep began, if that place turns out to be a far end (_far_rep).
            if (t & (_HIST_MS - 1)) < dt:
                if not (self._signal or s.b_armed and self._b.out):
                    f = self._f
                    i = f.hi
                    hg = f.hg
                    hg[3 * i] = g0
                    hg[3 * i + 1] = g1
                    hg[3 * i + 2] = g2
                    f.ht[i] = t
                    f.hi = i + 1 if i + 1 < _HIST_N else 0
                    if f.hn < _HIST_N:
                        f.hn += 1
            flags |= self._while_out(t, th, hold_still, lin2, speed, turning)
        else:
            s.phase = PHASE_REST
        return flags

    @property
    def speed_dps(self):
        """Current angular speed, deg/s (computed on demand: a square root per sample is waste)."""
        if self.has_gyro:
            return isqrt(self._s.speed) >> 2
        return self._s.speed // 100

    # The live values below are read from the per-sample state (see _State).
    @property
    def phase(self):
        """Live phase, PHASE_*."""
        return self._s.phase

    @property
    def angle_ddeg(self):
        """Angle to the start position, 0.1 deg (the last one while there is none)."""
        return self._s.th // 10

    @property
    def still(self):
        """Still at the last sample."""
        return self._s.still_for > 0

    @micropython.native
    def _while_out(self, t, th, hold_still, lin2, speed, turning):
        a = self._a
        s = self._s
        flags = 0
        rom_thr = self._rom_thr
        # (Loaded once: a's peak and these settings do not change before a.reset() below.)
        th_max = a.th_max
        end_pct = self._end_pct
        still_for = s.still_for
        still_ms = self._still_ms
        if a.seg_on and th_max >= rom_thr:
            s.phase = PHASE_HOLD
        elif th_max >= rom_thr and th * 100 < th_max * (100 - end_pct):
            s.phase = PHASE_RETURN
        else:
            s.phase = PHASE_OUT
        # Secondary track: the last place the dumbbell was held still while out.
        b = self._b
        # (The cycle counters count reps themselves: for them this track would only move the
        # start that range is measured from, at a cost.)
        if (still_for >= _PAUSE_MS and not self._signal
                and (not s.b_armed or (b.out and b.th_max < rom_thr))):
            if not s.b_armed or still_for - self._k_dt < _PAUSE_MS:
                b.set_ref(s.gx, s.gy, s.gz)
                b.reset(t)
                s.b_armed = True
                f = self._f
                f.bt0 = t - still_for
                f.bside = 0
                f.bqp = s.cp
                f.bqv = s.cv
                f.bqt = s.ct
                f.bqr = s.cr
                s.b_th = th
        if s.b_armed:
            thb = b.angle(s.gx, s.gy, s.gz)
            if hold_still:
                b.fast_ms = 0
            else:
                b.fast_ms += self._k_dt
            start_cd = self._start_cd
            b.update(t, thb, hold_still, lin2, speed, start_cd, self._band_cd)
            if hold_still and thb > start_cd and self._f.bside == 2:
                self._f.b_left = t                # (the last time still at the rest it went back to)
            if b.settling:
                # Back at the place held still: a rep from there (a new start position) only if
                # the dumbbell stops or turns round there. If it carries on towards the start,
                # that place was a hesitation on the way out, and the rep is the main track's.
                ended = b.settle(t, th)
                # (Without a gyro the speed estimate is not trusted alone here: the attitude is
                # frozen during an abrupt movement, and the speed then reads 0 until it ends;
                # the accelerometer must read still too.)
                stopped = hold_still and (self.has_gyro or still_for > 0)
                margin = (b.th_max * end_pct) // 100
                if margin < self._start_cd:
                    margin = self._start_cd
                if th + margin < s.b_th or (ended == 2 and th < s.b_th and not stopped):
                    s.b_armed = False
                elif (stopped or ended) and self._f.bside == 2:
                    # Its rep went from there towards the start and back: that place is a far
                    # end (the first rest after an unjudged pick-up was the hold of a rep begun
                    # before the lift ended), and the start position is the rest it went back
                    # to. The dumbbell is at a far end again now, on a rep from that rest.
                    flags |= self._b_far_end(t)
                    a.leave(t, a.angle(s.gx, s.gy, s.gz), 0, lin2, speed)
                    s.phase = PHASE_OUT
                    return flags
                elif stopped or ended:
                    t_end = b.set_t_lo if ended == 1 else t
                    dur = ticks_diff(t_end, b.t_start)
                    if self._rep_min_ms <= dur <= self._rep_max_ms:      # (never armed for signals 1, 2)
                        self._emit_rep(b, t_end)
                        flags |= EV_REP
                    a.copy_ref(b)
                    a.reset(t)
                    s.b_armed = False
                    s.phase = PHASE_REST
                    return flags | EV_ANCHOR
            elif b.out and b.th_max >= rom_thr and thb * 100 <= b.th_max * end_pct:
                b.begin_settle(t, th)
            elif b.out and ((t - b.t_start + 0x20000000) & 0x3FFFFFFF) - 0x20000000 > self._rep_max_ms:
                # Away from that place longer than any rep from it could take: it was no start
                # position (it stood in the way of the main track's "out too long" rule).
                f = self._f
                sd = self.values[4]                             # start_deg: cos, Q14, below
                if (f.bside == 2 and ((s.gx * f.bgx + s.gy * f.bgy + s.gz * f.bgz) >> 14)
                        >= _ONE_G - (sd * sd * 2496) // 1000):
                    # ... it was a far end, and the dumbbell is at the start position it went
                    # back to (within start_deg; as above, with no next rep to wait for).
                    s.phase = PHASE_REST
                    return flags | self._b_far_end(t)
                s.b_armed = False
        dur = ((t - a.t_start + 0x20000000) & 0x3FFFFFFF) - 0x20000000    # ticks_diff, inlined
        if a.settling:
            # Back near the start: the rep ends when the dumbbell comes to rest, turns round into
            # the next rep, or after _SETTLE_MS, whichever is first (the end time is then close to
            # the true end of the movement, not the moment it crossed end_pct on the way).
            ended = a.settle(t, th)
            if turning:
                a.set_slow = True
            if ended == 1 and not a.set_slow and self.has_gyro:
                # The angle turned round but the movement did not slow down: it passed by the
                # start position on its way elsewhere (the dumbbell was turned in the hands and
                # the start moved along the reps' path). Not the rep's end: carry on.
                a.settling = False
                s.phase = PHASE_OUT
                return flags
            if not (hold_still or ended):
                s.phase = PHASE_RETURN
                return flags
            t_end = a.set_t_lo if ended == 1 else t
            if ticks_diff(t_end, a.t_start) >= self._rep_min_ms and not self._signal:
                self._emit_rep(a, t_end)
                flags |= EV_REP
            a.reset(t)
            s.b_armed = False
            s.phase = PHASE_REST
            return flags
        if th <= a.th_lo:
            s.lox = s.gx
            s.loy = s.gy
            s.loz = s.gz
        if a.t_max == t:
            s.kx = s.gx
            s.ky = s.gy
            s.kz = s.gz
        back = th_max - a.th_lo
        rev = back >> 3
        if rev < _REVERSAL_CD:
            rev = _REVERSAL_CD
        if not self.has_gyro:
            # Without a gyro the tilt reads a few degrees off while the dumbbell accelerates:
            # starting to move again after a stop on the way back looks like turning round.
            rev += _REVERSAL_CD
        if th_max >= rom_thr and (th * 100 <= th_max * end_pct or (
                not s.b_armed and th - a.th_lo >= rev and back >= rom_thr
                and back * 100 >= (th_max - a.th_base) * _REBASE_PCT)):
            # Back at the start, or turned around most of the way back: the start position was
            # not where it was thought to be (a new posture), so the rep ends here and the start
            # position is re-learnt from where the movement turned.
            rebase = th * 100 > th_max * end_pct
            if not rebase:
                a.begin_settle(t, th)
                s.phase = PHASE_RETURN
                return flags
            if dur >= self._rep_min_ms and not self._signal:
                self._emit_rep(a, t)
                flags |= EV_REP
            if rebase:
                a.set_ref(s.lox, s.loy, s.loz)
                flags |= EV_ANCHOR
            a.reset(t)
            s.b_armed = False
            s.phase = PHASE_REST
        elif th_max < rom_thr and th < (self._start_cd >> 1) and (turning or not self.has_gyro):
            # A partial dip: back home, nothing to report. (With a gyro, only if the movement
            # slowed down here: passing by at speed, it is on its way elsewhere: the dumbbell was
            # turned in the hands and the next rep passes the old start, see _while_out's b.)
            a.reset(t)
            s.b_armed = False
            s.phase = PHASE_REST
        elif ((th_max < rom_thr and still_for >= _PAUSE_MS and self._off_plane())
              or (dur > self._rep_max_ms and not (s.b_armed and b.out)
                  and (still_for >= still_ms or (turning and not s.b_armed)))):
            # Here is the start position now, if either:
            # - stopped after a movement smaller than a rep that left the plane the reps move
            #   in: the dumbbell was turned in the hands (re-settled in the arms) or the stance
            #   changed, not a partial dip or a stop on the way (those stay in the plane);
            # - out too long and now still (or turning) somewhere else.
            self._anchor(t)
            flags |= EV_ANCHOR
        return flags

    @micropython.native
    def _cycle(self, t, ax, ay, az, dt):
        # Vertical movement of the dumbbell: acceleration along gravity, integrated twice with
        # leaks (a band-pass), then up-down cycles counted with hysteresis against its envelope.
        k = self._k_cyc
        if self._signal == 2:
            cy = self._pca
            # Warm-up: until the averages have seen _CYC_ENV_MS of data they are plain running
            # means (1/n), so the set's first rep is not lost to their start-up transient.
            if cy.age < _CYC_ENV_MS:
                cy.age += dt
                kw = (dt << 16) // cy.age
                if kw > k:
                    k = kw if kw < 32767 else 32767      # (gains below 2^15: see principal())
            x = cy.principal(ax, ay, az, k, self._k_pca)    # 1 g = 4096
            floor = 1
        else:
            # (Products kept below 2^30 for a 32-bit board: accelerations to 8 g, gains < 2^16.)
            s = self._s
            av = (((ax >> 3) * s.gx + (ay >> 3) * s.gy + (az >> 3) * s.gz) >> 11) - _ONE_G
            if av > 65535:
                av = 65535
            elif av < -65535:
                av = -65535
            # Remove the slow mean first (sensor offsets, centripetal acceleration of swinging
            # arms) so the integrator sees only the movement.
            self._cam += (((av - self._cam) >> 2) * k) >> 14
            av -= self._cam
            v = self._cv + ((((av * dt) >> 4) * 599) >> 6)    # um/s
            v -= (v // _CYC_TAU_MS) * dt
            self._cv = v
            x = v >> 6                                        # 64 um/s
            floor = self._cyc_min >> 7
        ax_ = x if x > 0 else -x
        # The envelope is kept with 8 more bits than x (small steps would round to nothing), and
        # updated as t * k >> 16 in two products that both stay below 2^30.
        e = ax_ - (self._cenv >> 8)
        self._cenv += ((e >> 8) * k) + (((e & 255) * k) >> 8)
        hyst = self._cenv >> 9
        if hyst < floor:
            hyst = floor
        cy = self._pca
        pol = cy.pol
        if pol == 0:
            # The first swing away from where the set started decides which side is "out":
            # a rep is out-and-back from there (the signal's sign itself is arbitrary).
            if x > hyst or x < -hyst:
                cy.pol = pol = 1 if x > 0 else -1
                self._cside = 1
                self._c_t_far = t
            return 0
        x *= pol
        if x > cy.xhi:
            cy.xhi = x
        if self._cside <= 0 and x > hyst:
            self._cside = 1
            self._c_t_far = t
        elif self._cside >= 0 and x < -hyst:
            was_up = self._cside == 1
            self._cside = -1
            first = cy.first
            if first:
                # The set's first rep: its start was before the first swing was recognisable,
                # so its length is estimated from its second half.
                cy.first = False
                dmax = ticks_diff(t, self._c_t_far)
                dur = 2 * dmax
                # The doubling is only a guess (a hold at the far end lengthens the second half
                # alone): for signal 2 the upper limit is checked on the half that was seen, and
                # the start put at most rep_max_ms before the end.
                if self._signal != 2:
                    dmax = dur
                elif dur > self._rep_max_ms:
                    dur = self._rep_max_ms
                t0 = t - dur
            else:
                dur = dmax = ticks_diff(t, self._c_t0)
                t0 = self._c_t0
            self._c_t0 = t
            # Signal 2: a swing smaller than cycle_min_mg (peak of the out half to here) is
            # tremor or sensor noise at the start of a set, not a lift.
            # Before the set's first rep, the out half itself must also reach half of that.
            hi = cy.xhi
            cy.xhi = x
            if (was_up and self._rep_min_ms <= dur and dmax <= self._rep_max_ms
                    and (self._signal == 1 or (hi - x >= self._cyc_pp
                                               and (not first or 2 * hi >= self._cyc_pp)))):
                self.rep_count += 1
                self.rep_t_start_ms = t0 & 0x3FFFFFFF
                self.rep_t_far_ms = self._c_t_far
                self.rep_t_return_ms = self._c_t_far
                self.rep_t_end_ms = t
                self.rep_hold_ms = 0
                self.rep_rom_ddeg = self._a.th_max // 10
                self.rep_peak_speed_dps = (isqrt(cy.speed) >> 2) if self.has_gyro else cy.speed // 100
                self.rep_peak_accel_mg = isqrt(cy.lin2) * 1000 // _ONE_G10
                cy.lin2 = 0
                cy.speed = 0
                return EV_REP
            if first and self._signal == 2:
                # Signal 2, before the set's first rep: an out half that did not make a rep with
                # this swing back (too short, too long, too small) was not the set's start but
                # noise, tremor or the rounding of the warm-up (whose envelope lets anything
                # through). This swing is the one that decides which side is "out", then.
                cy.first = True
                cy.pol = -pol
                cy.xhi = -x
                self._cside = 1
                self._c_t_far = t
            cy.lin2 = 0
            cy.speed = 0
        return 0

    def _off_plane(self):
        # The gravity direction's distance from the last rep's plane (the plane of its start
        # and far-end gravity), as the sine of the angle out of it: beyond _OFF_PLANE_Q14?
        # (No rep yet: no plane, the normal is 0 and so is the distance.)
        s = self._s
        d = ((s.gx >> 2) * s.nx + (s.gy >> 2) * s.ny + (s.gz >> 2) * s.nz) >> 12
        if d < 0:
            d = -d
        return d > _OFF_PLANE_Q14

    def _learn_plane(self, tr):
        # The plane a rep moved in: normal = start gravity x far-end gravity, normalised.
        s = self._s
        ref = tr.ref
        rx = ref[0] >> 2
        ry = ref[1] >> 2
        rz = ref[2] >> 2
        kx = s.kx >> 2
        ky = s.ky >> 2
        kz = s.kz >> 2
        nx = ry * kz - rz * ky                  # Q24, below 2^25
        ny = rz * kx - rx * kz
        nz = rx * ky - ry * kx
        n = isqrt((nx >> 10) * (nx >> 10) + (ny >> 10) * (ny >> 10) + (nz >> 10) * (nz >> 10))
        if n > 0:                               # (the length in units of 2^10)
            s.nx = (nx << 4) // n               # Q14
            s.ny = (ny << 4) // n
            s.nz = (nz << 4) // n

    def _emit_rep(self, tr, t):
        if tr is self._a:
            self._learn_plane(tr)
        hold = tr.hold_ms(self._band_cd)
        if hold > 0:
            t_far = tr.best_t0
            if tr.seg_on and ticks_diff(tr.seg_t1, tr.seg_t0) == hold:
                t_far = tr.seg_t0
        else:
            t_far = tr.t_max
        self._report(tr, tr.t_start, t_far, hold, t)

    def _report(self, tr, t_start, t_far, hold, t_end):
        # The rep's fields, its range and peaks from track tr.
        self.rep_count += 1
        self.rep_hold_ms = hold
        self.rep_t_start_ms = t_start
        self.rep_t_end_ms = t_end
        self.rep_t_far_ms = t_far
        self.rep_t_return_ms = ticks_add(t_far, hold)
        self.rep_rom_ddeg = tr.th_max // 10
        if self.has_gyro:
            self.rep_peak_speed_dps = isqrt(tr.peak_speed) >> 2
        else:
            self.rep_peak_speed_dps = tr.peak_speed // 100
        self.rep_peak_accel_mg = isqrt(tr.peak_lin2) * 1000 // _ONE_G10
        self._rom_prev = self._rom_last
        self._rom_last = tr.th_max
        self._set_rom_thr()

    def _set_rom_thr(self):
        # A far end closer than this is a partial dip: rep_min_rom_deg, or rep_adapt_pct % of
        # the smaller of the last two reps' range (so one odd rep cannot raise it past the real
        # ones), whichever is larger.
        last = self._rom_last
        adapt = self._rom_prev if 0 < self._rom_prev < last else last
        adapt = (adapt * self._adapt_pct) // 100
        self._rom_thr = adapt if adapt > self._rom_min_cd else self._rom_min_cd

    @micropython.native
    def _abrupt(self, t, lin2, jerk):
        s = self._s
        over = lin2 > self._abrupt_lin2 or jerk > self._abrupt_jerk
        if over:
            if not s.ab_on:
                s.ab_on = True
                s.ab_peak2 = 0
                s.ab_jerk = 0
                s.ab_t = t
            if lin2 > s.ab_peak2:
                s.ab_peak2 = lin2
                s.ab_t = t
            if jerk > s.ab_jerk:
                s.ab_jerk = jerk
            s.ab_quiet = t
            # A knock's acceleration is beyond what integrating the samples can follow (the
            # sensor's range and bandwidth): the vertical travel until the next rest is unknown.
            if s.still_for < self._still_ms:
                s.ct = -1
            return 0
        if s.ab_on and ((t - s.ab_quiet + 0x20000000) & 0x3FFFFFFF) - 0x20000000 >= _ABRUPT_QUIET_MS:
            s.ab_on = False
            self.abrupt_t_ms = s.ab_t
            self.abrupt_peak_mg = isqrt(s.ab_peak2) * 1000 // _ONE_G10
            self.abrupt_jerk_gps = s.ab_jerk
            self.abrupt_count += 1
            return EV_ABRUPT
        return 0

    def _b_far_end(self, t):
        # The second track's place was a far end, and the rest the dumbbell went back to from
        # there (bg*) is the start position: a's reference from now, the dumbbell last still
        # there at b_left. The rep through that far end is reported from it.
        f = self._f
        a = self._a
        a.set_ref(f.bgx, f.bgy, f.bgz)
        flags = self._far_rep(self._b, f.bt0, f.bte) | EV_ANCHOR
        a.reset(t)
        a.t_leave = f.b_left
        self._s.b_armed = False
        return flags

    def _far_rep(self, tr, t_far, t_end):
        # A rep seen only from its far end (track tr's reference, reached at t_far and left at
        # tr.t_start), back at the start position (a's reference) at t_end: range and peaks from
        # tr; its start where the dumbbell was last nearest the start before t_far (the
        # attitude history). EV_REP, or 0 if that makes no rep's duration.
        t_start = self._last_near(t_far)
        if self._rep_min_ms <= ticks_diff(t_end, t_start) <= self._rep_max_ms:
            self._report(tr, t_start, t_far, ticks_diff(tr.t_start, t_far), t_end)
            return EV_REP
        return 0

    def _last_near(self, t0):
        # When, before t0, the dumbbell was nearest the start position (a's reference): from t0
        # back through the attitude history, the smallest angle, until the angle is within
        # start_deg / 8 or rises again by _REVERSAL_CD (further back is the movement before), or
        # the history has a gap (it is not kept while near the start or while it is frozen).
        f = self._f
        a = self._a
        hg = f.hg
        ht = f.ht
        i = f.hi
        best = 18000
        t_best = t0
        t_next = t0
        for _ in range(f.hn):
            i = i - 1 if i else _HIST_N - 1
            ti = ht[i]
            if ticks_diff(ti, t0) > 0:
                continue
            if ticks_diff(t_next, ti) > 3 * _HIST_MS:
                break
            t_next = ti
            th = a.angle(hg[3 * i], hg[3 * i + 1], hg[3 * i + 2])
            if th < best:
                best = th
                t_best = ti
                if th < (self._start_cd >> 3):
                    break
            elif th > best + _REVERSAL_CD:
                break
        return t_best

    def _anchor(self, t):
        s = self._s
        self._a.set_ref(s.gx, s.gy, s.gz)
        self._a.reset(t)
        s.anchored = True
        s.b_armed = False
        s.phase = PHASE_REST
