"""`smartbell device install/flash` without a board: clear one-line errors naming the port or the
file, exit status 2; and the staged file tree compiles for the ESP32."""
import subprocess
import sys

import pytest

from smartbell import SmartbellError, device


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "smartbell.cli", "device", *args],
                          capture_output=True, text=True, timeout=60)


def test_install_without_a_board_names_the_port():
    proc = _cli("install", "--port", "/dev/ttyUSB-smartbell-none")
    assert proc.returncode == 2
    assert "/dev/ttyUSB-smartbell-none" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_flash_without_a_board_names_the_port(tmp_path):
    fw = tmp_path / "ESP32_GENERIC.bin"
    fw.write_bytes(b"\xe9" + bytes(100))
    proc = _cli("flash", "--port", "/dev/ttyUSB-smartbell-none", "--firmware", str(fw))
    assert proc.returncode == 2 and "/dev/ttyUSB-smartbell-none" in proc.stderr


def test_flash_with_a_missing_binary_says_where_to_get_one(tmp_path):
    proc = _cli("flash", "--port", "/dev/ttyUSB0", "--firmware", str(tmp_path / "nope.bin"))
    assert proc.returncode == 2
    assert "nope.bin" in proc.stderr and "micropython.org/download" in proc.stderr


@pytest.mark.parametrize("action", ["install", "flash"])
def test_a_port_that_is_not_a_board_fails_cleanly(action, tmp_path):
    pytest.importorskip("mpremote" if action == "install" else "esptool")
    fw = tmp_path / "fw.bin"
    fw.write_bytes(bytes(16))
    extra = ["--firmware", str(fw)] if action == "flash" else []
    proc = _cli(action, "--port", "/dev/null", *extra)
    assert proc.returncode == 2, proc.stderr
    assert "/dev/null" in proc.stderr and "Traceback" not in proc.stderr


def test_device_error_is_a_smartbell_error_and_an_oserror():
    assert issubclass(device.DeviceError, SmartbellError)
    assert issubclass(device.DeviceError, OSError)


def test_stage_compiles_every_firmware_module_for_the_esp32(tmp_path):
    entries = device.stage(tmp_path)
    names = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert "main.py" in names and "sbdev/app.mpy" in names and "sbcore/motion.mpy" in names
    assert not any(n.endswith(".py") and n != "main.py" for n in names)
    assert "sbdev/vrun.mpy" not in names            # the virtual-board runner stays on the host
    assert (tmp_path / "sbcore" / "protocol.mpy").read_bytes()[:1] == b"M"   # an .mpy file
    assert [e.name for e in entries] == ["main.py", "sbcore", "sbdev"]
