"""The virtual board assembled: fake IMU on the I2C bus, stand-in radio, virtual clock, and the
real firmware app on top, ticked in virtual time (used by `sbdev.vrun`, tests and benchmarks).

    app, imu_map, transport = board.build(imus.FileSource("t.bin"), "MPU6050", rate_hz=200)
    board.run(app, imu_map=imu_map)          # until the trace ends, plus a 1 s tail
"""
import sys

import machine
import bluetooth
import vclock
import imus

TICK_US = 20000


class Clock:
    """The virtual clock seen through the `time`-module names the app uses."""
    ticks_ms = staticmethod(vclock.ticks_ms)
    ticks_diff = staticmethod(vclock.ticks_diff)
    ticks_add = staticmethod(vclock.ticks_add)


def _unload(pkg, name):
    # forget a module so its code can be freed: sys.modules and the package attribute both
    sys.modules.pop(pkg + "." + name, None)
    p = sys.modules.get(pkg)
    if p is not None and name in p.__dict__:
        delattr(p, name)


def build(source, part="MPU6050", rate_hz=100, address=None, cfg=None, transport=None,
          ticks_ms0=0, log=None, phase_us=0):
    """A fresh virtual board with `part` serving `source` and the app on it.
    Returns (app, imu_map, transport)."""
    vclock.start(ticks_ms0)
    machine.reset_board()
    from sbdev import config as config_mod
    conf = config_mod.parse("{}", log=lambda m: None)
    _unload("sbdev", "config")          # boot-time only, as on the board
    conf["rate_hz"] = rate_hz
    if cfg:
        for k in cfg:
            conf[k] = cfg[k]
    part_map = imus.PARTS[part](source, phase_us)
    if address is None:
        address = 0x68 if part.startswith("MPU") else 0x6A
    machine.attach_i2c(conf["i2c"]["id"], address, part_map)
    ble = bluetooth._reset(transport)
    if isinstance(ble.transport, bluetooth.MemoryTransport) and ble.transport.clock is None:
        ble.transport.clock = vclock.ticks_ms
    import gc
    from sbdev import app as app_mod
    gc.collect()
    i2c = machine.I2C(conf["i2c"]["id"], scl=machine.Pin(conf["i2c"]["scl"]),
                      sda=machine.Pin(conf["i2c"]["sda"]), freq=conf["i2c"]["freq"])
    wdt = machine.WDT(timeout=8000)
    a = app_mod.App(conf, i2c, Clock, ble, wdt=wdt,
                    hooks=(bluetooth._poll_hook, bluetooth._pace_hook),
                    log=log or (lambda m: None))
    return a, part_map, ble.transport


def run(a, seconds=None, until=None, on_tick=None, tail_s=1.0, imu_map=None):
    """Tick the app in virtual time: for `seconds`, or until `until()` is true, or (with imu_map)
    until its source runs out plus `tail_s`. `on_tick(app)` runs after every tick."""
    end_us = vclock.now_us() + int(seconds * 1000000) if seconds is not None else None
    tail_end = None
    while True:
        vclock.advance_us(TICK_US)
        a.tick()
        if on_tick is not None:
            on_tick(a)
        now = vclock.now_us()
        if end_us is not None and now >= end_us:
            return
        if until is not None and until():
            return
        if imu_map is not None and imu_map.exhausted:
            if tail_end is None:
                tail_end = now + int(tail_s * 1000000)
            elif now >= tail_end:
                return
