"""BLE glue over MicroPython's raw `bluetooth` module: GATT table, advertising, IRQ capture.

The IRQ handler only copies data and sets flags (control writes go into preallocated slots);
the app's radio task does the work. Notifications that the stack refuses are reported, never
raised, so the caller can retry on its next tick.

    radio = Radio(bluetooth.BLE(), "smartbell-1E42", model="MPU6050")
    radio.notify(radio.h_events, memoryview(buf)[:20])
"""
import bluetooth

try:
    from micropython import const
except ImportError:
    from sbcore.compat import const

from sbcore import protocol as P

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_MTU_EXCHANGED = const(21)

_ADV_INTERVAL_US = const(100000)
_PREFERRED_MTU = const(247)
_WRITE_SLOTS = const(8)
_WRITE_MAX = const(64)

_ADV_FLAGS = const(0x01)
_ADV_NAME = const(0x09)
_ADV_UUID128_ALL = const(0x07)


def _uuid128_le(s):
    h = s.replace("-", "")
    out = bytearray(16)
    for i in range(16):
        out[15 - i] = int(h[2 * i:2 * i + 2], 16)
    return bytes(out)


def adv_payloads(name):
    """(advertising data, scan response): flags + service UUID, then the complete name (both
    would not fit the 31 bytes of one packet)."""
    adv = bytes((2, _ADV_FLAGS, 0x06, 17, _ADV_UUID128_ALL)) + _uuid128_le(P.SERVICE_UUID)
    n = name.encode()
    resp = bytes((len(n) + 1, _ADV_NAME)) + n
    return adv, resp


class Radio:
    def __init__(self, ble, name, model="imu", fw_rev="1.0 proto 1"):
        self.ble = ble
        self.name = name
        ble.active(True)
        ble.config(gap_name=name)
        try:
            ble.config(mtu=_PREFERRED_MTU)
        except (ValueError, OSError):
            pass
        U = bluetooth.UUID
        F = bluetooth
        smartbell = (U(P.SERVICE_UUID), (
            (U(P.EVENTS_UUID), F.FLAG_READ | F.FLAG_NOTIFY),
            (U(P.LIVE_UUID), F.FLAG_NOTIFY),
            (U(P.CONTROL_UUID), F.FLAG_WRITE | F.FLAG_NOTIFY),
        ))
        dis = (U(P.DEVICE_INFO_UUID), (
            (U(0x2A29), F.FLAG_READ), (U(0x2A24), F.FLAG_READ), (U(0x2A26), F.FLAG_READ)))
        bat = (U(P.BATTERY_UUID), ((U(P.BATTERY_LEVEL_UUID), F.FLAG_READ | F.FLAG_NOTIFY),))
        ((self.h_events, self.h_live, self.h_control), (h_maker, h_model, h_fw),
         (self.h_battery,)) = ble.gatts_register_services((smartbell, dis, bat))
        ble.gatts_write(h_maker, b"smartbell")
        ble.gatts_write(h_model, model.encode())
        ble.gatts_write(h_fw, fw_rev.encode())
        self.conn = None
        self.mtu = 23
        self.connected_flag = False       # set by the IRQ, cleared by the app
        self.disconnected_flag = False
        self.writes = bytearray(_WRITE_SLOTS * _WRITE_MAX)
        self.write_len = bytearray(_WRITE_SLOTS)
        self.w_head = 0                   # next slot the IRQ fills
        self.w_tail = 0                   # next slot the app reads
        self.write_overflows = 0
        self.write_too_long = 0
        self.connections = 0
        self._adv, self._resp = adv_payloads(name)
        ble.irq(self._irq)
        self.advertise()

    def advertise(self):
        self.ble.gap_advertise(_ADV_INTERVAL_US, adv_data=self._adv, resp_data=self._resp)

    def _irq(self, event, data):
        # Runs in the IRQ/scheduler context: copy and flag only.
        if event == _IRQ_CENTRAL_CONNECT:
            self.conn = data[0]
            self.mtu = 23
            self.connections += 1
            self.connected_flag = True
        elif event == _IRQ_CENTRAL_DISCONNECT:
            if data[0] == self.conn:
                self.conn = None
            self.disconnected_flag = True
        elif event == _IRQ_GATTS_WRITE:
            if data[1] != self.h_control:
                return
            value = self.ble.gatts_read(self.h_control)
            nxt = (self.w_head + 1) % _WRITE_SLOTS
            if nxt == self.w_tail:
                self.write_overflows += 1
                return
            n = len(value)
            if n > _WRITE_MAX:
                self.write_too_long += 1
                n = _WRITE_MAX
            o = self.w_head * _WRITE_MAX
            for i in range(n):
                self.writes[o + i] = value[i]
            self.write_len[self.w_head] = n
            self.w_head = nxt
        elif event == _IRQ_MTU_EXCHANGED:
            if data[0] == self.conn:
                self.mtu = data[1]

    def next_write(self):
        """The oldest queued control write as a memoryview, or None."""
        if self.w_tail == self.w_head:
            return None
        o = self.w_tail * _WRITE_MAX
        mv = memoryview(self.writes)[o:o + self.write_len[self.w_tail]]
        self.w_tail = (self.w_tail + 1) % _WRITE_SLOTS
        return mv

    def payload(self):
        """Bytes per notification at the negotiated MTU (never more than 244)."""
        p = self.mtu - 3
        return 244 if p > 244 else p

    def notify(self, handle, data):
        """True if the stack took the notification; False (retry later) if not connected or
        its buffers are full."""
        if self.conn is None:
            return False
        try:
            self.ble.gatts_notify(self.conn, handle, data)
            return True
        except OSError:
            return False

    def set_battery(self, percent):
        self.ble.gatts_write(self.h_battery, bytes((percent,)))
