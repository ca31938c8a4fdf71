"""Recordings that lost samples between transfer packets: found without labels, reported by
`smartbell analyze` (and used by the accuracy benchmark to set such external files apart)."""
import json

import numpy as np
import pytest

from smartbell.analyze import packet_gaps
from smartbell.cli import main as cli_main
from smartbell.simulate import simulate


def _wrist_like(n, seed=0):
    # Smooth irregular three-axis movement (random steps low-passed over ~1 s at 50 Hz) plus
    # sensor noise: no period that a dropped packet could happen to span exactly.
    rng = np.random.default_rng(seed)
    a = np.cumsum(rng.normal(0, 0.03, (n, 3)), axis=0)
    for _ in range(3):
        a = np.apply_along_axis(lambda c: np.convolve(c, np.ones(25) / 25, mode="same"), 0, a)
    return a + rng.normal(0, 0.01, a.shape)


def test_continuous_recordings_have_no_gaps():
    assert packet_gaps(_wrist_like(3000)) is None
    for exercise in ("good-morning", "hyperextension"):
        tr = simulate(exercise, 6, seed=3, messy=True, gyro=False)
        assert packet_gaps(tr.accel_g) is None


@pytest.mark.parametrize("packet", [50, 102, 112])
def test_samples_lost_between_packets_are_found(packet):
    # Keep every other packet: what a receiver that drops half the packets writes, with a time
    # column that does not show it.
    a = _wrist_like(packet * 16, seed=packet)
    kept = np.concatenate([a[i:i + packet] for i in range(0, len(a), 2 * packet)])
    assert packet_gaps(kept) == packet


def test_too_few_packets_to_tell():
    packet = 100
    a = _wrist_like(packet * 6)
    kept = np.concatenate([a[i:i + packet] for i in range(0, len(a), 2 * packet)])   # 3 packets
    assert packet_gaps(kept) is None


def test_analyze_warns_about_a_recording_with_lost_packets(tmp_path, capsys):
    # A simulated set written as a receiver that dropped every other 100-sample packet would
    # write it: the time column runs on evenly, the movement jumps at each boundary.
    tr = simulate("good-morning", 6, seed=2, rate_hz=50.0, gyro=False)
    keep = np.concatenate([np.arange(i, min(i + 100, len(tr.t_s))) for i in range(0, len(tr.t_s), 200)])
    acc = tr.accel_g[keep]
    t = np.arange(len(acc)) / 50.0
    path = tmp_path / "gapped.csv"
    rows = [f"{t[i]:.4f},{acc[i][0]:.4f},{acc[i][1]:.4f},{acc[i][2]:.4f},,," for i in range(len(acc))]
    path.write_text("t,ax,ay,az,gx,gy,gz\n" + "\n".join(rows) + "\n")
    assert cli_main(["analyze", str(path), "--exercise", "good-morning", "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "every 100 samples" in err and "gapped.csv" in err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert len(summary["data_warnings"]) == 1 and "lost" in summary["data_warnings"][0]
    # The whole recording: no warning.
    whole = tmp_path / "whole.csv"
    rows = [f"{tr.t_s[i]:.4f},{tr.accel_g[i][0]:.4f},{tr.accel_g[i][1]:.4f},{tr.accel_g[i][2]:.4f},,,"
            for i in range(len(tr.t_s))]
    whole.write_text("t,ax,ay,az,gx,gy,gz\n" + "\n".join(rows) + "\n")
    assert cli_main(["analyze", str(whole), "--exercise", "good-morning", "--out", str(tmp_path / "w")]) == 0
    assert "warning" not in capsys.readouterr().err
    assert json.loads((tmp_path / "w" / "summary.json").read_text())["data_warnings"] == []
