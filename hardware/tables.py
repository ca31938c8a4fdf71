"""Write the readable tables in hardware/*.md from the CSV files, so the two never disagree.

    python hardware/tables.py           # rewrite the generated blocks in bom.md and power.md
    python hardware/tables.py --check   # exit 1 if a generated block is out of date (tests use this)

A generated block sits between `<!-- begin:NAME -->` and `<!-- end:NAME -->`; the text around it
is written by hand.
"""
from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
STATES = ("advertising", "streaming", "idle")
# One 20-minute session: finding and connecting, sets with live data, rests between sets.
SESSION_MIN = {"advertising": 2, "streaming": 12, "idle": 6}
BUILD_TITLES = {
    "m5stickc-plus2": "M5StickC Plus2 (no soldering)",
    "esp32-devkitc": "ESP32-DevKitC + GY-521 (DIY, default pins)",
    "xiao-esp32s3": "XIAO ESP32-S3 + LSM6DSOX (DIY, smallest)",
}


def read_csv(name: str) -> list[dict]:
    with open(HERE / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _num(x: float) -> str:
    return f"{x:.4f}".rstrip("0").rstrip(".")


def bom_totals(rows: list[dict]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for r in rows:
        totals[r["build"]] += int(r["qty"]) * float(r["unit_price_usd"])
    return dict(totals)


def bom_block(rows: list[dict]) -> str:
    out = []
    totals = bom_totals(rows)
    for build in BUILD_TITLES:
        out += [f"### {BUILD_TITLES[build]}", "", "| item | part | qty | unit (USD) | notes |",
                "|---|---|---:|---:|---|"]
        for r in (r for r in rows if r["build"] == build):
            out.append(f"| {r['item']} | {r['part']} | {r['qty']} | {float(r['unit_price_usd']):.2f} "
                       f"| {r['notes']} |")
        out += ["", f"**Total: about {totals[build]:.0f} USD** (`{build}`)", ""]
    return "\n".join(out).rstrip() + "\n"


def state_currents(rows: list[dict]) -> dict[str, dict[str, tuple[float, float]]]:
    """build -> state -> (typical_mA, upper_mA); rows with state `all` count in every state."""
    result: dict[str, dict[str, list[float]]] = defaultdict(lambda: {s: [0.0, 0.0] for s in STATES})
    for r in rows:
        states = STATES if r["state"] == "all" else (r["state"],)
        for s in states:
            result[r["build"]][s][0] += float(r["current_ma"])
            result[r["build"]][s][1] += float(r["upper_ma"])
    return {b: {s: (v[0], v[1]) for s, v in d.items()} for b, d in result.items()}


def battery_life(rows: list[dict], batteries: list[dict]) -> dict[str, dict]:
    """Per build: mAh per 20-minute session and sessions per charge, typical and worst case."""
    currents = state_currents(rows)
    out = {}
    for b in batteries:
        cur = currents[b["build"]]
        typ_mah = sum(cur[s][0] * SESSION_MIN[s] / 60 for s in STATES)
        up_mah = sum(cur[s][1] * SESSION_MIN[s] / 60 for s in STATES)
        cap = float(b["capacity_mah"])
        out[b["build"]] = {
            "battery": b["battery"],
            "session_mah": (typ_mah, up_mah),
            "sessions": (cap * float(b["usable_fraction"]) / typ_mah,
                         cap * float(b["usable_fraction_low"]) / up_mah),
            "streaming_h": (cap * float(b["usable_fraction"]) / cur["streaming"][0],
                            cap * float(b["usable_fraction_low"]) / cur["streaming"][1]),
        }
    return out


def power_summary_block(rows: list[dict], batteries: list[dict]) -> str:
    currents = state_currents(rows)
    life = battery_life(rows, batteries)
    out = ["| build | advertising (mA) | streaming (mA) | idle (mA) | battery | per session (mAh) "
           "| sessions per charge | hours streaming |", "|---|---:|---:|---:|---|---:|---:|---:|"]
    for build in BUILD_TITLES:
        c, l = currents[build], life[build]
        cells = [f"{c[s][0]:.0f} (up to {c[s][1]:.0f})" for s in STATES]
        out.append(f"| `{build}` | " + " | ".join(cells)
                   + f" | {l['battery']} | {l['session_mah'][0]:.0f} (up to {l['session_mah'][1]:.0f})"
                   + f" | {l['sessions'][0]:.0f} (at least {int(l['sessions'][1])})"
                   + f" | {l['streaming_h'][0]:.1f} (at least {l['streaming_h'][1]:.1f}) |")
    out += ["", "All figures **estimated** (nothing measured on a board yet); the rows below say "
            "what each one comes from."]
    return "\n".join(out) + "\n"


def power_detail_block(rows: list[dict]) -> str:
    out = []
    for build in BUILD_TITLES:
        out += [f"#### `{build}`", "", "| state | component | typical (mA) | upper (mA) | basis | from |",
                "|---|---|---:|---:|---|---|"]
        for r in (r for r in rows if r["build"] == build):
            out.append(f"| {r['state']} | {r['component']} | {_num(float(r['current_ma']))} | "
                       f"{_num(float(r['upper_ma']))} | {r['basis']} | {r['source']} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def blocks() -> dict[str, dict[str, str]]:
    """file name -> block name -> generated text."""
    power, batteries = read_csv("power-budget.csv"), read_csv("batteries.csv")
    return {
        "bom.md": {"bom": bom_block(read_csv("bom.csv"))},
        "power.md": {"power-summary": power_summary_block(power, batteries),
                     "power-detail": power_detail_block(power)},
    }


def splice(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- begin:{re.escape(name)} -->\n).*?(<!-- end:{re.escape(name)} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"marker <!-- begin:{name} --> ... <!-- end:{name} --> missing")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only report stale files, exit 1 if any")
    args = ap.parse_args(argv)
    stale = []
    for fname, named in blocks().items():
        path = HERE / fname
        old = path.read_text(encoding="utf-8")
        new = old
        for name, body in named.items():
            new = splice(new, name, body)
        if new != old:
            stale.append(fname)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    if args.check and stale:
        print("out of date (run python hardware/tables.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
