"""Host half of the smartbell protocol: decode notifications to dicts, encode dicts back, build
commands. Use it through `sbcore.protocol` (which re-exports all of this on CPython and imports
it lazily on MicroPython, so the device never holds it in its heap).
"""
import struct

from sbcore.protocol import *  # noqa: F401,F403 - constants and the device encoders
from sbcore.protocol import (ProtocolError, _CMD_NAMES, pack_rep, pack_hold, pack_abrupt,
                             pack_status, pack_response, pack_live_header, pack_live_angle,
                             pack_live_raw)

__all__ = ["decode", "encode", "command", "TYPE_NAMES", "STATUS_NAMES", "FAULT_NAMES",
           "CMD_NAMES", "STATUS_CODE_NAMES"]

TYPE_NAMES = {T_REP: "rep", T_HOLD: "hold", T_ABRUPT: "abrupt", T_STATUS: "status",
              T_LIVE_ANGLE: "live_angle", T_LIVE_RAW: "live_raw", T_RESPONSE: "response"}
STATUS_NAMES = {ST_FAULT: "fault", ST_RECOVERED: "recovered", ST_SET_STARTED: "set_started",
                ST_SET_STOPPED: "set_stopped", ST_CALIBRATED: "calibrated",
                ST_LOW_BATTERY: "low_battery", ST_ANCHOR: "anchor", ST_BOOT: "boot"}
FAULT_NAMES = {FAULT_I2C: "i2c", FAULT_STUCK: "stuck", FAULT_SATURATED: "saturated",
               FAULT_MISSING: "missing", FAULT_OVERRUN: "overrun"}
STATUS_CODE_NAMES = {OK: "ok", E_LENGTH: "bad_length", E_UNKNOWN: "unknown_command",
                     E_PARAM: "unknown_param", E_VALUE: "bad_value", E_STATE: "bad_state",
                     E_VERSION: "bad_version", E_SENSOR: "sensor_fault", E_RANGE: "out_of_range",
                     E_PARTIAL: "partial"}


CMD_NAMES = {i + 1: n for i, n in enumerate(_CMD_NAMES)}


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


_SIZES = {T_REP: REP_SIZE, T_HOLD: HOLD_SIZE, T_ABRUPT: ABRUPT_SIZE, T_STATUS: STATUS_SIZE,
          T_RESPONSE: RESPONSE_SIZE}


def _unpack12(data, off):
    a = data[off] | ((data[off + 1] & 0x0F) << 8)
    b = (data[off + 1] >> 4) | (data[off + 2] << 4)
    return a, b


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
