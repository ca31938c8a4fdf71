"""MPU-6050 / MPU-6500 / MPU-6886 driver (GY-521 breakouts, M5Stack boards): FIFO in batches.

Loaded by `sbdev.imu.detect()` only when this family answers, to keep the heap free.
"""
try:
    from micropython import const
except ImportError:
    from sbcore.compat import const

from sbdev.imu import _Base, _swap16, SAMPLE_BYTES

_MPU_SMPLRT_DIV = const(0x19)
_MPU_CONFIG = const(0x1A)
_MPU_GYRO_CONFIG = const(0x1B)
_MPU_ACCEL_CONFIG = const(0x1C)
_MPU_FIFO_EN = const(0x23)
_MPU_INT_ENABLE = const(0x38)
_MPU_INT_STATUS = const(0x3A)
_MPU_USER_CTRL = const(0x6A)
_MPU_PWR_MGMT_1 = const(0x6B)
_MPU_FIFO_COUNTH = const(0x72)
_MPU_FIFO_R_W = const(0x74)
_MPU_WHO_AM_I = const(0x75)

_MPU_RESET = const(0x80)
_MPU_CLK_PLL = const(0x01)
_MPU_DLPF_44HZ = const(0x03)          # 1 kHz internal rate, 44 Hz accel / 42 Hz gyro low-pass
_MPU_FIFO_ACCEL_GYRO = const(0x78)
_MPU_USER_FIFO_EN = const(0x40)
_MPU_USER_FIFO_RESET = const(0x04)
_MPU_INT_FIFO_OFLOW = const(0x10)
_MPU_INT_DATA_RDY = const(0x01)
_MPU_INT_FIFO_OVLOW_EN = const(0x10)


class MPU6050(_Base):
    """MPU-6050 (GY-521), MPU-6500, MPU-6886 (M5Stack): FIFO of accel + gyro, big-endian."""
    FAMILY = "MPU-6050/6500/6886"
    WHO = {0x68: "MPU6050", 0x70: "MPU6500", 0x19: "MPU6886"}
    _WHO_REG = _MPU_WHO_AM_I
    WORD = SAMPLE_BYTES
    RATES = {50: 19, 100: 9, 200: 4}                  # SMPLRT_DIV at 1 kHz
    ACCEL = {2: (0, 16384), 4: (1, 8192), 8: (2, 4096), 16: (3, 2048)}
    GYRO = {250: (0, 7.63), 500: (1, 15.27), 1000: (2, 30.5), 2000: (3, 61.0)}
    ADDRESSES = (0x68, 0x69)

    def __init__(self, i2c, address=0x68, rate_hz=100, accel_g=8, gyro_dps=1000):
        self._cnt = bytearray(2)
        _Base.__init__(self, i2c, address, rate_hz, accel_g, gyro_dps)

    def init(self):
        """(Re)configure the part and start its FIFO (also the recovery path after a fault)."""
        self._w(_MPU_PWR_MGMT_1, _MPU_RESET)
        self._w(_MPU_PWR_MGMT_1, _MPU_CLK_PLL)
        self._w(_MPU_CONFIG, _MPU_DLPF_44HZ)
        self._w(_MPU_SMPLRT_DIV, self.RATES[self.rate_hz])
        self._w(_MPU_ACCEL_CONFIG, self.ACCEL[self.accel_g][0] << 3)
        self._w(_MPU_GYRO_CONFIG, self.GYRO[self.gyro_dps][0] << 3)
        self._w(_MPU_INT_ENABLE, _MPU_INT_DATA_RDY | _MPU_INT_FIFO_OVLOW_EN)
        self.reset_fifo()
        self.accel_lsb_per_g = self.ACCEL[self.accel_g][1]
        self.gyro_mdps_per_lsb = self.GYRO[self.gyro_dps][1]
        self.period_us = 1000 * (1 + self.RATES[self.rate_hz])

    def reset_fifo(self):
        self._w(_MPU_USER_CTRL, 0)
        self._w(_MPU_FIFO_EN, _MPU_FIFO_ACCEL_GYRO)
        self._w(_MPU_USER_CTRL, _MPU_USER_FIFO_RESET)
        self._w(_MPU_USER_CTRL, _MPU_USER_FIFO_EN)

    def read(self, buf):
        """Drain up to len(buf)//12 samples; returns how many. Raises OSError on a bus error."""
        if self._r(_MPU_INT_STATUS) & _MPU_INT_FIFO_OFLOW:
            # the FIFO wrapped: its byte alignment is lost, start it again
            self.overruns += 1
            self.reset_fifo()
            self.backlog = 0
            return 0
        self.i2c.readfrom_mem_into(self.address, _MPU_FIFO_COUNTH, self._cnt)
        count = (self._cnt[0] << 8) | self._cnt[1]
        if count % SAMPLE_BYTES:
            count -= count % SAMPLE_BYTES
        n = count // SAMPLE_BYTES
        self.backlog = n
        cap = len(buf) // SAMPLE_BYTES
        if n > cap:
            n = cap
        if n:
            self.i2c.readfrom_mem_into(self.address, _MPU_FIFO_R_W, self._view(buf, n * SAMPLE_BYTES))
            _swap16(buf, n * SAMPLE_BYTES)
        return n


