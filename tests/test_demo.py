"""`smartbell demo`, the README's main command, as a user runs it: no terminal, under a minute,
and it says where the journal and the CSV went."""
import os
import re
import shutil
import subprocess
import sys
import time

import pandas as pd
import pytest

from smartbell.journal import Journal

pytestmark = pytest.mark.skipif(not shutil.which("micropython"), reason="needs the micropython command")


@pytest.mark.parametrize("flags,interpreter", [((), "micropython"), (("--cpython",), "python")],
                         ids=["micropython", "cpython-fallback"])
def test_demo_runs_unattended_and_says_where_everything_went(tmp_path, flags, interpreter):
    env = dict(os.environ, SMARTBELL_HOME=str(tmp_path / "home"))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "smartbell.cli", "demo", "--out", str(tmp_path / "out"),
                           *flags],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=120)
    wall_s = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert wall_s < 60
    out = proc.stdout
    assert f"firmware running on the virtual board under {interpreter}" in out
    assert out.count("[rep]") == 6 and "[link] link lost: reconnecting" in out
    assert "with 1 dropped link(s)" in out
    sid = re.search(r"journal: (\S+) \(session (\S+),", out)
    assert sid and sid.group(1) == str(tmp_path / "home" / "journal.sqlite3")
    reps_csv = tmp_path / "out" / "reps.csv"
    assert f"export:  {reps_csv}" in out
    reps = pd.read_csv(reps_csv)
    assert list(reps["set"]) == [1, 1, 1, 2, 2, 2] and list(reps["rep"]) == [1, 2, 3, 1, 2, 3]
    with Journal.open(tmp_path / "home" / "journal.sqlite3") as j:
        session = j.session(sid.group(2))
        assert session["patient"] == "demo" and session["ended_at"]
        assert len(j.events(sid.group(2), type="rep")) == 6
