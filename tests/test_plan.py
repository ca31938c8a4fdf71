"""Therapist plans: the shipped example loads; every kind of mistake is named precisely."""
import re
from pathlib import Path

import pytest

from smartbell import SmartbellError
from smartbell.plan import PLANS_DIR, Plan, PlanError, load_plan

EXAMPLE = PLANS_DIR / "example.toml"

GOOD = """
patient = "P-01"
sessions_per_week = 2
[[exercises]]
name = "good-morning"
sets = 2
reps = 5
hold_s = 2
weight_kg = 1.5
"""


def write(tmp_path, text, name="plan.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_example_plan_loads_in_order():
    plan = load_plan(EXAMPLE, check_specs=False)
    assert plan.patient == "P-07" and plan.sessions_per_week == 3
    assert [e.name for e in plan.exercises] == ["good-morning", "hyperextension"]
    gm = plan.exercise("good-morning")
    assert (gm.sets, gm.reps, gm.hold_s, gm.weight_kg, gm.rest_s) == (3, 8, 3.0, 3.0, 60.0)
    assert plan.starts.isoformat() == "2026-11-23"
    assert load_plan("example", check_specs=False) == plan  # shipped plans by name


def test_defaults_and_dict_round_trip(tmp_path):
    plan = load_plan(write(tmp_path, GOOD), check_specs=False)
    ex = plan.exercises[0]
    assert ex.rest_s == 60.0 and ex.hold_s == 2.0 and ex.spec == {}
    assert Plan.from_dict(plan.to_dict(), source=plan.source, check_specs=False) == plan


@pytest.mark.parametrize("edit, key, problem", [
    (("reps = 5", "reps = -3"), "exercises[0] (good-morning).reps", "must be 1 to 100"),
    (("sets = 2", "sets = 0"), "exercises[0] (good-morning).sets", "must be 1 to 20"),
    (("sets = 2", "sets = 2.5"), "exercises[0].sets", "expected integer"),
    (("sets = 2", "sets = true"), "exercises[0].sets", "expected integer"),
    (("hold_s = 2", "hold_s = -1"), "exercises[0] (good-morning).hold_s", "must be 0 to 60"),
    (("hold_s = 2", "hold_s = nan"), "exercises[0].hold_s", "finite"),
    (("hold_s = 2", "hold = 2"), "exercises[0].hold", "unknown key"),
    (("weight_kg = 1.5", 'weight_kg = "light"'), "exercises[0].weight_kg", "expected integer or number"),
    (('name = "good-morning"\n', ""), "exercises[0].name", "missing"),
    (('patient = "P-01"', 'patient = "  "'), "patient", "not empty"),
    (('patient = "P-01"', 'pateint = "P-01"'), "pateint", "unknown key"),
    (('patient = "P-01"', 'patient = "=HYPERLINK(1)"'), "patient", "not a pseudonym"),
    (("sessions_per_week = 2", "sessions_per_week = 30"), "sessions_per_week", "1 to 14"),
    (("sessions_per_week = 2", "starts = 2026-12-01\nends = 2026-11-01"), "ends", "before"),
    (("sessions_per_week = 2", 'starts = "tomorrow"'), "starts", "not a date"),
])
def test_bad_plans_name_file_key_and_problem(tmp_path, edit, key, problem):
    old, new = edit
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(PlanError) as err:
        load_plan(path, check_specs=False)
    msg = str(err.value)
    assert msg.startswith(f"{path}: {key}:"), msg
    assert problem in msg


def test_structural_errors(tmp_path):
    for text, expected in [
        ('patient = "P"\nexercises = []', "exercises: the plan has no exercise"),
        ('patient = "P"', "exercises: missing"),
        (GOOD + GOOD[GOOD.index("[[exercises]]"):], "listed twice"),
        ("patient = ", "not valid TOML"),
    ]:
        with pytest.raises(PlanError, match=re.escape(expected)):
            load_plan(write(tmp_path, text), check_specs=False)
    with pytest.raises(PlanError, match="cannot read plan"):
        load_plan(tmp_path / "missing.toml")
    assert issubclass(PlanError, SmartbellError) and issubclass(PlanError, ValueError)


def test_example_plan_spec_overrides_are_applied():
    plan = load_plan(EXAMPLE)  # checks every exercise against its spec
    gm = plan.spec_for("good-morning")
    assert gm.limits["hold_min_s"] == 3.0  # hold_s
    assert gm.limits["weight_max_kg"] == 3.0  # weight_kg
    assert gm.limits["rom_max_deg"] == 60.0 and gm.limits["duration_max_s"] == 15.0  # [spec]
    assert gm.limits["rom_min_deg"] == 25.0  # untouched: the spec's own
    assert gm.check_rep({"rom_deg": 65, "to_far_s": 2.5, "hold_s": 3.5, "return_s": 2.5,
                         "duration_s": 9}, weight_kg=3.0)["check_rom"] == "too deep"
    with pytest.raises(PlanError, match="no exercise 'generic'"):
        plan.spec_for("generic")


@pytest.mark.parametrize("extra, key, problem", [
    ('name = "good-morning"', "exercises[0] (squat).name", "unknown exercise 'squat'"),
    ("weight_kg = 1.5", "exercises[0] (good-morning).weight_kg", "above the limit of 5 kg"),
    ("[exercises.spec]\nrom_min = 10", "exercises[0] (good-morning).spec.rom_min", "unknown key"),
    ("[exercises.spec]\nrom_max_deg = 500", "exercises[0] (good-morning).spec.rom_max_deg",
     "outside"),
    ("[exercises.spec]\nrom_min_deg = 80", "exercises[0] (good-morning).spec", "larger than"),
    ("hold_s = 2", "exercises[0] (good-morning).hold_s", "larger than hold_max_s"),
])
def test_plans_are_checked_against_the_spec(tmp_path, extra, key, problem):
    text = GOOD
    if extra.startswith("[exercises.spec]"):
        text += extra.replace("\\n", "\n") + "\n"
    elif extra.startswith("name"):
        text = text.replace(extra, 'name = "squat"')
    elif extra.startswith("weight"):
        text = text.replace(extra, "weight_kg = 7.5")
    else:
        text = text.replace(extra, "hold_s = 20")
    path = write(tmp_path, text)
    with pytest.raises(PlanError) as err:
        load_plan(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: {key}"), msg
    assert problem in msg, msg


def test_spec_file_beside_the_plan(tmp_path):
    spec = (PLANS_DIR.parent / "specs" / "good-morning.toml").read_text()
    (tmp_path / "mine.toml").write_text(spec.replace("weight_max_kg = 5.0", "weight_max_kg = 1.0"))
    path = write(tmp_path, GOOD.replace('"good-morning"', '"mine.toml"'))
    with pytest.raises(PlanError, match=r"weight_kg: 1.5 kg is above the limit of 1 kg"):
        load_plan(path)
    plan = load_plan(write(tmp_path, GOOD.replace('"good-morning"', '"mine.toml"')
                           .replace("weight_kg = 1.5", "weight_kg = 0.5")))
    assert plan.spec_for("mine.toml").weight_max_kg == 0.5


def test_plan_check_cli(tmp_path, capsys):
    from smartbell.cli import main

    bad = write(tmp_path, GOOD.replace("reps = 5", "reps = 0"))
    assert main(["plan", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "reps: must be 1 to 100" in err and str(bad) in err
    assert main(["plan", "check", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "ok: plan for P-07" in out and "good-morning: 3 x 8, hold 3 s, max 3 kg" in out


def test_any_malformed_plan_gives_a_plan_error_never_a_crash():
    """Whatever a TOML file can hold, loading it gives a Plan or a PlanError, nothing else."""
    import datetime as dt

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 200),
                        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                        st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 1, 1)),
                        st.sampled_from(["good-morning", "hyperextension", "generic", "x.toml"]))
    ex_keys = st.sampled_from(["name", "sets", "reps", "hold_s", "weight_kg", "rest_s", "spec",
                               "notes", "bogus"])
    spec_tables = st.dictionaries(st.sampled_from(["rom_min_deg", "rom_max_deg", "hold_max_s",
                                                   "weight_max_kg", "nope"]), scalars, max_size=3)
    exercise = st.dictionaries(ex_keys, st.one_of(scalars, spec_tables), max_size=8)
    plan = st.fixed_dictionaries({}, optional={
        "patient": scalars, "therapist": scalars, "starts": scalars, "ends": scalars,
        "sessions_per_week": scalars, "notes": scalars,
        "exercises": st.one_of(scalars, st.lists(st.one_of(exercise, scalars), max_size=3)),
        "extra": scalars})

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(plan)
    def check(data):
        try:
            result = Plan.from_dict(data, source="fuzz.toml")
        except PlanError as exc:
            assert str(exc).startswith("fuzz.toml: ")
        else:
            assert result.exercises and result.patient

    check()


def test_docs_show_the_shipped_example_and_a_real_error_message(tmp_path):
    doc = (PLANS_DIR.parents[2] / "docs" / "therapist.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(.*?)```", doc, re.S).group(1)
    assert block == EXAMPLE.read_text(encoding="utf-8")
    quoted = re.search(r"`plan\.toml: (exercises\[0\] \(good-morning\)\.reps: [^`]*)`", doc).group(1)
    path = tmp_path / "plan.toml"
    path.write_text(GOOD.replace("reps = 5", "reps = -3"))
    with pytest.raises(PlanError) as err:
        load_plan(path)
    assert str(err.value) == f"{path}: {quoted}"
