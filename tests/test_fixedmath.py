"""Integer maths of the detector (sbcore.fixedmath) against CPython's math, and the very same
results under the MicroPython unix port (firmware compiled to .mpy, @native code as on the device).
"""
import contextlib
import io
import math

import pytest
from hypothesis import given, settings, strategies as st

from sbcore.fixedmath import atan2_cdeg, hyp2, isqrt

from mpy import run_micropython

Q = 1 << 15          # the detector feeds Q14 values of up to about 2 g

# Worst case: the Q12 ratio is floored (1/4096 rad = 1.4 cdeg), table entries are rounded
# (0.5 cdeg), the interpolation is floored (1 cdeg).
ATAN_TOL_CDEG = 3


def true_cdeg(y, x):
    return math.degrees(math.atan2(y, x)) * 100


def hyp_ok(x, y, h):
    # One Newton step from an estimate within 7 %: within 0.3 %, and never more than one below.
    t = math.hypot(x, y)
    return t - 1 <= h <= t * 1.003 + 1


def test_atan2_special_angles():
    assert atan2_cdeg(0, 0) == 0
    assert atan2_cdeg(0, 1000) == 0
    assert atan2_cdeg(1000, 1000) == 4500
    assert atan2_cdeg(1000, 0) == 9000
    assert atan2_cdeg(1000, -1000) == 13500
    assert atan2_cdeg(0, -1000) == 18000


def test_atan2_grid_against_math():
    worst = 0.0
    for y in range(0, Q, 97):
        for x in range(-Q, Q, 389):
            worst = max(worst, abs(atan2_cdeg(y, x) - true_cdeg(y, x)))
    assert worst <= ATAN_TOL_CDEG


def test_atan2_every_small_vector():
    for y in range(0, 65):
        for x in range(-64, 65):
            if x or y:
                assert abs(atan2_cdeg(y, x) - true_cdeg(y, x)) <= ATAN_TOL_CDEG, (y, x)


def test_atan2_is_monotonic_in_the_angle():
    # Walk the upper half of a square around the origin, counter-clockwise from 0 to 180 degrees.
    s = 16384
    path = ([(t, s) for t in range(0, s, 4)] + [(s, s - t) for t in range(0, 2 * s, 4)]
            + [(s - t, -s) for t in range(0, s + 1, 4)])
    angles = [atan2_cdeg(y, x) for y, x in path]
    assert angles[0] == 0 and angles[-1] == 18000
    assert all(b >= a for a, b in zip(angles, angles[1:]))


@settings(max_examples=400, deadline=None)
@given(st.integers(0, Q), st.integers(-Q, Q))
def test_atan2_property(y, x):
    a = atan2_cdeg(y, x)
    assert 0 <= a <= 18000
    if x or y:
        assert abs(a - true_cdeg(y, x)) <= ATAN_TOL_CDEG


def test_isqrt_exact_on_small_numbers_and_around_every_square():
    for n in range(0, 70000):
        assert isqrt(n) == math.isqrt(n), n
    for k in range(1, 1 << 15, 3):
        for n in (k * k - 1, k * k, k * k + 1):
            if n < 1 << 30:
                assert isqrt(n) == math.isqrt(n), n
    assert isqrt((1 << 30) - 1) == math.isqrt((1 << 30) - 1)
    assert isqrt(-5) == 0


@settings(max_examples=400, deadline=None)
@given(st.integers(0, (1 << 30) - 1))
def test_isqrt_property(n):
    assert isqrt(n) == math.isqrt(n)


def test_hyp2_grid_against_math():
    lim = 23170                      # |x|, |y| < 2**14.5
    for x in range(-lim, lim + 1, 131):
        for y in range(-lim, lim + 1, 137):
            assert hyp_ok(x, y, hyp2(x, y)), (x, y)
    for x in range(-40, 41):
        for y in range(-40, 41):
            assert hyp_ok(x, y, hyp2(x, y)), (x, y)
    assert hyp2(0, 0) == 0 and hyp2(3, 4) == 5 and hyp2(-16384, 0) == 16384


@settings(max_examples=400, deadline=None)
@given(st.integers(-23170, 23170), st.integers(-23170, 23170))
def test_hyp2_property(x, y):
    h = hyp2(x, y)
    assert hyp_ok(x, y, h)
    assert h == hyp2(y, x) == hyp2(-x, y) == hyp2(x, -y)


# -- the same results under MicroPython ------------------------------------------------------------

GRID = r"""
from sbcore.fixedmath import atan2_cdeg, isqrt, hyp2
out = []
for y in range(0, 32768, 1031):
    for x in range(-32768, 32768, 2053):
        out.append(atan2_cdeg(y, x))
print("atan", out)
out = []
for n in range(0, 1 << 30, 1048573):
    out.append(isqrt(n))
for n in range(0, 3000):
    out.append(isqrt(n))
print("isqrt", out)
out = []
for x in range(-23170, 23171, 1511):
    for y in range(-23170, 23171, 1499):
        out.append(hyp2(x, y))
print("hyp2", out)
"""


def test_micropython_gives_the_same_results_as_cpython():
    from fakes.mpybuild import build_mpy

    mpy = run_micropython(GRID, extra_path=(build_mpy(),)).stdout.decode().splitlines()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(GRID, {})
    lines = buf.getvalue().splitlines()
    assert [ln.split()[0] for ln in mpy] == ["atan", "isqrt", "hyp2"]
    assert mpy == lines
    assert len(lines[0]) > 1000      # a real grid went through, not an empty list


@pytest.mark.parametrize("fn,args,expected", [
    ("atan2_cdeg", (1, 1), 4500), ("isqrt", (1 << 28,), 1 << 14), ("hyp2", (-3, 4), 5)])
def test_micropython_native_spot_values(fn, args, expected):
    from fakes.mpybuild import build_mpy

    out = run_micropython(f"from sbcore.fixedmath import {fn}; print({fn}{args!r})",
                          extra_path=(build_mpy(),)).stdout.decode().strip()
    assert int(out) == expected
