"""Exercise specs: what a good rep of an exercise looks like, and the check of a rep against it.

A spec is a TOML file (the shipped ones are in `smartbell/specs/`; a therapist can pass the path
of their own). `[limits]` are the checks, `[detector]` sets the firmware detector's thresholds.

    spec = load_spec("good-morning")            # or load_spec("my-spec.toml")
    spec.check_rep({"rom_deg": 40, "to_far_s": 2, "hold_s": 3, "return_s": 2}, abrupt_count=0)
    # {'check_rom': 'ok', 'check_tempo': 'ok', 'check_hold': 'ok', 'check_abrupt': 'ok',
    #  'check_weight': '-', 'verdict': 'ok'}
"""
from __future__ import annotations

import argparse
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from sbcore.motion import PARAMS

from smartbell import SmartbellError

# key -> (unit description, minimum allowed, maximum allowed)
LIMIT_KEYS: dict[str, tuple[str, float, float]] = {
    "rom_min_deg": ("degrees", 0, 180),
    "rom_max_deg": ("degrees", 0, 180),
    "to_far_min_s": ("seconds", 0, 60),
    "return_min_s": ("seconds", 0, 60),
    "duration_max_s": ("seconds", 0, 120),
    "hold_min_s": ("seconds", 0, 120),
    "hold_max_s": ("seconds", 0, 120),
    "abrupt_max": ("abrupt events per rep", 0, 100),
    "weight_max_kg": ("kilograms", 0, 50),
}
EXERCISE_KEYS = {"name", "title", "position", "cue"}
SECTIONS = {"exercise", "limits", "detector"}
CHECKS = ("check_rom", "check_tempo", "check_hold", "check_abrupt", "check_weight")
NOT_CHECKED = "-"
_PARAMS = {p[1]: p for p in PARAMS}


class SpecError(SmartbellError, ValueError):
    """A spec file or name that cannot be used; the message names the file, key and problem."""


@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    source: str
    limits: dict[str, float] = field(default_factory=dict)
    detector: dict[str, int] = field(default_factory=dict)
    position: str = ""
    cue: str = ""

    @property
    def weight_max_kg(self) -> float | None:
        return self.limits.get("weight_max_kg")

    @property
    def hold_target_s(self) -> float | None:
        return self.limits.get("hold_min_s")

    def detector_params(self) -> dict[str, int]:
        """The detector thresholds to push to the device: those the spec sets, and rep_max_ms
        when its limits accept reps longer than the default (see `_fit_rep_max`)."""
        return dict(_fit_rep_max(self.source, self.limits, self.detector))

    def with_limits(self, **overrides: float) -> Spec:
        """A copy with some limits replaced (a plan's per-patient targets), checked like a file."""
        limits = dict(self.limits)
        for key, value in overrides.items():
            if value is not None:
                limits[key] = _check_limit(self.source, key, value)
        _check_pairs(self.source, limits)
        _fit_rep_max(self.source, limits, self.detector)
        return Spec(self.name, self.title, self.source, limits, dict(self.detector),
                    self.position, self.cue)

    def check_rep(self, rep: dict, *, abrupt_count: int = 0, weight_kg: float | None = None) -> dict:
        """One verdict per check ('ok', the problem, or '-' when the spec does not check it)."""
        # Each check: its rules (limit key, measured value, is the limit a minimum?, problem), the
        # first rule broken gives the verdict; no rule with a limit in the spec gives '-'.
        rules = {
            "check_rom": [("rom_min_deg", rep.get("rom_deg"), True, "too shallow"),
                          ("rom_max_deg", rep.get("rom_deg"), False, "too deep")],
            "check_tempo": [("to_far_min_s", rep.get("to_far_s"), True, "too fast"),
                            ("return_min_s", rep.get("return_s"), True, "too fast"),
                            ("duration_max_s", rep.get("duration_s"), False, "too slow")],
            "check_hold": [("hold_min_s", rep.get("hold_s"), True, "hold too short"),
                           ("hold_max_s", rep.get("hold_s"), False, "hold too long")],
            "check_abrupt": [("abrupt_max", abrupt_count, False, "abrupt")],
            "check_weight": [("weight_max_kg", weight_kg, False, "too heavy")],
        }
        out = {check: self._verdict(check_rules) for check, check_rules in rules.items()}
        out["verdict"] = "ok" if all(out[c] in ("ok", NOT_CHECKED) for c in CHECKS) else "fix"
        return out

    def _verdict(self, rules) -> str:
        checked = False
        for key, value, is_min, problem in rules:
            if key not in self.limits or value is None:
                continue
            checked = True
            limit = self.limits[key]
            if (value < limit) if is_min else (value > limit):
                return problem
        return "ok" if checked else NOT_CHECKED


def spec_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("smartbell.specs").iterdir()
                  if p.name.endswith(".toml"))


def load_spec(name_or_path: str | Path) -> Spec:
    """A shipped spec by name (`good-morning`), or a therapist's TOML file by path."""
    text_path = str(name_or_path)
    path = Path(text_path)
    if text_path in spec_names():
        res = resources.files("smartbell.specs") / f"{text_path}.toml"
        return parse_spec(res.read_text(encoding="utf-8"), source=f"{text_path} (built-in)")
    if path.suffix == ".toml" or "/" in text_path or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SpecError(f"{path}: cannot read spec file: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise SpecError(f"{path}: not a text file") from None
        return parse_spec(text, source=str(path))
    raise SpecError(f"unknown exercise {text_path!r}: choose one of {', '.join(spec_names())}, "
                    "or give the path of a spec .toml file")


def _check_limit(source: str, key: str, value) -> float:
    if key not in LIMIT_KEYS:
        raise SpecError(f"{source}: [limits] {key}: unknown key (known: {', '.join(LIMIT_KEYS)})")
    unit, lo, hi = LIMIT_KEYS[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SpecError(f"{source}: [limits] {key}: must be a number ({unit}), got {value!r}")
    if not lo <= value <= hi:
        raise SpecError(f"{source}: [limits] {key}: {value} is outside {lo}..{hi} {unit}")
    return float(value)


def _check_pairs(source: str, limits: dict) -> None:
    for lo_key, hi_key in (("rom_min_deg", "rom_max_deg"), ("hold_min_s", "hold_max_s")):
        if lo_key in limits and hi_key in limits and limits[lo_key] > limits[hi_key]:
            raise SpecError(f"{source}: [limits] {lo_key} ({limits[lo_key]}) is larger than "
                            f"{hi_key} ({limits[hi_key]})")


SLOW_HALF_S = 3.0   # a slow, careful half rep (out or back), seconds


def _fit_rep_max(source: str, limits: dict, detector: dict) -> dict:
    """The detector settings with rep_max_ms long enough for the longest rep the limits accept:
    a longer rep is not counted at all (so not flagged either), and a patient who holds as long
    as allowed, slowly, would lose reps without a word. Derived when the spec does not set it;
    an error naming the key when it sets it too short."""
    lo, hi = _PARAMS["rep_max_ms"][3:5]
    longest, what = 0.0, ""
    if "hold_max_s" in limits:
        longest = limits["hold_max_s"] + 2 * SLOW_HALF_S
        what = (f"a rep held hold_max_s = {limits['hold_max_s']:g} s with {SLOW_HALF_S:g} s out "
                f"and {SLOW_HALF_S:g} s back")
    if limits.get("duration_max_s", 0.0) > longest:
        longest = limits["duration_max_s"]
        what = f"a rep of duration_max_s = {longest:g} s"
    need = math.ceil(longest * 1000)
    if "rep_max_ms" in detector:
        if detector["rep_max_ms"] < need:
            raise SpecError(f"{source}: [detector] rep_max_ms: {detector['rep_max_ms']} is shorter "
                            f"than {what} ({longest:g} s): such reps would not be counted; set it "
                            f"to at least {need} or leave it out")
        return detector
    if need <= _PARAMS["rep_max_ms"][2]:
        return detector
    if need > hi:
        raise SpecError(f"{source}: [limits]: {what} ({longest:g} s) is longer than the longest rep "
                        f"the detector can count ({hi // 1000} s)")
    return {**detector, "rep_max_ms": max(need, lo)}


def parse_spec(text: str, *, source: str) -> Spec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{source}: not valid TOML: {exc}") from None
    for section in data:
        if section not in SECTIONS:
            raise SpecError(f"{source}: [{section}]: unknown section (known: {', '.join(sorted(SECTIONS))})")
    ex = data.get("exercise")
    if not isinstance(ex, dict):
        raise SpecError(f"{source}: [exercise]: missing section")
    for key, value in ex.items():
        if key not in EXERCISE_KEYS:
            raise SpecError(f"{source}: [exercise] {key}: unknown key (known: {', '.join(sorted(EXERCISE_KEYS))})")
        if not isinstance(value, str):
            raise SpecError(f"{source}: [exercise] {key}: must be text, got {value!r}")
    name = ex.get("name")
    if not name:
        raise SpecError(f"{source}: [exercise] name: missing")
    raw_limits = data.get("limits", {})
    if not isinstance(raw_limits, dict):
        raise SpecError(f"{source}: [limits]: must be a table")
    limits = {k: _check_limit(source, k, v) for k, v in raw_limits.items()}
    _check_pairs(source, limits)
    raw_det = data.get("detector", {})
    if not isinstance(raw_det, dict):
        raise SpecError(f"{source}: [detector]: must be a table")
    detector = {}
    for key, value in raw_det.items():
        if key not in _PARAMS:
            raise SpecError(f"{source}: [detector] {key}: unknown detector parameter "
                            f"(known: {', '.join(_PARAMS)})")
        _, _, _, lo, hi = _PARAMS[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{source}: [detector] {key}: must be a whole number, got {value!r}")
        if not lo <= value <= hi:
            raise SpecError(f"{source}: [detector] {key}: {value} is outside {lo}..{hi}")
        detector[key] = value
    _fit_rep_max(source, limits, detector)
    return Spec(name=name, title=ex.get("title", name), source=source, limits=limits,
                detector=detector, position=ex.get("position", ""), cue=ex.get("cue", ""))


# -- CLI: smartbell spec list | show NAME | check FILE ------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="spec_command", metavar="ACTION", required=True)
    sub.add_parser("list", help="list the built-in exercise specs")
    p = sub.add_parser("show", help="show a spec's limits and detector settings")
    p.add_argument("spec", help="a built-in name or the path of a .toml file")
    p = sub.add_parser("check", help="check a spec file and say what is wrong")
    p.add_argument("spec", help="the path of a .toml file")


def run(args) -> int:
    if args.spec_command == "list":
        for name in spec_names():
            spec = load_spec(name)
            print(f"{name:16} {spec.title}")
        return 0
    spec = load_spec(args.spec)
    if args.spec_command == "check":
        print(f"{spec.source}: ok ({spec.title}: {len(spec.limits)} limits, "
              f"{len(spec.detector)} detector settings)")
        return 0
    print(f"{spec.title} ({spec.name}) from {spec.source}")
    if spec.position:
        print(f"  position: {spec.position}")
    if spec.cue:
        print(f"  cue: {spec.cue}")
    for key, value in spec.limits.items():
        print(f"  {key:16} {value:g}  ({LIMIT_KEYS[key][0]})")
    for key, value in spec.detector_params().items():
        print(f"  detector {key} = {value}" + ("" if key in spec.detector else "  (from the limits)"))
    return 0
