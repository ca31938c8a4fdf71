"""LSM6DS3 / LSM6DSOX driver (and DS3TR-C, DSL, DSO): pattern or tagged FIFO in batches.

Loaded by `sbdev.imu.detect()` only when this family answers, to keep the heap free.
"""
try:
    import micropython
    from micropython import const
except ImportError:
    from sbcore.compat import micropython, const

from sbdev.imu import _Base, _copy, SAMPLE_BYTES, BATCH_MAX

_LSM_WHO_AM_I = const(0x0F)
_LSM_CTRL1_XL = const(0x10)
_LSM_CTRL2_G = const(0x11)
_LSM_CTRL3_C = const(0x12)
_LSM_FIFO_STATUS1 = const(0x3A)
_LSM_SW_RESET = const(0x01)
_LSM_BDU_IF_INC = const(0x44)
_DS3_FIFO_CTRL3 = const(0x08)
_DS3_FIFO_CTRL5 = const(0x0A)
_DS3_FIFO_DATA_OUT_L = const(0x3E)
_DS3_NO_DECIMATION = const(0x09)
_DS3_FIFO_OVER_RUN = const(0x40)
_DS3_DIFF_HI = const(0x0F)          # FIFO_STATUS2 bits 3:0 = DIFF_FIFO[11:8]
_OX_FIFO_CTRL3 = const(0x09)
_OX_FIFO_CTRL4 = const(0x0A)
_OX_FIFO_DATA_OUT_TAG = const(0x78)
_OX_FIFO_OVR = const(0x40)
_OX_DIFF_HI = const(0x03)           # FIFO_STATUS2 bits 1:0 = DIFF_FIFO[9:8]
_OX_TAG_SHIFT = const(3)            # FIFO_DATA_OUT_TAG bits 7:3
_OX_TAG_GYRO = const(0x01)
_OX_TAG_ACCEL = const(0x02)
_FIFO_BYPASS = const(0)
_FIFO_CONTINUOUS = const(6)


class _LSM6(_Base):
    FAMILY = "LSM6DS3/LSM6DSOX"
    _WHO_REG = _LSM_WHO_AM_I
    RATES = {52: 3, 100: 4, 200: 5}                    # ODR codes: 52, 104, 208 Hz
    ODR_X10 = {3: 520, 4: 1040, 5: 2080}
    ACCEL = {2: (0, 16393), 4: (2, 8197), 8: (3, 4098), 16: (1, 2049)}
    GYRO = {250: (0, 8.75), 500: (1, 17.5), 1000: (2, 35.0), 2000: (3, 70.0)}
    ADDRESSES = (0x6A, 0x6B)

    def __init__(self, i2c, address=0x6A, rate_hz=100, accel_g=8, gyro_dps=1000):
        self._st = bytearray(4)
        _Base.__init__(self, i2c, address, rate_hz, accel_g, gyro_dps)

    def init(self):
        self._w(_LSM_CTRL3_C, _LSM_SW_RESET)
        self._w(_LSM_CTRL3_C, _LSM_BDU_IF_INC)
        odr = self.RATES[self.rate_hz]
        self._w(_LSM_CTRL2_G, (odr << 4) | (self.GYRO[self.gyro_dps][0] << 2))
        self._w(_LSM_CTRL1_XL, (odr << 4) | (self.ACCEL[self.accel_g][0] << 2))
        self.reset_fifo()
        self.accel_lsb_per_g = self.ACCEL[self.accel_g][1]
        self.gyro_mdps_per_lsb = self.GYRO[self.gyro_dps][1]
        self.period_us = 10000000 // self.ODR_X10[odr]


class LSM6DS3(_LSM6):
    """LSM6DS3 / LSM6DS3TR-C / LSM6DSL: pattern FIFO (gx gy gz ax ay az words)."""
    WHO = {0x69: "LSM6DS3", 0x6A: "LSM6DS3TR-C"}
    WORD = SAMPLE_BYTES

    def reset_fifo(self):
        odr = self.RATES[self.rate_hz]
        self._w(_DS3_FIFO_CTRL5, _FIFO_BYPASS)
        self._w(_DS3_FIFO_CTRL3, _DS3_NO_DECIMATION)
        self._w(_DS3_FIFO_CTRL5, (odr << 3) | _FIFO_CONTINUOUS)

    def read(self, buf):
        self.i2c.readfrom_mem_into(self.address, _LSM_FIFO_STATUS1, self._st)
        st = self._st
        if st[1] & _DS3_FIFO_OVER_RUN:
            self.overruns += 1
            self.reset_fifo()
            self.backlog = 0
            return 0
        words = st[0] | ((st[1] & _DS3_DIFF_HI) << 8)
        pattern = st[2]
        if pattern:
            # not at gx: drop the partial sample so words line up again
            self.i2c.readfrom_mem_into(self.address, _DS3_FIFO_DATA_OUT_L,
                                       self._view(buf, SAMPLE_BYTES))
            self.reset_fifo()
            self.backlog = 0
            return 0
        n = words // 6
        self.backlog = n
        cap = len(buf) // SAMPLE_BYTES
        if n > cap:
            n = cap
        if n:
            self.i2c.readfrom_mem_into(self.address, _DS3_FIFO_DATA_OUT_L,
                                       self._view(buf, n * SAMPLE_BYTES))
            _g_a_to_a_g(buf, n)
        return n


@micropython.native
def _g_a_to_a_g(buf, n):
    # per sample: gyro xyz, accel xyz -> accel xyz, gyro xyz (swap the two 6-byte halves)
    o = 0
    for _ in range(n):
        for i in range(6):
            b = buf[o + i]
            buf[o + i] = buf[o + 6 + i]
            buf[o + 6 + i] = b
        o += 12


class LSM6DSOX(_LSM6):
    """LSM6DSOX / LSM6DSO: tagged FIFO, one 7-byte word per sensor per sample."""
    WHO = {0x6C: "LSM6DSOX"}
    WORD = const(7)

    def __init__(self, i2c, address=0x6A, rate_hz=100, accel_g=8, gyro_dps=1000):
        self._words = bytearray(7 * 2 * BATCH_MAX)
        self._wviews = None
        self._have = 0           # 1 gyro, 2 accel of the sample being assembled
        self._part = bytearray(SAMPLE_BYTES)
        _LSM6.__init__(self, i2c, address, rate_hz, accel_g, gyro_dps)

    def reset_fifo(self):
        odr = self.RATES[self.rate_hz]
        self._w(_OX_FIFO_CTRL4, _FIFO_BYPASS)
        self._w(_OX_FIFO_CTRL3, (odr << 4) | odr)
        self._w(_OX_FIFO_CTRL4, _FIFO_CONTINUOUS)
        self._have = 0

    def read(self, buf):
        self.i2c.readfrom_mem_into(self.address, _LSM_FIFO_STATUS1, self._st)
        st = self._st
        if st[1] & _OX_FIFO_OVR:
            self.overruns += 1
            self.reset_fifo()
            self.backlog = 0
            return 0
        words = st[0] | ((st[1] & _OX_DIFF_HI) << 8)
        self.backlog = (words + (1 if self._have else 0)) // 2
        cap = len(buf) // SAMPLE_BYTES
        if words > 2 * cap:
            words = 2 * cap
        if words > 2 * BATCH_MAX:
            words = 2 * BATCH_MAX
        if not words:
            return 0
        self.i2c.readfrom_mem_into(self.address, _OX_FIFO_DATA_OUT_TAG, self._view(self._words, words * 7))
        return self._assemble(buf, words)

    def _assemble(self, buf, words):
        w = self._words
        part = self._part
        n = 0
        o = 0
        for _ in range(words):
            tag = w[o] >> _OX_TAG_SHIFT
            if tag == _OX_TAG_GYRO:
                _copy(part, 6, w, o + 1, 6)
                self._have |= 1
            elif tag == _OX_TAG_ACCEL:
                _copy(part, 0, w, o + 1, 6)
                self._have |= 2
            if self._have == 3:
                _copy(buf, n * SAMPLE_BYTES, part, 0, SAMPLE_BYTES)
                n += 1
                self._have = 0
            o += 7
        return n


