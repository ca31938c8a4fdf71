"""The data check of the accuracy benchmark: recordings that lost samples between packets."""
import importlib.util

import numpy as np
import pytest

from smartbell.simulate import simulate

from mpy import ROOT


@pytest.fixture(scope="module")
def accuracy():
    spec = importlib.util.spec_from_file_location("accuracy", ROOT / "tests" / "benchmarks" / "accuracy.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _wrist_like(n, seed=0):
    # Smooth irregular three-axis movement (random steps low-passed over ~1 s at 50 Hz) plus
    # sensor noise: no period that a dropped packet could happen to span exactly.
    rng = np.random.default_rng(seed)
    a = np.cumsum(rng.normal(0, 0.03, (n, 3)), axis=0)
    for _ in range(3):
        a = np.apply_along_axis(lambda c: np.convolve(c, np.ones(25) / 25, mode="same"), 0, a)
    return a + rng.normal(0, 0.01, a.shape)


def test_continuous_recordings_have_no_gaps(accuracy):
    assert accuracy.packet_gaps(_wrist_like(3000)) is None
    for exercise in ("good-morning", "hyperextension"):
        tr = simulate(exercise, 6, seed=3, messy=True, gyro=False)
        assert accuracy.packet_gaps(tr.accel_g) is None


@pytest.mark.parametrize("packet", [50, 102, 112])
def test_samples_lost_between_packets_are_found(accuracy, packet):
    # Keep every other packet: what a receiver that drops half the packets writes, with a time
    # column that does not show it.
    a = _wrist_like(packet * 16, seed=packet)
    kept = np.concatenate([a[i:i + packet] for i in range(0, len(a), 2 * packet)])
    assert accuracy.packet_gaps(kept) == packet


def test_too_few_packets_to_tell(accuracy):
    packet = 100
    a = _wrist_like(packet * 6)
    kept = np.concatenate([a[i:i + packet] for i in range(0, len(a), 2 * packet)])   # 3 packets
    assert accuracy.packet_gaps(kept) is None
