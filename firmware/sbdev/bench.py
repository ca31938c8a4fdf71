"""Time the motion detector's per-sample step on the board it runs on.

    import sbdev.bench; sbdev.bench.cost("sb_bench.bin", 3)

`smartbell device bench` copies a vectors file (raw samples of a simulated session, written by
`smartbell.vectors`) to the board and runs this; `tests/benchmarks/firmware_cost.py` runs the same
code under the unix port and CPython. Samples are read block by block into a preallocated array
(a 30 s trace does not fit the heap); only the stepping loop is timed, gc is off while it runs,
and `gc.mem_alloc()` around it gives the bytes allocated. One line per run:
`cost <samples> <us> <bytes> <reps>`.

Vectors file: int32 little-endian; a header of HEADER_INTS (MAGIC, samples, has gyro,
accel LSB per g, gyro udps per LSB, number of param pairs, 0, 0), the (id, value) pairs, then
7 ints a sample (t_ms, ax, ay, az, gx, gy, gz).
"""
import gc
from array import array

try:
    from time import ticks_us, ticks_diff
except ImportError:                     # CPython
    from time import perf_counter_ns

    def ticks_us():
        return perf_counter_ns() // 1000

    def ticks_diff(a, b):
        return a - b

from sbcore.motion import Detector

MAGIC = 0x53424D56      # "SBMV"
HEADER_INTS = 8
CHUNK = 256             # samples per block: 7 KB, small beside a 56 KB heap


def open_vectors(path):
    """The open file, a detector set up as the header says, and the block buffer."""
    f = open(path, "rb")
    hdr = array("i", bytes(4 * HEADER_INTS))
    f.readinto(hdr)
    if hdr[0] != MAGIC:
        f.close()
        raise ValueError("not a vectors file")
    params = array("i", bytes(8 * hdr[5]))
    if hdr[5]:
        f.readinto(params)
    det = Detector(accel_lsb_per_g=hdr[3], gyro_mdps_per_lsb=hdr[4] / 1000000, has_gyro=bool(hdr[2]))
    for k in range(hdr[5]):
        if not det.set_param_id(params[2 * k], params[2 * k + 1]):
            f.close()
            raise ValueError("param refused")
    return f, det, array("i", bytes(28 * CHUNK))


def loop(det, buf, got):
    # No range object, no bound method object (det.step(...) is a method call, not a lookup that
    # builds one), no boxing: only what step() itself does.
    j = 0
    o = 0
    while j < got:
        det.step(buf[o], buf[o + 1], buf[o + 2], buf[o + 3], buf[o + 4], buf[o + 5], buf[o + 6])
        j += 1
        o += 7


def cost(path, runs=3):
    mem_alloc = getattr(gc, "mem_alloc", lambda: 0)     # CPython has no allocation counter
    for _ in range(runs):
        f, det, buf = open_vectors(path)
        n = 0
        us = 0
        alloc = 0
        gc.collect()
        gc.disable()
        try:
            while True:
                got = f.readinto(buf) // 28
                if not got:
                    break
                a0 = mem_alloc()
                t0 = ticks_us()
                loop(det, buf, got)
                us += ticks_diff(ticks_us(), t0)
                alloc += mem_alloc() - a0
                n += got
        finally:
            gc.enable()
            f.close()
        print("cost %d %d %d %d" % (n, us, alloc, det.rep_count))
