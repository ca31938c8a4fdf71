"""The live view as a person sees it: rendered to a recording console, read back as text."""
import re
import time

from rich.console import Console

from smartbell.live import LineView, LiveState, LiveView, big_text, render


def screen(state, width=90, now=None):
    console = Console(record=True, width=width, force_terminal=False, color_system=None)
    console.print(render(state, now=now))
    return console.export_text()


def holding_state(**kw):
    base = dict(exercise="good-morning", exercise_no=1, exercise_count=2, set_no=2, sets_target=3,
                reps=7, reps_target=8, in_set=True, phase="hold", hold_elapsed_s=2.1,
                hold_target_s=3.0, connection="connected", device_name="smartbell-1A2B",
                battery_pct=81, weight_kg=3.0)
    base.update(kw)
    return LiveState(**base)


def test_big_rep_counter_against_the_plan():
    text = screen(holding_state())
    rows = big_text("7 / 8")
    lines = text.splitlines()
    # the five block rows appear one under the other, in order
    start = next(i for i, line in enumerate(lines) if rows[0] in line)
    for k, row in enumerate(rows):
        assert row in lines[start + k]
    assert "GOOD-MORNING" in text and "exercise 1 of 2" in text and "SET 2 of 3" in text


def test_hold_timer_counts_to_the_target():
    text = screen(holding_state(hold_elapsed_s=2.1))
    assert "HOLDING" in text and "2.1 s / 3.0 s" in text
    done = screen(holding_state(hold_elapsed_s=3.4))
    assert "3.4 s / 3.0 s" in done and "█" * 20 in done      # full bar once the target is met
    for phase, label in [("out", "GOING DOWN"), ("return", "COMING BACK"), ("rest", "REST")]:
        assert label in screen(holding_state(phase=phase))


def test_last_rep_verdicts_and_abrupt_warning_stand_out():
    rep = {"rep": 7, "rom_deg": 41.2, "hold_s": 1.2, "duration_s": 6.1, "check_rom": "ok",
           "check_hold": "hold too short", "check_abrupt": "abrupt", "verdict": "fix"}
    now = time.monotonic()
    state = holding_state(last_rep=rep, last_abrupt={"peak_accel_g": 2.3}, abrupt_until=now + 4,
                          abrupt_count=1)
    text = screen(state, now=now)
    assert "LAST REP  FIX" in text
    assert re.search(r"hold\s+✗ hold too short", text) and re.search(r"rom\s+ok", text)
    assert re.search(r"abrupt\s+✗ abrupt", text)
    assert "ABRUPT MOVEMENT" in text and "2.3 g" in text
    later = screen(state, now=now + 5)
    assert "ABRUPT MOVEMENT" not in later and "abrupt movements: 1" in later


def test_checks_the_spec_does_not_apply_are_not_shown_as_failures():
    rep = {"rep": 3, "rom_deg": 40.0, "check_rom": "ok", "check_hold": "-", "check_weight": "-",
           "verdict": "ok"}
    text = screen(holding_state(last_rep=rep))
    assert "LAST REP  OK" in text and re.search(r"rom\s+ok", text)
    assert "✗" not in text and not re.search(r"hold\s+[✗-]", text) and "weight" not in text


def test_connection_battery_and_keys_are_shown():
    text = screen(holding_state(connection="reconnecting (attempt 2)", battery_pct=12, malformed=3))
    assert "reconnecting (attempt 2)" in text and "battery 12%" in text and "bad packets: 3" in text
    assert "[space] start/stop set" in text and "[n] next exercise" in text and "[q] quit" in text


def test_live_view_redraws_on_update():
    console = Console(record=True, width=80, force_terminal=True, color_system=None)
    state = holding_state(reps=1)
    with LiveView(console) as view:
        view.update(state)
        state.reps = 2
        view.update(state)
    text = console.export_text()
    assert "\n".join(big_text("2 / 8")[:1]) in text


def test_line_view_for_pipes():
    console = Console(record=True, width=120, force_terminal=False, color_system=None)
    view = LineView(console)
    state = holding_state(last_rep=None)
    view.update(state)
    state.last_rep = {"rep": 1, "rom_deg": 30.0, "hold_s": 2.5, "duration_s": 6.0,
                      "check_rom": "ok", "check_tempo": "too fast", "verdict": "fix"}
    view.update(state)
    view.update(state)   # nothing changed: nothing printed
    text = console.export_text()
    assert text.count("[rep]") == 1 and "tempo: too fast" in text
    assert "[link] connected smartbell-1A2B" in text and "[set] good-morning set 2 of 3 started" in text
