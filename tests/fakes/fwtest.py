"""CPython side: run a firmware test script under MicroPython (compiled build, ESP32 heap) and
under CPython, both with the virtual board on the path. Scripts print lines; a failed assert is a
traceback and a non-zero exit, which fails the test with the whole output attached.

    out = run_mpy(SCRIPT); out2 = run_cpython(SCRIPT)
"""
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from mpy import run_micropython  # noqa: E402
from fakes.mpybuild import build_mpy  # noqa: E402

VBOARD = ROOT / "host" / "smartbell" / "vboard"
FIRMWARE = ROOT / "firmware"


def run_mpy(code, heapsize="56wK", timeout=120):
    proc = run_micropython(code, extra_path=(build_mpy(),), heapsize=heapsize, timeout=timeout)
    return proc.stdout.decode()


def run_cpython(code, timeout=120):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(VBOARD), str(FIRMWARE)]))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=timeout,
                          env=env, cwd=str(ROOT))
    out = proc.stdout.decode() + proc.stderr.decode()
    if proc.returncode != 0:
        raise AssertionError("python exited %d\n%s" % (proc.returncode, out))
    return proc.stdout.decode()


def run_both(code, heapsize="56wK", timeout=120):
    return run_mpy(code, heapsize, timeout), run_cpython(code, timeout)
