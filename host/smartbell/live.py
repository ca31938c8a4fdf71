"""The live session view: what the person exercising sees on the laptop, readable from two metres.

`render(state)` turns a `LiveState` into a rich renderable (a big rep counter in block digits, the
phase with a hold timer, the last rep's verdicts, abrupt-movement warnings, link and battery);
`LiveView` shows it with `rich.live.Live` and redraws at once on every change. Tests render to a
recording `Console` and read the text, as a person would see it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

KEYS_HELP = "[space] start/stop set   [n] next exercise   [q] quit"

# 5-row block digits: a number a person can read from across the room in any terminal.
_FONT = {
    "0": ["███", "█ █", "█ █", "█ █", "███"],
    "1": [" █ ", "██ ", " █ ", " █ ", "███"],
    "2": ["███", "  █", "███", "█  ", "███"],
    "3": ["███", "  █", "███", "  █", "███"],
    "4": ["█ █", "█ █", "███", "  █", "  █"],
    "5": ["███", "█  ", "███", "  █", "███"],
    "6": ["███", "█  ", "███", "█ █", "███"],
    "7": ["███", "  █", "  █", "  █", "  █"],
    "8": ["███", "█ █", "███", "█ █", "███"],
    "9": ["███", "█ █", "███", "  █", "███"],
    "/": ["   ", "  █", " █ ", "█  ", "   "],
    " ": ["  ", "  ", "  ", "  ", "  "],
}

PHASE_LABELS = {
    "rest": "REST",
    "out": "GOING DOWN",
    "hold": "HOLDING",
    "return": "COMING BACK",
    "search": "HOLD STILL: learning the start position",
}


def big_text(text: str) -> list[str]:
    """`text` (digits, '/', spaces) as five rows of block characters."""
    rows = ["", "", "", "", ""]
    for ch in text:
        glyph = _FONT.get(ch, _FONT[" "])
        for i in range(5):
            rows[i] += glyph[i] + " "
    return [r.rstrip() for r in rows]


@dataclass
class LiveState:
    """Everything the view shows; the logger's consumer updates it, then calls `LiveView.update`."""

    exercise: str = "-"
    exercise_no: int = 1
    exercise_count: int = 1
    set_no: int = 0
    sets_target: int | None = None
    reps: int = 0
    reps_target: int | None = None
    in_set: bool = False
    phase: str = "rest"                 # rest | out | hold | return | search
    hold_elapsed_s: float = 0.0
    hold_target_s: float | None = None
    angle_deg: float | None = None
    last_rep: dict | None = None        # rep fields plus check_* and verdict from the spec
    abrupt_count: int = 0
    last_abrupt: dict | None = None
    abrupt_until: float = 0.0           # monotonic time until which the warning is shown big
    connection: str = "connecting"
    device_name: str = ""
    battery_pct: int | None = None
    weight_kg: float | None = None
    weight_warning: str = ""
    malformed: int = 0
    lost_links: int = 0
    message: str = ""
    raw_samples: int = 0
    finished: bool = False
    seen_seq: set = field(default_factory=set, repr=False)


def _verdict_table(rep: dict) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for key, value in rep.items():
        # "-": the spec does not check this; a row for it would read as a failure
        if not key.startswith("check_") or value == "-":
            continue
        ok = value == "ok"
        table.add_row(key[6:].replace("_", " "), Text("ok" if ok else f"✗ {value}",
                                                      style="green" if ok else "bold red"))
    return table


def _rep_line(rep: dict) -> str:
    parts = [f"rep {rep.get('rep', '?')}"]
    if rep.get("rom_deg") is not None:
        parts.append(f"range {rep['rom_deg']:.0f}°")
    if rep.get("hold_s") is not None:
        parts.append(f"hold {rep['hold_s']:.1f} s")
    if rep.get("duration_s") is not None:
        parts.append(f"{rep['duration_s']:.1f} s total")
    return "   ".join(parts)


def render(state: LiveState, now: float | None = None) -> Group:
    now = time.monotonic() if now is None else now
    header = Text()
    header.append(f" {state.exercise.upper()} ", style="bold white on blue")
    header.append(f"  exercise {state.exercise_no} of {state.exercise_count}")
    sets = f"SET {state.set_no}" + (f" of {state.sets_target}" if state.sets_target else "")
    header.append(f"   {sets}", style="bold")
    if not state.in_set:
        header.append("   (set not running)", style="yellow")
    if state.weight_kg is not None:
        header.append(f"   {state.weight_kg:g} kg")

    counter = f"{state.reps}" + (f" / {state.reps_target}" if state.reps_target else "")
    big = Text("\n".join(big_text(counter)), style="bold cyan")
    reps_panel = Panel(big, title="REPS", title_align="left", expand=False)

    label = PHASE_LABELS.get(state.phase, state.phase.upper())
    phase = Text(label, style="bold magenta" if state.phase != "rest" else "bold")
    if state.phase == "hold":
        target = state.hold_target_s
        phase.append(f"  {state.hold_elapsed_s:4.1f} s")
        if target:
            phase.append(f" / {target:.1f} s")
            done = min(1.0, state.hold_elapsed_s / target) if target > 0 else 1.0
            bar = "█" * int(done * 20) + "░" * (20 - int(done * 20))
            phase.append(f"  {bar}", style="green" if done >= 1.0 else "yellow")
    if state.angle_deg is not None:
        phase.append(f"   angle {state.angle_deg:.0f}°", style="dim")

    parts: list = [header, reps_panel, Panel(phase, title="NOW", title_align="left")]

    if state.last_abrupt is not None and now < state.abrupt_until:
        parts.append(Panel(Text(f"⚠  ABRUPT MOVEMENT  ({state.last_abrupt.get('peak_accel_g', 0):.1f} g)"
                                "  — slow down, move smoothly", style="bold white on red"),
                           border_style="red"))

    if state.last_rep is not None:
        rep = state.last_rep
        verdict = rep.get("verdict", "")
        title = Text("LAST REP  ")
        title.append("OK" if verdict == "ok" else "FIX", style="bold green" if verdict == "ok" else "bold red")
        parts.append(Panel(Group(Text(_rep_line(rep)), _verdict_table(rep)), title=title,
                           title_align="left"))

    status = Text()
    status.append("● ", style="green" if state.connection == "connected" else "red")
    status.append(state.connection)
    if state.device_name:
        status.append(f"  {state.device_name}")
    if state.battery_pct is not None:
        status.append(f"   battery {state.battery_pct}%", style="red" if state.battery_pct < 20 else "")
    if state.abrupt_count:
        status.append(f"   abrupt movements: {state.abrupt_count}", style="yellow")
    if state.malformed:
        status.append(f"   bad packets: {state.malformed}", style="yellow")
    if state.raw_samples:
        status.append(f"   raw samples: {state.raw_samples}", style="dim")
    parts.append(status)
    if state.weight_warning:
        parts.append(Text(f"⚠ {state.weight_warning}", style="bold yellow"))
    if state.message:
        parts.append(Text(state.message, style="italic"))
    parts.append(Text(KEYS_HELP, style="dim"))
    return Group(*parts)


class LiveView:
    """Shows `render(state)`; `update()` redraws at once (an event must show within 100 ms)."""

    def __init__(self, console: Console | None = None, *, enabled: bool = True):
        self.console = console or Console()
        self.enabled = enabled
        self._live: Live | None = None
        self.last_render_s: float | None = None

    def __enter__(self) -> "LiveView":
        if self.enabled:
            self._live = Live(Text(""), console=self.console, auto_refresh=False,
                              transient=False, redirect_stdout=False, redirect_stderr=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def update(self, state: LiveState) -> None:
        if self._live is not None:
            self._live.update(render(state), refresh=True)
        self.last_render_s = time.perf_counter()


class LineView:
    """For a console that is not a terminal (a pipe, a log, `smartbell demo` in CI): one plain
    line per thing that changed, instead of redrawing a screen."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console()
        self._seen: dict[str, object] = {}
        self.last_render_s: float | None = None

    def __enter__(self) -> "LineView":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def _changed(self, key: str, value) -> bool:
        if self._seen.get(key, object()) == value:
            return False
        self._seen[key] = value
        return True

    def update(self, state: LiveState) -> None:
        def out(line: str) -> None:
            self.console.print(line, markup=False, highlight=False)

        if self._changed("connection", state.connection):
            out(f"[link] {state.connection} {state.device_name}".rstrip())
        if self._changed("set", (state.exercise, state.set_no, state.in_set)) and state.set_no:
            what = "started" if state.in_set else "done"
            out(f"[set] {state.exercise} set {state.set_no}"
                f"{f' of {state.sets_target}' if state.sets_target else ''} {what}")
        rep = state.last_rep
        if rep is not None and self._changed("rep", (rep.get("rep"), rep.get("end_s"))):
            problems = [f"{k[6:]}: {v}" for k, v in rep.items() if k.startswith("check_")
                        and v not in ("ok", "-")]
            verdict = "ok" if rep.get("verdict") == "ok" else "fix (" + ", ".join(problems) + ")"
            target = f"/{state.reps_target}" if state.reps_target else ""
            out(f"[rep] {state.reps}{target}  {_rep_line(rep)}  -> {verdict}")
        if self._changed("abrupt", state.abrupt_count) and state.abrupt_count:
            g = (state.last_abrupt or {}).get("peak_accel_g", 0)
            out(f"[warning] ABRUPT MOVEMENT ({g:.1f} g): slow down, move smoothly")
        if self._changed("message", state.message) and state.message:
            out(f"[info] {state.message}")
        if self._changed("weight", state.weight_warning) and state.weight_warning:
            out(f"[warning] {state.weight_warning}")
        self.last_render_s = time.perf_counter()
