"""IMU register maps for the virtual board: MPU-6050/6500/6886 and LSM6DS3/LSM6DSOX, serving a trace.

Each map behaves like the part on the I2C bus: WHO_AM_I, configuration writes (checked: a value
the part does not define raises ValueError, so a driver bug shows up in tests), data registers,
data-ready bits and the FIFO (count, burst reads, overflow). Samples appear as the virtual clock
passes their time (`vclock`), at the configured output data rate, from a source:

    src = imus.ArraySource(raw_ints)          # or imus.FileSource("trace.bin")
    machine.attach_i2c(0, 0x68, imus.MPU6050(src))

Source samples are int16 at a reference scale, accel 4096 LSB/g and gyro 32.8 LSB/(deg/s) (the
MPU at +-8 g / +-1000 deg/s); each map converts to its configured full scale and saturates.
"""
import vclock

REF_ACCEL_LSB_PER_G = 4096
REF_GYRO_LSB_PER_DPS_X10 = 328
SAMPLE_BYTES = 12


def _sat(v):
    if v > 32767:
        return 32767
    return -32768 if v < -32768 else v


class ArraySource:
    """Samples from memory: a flat sequence (ax, ay, az, gx, gy, gz, ax, ...) of reference ints.
    Reading allocates nothing, so a test can lock the heap around the whole sensor path."""

    def __init__(self, values, repeat=False):
        self.values = values
        self.n = len(values) // 6
        self.repeat = repeat

    def read(self, k, out, t_us=-1):
        if k >= self.n:
            if not self.repeat or self.n == 0:
                return False
            k = k % self.n
        o = k * 6
        v = self.values
        for i in range(6):
            out[i] = v[o + i]
        return True


class FileSource:
    """Samples streamed from a binary trace (12 bytes per sample: six little-endian int16 at the
    reference scale), read sequentially: a 10-minute trace never sits in the 56 KB heap.

    With `rate_hz` (the trace's own rate) each IMU sample gets the trace sample nearest its time
    (trace time 0 = the part's first FIFO sample, one output period after boot), so device time
    follows the trace at any output data rate (a 64 Hz trace on a 100 Hz part repeats samples, it
    does not run 1.56x fast). Without it, sample k of the part gets sample k of the file."""

    def __init__(self, path, rate_hz=0):
        self.f = open(path, "rb")
        self.buf = bytearray(SAMPLE_BYTES)
        self.k = 0
        self.done = False
        self.rate_mhz = int(rate_hz * 1000 + 0.5)    # ints: no float per sample

    def read(self, k, out, t_us=-1):
        if self.done:
            return False
        if self.rate_mhz and t_us >= 0:
            k = (t_us * self.rate_mhz + 500000000) // 1000000000
        while self.k <= k:
            if self.f.readinto(self.buf) != SAMPLE_BYTES:
                self.done = True
                return False
            self.k += 1
        b = self.buf
        for i in range(6):
            v = b[2 * i] | (b[2 * i + 1] << 8)
            out[i] = v - 65536 if v & 0x8000 else v
        return True


class RegisterMap:
    """A part on the bus: 128 registers, auto-increment burst access, samples generated lazily
    from the source as virtual time passes."""
    NAME = "imu"
    FIFO_BYTES = 1024
    FIFO_WORD = 12       # FIFO bytes per sample

    def __init__(self, source=None, phase_us=0):
        self.source = source
        self.phase_us = phase_us
        self.regs = bytearray(128)
        self.fifo = bytearray(self.FIFO_BYTES)
        self.cur = [0] * 6            # latest sample, reference scale
        self.fail = 0                 # > 0: the part NACKs (OSError at the bus) this many times
        self.frozen = False           # True: the part keeps serving the same sample (stuck)
        self.produced = 0             # samples generated
        self.overflowed = 0           # samples lost to a full FIFO
        self.fifo_in = 0              # samples that entered the FIFO
        self.fifo_t0_us = -1          # virtual time of the first of them
        self.sample_us = 0            # virtual time of the sample being generated
        self.exhausted = False        # the source ran out
        self.writes = []
        self._reset_state()

    # -- generic machinery --
    def _reset_state(self):
        self.regs[:] = bytes(128)
        self._defaults()
        self.f_head = 0
        self.f_count = 0
        self.running = False
        self.t0_us = 0
        self.k = 0

    def _defaults(self):
        pass

    def odr_hz_x10(self):
        return 0

    def _start(self):
        self.running = True
        self.t0_us = vclock.now_us() + self.phase_us
        self.k = 0

    def _catch_up(self):
        if not self.running or self.exhausted:
            return
        odr10 = self.odr_hz_x10()
        if not odr10:
            return
        now = vclock.now_us()
        # sample k is at t0 + k * 10e6 / odr10 (µs)
        while self.t0_us + (self.k * 10000000) // odr10 <= now:
            self.sample_us = self.t0_us + (self.k * 10000000) // odr10
            if not self.frozen:
                # trace time 0 is the first sample into the FIFO: the device then sees every
                # trace sample from the first, as `smartbell analyze` does
                t_src = self.sample_us - self.fifo_t0_us if self.fifo_t0_us >= 0 else 0
                if self.source is None or not self.source.read(self.produced, self.cur, t_src):
                    self.exhausted = True
                    return
            self.produced += 1
            self.k += 1
            self._new_sample()

    def _fifo_push(self, data, n):
        size = self.FIFO_BYTES
        if self.f_count + n > size:
            self._fifo_full()
            if self.f_count + n > size:
                return False
        pos = (self.f_head + self.f_count) % size
        for i in range(n):
            self.fifo[pos] = data[i]
            pos += 1
            if pos == size:
                pos = 0
        self.f_count += n
        if self.fifo_t0_us < 0:
            self.fifo_t0_us = self.sample_us
        return True

    def fifo_samples(self):
        return self.f_count // self.FIFO_WORD

    def _fifo_full(self):
        pass

    def _fifo_pop(self):
        if self.f_count == 0:
            return 0xFF
        b = self.fifo[self.f_head]
        self.f_head += 1
        if self.f_head == self.FIFO_BYTES:
            self.f_head = 0
        self.f_count -= 1
        return b

    def _fifo_clear(self):
        self.f_head = 0
        self.f_count = 0

    def _check_bus(self):
        if self.fail > 0:
            self.fail -= 1
            raise OSError(5)

    def mem_read_into(self, reg, buf):
        self._check_bus()
        self._catch_up()
        for i in range(len(buf)):
            buf[i] = self._read(reg, i)

    def mem_write(self, reg, data):
        self._check_bus()
        self._catch_up()
        for i in range(len(data)):
            if len(self.writes) < 1000:
                self.writes.append((reg + i, data[i]))
            self._write(reg + i, data[i])

    def _read(self, reg, i):
        return self.regs[(reg + i) & 0x7F]

    def _write(self, reg, v):
        self.regs[reg & 0x7F] = v

    def _bad(self, reg, v, why):
        raise ValueError("%s: value 0x%02x for register 0x%02x: %s" % (self.NAME, v, reg, why))


# -- MPU-6050 / 6500 / 6886 ---------------------------------------------------------------------

_SMPLRT_DIV = 0x19
_CONFIG = 0x1A
_GYRO_CONFIG = 0x1B
_ACCEL_CONFIG = 0x1C
_ACCEL_CONFIG2 = 0x1D
_FIFO_EN = 0x23
_INT_PIN_CFG = 0x37
_INT_ENABLE = 0x38
_INT_STATUS = 0x3A
_ACCEL_XOUT_H = 0x3B
_USER_CTRL = 0x6A
_PWR_MGMT_1 = 0x6B
_PWR_MGMT_2 = 0x6C
_FIFO_COUNTH = 0x72
_FIFO_R_W = 0x74
_WHO_AM_I = 0x75

_MPU_ACCEL_LSB = (16384, 8192, 4096, 2048)
_MPU_GYRO_SHIFT = (2, 1, 0, -1)   # 131, 65.5, 32.8, 16.4 LSB/dps vs the 32.8 reference


class MPU6050(RegisterMap):
    NAME = "MPU6050"
    WHO = 0x68
    FIFO_BYTES = 1024

    def __init__(self, source=None, phase_us=0):
        self._sample = bytearray(14)
        RegisterMap.__init__(self, source, phase_us)

    def _defaults(self):
        self.regs[_PWR_MGMT_1] = 0x40     # asleep after power-up
        self.regs[_WHO_AM_I] = self.WHO

    def odr_hz_x10(self):
        r = self.regs
        if r[_PWR_MGMT_1] & 0x40:
            return 0
        base = 80000 if (r[_CONFIG] & 7) in (0, 7) else 10000
        return base // (1 + r[_SMPLRT_DIV])

    def _write(self, reg, v):
        r = self.regs
        if reg == _PWR_MGMT_1:
            if v & 0x80:
                self._reset_state()
                return
            if v & 0x07 not in (0, 1):
                self._bad(reg, v, "clock source must be 0 or 1")
            r[reg] = v & 0x7F
            if not v & 0x40 and not self.running:
                self._start()
            return
        if reg == _GYRO_CONFIG or reg == _ACCEL_CONFIG:
            if v & ~0x18 & 0xFF:
                self._bad(reg, v, "self-test / reserved bits set")
        elif reg == _CONFIG:
            if v & 0x80:
                self._bad(reg, v, "reserved bit 7")
        elif reg == _FIFO_EN:
            if v not in (0x00, 0x78):
                self._bad(reg, v, "this fake serves FIFO_EN 0x00 or 0x78 (accel + gyro xyz)")
        elif reg == _USER_CTRL:
            if v & 0x04:
                self._fifo_clear()
            v &= ~0x05 & 0xFF
        elif reg == _WHO_AM_I or _ACCEL_XOUT_H <= reg <= 0x48 or reg in (_FIFO_COUNTH, 0x73, _INT_STATUS):
            self._bad(reg, v, "read-only register")
        elif reg == _FIFO_R_W:
            return
        r[reg] = v
        if self.running and (reg == _SMPLRT_DIV or reg == _CONFIG):
            self._start()       # new output rate: the sample clock restarts now

    def _new_sample(self):
        r = self.regs
        a_lsb = _MPU_ACCEL_LSB[(r[_ACCEL_CONFIG] >> 3) & 3]
        g_sh = _MPU_GYRO_SHIFT[(r[_GYRO_CONFIG] >> 3) & 3]
        c = self.cur
        s = self._sample
        for i in range(3):
            a = _sat(c[i] * a_lsb // REF_ACCEL_LSB_PER_G)
            g = c[3 + i]
            g = _sat(g << g_sh if g_sh >= 0 else g >> 1)
            s[2 * i] = (a >> 8) & 0xFF
            s[2 * i + 1] = a & 0xFF
            s[8 + 2 * i] = (g >> 8) & 0xFF
            s[9 + 2 * i] = g & 0xFF
        for i in range(6):
            r[_ACCEL_XOUT_H + i] = s[i]
            r[0x43 + i] = s[8 + i]
        r[_INT_STATUS] |= 0x01
        if r[_USER_CTRL] & 0x40 and r[_FIFO_EN] == 0x78:
            # accel xyz then gyro xyz, big-endian, 12 bytes
            for i in range(6):
                s[6 + i] = s[8 + i]
            if self._fifo_push(s, 12):
                self.fifo_in += 1

    def _fifo_full(self):
        # the MPU-6050 overwrites the oldest data: drop one whole sample
        for _ in range(12):
            self._fifo_pop()
        self.overflowed += 1
        self.regs[_INT_STATUS] |= 0x10

    def _read(self, reg, i):
        if reg == _FIFO_R_W:
            return self._fifo_pop()
        a = reg + i
        if a == _FIFO_COUNTH:
            return self.f_count >> 8
        if a == 0x73:
            return self.f_count & 0xFF
        v = self.regs[a & 0x7F]
        if a == _INT_STATUS:
            self.regs[_INT_STATUS] = 0     # read clears
        return v


class MPU6500(MPU6050):
    NAME = "MPU6500"
    WHO = 0x70
    FIFO_BYTES = 512

    def _write(self, reg, v):
        if reg == _CONFIG and v & 0x80:
            self._bad(reg, v, "reserved bit 7")
        if reg == _ACCEL_CONFIG2:
            self.regs[reg] = v
            return
        MPU6050._write(self, reg, v)


class MPU6886(MPU6500):
    NAME = "MPU6886"
    WHO = 0x19
    FIFO_BYTES = 1024


class _Parts:
    """name -> register map class; the LSM6 maps live in imus_lsm and load only when used."""

    def __getitem__(self, name):
        if name.startswith("LSM"):
            import imus_lsm
            return getattr(imus_lsm, name)
        return globals()[name]

    def __contains__(self, name):
        return name in NAMES

    def keys(self):
        return NAMES


NAMES = ("MPU6050", "MPU6500", "MPU6886", "LSM6DS3", "LSM6DSOX")
PARTS = _Parts()
