"""The live view in a real terminal, as a person sees it: `smartbell demo` runs inside tmux, the
screen is read with `tmux capture-pane`, and the q key ends the session."""
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
