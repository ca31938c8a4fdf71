"""Virtual clock of the virtual board: device time that advances only when told to.

The fake IMU produces samples as this clock passes their time, the app reads `ticks_ms()` from it,
and the run loop (`sbdev.vrun`) advances it, so a 10-minute trace replays in seconds. Ticks wrap
at 2**30 like the ESP32's `time.ticks_ms()`; `start(ms)` can put the clock just before a wrap.

    import vclock
    vclock.advance_us(5000); vclock.ticks_ms()
"""
_PERIOD = 1 << 30
_MASK = _PERIOD - 1
_HALF = 1 << 29

_now_us = 0          # virtual microseconds since the virtual boot
_offset_ms = 0       # ticks_ms() = (now + offset) mod 2**30, to test the wrap


def start(ticks_ms0=0):
    """Reset the virtual boot: time 0, and ticks_ms() starting at ticks_ms0."""
    global _now_us, _offset_ms
    _now_us = 0
    _offset_ms = ticks_ms0


def now_us():
    """Virtual time since start(), µs (never wraps: for the fakes, not for firmware)."""
    return _now_us


def advance_us(us):
    global _now_us
    if us > 0:
        _now_us += us


def advance_to_us(t_us):
    global _now_us
    if t_us > _now_us:
        _now_us = t_us


def ticks_ms():
    return (_now_us // 1000 + _offset_ms) & _MASK


def ticks_us():
    return (_now_us + _offset_ms * 1000) & _MASK


def ticks_diff(a, b):
    return ((a - b + _HALF) & _MASK) - _HALF


def ticks_add(a, delta):
    return (a + delta) & _MASK


def sleep_ms(ms):
    advance_us(ms * 1000)


def sleep_us(us):
    advance_us(us)
