"""The bleak backend over bumble: real bleak API, real bumble stack, a plain bumble peripheral."""
import asyncio
import time

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakDeviceNotFoundError, BleakError
from bumble.core import UUID, AdvertisingData
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.link import LocalLink

from smartbell.bumble_backend import BumbleCentral, bumble_device

SVC = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
NOTIFY = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"
WRITE = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"
ADDRESS = "C0:11:22:33:44:55"


async def peripheral(link, written):
    per = bumble_device("per", ADDRESS, link)
    notify = Characteristic(NOTIFY, Characteristic.Properties.NOTIFY, Characteristic.READABLE, b"")
    write = Characteristic(WRITE, Characteristic.Properties.WRITE, Characteristic.WRITEABLE,
                           CharacteristicValue(write=lambda conn, v: written.append(bytes(v))))
    per.add_service(Service(SVC, [notify, write]))
    await per.power_on()
    adv = bytes(AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME, b"smartbell-1234"),
                                 (AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                                  bytes(UUID(SVC)))]))
    await per.start_advertising(advertising_data=adv, auto_restart=True,
                                advertising_interval_min=20, advertising_interval_max=20)
    return per, notify


def test_scan_connect_write_notify_in_order():
    async def main():
        link = LocalLink()
        written = []
        per, notify = await peripheral(link, written)
        central = BumbleCentral(link)
        found = await BleakScanner.discover(timeout=0.2, backend=central.scanner_backend,
                                            service_uuids=[SVC], return_adv=True)
        (device, adv), = found.values()
        assert device.address == ADDRESS and adv.local_name == "smartbell-1234"
        assert adv.service_uuids == [SVC]
        received = []
        lost = []
        async with BleakClient(device, lambda c: lost.append(c), backend=central.client_backend) as c:
            assert c.mtu_size == 247
            assert set(c.services.get_characteristic(NOTIFY).properties) == {"notify"}
            await c.start_notify(NOTIFY, lambda s, b: received.append(bytes(b)))
            await c.write_gatt_char(WRITE, b"hello", response=True)
            for i in range(500):
                await per.notify_subscribers(notify, i.to_bytes(2, "little"))
            await asyncio.sleep(0.05)
        assert written == [b"hello"]
        assert received == [i.to_bytes(2, "little") for i in range(500)]
        assert lost == []  # our own disconnect is not reported as a lost link
    asyncio.run(main())


def test_guards_against_bumble_hangs():
    async def main():
        link = LocalLink()
        per, notify = await peripheral(link, [])
        central = BumbleCentral(link)
        t0 = time.perf_counter()
        with pytest.raises(BleakDeviceNotFoundError):
            async with BleakClient("C0:00:00:00:00:01", backend=central.client_backend, timeout=0.3):
                pass
        assert time.perf_counter() - t0 < 2
        async with BleakClient(ADDRESS, backend=central.client_backend) as c:
            with pytest.raises(BleakError, match="not readable"):
                await asyncio.wait_for(c.read_gatt_char(WRITE), 2)
            with pytest.raises(BleakError, match="does not notify"):
                await asyncio.wait_for(c.start_notify(WRITE, lambda s, b: None), 2)
    asyncio.run(main())


def test_peripheral_drop_calls_disconnected_callback_and_reconnects():
    async def main():
        link = LocalLink()
        per, notify = await peripheral(link, [])
        central = BumbleCentral(link)
        lost = asyncio.Event()
        client = BleakClient(ADDRESS, lambda c: lost.set(), backend=central.client_backend)
        await client.connect()
        (conn,) = per.connections.values()
        await conn.disconnect()
        await asyncio.wait_for(lost.wait(), 2)
        assert not client.is_connected
        await client.connect()  # advertising restarted: same client connects again
        assert client.is_connected
        await client.disconnect()
    asyncio.run(main())
