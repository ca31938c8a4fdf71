"""The firmware-side pipe transport (vboard/blepipe.py), driven over real pipes under both
MicroPython and CPython: lines out, IRQs in, lockstep pacing, garbage tolerated."""
import os
import subprocess
import sys

import pytest

from mpy import VBOARD, micropath, micropython_exe

DEVICE = r"""
import sys
import blepipe

class FakeBLE:
    def _deliver(self, event, data):
        t.notify(0, 99, bytes([event]) + bytes(repr(data), "utf-8"))

t = blepipe.Transport(lockstep=True)
t.attach(FakeBLE())
t.advertise(b"\x02\x01\x06", None)
t.register([["6e400001-b5a3-f393-e0a9-e50e24dcca9e", [[16, "6e400003-b5a3-f393-e0a9-e50e24dcca9e", 18]]]])
for step in range(5):
    t.pace(step * 20)
    t.notify(1, 16, bytes([step, 255]))
t.disconnect(1)
t.pace(1000)
t.notify(1, 16, b"late")
"""


def interpreters():
    yield pytest.param([sys.executable], id="cpython")
    yield pytest.param([micropython_exe(), "-X", "heapsize=56wK"], id="micropython")


@pytest.mark.parametrize("cmd", interpreters())
def test_pipe_lines_irqs_and_lockstep(cmd, tmp_path):
    script = tmp_path / "dev.py"
    script.write_text(DEVICE)
    env = dict(os.environ, MICROPYPATH=micropath(), PYTHONPATH=str(VBOARD))
    proc = subprocess.Popen(cmd + [str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)

    def line():
        return proc.stdout.readline().decode().strip()

    def send(text):
        proc.stdin.write(text.encode() + b"\n")
        proc.stdin.flush()

    try:
        assert line() == "A 020106 -"
        assert line().startswith('R [["6e400001-b5a3-f393-e0a9-e50e24dcca9e", [[16, "6e400003')
        assert line() == "T 0"  # nothing granted yet: the device clock waits
        send("this is not a command")  # tolerated, logged to stderr
        send("C 1 0 c01122334455")
        send("W 1 20 0a0b")
        send("M 1 247")
        send("G 40")
        got = [line() for _ in range(6)]
        assert got[0] == "N 0 99 01" + bytes(repr((1, 0, b"\xc0\x11\x22\x33\x44\x55")), "utf-8").hex()
        assert got[1].startswith("N 0 99 03")
        assert got[2] == "N 0 99 15" + bytes(repr((1, 247)), "utf-8").hex()
        # granted to 40: steps 0..2 run without asking again, step 3 (t=60) asks
        assert got[3:] == ["N 1 16 00ff", "N 1 16 01ff", "N 1 16 02ff"]
        assert line() == "T 60"
        send("G 1000")
        assert [line() for _ in range(3)] == ["N 1 16 03ff", "N 1 16 04ff", "D 1"]
        assert line() == "N 1 16 6c617465"  # t=1000 already granted: no T line
        assert proc.wait(timeout=10) == 0
        assert b"this is not a command" in proc.stderr.read()
    finally:
        proc.kill()


@pytest.mark.parametrize("cmd", interpreters())
def test_host_gone_ends_a_lockstep_run(cmd, tmp_path):
    script = tmp_path / "dev.py"
    script.write_text(DEVICE)
    env = dict(os.environ, MICROPYPATH=micropath(), PYTHONPATH=str(VBOARD))
    proc = subprocess.run(cmd + [str(script)], input=b"", capture_output=True, env=env, timeout=10)
    assert proc.returncode == 0
    assert proc.stdout.decode().splitlines()[-1] == "T 0"
