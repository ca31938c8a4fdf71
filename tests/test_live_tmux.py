"""The live view in a real terminal, as a person sees it: `smartbell demo` runs inside tmux, the
screen is read with `tmux capture-pane`, and the q key ends the session."""
import os
import re
import shutil
import subprocess
import time
import uuid

import pytest

from smartbell.live import big_text

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (shutil.which("tmux") and shutil.which("micropython")),
                                 reason="needs tmux and micropython")]


def tmux(*args):
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10).stdout


def shown_reps(screen: str, target: int) -> int | None:
    """The rep count drawn in block digits in the REPS panel, read back like a person would."""
    lines = screen.splitlines()
    for i, line in enumerate(lines):
        if "REPS" in line and "╭" in line:
            rows = lines[i + 1:i + 6]
            for k in range(target, -1, -1):
                glyphs = big_text(f"{k} / {target}")
                if all(g in r for g, r in zip(glyphs, rows)):
                    return k
    return None


def test_demo_live_view_in_a_terminal(tmp_path):
    name = f"sb-{uuid.uuid4().hex[:8]}"
    env_cmd = (f"SMARTBELL_HOME={tmp_path / 'home'} smartbell demo --reps 6 --speed 4 "
               f"--out {tmp_path / 'out'}; echo EXIT=$?; sleep 60")
    tmux("new-session", "-d", "-s", name, "-x", "100", "-y", "45", env_cmd)
    try:
        screen, seen = "", None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            screen = tmux("capture-pane", "-p", "-t", name)
            seen = shown_reps(screen, 3)
            if seen:
                break
            time.sleep(0.3)
        assert seen and seen >= 1, screen
        assert "GOOD-MORNING" in screen and "SET 1 of 2" in screen
        assert re.search(r"● (connected|link lost|reconnecting).*  smartbell-[0-9A-F]{4}", screen)
        assert "LAST REP" in screen and "[q] quit" in screen
        assert any(label in screen for label in ("REST", "GOING DOWN", "HOLDING", "COMING BACK"))
        tmux("send-keys", "-t", name, "q")
        for _ in range(100):
            screen = tmux("capture-pane", "-p", "-t", name)
            if "EXIT=" in screen:
                break
            time.sleep(0.2)
        assert "EXIT=0" in screen and "journal:" in screen, screen
    finally:
        tmux("kill-session", "-t", name)


def test_first_session_asks_the_screening_in_a_terminal(tmp_path):
    """A person at a terminal answers the five questions once; the answers are remembered. Here
    there is no Bluetooth, so the session then stops with one clear line."""
    if any(os.path.exists(p) for p in ("/run/dbus/system_bus_socket", "/var/run/dbus/system_bus_socket")):
        pytest.skip("this machine has a D-Bus system bus: bleak may find a real adapter")
    home = tmp_path / "home"
    name = f"sb-{uuid.uuid4().hex[:8]}"
    tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "40",
         f"SMARTBELL_HOME={home} smartbell session --exercise good-morning; echo EXIT=$?; sleep 60")
    try:
        def wait_for(text):
            for _ in range(100):
                screen = tmux("capture-pane", "-p", "-t", name)
                if text in screen:
                    return screen
                time.sleep(0.1)
            raise AssertionError(f"{text!r} never appeared:\n{screen}")

        wait_for("Is your back pain muscular")
        for answer, next_question in [("y", "fall, an accident"), ("n", "back surgery"),
                                      ("n", "nerve compression"), ("n", "physiotherapist"), ("y", "EXIT=")]:
            tmux("send-keys", "-t", name, answer, "Enter")
            screen = wait_for(next_question)
        assert "EXIT=2" in screen and "Bluetooth is not available" in screen
        assert '"passed": true' in (home / "screening.json").read_text()
    finally:
        tmux("kill-session", "-t", name)
