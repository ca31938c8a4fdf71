"""Draw clamp-section.svg (the picture in mounting.md) from clamp.scad's own cross-section.

    python hardware/section_svg.py      # needs openscad; rerun after changing clamp.scad

OpenSCAD cuts the assembled clamp across the bar (part="section", handle_d = 30) and exports the
outline as SVG; this script puts the bar, the liner and labels around it.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
HANDLE_D = 30
LINER_T = 1.0          # clamp.scad's default
SCALE = 6              # pixels per mm
PAD_LEFT, PAD_TOP = 300, 70


def section_outline() -> tuple[str, list[float]]:
    """The section's SVG path data and its viewBox (mm), straight from OpenSCAD."""
    exe = shutil.which("openscad")
    if not exe:
        raise SystemExit("openscad is not installed (apt-get install openscad)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "section.svg"
        subprocess.run([exe, "-q", "-D", f"handle_d={HANDLE_D}", "-D", 'part="section"', "-o", str(out),
                        str(HERE / "clamp.scad")], check=True)
        src = out.read_text()
    d = " ".join(re.search(r'<path d="(.*?)"', src, re.S).group(1).split())
    return d, [float(x) for x in re.search(r'viewBox="([^"]+)"', src).group(1).split()]


def drawing(d: str, viewbox: list[float]) -> str:
    minx, miny, w, h = viewbox
    width, height = int(w * SCALE + PAD_LEFT + 250), int(h * SCALE + PAD_TOP + 70)

    def x(v: float) -> float:
        return round(PAD_LEFT + (v - minx) * SCALE, 2)

    def y(v: float) -> float:
        return round(PAD_TOP + (v - miny) * SCALE, 2)

    bar_r = HANDLE_D / 2
    parts = [f'''<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="13">
  <title>smartbell clamp, cross-section across the bar (clamp.scad, handle_d = {HANDLE_D} mm)</title>
  <rect width="{width}" height="{height}" fill="#ffffff"/>
  <text x="20" y="30" font-size="18" font-weight="bold">Clamp cross-section across the bar (handle_d = {HANDLE_D} mm)</text>
  <circle cx="{x(0)}" cy="{y(0)}" r="{bar_r * SCALE}" fill="#d9d9d9" stroke="#666" stroke-width="1.5"/>
  <circle cx="{x(0)}" cy="{y(0)}" r="{(bar_r + LINER_T / 2) * SCALE}" fill="none" stroke="#222" stroke-width="{LINER_T * SCALE}" stroke-opacity="0.85"/>
  <g id="section" data-handle-d="{HANDLE_D}" transform="translate({PAD_LEFT - minx * SCALE} {PAD_TOP - miny * SCALE}) scale({SCALE})">
    <path d="{d}" fill="#f6c667" stroke="#333" stroke-width="0.25" fill-rule="evenodd"/>
  </g>
  <text x="{x(0)}" y="{y(0) + 5}" text-anchor="middle">bar, 25-35 mm</text>
''']
    left, right = x(minx) - 20, x(minx + w) + 20
    # Where the labels point, from clamp.scad's defaults: the screw axis sits ear_rim (3) plus half
    # the hole (1.7) inside the ear's end; the strap tunnel just above the ring (r_out + 0.5..3.5).
    screw_x = minx + 3 + 1.7
    r_out = bar_r + LINER_T + 4

    def label(px: float, py: float, tx: float, ty: float, text: str, anchor: str) -> None:
        dx = 4 if anchor == "start" else -4
        parts.append(f'  <line x1="{x(px)}" y1="{y(py)}" x2="{tx}" y2="{ty}" stroke="#555" stroke-width="1"/>\n'
                     f'  <text x="{tx + dx}" y="{ty + 4}" text-anchor="{anchor}">{text}</text>\n')

    label(-bar_r * 0.8, -bar_r * 0.73, left, y(-11) - 10, "rubber liner (inner tube)", "end")
    label(screw_x, -9, left, y(-9) + 30, "M3x12 screw, head in a counterbore", "end")
    label(screw_x, 9, left, y(9) + 20, "M3 nut in a hex trap", "end")
    label(bar_r + LINER_T + 6, 0.3, right, y(0.3), "gap: the liner grips before", "start")
    parts.append(f'  <text x="{right + 4}" y="{y(0.3) + 20}">the halves meet</text>\n')
    label(0, -(r_out + 2), right, y(-(r_out + 2)) - 8, "strap tunnel (20 mm strap)", "start")
    label(14.2, miny + 4, right, y(miny + 4) - 8, "cradle for the device", "start")
    parts.append(f'  <text x="20" y="{height - 20}" font-size="12" fill="#555">Cut through the screws; the '
                 f'shape is clamp.scad\'s part="section" at handle_d = {HANDLE_D}. Upper half on top, lower '
                 f'half below.</text>\n</svg>\n')
    return "".join(parts)


def main() -> int:
    d, viewbox = section_outline()
    (HERE / "clamp-section.svg").write_text(drawing(d, viewbox))
    return 0


if __name__ == "__main__":
    sys.exit(main())
