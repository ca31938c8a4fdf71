"""The bleak client side of the logger: find smartbells, connect, subscribe, send commands.

bleak's conventions (bleak `examples/async_callback_with_queue.py`): one `BleakClient` per
connection in `async with`; notification callbacks only put `(host_time, bytes)` on an
`asyncio.Queue`, one consumer decodes. `backend=` (a `Backend`) swaps the BLE stack: tests and
`smartbell demo` pass `BumbleCentral(link).backend()`; None is the platform's own.
"""
from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import NamedTuple

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from sbcore import protocol as P
from smartbell import SmartbellError

NAME_PREFIX = "smartbell"
BATTERY_LEVEL = "00002a19-0000-1000-8000-00805f9b34fb"
BATTERY_SERVICE = "0000180f-0000-1000-8000-00805f9b34fb"
FIRMWARE_REVISION = "00002a26-0000-1000-8000-00805f9b34fb"
COMMAND_TIMEOUT_S = 3.0
NAME_WAIT_S = 0.5


class DeviceNotFound(SmartbellError, LookupError):
    """No smartbell with that name or address answered a scan."""


class CommandFailed(SmartbellError, RuntimeError):
    """The device answered a command with an error status, or not at all."""


class BluetoothUnavailable(SmartbellError, OSError):
    """The computer's Bluetooth cannot be used (switched off, no adapter, no BlueZ/D-Bus)."""


@asynccontextmanager
async def _scanner(callback, backend: Backend):
    """A running BleakScanner; failing to start it is a clear error, not a D-Bus traceback."""
    scanner = BleakScanner(callback, **_kw(backend.scanner))
    try:
        await scanner.start()
    except (BleakError, OSError) as exc:
        raise BluetoothUnavailable(f"Bluetooth is not available on this computer "
                                   f"({type(exc).__name__}: {exc or 'no adapter'})") from None
    try:
        yield scanner
    finally:
        await scanner.stop()


class CommandRefused(CommandFailed):
    """The device answered with an error status (`status`, e.g. 'bad_value')."""

    def __init__(self, message: str, status: str):
        super().__init__(message)
        self.status = status


class LinkLost(CommandFailed):
    """The link dropped while a command waited for its answer."""


class Backend(NamedTuple):
    """The bleak backend classes to use; None fields mean the platform's own."""
    client: type | None = None
    scanner: type | None = None


@dataclass
class FoundDevice:
    name: str
    address: str
    rssi: int | None
    battery_pct: int | None
    device: BLEDevice


def _kw(backend_cls) -> dict:
    return {"backend": backend_cls} if backend_cls is not None else {}


def is_smartbell(device: BLEDevice, adv) -> bool:
    name = adv.local_name or device.name or ""
    return P.SERVICE_UUID in (adv.service_uuids or []) or name.startswith(NAME_PREFIX)


def _adv_battery(adv) -> int | None:
    # A battery level in the advertisement's service data saves a connection.
    for key in (BATTERY_LEVEL, BATTERY_SERVICE):
        data = (adv.service_data or {}).get(key)
        if data:
            return data[0]
    return None


async def read_battery(device, backend: Backend | None = None, timeout_s: float = 3.0) -> int | None:
    backend = backend or Backend()
    try:
        async with BleakClient(device, timeout=timeout_s, **_kw(backend.client)) as client:
            return await read_battery_level(client)
    except (BleakError, asyncio.TimeoutError, OSError):
        return None


async def read_battery_level(client: BleakClient) -> int | None:
    char = client.services.get_characteristic(BATTERY_LEVEL)
    if char is None:
        return None
    data = await client.read_gatt_char(char)
    return data[0] if data else None


async def scan(timeout_s: float = 3.0, backend: Backend | None = None,
               with_battery: bool = True) -> list[FoundDevice]:
    """Every smartbell heard within `timeout_s`, strongest signal first."""
    backend = backend or Backend()
    async with _scanner(None, backend) as scanner:
        await asyncio.sleep(timeout_s)
        found = dict(scanner.discovered_devices_and_advertisement_data)
    out = []
    for device, adv in found.values():
        if not is_smartbell(device, adv):
            continue
        battery = _adv_battery(adv)
        if battery is None and with_battery:
            battery = await read_battery(device, backend)
        out.append(FoundDevice(adv.local_name or device.name or "?", device.address, adv.rssi,
                               battery, device))
    out.sort(key=lambda d: -(d.rssi if d.rssi is not None else -999))
    return out


async def find(name_or_address: str | None, timeout_s: float = 5.0,
               backend: Backend | None = None, name_wait_s: float = NAME_WAIT_S) -> BLEDevice:
    """The first smartbell matching a name or address (any smartbell when None). Its name often
    comes in the scan response, a moment after the advertisement: wait briefly for it."""
    backend = backend or Backend()
    wanted = (name_or_address or "").lower()
    names: dict[str, str] = {}
    found: asyncio.Future = asyncio.get_running_loop().create_future()

    def on_adv(device: BLEDevice, adv) -> None:
        if adv.local_name:
            names[device.address] = adv.local_name
        if found.done() or not is_smartbell(device, adv):
            return
        name = names.get(device.address, "").lower()
        if not wanted or wanted in (name, device.address.lower()):
            found.set_result(device)

    async with _scanner(on_adv, backend):
        try:
            device = await asyncio.wait_for(asyncio.shield(found), timeout_s)
        except asyncio.TimeoutError:
            what = f"named or at {name_or_address!r}" if name_or_address else "at all"
            raise DeviceNotFound(f"no smartbell {what} found within {timeout_s:g} s "
                                 "(is it switched on and near?)") from None
        deadline = time.monotonic() + name_wait_s
        while device.address not in names and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    device.name = names.get(device.address) or device.name
    return device


class Commander:
    """Sends control commands and matches the device's responses by token. The consumer task
    calls `on_response` with each decoded response packet (callbacks never decode)."""

    def __init__(self) -> None:
        self._token = 0
        self._pending: dict[int, asyncio.Future] = {}

    def on_response(self, packet: dict) -> bool:
        fut = self._pending.pop(packet["token"], None)
        if fut is None or fut.done():
            return False
        fut.set_result(packet)
        return True

    def fail_all(self, reason: str) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(LinkLost(reason))
        self._pending.clear()

    async def send(self, client: BleakClient, cmd: str, *, timeout_s: float = COMMAND_TIMEOUT_S,
                   check: bool = True, **args) -> dict:
        self._token = self._token % 255 + 1
        token = self._token
        fut = asyncio.get_running_loop().create_future()
        self._pending[token] = fut
        try:
            await client.write_gatt_char(P.CONTROL_UUID, P.command(cmd, token, **args), response=True)
            resp = await asyncio.wait_for(fut, timeout_s)
        except asyncio.TimeoutError:
            raise CommandFailed(f"device did not answer '{cmd}' within {timeout_s:g} s") from None
        finally:
            self._pending.pop(token, None)
            if fut.done() and not fut.cancelled():
                fut.exception()  # failed by fail_all() while the write itself failed: retrieved
        if check and resp["code"] != P.OK:
            raise CommandRefused(f"device refused '{cmd}': {resp['status']} (value {resp['value']})",
                                 resp["status"])
        return resp


async def subscribe(client: BleakClient, queue: asyncio.Queue, *, live: bool = True) -> None:
    """Queue every notification of the smartbell characteristics as (host_time, bytes)."""

    def on_notify(_char, data: bytearray) -> None:
        queue.put_nowait((time.time(), bytes(data)))

    await client.start_notify(P.CONTROL_UUID, on_notify)
    await client.start_notify(P.EVENTS_UUID, on_notify)
    if live:
        await client.start_notify(P.LIVE_UUID, on_notify)
