"""A therapist's exercise plan: a small TOML file, validated before any session uses it.

``load_plan(path) -> Plan`` reads and checks a plan; every problem raises ``PlanError`` naming the
file, the key and what is wrong. ``smartbell plan check FILE`` does the same from the command line.
The format, with a full example, is in ``docs/therapist.md``; ``smartbell/plans/example.toml`` ships.

    plan = load_plan("p07.toml")
    for ex in plan.exercises:        # in order: ex.name, ex.sets, ex.reps, ex.hold_s, ...
        spec = plan.spec_for(ex.name)
"""
from __future__ import annotations

import datetime as dt
import math
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from smartbell import SmartbellError

PLANS_DIR = Path(__file__).resolve().parent / "plans"
# Pseudonyms end up in file names and spreadsheet cells: no formula starts (=, +, @, -), no paths.
PSEUDONYM = re.compile(r"\w[\w .-]{0,63}")


class PlanError(SmartbellError, ValueError):
    """A plan file that cannot be used: names the file, the key and the problem."""


@dataclass(frozen=True)
class PlannedExercise:
    """One exercise of a plan. ``weight_kg`` is the heaviest weight allowed (None: the spec's)."""

    name: str
    sets: int
    reps: int
    hold_s: float | None = None
    weight_kg: float | None = None
    rest_s: float = 60.0
    spec: dict = field(default_factory=dict)
    notes: str = ""


@dataclass(frozen=True)
class Plan:
    patient: str
    exercises: tuple[PlannedExercise, ...]
    therapist: str = ""
    starts: dt.date | None = None
    ends: dt.date | None = None
    sessions_per_week: int | None = None
    notes: str = ""
    source: str = "<plan>"

    def exercise(self, name: str) -> PlannedExercise | None:
        return next((e for e in self.exercises if e.name == name), None)

    def spec_for(self, name: str):
        """The exercise's ``smartbell.spec.Spec`` with the plan's overrides applied: what the
        logger checks reps against (and journals with the session)."""
        ex = self.exercise(name)
        if ex is None:
            raise PlanError(f"{self.source}: no exercise {name!r} in this plan")
        return _effective_spec(ex, self.source, f"exercises[{self.exercises.index(ex)}] ({name})")

    def to_dict(self) -> dict:
        """JSON-able form, kept in the journal with each session (``from_dict`` reads it back)."""
        d = asdict(self)
        d["exercises"] = [asdict(e) for e in self.exercises]
        for key in ("starts", "ends"):
            d[key] = d[key].isoformat() if d[key] else None
        return d

    @classmethod
    def from_dict(cls, data: dict, source: str | None = None, check_specs: bool = True) -> "Plan":
        return _parse(data, source or data.get("source") or "<plan>", check_specs)


# key -> (type(s), required). Types are checked before values so messages stay specific.
_TOP_KEYS: dict[str, tuple[tuple[type, ...], bool]] = {
    "patient": ((str,), True),
    "exercises": ((list,), True),
    "therapist": ((str,), False),
    "starts": ((dt.date, str), False),
    "ends": ((dt.date, str), False),
    "sessions_per_week": ((int,), False),
    "notes": ((str,), False),
    "source": ((str,), False),  # present in to_dict() output
}
_EXERCISE_KEYS: dict[str, tuple[tuple[type, ...], bool]] = {
    "name": ((str,), True),
    "sets": ((int,), True),
    "reps": ((int,), True),
    "hold_s": ((int, float), False),
    "weight_kg": ((int, float), False),
    "rest_s": ((int, float), False),
    "spec": ((dict,), False),
    "notes": ((str,), False),
}


def _type_name(types: tuple[type, ...]) -> str:
    return " or ".join({"str": "text", "int": "integer", "float": "number", "list": "array of "
                        "tables", "dict": "table", "date": "date"}[t.__name__] for t in types)


def _check_keys(data: dict, spec: dict, where: str, source: str) -> None:
    for key in data:
        if key not in spec:
            raise PlanError(f"{source}: {where}{key}: unknown key (expected one of "
                            f"{', '.join(k for k in spec if k != 'source')})")
    for key, (types, required) in spec.items():
        if key not in data or data[key] is None:
            if required:
                raise PlanError(f"{source}: {where}{key}: missing")
            continue
        value = data[key]
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            raise PlanError(f"{source}: {where}{key}: expected {_type_name(types)}, "
                            f"got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise PlanError(f"{source}: {where}{key}: must be a finite number, got {value!r}")


def _date(value, key: str, source: str) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise PlanError(f"{source}: {key}: not a date (YYYY-MM-DD): {value!r}") from None


def _effective_spec(ex: PlannedExercise, source: str, where: str):
    """The exercise's spec with the plan's overrides: its ``spec`` table, then ``hold_s`` as the
    minimum hold and ``weight_kg`` as the weight limit (never above the spec's own limit)."""
    from smartbell.spec import load_spec  # imported late: the detector tables come with it

    name = ex.name
    if name.endswith(".toml") and not Path(name).is_absolute() and Path(source).is_file():
        name = str(Path(source).parent / name)  # a therapist's spec sent along with the plan
    try:
        spec = load_spec(name)
    except SmartbellError as exc:
        raise PlanError(f"{source}: {where}.name: {exc}") from None
    try:
        spec = spec.with_limits(**ex.spec)
    except SmartbellError as exc:
        key = next((k for k in ex.spec if f"] {k}:" in str(exc)), "")
        raise PlanError(f"{source}: {where}.spec{'.' + key if key else ''}: "
                        f"{str(exc).split(': ', 2)[-1]}") from None
    limit = spec.weight_max_kg
    if ex.weight_kg is not None and limit is not None and ex.weight_kg > limit:
        raise PlanError(f"{source}: {where}.weight_kg: {ex.weight_kg:g} kg is above the limit of "
                        f"{limit:g} kg in the {ex.name} spec")
    try:
        return spec.with_limits(hold_min_s=ex.hold_s, weight_max_kg=ex.weight_kg)
    except SmartbellError as exc:
        raise PlanError(f"{source}: {where}.hold_s: {str(exc).split(': ', 2)[-1]}") from None


def _parse(data: Any, source: str, check_specs: bool) -> Plan:
    if not isinstance(data, dict):
        raise PlanError(f"{source}: a plan is a TOML table, got {type(data).__name__}")
    _check_keys(data, _TOP_KEYS, "", source)
    patient = data["patient"].strip()
    if not patient:
        raise PlanError(f"{source}: patient: must be a pseudonym, not empty")
    if not PSEUDONYM.fullmatch(patient):
        raise PlanError(f"{source}: patient: {patient!r} is not a pseudonym (letters, digits, "
                        "space . _ -, starting with a letter or digit, at most 64)")
    spw = data.get("sessions_per_week")
    if spw is not None and not 1 <= spw <= 14:
        raise PlanError(f"{source}: sessions_per_week: must be 1 to 14, got {spw}")
    starts = _date(data.get("starts"), "starts", source)
    ends = _date(data.get("ends"), "ends", source)
    if starts and ends and ends < starts:
        raise PlanError(f"{source}: ends: {ends} is before starts {starts}")
    if not data["exercises"]:
        raise PlanError(f"{source}: exercises: the plan has no exercise")
    exercises, seen = [], set()
    for i, raw in enumerate(data["exercises"]):
        where = f"exercises[{i}]"
        if not isinstance(raw, dict):
            raise PlanError(f"{source}: {where}: expected a table, got {raw!r}")
        _check_keys(raw, _EXERCISE_KEYS, where + ".", source)
        name = raw["name"]
        where = f"exercises[{i}] ({name})"
        if name in seen:
            raise PlanError(f"{source}: {where}.name: listed twice; use more sets instead")
        seen.add(name)
        for key, lo, hi in (("sets", 1, 20), ("reps", 1, 100)):
            if not lo <= raw[key] <= hi:
                raise PlanError(f"{source}: {where}.{key}: must be {lo} to {hi}, got {raw[key]}")
        for key, hi in (("hold_s", 60.0), ("weight_kg", 50.0), ("rest_s", 900.0)):
            v = raw.get(key)
            if v is not None and not 0 <= v <= hi:
                raise PlanError(f"{source}: {where}.{key}: must be 0 to {hi:g}, got {v}")
        ex = PlannedExercise(
            name=name, sets=raw["sets"], reps=raw["reps"],
            hold_s=None if raw.get("hold_s") is None else float(raw["hold_s"]),
            weight_kg=None if raw.get("weight_kg") is None else float(raw["weight_kg"]),
            rest_s=float(raw.get("rest_s", 60.0)),
            spec=dict(raw.get("spec") or {}), notes=raw.get("notes", ""))
        if check_specs:
            _effective_spec(ex, source, where)
        exercises.append(ex)
    return Plan(patient=patient, exercises=tuple(exercises), therapist=data.get("therapist", ""),
                starts=starts, ends=ends, sessions_per_week=spw, notes=data.get("notes", ""),
                source=source)


def load_plan(path: str | Path, check_specs: bool = True) -> Plan:
    """Read and validate a plan file; a bare name (``example``) means a shipped plan."""
    p = Path(path)
    if not p.exists() and p.suffix == "" and (PLANS_DIR / f"{p}.toml").exists():
        p = PLANS_DIR / f"{p}.toml"
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"{p}: cannot read plan ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{p}: not valid TOML ({exc})") from None
    data.pop("source", None)  # never trust a file to say where it came from
    return _parse(data, str(p), check_specs)


# -- `smartbell plan check FILE` ---------------------------------------------------------------
def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="plan_command", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate a plan file and print what it asks for")
    check.add_argument("file", help="plan TOML file (or the name of a shipped plan)")


def run(args) -> int:
    plan = load_plan(args.file)
    print(f"{plan.source}: ok: plan for {plan.patient}"
          + (f" by {plan.therapist}" if plan.therapist else "")
          + (f", {plan.sessions_per_week} sessions/week" if plan.sessions_per_week else ""))
    for ex in plan.exercises:
        bits = [f"{ex.sets} x {ex.reps}"]
        if ex.hold_s is not None:
            bits.append(f"hold {ex.hold_s:g} s")
        if ex.weight_kg is not None:
            bits.append(f"max {ex.weight_kg:g} kg")
        bits.append(f"rest {ex.rest_s:g} s")
        if ex.spec:
            bits.append("spec: " + ", ".join(f"{k}={v}" for k, v in ex.spec.items()))
        print(f"  {ex.name}: " + ", ".join(bits))
    return 0
