"""The guidelines in the flow: screening once per user, weight warnings, end-of-session advice."""
import pytest

from smartbell.screening import QUESTIONS, ScreeningError, advise, passed, screen, weight_warning

GOOD = {"muscular": True, "trauma": False, "surgery": False, "nerve": False, "therapist": True}


def asker(answers):
    asked = []

    def ask(question):
        key = next(k for k, q, _w, _a in QUESTIONS if q == question)
        asked.append(key)
        return answers[key]
    return ask, asked


def test_screening_is_asked_once_and_remembered(tmp_path):
    ask, asked = asker(GOOD)
    screen("P-1", ask, data_dir=tmp_path, say=lambda s: None)
    assert asked == [k for k, *_ in QUESTIONS] and passed("P-1", tmp_path)
    screen("P-1", None, data_dir=tmp_path)                 # remembered: nobody needs to answer
    with pytest.raises(ScreeningError, match="has not done the safety screening"):
        screen("P-2", None, data_dir=tmp_path)             # another person, no terminal


@pytest.mark.parametrize("key,answer,why", [("trauma", True, "trauma"), ("surgery", True, "surgery"),
                                            ("nerve", True, "nerve compression"),
                                            ("muscular", False, "leg symptoms"),
                                            ("therapist", False, "involve a therapist")])
def test_red_flags_stop_the_session_and_are_not_remembered(tmp_path, key, answer, why):
    ask, _ = asker(dict(GOOD, **{key: answer}))
    with pytest.raises(ScreeningError, match=why):
        screen("P-1", ask, data_dir=tmp_path, say=lambda s: None)
    assert not passed("P-1", tmp_path)


def test_broken_store_only_costs_the_questions_again(tmp_path):
    (tmp_path / "screening.json").write_text("{not json")
    ask, asked = asker(GOOD)
    screen("P-1", ask, data_dir=tmp_path, say=lambda s: None)
    assert len(asked) == 5 and passed("P-1", tmp_path)


def test_weight_warning_names_the_tighter_limit():
    assert weight_warning(3.0, 4.0, 5.0) == ""
    assert "above your plan of 2 kg" in weight_warning(3.0, 2.0, 5.0)
    assert "above the exercise's safe limit of 5 kg" in weight_warning(6.0, None, 5.0)
    assert weight_warning(None, 2.0, 5.0) == ""
    assert "your plan of 2 kg" in weight_warning(3.0, 2.0, 2.0)   # a tie names the plan


def rep(**checks):
    base = {"check_rom": "ok", "check_tempo": "ok", "check_hold": "ok", "check_abrupt": "ok"}
    base.update(checks)
    base["verdict"] = "ok" if all(v == "ok" for v in base.values()) else "fix"
    return base


def test_advice_from_what_was_measured():
    good = advise([rep() for _ in range(8)], 0)
    assert (good["weight"], good["tempo"]) == ("keep", "keep") and good["reps_ok"] == 8
    rushed = advise([rep(check_tempo="too fast") for _ in range(4)] + [rep()] * 4, 0)
    assert (rushed["weight"], rushed["tempo"]) == ("keep", "slower")
    struggling = advise([rep(check_hold="hold too short")] * 5 + [rep()] * 3, 2)
    assert struggling["weight"] == "lower" and struggling["tempo"] == "slower"
    assert any("Lower the weight" in a for a in struggling["advice"])
    assert advise([], 0)["weight"] == "n/a"


def test_advice_on_range():
    # Too deep is what strains the back: a quarter of the reps is enough to say it, and the
    # session is then not called good even though weight and tempo can stay.
    deep = advise([rep(check_rom="too deep")] * 3 + [rep()] * 5, 0)
    assert deep["depth"] == "less" and (deep["weight"], deep["tempo"]) == ("keep", "keep")
    assert any("3 of 8 reps too deep" in a for a in deep["advice"])
    assert not any("Good session" in a for a in deep["advice"])
    assert advise([rep(check_rom="too deep")] * 2 + [rep()] * 6, 0)["depth"] == "keep"
    # Too shallow only when it is most reps, and never as a push past comfort.
    shallow = advise([rep(check_rom="too shallow")] * 5 + [rep()] * 3, 0)
    assert shallow["depth"] == "more" and any("if it is comfortable" in a for a in shallow["advice"])
    assert advise([rep(check_rom="too shallow")] * 4 + [rep()] * 4, 0)["depth"] == "keep"
    good = advise([rep()] * 8, 0)
    assert good["depth"] == "keep" and good["advice"] == ["Good session: keep this weight and tempo."]
