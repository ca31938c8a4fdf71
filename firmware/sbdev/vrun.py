"""Run the real firmware on the virtual board (host/smartbell/vboard): a fake IMU serves a trace.

    MICROPYPATH=host/smartbell/vboard:firmware:.frozen \\
        micropython -m sbdev.vrun TRACE.csv [--lockstep] [--speed X] [--imu mpu6050] [--rate 200]

A CSV trace is converted to a temporary binary file of its own and served at the trace's own
timestamps (device time = trace time, whatever the IMU's rate); a .bin is served one sample per
IMU sample. Virtual time: the clock moves 20 ms per app tick. `--lockstep`: stdout carries only transport
traffic (the pipe transport's), the log goes to stderr and the clock advances only as
`transport.pace()` allows. Otherwise the run is paced to wall-clock time x `--speed` (0: as fast as
possible). `--asyncio` runs the board's asyncio tasks against wall time instead of ticks.
Tests use `build()` and `run()` directly.
"""
import sys

import vclock
import imus
import board
from board import build, run

def _source_for(path, log):
    if path.endswith(".bin"):
        return imus.FileSource(path), 0
    import os
    # A name of its own per run (concurrent runs, even of one trace, must not share the file);
    # the file is unlinked once open, so nothing is left behind in TMPDIR.
    tag = "".join("%02x" % b for b in os.urandom(6))
    bin_path = "%s/smartbell-vrun-%s.bin" % (os.getenv("TMPDIR") or "/tmp", tag)
    import vtrace
    try:
        n, rate = vtrace.csv_to_bin(path, bin_path)
        source = imus.FileSource(bin_path, rate)
    finally:
        try:
            os.remove(bin_path)
        except OSError:
            pass
    del sys.modules["vtrace"]      # not resident while the firmware runs
    log("trace %s: %d samples at %.1f Hz" % (path, n, rate))
    return source, rate


def _stats(a, imu_map):
    return ('{"samples": %d, "produced": %d, "overflowed": %d, "events": %d, "events_sent": %d, '
            '"live_sent": %d, "commands": %d, "command_errors": %d, "virtual_s": %.3f}'
            % (a.samples, imu_map.produced, imu_map.overflowed, a.ring.next_seq, a.events_sent,
               a.live_sent, a.commands, a.command_errors, vclock.now_us() / 1e6))


try:
    from time import ticks_ms as _wall_ms, ticks_diff as _wall_diff, sleep_ms as _sleep_ms
except ImportError:  # CPython (the demo's fallback)
    import time as _time

    def _wall_ms():
        return int(_time.perf_counter() * 1000)

    def _wall_diff(a, b):
        return a - b

    def _sleep_ms(ms):
        _time.sleep(ms / 1000)


def main(argv):
    opts = {"--speed": "1", "--imu": "MPU6050", "--rate": "0", "--seconds": "0"}
    flags = set()
    path = None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in opts:
            if i + 1 >= len(argv):
                sys.stderr.write("vrun: %s needs a value\n" % a)
                return 2
            opts[a] = argv[i + 1]
            i += 2
            continue
        if a in ("--lockstep", "--asyncio", "--stats"):
            flags.add(a)
        elif a.startswith("-"):
            sys.stderr.write("vrun: unknown option %s\n" % a)
            return 2
        else:
            path = a
        i += 1
    if path is None:
        sys.stderr.write("usage: micropython -m sbdev.vrun TRACE.csv|TRACE.bin [--lockstep] "
                         "[--speed X] [--imu PART] [--rate HZ] [--seconds S] [--asyncio]\n")
        return 2
    lockstep = "--lockstep" in flags
    transport = None
    try:
        import os
        pipe = os.getenv("SMARTBELL_BLE_TRANSPORT") == "pipe"
    except (ImportError, AttributeError):
        pipe = False
    if pipe:
        import blepipe
        transport = blepipe.Transport(lockstep=True if lockstep else None)

    def log(msg):
        # stdout belongs to the pipe transport's traffic when there is one
        if lockstep or pipe:
            sys.stderr.write(msg + "\n")
        else:
            print(msg)

    part = opts["--imu"].upper()
    if part not in imus.PARTS:
        log("vrun: --imu %s unknown: one of %s" % (opts["--imu"], ", ".join(imus.NAMES)))
        return 2
    try:
        source, trace_rate = _source_for(path, log)
    except (OSError, ValueError) as exc:
        log("vrun: cannot read %s: %s" % (path, exc))
        return 2
    rate = int(opts["--rate"]) or (200 if trace_rate > 150 else 100)
    a, imu_map, _t = build(source, part, rate, transport=transport, log=log)
    seconds = float(opts["--seconds"]) or None
    if "--asyncio" in flags:
        return _run_asyncio(a, imu_map, seconds or 5.0, float(opts["--speed"]) or 1.0, log)
    speed = float(opts["--speed"])
    wall0 = _wall_ms()

    def pace(app):
        if lockstep or speed <= 0:
            return
        ahead = int(vclock.now_us() / 1000 / speed) - _wall_diff(_wall_ms(), wall0)
        if ahead > 0:
            _sleep_ms(ahead)

    run(a, seconds=seconds, on_tick=pace, imu_map=imu_map)
    log(_stats(a, imu_map))
    return 0


def _run_asyncio(a, imu_map, seconds, speed, log):
    """The board's own asyncio tasks (App.run) with the virtual clock following wall time
    (MicroPython only: the tasks use asyncio.sleep_ms)."""
    import asyncio
    wall0 = _wall_ms()

    def follow():
        vclock.advance_to_us(int(_wall_diff(_wall_ms(), wall0) * 1000 * speed))

    class WallClock(board.Clock):
        @staticmethod
        def ticks_ms():
            follow()
            return vclock.ticks_ms()

    a.clock = WallClock

    async def main_task():
        task = asyncio.create_task(a.run())
        await asyncio.sleep_ms(int(seconds * 1000 / speed))
        task.cancel()

    asyncio.run(main_task())
    log(_stats(a, imu_map))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
