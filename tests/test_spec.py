"""Exercise specs (smartbell.spec): the shipped files, the per-check verdicts of a rep, the errors
a therapist gets for a bad file, and the `smartbell spec` command."""
import subprocess
import sys
from importlib import resources

import pytest

from sbcore.motion import PARAMS
from smartbell import SmartbellError
from smartbell.cli import main as cli_main
from smartbell.spec import CHECKS, SpecError, load_spec, parse_spec, spec_names

SHIPPED = ("generic", "good-morning", "hyperextension")
GOOD_REP = {"rom_deg": 40.0, "to_far_s": 2.0, "return_s": 2.0, "duration_s": 7.0, "hold_s": 3.0}

FULL = """
[exercise]
name = "full"
[limits]
rom_min_deg = 20
rom_max_deg = 60
to_far_min_s = 1.5
return_min_s = 1.5
duration_max_s = 12
hold_min_s = 2
hold_max_s = 8
abrupt_max = 0
weight_max_kg = 4
"""


def test_the_three_shipped_specs_load():
    assert set(SHIPPED) <= set(spec_names())
    for name in SHIPPED:
        spec = load_spec(name)
        assert spec.name == name and spec.title and "built-in" in spec.source
    gm, hx, gen = load_spec("good-morning"), load_spec("hyperextension"), load_spec("generic")
    for spec in (gm, hx):
        lim = spec.limits
        assert 0 < lim["rom_min_deg"] < lim["rom_max_deg"] <= 90
        assert 1.0 <= lim["hold_min_s"] < lim["hold_max_s"]         # "a few / a couple of seconds"
        assert lim["to_far_min_s"] > 0 and lim["return_min_s"] > 0  # slow tempo
        assert lim["abrupt_max"] == 0 and 0 < lim["weight_max_kg"] <= 5
    assert gm.limits["hold_min_s"] > hx.limits["hold_min_s"]       # a few > a couple
    assert gen.limits == {} and gen.detector_params() == {"signal": 2}


def test_a_copied_spec_file_loads_by_path_like_the_built_in(tmp_path):
    text = (resources.files("smartbell.specs") / "good-morning.toml").read_text(encoding="utf-8")
    path = tmp_path / "mine.toml"
    path.write_text(text)
    mine, built_in = load_spec(str(path)), load_spec("good-morning")
    assert mine.source == str(path)
    assert (mine.limits, mine.detector, mine.name) == (built_in.limits, built_in.detector, built_in.name)


def verdicts(spec, rep=None, **kw):
    return spec.check_rep(dict(GOOD_REP, **(rep or {})), **kw)


@pytest.mark.parametrize("change,kw,column,problem", [
    ({"rom_deg": 15.0}, {}, "check_rom", "too shallow"),
    ({"rom_deg": 65.0}, {}, "check_rom", "too deep"),
    ({"to_far_s": 1.0}, {}, "check_tempo", "too fast"),
    ({"return_s": 1.0}, {}, "check_tempo", "too fast"),
    ({"duration_s": 13.0}, {}, "check_tempo", "too slow"),
    ({"hold_s": 1.0}, {}, "check_hold", "hold too short"),
    ({"hold_s": 9.0}, {}, "check_hold", "hold too long"),
    ({}, {"abrupt_count": 1}, "check_abrupt", "abrupt"),
    ({}, {"weight_kg": 5.0}, "check_weight", "too heavy"),
])
def test_check_rep_names_each_failure_in_its_own_column(change, kw, column, problem):
    spec = parse_spec(FULL, source="full.toml")
    ok = verdicts(spec, weight_kg=3.0)
    assert ok == {**{c: "ok" for c in CHECKS}, "verdict": "ok"}
    kw = {"weight_kg": 3.0, **kw}
    out = verdicts(spec, change, **kw)
    assert out[column] == problem
    assert all(out[c] == "ok" for c in CHECKS if c != column), out
    assert out["verdict"] == "fix"


def test_check_rep_limits_are_inclusive():
    spec = parse_spec(FULL, source="full.toml")
    edge = {"rom_deg": 20.0, "to_far_s": 1.5, "return_s": 1.5, "duration_s": 12.0, "hold_s": 8.0}
    assert verdicts(spec, edge, weight_kg=4.0)["verdict"] == "ok"
    assert verdicts(spec, {"rom_deg": 60.0, "hold_s": 2.0})["verdict"] == "ok"


def test_check_rep_dash_when_a_limit_is_absent():
    gen = load_spec("generic")
    out = verdicts(gen, {"rom_deg": 170.0, "hold_s": 0.0, "to_far_s": 0.1}, abrupt_count=5, weight_kg=40)
    assert out == {**{c: "-" for c in CHECKS}, "verdict": "ok"}
    only_rom = parse_spec('[exercise]\nname = "r"\n[limits]\nrom_min_deg = 30\n', source="r.toml")
    out = verdicts(only_rom, {"rom_deg": 10.0}, abrupt_count=3)
    assert out["check_rom"] == "too shallow" and out["verdict"] == "fix"
    assert [out[c] for c in CHECKS[1:]] == ["-", "-", "-", "-"]
    # A weight limit but no weight given: not checked.
    assert verdicts(load_spec("good-morning"))["check_weight"] == "-"


HEAD = '[exercise]\nname = "x"\n'


@pytest.mark.parametrize("text,key,problem", [
    ('[exercise]\nname = "x\n', "line 2", "not valid TOML"),
    (HEAD + "[exercize]\nfoo = 1\n", "[exercize]", "unknown section"),
    (HEAD + "[limits]\nrom_min = 10\n", "rom_min", "unknown key"),
    (HEAD + 'colour = "red"\n', "colour", "unknown key"),
    (HEAD + '[limits]\nrom_min_deg = "deep"\n', "rom_min_deg", "must be a number"),
    (HEAD + "[limits]\nhold_min_s = true\n", "hold_min_s", "must be a number"),
    (HEAD + "[limits]\nrom_max_deg = 200\n", "rom_max_deg", "outside"),
    (HEAD + "[limits]\nhold_min_s = -1\n", "hold_min_s", "outside"),
    (HEAD + "[limits]\nrom_min_deg = 50\nrom_max_deg = 30\n", "rom_min_deg", "larger than rom_max_deg"),
    (HEAD + "[limits]\nhold_min_s = 5\nhold_max_s = 2\n", "hold_min_s", "larger than hold_max_s"),
    (HEAD + "[detector]\nrep_min_speed = 3\n", "rep_min_speed", "unknown detector parameter"),
    (HEAD + "[detector]\nrep_min_rom_deg = 12.5\n", "rep_min_rom_deg", "whole number"),
    (HEAD + "[detector]\nrep_min_rom_deg = 500\n", "rep_min_rom_deg", "outside"),
    ('title = "loose"\n' + HEAD, "[title]", "unknown section"),
    ('[exercise]\ntitle = "t"\n', "name", "missing"),
    ("[limits]\nrom_min_deg = 3\n", "[exercise]", "missing"),
    (HEAD.replace('"x"', "3"), "name", "must be text"),
])
def test_bad_spec_files_name_the_file_key_and_problem(tmp_path, text, key, problem):
    path = tmp_path / "therapist.toml"
    path.write_text(text)
    with pytest.raises(SpecError) as err:
        load_spec(str(path))
    msg = str(err.value)
    assert str(path) in msg and key in msg and problem in msg, msg
    assert "\n" not in msg.strip()
    assert isinstance(err.value, SmartbellError) and isinstance(err.value, ValueError)


def test_every_detector_parameter_is_accepted_at_its_limits(tmp_path):
    lows = "\n".join(f"{p[1]} = {p[3]}" for p in PARAMS)
    highs = "\n".join(f"{p[1]} = {p[4]}" for p in PARAMS)
    for body in (lows, highs):
        path = tmp_path / "params.toml"
        path.write_text(HEAD + "[detector]\n" + body + "\n")
        assert len(load_spec(path).detector_params()) == len(PARAMS)


def test_missing_spec_file_and_unknown_name(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(SpecError, match=rf"{missing}.*cannot read"):
        load_spec(str(missing))
    with pytest.raises(SpecError, match="unknown exercise 'squat'.*good-morning"):
        load_spec("squat")


def test_binary_spec_file(tmp_path):
    path = tmp_path / "bin.toml"
    path.write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(SpecError, match=str(path)):
        load_spec(str(path))


# -- smartbell spec list | show | check ----------------------------------------------------------

def test_cli_spec_list_and_show(capsys):
    assert cli_main(["spec", "list"]) == 0
    out = capsys.readouterr().out
    for name in SHIPPED:
        assert name in out
    assert cli_main(["spec", "show", "good-morning"]) == 0
    out = capsys.readouterr().out
    assert "rom_min_deg" in out and "hold_min_s" in out and "detector rep_min_rom_deg = 15" in out


def test_cli_spec_check(tmp_path, capsys):
    good = tmp_path / "good.toml"
    good.write_text(FULL)
    assert cli_main(["spec", "check", str(good)]) == 0
    assert f"{good}: ok" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text(HEAD + "[limits]\nrom_max_deg = 500\n")
    assert cli_main(["spec", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "rom_max_deg" in err and len(err.strip().splitlines()) == 1


def test_cli_spec_errors_are_one_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(HEAD + "[detector]\nnope = 1\n")
    for args in (["check", str(bad)], ["show", "squat"], ["check", str(tmp_path / "missing.toml")]):
        proc = subprocess.run([sys.executable, "-m", "smartbell.cli", "spec", *args],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith("smartbell spec: error: ")


def test_the_longest_rep_the_limits_accept_is_always_counted(tmp_path):
    # A rep longer than the detector's rep_max_ms is not counted at all: a patient who holds as
    # long as the spec allows, slowly, lost reps without a word. The shipped specs fit it; a
    # therapist's spec gets rep_max_ms derived from its limits, or an error if it sets it too short.
    for name in ("good-morning", "hyperextension"):
        spec = load_spec(name)
        longest = spec.limits["hold_max_s"] + 2 * 3.0
        assert spec.detector_params()["rep_max_ms"] >= longest * 1000
    head = '[exercise]\nname = "slow"\n[limits]\nhold_max_s = 15\n'
    derived = parse_spec(head, source="slow.toml")
    assert derived.detector == {} and derived.detector_params() == {"rep_max_ms": 21000}
    assert parse_spec(head + "duration_max_s = 30\n", source="s.toml").detector_params() == {"rep_max_ms": 30000}
    with pytest.raises(SpecError, match=r"slow.toml: \[detector\] rep_max_ms: 12000 is shorter than "
                                        r"a rep held hold_max_s = 15 s .*\(21 s\).*at least 21000"):
        parse_spec(head + "[detector]\nrep_max_ms = 12000\n", source="slow.toml")
    with pytest.raises(SpecError, match=r"duration_max_s = 90 s.*longer than the longest rep"):
        parse_spec(head + "duration_max_s = 90\n", source="slow.toml")
    # A plan's longer hold is checked the same way, against what the spec file itself set.
    with pytest.raises(SpecError, match="at least 26000"):
        load_spec("good-morning").with_limits(hold_max_s=20.0)
    assert parse_spec(head, source="slow.toml").with_limits(hold_max_s=20.0).detector_params() == {"rep_max_ms": 26000}
    # And the detector gets it.
    from smartbell.analyze import make_detector
    assert make_detector(derived, True).get_param("rep_max_ms") == 21000
