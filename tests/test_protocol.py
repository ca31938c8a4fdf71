"""Host side of the wire protocol: golden vectors decode to the documented dicts and re-encode to
the same bytes; commands build and parse; the decoder never raises anything but ProtocolError."""
import json
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from sbcore import protocol as P

GOLDEN = json.loads((Path(__file__).parent / "golden" / "protocol.json").read_text())


@pytest.mark.parametrize("vec", GOLDEN["packets"], ids=lambda v: v["name"])
def test_golden_decode_and_reencode(vec):
    raw = bytes.fromhex(vec["hex"])
    decoded = P.decode(raw)
    assert decoded == vec["decoded"]
    assert P.encode(decoded) == raw
    assert len(raw) <= P.DEFAULT_PAYLOAD, "every packet in the golden set fits a 20-byte notification"


@pytest.mark.parametrize("vec", [v for v in GOLDEN["packets"] if "device" in v], ids=lambda v: v["name"])
def test_golden_device_encoder_under_cpython(vec):
    fn, *args = vec["device"]
    buf = bytearray(32)
    n = getattr(P, fn)(buf, *args)
    assert buf[:n].hex() == vec["hex"]


@pytest.mark.parametrize("vec", GOLDEN["commands"], ids=lambda v: v["name"])
def test_golden_commands_both_directions(vec):
    raw = bytes.fromhex(vec["hex"])
    got = P.decode_command(raw)
    got["params"] = [list(p) for p in got["params"]] if "params" in got else None
    want = dict(vec["decoded"], params=vec["decoded"].get("params"))
    assert got == want
    args = {k: v for k, v in vec["decoded"].items() if k not in ("cmd", "name", "token")}
    assert P.command(vec["name"], vec["decoded"]["token"], **args) == raw


@pytest.mark.parametrize("vec", GOLDEN["bad_commands"], ids=lambda v: v["why"])
def test_bad_commands_raise_with_status(vec):
    with pytest.raises(P.ProtocolError) as err:
        P.decode_command(bytes.fromhex(vec["hex"]))
    assert err.value.status == vec["status"]
    assert isinstance(err.value, ValueError)


def test_rep_fields_are_consistent():
    d = P.decode(bytes.fromhex(GOLDEN["packets"][0]["hex"]))
    assert d["end_s"] - d["start_s"] == pytest.approx(d["duration_s"])
    assert set(d) >= {"rep", "start_s", "end_s", "to_far_s", "hold_s", "return_s", "duration_s",
                      "rom_deg", "peak_speed_dps", "peak_accel_g", "seq", "t_ms", "version", "type"}


def test_tick_epoch_extends_wire_time_past_2_30():
    buf = bytearray(20)
    try:
        P.set_tick_epoch(3)  # ticks wrapped 3 times at 2**30
        P.pack_abrupt(buf, 1, 1000, 1500, 10)
    finally:
        P.set_tick_epoch(0)
    assert P.decode(bytes(buf[:12]))["t_ms"] == (3 * 2**30 + 1000) % 2**32


def test_event_stamped_before_a_wrap_keeps_its_epoch():
    buf = bytearray(20)
    try:
        P.set_tick_epoch(1, now=100)            # just after the first wrap
        P.pack_abrupt(buf, 1, 2**30 - 50, 1500, 10)
        before = P.decode(bytes(buf[:12]))["t_ms"]
        P.pack_abrupt(buf, 2, 150, 1500, 10)
        after = P.decode(bytes(buf[:12]))["t_ms"]
    finally:
        P.set_tick_epoch(0)
    assert (before, after) == (2**30 - 50, 2**30 + 150)


def test_live_capacity_follows_mtu():
    assert P.live_capacity(20, P.T_LIVE_RAW) == 1
    assert P.live_capacity(20, P.T_LIVE_ANGLE) == 4
    assert P.live_capacity(244, P.T_LIVE_RAW) == 19
    assert P.live_capacity(244, P.T_LIVE_ANGLE) == 78


@pytest.mark.parametrize("raw, fragment", [
    (b"", "too short"),
    (bytes.fromhex("0201070040e20100"), "version 2"),
    (bytes.fromhex("0177070040e20100"), "unknown packet type 0x77"),
    (bytes.fromhex("0101070040e20100aa"), "must be 20 bytes"),
    (bytes.fromhex("0111000a00000000" + "00" * 11), r"not 8 \+ k\*12"),
])
def test_malformed_packets_are_named(raw, fragment):
    with pytest.raises(P.ProtocolError, match=fragment):
        P.decode(raw)


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=260))
def test_fuzz_decoder_only_raises_protocol_error(data):
    try:
        out = P.decode(data)
    except P.ProtocolError:
        return
    assert P.encode(out) == data  # anything it accepts round-trips exactly


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(sorted(P.TYPE_NAMES)), st.binary(min_size=0, max_size=250))
def test_fuzz_typed_packets(ptype, body):
    data = bytes((P.VERSION, ptype)) + body
    try:
        out = P.decode(data)
    except P.ProtocolError:
        return
    assert P.encode(out) == data


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=40))
def test_fuzz_command_parser(data):
    try:
        out = P.decode_command(data)
    except P.ProtocolError as exc:
        assert exc.status in P.STATUS_CODE_NAMES
        return
    assert out["name"] in P.CMD_NAMES.values()


@given(st.integers(0, 2**16 - 1), st.integers(0, 2**32 - 1), st.integers(0, 4095),
       st.integers(0, 4095), st.integers(0, 4095), st.integers(-32768, 32767))
def test_rep_and_hold_roundtrip_any_value(seq, t_ms, rep, cs, rom, angle):
    buf = bytearray(20)
    P.pack_rep(buf, seq, t_ms, rep, cs * 10, cs * 10, cs * 10, cs * 10, rom, rom, rom * 4)
    d = P.decode(bytes(buf))
    assert (d["seq"], d["t_ms"], d["rep"], d["rom_deg"]) == (seq, t_ms, rep, rom / 10)
    assert d["duration_s"] == cs / 100 and d["peak_accel_g"] == rom * 4 / 1000
    assert P.encode(d) == bytes(buf)
    n = P.pack_hold(buf, seq, t_ms, cs * 10, angle)
    assert P.decode(bytes(buf[:n]))["angle_deg"] == angle / 10
