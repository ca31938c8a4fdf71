"""The firmware encoder under the real MicroPython: golden vectors byte for byte, with the heap
locked (the device packs events and live samples without allocating)."""
import json

from mpy import ROOT, run_micropython

CODE = r"""
import json, micropython
from sbcore import protocol as P
g = json.load(open('tests/golden/protocol.json'))
buf = bytearray(32)
ok = 0
for v in g['packets']:
    if 'device' not in v:
        continue
    fn = getattr(P, v['device'][0])
    args = v['device'][1:]
    if args[1] >= (1 << 30):   # the device never holds t_ms >= 2**30: it uses the tick epoch
        tick = args[1] & ((1 << 30) - 1)
        P.set_tick_epoch(args[1] >> 30, tick)
        args = [args[0], tick] + args[2:]
    n = fn(buf, *args)
    P.set_tick_epoch(0)
    got = ''.join('%02x' % b for b in buf[:n])
    print('VEC', v['name'], got == v['hex'], got)
# live packets and a rep with the heap locked: any allocation raises MemoryError
micropython.heap_lock()
try:
    for i in range(100):
        P.pack_rep(buf, i, 1000 + i, i, 4210, 1200, 2000, 1010, 652, 87, 1234)
        P.pack_live_header(buf, P.T_LIVE_RAW, i, 5, 70000)
        P.pack_live_raw(buf, 8, 1, -2, 4096, -32768, 32767, i)
        P.pack_status(buf, i, 5000, 1, 1, -19)
        P.pack_response(buf, i, 5000, 7, 1, 0, 12)
        P.pack_live_angle(buf, 8, -45, 2)
    locked = 'no allocation'
finally:
    micropython.heap_unlock()
print('HEAP', locked)
"""


def test_device_encoder_matches_golden_under_micropython():
    out = run_micropython(CODE).stdout.decode()
    golden = json.loads((ROOT / "tests" / "golden" / "protocol.json").read_text())
    names = [v["name"] for v in golden["packets"] if "device" in v]
    lines = [ln.split() for ln in out.splitlines() if ln.startswith("VEC")]
    assert [ln[1] for ln in lines] == names, out
    bad = [ln for ln in lines if ln[2] != "True"]
    assert not bad, out
    assert "HEAP no allocation" in out, out


def test_command_parser_under_micropython():
    code = r"""
import json
from sbcore import protocol as P
g = json.load(open('tests/golden/protocol.json'))
for v in g['commands']:
    d = P.decode_command(bytes.fromhex(v['hex']))
    print('CMD', d['name'] == v['name'], d.get('params', '-'))
for v in g['bad_commands']:
    try:
        P.decode_command(bytes.fromhex(v['hex']))
        print('BAD accepted')
    except P.ProtocolError as e:
        print('BAD', e.status == v['status'])
"""
    out = run_micropython(code).stdout.decode()
    lines = [ln for ln in out.splitlines() if ln.startswith(("CMD", "BAD"))]
    assert len(lines) == 10 + 8, out
    assert all(ln.split()[1] == "True" for ln in lines), out
