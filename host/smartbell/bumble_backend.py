"""A bleak backend over a bumble central, so the unchanged logger talks BLE without a radio.

Tests and `smartbell demo` put a bumble central and a bumble peripheral on one in-process
`LocalLink`; bleak drives the central through the two classes this module makes:

    central = BumbleCentral(link)                    # one central Device per link
    async with BleakClient(address, backend=central.client_backend) as client: ...
    await BleakScanner.discover(backend=central.scanner_backend)

bumble quirks guarded here (see shared notes): connecting to an absent device never times out
(we only connect to an address seen advertising, and bound the wait); reading a write-only
characteristic gets no ATT reply (refused locally); subscribing to a characteristic without
notify/indicate only logs (refused locally).
"""
from __future__ import annotations

import asyncio
import time
import uuid as uuidlib
from typing import Any

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError
from bumble.controller import Controller
from bumble.core import AdvertisingData
from bumble.device import Connection, Device, Peer
from bumble.gatt import Characteristic
from bumble.hci import Address
from bumble.host import Host
from bumble.transport.common import AsyncPipeSink

CENTRAL_ADDRESS = "F0:F1:F2:F3:F4:F5"
# bumble's MTU request; 247 is what phones and laptops typically negotiate.
REQUESTED_MTU = 247
# An address must have advertised this recently to be worth connecting to (the absent-device hang).
SEEN_WINDOW_S = 5.0

_PROPERTY_NAMES = [
    (Characteristic.Properties.BROADCAST, "broadcast"),
    (Characteristic.Properties.READ, "read"),
    (Characteristic.Properties.WRITE_WITHOUT_RESPONSE, "write-without-response"),
    (Characteristic.Properties.WRITE, "write"),
    (Characteristic.Properties.NOTIFY, "notify"),
    (Characteristic.Properties.INDICATE, "indicate"),
    (Characteristic.Properties.AUTHENTICATED_SIGNED_WRITES, "authenticated-signed-writes"),
    (Characteristic.Properties.EXTENDED_PROPERTIES, "extended-properties"),
]


def bumble_device(name: str, address: str, link) -> Device:
    """A bumble Device with its own controller on `link` (not yet powered on)."""
    controller = Controller(name, link=link)
    device = Device(name=name, address=Address(address), host=Host(controller, AsyncPipeSink(controller)))
    device.link_controller = controller   # to take the device off the link again
    return device


def uuid_str(u) -> str:
    """bumble UUID -> bleak's lower-case 128-bit string form."""
    return str(uuidlib.UUID(bytes=bytes(reversed(u.to_bytes(force_128=True)))))


def _advertisement_data(adv) -> AdvertisementData:
    data = adv.data
    names = data.get_all(AdvertisingData.Type.COMPLETE_LOCAL_NAME) or data.get_all(
        AdvertisingData.Type.SHORTENED_LOCAL_NAME)
    uuids = []
    for t in (AdvertisingData.Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
              AdvertisingData.Type.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
              AdvertisingData.Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
              AdvertisingData.Type.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS):
        for group in data.get_all(t):
            for u in group if isinstance(group, list) else [group]:
                if uuid_str(u) not in uuids:
                    uuids.append(uuid_str(u))
    manufacturer = {}
    for company, payload in data.get_all(AdvertisingData.Type.MANUFACTURER_SPECIFIC_DATA):
        manufacturer[company] = bytes(payload)
    service_data = {}
    for t in (AdvertisingData.Type.SERVICE_DATA_16_BIT_UUID,
              AdvertisingData.Type.SERVICE_DATA_128_BIT_UUID):
        for u, payload in data.get_all(t):
            service_data[uuid_str(u)] = bytes(payload)
    tx = data.get(AdvertisingData.Type.TX_POWER_LEVEL)
    return AdvertisementData(local_name=names[0] if names else None,
                             manufacturer_data=manufacturer, service_data=service_data,
                             service_uuids=uuids, tx_power=tx, rssi=adv.rssi, platform_data=(adv,))


class BumbleCentral:
    """One bumble central on a link, shared by every scanner and client bleak makes from it."""

    def __init__(self, link, address: str = CENTRAL_ADDRESS):
        self.device = bumble_device("smartbell-host", address, link)
        self._started = False
        self._start_lock: asyncio.Lock | None = None
        self._scan_users = 0
        self._listeners: list = []
        self.last_seen: dict[str, tuple[float, Any]] = {}
        self.device.on("advertisement", self._on_advertisement)
        central = self

        class _Client(BumbleClient):
            _central = central

        class _Scanner(BumbleScanner):
            _central = central

        self.client_backend: type[BaseBleakClient] = _Client
        self.scanner_backend: type[BaseBleakScanner] = _Scanner

    def backend(self):
        """The pair of classes `smartbell.ble` takes as `backend=`."""
        from smartbell.ble import Backend
        return Backend(self.client_backend, self.scanner_backend)

    async def start(self) -> None:
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if not self._started:
                await self.device.power_on()
                self._started = True

    def _on_advertisement(self, adv) -> None:
        key = str(adv.address).split("/")[0]
        # bumble reports a scan response already merged with its advertisement's data.
        self.last_seen[key] = (time.monotonic(), adv)
        for listener in list(self._listeners):
            listener(key, adv)

    async def scan_acquire(self, listener=None) -> None:
        await self.start()
        if listener is not None:
            self._listeners.append(listener)
        self._scan_users += 1
        if self._scan_users == 1:
            await self.device.start_scanning(filter_duplicates=False)

    async def scan_release(self, listener=None) -> None:
        if listener is not None and listener in self._listeners:
            self._listeners.remove(listener)
        self._scan_users = max(0, self._scan_users - 1)
        if self._scan_users == 0 and self._started:
            await self.device.stop_scanning()

    async def wait_seen(self, address: str, timeout_s: float) -> None:
        """Return once `address` has advertised recently; raise if it does not within timeout."""
        address = address.upper()
        found = asyncio.get_running_loop().create_future()

        def listener(key, adv):
            if key.upper() == address and not found.done():
                found.set_result(True)

        seen = self.last_seen.get(address)
        if seen and time.monotonic() - seen[0] < SEEN_WINDOW_S and seen[1].is_connectable:
            return
        await self.scan_acquire(listener)
        try:
            await asyncio.wait_for(found, timeout_s)
        except asyncio.TimeoutError:
            raise BleakDeviceNotFoundError(address, f"device {address} was not found advertising") from None
        finally:
            await self.scan_release(listener)


class BumbleScanner(BaseBleakScanner):
    _central: BumbleCentral

    def __init__(self, detection_callback, service_uuids, scanning_mode="active", **kwargs):
        super().__init__(detection_callback, service_uuids)
        self._scanning = False

    def _on_adv(self, key: str, adv) -> None:
        data = _advertisement_data(adv)
        if not self.is_allowed_uuid(data.service_uuids):
            return
        device = self.create_or_update_device(key, key, data.local_name, adv, data)
        self.call_detection_callbacks(device, data)

    async def start(self) -> None:
        self.seen_devices = {}
        await self._central.scan_acquire(self._on_adv)
        self._scanning = True

    async def stop(self) -> None:
        if self._scanning:
            self._scanning = False
            await self._central.scan_release(self._on_adv)


class BumbleClient(BaseBleakClient):
    _central: BumbleCentral

    def __init__(self, address_or_ble_device: BLEDevice | str, *, disconnected_callback=None,
                 timeout: float = 10.0, services=None, **kwargs):
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback,
                         timeout=timeout)
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._mtu = 23
        self._chars: dict[int, Any] = {}
        self._subscribers: dict[int, Any] = {}
        self._name = address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None

    @property
    def name(self) -> str:
        return self._name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._mtu

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool = False, **kwargs) -> None:
        central = self._central
        await central.start()
        await central.wait_seen(self.address, self._timeout)
        try:
            connection = await self._guard(asyncio.wait_for(central.device.connect(self.address),
                                                            self._timeout))
        except asyncio.TimeoutError:
            raise BleakError(f"connecting to {self.address} timed out") from None
        self._connection = connection
        connection.on("disconnection", self._on_disconnection)
        peer = Peer(connection)
        self._peer = peer
        try:
            self._mtu = await self._guard(peer.request_mtu(REQUESTED_MTU))
            await self._guard(peer.discover_all())
        except Exception:
            await self.disconnect()
            raise
        self.services = self._collection(peer)

    def _collection(self, peer: Peer) -> BleakGATTServiceCollection:
        coll = BleakGATTServiceCollection()
        for svc in peer.services:
            service = BleakGATTService(svc, svc.handle, uuid_str(svc.uuid))
            coll.add_service(service)
            for ch in svc.characteristics:
                props = [name for bit, name in _PROPERTY_NAMES if ch.properties & bit]
                char = BleakGATTCharacteristic(ch, ch.handle, uuid_str(ch.uuid), props,
                                               lambda: self._mtu - 3, service)
                coll.add_characteristic(char)
                self._chars[ch.handle] = ch
                for d in ch.descriptors:
                    coll.add_descriptor(BleakGATTDescriptor(d, d.handle, uuid_str(d.type), char))
        return coll

    def _on_disconnection(self, reason) -> None:
        was = self._connection is not None
        self._connection = None
        self._peer = None
        self._subscribers.clear()
        if was and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        # A disconnect we asked for is not "unsolicited": bleak does not call the callback.
        self._connection = None
        self._peer = None
        try:
            await connection.disconnect()
        except Exception:  # already gone: nothing to tear down
            pass

    async def pair(self, *args, **kwargs) -> None:
        raise NotImplementedError("pairing is not supported by the bumble test backend")

    async def unpair(self) -> None:
        raise NotImplementedError("pairing is not supported by the bumble test backend")

    def _require(self) -> Peer:
        if self._peer is None:
            raise BleakError("not connected")
        return self._peer

    async def _guard(self, awaitable):
        """bumble cancels a GATT operation when its connection drops; bleak callers expect a
        BleakError then, not a CancelledError that would tear down their own task."""
        try:
            return await awaitable
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # our caller really is being cancelled
            raise BleakError(f"disconnected from {self.address} during a GATT operation") from None

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, **kwargs) -> bytearray:
        peer = self._require()
        if "read" not in characteristic.properties:
            # bumble's server never answers such a read: the client would wait 30 s.
            raise BleakError(f"characteristic {characteristic.uuid} is not readable")
        return bytearray(await self._guard(peer.read_value(characteristic.handle)))

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, **kwargs) -> bytearray:
        return bytearray(await self._guard(self._require().read_value(descriptor.handle)))

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data, response: bool) -> None:
        peer = self._require()
        if not ({"write", "write-without-response"} & set(characteristic.properties)):
            raise BleakError(f"characteristic {characteristic.uuid} is not writable")
        await self._guard(peer.write_value(characteristic.handle, bytes(data), with_response=response))

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data) -> None:
        await self._guard(self._require().write_value(descriptor.handle, bytes(data), with_response=True))

    async def start_notify(self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback,
                           **kwargs) -> None:
        peer = self._require()
        if not ({"notify", "indicate"} & set(characteristic.properties)):
            # bumble would only log a warning and the caller would wait forever for data.
            raise BleakError(f"characteristic {characteristic.uuid} does not notify")
        proxy = self._chars[characteristic.handle]

        def subscriber(value: bytes) -> None:
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = subscriber
        await self._guard(peer.subscribe(proxy, subscriber))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require()
        subscriber = self._subscribers.pop(characteristic.handle, None)
        await self._guard(peer.unsubscribe(self._chars[characteristic.handle], subscriber))
