"""`smartbell device bench` without a board: the exact code it sends runs under the real MicroPython
unix port against the installed firmware modules (a stand-in for mpremote keeps a board's file
system in a directory), and every way it can fail says so in one line."""
import os
import re
import shutil
import subprocess
import sys

import pytest

from fakes.mpybuild import build_mpy
from mpy import micropath, micropython_exe
from smartbell import device


class FakeBoard:
    """mpremote's `fs cp`, `fs rm`, `soft-reset exec` and `reset` on a directory, with the
    firmware on the module path (or not, for a board where it was never installed)."""

    def __init__(self, root, installed=True):
        self.root = root
        self.installed = installed
        self.calls = []

    def __call__(self, port, args, what, timeout):
        self.calls.append(args)
        if args[:2] == ["fs", "cp"]:
            shutil.copy(args[2], self.root / args[3].lstrip(":"))
            return ""
        if args[:2] == ["fs", "rm"]:
            (self.root / args[2].lstrip(":")).unlink()
            return ""
        if args[:2] == ["soft-reset", "exec"]:
            env = dict(os.environ, MICROPYPATH=micropath(build_mpy()) if self.installed else ".frozen")
            proc = subprocess.run([micropython_exe(), "-X", "heapsize=56wK", "-c", args[2]], cwd=self.root,
                                  capture_output=True, text=True, timeout=timeout, env=env)
            if proc.returncode != 0:      # what mpremote does with a traceback on the board
                raise device.DeviceError(f"{what} on {port} failed: {proc.stdout.strip().splitlines()[-1]}")
            return proc.stdout
        raise AssertionError(f"unexpected mpremote command {args}")


@pytest.fixture
def board(tmp_path, monkeypatch):
    fake = FakeBoard(tmp_path)
    monkeypatch.setattr(device, "_mpremote", fake)
    monkeypatch.setattr(device, "_check_port", lambda port: None)
    return fake


def test_bench_times_the_installed_detector_and_cleans_up(board, capsys):
    assert device.bench("/dev/ttyUSB0", reps=2, rate_hz=100.0, runs=2) == 0
    out = capsys.readouterr().out
    assert " us/sample (" in out and "% of a 100 Hz sample period" in out
    assert "0.00 bytes allocated/sample" in out           # the step allocates nothing there either
    assert re.search(r"^reps: 2 on the board, 2 on the host replay$", out, re.M), out
    assert list(board.root.iterdir()) == []               # the trace is removed from the board
    assert board.calls[-1][-1] == "reset"                 # and the app restarted


def test_bench_on_a_board_without_the_firmware_says_to_install_it(board):
    board.installed = False
    with pytest.raises(device.DeviceError, match=r"ImportError.*smartbell device install --port /dev/ttyUSB0"):
        device.bench("/dev/ttyUSB0", reps=1, rate_hz=50.0, runs=1)
    assert list(board.root.iterdir()) == []               # removed even then


def test_parse_bench_takes_the_median_run_and_rejects_junk():
    res = device.parse_bench("cost 1000 2500 0 3\ncost 1000 2000 0 3\ncost 1000 9000 16 3\n")
    assert res == {"samples": 1000, "runs": 3, "us_per_sample": 2.5, "bytes_per_sample": 0.0, "reps": 3}
    for junk in ("", "Traceback (most recent call last):\nImportError: no module named 'sbdev'",
                 "cost 0 0 0 0", "cost x y z w"):
        with pytest.raises(device.DeviceError, match="smartbell device install"):
            device.parse_bench(junk)


def test_bench_cli_without_a_board_names_the_port():
    proc = subprocess.run([sys.executable, "-m", "smartbell.cli", "device", "bench", "--port",
                           "/dev/ttyUSB-smartbell-none"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "/dev/ttyUSB-smartbell-none" in proc.stderr and len(proc.stderr.splitlines()) == 1
