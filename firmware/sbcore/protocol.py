"""smartbell wire protocol: GATT UUIDs, packet layouts, encoders and decoders (spec: docs/protocol.md).

The device packs into preallocated buffers with the `pack_*` functions (no allocation); the host
decodes with `decode(bytes) -> dict` (unit-named keys) and builds commands with `command(...)`.

    n = pack_rep(buf, seq, t_ms, rep, dur_ms, far_ms, hold_ms, ret_ms, rom_ddeg, dps, mg)
    decode(bytes(buf[:n]))["rom_deg"]
"""
import struct

try:
    from micropython import const
except ImportError:  # CPython (host)
    from sbcore.compat import const

VERSION = const(1)

# 128-bit UUIDs of the smartbell service and its characteristics (random base, last 4 hex vary).
SERVICE_UUID = "7e5b0001-2f6c-4d1a-9b8e-3c2d1a0e5f60"
EVENTS_UUID = "7e5b0002-2f6c-4d1a-9b8e-3c2d1a0e5f60"
LIVE_UUID = "7e5b0003-2f6c-4d1a-9b8e-3c2d1a0e5f60"
CONTROL_UUID = "7e5b0004-2f6c-4d1a-9b8e-3c2d1a0e5f60"
DEVICE_INFO_UUID = 0x180A
BATTERY_UUID = 0x180F
BATTERY_LEVEL_UUID = 0x2A19

# Packet types (byte 1 of every packet).
T_REP = const(0x01)
T_HOLD = const(0x02)
T_ABRUPT = const(0x03)
T_STATUS = const(0x04)
T_LIVE_ANGLE = const(0x10)
T_LIVE_RAW = const(0x11)
T_RESPONSE = const(0x20)

# Fixed sizes: every event fits one 20-byte notification (default ATT MTU 23).
HEADER_SIZE = const(8)
REP_SIZE = const(20)
HOLD_SIZE = const(12)
ABRUPT_SIZE = const(12)
STATUS_SIZE = const(14)
RESPONSE_SIZE = const(16)
EVENT_MAX = const(20)
LIVE_HEADER_SIZE = const(8)
LIVE_ANGLE_SAMPLE = const(3)
LIVE_RAW_SAMPLE = const(12)
DEFAULT_PAYLOAD = const(20)  # ATT MTU 23 - 3

# 12-bit fields of the rep packet saturate at this value.
U12_MAX = const(4095)

# Status event codes and fault kinds.
ST_FAULT = const(1)
ST_RECOVERED = const(2)
ST_SET_STARTED = const(3)
ST_SET_STOPPED = const(4)
ST_CALIBRATED = const(5)
ST_LOW_BATTERY = const(6)
ST_ANCHOR = const(7)
ST_BOOT = const(8)
FAULT_I2C = const(1)
FAULT_STUCK = const(2)
FAULT_SATURATED = const(3)
FAULT_MISSING = const(4)
FAULT_OVERRUN = const(5)
CAL_OK = const(0)
CAL_MOVING = const(1)

# Control commands (host -> device) and response status codes.
CMD_SELECT = const(0x01)
CMD_PARAMS = const(0x02)
CMD_START = const(0x03)
CMD_STOP = const(0x04)
CMD_CALIBRATE = const(0x05)
CMD_TIME_SYNC = const(0x06)
CMD_REPLAY = const(0x07)
CMD_LIVE = const(0x08)
CMD_IDENTIFY = const(0x09)
CMD_GET = const(0x0A)

OK = const(0)
E_LENGTH = const(1)
E_UNKNOWN = const(2)
E_PARAM = const(3)
E_VALUE = const(4)
E_STATE = const(5)
E_VERSION = const(6)
E_SENSOR = const(7)
E_RANGE = const(8)
E_PARTIAL = const(9)

LIVE_OFF = const(0)
LIVE_ANGLE = const(0)
LIVE_RAW = const(1)
LIVE_RATES_HZ = (0, 25, 50, 100)

# CMD_GET keys.
GET_ACCEL_LSB_PER_G = const(0)
GET_GYRO_MDPS_PER_LSB = const(1)
GET_IMU = const(2)
GET_RATE_HZ = const(3)
GET_FW_VERSION = const(4)
GET_EVENT_HEAD = const(5)
GET_BATTERY_MV = const(6)
GET_HAS_GYRO = const(7)
GET_KEYS = ("accel_lsb_per_g", "gyro_mdps_per_lsb", "imu", "rate_hz", "fw_version",
            "event_head", "battery_mv", "has_gyro")

# Phases as the detector numbers them (sbcore.motion PHASE_*).
PHASES = ("rest", "out", "hold", "return")

_CMD_NAMES = ("select", "params", "start", "stop", "calibrate", "time_sync", "replay", "live",
              "identify", "get")


class ProtocolError(ValueError):
    """A packet or command that does not follow docs/protocol.md; `status` is the E_* code the
    device answers with."""

    def __init__(self, message, status=E_LENGTH):
        super().__init__(message)
        self.status = status


# -- device side: pack into preallocated buffers, no allocation --------------------------------

# Added to the high half of t_ms: the device counts its 2**30 tick wraps so the wire value is ms
# since boot modulo 2**32 without ever building an int above 2**30 (that would allocate).
_t_hi_add = 0
_t_now = 0


def set_tick_epoch(wraps, now=0):
    """Tell the encoder how often the device's 2**30 tick counter wrapped since boot, and the
    tick now: a time more than 2**29 ahead of `now` is from before the last wrap."""
    global _t_hi_add, _t_now
    _t_hi_add = (wraps << 14) & 0xFFFF
    _t_now = now


def _hi(t_ms):
    # high half of the wire time: the tick's own bits plus the wraps counted so far
    hi = (t_ms >> 16) + _t_hi_add
    if _t_hi_add and t_ms - _t_now > 0x20000000:
        hi -= 0x4000                      # stamped before the wrap, sent after it
    return hi & 0xFFFF


def _header(buf, ptype, seq, t_ms):
    struct.pack_into("<BBHHH", buf, 0, VERSION, ptype, seq & 0xFFFF, t_ms & 0xFFFF, _hi(t_ms))


def _u12(v):
    if v < 0:
        return 0
    return U12_MAX if v > U12_MAX else v


def _cs(ms):
    # ms -> centiseconds, rounded, saturated to 12 bits
    return _u12((ms + 5) // 10)


def _pair12(buf, off, a, b):
    buf[off] = a & 0xFF
    buf[off + 1] = (a >> 8) | ((b & 0x0F) << 4)
    buf[off + 2] = b >> 4


def pack_rep(buf, seq, t_ms, rep, duration_ms, to_far_ms, hold_ms, return_ms, rom_ddeg,
             peak_speed_dps, peak_accel_mg):
    """Rep event; t_ms is the rep's end. Returns the packet length."""
    _header(buf, T_REP, seq, t_ms)
    _pair12(buf, 8, rep & U12_MAX, _cs(duration_ms))
    _pair12(buf, 11, _cs(to_far_ms), _cs(hold_ms))
    _pair12(buf, 14, _cs(return_ms), _u12(rom_ddeg))
    _pair12(buf, 17, _u12(peak_speed_dps), _u12((peak_accel_mg + 2) >> 2))
    return REP_SIZE


def _u16(v):
    if v < 0:
        return 0
    return 0xFFFF if v > 0xFFFF else v


def _i16(v):
    if v < -32768:
        return -32768
    return 32767 if v > 32767 else v


def pack_hold(buf, seq, t_ms, hold_ms, angle_ddeg):
    """Hold event; t_ms is the hold's start."""
    _header(buf, T_HOLD, seq, t_ms)
    struct.pack_into("<Hh", buf, 8, _u16((hold_ms + 5) // 10), _i16(angle_ddeg))
    return HOLD_SIZE


def pack_abrupt(buf, seq, t_ms, peak_accel_mg, jerk_gps):
    """Abrupt-movement event; t_ms is the time of the acceleration peak."""
    _header(buf, T_ABRUPT, seq, t_ms)
    struct.pack_into("<HH", buf, 8, _u16(peak_accel_mg), _u16(jerk_gps))
    return ABRUPT_SIZE


def pack_status(buf, seq, t_ms, code, detail, value):
    _header(buf, T_STATUS, seq, t_ms)
    struct.pack_into("<BBi", buf, 8, code & 0xFF, detail & 0xFF, value)
    return STATUS_SIZE


def pack_response(buf, seq, t_ms, cmd, token, status, value):
    _header(buf, T_RESPONSE, seq, t_ms)
    struct.pack_into("<BBBBi", buf, 8, cmd & 0xFF, token & 0xFF, status & 0xFF, 0, value)
    return RESPONSE_SIZE


def pack_live_header(buf, ptype, seq, period_ms, t_ms):
    """Live-data header; t_ms is the first sample's time, samples are period_ms apart."""
    struct.pack_into("<BBBBHH", buf, 0, VERSION, ptype, seq & 0xFF, period_ms & 0xFF,
                     t_ms & 0xFFFF, _hi(t_ms))
    return LIVE_HEADER_SIZE


def pack_live_angle(buf, off, angle_ddeg, phase):
    struct.pack_into("<hB", buf, off, _i16(angle_ddeg), phase & 0xFF)
    return off + LIVE_ANGLE_SAMPLE


def pack_live_raw(buf, off, ax, ay, az, gx, gy, gz):
    struct.pack_into("<hhhhhh", buf, off, ax, ay, az, gx, gy, gz)
    return off + LIVE_RAW_SAMPLE


def live_capacity(payload, ptype):
    """Samples per notification for an ATT payload size (MTU - 3)."""
    size = LIVE_RAW_SAMPLE if ptype == T_LIVE_RAW else LIVE_ANGLE_SAMPLE
    n = (payload - LIVE_HEADER_SIZE) // size
    return n if n > 0 else 0


# -- commands: host builds them, device parses them (control path, allocation is fine) ---------

def decode_command(data):
    """Parse a control write into a dict: {'cmd', 'name', 'token', ...args}. Raises ProtocolError
    with `status` set to the E_* code the device should answer."""
    n = len(data)
    if n < 3:
        raise ProtocolError("command too short: %d bytes (need >= 3)" % n, E_LENGTH)
    if data[0] != VERSION:
        raise ProtocolError("unsupported protocol version %d" % data[0], E_VERSION)
    cmd = data[1]
    token = data[2]
    if cmd < CMD_SELECT or cmd > CMD_GET:
        raise ProtocolError("unknown command 0x%02x" % cmd, E_UNKNOWN)
    name = _CMD_NAMES[cmd - 1]
    out = {"cmd": cmd, "name": name, "token": token}
    body = n - 3
    if cmd == CMD_SELECT or cmd == CMD_PARAMS:
        head = 1 if cmd == CMD_SELECT else 0
        if body < head or (body - head) % 5:
            raise ProtocolError("%s: %d argument bytes is not %s + 5 per param"
                                % (name, body, head), E_LENGTH)
        if head:
            out["exercise"] = data[3]
        params = []
        for off in range(3 + head, n, 5):
            params.append(struct.unpack_from("<Bi", data, off))
        out["params"] = params
        return out
    want = {CMD_START: 0, CMD_STOP: 0, CMD_CALIBRATE: 0, CMD_TIME_SYNC: 4, CMD_REPLAY: 2,
            CMD_LIVE: 2, CMD_IDENTIFY: 1, CMD_GET: 1}[cmd]
    if body != want:
        raise ProtocolError("%s takes %d argument bytes, got %d" % (name, want, body), E_LENGTH)
    if cmd == CMD_TIME_SYNC:
        out["host_ms"] = struct.unpack_from("<I", data, 3)[0]
    elif cmd == CMD_REPLAY:
        out["from_seq"] = struct.unpack_from("<H", data, 3)[0]
    elif cmd == CMD_LIVE:
        out["rate_hz"] = data[3]
        out["content"] = data[4]
        if data[3] not in LIVE_RATES_HZ:
            raise ProtocolError("live rate %d Hz not one of %s" % (data[3], LIVE_RATES_HZ), E_VALUE)
        if data[4] > LIVE_RAW:
            raise ProtocolError("live content %d unknown (0 angle, 1 raw)" % data[4], E_VALUE)
    elif cmd == CMD_IDENTIFY:
        out["seconds"] = data[3]
    elif cmd == CMD_GET:
        out["key"] = data[3]
        if data[3] >= len(GET_KEYS):
            raise ProtocolError("get: unknown key %d" % data[3], E_VALUE)
    return out



# -- host side -------------------------------------------------------------------------------
# decode(), encode(), command() and the name tables live in sbcore.protocol_host so the device
# never loads them (its heap is 56 KB); on CPython they are re-exported here.

def decode(data):
    """Decode one notification into a dict with unit-named keys; ProtocolError if invalid."""
    from sbcore import protocol_host
    return protocol_host.decode(data)


def encode(packet):
    """Inverse of decode(): dict -> bytes."""
    from sbcore import protocol_host
    return protocol_host.encode(packet)


def command(cmd, token=0, **args):
    """Build a control write; `cmd` is a CMD_* code or its name ('select', 'replay', ...)."""
    from sbcore import protocol_host
    return protocol_host.command(cmd, token, **args)


import sys as _sys  # noqa: E402

if _sys.implementation.name != "micropython":
    from sbcore.protocol_host import *  # noqa: E402,F401,F403
