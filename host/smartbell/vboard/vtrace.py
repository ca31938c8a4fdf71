"""Trace files for the virtual board: CSV (as `smartbell simulate` writes) to the binary form
`imus.FileSource` streams (12 bytes per sample, int16 at the reference scale). Kept out of
`imus` so the converter is not resident while the firmware runs in a 56 KB heap.

    n, rate_hz = vtrace.csv_to_bin("trace.csv", "trace.bin")
"""
import struct

from imus import REF_ACCEL_LSB_PER_G, REF_GYRO_LSB_PER_DPS_X10, SAMPLE_BYTES, _sat


def csv_to_bin(csv_path, bin_path):
    """Convert a trace CSV (t,ax,ay,az,gx,gy,gz in g and deg/s, as `smartbell simulate` writes)
    into the binary form FileSource reads. Returns (samples, rate_hz)."""
    n = 0
    t0 = t1 = None
    out = bytearray(SAMPLE_BYTES)
    with open(csv_path) as src, open(bin_path, "wb") as dst:
        header = src.readline().strip().split(",")
        if header[:4] != ["t", "ax", "ay", "az"]:
            raise ValueError("%s: not a trace CSV (header %s)" % (csv_path, ",".join(header)))
        for line in src:
            parts = line.strip().split(",")
            if len(parts) < 4 or not parts[0]:
                continue
            t = float(parts[0])
            if t0 is None:
                t0 = t
            t1 = t
            vals = []
            for i in range(1, 7):
                s = parts[i] if i < len(parts) else ""
                x = float(s) if s else 0.0
                if i <= 3:
                    vals.append(_sat(int(round(x * REF_ACCEL_LSB_PER_G))))
                else:
                    vals.append(_sat(int(round(x * REF_GYRO_LSB_PER_DPS_X10 / 10))))
            struct.pack_into("<hhhhhh", out, 0, *vals)
            dst.write(out)
            n += 1
    rate = (n - 1) / (t1 - t0) if n > 1 and t1 > t0 else 0
    # Traces are taken at a whole number of Hz; the mean of jittered timestamps misses it by a
    # little, and served by time (imus.FileSource) that would slip a sample every few minutes.
    if rate and abs(rate - round(rate)) < 0.002 * rate:
        rate = float(round(rate))
    return n, rate
