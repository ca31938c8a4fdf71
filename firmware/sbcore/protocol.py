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

TYPE_NAMES = {T_REP: "rep", T_HOLD: "hold", T_ABRUPT: "abrupt", T_STATUS: "status",
              T_LIVE_ANGLE: "live_angle", T_LIVE_RAW: "live_raw", T_RESPONSE: "response"}
STATUS_NAMES = {ST_FAULT: "fault", ST_RECOVERED: "recovered", ST_SET_STARTED: "set_started",
                ST_SET_STOPPED: "set_stopped", ST_CALIBRATED: "calibrated",
                ST_LOW_BATTERY: "low_battery", ST_ANCHOR: "anchor", ST_BOOT: "boot"}
FAULT_NAMES = {FAULT_I2C: "i2c", FAULT_STUCK: "stuck", FAULT_SATURATED: "saturated",
               FAULT_MISSING: "missing", FAULT_OVERRUN: "overrun"}
CMD_NAMES = {CMD_SELECT: "select", CMD_PARAMS: "params", CMD_START: "start", CMD_STOP: "stop",
             CMD_CALIBRATE: "calibrate", CMD_TIME_SYNC: "time_sync", CMD_REPLAY: "replay",
             CMD_LIVE: "live", CMD_IDENTIFY: "identify", CMD_GET: "get"}
STATUS_CODE_NAMES = {OK: "ok", E_LENGTH: "bad_length", E_UNKNOWN: "unknown_command",
                     E_PARAM: "unknown_param", E_VALUE: "bad_value", E_STATE: "bad_state",
                     E_VERSION: "bad_version", E_SENSOR: "sensor_fault", E_RANGE: "out_of_range",
                     E_PARTIAL: "partial"}


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


def set_tick_epoch(wraps):
    """Tell the encoder how often the device's 2**30 tick counter wrapped since boot."""
    global _t_hi_add
    _t_hi_add = (wraps << 14) & 0xFFFF


def _header(buf, ptype, seq, t_ms):
    struct.pack_into("<BBHHH", buf, 0, VERSION, ptype, seq & 0xFFFF, t_ms & 0xFFFF,
                     ((t_ms >> 16) + _t_hi_add) & 0xFFFF)


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
                     t_ms & 0xFFFF, ((t_ms >> 16) + _t_hi_add) & 0xFFFF)
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

def _unpack12(data, off):
    a = data[off] | ((data[off + 1] & 0x0F) << 8)
    b = (data[off + 1] >> 4) | (data[off + 2] << 4)
    return a, b


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
    name = CMD_NAMES.get(cmd)
    if name is None:
        raise ProtocolError("unknown command 0x%02x" % cmd, E_UNKNOWN)
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


def command(cmd, token=0, **args):
    """Build a control write. `cmd` is a CMD_* code or its name ('select', 'replay', ...)."""
    if not isinstance(cmd, int):
        for code, name in CMD_NAMES.items():
            if name == cmd:
                cmd = code
                break
        else:
            raise ProtocolError("unknown command %r" % (cmd,), E_UNKNOWN)
    out = bytearray((VERSION, cmd & 0xFF, token & 0xFF))
    if cmd == CMD_SELECT:
        out.append(args["exercise"] & 0xFF)
    if cmd in (CMD_SELECT, CMD_PARAMS):
        for pid, value in args.get("params", ()):
            out += struct.pack("<Bi", pid, value)
    elif cmd == CMD_TIME_SYNC:
        out += struct.pack("<I", args["host_ms"] & 0xFFFFFFFF)
    elif cmd == CMD_REPLAY:
        out += struct.pack("<H", args["from_seq"] & 0xFFFF)
    elif cmd == CMD_LIVE:
        out += bytes((args["rate_hz"], args.get("content", LIVE_ANGLE)))
    elif cmd == CMD_IDENTIFY:
        out.append(args.get("seconds", 5) & 0xFF)
    elif cmd == CMD_GET:
        out.append(args["key"])
    return bytes(out)


# -- host side: decode notifications into dicts with unit-named keys ---------------------------

_SIZES = {T_REP: REP_SIZE, T_HOLD: HOLD_SIZE, T_ABRUPT: ABRUPT_SIZE, T_STATUS: STATUS_SIZE,
          T_RESPONSE: RESPONSE_SIZE}


def _t_ms(data, off):
    lo, hi = struct.unpack_from("<HH", data, off)
    return lo | (hi << 16)


def decode(data):
    """Decode one notification (events, live or control characteristic) into a dict.
    Raises ProtocolError for anything that is not a valid packet; never anything else."""
    try:
        data = bytes(data)
    except Exception:
        raise ProtocolError("packet is not bytes", E_LENGTH)
    n = len(data)
    if n < HEADER_SIZE:
        raise ProtocolError("packet too short: %d bytes (header is %d)" % (n, HEADER_SIZE))
    version = data[0]
    ptype = data[1]
    if version != VERSION:
        raise ProtocolError("unsupported format version %d (this decoder reads %d)"
                            % (version, VERSION), E_VERSION)
    name = TYPE_NAMES.get(ptype)
    if name is None:
        raise ProtocolError("unknown packet type 0x%02x" % ptype, E_UNKNOWN)
    if ptype == T_LIVE_ANGLE or ptype == T_LIVE_RAW:
        return _decode_live(data, ptype, name)
    if n != _SIZES[ptype]:
        raise ProtocolError("%s packet must be %d bytes, got %d" % (name, _SIZES[ptype], n))
    t_ms = _t_ms(data, 4)
    out = {"version": version, "type": name, "seq": struct.unpack_from("<H", data, 2)[0],
           "t_ms": t_ms}
    if ptype == T_REP:
        rep, dur = _unpack12(data, 8)
        far, hold = _unpack12(data, 11)
        ret, rom = _unpack12(data, 14)
        speed, acc4 = _unpack12(data, 17)
        out["rep"] = rep
        out["start_s"] = (t_ms - dur * 10) / 1000
        out["end_s"] = t_ms / 1000
        out["to_far_s"] = far / 100
        out["hold_s"] = hold / 100
        out["return_s"] = ret / 100
        out["duration_s"] = dur / 100
        out["rom_deg"] = rom / 10
        out["peak_speed_dps"] = speed
        out["peak_accel_g"] = acc4 * 4 / 1000
    elif ptype == T_HOLD:
        hold, angle = struct.unpack_from("<Hh", data, 8)
        out["t_s"] = t_ms / 1000
        out["hold_s"] = hold / 100
        out["angle_deg"] = angle / 10
    elif ptype == T_ABRUPT:
        peak, jerk = struct.unpack_from("<HH", data, 8)
        out["t_s"] = t_ms / 1000
        out["peak_accel_g"] = peak / 1000
        out["jerk_gps"] = jerk
    elif ptype == T_STATUS:
        code, detail, value = struct.unpack_from("<BBi", data, 8)
        out["t_s"] = t_ms / 1000
        out["code"] = code
        out["status"] = STATUS_NAMES.get(code, "unknown")
        out["detail"] = detail
        if code == ST_FAULT or code == ST_RECOVERED:
            out["fault"] = FAULT_NAMES.get(detail, "unknown")
        out["value"] = value
    else:  # T_RESPONSE
        cmd, token, status, reserved, value = struct.unpack_from("<BBBBi", data, 8)
        if reserved:
            raise ProtocolError("response byte 11 is reserved and must be 0, got %d" % reserved)
        out["cmd"] = cmd
        out["command"] = CMD_NAMES.get(cmd, "unknown")
        out["token"] = token
        out["code"] = status
        out["status"] = STATUS_CODE_NAMES.get(status, "unknown")
        out["value"] = value
    return out


def _decode_live(data, ptype, name):
    n = len(data)
    size = LIVE_RAW_SAMPLE if ptype == T_LIVE_RAW else LIVE_ANGLE_SAMPLE
    if n < LIVE_HEADER_SIZE + size or (n - LIVE_HEADER_SIZE) % size:
        raise ProtocolError("%s packet of %d bytes is not 8 + k*%d" % (name, n, size))
    seq = data[2]
    period_ms = data[3]
    t_ms = _t_ms(data, 4)
    samples = []
    t = t_ms
    for off in range(LIVE_HEADER_SIZE, n, size):
        if ptype == T_LIVE_RAW:
            ax, ay, az, gx, gy, gz = struct.unpack_from("<hhhhhh", data, off)
            samples.append({"t_ms": t & 0xFFFFFFFF, "ax": ax, "ay": ay, "az": az,
                            "gx": gx, "gy": gy, "gz": gz})
        else:
            angle, phase = struct.unpack_from("<hB", data, off)
            samples.append({"t_ms": t & 0xFFFFFFFF, "angle_deg": angle / 10, "phase": phase})
        t += period_ms
    return {"version": data[0], "type": name, "seq": seq, "t_ms": t_ms, "period_ms": period_ms,
            "samples": samples}


def encode(packet):
    """Inverse of decode(): dict -> bytes (used by tests, the host's simulators and tools)."""
    try:
        name = packet["type"]
        seq = packet["seq"]
        t_ms = packet["t_ms"]
    except (KeyError, TypeError):
        raise ProtocolError("packet dict needs type, seq and t_ms")
    ptype = None
    for code, tname in TYPE_NAMES.items():
        if tname == name:
            ptype = code
    if ptype is None:
        raise ProtocolError("unknown packet type %r" % (name,), E_UNKNOWN)
    if ptype == T_LIVE_ANGLE or ptype == T_LIVE_RAW:
        samples = packet["samples"]
        size = LIVE_RAW_SAMPLE if ptype == T_LIVE_RAW else LIVE_ANGLE_SAMPLE
        buf = bytearray(LIVE_HEADER_SIZE + size * len(samples))
        pack_live_header(buf, ptype, seq, packet["period_ms"], t_ms)
        off = LIVE_HEADER_SIZE
        for s in samples:
            if ptype == T_LIVE_RAW:
                off = pack_live_raw(buf, off, s["ax"], s["ay"], s["az"], s["gx"], s["gy"], s["gz"])
            else:
                off = pack_live_angle(buf, off, round(s["angle_deg"] * 10), s["phase"])
        return bytes(buf)
    buf = bytearray(EVENT_MAX)
    p = packet
    if ptype == T_REP:
        n = pack_rep(buf, seq, t_ms, p["rep"], round(p["duration_s"] * 1000),
                     round(p["to_far_s"] * 1000), round(p["hold_s"] * 1000),
                     round(p["return_s"] * 1000), round(p["rom_deg"] * 10), p["peak_speed_dps"],
                     round(p["peak_accel_g"] * 1000))
    elif ptype == T_HOLD:
        n = pack_hold(buf, seq, t_ms, round(p["hold_s"] * 1000), round(p["angle_deg"] * 10))
    elif ptype == T_ABRUPT:
        n = pack_abrupt(buf, seq, t_ms, round(p["peak_accel_g"] * 1000), p["jerk_gps"])
    elif ptype == T_STATUS:
        n = pack_status(buf, seq, t_ms, p["code"], p["detail"], p["value"])
    else:
        n = pack_response(buf, seq, t_ms, p["cmd"], p["token"], p["code"], p["value"])
    return bytes(buf[:n])
