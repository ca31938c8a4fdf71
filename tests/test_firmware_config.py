"""config.json on the device: the shipped file equals the defaults (which hardware/ documents),
every board file in hardware/config parses without a complaint, and a bad file or field gets one
clear console line and the default, never a crash."""
import json

from fakes.fwtest import run_both
from mpy import FIRMWARE

CODE = r"""
from sbdev import config
msgs = []
def parse(text):
    del msgs[:]
    return config.parse(text, log=msgs.append)
shipped = config.load("firmware/config.json", log=msgs.append)
full = config.DEFAULTS
print("SHIPPED", shipped == full, len(msgs))
c = parse('{"rate_hz": 300, "led_pin": null, "i2c": {"sda": 4}, "imu": "bmi160", "zz": 1}')
print("MIXED", c["rate_hz"], c["led_pin"], c["i2c"]["sda"], c["i2c"]["scl"], c["imu"])
for m in msgs:
    print("MSG", m)
c = parse("{not json")
print("BROKEN", c == full, len(msgs), "not valid JSON" in msgs[0])
c = parse("[1, 2]")
print("ARRAY", c == full, "JSON object" in msgs[0])
c = parse('{"i2c": {"sda": "21"}, "battery_divider": 0.5, "name_prefix": "", "imu_address": 300}')
print("BADS", len(msgs), c == full)
c = config.load("no/such/config.json", log=msgs.append)
print("MISSING", c == full, "not found" in msgs[-1])
c = parse('{"power_hold_pin": 4}')
print("HOLD", c["power_hold_pin"], len(msgs))
import os
for name in sorted(os.listdir("hardware/config")):
    del msgs[:]
    c = config.load("hardware/config/" + name, log=msgs.append)
    print("BOARD", name, len(msgs), c["board"])
print("DONE")
"""


def test_shipped_config_is_the_documented_defaults():
    shipped = json.loads((FIRMWARE / "config.json").read_text())
    assert shipped == {"board": "esp32-devkitc", "i2c": {"id": 0, "sda": 21, "scl": 22,
                       "freq": 400000}, "imu": "auto", "imu_address": None, "imu_int_pin": None,
                       "rate_hz": 100, "led_pin": 2, "led_active_high": True, "button_pin": 0,
                       "battery_adc_pin": 34, "battery_divider": 2.0, "name_prefix": "smartbell"}


def test_bad_config_falls_back_field_by_field_with_clear_messages():
    for out in run_both(CODE):
        assert "DONE" in out, out
        assert "SHIPPED True 0" in out
        assert "MIXED 100 None 4 22 auto" in out, out
        msgs = [ln for ln in out.splitlines() if ln.startswith("MSG")]
        assert len(msgs) == 3, out                       # rate_hz, imu, unknown key
        assert any("rate_hz=300" in m and "using 100" in m for m in msgs), out
        assert any("'zz'" in m and "ignored" in m for m in msgs), out
        assert "BROKEN True 1 True" in out and "ARRAY True True" in out, out
        assert "BADS 4 True" in out and "MISSING True True" in out, out
        assert "HOLD 4 0" in out, out
        boards = [ln.split() for ln in out.splitlines() if ln.startswith("BOARD")]
        assert boards and all(b[2] == "0" for b in boards), out   # hardware/'s files parse clean
