"""`smartbell session` from the command line: bad input is one clear line (exit 2); a full run
with a plan (over the bumble backend and a scripted device) warns about the weight, walks the
plan and prints the summary and where the journal is."""
import argparse
import asyncio
from pathlib import Path

from bumble.link import LocalLink
from rich.console import Console

from smartbell.bumble_backend import BumbleCentral
from smartbell.cli import main
from smartbell.logger import add_session_arguments, session_main
from smartbell.screening import QUESTIONS, screen
from smartbell.vperipheral import VirtualPeripheral
from test_ble_link import device_command

PLAN = """
patient = "P-cli"
[[exercises]]
name = "good-morning"
sets = 1
reps = 3
hold_s = 1.0
weight_kg = 2.0
rest_s = 0
"""


def one_error_line(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_bad_session_input_is_one_clear_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SMARTBELL_HOME", str(tmp_path))
    assert "give --exercise NAME or --plan FILE" in one_error_line(capsys, ["session"])
    line = one_error_line(capsys, ["session", "--exercise", "good-morning"])
    assert "has not done the safety screening" in line   # stdin is not a terminal here
    bad = tmp_path / "bad.toml"
    bad.write_text("patient = 3\n")
    assert str(bad) in one_error_line(capsys, ["session", "--plan", str(bad)])


def test_session_command_walks_a_plan_and_summarises(tmp_path, monkeypatch):
    monkeypatch.setenv("SMARTBELL_HOME", str(tmp_path / "home"))
    screen("P-cli", lambda q: next(w for _k, qq, w, _a in QUESTIONS if qq == q), say=lambda s: None)
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN)
    parser = argparse.ArgumentParser()
    add_session_arguments(parser)
    args = parser.parse_args(["--plan", str(plan), "--weight-kg", "3"])
    console = Console(record=True, width=120, force_terminal=False)

    async def run():
        link = LocalLink()
        vp = VirtualPeripheral(link, "-", command=device_command(tmp_path, 1000, 3))
        await vp.start()
        try:
            return await session_main(args, BumbleCentral(link).backend(), console)
        finally:
            await vp.stop()

    summary = asyncio.run(run())
    assert summary["exercises"]["good-morning"]["reps"] == 3
    text = console.export_text()
    assert "[warning] 3 kg is above your plan of 2 kg" in text
    assert "good-morning: 3 reps" in text and "weight: lower" in text
    assert f"journal: {Path(tmp_path / 'home' / 'journal.sqlite3')}" in text
