"""LSM6DS3 / LSM6DSOX register maps for the virtual board (see `imus`); loaded only when used."""
from imus import RegisterMap, REF_ACCEL_LSB_PER_G, REF_GYRO_LSB_PER_DPS_X10, _sat

_LSM_WHO_AM_I = 0x0F
_CTRL1_XL = 0x10
_CTRL2_G = 0x11
_CTRL3_C = 0x12
_STATUS_REG = 0x1E
_OUTX_L_G = 0x22
_FIFO_STATUS1 = 0x3A
_FIFO_STATUS2 = 0x3B

_LSM_ODR_X10 = (0, 125, 260, 520, 1040, 2080, 4160, 8330, 16600, 33300, 66600)
_LSM_ACCEL_UG = (61, 488, 122, 244)            # FS_XL 00 2g, 01 16g, 10 4g, 11 8g
_LSM_GYRO_UDPS = (8750, 17500, 35000, 70000)   # FS_G 00 250, 01 500, 10 1000, 11 2000


class _LSM6(RegisterMap):
    WORDS = 4096

    def __init__(self, source=None, phase_us=0):
        self._sample = bytearray(12)       # gyro xyz, accel xyz, little-endian
        RegisterMap.__init__(self, source, phase_us)

    def _defaults(self):
        self.regs[_LSM_WHO_AM_I] = self.WHO
        self.regs[_CTRL3_C] = 0x04         # IF_INC

    def odr_hz_x10(self):
        code = self.regs[_CTRL1_XL] >> 4
        return _LSM_ODR_X10[code] if code < len(_LSM_ODR_X10) else 0

    def _write(self, reg, v):
        r = self.regs
        if reg == _CTRL1_XL:
            if (v >> 4) > 10:
                self._bad(reg, v, "ODR_XL code above 10")
            r[reg] = v
            if v >> 4:
                self._start()
            elif not v >> 4:
                self.running = False
            return
        if reg == _CTRL2_G:
            if (v >> 4) > 10 or v & 0x01:
                self._bad(reg, v, "ODR_G above 10 or reserved bit 0")
        elif reg == _CTRL3_C:
            if v & 0x01:
                self._reset_state()
                return
        elif reg == _LSM_WHO_AM_I or _OUTX_L_G <= reg <= 0x2D or reg == _STATUS_REG:
            self._bad(reg, v, "read-only register")
        r[reg] = v

    def _new_sample(self):
        r = self.regs
        a_ug = _LSM_ACCEL_UG[(r[_CTRL1_XL] >> 2) & 3]
        g_udps = _LSM_GYRO_UDPS[(r[_CTRL2_G] >> 2) & 3]
        c = self.cur
        s = self._sample
        for i in range(3):
            g = _sat(c[3 + i] * 10000000 // (REF_GYRO_LSB_PER_DPS_X10 * g_udps))
            a = _sat(c[i] * 1000000 // (REF_ACCEL_LSB_PER_G * a_ug))
            s[2 * i] = g & 0xFF
            s[2 * i + 1] = (g >> 8) & 0xFF
            s[6 + 2 * i] = a & 0xFF
            s[7 + 2 * i] = (a >> 8) & 0xFF
        for i in range(12):
            r[_OUTX_L_G + i] = s[i]
        r[_STATUS_REG] |= 0x03
        self._fifo_sample(s)

    def _read(self, reg, i):
        a = reg + i
        if a >= _OUTX_L_G and a <= 0x2D:
            self.regs[_STATUS_REG] &= 0xFC
        return self.regs[a & 0x7F]


_FIFO_CTRL3_DS3 = 0x08
_FIFO_CTRL5_DS3 = 0x0A
_FIFO_DATA_OUT_L = 0x3E


class LSM6DS3(_LSM6):
    """Pattern FIFO: words gx gy gz ax ay az, 4096 words (8 KB); burst reads of FIFO_DATA_OUT_L
    roll back to it."""
    NAME = "LSM6DS3"
    WHO = 0x69
    FIFO_BYTES = 8192

    def _write(self, reg, v):
        if reg == _FIFO_CTRL3_DS3 and v not in (0x00, 0x09):
            self._bad(reg, v, "this fake serves no decimation for both (0x09) or off")
        if reg == _FIFO_CTRL5_DS3:
            if (v & 7) not in (0, 1, 6):
                self._bad(reg, v, "FIFO_MODE must be bypass, FIFO or continuous")
            if (v & 7) == 0:
                self._fifo_clear()
        _LSM6._write(self, reg, v)

    def _fifo_on(self):
        r = self.regs
        return (r[_FIFO_CTRL5_DS3] & 7) and (r[_FIFO_CTRL5_DS3] >> 3) and r[_FIFO_CTRL3_DS3] == 0x09

    def _fifo_sample(self, s):
        if self._fifo_on() and self._fifo_push(s, 12):
            self.fifo_in += 1

    def _fifo_full(self):
        if (self.regs[_FIFO_CTRL5_DS3] & 7) == 6:   # continuous: drop the oldest
            for _ in range(12):
                self._fifo_pop()
        self.overflowed += 1
        self._ovr = True

    def _defaults(self):
        _LSM6._defaults(self)
        self._ovr = False

    def _read(self, reg, i):
        if reg == _FIFO_DATA_OUT_L:
            return self._fifo_pop()
        a = reg + i
        words = self.f_count >> 1
        if a == _FIFO_STATUS1:
            return words & 0xFF
        if a == _FIFO_STATUS2:
            v = (words >> 8) & 0x0F
            if self._ovr:
                v |= 0x40
                self._ovr = False
            if words == 0:
                v |= 0x10
            return v
        if a == 0x3C:       # FIFO_STATUS3: pattern index of the next word
            return ((12 - self.f_count % 12) % 12) // 2
        return _LSM6._read(self, reg, i)


_FIFO_CTRL3_OX = 0x09
_FIFO_CTRL4_OX = 0x0A
_FIFO_DATA_OUT_TAG = 0x78


class LSM6DSOX(_LSM6):
    """Tagged FIFO: 7-byte words (tag, x, y, z), gyro (tag 0x01) then accel (tag 0x02) per sample,
    512 words; burst reads from FIFO_DATA_OUT_TAG roll back every 7 bytes."""
    NAME = "LSM6DSOX"
    WHO = 0x6C
    FIFO_BYTES = 512 * 7
    FIFO_WORD = 14

    def __init__(self, source=None, phase_us=0):
        self._word = bytearray(14)
        _LSM6.__init__(self, source, phase_us)

    def _defaults(self):
        _LSM6._defaults(self)
        self._ovr = False

    def _write(self, reg, v):
        if reg == _FIFO_CTRL4_OX:
            if (v & 7) not in (0, 1, 6):
                self._bad(reg, v, "FIFO_MODE must be bypass, FIFO or continuous")
            if (v & 7) == 0:
                self._fifo_clear()
        if reg == _FIFO_CTRL3_OX and (v & 0x0F) != (v >> 4):
            self._bad(reg, v, "this fake needs the same batch rate for accel and gyro")
        _LSM6._write(self, reg, v)

    def _fifo_sample(self, s):
        r = self.regs
        if not (r[_FIFO_CTRL4_OX] & 7) or not (r[_FIFO_CTRL3_OX] & 0x0F):
            return
        w = self._word
        w[0] = 0x01 << 3
        w[7] = 0x02 << 3
        for i in range(6):
            w[1 + i] = s[i]
            w[8 + i] = s[6 + i]
        if self._fifo_push(w, 14):
            self.fifo_in += 1

    def _fifo_full(self):
        if (self.regs[_FIFO_CTRL4_OX] & 7) == 6:
            for _ in range(14):
                self._fifo_pop()
        self.overflowed += 1
        self._ovr = True

    def _read(self, reg, i):
        if reg == _FIFO_DATA_OUT_TAG:
            return self._fifo_pop()
        a = reg + i
        words = self.f_count // 7
        if a == _FIFO_STATUS1:
            return words & 0xFF
        if a == _FIFO_STATUS2:
            v = (words >> 8) & 0x03
            if self._ovr:
                v |= 0x40
                self._ovr = False
            return v
        return _LSM6._read(self, reg, i)
