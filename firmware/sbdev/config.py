"""Device configuration: `config.json` on the board (pins, IMU, rate, name) checked field by field.

    cfg = load("config.json", log=print)   # a bad file or field: one clear console line, defaults

A broken file never stops the device: each bad field falls back to its default with a message.
"""
import json

DEFAULTS = {
    "board": "esp32-devkitc",
    "i2c": {"id": 0, "sda": 21, "scl": 22, "freq": 400000},
    "imu": "auto",
    "imu_address": None,
    "imu_int_pin": None,
    "rate_hz": 100,
    "led_pin": 2,
    "led_active_high": True,
    "button_pin": 0,
    "battery_adc_pin": 34,
    "battery_divider": 2.0,
    "name_prefix": "smartbell",
}

# Keys a board may add that the shipped config.json leaves out (absent: the value here).
OPTIONAL = {
    "power_hold_pin": None,      # driven high at boot (M5StickC Plus2: GPIO4 keeps it powered)
}

IMUS = ("auto", "mpu6050", "mpu6500", "mpu6886", "lsm6ds3", "lsm6dsox")
RATES_HZ = (50, 100, 200)
_OPTIONAL_PINS = ("imu_int_pin", "led_pin", "button_pin", "battery_adc_pin", "power_hold_pin")


def _pin_ok(v):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 48


def _check(key, v):
    """None if `v` is fine for `key`, else why not."""
    if key == "board" or key == "name_prefix":
        if not isinstance(v, str) or not 0 < len(v) <= 20:
            return "must be a string of 1-20 characters"
    elif key == "i2c":
        if not isinstance(v, dict):
            return "must be an object {id, sda, scl, freq}"
        for k in v:
            if k not in DEFAULTS["i2c"]:
                return "unknown key %r" % (k,)
        for k in ("sda", "scl"):
            if k in v and not _pin_ok(v[k]):
                return "%s must be a GPIO number" % k
        if "id" in v and v["id"] not in (0, 1):
            return "id must be 0 or 1"
        if "freq" in v and (not isinstance(v["freq"], int) or not 10000 <= v["freq"] <= 1000000):
            return "freq must be 10000-1000000 Hz"
    elif key == "imu":
        if v not in IMUS:
            return "must be one of %s" % ", ".join(IMUS)
    elif key == "imu_address":
        if v is not None and (not isinstance(v, int) or not 0x08 <= v <= 0x77):
            return "must be null or an I2C address 0x08-0x77"
    elif key == "rate_hz":
        if v not in RATES_HZ:
            return "must be one of %s" % (RATES_HZ,)
    elif key in _OPTIONAL_PINS:
        if v is not None and not _pin_ok(v):
            return "must be null (not fitted) or a GPIO number"
    elif key == "led_active_high":
        if not isinstance(v, bool):
            return "must be true or false"
    elif key == "battery_divider":
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 1 <= v <= 10:
            return "must be a number 1-10"
    return None


def parse(text, log=print, where="config.json"):
    """Settings from JSON text, merged over the defaults; problems are logged, never raised."""
    cfg = {}
    for k in DEFAULTS:
        v = DEFAULTS[k]
        cfg[k] = dict(v) if isinstance(v, dict) else v
    try:
        user = json.loads(text)
    except ValueError as exc:
        log("%s: not valid JSON (%s): using the defaults" % (where, exc))
        return cfg
    if not isinstance(user, dict):
        log("%s: must hold a JSON object: using the defaults" % where)
        return cfg
    for k in user:
        if k not in cfg and k not in OPTIONAL:
            log("%s: unknown setting %r ignored" % (where, k))
            continue
        why = _check(k, user[k])
        if why:
            log("%s: %s=%r %s: using %r" % (where, k, user[k], why, cfg.get(k, OPTIONAL.get(k))))
        elif k == "i2c":
            cfg["i2c"].update(user[k])
        else:
            cfg[k] = user[k]
    return cfg


def load(path="config.json", log=print):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        log("%s: not found: using the defaults" % path)
        return parse("{}", log, path)
    return parse(text, log, path)
