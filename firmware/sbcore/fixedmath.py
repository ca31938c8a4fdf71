"""Integer maths for the per-sample path: no floats, so nothing is allocated on the device.

Floats are boxed (16 bytes each) on the ESP32 port, and integers above 2**30 become heap
objects there, so the detector works in small fixed-point integers and these helpers keep every
intermediate value below 2**30 for inputs of about 2 g (Q14) or less.

    >>> atan2_cdeg(1, 1)      # centidegrees
    4500
"""
try:
    import micropython
except ImportError:
    from sbcore.compat import micropython

# atan(i/64) in centidegrees for i = 0..64; linear interpolation between entries is accurate to
# about 0.01 degree.
_ATAN_CDEG = (
    0, 90, 179, 268, 358, 447, 536, 624, 713, 800, 888, 975, 1062, 1148, 1234, 1319, 1404, 1488,
    1571, 1653, 1735, 1817, 1897, 1977, 2056, 2134, 2211, 2287, 2363, 2438, 2511, 2584, 2657, 2728,
    2798, 2867, 2936, 3003, 3070, 3136, 3201, 3264, 3327, 3390, 3451, 3511, 3571, 3629, 3687, 3744,
    3800, 3855, 3909, 3963, 4016, 4067, 4119, 4169, 4218, 4267, 4315, 4363, 4409, 4455, 4500, 4500,
)


@micropython.native
def _atan_ratio_cdeg(num, den):
    # 0 <= num <= den, den > 0: atan(num/den) in centidegrees.
    r = (num << 12) // den          # 0..4096, i.e. Q12 of the ratio
    i = r >> 6
    lo = _ATAN_CDEG[i]
    return lo + (((_ATAN_CDEG[i + 1] - lo) * (r & 63)) >> 6)


@micropython.native
def atan2_cdeg(y, x):
    """Angle of the vector (x, y) for y >= 0, in centidegrees 0..18000."""
    ax = -x if x < 0 else x
    if y <= ax:
        if ax == 0:
            return 0
        a = _atan_ratio_cdeg(y, ax)
    else:
        a = 9000 - _atan_ratio_cdeg(ax, y)
    if x < 0:
        a = 18000 - a
    return a


@micropython.native
def isqrt(n):
    """floor(sqrt(n)) for 0 <= n < 2**30, by Newton's method on integers."""
    if n <= 0:
        return 0
    x = n
    y = (x + 1) >> 1
    while y < x:
        x = y
        y = (x + n // x) >> 1
    return x


@micropython.native
def hyp2(x, y):
    """sqrt(x*x + y*y) for |x|, |y| < 2**14.5: an octagon estimate polished by one Newton step."""
    if x < 0:
        x = -x
    if y < 0:
        y = -y
    if x < y:
        x, y = y, x
    if x == 0:
        return 0
    h = x + ((y * 3) >> 3)         # within 7 % of the true value, never zero
    return (h + (x * x + y * y) // h) >> 1
