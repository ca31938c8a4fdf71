"""The rehabilitation guidelines in the session flow: screening, weight check, end-of-session advice.

Loaded exercise is for muscular low-back pain with a therapist involved, not after trauma, surgery
or nerve compression. `screen()` asks once per user and remembers a pass in
`<data dir>/screening.json`; `weight_warning()` compares the weight with the plan's and spec's
limits; `advise()` turns the measured reps into "keep" or "lower weight / slow down / not so
deep" advice.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from smartbell import SmartbellError

# (key, question, the answer that lets a session start, what to do otherwise)
QUESTIONS = [
    ("muscular", "Is your back pain muscular: no numbness, tingling or weakness down a leg?", True,
     "pain with leg symptoms needs a clinician's assessment first"),
    ("trauma", "Did the pain start after a fall, an accident or another injury?", False,
     "after trauma, see a doctor before loaded exercise"),
    ("surgery", "Have you had back surgery?", False,
     "after surgery, only exercise on your surgeon's or therapist's plan"),
    ("nerve", "Have you been told you have a nerve compression (e.g. a disc pressing on a nerve)?",
     False, "with nerve compression, loaded exercise needs your therapist's go-ahead"),
    ("therapist", "Is a physiotherapist or doctor involved and agreed to these exercises?", True,
     "please involve a therapist: they set the plan and the weight"),
]


class ScreeningError(SmartbellError, PermissionError):
    """The screening says this person should not start loaded exercise on their own."""


def _store_path(data_dir: Path | None = None) -> Path:
    if data_dir is None:
        from smartbell.journal import data_dir as journal_dir
        data_dir = journal_dir()
    return Path(data_dir) / "screening.json"


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        # A broken file only costs the person the questions again; never a crash.
        return {}


def passed(patient: str, data_dir: Path | None = None) -> bool:
    return bool(_load(_store_path(data_dir)).get(patient, {}).get("passed"))


def evaluate(answers: dict[str, bool]) -> list[str]:
    """The reasons (empty list = go ahead) for a set of yes/no answers keyed like QUESTIONS."""
    reasons = []
    for key, _q, wanted, advice in QUESTIONS:
        if key not in answers:
            raise ScreeningError(f"screening answer '{key}' is missing")
        if bool(answers[key]) != wanted:
            reasons.append(advice)
    return reasons


def screen(patient: str, ask: Callable[[str], bool] | None, *, data_dir: Path | None = None,
           say: Callable[[str], None] = print) -> None:
    """Pass at once if `patient` passed before; otherwise ask every question through `ask` and
    remember a pass. Raises ScreeningError with the advice when the answers say stop, or when
    there is nobody to ask (`ask` is None, e.g. stdin is not a terminal)."""
    path = _store_path(data_dir)
    store = _load(path)
    if store.get(patient, {}).get("passed"):
        return
    if ask is None:
        raise ScreeningError(f"patient {patient!r} has not done the safety screening yet; "
                             "run `smartbell session` once in a terminal to answer it")
    say("Before the first session: five questions (they are asked once).")
    answers = {key: bool(ask(question)) for key, question, _w, _a in QUESTIONS}
    reasons = evaluate(answers)
    if reasons:
        raise ScreeningError("not starting: " + "; ".join(reasons))
    store[patient] = {"passed": True, "answers": answers,
                      "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(store, indent=1))
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written file


def weight_warning(weight_kg: float | None, plan_limit_kg: float | None,
                   spec_limit_kg: float | None) -> str:
    """A warning line when the weight is above the plan's or the spec's limit, else ""."""
    if weight_kg is None:
        return ""
    limits = [(plan_limit_kg, "your plan"), (spec_limit_kg, "the exercise's safe limit")]
    over = [(lim, i, who) for i, (lim, who) in enumerate(limits) if lim is not None and weight_kg > lim]
    if not over:
        return ""
    lim, _, who = min(over)   # the tighter limit; the plan's when they are equal
    return f"{weight_kg:g} kg is above {who} of {lim:g} kg: use a lighter weight"


def advise(reps: Iterable[dict], abrupt_count: int, *, weight_kg: float | None = None) -> dict:
    """End-of-session advice from the checked reps (dicts with `check_*` and `verdict`)."""
    reps = list(reps)
    n = len(reps)
    problems: dict[str, int] = {}
    for rep in reps:
        for key, value in rep.items():
            if key.startswith("check_") and value not in ("ok", "-"):
                problems[value] = problems.get(value, 0) + 1
    ok = sum(1 for r in reps if r.get("verdict") == "ok")
    fast = sum(v for k, v in problems.items() if "fast" in k)
    short_hold = sum(v for k, v in problems.items() if "hold" in k)
    heavy = sum(v for k, v in problems.items() if "heavy" in k)
    deep = problems.get("too deep", 0)
    shallow = problems.get("too shallow", 0)
    advice = []
    weight = "keep"
    tempo = "keep"
    depth = "keep"
    if n == 0:
        advice.append("No reps were recorded.")
        weight = tempo = depth = "n/a"
    else:
        # Going too far is what loads the back: one rep in four is enough to say so. Not going
        # far enough is only worth a word when it is most reps, and never a push past comfort.
        if deep > n / 4:
            depth = "less"
            advice.append(f"Do not go so far ({deep} of {n} reps too deep): stop at a light stretch, "
                          "back straight.")
        elif shallow > n / 2:
            depth = "more"
            advice.append(f"Go a little further if it is comfortable ({shallow} of {n} reps too "
                          "shallow): to a light stretch, no more.")
        if heavy or abrupt_count >= 2 or short_hold > n / 3:
            weight = "lower"
            advice.append("Lower the weight next time: " + ", ".join(
                s for s in [f"{abrupt_count} abrupt movements" if abrupt_count else "",
                            f"{short_hold} holds too short" if short_hold else "",
                            "above the weight limit" if heavy else ""] if s) + ".")
        if fast > n / 4 or abrupt_count:
            tempo = "slower"
            advice.append("Slow down: move smoothly, take about as long coming back as going down.")
        if weight == "keep" and tempo == "keep":
            if depth == "keep":
                advice.append("Good session: keep this weight and tempo.")
            else:
                advice.append("Keep this weight and tempo.")
    return {"reps": n, "reps_ok": ok, "abrupt": abrupt_count, "problems": problems,
            "weight": weight, "tempo": tempo, "depth": depth, "weight_kg": weight_kg,
            "advice": advice}
