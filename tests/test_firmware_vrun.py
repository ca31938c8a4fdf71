"""`micropython -m sbdev.vrun TRACE`: the firmware on the virtual board from the command line, in
virtual time, paced to the wall clock, under asyncio, and in lockstep over the pipe transport
(stdout then carries nothing but transport traffic)."""
import json
import os
import subprocess

import pytest

from mpy import ROOT, micropython_exe

PATH = "host/smartbell/vboard:firmware:.frozen"


def _vrun(args, env=None, stdin=None, timeout=60):
    e = dict(os.environ, MICROPYPATH=PATH)
    e.pop("SMARTBELL_BLE_TRANSPORT", None)
    e.update(env or {})
    return subprocess.run([micropython_exe(), "-m", "sbdev.vrun", *map(str, args)], input=stdin,
                          capture_output=True, env=e, cwd=str(ROOT), timeout=timeout)


@pytest.fixture(scope="module")
def trace_csv(tmp_path_factory):
    from smartbell.simulate import simulate
    path = tmp_path_factory.mktemp("vrun") / "t.csv"
    simulate("hyperextension", reps=3, seed=5, rate_hz=100).write(path)
    return path


def test_virtual_time_run_prints_stats(trace_csv):
    proc = _vrun([trace_csv, "--speed", "0"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stats = json.loads(proc.stdout.decode().splitlines()[-1])
    assert stats["overflowed"] == 0 and stats["samples"] >= stats["produced"] - 5
    assert stats["events"] >= 4          # boot, anchor, reps ...


def test_asyncio_tasks_run_against_wall_time(trace_csv):
    proc = _vrun([trace_csv, "--asyncio", "--seconds", "1", "--speed", "2"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stats = json.loads(proc.stdout.decode().splitlines()[-1])
    assert 80 <= stats["samples"] <= 120, stats      # 1 s of device time at 100 Hz, in 0.5 s


def test_bad_arguments_exit_2(trace_csv, tmp_path):
    assert _vrun([]).returncode == 2
    assert _vrun([trace_csv, "--imu", "bmi270"]).returncode == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("time,x\n1,2\n")
    proc = _vrun([bad])
    assert proc.returncode == 2 and b"not a trace CSV" in proc.stdout


def test_lockstep_pipe_carries_only_transport_traffic(trace_csv):
    if not (ROOT / "host/smartbell/vboard/blepipe.py").exists():
        pytest.skip("blepipe (the logger's pipe transport) not there yet")
    env = dict(os.environ, MICROPYPATH=PATH, SMARTBELL_BLE_TRANSPORT="pipe")
    proc = subprocess.Popen([micropython_exe(), "-m", "sbdev.vrun", str(trace_csv), "--lockstep"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, cwd=str(ROOT))
    lines = []
    try:
        # a central connects and grants 3 s of device time; the device asks for more with T
        proc.stdin.write(b"C 1 0 c00102030405\nG 3000\n")
        proc.stdin.flush()
        while True:
            line = proc.stdout.readline().decode()
            assert line, "device stopped before asking for more time"
            lines.append(line.rstrip("\n"))
            if line.startswith("T ") and int(line.split()[1]) > 3000:
                break
    finally:
        proc.stdin.close()            # nobody grants time any more: the run ends
        proc.wait(timeout=10)
    assert all(ln[:2] in ("A ", "R ", "N ", "V ", "D ", "T ") for ln in lines), lines[:5]
    assert any(ln.startswith("N ") for ln in lines)          # events notified to the central
    ts = [int(ln.split()[1]) for ln in lines if ln.startswith("T ")]
    assert 3000 < ts[-1] <= 3020 and max(ts[:-1] or [0]) <= 3000


def test_vrun_under_cpython_for_the_demo_fallback(trace_csv):
    import sys
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "host/smartbell/vboard"),
                                                       str(ROOT / "firmware")]))
    env.pop("SMARTBELL_BLE_TRANSPORT", None)
    proc = subprocess.run([sys.executable, "-m", "sbdev.vrun", str(trace_csv), "--speed", "0"],
                          capture_output=True, env=env, cwd=str(ROOT), timeout=120)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout.decode().splitlines()[-1])
    assert stats["overflowed"] == 0 and stats["samples"] >= stats["produced"] - 5


def test_converted_trace_has_its_own_file_and_leaves_none(trace_csv, tmp_path):
    # two runs at once in one TMPDIR, of different traces: each replays its own
    from smartbell.simulate import simulate
    other = tmp_path / "long.csv"
    simulate("hyperextension", reps=6, seed=6, rate_hz=100).write(other)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = dict(os.environ, MICROPYPATH=PATH, TMPDIR=str(tmpdir))
    env.pop("SMARTBELL_BLE_TRANSPORT", None)
    procs = [subprocess.Popen([micropython_exe(), "-m", "sbdev.vrun", str(p), "--speed", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT))
             for p in (other, trace_csv)]
    outs = [p.communicate(timeout=120)[0].decode() for p in procs]
    for proc, out, path in zip(procs, outs, (other, trace_csv)):
        assert proc.returncode == 0, out
        n_rows = len(path.read_text().splitlines()) - 1
        assert f"{n_rows} samples" in out and json.loads(out.splitlines()[-1])["produced"] >= n_rows - 2
    assert list(tmpdir.iterdir()) == []


def test_a_64_hz_trace_runs_in_its_own_time(tmp_path):
    from smartbell.simulate import simulate
    path = tmp_path / "t64.csv"
    trace = simulate("hyperextension", reps=3, seed=5, rate_hz=64)
    trace.write(path)
    proc = _vrun([path, "--speed", "0"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stats = json.loads(proc.stdout.decode().splitlines()[-1])
    trace_s = float(trace.t_s[-1])
    # the part samples at 100 Hz for as long as the trace lasts (+1 s tail), not 1.56x shorter
    assert abs(stats["virtual_s"] - 1.0 - trace_s) < 0.1, (stats, trace_s)
    assert abs(stats["samples"] - 100 * trace_s) < 10, (stats, trace_s)
