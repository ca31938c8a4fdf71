"""The session journal: every event the logger receives, durably on disk as it arrives.

One SQLite file per user, ``<data dir>/journal.sqlite3`` where the data dir is
``platformdirs.user_data_dir("smartbell")`` or ``$SMARTBELL_HOME`` when set. WAL mode with
``synchronous=FULL`` and one short transaction per call: once ``add_event`` returns, the event
survives a SIGKILL of the logger or a power cut. Readers (export, report) may open the file while
a logger writes to it.

Schema (``PRAGMA user_version`` = 1)::

    sessions(id TEXT PK "20261125-081500-3f2a", patient, exercise_plan JSON, spec_name, spec JSON,
             weight_kg REAL, device_name, device_id, firmware_version,
             started_at TEXT ISO-8601 with offset as given, started_utc TEXT (sort/filter key),
             ended_at TEXT|NULL, summary JSON|NULL)
    events(session_id, seq INT, type 'rep'|'hold'|'abrupt'|'status', t_ms INT (device clock),
           host_time TEXT ISO-8601, exercise, set_no INT, fields JSON (unit-named keys),
           raw_bytes BLOB, PRIMARY KEY(session_id, seq))
    raw_samples(session_id, t_s REAL, ax_g, ay_g, az_g, gx_dps, gy_dps, gz_dps)
    faults(id INTEGER PK, session_id|NULL, host_time TEXT, kind, detail, raw_bytes BLOB)

API::

    j = Journal.open()                        # or Journal.open(path); also a context manager
    sid = j.start_session(patient="P-07", exercise_plan={...}, spec_name="good-morning",
                          spec={...}, weight_kg=3.0, device_name="smartbell-1a2b",
                          device_id="AA:BB:..", firmware_version="0.1.0", started_at=aware_dt)
    j.add_event(sid, seq=1, type="rep", t_ms=12345, host_time=aware_dt, exercise="good-morning",
                set_no=1, fields={"rep": 1, "rom_deg": 42.0, ...}, raw_bytes=b"...")  # -> bool
    j.add_raw_samples(sid, [(t_s, ax, ay, az, gx, gy, gz), ...])
    j.add_fault(sid, "malformed", "length 7, expected 20", b"...")
    j.end_session(sid, ended_at=aware_dt, summary={...})
    j.sessions(patient=None, since=None) -> list[dict];  j.session(sid) -> dict
    j.events(sid, type=None) -> DataFrame (fields expanded to columns);  j.raw(sid), j.faults(sid)
    j.last_event(sid) -> (max seq, max t_ms)
    record_analysis(j, "trace.csv", "good-morning", plan=plan) -> sid   # a session without BLE
    record_result(j, analyze(...), ...) -> sid                          # same, analysis given

``spec`` is the spec the reps are checked against, as ``dataclasses.asdict(spec)`` (with a
plan: ``asdict(plan.spec_for(exercise))``); ``exercise_plan`` is ``plan.to_dict()`` or ``{}``.
Event ``fields`` use the host names of docs/architecture.md: a rep ``rep, start_s, end_s,
to_far_s, hold_s, return_s, duration_s, rom_deg, peak_speed_dps, peak_accel_g`` (optionally
``weight_kg`` if it changed mid-session); an abrupt event ``t_s, peak_accel_g, jerk_gps``; a hold
``t_s, hold_s, angle_deg``.

``add_event`` returns False for a sequence number already journaled in that session (a replay
after a reconnect), so a rep is never counted twice.
"""
from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from smartbell import SmartbellError
from smartbell.plan import PSEUDONYM

SCHEMA_VERSION = 1
EVENT_TYPES = ("rep", "hold", "abrupt", "status")
RAW_COLUMNS = ["t_s", "ax_g", "ay_g", "az_g", "gx_dps", "gy_dps", "gz_dps"]
EVENT_COLUMNS = ["session_id", "seq", "type", "t_ms", "host_time", "exercise", "set_no"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    patient TEXT NOT NULL,
    exercise_plan TEXT NOT NULL,
    spec_name TEXT NOT NULL,
    spec TEXT NOT NULL,
    weight_kg REAL,
    device_name TEXT,
    device_id TEXT,
    firmware_version TEXT,
    started_at TEXT NOT NULL,
    started_utc TEXT NOT NULL,
    ended_at TEXT,
    summary TEXT
);
CREATE INDEX IF NOT EXISTS sessions_by_patient ON sessions(patient, started_utc);
CREATE TABLE IF NOT EXISTS events (
    session_id TEXT NOT NULL REFERENCES sessions(id),
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    t_ms INTEGER NOT NULL,
    host_time TEXT NOT NULL,
    exercise TEXT,
    set_no INTEGER,
    fields TEXT NOT NULL,
    raw_bytes BLOB,
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE IF NOT EXISTS raw_samples (
    session_id TEXT NOT NULL REFERENCES sessions(id),
    t_s REAL NOT NULL,
    ax_g REAL, ay_g REAL, az_g REAL, gx_dps REAL, gy_dps REAL, gz_dps REAL
);
CREATE INDEX IF NOT EXISTS raw_by_session ON raw_samples(session_id, t_s);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT,
    host_time TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT,
    raw_bytes BLOB
);
"""


class JournalError(SmartbellError, ValueError):
    """Bad arguments for the journal, an unknown session, or a file that is not a journal."""


def data_dir() -> Path:
    """Where smartbell keeps its data: ``$SMARTBELL_HOME`` or the platform's user data dir."""
    home = os.environ.get("SMARTBELL_HOME")
    if home:
        return Path(home)
    import platformdirs

    return Path(platformdirs.user_data_dir("smartbell"))


def default_path() -> Path:
    return data_dir() / "journal.sqlite3"


def _iso(dt: datetime, what: str) -> str:
    if not isinstance(dt, datetime) or dt.tzinfo is None or dt.utcoffset() is None:
        raise JournalError(f"{what} must be a timezone-aware datetime, got {dt!r}")
    return dt.isoformat()


def _utc_key(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _since_key(since: date | datetime | str | None) -> str | None:
    """A lower bound on started_utc; a bare date means midnight UTC of that day."""
    if since is None:
        return None
    if isinstance(since, str):
        try:
            since = datetime.fromisoformat(since)
        except ValueError:
            raise JournalError(f"since: not an ISO date or datetime: {since!r}") from None
    if not isinstance(since, datetime):
        since = datetime(since.year, since.month, since.day)
    if since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)
    return _utc_key(since)


def _json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, sort_keys=True, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise JournalError(f"{what} is not JSON-serialisable: {exc}") from None


class Journal:
    """A handle on one journal file. Thread-safe: one connection guarded by a lock."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self._conn = conn
        self._lock = threading.Lock()
        self.path = path

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike | None = None) -> "Journal":
        path = Path(path) if path is not None else default_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(path, timeout=10.0, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as exc:
            raise JournalError(f"{path}: cannot open the journal ({exc})") from None
        try:
            # Look before touching: another program's SQLite file must not be converted to WAL.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise JournalError(f"{path}: journal schema {version} is newer than this "
                                   f"smartbell understands ({SCHEMA_VERSION})")
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")}
            if version == 0 and tables - {"sessions", "events", "raw_samples", "faults"}:
                raise JournalError(f"{path}: not a smartbell journal (an SQLite file with "
                                   f"tables {', '.join(sorted(tables))})")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            if version < SCHEMA_VERSION:  # readers of a live journal then never need a write
                conn.executescript(_SCHEMA)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise JournalError(f"{path}: not a smartbell journal ({exc})") from None
            raise
        return cls(conn, path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _write(self, sql: str, params: tuple | Iterable[tuple], many: bool = False) -> int:
        """One transaction; returns the number of rows changed."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                cur = (self._conn.executemany if many else self._conn.execute)(sql, params)
                self._conn.execute("COMMIT")
                return cur.rowcount
            except sqlite3.IntegrityError as exc:
                self._conn.execute("ROLLBACK")
                raise JournalError(str(exc)) from None
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _check_session(self, session_id: str) -> None:
        with self._lock:
            row = self._conn.execute("SELECT 1 FROM sessions WHERE id=?", (session_id,)).fetchone()
        if row is None:
            raise JournalError(f"no session {session_id!r} in {self.path}")

    # -- writing -------------------------------------------------------------------------------
    def start_session(self, *, patient: str, exercise_plan: dict, spec_name: str, spec: dict,
                      weight_kg: float | None, device_name: str | None, device_id: str | None,
                      firmware_version: str | None, started_at: datetime) -> str:
        started = _iso(started_at, "started_at")
        if not isinstance(patient, str) or not PSEUDONYM.fullmatch(patient):
            raise JournalError(f"patient must be a pseudonym (letters, digits, space . _ -, "
                               f"starting with a letter or digit), got {patient!r}")
        if weight_kg is not None and not (weight_kg >= 0):
            raise JournalError(f"weight_kg must be >= 0, got {weight_kg!r}")
        row = (patient, _json(exercise_plan or {}, "exercise_plan"), spec_name,
               _json(spec or {}, "spec"), None if weight_kg is None else float(weight_kg),
               device_name, device_id, firmware_version, started, _utc_key(started_at))
        for _ in range(8):  # a clash needs two sessions in the same second and 16 random bits
            sid = started_at.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)
            try:
                self._write("INSERT INTO sessions (id, patient, exercise_plan, spec_name, spec, "
                            "weight_kg, device_name, device_id, firmware_version, started_at, "
                            "started_utc) VALUES (?,?,?,?,?,?,?,?,?,?,?)", (sid, *row))
                return sid
            except JournalError:
                continue
        raise JournalError("could not allocate a unique session id")

    def add_event(self, session_id: str, *, seq: int, type: str, t_ms: int, host_time: datetime,
                  exercise: str | None, set_no: int | None, fields: dict,
                  raw_bytes: bytes | None = None) -> bool:
        if type not in EVENT_TYPES:
            raise JournalError(f"event type must be one of {EVENT_TYPES}, got {type!r}")
        if not isinstance(seq, int) or seq < 0:
            raise JournalError(f"seq must be a non-negative int, got {seq!r}")
        if not isinstance(fields, dict):
            raise JournalError(f"fields must be a dict, got {fields!r}")
        params = (session_id, seq, type, int(t_ms), _iso(host_time, "host_time"), exercise,
                  None if set_no is None else int(set_no), _json(fields, "fields"),
                  None if raw_bytes is None else bytes(raw_bytes))
        try:
            n = self._write("INSERT INTO events (session_id, seq, type, t_ms, host_time, exercise,"
                            " set_no, fields, raw_bytes) VALUES (?,?,?,?,?,?,?,?,?)"
                            " ON CONFLICT(session_id, seq) DO NOTHING", params)
        except JournalError:
            self._check_session(session_id)  # the likely cause: name it
            raise
        return n == 1

    def add_raw_samples(self, session_id: str, rows: Iterable[Iterable[float]]) -> int:
        """Append raw IMU rows ``(t_s, ax_g, ay_g, az_g, gx_dps, gy_dps, gz_dps)``; one transaction."""
        self._check_session(session_id)
        data = []
        for i, r in enumerate(rows):
            r = tuple(float(v) for v in r)
            if len(r) != 7:
                raise JournalError(f"raw sample {i}: expected 7 values (t_s, ax..gz), got {len(r)}")
            data.append((session_id, *r))
        if data:
            self._write("INSERT INTO raw_samples VALUES (?,?,?,?,?,?,?,?)", data, many=True)
        return len(data)

    def add_fault(self, session_id: str | None, kind: str, detail: str = "",
                  raw_bytes: bytes | None = None, host_time: datetime | None = None) -> None:
        """Record something that went wrong (malformed packet, gap, sensor fault); never raises
        for an unknown session, so a fault is kept even when its session could not be started."""
        when = _iso(host_time, "host_time") if host_time else datetime.now(timezone.utc).isoformat()
        self._write("INSERT INTO faults (session_id, host_time, kind, detail, raw_bytes) "
                    "VALUES (?,?,?,?,?)",
                    (session_id, when, str(kind), str(detail),
                     None if raw_bytes is None else bytes(raw_bytes)))

    def end_session(self, session_id: str, ended_at: datetime, summary: dict | None = None) -> None:
        n = self._write("UPDATE sessions SET ended_at=?, summary=? WHERE id=?",
                        (_iso(ended_at, "ended_at"), _json(summary or {}, "summary"), session_id))
        if n != 1:
            raise JournalError(f"no session {session_id!r} in {self.path}")

    # -- reading -------------------------------------------------------------------------------
    _SESSION_SQL = (
        "SELECT s.*, "
        "(SELECT COUNT(*) FROM events e WHERE e.session_id=s.id AND e.type='rep') AS n_reps, "
        "(SELECT COUNT(*) FROM events e WHERE e.session_id=s.id AND e.type='abrupt') AS n_abrupt, "
        "(SELECT COUNT(*) FROM events e WHERE e.session_id=s.id) AS n_events, "
        "(SELECT COUNT(*) FROM faults f WHERE f.session_id=s.id) AS n_faults, "
        "(SELECT GROUP_CONCAT(x, ',') FROM (SELECT exercise AS x, MIN(seq) AS m FROM events e "
        "  WHERE e.session_id=s.id AND e.exercise IS NOT NULL GROUP BY exercise ORDER BY m))"
        " AS exercises_done "
        "FROM sessions s")

    @staticmethod
    def _session_dict(cur: sqlite3.Cursor, row: tuple) -> dict:
        d = {c[0]: v for c, v in zip(cur.description, row)}
        for key in ("exercise_plan", "spec", "summary"):
            d[key] = json.loads(d[key]) if d[key] is not None else None
        d.pop("started_utc")
        d["exercises_done"] = d["exercises_done"].split(",") if d["exercises_done"] else []
        return d

    def sessions(self, patient: str | None = None,
                 since: date | datetime | str | None = None) -> list[dict]:
        """Sessions oldest first, each a dict of the session columns plus ``n_reps``,
        ``n_abrupt``, ``n_events``, ``n_faults`` and ``exercises_done`` (in order of first event)."""
        where, params = [], []
        if patient is not None:
            where.append("s.patient=?")
            params.append(patient)
        key = _since_key(since)
        if key is not None:
            where.append("s.started_utc>=?")
            params.append(key)
        sql = self._SESSION_SQL + (" WHERE " + " AND ".join(where) if where else "")
        with self._lock:
            cur = self._conn.execute(sql + " ORDER BY s.started_utc, s.id", params)
            return [self._session_dict(cur, r) for r in cur.fetchall()]

    def session(self, session_id: str) -> dict:
        with self._lock:
            cur = self._conn.execute(self._SESSION_SQL + " WHERE s.id=?", (session_id,))
            row = cur.fetchone()
            if row is None:
                raise JournalError(f"no session {session_id!r} in {self.path}")
            return self._session_dict(cur, row)

    def events(self, session_id: str | list[str], type: str | None = None) -> pd.DataFrame:
        """Events of one session (or of several, in the order given) in sequence order;
        ``fields`` expanded into one column per key (first-seen order), ``host_time`` as UTC
        timestamps, ``raw_bytes`` kept as bytes."""
        ids = [session_id] if isinstance(session_id, str) else list(session_id)
        for sid in ids:
            self._check_session(sid)
        if type is not None and type not in EVENT_TYPES:
            raise JournalError(f"event type must be one of {EVENT_TYPES}, got {type!r}")
        sql = ("SELECT session_id, seq, type, t_ms, host_time, exercise, set_no, fields, raw_bytes"
               " FROM events WHERE session_id=?" + (" AND type=?" if type else "") + " ORDER BY seq")
        rows: list = []
        with self._lock:
            for sid in ids:
                rows += self._conn.execute(sql, (sid, type) if type else (sid,)).fetchall()
        base = pd.DataFrame([r[:7] for r in rows], columns=EVENT_COLUMNS)
        base["host_time"] = pd.to_datetime(base["host_time"], utc=True, format="ISO8601")
        base["seq"] = base["seq"].astype("int64")
        base["t_ms"] = base["t_ms"].astype("int64")
        fields = pd.DataFrame.from_records([json.loads(r[7]) for r in rows], index=base.index)
        fields = fields.drop(columns=[c for c in fields.columns if c in base.columns])
        out = pd.concat([base, fields], axis=1)
        out["raw_bytes"] = [r[8] for r in rows]
        return out

    def last_event(self, session_id: str) -> tuple[int | None, int | None]:
        """(highest seq, latest device t_ms) journaled for a session; (None, None) if none."""
        with self._lock:
            return self._conn.execute("SELECT MAX(seq), MAX(t_ms) FROM events WHERE session_id=?",
                                      (session_id,)).fetchone()

    def raw(self, session_id: str) -> pd.DataFrame:
        self._check_session(session_id)
        with self._lock:
            rows = self._conn.execute(
                "SELECT " + ", ".join(RAW_COLUMNS) + " FROM raw_samples WHERE session_id=? "
                "ORDER BY t_s, rowid", (session_id,)).fetchall()
        return pd.DataFrame(rows, columns=RAW_COLUMNS, dtype="float64")

    def faults(self, session_id: str | None = None) -> pd.DataFrame:
        sql = "SELECT id, session_id, host_time, kind, detail, raw_bytes FROM faults"
        params: tuple = ()
        if session_id is not None:
            sql, params = sql + " WHERE session_id=?", (session_id,)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY id", params).fetchall()
        df = pd.DataFrame(rows, columns=["id", "session_id", "host_time", "kind", "detail",
                                         "raw_bytes"])
        df["host_time"] = pd.to_datetime(df["host_time"], utc=True, format="ISO8601")
        return df


# -- a journal session from a raw trace, without BLE (tests, benchmarks, demos) -----------------
REP_FIELDS = ["rep", "start_s", "end_s", "to_far_s", "hold_s", "return_s", "duration_s",
              "rom_deg", "peak_speed_dps", "peak_accel_g"]
_EVENT_FIELDS = {"abrupt": ["t_s", "peak_accel_g", "jerk_gps"], "hold": ["t_s", "hold_s",
                                                                         "angle_deg"]}


def record_analysis(journal: Journal, trace, exercise: str, *, plan=None, patient: str = "SIM",
                    weight_kg: float | None = None, started_at: datetime | None = None,
                    set_no: int = 1, session_id: str | None = None, raw: bool = False,
                    end: bool = True, rest_s: float = 60.0) -> str:
    """Run ``smartbell.analyze`` on a trace (path or simulator/analyze ``Trace``) and journal the
    result as a logger would: events in time order with consecutive seq numbers, host times =
    ``started_at`` + device seconds. With ``session_id`` the trace is appended as another set,
    its device times shifted to start ``rest_s`` after the session's last event."""
    from smartbell.analyze import Trace, analyze, read_trace
    from smartbell.spec import load_spec

    if not isinstance(trace, Trace):
        trace = (read_trace(trace) if isinstance(trace, (str, os.PathLike))
                 else Trace(trace.t_s, trace.accel_g, trace.gyro_dps))
    spec = plan.spec_for(exercise) if plan is not None else load_spec(exercise)
    result = analyze(trace, spec, weight_kg=weight_kg)
    return record_result(journal, result, trace if raw else None, plan=plan, patient=patient,
                         weight_kg=weight_kg, started_at=started_at, set_no=set_no,
                         session_id=session_id, end=end, rest_s=rest_s,
                         t_start_s=float(trace.t_s[0]), t_end_s=float(trace.t_s[-1]))


def record_result(journal: Journal, result, raw_trace=None, *, plan=None, patient: str = "SIM",
                  weight_kg: float | None = None, started_at: datetime | None = None,
                  set_no: int = 1, session_id: str | None = None, end: bool = True,
                  rest_s: float = 60.0, t_start_s: float = 0.0,
                  t_end_s: float | None = None) -> str:
    """Journal an existing ``smartbell.analyze`` result (see ``record_analysis``); with
    ``raw_trace`` its samples are journaled too. Benchmarks reuse one analysis many times."""
    from dataclasses import asdict

    spec = result.spec
    if session_id is None:
        started_at = started_at or datetime.now(timezone.utc)
        session_id = journal.start_session(
            patient=plan.patient if plan is not None else patient,
            exercise_plan=plan.to_dict() if plan is not None else {}, spec_name=spec.name,
            spec=asdict(spec), weight_kg=weight_kg, device_name="simulated",
            device_id="00:00:00:00:00:00", firmware_version="simulated",
            started_at=started_at)
    else:
        started_at = datetime.fromisoformat(journal.session(session_id)["started_at"])
    last, last_ms = journal.last_event(session_id)
    # One continuous device clock across the sets of a session: later sets are shifted by whole
    # milliseconds, after the detector ran, so their measurements equal `analyze` on the trace.
    shift = 0.0 if last_ms is None else round(last_ms / 1000 + rest_s - t_start_s, 3)
    items = [(r["end_s"], "rep", {k: r[k] for k in REP_FIELDS})
             for r in result.reps.to_dict("records")]
    for e in result.events.to_dict("records"):
        if e["type"] in _EVENT_FIELDS:
            items.append((e["t_s"], e["type"], {k: e[k] for k in _EVENT_FIELDS[e["type"]]}))
    items.sort(key=lambda it: it[0])
    seq = -1 if last is None else last
    for t_s, kind, fields in items:
        seq += 1
        t_s = round(t_s + shift, 3)
        fields = {k: (int(v) if k == "rep" else
                      round(float(v) + shift, 3) if k in ("start_s", "end_s", "t_s") else float(v))
                  for k, v in fields.items()}
        journal.add_event(session_id, seq=seq, type=kind, t_ms=int(round(t_s * 1000)),
                          host_time=started_at + timedelta(seconds=t_s), exercise=spec.name,
                          set_no=set_no, fields=fields)
    if raw_trace is not None:
        tr = raw_trace
        gyro = tr.gyro_dps if tr.gyro_dps is not None else np.full_like(tr.accel_g, np.nan)
        journal.add_raw_samples(session_id, np.column_stack([tr.t_s + shift, tr.accel_g, gyro]))
    if end:
        last_s = t_end_s if t_end_s is not None else (items[-1][0] if items else 0.0)
        ended = started_at + timedelta(seconds=float(last_s) + shift)
        journal.end_session(session_id, ended, result.summary)
    return session_id


# -- `smartbell sessions` ----------------------------------------------------------------------
def add_arguments(parser) -> None:
    parser.add_argument("--patient", help="only this patient's sessions")
    parser.add_argument("--since", help="only sessions started on or after this date (YYYY-MM-DD)")
    parser.add_argument("--journal", help="journal file (default: %(default)s)",
                        default=None, metavar="PATH")


def _duration(s: dict) -> str:
    if not s["ended_at"]:
        return "open"
    secs = int((datetime.fromisoformat(s["ended_at"])
                - datetime.fromisoformat(s["started_at"])).total_seconds())
    return f"{secs // 60}:{secs % 60:02d}"


def run(args) -> int:
    from rich.console import Console
    from rich.table import Table

    with Journal.open(args.journal) as j:
        rows = j.sessions(patient=args.patient, since=args.since)
    console = Console()
    if not rows:
        console.print("no sessions recorded yet")
        return 0
    table = Table("session", "date", "patient", "exercises", "reps", "duration")
    for s in rows:
        exercises = s["exercises_done"] or [e.get("name", "?") for e in
                                            (s["exercise_plan"] or {}).get("exercises", [])]
        table.add_row(s["id"], datetime.fromisoformat(s["started_at"]).strftime("%Y-%m-%d %H:%M"),
                      s["patient"], ", ".join(exercises) or s["spec_name"], str(s["n_reps"]),
                      _duration(s))
    console.print(table)
    return 0
