"""A logger killed with SIGKILL mid-session loses nothing it had received: every rep it had shown
is in the journal, and the unfinished session exports. The whole chain runs (firmware under
micropython -> bumble -> bleak -> logger) as `smartbell demo`, killed from outside."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from smartbell.export import export_sessions, read_reps
from smartbell.journal import Journal

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not shutil.which("micropython"), reason="needs the micropython command")]

KILL_AFTER_REPS = 4


def test_sigkill_mid_session_loses_nothing_received(tmp_path):
    env = dict(os.environ, SMARTBELL_HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1")
    # 20 reps at 8x real time: about 20 s, killed after a few reps.
    proc = subprocess.Popen([sys.executable, "-m", "smartbell.cli", "demo", "--reps", "20", "--sets", "1",
                             "--speed", "8", "--disconnects", "0", "--out", str(tmp_path / "out")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, start_new_session=True)
    shown = []
    deadline = time.monotonic() + 90
    try:
        for line in proc.stdout:
            m = re.match(r"\[rep\] (\d+)/\d+\s+rep (\d+)", line)
            if m:
                shown.append(int(m.group(2)))
            if len(shown) >= KILL_AFTER_REPS or time.monotonic() > deadline:
                break
        os.kill(proc.pid, signal.SIGKILL)     # the logger only: its firmware sees the pipe close
        proc.wait(timeout=10)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)   # anything left of the group
        except ProcessLookupError:
            pass
    assert proc.returncode == -signal.SIGKILL
    assert shown == list(range(1, KILL_AFTER_REPS + 1))

    with Journal.open(tmp_path / "home" / "journal.sqlite3") as j:
        (session,) = j.sessions()
        assert session["ended_at"] is None                   # killed: never closed
        reps = j.events(session["id"], type="rep")
        assert list(reps["rep"])[:len(shown)] == shown       # everything shown is on disk
        out = tmp_path / "killed.csv"
        export_sessions(j, [session["id"]], out)
    exported = read_reps(out)
    assert list(exported["rep"])[:len(shown)] == shown
