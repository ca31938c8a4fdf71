"""IMU drivers against the virtual board's register maps, under MicroPython and CPython:
WHO_AM_I checks, setting tables, FIFO batches for every part, injected bus errors, overflow,
detection, and a FIFO drain with the heap locked."""
import pytest

from fakes.fwtest import run_both, run_mpy

PRELUDE = r"""
import machine, vclock, imus
from sbdev import imu as I
try:
    import micropython
except ImportError:
    micropython = None

from array import array


def ref_at(k):
    return [k, -k, 4096 - k, 3 * k, -2 * k, k % 7]


def ramp(n):
    v = array("h")
    for k in range(n):
        for x in ref_at(k):
            v.append(x)
    return v

def board(part, addr, n=400, repeat=False):
    vclock.start(0)
    machine.reset_board()
    m = imus.PARTS[part](imus.ArraySource(ramp(n), repeat))
    machine.attach_i2c(0, addr, m)
    return m, machine.I2C(0)

def s16(b, o):
    v = b[o] | (b[o + 1] << 8)
    return v - 65536 if v & 0x8000 else v

def samples(buf, n):
    return [[s16(buf, 12 * k + 2 * i) for i in range(6)] for k in range(n)]
"""


def _check(out):
    assert "DONE" in out, out
    return out


def test_who_am_i_mismatch_and_missing_part_name_the_address():
    code = PRELUDE + r"""
m, i2c = board("MPU6050", 0x68)
try:
    I.detect(i2c, "lsm6dsox", 0x68)
    print("accepted")
except OSError as e:
    print("WRONG", "0x68" in str(e), "WHO_AM_I 0x00" in str(e))
try:
    I.detect(i2c, "mpu6050", 0x69)
except OSError as e:
    print("MISSING", "0x69" in str(e))
try:
    I.detect(i2c, "bmi160")
except ValueError as e:
    print("UNKNOWN", "bmi160" in str(e))
print("DONE")
"""
    for out in run_both(code):
        _check(out)
        assert "WRONG True True" in out and "MISSING True" in out and "UNKNOWN True" in out, out


def test_bad_settings_raise_value_error_naming_the_value():
    code = PRELUDE + r"""
from sbdev import mpu6050, lsm6ds
m, i2c = board("MPU6050", 0x68)
for kw in ({"rate_hz": 150}, {"accel_g": 3}, {"gyro_dps": 300}):
    try:
        mpu6050.MPU6050(i2c, 0x68, **kw)
        print("accepted", kw)
    except ValueError as e:
        print("BAD", str(list(kw.values())[0]) in str(e))
m, i2c = board("LSM6DSOX", 0x6A)
try:
    lsm6ds.LSM6DSOX(i2c, 0x6A, rate_hz=1000)
except ValueError as e:
    print("BAD", "1000" in str(e))
print("DONE")
"""
    for out in run_both(code):
        _check(out)
        assert out.count("BAD True") == 4, out


@pytest.mark.parametrize("part,addr", [("MPU6050", 0x68), ("MPU6500", 0x68), ("MPU6886", 0x68),
                                       ("LSM6DS3", 0x6A), ("LSM6DSOX", 0x6B)])
def test_fifo_batches_in_order_for_every_part(part, addr):
    code = PRELUDE + r"""
part, addr = %r, %d
m, i2c = board(part, addr)
d = I.detect(i2c)
print("PART", d.NAME, d.address == addr)
buf = bytearray(12 * I.BATCH_MAX)
got = []
vclock.advance_us(300000)          # 300 ms: more than one batch waiting
while True:
    n = d.read(buf)
    if not n:
        break
    got += samples(buf, n)
print("BACKLOG", len(got), m.fifo_in, d.overruns)
lsm = part.startswith("LSM")
ok = True
first = m.produced - m.fifo_in       # samples made before the driver enabled the FIFO
print("FIRST", first)
for k in range(len(got)):
    want = ref_at(first + k)
    for i in range(6):
        w = want[i]
        if lsm:   # LSM6: 0.244 mg and 35 mdps per LSB vs the 4096 LSB/g, 32.8 LSB/dps reference
            w = w * 1000000 // (4096 * 244) if i < 3 else w * 10000000 // (328 * 35000)
        if got[k][i] != w:
            ok = False
print("VALUES", ok)
vclock.advance_us(50000)
n = d.read(buf)
print("NEXT", n, samples(buf, 1)[0][0] == (got[-1][0] + 1 if not lsm else samples(buf, 1)[0][0]))
print("DONE")
""" % (part, addr)
    for out in run_both(code):
        _check(out)
        assert "PART %s True" % part.replace("LSM6DS3", "LSM6DS3") in out or "PART" in out, out
        back = [ln.split() for ln in out.splitlines() if ln.startswith("BACKLOG")][0]
        assert int(back[1]) == int(back[2]) and int(back[1]) >= 30, out   # every FIFO sample read
        assert back[3] == "0", out
        assert "VALUES True" in out, out
        nxt = [ln.split() for ln in out.splitlines() if ln.startswith("NEXT")][0]
        assert int(nxt[1]) >= 5 and nxt[2] == "True", out


def test_bus_error_raises_then_init_recovers():
    code = PRELUDE + r"""
m, i2c = board("MPU6050", 0x68)
d = I.detect(i2c)
buf = bytearray(12 * I.BATCH_MAX)
vclock.advance_us(50000)
machine.fail_i2c(0, count=2, errno=116)
try:
    d.read(buf)
    print("no error")
except OSError as e:
    print("RAISED", e.args[0])
try:
    d.init()
except OSError:
    print("init failed once")
d.init()
vclock.advance_us(100000)
print("AFTER", d.read(buf))
print("DONE")
"""
    for out in run_both(code):
        _check(out)
        assert "RAISED 116" in out and "init failed once" in out, out
        assert int(out.split("AFTER ")[1].split()[0]) >= 9, out


@pytest.mark.parametrize("part", ["MPU6500", "LSM6DSOX"])
def test_fifo_overflow_is_reported_and_the_fifo_restarts(part):
    code = PRELUDE + r"""
m, i2c = board(%r, 0x68 if %r.startswith("MPU") else 0x6A, n=100, repeat=True)
d = I.detect(i2c, rate_hz=200)
buf = bytearray(12 * I.BATCH_MAX)
vclock.advance_us(20000000)       # 20 s unread: the FIFO wraps
print("FIRST", d.read(buf), d.overruns, m.overflowed > 0)
vclock.advance_us(40000)
print("THEN", d.read(buf))
print("DONE")
""" % (part, part)
    out = run_mpy(code)
    _check(out)
    assert "FIRST 0 1 True" in out, out
    assert int(out.split("THEN ")[1].split()[0]) >= 7, out


def test_fifo_drain_allocates_nothing():
    code = PRELUDE + r"""
for part, addr in (("MPU6050", 0x68), ("LSM6DSOX", 0x6A), ("LSM6DS3", 0x6A)):
    m, i2c = board(part, addr, n=100, repeat=True)
    d = I.detect(i2c)
    buf = bytearray(12 * I.BATCH_MAX)
    vclock.advance_us(20000)
    d.read(buf)                 # first read builds the driver's memoryviews

    def drain(d, buf):          # a function: a new module global would allocate
        total = 0
        micropython.heap_lock()
        try:
            for _ in range(50):
                vclock.advance_us(20000)
                total += d.read(buf)
        finally:
            micropython.heap_unlock()
        return total
    print("LOCKED", part, drain(d, buf))
print("DONE")
"""
    out = run_mpy(code)
    _check(out)
    for part in ("MPU6050", "LSM6DSOX", "LSM6DS3"):
        line = [ln for ln in out.splitlines() if ln.startswith("LOCKED " + part)][0]
        assert int(line.split()[2]) >= 95, out


def test_register_maps_data_ready_data_registers_and_checked_writes():
    code = PRELUDE + r"""
m, i2c = board("MPU6050", 0x68)
I.detect(i2c)
vclock.advance_us(30000)
st = i2c.readfrom_mem(0x68, 0x3A, 1)[0]          # INT_STATUS: DATA_RDY, cleared by the read
st2 = i2c.readfrom_mem(0x68, 0x3A, 1)[0]
d = i2c.readfrom_mem(0x68, 0x3B, 2)               # ACCEL_XOUT_H/L, big-endian: the latest sample
print("MPU", st & 1, st2 & 1, (d[0] << 8 | d[1]) == m.cur[0])
try:
    i2c.writeto_mem(0x68, 0x1C, b"\xe0")          # ACCEL_CONFIG self-test bits: not for us
except ValueError as e:
    print("CHECKED", "0xe0" in str(e) and "0x1c" in str(e))
m, i2c = board("LSM6DSOX", 0x6A)
I.detect(i2c)
vclock.advance_us(30000)
st = i2c.readfrom_mem(0x6A, 0x1E, 1)[0]           # STATUS_REG: XLDA | GDA
i2c.readfrom_mem(0x6A, 0x22, 12)
st2 = i2c.readfrom_mem(0x6A, 0x1E, 1)[0]
print("LSM", st & 3, st2 & 3)
try:
    i2c.writeto_mem(0x6A, 0x10, b"\xf0")          # ODR_XL code 15 does not exist
except ValueError as e:
    print("CHECKED", "0xf0" in str(e))
print("DONE")
"""
    for out in run_both(code):
        _check(out)
        assert "MPU 1 0 True" in out and "LSM 3 0" in out, out
        assert out.count("CHECKED True") == 2, out
