"""Shims so the core runs unchanged on MicroPython and CPython.

    try:
        import micropython
        from micropython import const
    except ImportError:
        from sbcore.compat import micropython, const

MicroPython's compiler only recognises the literal decorator `@micropython.native`, so the core
keeps that spelling; on CPython `micropython` is the stand-in below and the decorator is a no-op.
"""
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

    class micropython:  # noqa: N801 - stands in for the module of that name
        @staticmethod
        def native(f):
            return f

        @staticmethod
        def viper(f):
            return f

        const = staticmethod(const)

# Device clocks are `time.ticks_ms()` values; on the ESP32 they wrap at 2**30. The core only ever
# subtracts them with ticks_diff, so it behaves the same on both ports and on host replays.
TICKS_PERIOD = const(1 << 30)
_TICKS_MASK = const((1 << 30) - 1)
_TICKS_HALF = const(1 << 29)


def ticks_diff(a, b):
    """a - b for tick values that wrap at 2**30 (same contract as time.ticks_diff on the ESP32)."""
    return ((a - b + _TICKS_HALF) & _TICKS_MASK) - _TICKS_HALF


def ticks_add(a, delta):
    return (a + delta) & _TICKS_MASK
