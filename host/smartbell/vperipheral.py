"""A bumble peripheral that is the real firmware: the firmware runs on the virtual board in its own
process (MicroPython if installed, else CPython) and its GATT table, advertising, notifications,
writes, connections and MTU are mirrored on a bumble `Device` on an in-process `LocalLink`.

    vp = VirtualPeripheral(link, "trace.csv", outages=[(20_000, 5_000)])   # device-time ms
    await vp.start()                          # booted, GATT mirrored, advertising on the link
    summary = await vp.run_session(session)   # a logger session until the trace has played
    await vp.stop()
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from bumble.core import UUID
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.hci import HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR

from smartbell import SmartbellError
from smartbell.bumble_backend import bumble_device

log = logging.getLogger(__name__)

VBOARD = Path(__file__).resolve().parent / "vboard"
FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
PERIPHERAL_ADDRESS = "C0:5B:00:00:00:01"
# Device time granted per step while nothing holds the clock: small enough that the host sees
# events promptly, large enough that the pipe is not flooded with grants.
GRANT_CHUNK_MS = 200
TICK_MS = 20   # the firmware calls pace() every 20 ms of device time
# After answering a command the device clock waits this long (wall) for the host's next one, so
# a burst of commands (the logger's setup) costs device time like on a real link, not 200 ms each.
HOST_GRACE_S = 0.02
ADV_INTERVAL_MS = 20
# Precompiled (.mpy, what a board gets) the firmware gets the ESP32's 56wK plus what the virtual
# board and the pipe transport take in the same heap (measured 37.7 KB = 19wK, docs/firmware.md).
# From source MicroPython's compiler needs far more.
ESP32_HEAP_WK = 56
VBOARD_PIPE_WK = 20
MPY_HEAP = f"{ESP32_HEAP_WK + VBOARD_PIPE_WK}wK"
SOURCE_HEAP = "256wK"


class FirmwareExited(SmartbellError, RuntimeError):
    """The firmware process ended (or never registered its GATT table)."""


def firmware_command(trace: str | os.PathLike, *, prefer_micropython: bool = True,
                     extra_args: tuple = (), heapsize: str | None = None,
                     mpy_dir: str | os.PathLike | None = None) -> tuple[list[str], dict[str, str]]:
    """Command line and environment that run the firmware on the virtual board in lockstep.

    `mpy_dir`: the firmware precompiled to .mpy (what a board gets), put first on the path; it
    runs in an ESP32-sized heap plus the virtual board's share. From source, MicroPython's
    compiler needs a bigger heap."""
    firmware_root = FIRMWARE if (FIRMWARE / "sbdev").is_dir() else Path(__import__("sbdev").__file__).parents[1]
    # vrun converts the trace to a binary file of its own under $TMPDIR (a random name, removed
    # once open), so concurrent runs need no private TMPDIR.
    env = dict(os.environ, SMARTBELL_BLE_TRANSPORT="pipe", SMARTBELL_BLE_LOCKSTEP="1")
    args = ["-m", "sbdev.vrun", str(trace), "--lockstep", *map(str, extra_args)]
    mpy = shutil.which("micropython") if prefer_micropython else None
    if mpy:
        first = f"{mpy_dir}:" if mpy_dir else ""
        env["MICROPYPATH"] = f"{first}{VBOARD}:{firmware_root}:.frozen"
        heapsize = heapsize or (MPY_HEAP if mpy_dir else SOURCE_HEAP)
        return [mpy, "-X", f"heapsize={heapsize}", *args], env
    env["PYTHONPATH"] = os.pathsep.join([str(VBOARD), str(firmware_root), env.get("PYTHONPATH", "")])
    return [sys.executable, "-u", *args], env


def _uuid(text: str) -> UUID:
    text = str(text).strip()
    if text.startswith("UUID("):
        text = text[5:-1].strip("'\"")
    if text.lower().startswith("0x"):
        return UUID.from_16_bits(int(text, 16))
    return UUID(text)


def parse_table(table) -> list[tuple[str, list[tuple[int, str, int]]]]:
    """The firmware's registered GATT table -> [(service_uuid, [(handle, char_uuid, flags)])].

    Accepts the virtual board's flat `[[value_handle, service_uuid, char_uuid, flags], ...]` and
    the nested `[[service_uuid, [[handle, uuid, flags], ...]], ...]` form."""
    if table and all(len(c) == 4 and isinstance(c[0], int) for c in table):
        services: dict[str, list] = {}
        for handle, suuid, cuuid, flags in table:
            services.setdefault(suuid, []).append((handle, cuuid, flags))
        return list(services.items())
    out = []
    for svc in table:
        if isinstance(svc, dict):
            chars = [(c["handle"], c["uuid"], c["flags"]) for c in svc["characteristics"]]
            out.append((svc["uuid"], chars))
            continue
        suuid, chars_in = svc[0], svc[1]
        chars = []
        for c in chars_in:
            ints = [x for x in c if isinstance(x, int)]
            strs = [x for x in c if isinstance(x, str)]
            if isinstance(c[0], int):
                handle, flags = ints[0], ints[1]
            else:
                flags, handle = ints[0], ints[1]
            chars.append((handle, strs[0], flags))
        out.append((suuid, chars))
    return out


class VirtualPeripheral:
    def __init__(self, link, trace: str | os.PathLike, *, address: str = PERIPHERAL_ADDRESS,
                 outages: list[tuple[int, int]] = (), speed: float | None = None,
                 prefer_micropython: bool = True, extra_args: tuple = (), stderr_path=None,
                 command: tuple[list[str], dict[str, str]] | None = None,
                 mpy_dir: str | os.PathLike | None = None, heapsize: str | None = None):
        self.link = link
        self.trace = str(trace)
        self.address = address
        self.outages = sorted(outages)
        self.speed = speed
        self.prefer_micropython = prefer_micropython
        self.extra_args = extra_args
        self.stderr_path = stderr_path
        self.command = command   # (argv, env) instead of the firmware: for tests of the bridge
        self.mpy_dir = mpy_dir
        self.heapsize = heapsize
        self.device = bumble_device("smartbell-vperipheral", address, link)
        self.proc: asyncio.subprocess.Process | None = None
        self.finished = asyncio.Event()
        self.registered = asyncio.Event()
        self.chars: dict[int, Characteristic] = {}
        self.handle_of: dict[int, int] = {}    # id(bumble characteristic) -> device handle
        self.values: dict[int, bytes] = {}
        self.adv: tuple[bytes, bytes] | None = None
        self.advertising = False
        self.connection = None
        self.conn_id = 0
        self.device_ms = 0                    # last device time the firmware asked to pass
        self.granted_ms: int | None = None
        self._request: int | None = None
        self._changed = asyncio.Event()
        self._first_write_seen = False
        self._answered_at: float | None = None
        self._pending_writes: dict[int, int] = {}
        self._outage_end: int | None = None
        self._wall_ref: tuple[float, int] | None = None
        self.stats = {"notifications": 0, "dropped_notifications": 0, "writes": 0,
                      "outages": 0, "connections": 0}
        self._tasks: list[asyncio.Task] = []
        self._stderr_file = None

    # -- process and pipe ---------------------------------------------------------------------
    async def start(self, timeout_s: float = 30.0) -> None:
        cmd, env = self.command or firmware_command(
            self.trace, prefer_micropython=self.prefer_micropython, extra_args=self.extra_args,
            heapsize=self.heapsize, mpy_dir=self.mpy_dir)
        self.interpreter = Path(cmd[0]).name
        self.argv = cmd
        self._stderr_file = open(self.stderr_path, "wb") if self.stderr_path else None
        self.proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=self._stderr_file or asyncio.subprocess.DEVNULL, env=env, limit=1 << 20)
        self.device.on("connection", self._on_connection)
        await self.device.power_on()
        self._tasks.append(asyncio.create_task(self._read_device(), name="vperipheral-stdout"))
        self._tasks.append(asyncio.create_task(self._clock(), name="vperipheral-clock"))
        waiters = [asyncio.create_task(self.registered.wait()),
                   asyncio.create_task(self.finished.wait())]
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        for w in waiters:
            w.cancel()
        if not self.registered.is_set():
            await self.stop()
            raise FirmwareExited(f"the firmware did not register its GATT table within {timeout_s:g} s "
                                 f"(command: {' '.join(cmd)})")

    async def run_session(self, session, settle_s: float = 0.3) -> dict:
        """Run a logger `session` until the firmware has played its whole trace (or the session
        ends first); `settle_s` lets notifications already on the link reach the logger."""
        async def end_with_the_trace() -> None:
            await self.finished.wait()
            await asyncio.sleep(settle_s)
            session.stop()

        ender = asyncio.create_task(end_with_the_trace())
        try:
            return await session.run()
        finally:
            ender.cancel()

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        if self.proc and self.proc.returncode is None:
            try:
                self.proc.stdin.close()
                await asyncio.wait_for(self.proc.wait(), 2)
            except (asyncio.TimeoutError, BrokenPipeError, ConnectionResetError):
                self.proc.kill()
                await self.proc.wait()
        if self.connection is not None:
            try:
                await self.connection.disconnect()
            except Exception:
                pass
        if self._stderr_file:
            self._stderr_file.close()
        if self.device.link_controller in self.link.controllers:
            self.link.remove_controller(self.device.link_controller)   # powered off: gone

    def _send(self, line: str) -> None:
        if self.proc and self.proc.returncode is None and not self.proc.stdin.is_closing():
            self.proc.stdin.write(line.encode() + b"\n")

    async def _read_device(self) -> None:
        try:
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    break
                line = raw.decode(errors="replace").rstrip("\n")
                try:
                    await self._on_line(line)
                except Exception:  # one bad line must not stop the bridge
                    log.exception("vperipheral: cannot handle %r", line)
        finally:
            self.finished.set()
            self._changed.set()
            if self.connection is not None:
                try:
                    await self.connection.disconnect()
                except Exception:
                    pass

    async def _on_line(self, line: str) -> None:
        kind, _, rest = line.partition(" ")
        if kind == "N":
            conn, handle, data = rest.split(" ")
            await self._notify(int(handle), b"" if data == "-" else bytes.fromhex(data))
        elif kind == "T":
            self.device_ms = int(rest)
            self._request = self.device_ms
            self._changed.set()
        elif kind == "A":
            adv, resp = (b"" if x == "-" else bytes.fromhex(x) for x in rest.split(" "))
            self.adv = (adv, resp) if adv else None
            await self._update_advertising()
        elif kind == "R":
            self._register(json.loads(rest))
        elif kind == "V":
            handle, data = rest.split(" ")
            self.values[int(handle)] = b"" if data == "-" else bytes.fromhex(data)
        elif kind == "D":
            if self.connection is not None:
                await self.connection.disconnect()
        else:
            log.info("firmware: %s", line)

    # -- GATT mirror ----------------------------------------------------------------------------
    def _register(self, table) -> None:
        for suuid, chars in parse_table(table):
            bchars = []
            for handle, cuuid, flags in chars:
                props = Characteristic.Properties(flags & 0x3E)
                perms = 0
                if flags & 0x02:
                    perms |= Characteristic.READABLE
                if flags & 0x0C:
                    perms |= Characteristic.WRITEABLE
                value = CharacteristicValue(read=lambda conn, h=handle: self.values.get(h, b""),
                                            write=lambda conn, v, h=handle: self._on_write(conn, h, v))
                ch = Characteristic(_uuid(cuuid), props, perms, value)
                self.chars[handle] = ch
                bchars.append(ch)
            self.device.add_service(Service(_uuid(suuid), bchars))
        self.registered.set()

    def _on_write(self, conn, handle: int, value: bytes) -> None:
        self.values[handle] = bytes(value)
        self.stats["writes"] += 1
        self._first_write_seen = True
        self._pending_writes[handle] = self._pending_writes.get(handle, 0) + 1
        self._send(f"W {self.conn_id} {handle} {bytes(value).hex() or '-'}")
        self._changed.set()

    async def _notify(self, handle: int, data: bytes) -> None:
        if self._pending_writes.get(handle):
            self._pending_writes[handle] -= 1  # the answer to a command: the host may go on
            self._answered_at = time.monotonic()
            self._changed.set()
        ch = self.chars.get(handle)
        if ch is None or self.connection is None:
            # In flight when the link dropped: lost, exactly as over a real radio.
            self.stats["dropped_notifications"] += 1
            return
        self.values[handle] = data
        try:
            await self.device.notify_subscriber(self.connection, ch, data)
            self.stats["notifications"] += 1
        except Exception:
            self.stats["dropped_notifications"] += 1

    # -- connections and advertising ----------------------------------------------------------
    async def _update_advertising(self) -> None:
        want = self.adv is not None and self.connection is None and self._outage_end is None
        if want and not self.advertising:
            # bumble's link layer answers a scan request with the advertising data again, never
            # the scan response: carry both in the advertisement so a scan sees the name.
            await self.device.start_advertising(
                advertising_data=self.adv[0] + self.adv[1], scan_response_data=None,
                advertising_interval_min=ADV_INTERVAL_MS, advertising_interval_max=ADV_INTERVAL_MS)
            self.advertising = True
        elif not want and self.advertising:
            self.advertising = False
            try:
                await self.device.stop_advertising()
            except Exception:  # already stopped by the connection
                pass

    def _on_connection(self, connection) -> None:
        self.connection = connection
        self.advertising = False  # a legacy advertiser stops when a central connects
        self.conn_id += 1
        self.stats["connections"] += 1
        self._first_write_seen = False
        self._pending_writes.clear()
        addr = bytes(connection.peer_address.address_bytes)[::-1].hex()
        self._send(f"C {self.conn_id} 1 {addr}")
        connection.on("disconnection", lambda reason: self._on_disconnection(connection))
        connection.on("connection_att_mtu_update",
                      lambda: self._send(f"M {self.conn_id} {connection.att_mtu}"))
        self._changed.set()

    def _on_disconnection(self, connection) -> None:
        if self.connection is not connection:
            return
        self.connection = None
        addr = bytes(connection.peer_address.address_bytes)[::-1].hex()
        self._send(f"X {self.conn_id} 1 {addr}")
        self._changed.set()

    # -- the device clock -----------------------------------------------------------------------
    def _clock_limit(self) -> int | None:
        """How far the device clock may run now (None: held). The clock is in lockstep with us
        (vboard/blepipe.py): it runs while a central is connected; one tick at a time while a
        command waits for its answer, and not at all for HOST_GRACE_S after an answer (a real
        host answers within milliseconds of device time, this one may be slower than the
        device); at most `speed` x wall time if set; and freely through a scripted outage
        (radio out of range: link dropped, no advertising), so 30 s of outage cost no wall time."""
        if self.finished.is_set():
            return None
        if self._outage_end is not None:
            return self._outage_end
        if self.connection is None or not self._first_write_seen:
            return None
        if any(self._pending_writes.values()):
            # The firmware handles a write on its next tick: let it tick, one at a time.
            return self.device_ms + TICK_MS
        if self._answered_at is not None and time.monotonic() - self._answered_at < HOST_GRACE_S:
            return None   # a host sends its next command within milliseconds: wait for it
        limit = self.device_ms + GRANT_CHUNK_MS
        if self.outages:
            limit = min(limit, self.outages[0][0])
        if self.speed:
            if self._wall_ref is None:
                self._wall_ref = (time.monotonic(), self.device_ms)
            wall0, dev0 = self._wall_ref
            limit = min(limit, dev0 + int((time.monotonic() - wall0) * 1000 * self.speed))
        return limit

    def _grace_left(self) -> float | None:
        if self._answered_at is None:
            return None
        left = HOST_GRACE_S - (time.monotonic() - self._answered_at)
        return left if left > 0 else None

    async def _clock(self) -> None:
        while True:
            if self._request is None:
                self._changed.clear()
                await self._changed.wait()
                continue
            t = self._request
            if self.outages and t >= self.outages[0][0] and self._outage_end is None:
                await self._begin_outage()
                continue
            if self._outage_end is not None and t >= self._outage_end:
                self._outage_end = None
                self._wall_ref = None
                await self._update_advertising()
            limit = self._clock_limit()
            if limit is None or limit < t:
                if limit is not None and self.speed:
                    await asyncio.sleep(0.005)  # speed cap: wait for wall time to catch up
                    continue
                if not self.speed or limit is None:
                    self._wall_ref = None
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), self._grace_left())
                except asyncio.TimeoutError:
                    pass
                continue
            self._request = None
            self.granted_ms = limit
            self._send(f"G {limit}")

    async def _begin_outage(self) -> None:
        at_ms, duration_ms = self.outages.pop(0)
        self._outage_end = max(at_ms, self.device_ms) + duration_ms
        self.stats["outages"] += 1
        await self._update_advertising()
        if self.connection is not None:
            try:
                await self.connection.disconnect(HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR)
            except Exception:
                pass
        self._changed.set()
