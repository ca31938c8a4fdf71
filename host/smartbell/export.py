"""CSV export of journaled sessions for the therapist: one row per rep, one row per set.

``smartbell export SESSION --out reps.csv`` writes ``reps.csv``, ``reps.sets.csv`` and
``reps.meta.json`` (device, firmware, the full spec and plan of each session); ``--all --since
DATE [--patient P]`` exports many sessions into the same three files. Every column is described
in ``docs/therapist.md``; metadata needed to read a row (device id, firmware, spec) is also in
each row so a file cut down in a spreadsheet still says where its numbers came from.
"""
from __future__ import annotations

import json
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from smartbell import SmartbellError, __version__
from smartbell.journal import Journal
from smartbell.spec import CHECKS, Spec, load_spec

# Spec checks in the spec module's fixed order, so files from different specs line up; a spec
# that does not make a check writes "-".
CHECK_COLUMNS = list(CHECKS)
UNCHECKED = "unchecked"  # verdict when the rep's spec cannot be loaded any more
REP_MEASURES = ["start_s", "to_far_s", "hold_s", "return_s", "end_s", "duration_s", "rom_deg",
                "peak_speed_dps", "peak_accel_g"]
META_COLUMNS = ["spec_name", "device_id", "firmware_version"]
REP_COLUMNS = (["session_id", "patient", "time", "exercise", "set", "rep", "weight_kg"]
               + REP_MEASURES + ["hold_target_s", "abrupt_count"] + CHECK_COLUMNS
               + ["verdict"] + META_COLUMNS)
SET_COLUMNS = (["session_id", "patient", "time", "exercise", "set", "weight_kg", "reps_planned",
                "reps_done", "reps_passed", "hold_mean_s", "hold_target_s", "rom_mean_deg",
                "to_far_mean_s", "to_far_min_s", "return_mean_s", "return_min_s",
                "abrupt_count"]
               + META_COLUMNS)


class ExportError(SmartbellError, ValueError):
    """Nothing to export, or an output path that cannot be written."""


def _wall_clock(events: pd.DataFrame, started_utc: pd.Series) -> pd.Series:
    """Laptop time of each event's device timestamp ``t_ms`` (``started_utc``: each event's
    session start).

    An event replayed after a reconnect arrives late, so its arrival time is not when it
    happened. The device clock is exact; its offset to the laptop clock is the smallest
    (arrival - t_ms) seen, i.e. the least-delayed notification, but never so small that an
    event would fall before the session started (a device clock running fast, as in the demo's
    simulated time). A device restart (t_ms going back) starts a new offset."""
    if events.empty:
        return pd.Series(pd.NaT, index=events.index, dtype="datetime64[ns, UTC]")
    device = pd.to_timedelta(events["t_ms"], unit="ms")
    restart = events.groupby("session_id", sort=False)["t_ms"].diff() < 0
    epoch = [events["session_id"], restart.groupby(events["session_id"], sort=False).cumsum()]
    offset = (events["host_time"] - device).groupby(epoch, sort=False).transform("min")
    floor = started_utc - device.groupby(epoch, sort=False).transform("min")
    return offset.where(offset >= floor, floor) + device


def _local_iso(ts: pd.Series, offset_from: str) -> pd.Series:
    """UTC timestamps as ISO 8601 strings in the session's own UTC offset (the patient's clock)."""
    tz = datetime.fromisoformat(offset_from).tzinfo or timezone.utc
    return ts.dt.tz_convert(tz).map(lambda t: t.isoformat(timespec="seconds"), na_action="ignore")


def spec_from_dict(data: dict) -> Spec:
    """Rebuild a spec journaled as ``dataclasses.asdict(spec)``."""
    names = {f.name for f in fields(Spec)}
    return Spec(**{k: v for k, v in data.items() if k in names})


class _Checker:
    """The spec each exercise of a session was checked against, loaded once per exercise: the
    journaled spec for the session's own exercise, else the plan's version, else the shipped one."""

    def __init__(self, session: dict):
        self.session = session
        self._specs: dict[str, Spec | None] = {}

    def spec(self, exercise: str) -> Spec | None:
        if exercise not in self._specs:
            self._specs[exercise] = self._load(exercise)
        return self._specs[exercise]

    def _load(self, exercise: str) -> Spec | None:
        from smartbell.plan import Plan

        stored = self.session.get("spec") or {}
        if stored.get("name") == exercise and "limits" in stored:
            try:
                return spec_from_dict(stored)
            except TypeError:
                pass  # an older or partial record: fall through to the plan / shipped spec
        plan = self.session.get("exercise_plan") or {}
        if any(e.get("name") == exercise for e in plan.get("exercises", [])):
            try:
                return Plan.from_dict(plan, check_specs=False).spec_for(exercise)
            except SmartbellError:
                pass  # not a full plan (a logger run without one): the shipped spec then
        try:
            return load_spec(exercise)
        except SmartbellError:
            return None

    def check(self, exercise: str, rep: dict, abrupt_count: int, weight_kg) -> dict:
        spec = self.spec(exercise)
        if spec is None:
            return {c: "" for c in CHECK_COLUMNS} | {"verdict": UNCHECKED}
        return spec.check_rep(rep, abrupt_count=abrupt_count, weight_kg=weight_kg)

    def limit(self, exercise: str, key: str) -> float | None:
        spec = self.spec(exercise)
        return None if spec is None else spec.limits.get(key)


def session_spec(session: dict, exercise: str | None = None) -> Spec | None:
    """The spec the session's reps of ``exercise`` (default: its main one) are checked against;
    None when it cannot be loaded any more."""
    return _Checker(session).spec(exercise or session["spec_name"])


def _planned(session: dict) -> dict[str, dict]:
    plan = session.get("exercise_plan") or {}
    return {e.get("name"): e for e in plan.get("exercises", []) if isinstance(e, dict)}


def _rep_table(events: pd.DataFrame, sessions: dict[str, dict],
               checkers: dict[str, _Checker]) -> pd.DataFrame:
    """One row per rep of every session, with its checks, in the export's column order."""
    sid = events["session_id"]
    started = sid.map({k: pd.Timestamp(s["started_at"]).tz_convert("UTC")
                       for k, s in sessions.items()})
    events = events.assign(wall_time=_wall_clock(events, started))
    reps = events[events["type"] == "rep"].copy()
    abrupt = events[events["type"] == "abrupt"]
    for col in REP_MEASURES + ["rep"]:
        if col not in reps.columns:
            reps[col] = np.nan
    out = pd.DataFrame(index=reps.index)
    out["session_id"] = reps["session_id"]
    out["patient"] = reps["session_id"].map({k: s["patient"] for k, s in sessions.items()})
    # The rep ends at end_s on the device clock; its event is stamped t_ms on the same clock.
    end_at = reps["wall_time"] + pd.to_timedelta(reps["end_s"] * 1000 - reps["t_ms"], unit="ms")
    end_at = end_at.fillna(reps["wall_time"])
    out["time"] = pd.Series(index=reps.index, dtype=object)
    for key, idx in reps.groupby("session_id", sort=False).groups.items():
        out.loc[idx, "time"] = _local_iso(end_at.loc[idx], sessions[key]["started_at"])
    out["exercise"] = reps["exercise"]
    out["set"] = reps["set_no"].astype("Int64")
    out["rep"] = reps["rep"].astype("Int64")
    weight = reps["weight_kg"] if "weight_kg" in reps.columns else pd.Series(np.nan, reps.index)
    session_weight = reps["session_id"].map({k: s["weight_kg"] for k, s in sessions.items()})
    out["weight_kg"] = weight.astype("float64").fillna(session_weight.astype("float64"))
    for col in REP_MEASURES:
        out[col] = reps[col].astype("float64")
    out["hold_target_s"] = pd.Series(
        [checkers[k].limit(e, "hold_min_s") for k, e in zip(out["session_id"], out["exercise"])],
        index=reps.index, dtype="float64")
    # Abrupt events count against the rep they fall in (same session, exercise and set).
    times = {key: np.sort(g.to_numpy(dtype="float64")) for key, g in
             abrupt.groupby(["session_id", "exercise", "set_no"], sort=False, dropna=False)["t_s"]
             } if len(abrupt) else {}
    counts = []
    for key, start, end in zip(zip(out["session_id"], out["exercise"], reps["set_no"]),
                               out["start_s"], out["end_s"]):
        t = times.get(key)
        counts.append(0 if t is None else int(np.searchsorted(t, end, "right")
                                               - np.searchsorted(t, start, "left")))
    out["abrupt_count"] = pd.array(counts, dtype="Int64")
    rows = out[["rep"] + REP_MEASURES].to_dict("records")
    checks = [checkers[k].check(ex, rec, abrupt_count=n, weight_kg=None if pd.isna(w) else w)
              for k, ex, rec, n, w in zip(out["session_id"], out["exercise"], rows, counts,
                                          out["weight_kg"])]
    for col in CHECK_COLUMNS + ["verdict"]:
        out[col] = pd.Series([c[col] for c in checks], index=reps.index, dtype=object)
    for col in META_COLUMNS:
        out[col] = reps["session_id"].map({k: s[col] for k, s in sessions.items()})
    return out[REP_COLUMNS].reset_index(drop=True), abrupt


def _set_table(reps: pd.DataFrame, abrupt: pd.DataFrame, sessions: dict[str, dict],
               checkers: dict[str, _Checker]) -> pd.DataFrame:
    """One row per set done, plus planned sets that were not done (reps_done 0)."""
    done = (reps.assign(ok=reps["verdict"] == "ok")
            .groupby(["session_id", "exercise", "set"], sort=False, dropna=False)
            .agg(time=("time", "first"), weight_kg=("weight_kg", "first"),
                 reps_done=("ok", "size"), reps_passed=("ok", "sum"),
                 hold_mean_s=("hold_s", "mean"), rom_mean_deg=("rom_deg", "mean"),
                 to_far_mean_s=("to_far_s", "mean"), return_mean_s=("return_s", "mean"))
            .to_dict("index"))
    n_abrupt = (abrupt.groupby(["session_id", "exercise", "set_no"], dropna=False).size()
                .to_dict() if len(abrupt) else {})
    done_keys: dict[str, list] = {k: [] for k in sessions}
    for key in done:
        done_keys[key[0]].append(key[1:])
    rows = []
    for sid, session in sessions.items():
        planned, checker = _planned(session), checkers[sid]
        keys = list(done_keys[sid])
        for name, p in planned.items():
            for set_no in range(1, int(p.get("sets") or 0) + 1):
                if (name, set_no) not in keys:
                    keys.append((name, set_no))
        order = {name: i for i, name in enumerate(planned)}
        keys.sort(key=lambda k: (order.get(k[0], len(order)), str(k[0]), k[1] or 0))
        empty = {"time": None, "weight_kg": session["weight_kg"], "reps_done": 0,
                 "reps_passed": 0}
        for ex, set_no in keys:
            rows.append({
                "session_id": sid, "patient": session["patient"], "exercise": ex, "set": set_no,
                **done.get((sid, ex, set_no), empty),
                "reps_planned": planned.get(ex, {}).get("reps"),
                "hold_target_s": checker.limit(ex, "hold_min_s"),
                "to_far_min_s": checker.limit(ex, "to_far_min_s"),
                "return_min_s": checker.limit(ex, "return_min_s"),
                "abrupt_count": n_abrupt.get((sid, ex, set_no), 0),
                **{col: session[col] for col in META_COLUMNS},
            })
    sets = pd.DataFrame(rows, columns=SET_COLUMNS)
    for col in ("hold_mean_s", "rom_mean_deg", "to_far_mean_s", "return_mean_s"):
        sets[col] = sets[col].astype("float64").round(3)
    for col in ("set", "reps_planned", "reps_done", "reps_passed", "abrupt_count"):
        sets[col] = sets[col].astype("Int64")
    for col in ("weight_kg", "hold_target_s", "to_far_min_s", "return_min_s"):
        sets[col] = sets[col].astype("float64")
    return sets


def tables(j: Journal, session_ids: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """(reps, sets, sessions) for the given sessions, in the documented column order. All
    sessions are handled in one batch: per-session pandas work would dominate a long export."""
    sessions = {sid: j.session(sid) for sid in session_ids}
    checkers = {sid: _Checker(s) for sid, s in sessions.items()}
    events = j.events(list(sessions))
    reps, abrupt = _rep_table(events, sessions, checkers)
    sets = _set_table(reps, abrupt, sessions, checkers)
    return reps, sets, list(sessions.values())


def _no_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Text a spreadsheet would run as a formula (=, +, -, @ first) gets a leading apostrophe;
    such text can only come from a hand-edited journal or spec path, never from a measurement."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col].dtype):
            text = out[col]
            risky = text.map(lambda v: isinstance(v, str) and len(v) > 1
                             and v[0] in ("=", "+", "-", "@"))  # a lone "-" is "not checked"
            if risky.any():
                out[col] = text.where(~risky, "'" + text.astype(str))
    return out


def companion_paths(out: str | Path) -> tuple[Path, Path, Path]:
    """``reps.csv`` -> (``reps.csv``, ``reps.sets.csv``, ``reps.meta.json``)."""
    out = Path(out)
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return out, out.with_name(stem + ".sets.csv"), out.with_name(stem + ".meta.json")


def export_sessions(j: Journal, session_ids: list[str], out: str | Path) -> tuple[Path, ...]:
    """Write the rep CSV, the set CSV and the metadata sidecar; returns their paths."""
    if not session_ids:
        raise ExportError("no sessions to export")
    reps, sets, sessions = tables(j, session_ids)
    rep_path, set_path, meta_path = companion_paths(out)
    meta = {
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "smartbell_version": __version__, "journal": str(j.path),
        "files": {"reps": rep_path.name, "sets": set_path.name},
        "sessions": [{k: s[k] for k in ("id", "patient", "started_at", "ended_at", "weight_kg",
                                        "device_name", "device_id", "firmware_version",
                                        "spec_name", "spec", "exercise_plan", "summary",
                                        "n_faults")} for s in sessions],
    }
    try:
        rep_path.parent.mkdir(parents=True, exist_ok=True)
        _no_formulas(reps).to_csv(rep_path, index=False, lineterminator="\n")
        _no_formulas(sets).to_csv(set_path, index=False, lineterminator="\n")
        meta_path.write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ExportError(f"cannot write {exc.filename or out}: {exc.strerror or exc}") from None
    return rep_path, set_path, meta_path


def read_reps(path: str | Path) -> pd.DataFrame:
    """Read an exported rep CSV back with the dtypes it was written with."""
    return pd.read_csv(path, dtype={"session_id": str, "patient": str, "set": "Int64",
                                    "rep": "Int64", "abrupt_count": "Int64",
                                    "device_id": str, "firmware_version": str},
                       keep_default_na=True)


def select_sessions(j: Journal, ids: list[str], all_: bool, since: str | None,
                    patient: str | None) -> list[str]:
    if ids and all_:
        raise ExportError("give SESSION ids or --all, not both")
    if ids:
        for sid in ids:
            j.session(sid)  # raises naming an unknown id
        return list(dict.fromkeys(ids))  # a session named twice is exported once
    if not all_:
        raise ExportError("name a SESSION (see: smartbell sessions) or use --all [--since DATE]")
    found = [s["id"] for s in j.sessions(patient=patient, since=since)]
    if not found:
        raise ExportError("no sessions match" + (f" patient {patient}" if patient else "")
                          + (f" since {since}" if since else ""))
    return found


# -- `smartbell export` ------------------------------------------------------------------------
def add_arguments(parser) -> None:
    parser.add_argument("sessions", nargs="*", metavar="SESSION", help="session id(s)")
    parser.add_argument("--all", action="store_true", help="every session (see --since, --patient)")
    parser.add_argument("--since", metavar="DATE", help="with --all: sessions from this date on")
    parser.add_argument("--patient", help="with --all: only this patient's sessions")
    parser.add_argument("--out", default="reps.csv",
                        help="rep CSV to write; the set CSV and .meta.json go beside it "
                             "(default: %(default)s)")
    parser.add_argument("--journal", metavar="PATH", help="journal file (default: the user's)")


def run(args) -> int:
    with Journal.open(args.journal) as j:
        ids = select_sessions(j, args.sessions, args.all, args.since, args.patient)
        paths = export_sessions(j, ids, args.out)
    print(f"exported {len(ids)} session(s): " + ", ".join(str(p) for p in paths))
    return 0
