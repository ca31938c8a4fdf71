"""Stand-in for MicroPython's `machine` on the virtual board (tests, `smartbell demo`).

Pins you can drive from a test, an I2C bus that serves register-map devices (see `imus.py`) with
injectable OSErrors, an ADC reading a settable voltage, a watchdog checked in virtual time,
`unique_id()` and `reset()` (raises `Reset`, so a test sees it instead of a dead process).

    import machine, imus
    machine.attach_i2c(0, 0x68, imus.MPU6050(source))
    machine.fail_i2c(0, count=3, errno=5)          # the next 3 transfers raise OSError(EIO)
"""
import vclock

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3

_ENODEV = 19

_unique_id = b"\x24\x0a\xc4\x5b\x1e\x42"
_reset_cause = PWRON_RESET


class Reset(Exception):
    """machine.reset() was called (on a board the chip would reboot here)."""


def unique_id():
    return _unique_id


def set_unique_id(uid):
    global _unique_id
    _unique_id = bytes(uid)


def reset():
    raise Reset("machine.reset()")


def reset_cause():
    return _reset_cause


# -- pins --------------------------------------------------------------------------------------

_pins = {}


class Pin:
    IN = 1
    OUT = 3
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 2
    IRQ_RISING = 1

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.mode = mode
        self.pull = pull
        self._value = 1 if pull == Pin.PULL_UP else 0
        self._handler = None
        self._trigger = 0
        self.changes = 0           # output changes so far (a blinking LED counts up)
        # virtual ms spent high and the longest high pulse: an LED's duty cycle without a log
        # that would grow in the heap the firmware is measured in
        self.high_ms = 0
        self.longest_high_ms = 0
        self._since_ms = vclock.now_us() // 1000
        if value is not None:
            self.value(value)
        _pins[id] = self

    def value(self, v=None):
        if v is None:
            return self._value
        v = 1 if v else 0
        if v != self._value:
            self.changes += 1
            now = vclock.now_us() // 1000
            if self._value:
                held = now - self._since_ms
                self.high_ms += held
                if held > self.longest_high_ms:
                    self.longest_high_ms = held
            self._since_ms = now
        self._value = v

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=3):
        self._handler = handler
        self._trigger = trigger

    def high_total_ms(self):
        """Virtual ms this pin has been high, up to now."""
        return self.high_ms + (vclock.now_us() // 1000 - self._since_ms if self._value else 0)

    def _drive(self, v):
        """Test side: an external signal sets this input (and fires its IRQ on an edge)."""
        old = self._value
        self._value = 1 if v else 0
        if self._handler and old != self._value:
            edge = Pin.IRQ_RISING if self._value else Pin.IRQ_FALLING
            if self._trigger & edge:
                self._handler(self)


def pin(id):
    """The Pin object the firmware created for `id` (None if it made none)."""
    return _pins.get(id)


# -- I2C ---------------------------------------------------------------------------------------

_buses = {}      # bus id -> {address: device}
_faults = {}     # bus id -> [count, errno]


def attach_i2c(bus_id, address, device):
    _buses.setdefault(bus_id, {})[address] = device


def detach_i2c(bus_id, address=None):
    if address is None:
        _buses[bus_id] = {}
    else:
        _buses.get(bus_id, {}).pop(address, None)


def fail_i2c(bus_id, count=1, errno=5):
    """The next `count` transfers on the bus raise OSError(errno) (5 = EIO, 116 = ETIMEDOUT)."""
    _faults[bus_id] = [count, errno]


def reset_board():
    """Forget every pin, bus and fault (between tests in one process)."""
    _pins.clear()
    _buses.clear()
    _faults.clear()
    _adc_uv.clear()
    WDT._instance = None


class I2C:
    def __init__(self, id=0, scl=None, sda=None, freq=400000, timeout=50000):
        self.id = id
        self.scl = scl
        self.sda = sda
        self.freq = freq
        _buses.setdefault(id, {})

    def _dev(self, addr):
        f = _faults.get(self.id)
        if f and f[0] > 0:
            f[0] -= 1
            raise OSError(f[1])
        bus = _buses.get(self.id)
        dev = bus.get(addr) if bus else None
        if dev is None:
            raise OSError(_ENODEV)
        return dev

    def scan(self):
        return sorted(_buses[self.id])

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        self._dev(addr).mem_read_into(memaddr, buf)

    def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8):
        buf = bytearray(nbytes)
        self._dev(addr).mem_read_into(memaddr, buf)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        self._dev(addr).mem_write(memaddr, buf)



# -- ADC ---------------------------------------------------------------------------------------

_adc_uv = {}     # pin id -> microvolts at the pin


def set_adc_uv(pin_id, uv):
    _adc_uv[pin_id] = uv


class ADC:
    ATTN_11DB = 3

    def __init__(self, pin, atten=3):
        self.pin_id = pin.id if isinstance(pin, Pin) else pin
        self._atten = atten

    def atten(self, a):
        pass

    def read_uv(self):
        return _adc_uv.get(self.pin_id, 0)

    def read_u16(self):
        # 11 dB attenuation: about 0-3.1 V full scale
        v = _adc_uv.get(self.pin_id, 0) * 65535 // 3100000
        return 65535 if v > 65535 else v



# -- watchdog ----------------------------------------------------------------------------------

class WDT:
    """Checked in virtual time: feed() later than the timeout records a bite (`WDT.bites`), which
    on a board would have rebooted the chip."""
    _instance = None
    bites = 0
    max_gap_ms = 0

    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self._last_us = vclock.now_us()
        WDT._instance = self
        WDT.bites = 0
        WDT.max_gap_ms = 0

    def expired(self):
        """True if the board would have been reset by now (not fed within the timeout)."""
        return (vclock.now_us() - self._last_us) // 1000 > self.timeout

    def feed(self):
        now = vclock.now_us()
        gap = (now - self._last_us) // 1000
        if gap > WDT.max_gap_ms:
            WDT.max_gap_ms = gap
        if gap > self.timeout:
            WDT.bites += 1
        self._last_us = now
