"""Raw sample files that the firmware's detector can be stepped through on any interpreter.

The format is `sbdev.bench`'s (int32: header, param pairs, 7 ints a sample): the benchmark runs
it under the unix port and CPython, `smartbell device bench` on a real board.
"""
from __future__ import annotations

from array import array
from pathlib import Path

from sbcore.motion import PARAMS
from sbdev.bench import MAGIC


def write_vectors(path: Path, t_ms, acc, gyr, *, accel_lsb_per_g: int, gyro_mdps_per_lsb: float,
                  params: dict | None = None) -> Path:
    """Raw samples (ticks and int16, as `smartbell.analyze.to_raw` gives them) as an int32 file
    the runner can read block by block into preallocated arrays under either interpreter."""
    ids = {p[1]: p[0] for p in PARAMS}
    pairs = [v for name, value in (params or {}).items() for v in (ids[name], int(value))]
    has_gyro = gyr is not None
    out = array("i", [MAGIC, len(t_ms), int(has_gyro), int(accel_lsb_per_g),
                      int(round(gyro_mdps_per_lsb * 1_000_000)), len(pairs) // 2, 0, 0])
    out.extend(pairs)
    for i in range(len(t_ms)):
        g = gyr[i] if has_gyro else (0, 0, 0)
        out.extend((int(t_ms[i]), int(acc[i][0]), int(acc[i][1]), int(acc[i][2]),
                    int(g[0]), int(g[1]), int(g[2])))
    path.write_bytes(out.tobytes())
    return path


def vectors_from_trace(path: Path, trace, spec_name: str, *, tick0_ms: int = 0) -> Path:
    """Write a simulated trace as the analyzer would feed it (same scales, the spec's params)."""
    from smartbell.analyze import ACCEL_LSB_PER_G, GYRO_LSB_PER_DPS, Trace, to_raw
    from smartbell.spec import load_spec

    t_ms, acc, gyr = to_raw(Trace(trace.t_s, trace.accel_g, trace.gyro_dps))
    t_ms = (t_ms + tick0_ms) & ((1 << 30) - 1)
    return write_vectors(path, t_ms.tolist(), acc.tolist(), None if gyr is None else gyr.tolist(),
                         accel_lsb_per_g=ACCEL_LSB_PER_G, gyro_mdps_per_lsb=1000 / GYRO_LSB_PER_DPS,
                         params=load_spec(spec_name).detector_params())
