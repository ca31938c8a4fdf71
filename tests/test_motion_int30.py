"""The detector's arithmetic stays within MicroPython small ints on a 32-bit board.

On the ESP32 an int is "small" (no heap) only within [-2**30, 2**30). Any intermediate result
outside that range becomes a long int: an allocation on the per-sample path, which under the
firmware's `micropython.heap_lock()` is a MemoryError. The unix port runs the tests with 64-bit
small ints and cannot show it, so here every arithmetic result in `sbcore/motion.py` and
`sbcore/fixedmath.py` is checked: the modules are recompiled with each binary operation wrapped
in a range check and run, under CPython, over traces chosen to reach the extremes (full-scale
sensors, 12.5 to 400 Hz, gaps in time, tick wrap-around, every detector signal).
"""
import ast
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from smartbell.analyze import ACCEL_LSB_PER_G, GYRO_LSB_PER_DPS, Trace, to_raw
from smartbell.simulate import simulate

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 1 << 30


class _Wrap(ast.NodeTransformer):
    """a op b -> _chk(a op b, line); x op= y -> x = _chk(x op y, line)."""

    def visit_BinOp(self, node):
        self.generic_visit(node)
        return ast.copy_location(ast.Call(ast.Name("_chk", ast.Load()),
                                          [node, ast.Constant(node.lineno)], []), node)

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        target_load = ast.parse(ast.unparse(node.target), mode="eval").body
        value = ast.BinOp(target_load, node.op, node.value)
        call = ast.Call(ast.Name("_chk", ast.Load()), [value, ast.Constant(node.lineno)], [])
        return ast.copy_location(ast.Assign([node.target], call), node)


def _instrumented(modname: str, path: Path, seen: dict) -> types.ModuleType:
    tree = _Wrap().visit(ast.parse(path.read_text(), str(path)))
    ast.fix_missing_locations(tree)
    mod = types.ModuleType(modname)
    mod.__file__ = str(path)

    def _chk(value, line):
        if type(value) is int and not -LIMIT <= value < LIMIT:
            seen.setdefault((path.name, line), value)
        return value

    mod._chk = _chk
    exec(compile(tree, str(path), "exec"), mod.__dict__)
    return mod


@pytest.fixture(scope="module")
def checked():
    """(Detector class of the instrumented modules, dict of (file, line) -> first big value)."""
    seen: dict = {}
    saved = {k: sys.modules.get(k) for k in ("sbcore.fixedmath", "sbcore.motion")}
    try:
        fixed = _instrumented("sbcore.fixedmath", ROOT / "firmware/sbcore/fixedmath.py", seen)
        sys.modules["sbcore.fixedmath"] = fixed
        motion = _instrumented("sbcore.motion", ROOT / "firmware/sbcore/motion.py", seen)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return motion, seen


def _feed(motion, t_ms, acc, gyr, *, has_gyro, params=(), tick0=0):
    det = motion.Detector(accel_lsb_per_g=ACCEL_LSB_PER_G, gyro_mdps_per_lsb=1000 / GYRO_LSB_PER_DPS,
                          has_gyro=has_gyro)
    for name, value in params:
        det.set_param(name, value)
    mask = (1 << 30) - 1
    for i in range(len(t_ms)):
        g = gyr[i] if gyr is not None else (0, 0, 0)
        det.step((int(t_ms[i]) + tick0) & mask, int(acc[i][0]), int(acc[i][1]), int(acc[i][2]),
                 int(g[0]), int(g[1]), int(g[2]))
    return det


def _report(seen):
    return "; ".join(f"{f}:{line} reached {v}" for (f, line), v in sorted(seen.items()))


@pytest.mark.parametrize("signal", [0, 1, 2])
@pytest.mark.parametrize("gyro", [True, False])
def test_simulated_sessions_stay_small(checked, signal, gyro):
    motion, seen = checked
    seen.clear()
    for exercise, rate, seed in (("good-morning", 12.5, 5), ("hyperextension", 400.0, 6),
                                 ("good-morning", 100.0, 7)):
        # (floor_near_far: the pick-up ends in a carry judgement that re-learns the start.)
        tr = simulate(exercise, 4, seed=seed, messy=True, gyro=gyro, rate_hz=rate,
                      floor_near_far=seed == 7)
        t_ms, acc, gyr = to_raw(Trace(tr.t_s, tr.accel_g, tr.gyro_dps))
        # Start close to the tick wrap so that it happens during the set.
        _feed(motion, t_ms, acc, gyr, has_gyro=gyro, params=[("signal", signal)],
              tick0=(1 << 30) - int(t_ms[len(t_ms) // 2]))
    assert not seen, _report(seen)


@pytest.mark.parametrize("gyro", [True, False])
def test_full_scale_sensors_and_gaps_stay_small(checked, gyro):
    # The sensors at their limits (int16 both ways, flipping), and the clock jumping.
    motion, seen = checked
    seen.clear()
    rng = np.random.default_rng(1)
    n = 3000
    t = np.cumsum(rng.choice([1, 5, 80, 200, 900], size=n, p=[0.2, 0.5, 0.2, 0.09, 0.01]))
    acc = rng.choice([-32768, -16384, 0, 8192, 32767], size=(n, 3))
    gyr = rng.choice([-32768, -100, 0, 100, 32767], size=(n, 3)) if gyro else None
    for signal in (0, 1, 2):
        _feed(motion, t, acc, gyr, has_gyro=gyro, params=[("signal", signal)])
    # A hard, fast spin: the gyro saturated for seconds while the accelerometer goes round.
    ang = np.arange(n) * 0.3
    acc = np.stack([32767 * np.cos(ang), 32767 * np.sin(ang), np.full(n, -32768)], axis=1).astype(int)
    gyr = np.full((n, 3), 32767) if gyro else None
    _feed(motion, np.arange(n) * 5, acc, gyr, has_gyro=gyro)
    assert not seen, _report(seen)


def test_the_check_finds_big_intermediates(checked):
    # The checker itself: a product that leaves the small-int range is reported with its line.
    seen: dict = {}
    tree = _Wrap().visit(ast.parse("def f(a):\n    x = a * a\n    x += 1\n    return x\n"))
    ast.fix_missing_locations(tree)
    ns = {"_chk": lambda v, line: (seen.setdefault(line, v) if not -LIMIT <= v < LIMIT else None, v)[1]}
    exec(compile(tree, "<t>", "exec"), ns)
    assert ns["f"](1000) == 1000001 and not seen
    assert ns["f"](1 << 15) == (1 << 30) + 1 and set(seen) == {2, 3}
    assert math.isfinite(len(checked[1]))
