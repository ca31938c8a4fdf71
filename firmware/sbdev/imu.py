"""IMU drivers: MPU-6050/6500/6886 (`mpu6050`) and LSM6DS3/LSM6DSOX (`lsm6ds`), FIFO in batches.

    imu = detect(i2c, part="auto", address=None, rate_hz=100)
    n = imu.read(buf)     # n samples, 12 bytes each: ax ay az gx gy gz, int16 little-endian
    # imu.backlog samples were in the FIFO; the newest was taken about now

A driver checks WHO_AM_I (OSError naming the address if it is not the part) and its settings
against tables (ValueError naming the value). `read()` allocates nothing.
"""
try:
    import micropython
    from micropython import const
except ImportError:
    from sbcore.compat import micropython, const

BATCH_MAX = const(16)       # samples per read(); 80 ms at 200 Hz
SAMPLE_BYTES = const(12)


@micropython.native
def _swap16(buf, n):
    # big-endian words -> little-endian, in place
    i = 0
    while i < n:
        b = buf[i]
        buf[i] = buf[i + 1]
        buf[i + 1] = b
        i += 2


@micropython.native
def _copy(dst, doff, src, soff, n):
    for i in range(n):
        dst[doff + i] = src[soff + i]


class _Base:
    NAME = "imu"
    has_gyro = True

    def __init__(self, i2c, address, rate_hz, accel_g, gyro_dps):
        self.i2c = i2c
        self.address = address
        self._one = bytearray(1)
        self._views = None
        self.overruns = 0        # FIFO overflows seen (samples were lost in the sensor)
        self.backlog = 0
        who = self._who()
        if who not in self.WHO:
            raise OSError("no %s at I2C address 0x%02x (WHO_AM_I 0x%02x)"
                          % (self.FAMILY, address, who))
        self.NAME = self.WHO[who]
        self._check(rate_hz, accel_g, gyro_dps)
        self.rate_hz = rate_hz
        self.accel_g = accel_g
        self.gyro_dps = gyro_dps
        self.init()

    def _who(self):
        try:
            self.i2c.readfrom_mem_into(self.address, self._WHO_REG, self._one)
        except OSError as exc:
            raise OSError("no %s at I2C address 0x%02x (%s)" % (self.FAMILY, self.address, exc))
        return self._one[0]

    def _check(self, rate_hz, accel_g, gyro_dps):
        if rate_hz not in self.RATES:
            raise ValueError("%s: rate_hz %r not one of %s" % (self.FAMILY, rate_hz, sorted(self.RATES)))
        if accel_g not in self.ACCEL:
            raise ValueError("%s: accel range %r g not one of %s" % (self.FAMILY, accel_g, sorted(self.ACCEL)))
        if gyro_dps not in self.GYRO:
            raise ValueError("%s: gyro range %r dps not one of %s" % (self.FAMILY, gyro_dps, sorted(self.GYRO)))

    def _w(self, reg, value):
        self._one[0] = value
        self.i2c.writeto_mem(self.address, reg, self._one)

    def _r(self, reg):
        self.i2c.readfrom_mem_into(self.address, reg, self._one)
        return self._one[0]

    def _view(self, buf, nbytes):
        # memoryview slices allocate: keep one per length the FIFO reads use
        if self._views is None or self._views_src is not buf:
            self._make_views(buf)
        return self._views[nbytes // self.WORD]

    def _make_views(self, buf):
        # (not a comprehension inside _view: a closure over `buf` would allocate on every call)
        mv = memoryview(buf)
        views = []
        for i in range(len(buf) // self.WORD + 1):
            views.append(mv[:i * self.WORD])
        self._views_src = buf
        self._views = views


# part name -> (module, class); a family's module is imported only to probe for it
PARTS = {"mpu6050": ("mpu6050", "MPU6050"), "mpu6500": ("mpu6050", "MPU6050"),
         "mpu6886": ("mpu6050", "MPU6050"), "lsm6dsox": ("lsm6ds", "LSM6DSOX"),
         "lsm6ds3": ("lsm6ds", "LSM6DS3")}
FAMILIES = ("mpu6050", "lsm6dsox", "lsm6ds3")


def _driver(part):
    mod_name, cls_name = PARTS[part]
    mod = __import__("sbdev." + mod_name, None, None, (cls_name,))
    return getattr(mod, cls_name), "sbdev." + mod_name


def detect(i2c, part="auto", address=None, rate_hz=100, accel_g=8, gyro_dps=1000):
    """Find the IMU by WHO_AM_I. `part` is "auto" or one of PARTS; `address` None tries the
    family's usual addresses. Raises OSError naming what was tried."""
    import sys
    if part == "auto":
        parts = FAMILIES
    else:
        part = str(part).lower()
        if part not in PARTS:
            raise ValueError("imu %r unknown: use auto or one of %s" % (part, sorted(PARTS)))
        parts = (part,)
    tried = []
    found = None
    found_mod = None
    for p in parts:
        cls, mod_name = _driver(p)
        found_mod = mod_name
        addrs = (address,) if address is not None else cls.ADDRESSES
        for addr in addrs:
            try:
                found = cls(i2c, addr, rate_hz, accel_g, gyro_dps)
                break
            except OSError as exc:
                tried.append(str(exc))
        if found is not None:
            break
    pkg = sys.modules.get("sbdev")
    for p in FAMILIES:
        # drop the driver modules that did not match (their code would sit in the heap)
        short = PARTS[p][0]
        name = "sbdev." + short
        if name in sys.modules and (found is None or found_mod != name):
            del sys.modules[name]
            if pkg is not None and short in pkg.__dict__:
                delattr(pkg, short)
    if found is None:
        raise OSError("no IMU found: " + "; ".join(tried))
    return found
