"""The hardware guide agrees with the firmware: pins, config files, diagrams, BOM, power tables, clamp.

A person wires what `hardware/wiring.md` and its SVG diagrams say, then copies a file from
`hardware/config/`; these tests fail if those three ever disagree with each other or with the
firmware's own `firmware/config.json`.
"""
from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HW = ROOT / "hardware"
FIRMWARE_CONFIG = ROOT / "firmware" / "config.json"

# The firmware's defaults, as agreed in the project (hardware/wiring.md documents them).
DEFAULT_CONFIG = {
    "board": "esp32-devkitc", "i2c": {"id": 0, "sda": 21, "scl": 22, "freq": 400000},
    "imu": "auto", "imu_address": None, "imu_int_pin": None, "rate_hz": 100, "led_pin": 2,
    "led_active_high": True, "button_pin": 0, "battery_adc_pin": 34, "battery_divider": 2.0,
    "name_prefix": "smartbell",
}
NULLABLE = {"imu_address", "imu_int_pin", "led_pin", "button_pin", "battery_adc_pin", "power_hold_pin"}
PIN_KEYS = ("i2c.sda", "i2c.scl", "imu_int_pin", "led_pin", "button_pin", "battery_adc_pin",
            "power_hold_pin")

# What each chip allows: usable GPIOs, input-only GPIOs, and ADC1 (ADC2 stops working with the radio).
CHIPS = {
    "esp32": {"gpio": set(range(0, 6)) | set(range(12, 20)) | {21, 22, 23, 25, 26, 27} | set(range(32, 40)),
              "input_only": set(range(34, 40)), "adc1": set(range(32, 40))},
    # GPIO26-37 are taken by the octal flash/PSRAM on the 8 MB-PSRAM boards (XIAO ESP32-S3).
    "esp32s3": {"gpio": set(range(0, 22)) | set(range(38, 49)), "input_only": set(),
                "adc1": set(range(1, 11))},
}
BOARD_CHIP = {"esp32-devkitc": "esp32", "m5stickc-plus2": "esp32", "xiao-esp32s3": "esp32s3"}
BOARD_CONFIGS = sorted((HW / "config").glob("*.json"))


def get(config: dict, dotted: str):
    for part in dotted.split("."):
        config = config.get(part)
        if config is None:
            return None
    return config


def optional_keys() -> dict:
    """Keys a board's config may add (absent: the firmware's default), from the firmware itself."""
    from sbdev import config as fw_config
    return getattr(fw_config, "OPTIONAL", {})


def gpio_number(cell: str) -> int | None:
    m = re.fullmatch(r"GPIO(\d+)", cell.strip())
    return int(m.group(1)) if m else None


# ---- the firmware's own file -------------------------------------------------------------------

def test_firmware_default_config_is_the_documented_one():
    assert FIRMWARE_CONFIG.exists(), "firmware/config.json is missing (the firmware engineer writes it)"
    assert json.loads(FIRMWARE_CONFIG.read_text()) == DEFAULT_CONFIG


def test_devkitc_config_is_a_copy_of_the_firmware_default():
    assert json.loads((HW / "config" / "esp32-devkitc.json").read_text()) == DEFAULT_CONFIG


# ---- ready-to-copy board configs ---------------------------------------------------------------

def config_problems(config: dict) -> list[str]:
    """Everything wrong with a board config, as readable lines (empty: fine)."""
    problems = []
    allowed = set(DEFAULT_CONFIG) | set(optional_keys())
    if not set(DEFAULT_CONFIG) <= set(config) <= allowed:
        problems.append(f"keys differ: unknown {sorted(set(config) - allowed)}, "
                        f"missing {sorted(set(DEFAULT_CONFIG) - set(config))}")
        return problems
    if set(config["i2c"]) != set(DEFAULT_CONFIG["i2c"]):
        problems.append(f"i2c keys differ: {sorted(config['i2c'])}")
        return problems
    for key, default in {**optional_keys(), **DEFAULT_CONFIG}.items():
        if key not in config:
            continue
        value = config[key]
        if value is None and key in NULLABLE:
            continue
        if default is None:
            if not isinstance(value, int) or isinstance(value, bool):
                problems.append(f"{key} must be null or an integer, not {value!r}")
        elif type(value) is not type(default):
            problems.append(f"{key} must be {type(default).__name__}, not {value!r}")
    chip = CHIPS.get(BOARD_CHIP.get(config["board"], ""), None)
    if chip is None:
        return problems + [f"unknown board {config['board']!r}: add it to BOARD_CHIP"]
    used = {}
    for key in PIN_KEYS:
        pin = get(config, key)
        if pin is None:
            continue
        if pin not in chip["gpio"]:
            problems.append(f"{key} = GPIO{pin} is not a usable GPIO on this chip")
        if pin in used:
            problems.append(f"GPIO{pin} used twice: {used[pin]} and {key}")
        used[pin] = key
    for key in ("i2c.sda", "i2c.scl", "led_pin", "power_hold_pin"):
        if get(config, key) in chip["input_only"]:
            problems.append(f"{key} = GPIO{get(config, key)} is input-only")
    if config["battery_adc_pin"] is not None and config["battery_adc_pin"] not in chip["adc1"]:
        problems.append(f"battery_adc_pin = GPIO{config['battery_adc_pin']} is not on ADC1")
    if problems:   # a wrong type makes the range checks below meaningless
        return problems
    if config["i2c"]["freq"] not in (100_000, 400_000):
        problems.append(f"i2c.freq {config['i2c']['freq']} is not 100 or 400 kHz")
    if not 12 <= config["rate_hz"] <= 200:
        problems.append(f"rate_hz {config['rate_hz']} outside 12..200")
    if not 1.0 <= config["battery_divider"] <= 4.0:
        problems.append(f"battery_divider {config['battery_divider']} is implausible")
    return problems


@pytest.mark.parametrize("path", BOARD_CONFIGS, ids=lambda p: p.name)
def test_board_config_parses_and_names_valid_keys(path):
    config = json.loads(path.read_text())
    assert config["board"] == path.stem, "file name and board name differ"
    assert config_problems(config) == []


@pytest.mark.parametrize("path", BOARD_CONFIGS, ids=lambda p: p.name)
def test_firmware_accepts_board_config(path):
    from sbdev import config as fw_config   # the device's own parser, run on the host
    messages = []
    parsed = fw_config.parse(path.read_text(), log=messages.append, where=path.name)
    assert messages == []
    assert parsed == json.loads(path.read_text())


def test_firmware_accepts_board_configs_under_micropython():
    from mpy import run_micropython
    paths = [str(p) for p in BOARD_CONFIGS]
    code = ("from sbdev import config\n"
            "for p in %r:\n"
            "    with open(p) as f:\n"
            "        config.parse(f.read(), log=print, where=p)\n"
            "print('checked', %d)\n" % (paths, len(paths)))
    out = run_micropython(code).stdout.decode()
    assert out.strip() == f"checked {len(paths)}", out


def test_config_checker_catches_mistakes():
    bad = json.loads(json.dumps(DEFAULT_CONFIG))
    bad["led_pin"] = 35                      # input-only
    bad["battery_adc_pin"] = 25              # ADC2
    bad["i2c"]["scl"] = 21                   # same as SDA
    bad["rate_hz"] = "100"
    problems = config_problems(bad)
    assert any("led_pin = GPIO35 is input-only" in p for p in problems)
    assert any("not on ADC1" in p for p in problems)
    assert any("GPIO21 used twice" in p for p in problems)
    assert any(p.startswith("rate_hz must be int") for p in problems)
    assert config_problems({**DEFAULT_CONFIG, "ledpin": 2})[0].startswith("keys differ: unknown ['ledpin']")


def test_every_build_has_a_config_and_the_firmware_default_is_one_of_them():
    builds = {r["build"] for r in read_csv("bom.csv")}
    assert builds == {p.stem for p in BOARD_CONFIGS}
    assert DEFAULT_CONFIG["board"] in builds


# ---- wiring.md tables and SVG diagrams ---------------------------------------------------------

def wiring_sections() -> list[dict]:
    """Each `## ` section of wiring.md with its config file, diagram and pin table."""
    sections = []
    for chunk in re.split(r"^## ", (HW / "wiring.md").read_text(), flags=re.M)[1:]:
        title = chunk.splitlines()[0].strip()
        cfg = re.search(r"^Config file: \[[^\]]*\]\(([^)]+)\)", chunk, re.M)
        svg = re.search(r"^Diagram: !\[[^\]]*\]\(([^)]+)\)", chunk, re.M)
        rows = []
        for line in chunk.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if line.startswith("|") and len(cells) == 4 and not set(line) <= set("|-: "):
                rows.append(dict(zip(("signal", "key", "pin", "to"), cells)))
        sections.append({"title": title, "config": cfg and (HW / cfg.group(1)).resolve(),
                         "svg": svg and (HW / svg.group(1)).resolve(), "rows": rows[1:]})
    return sections


SECTIONS = wiring_sections()


def table_pins(rows: list[dict]) -> dict[str, int]:
    """config key -> GPIO number, for the rows that name a config key."""
    out = {}
    for r in rows:
        if r["key"].startswith("`"):
            pin = gpio_number(r["pin"])
            assert pin is not None, f"row {r['signal']!r}: pin {r['pin']!r} is not GPIOn"
            out[r["key"].strip("`")] = pin
    return out


def pin_mismatches(config: dict, pins: dict[str, int]) -> list[str]:
    out = []
    for key in PIN_KEYS:
        want = get(config, key)
        if want is None and key not in pins:
            continue
        if pins.get(key) != want:
            out.append(f"{key}: table says {pins.get(key)}, config says {want}")
    return out + [f"{k}: in the table but not a pin key" for k in pins if k not in PIN_KEYS]


def test_wiring_guide_covers_every_build():
    assert len(SECTIONS) >= 3
    configs = {s["config"] for s in SECTIONS}
    assert FIRMWARE_CONFIG.resolve() in configs
    assert {p.resolve() for p in BOARD_CONFIGS} - {HW.joinpath("config/esp32-devkitc.json").resolve()} <= configs
    assert sum(1 for s in SECTIONS if s["svg"]) >= 2, "each DIY build needs a diagram"


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: s["title"])
def test_wiring_table_matches_config_file(section):
    assert section["config"] is not None, "section has no 'Config file:' line"
    assert section["config"].exists(), f"{section['config']} is missing"
    config = json.loads(section["config"].read_text())
    assert pin_mismatches(config, table_pins(section["rows"])) == []


def test_pin_comparison_catches_a_wrong_pin():
    rows = [{"signal": "I2C SDA", "key": "`i2c.sda`", "pin": "GPIO4", "to": ""},
            {"signal": "I2C SCL", "key": "`i2c.scl`", "pin": "GPIO22", "to": ""}]
    problems = pin_mismatches(DEFAULT_CONFIG, table_pins(rows))
    assert "i2c.sda: table says 4, config says 21" in problems
    assert "led_pin: table says None, config says 2" in problems


def svg_wires(path: Path) -> dict[str, set[str]]:
    """signal -> GPIO names wired to it in the diagram (from each wire group's data-pin)."""
    ns = {"s": "http://www.w3.org/2000/svg"}
    root = ET.parse(path).getroot()
    wires: dict[str, set[str]] = {}
    for g in root.iterfind(".//s:g[@class='wire']", ns):
        if g.get("data-pin"):
            wires.setdefault(g.get("data-signal"), set()).add(g.get("data-pin"))
    return wires


def svg_texts(path: Path) -> str:
    root = ET.parse(path).getroot()
    return " ".join("".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text"))


def diagram_mismatches(svg: Path, table_rows: list[dict]) -> list[str]:
    wires, texts = svg_wires(svg), svg_texts(svg)
    rows = [r for r in table_rows if gpio_number(r["pin"]) is not None]
    problems = []
    # Every GPIO row of the table is drawn as a wire to that pin, with the pin written beside it...
    for r in rows:
        signal, pin = r["signal"], r["pin"]
        if not re.search(rf"\b{pin}\b", texts):
            problems.append(f"{pin} ({signal}) is not written on the diagram")
        if r["to"].startswith("on the board:"):   # a part on the board itself: named, not wired
            continue
        if wires.get(signal) != {pin}:
            problems.append(f"{signal}: diagram wires {wires.get(signal)}, table says {pin}")
    # ...and the diagram wires no GPIO the table does not list.
    extra = {pin for pins in wires.values() for pin in pins} - {r["pin"] for r in rows}
    return problems + [f"diagram wires {p}, which the table does not list" for p in sorted(extra)]


@pytest.mark.parametrize("section", [s for s in SECTIONS if s["svg"]], ids=lambda s: s["title"])
def test_wiring_diagram_matches_table(section):
    assert diagram_mismatches(section["svg"], section["rows"]) == []


def test_diagram_comparison_catches_a_wrong_wire(tmp_path):
    section = next(s for s in SECTIONS if s["config"] == FIRMWARE_CONFIG.resolve())
    bad = tmp_path / "bad.svg"
    bad.write_text(section["svg"].read_text().replace('data-pin="GPIO22"', 'data-pin="GPIO23"'))
    assert diagram_mismatches(bad, section["rows"]) == [
        "I2C SCL: diagram wires {'GPIO23'}, table says GPIO22",
        "diagram wires GPIO23, which the table does not list"]


# ---- BOM and power tables ----------------------------------------------------------------------

def read_csv(name: str) -> list[dict]:
    with open(HW / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_bom_rows_are_complete():
    rows = read_csv("bom.csv")
    assert list(rows[0]) == ["build", "item", "part", "qty", "unit_price_usd", "notes"]
    for r in rows:
        assert r["item"] and r["part"], r
        assert int(r["qty"]) >= 1, r
        assert 0 < float(r["unit_price_usd"]) < 100, r
    for build in {r["build"] for r in rows}:
        items = {r["item"] for r in rows if r["build"] == build}
        assert any("controller" in i for i in items), f"{build}: no controller"
        assert "clamp" in items and "strap" in items, f"{build}: no mounting parts"
    # The no-solder build has its battery inside; the DIY ones must list a protected cell.
    for r in rows:
        if r["item"] == "battery":
            assert "protection" in r["part"], r


def test_power_budget_marks_every_figure_measured_or_estimated():
    rows = read_csv("power-budget.csv")
    builds = {r["build"] for r in read_csv("bom.csv")}
    assert {r["build"] for r in rows} == builds
    assert {r["build"] for r in read_csv("batteries.csv")} == builds
    for r in rows + read_csv("batteries.csv"):
        assert r["basis"] in ("measured", "estimated"), r
        assert len(r["source"]) > 10, f"no source for {r}"
    for r in rows:
        assert 0 <= float(r["current_ma"]) <= float(r["upper_ma"]), r
        assert r["state"] in ("all", "advertising", "streaming", "idle"), r
    for build in builds:
        states = {r["state"] for r in rows if r["build"] == build}
        assert {"all", "advertising", "streaming", "idle"} <= states, build


def run_tables(hw_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(hw_dir / "tables.py"), *args], capture_output=True,
                          text=True, timeout=60)


def test_generated_tables_are_up_to_date():
    proc = run_tables(HW, "--check")
    assert proc.returncode == 0, proc.stderr


def test_generated_tables_follow_the_csv(tmp_path):
    hw = tmp_path / "hardware"
    shutil.copytree(HW, hw, ignore=shutil.ignore_patterns("*.stl", "__pycache__"))
    rows = (hw / "power-budget.csv").read_text().replace(
        "m5stickc-plus2,all,MPU6886 accelerometer + gyroscope,3,3.5",
        "m5stickc-plus2,all,MPU6886 accelerometer + gyroscope,13,13.5")
    (hw / "power-budget.csv").write_text(rows)
    assert run_tables(hw, "--check").returncode == 1
    assert run_tables(hw).returncode == 0
    assert run_tables(hw, "--check").returncode == 0
    summary = next(l for l in (hw / "power.md").read_text().splitlines() if l.startswith("| `m5stickc-plus2`"))
    original = next(l for l in (HW / "power.md").read_text().splitlines() if l.startswith("| `m5stickc-plus2`"))
    assert summary != original


def test_bom_totals_in_the_readable_table():
    rows = read_csv("bom.csv")
    text = (HW / "bom.md").read_text()
    for build in {r["build"] for r in rows}:
        total = sum(int(r["qty"]) * float(r["unit_price_usd"]) for r in rows if r["build"] == build)
        assert f"**Total: about {total:.0f} USD** (`{build}`)" in text


# ---- the OpenSCAD clamp ------------------------------------------------------------------------

def openscad(tmp_path: Path, *defines: str, out: str = "clamp.stl") -> subprocess.CompletedProcess:
    exe = shutil.which("openscad")
    if not exe:
        pytest.skip("openscad is not installed here (apt-get install openscad; CI installs it)")
    args = [exe, "-o", str(tmp_path / out)]
    for d in defines:
        args += ["-D", d]
    return subprocess.run(args + [str(HW / "clamp.scad")], capture_output=True, text=True, timeout=120)


def stl_vertices(path: Path) -> list[tuple[float, float, float]]:
    verts = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "vertex":
            verts.append(tuple(float(v) for v in parts[1:4]))
    return verts


@pytest.mark.parametrize("handle_d", [25, 30, 35])
def test_clamp_renders_for_each_bar_size(tmp_path, handle_d):
    proc = openscad(tmp_path, f"handle_d={handle_d}")
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr and "ERROR" not in proc.stderr, proc.stderr
    verts = stl_vertices(tmp_path / "clamp.stl")
    assert len(verts) > 300
    # The lower half's bore: its closest points to the bar's axis (y) sit on the liner's surface.
    proc = openscad(tmp_path, f"handle_d={handle_d}", 'part="lower"', out="lower.stl")
    assert proc.returncode == 0, proc.stderr
    bore_r = min((x * x + z * z) ** 0.5 for x, _, z in stl_vertices(tmp_path / "lower.stl"))
    assert bore_r == pytest.approx(handle_d / 2 + 1.0, abs=0.01)


def test_clamp_takes_a_diy_project_box_on_the_smallest_bar(tmp_path):
    # mounting.md's example: a 61 x 41 mm box needs a longer ring and screws further out.
    proc = openscad(tmp_path, "handle_d=25", "pocket_l=61", "pocket_w=41")
    assert proc.returncode == 0, proc.stderr
    xs = [x for x, _, _ in stl_vertices(tmp_path / "clamp.stl")]
    assert max(xs) - min(xs) > 2 * (41 + 2 * 2.4)


def test_clamp_leaves_room_for_the_bar(tmp_path):
    proc = openscad(tmp_path, "handle_d=30", 'part="fit_check"')
    assert "top level object is empty" in proc.stderr.lower(), proc.stderr


@pytest.mark.parametrize("define,message", [
    ("handle_d=40", "handle_d must be 25..35 mm, got 40"),
    ("screw_len=16", "screw too long"),
    ('part="both"', 'unknown part "both"'),
])
def test_clamp_refuses_bad_parameters(tmp_path, define, message):
    proc = openscad(tmp_path, define)
    assert proc.returncode != 0
    assert message in proc.stderr


def svg_path_points(svg_text: str) -> list[tuple[float, float]]:
    d = re.search(r'<path d="([^"]*)"', svg_text).group(1)
    return [(float(x), float(y)) for x, y in re.findall(r"(-?[\d.]+),(-?[\d.]+)", d)]


def test_clamp_section_drawing_matches_the_model(tmp_path):
    """mounting.md shows clamp-section.svg: its outline must still be the model's (handle_d=30)."""
    proc = openscad(tmp_path, "handle_d=30", 'part="section"', out="section.svg")
    assert proc.returncode == 0, proc.stderr
    fresh = svg_path_points((tmp_path / "section.svg").read_text())
    drawn = svg_path_points((HW / "clamp-section.svg").read_text())
    for axis in (0, 1):
        for pick in (min, max):
            assert pick(p[axis] for p in drawn) == pytest.approx(pick(p[axis] for p in fresh), abs=0.05), \
                "clamp.scad changed: run python hardware/section_svg.py"
    assert len(drawn) == pytest.approx(len(fresh), rel=0.05)
