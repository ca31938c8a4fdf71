"""`smartbell scan` and `smartbell session`: a live exercise session over BLE, nothing lost.
BLE callbacks only queue `(host_time, bytes)`; one consumer decodes, de-duplicates by sequence
number, journals each event durably, checks reps against the spec and redraws the live view.

    session = Session(steps_from("good-morning"), journal=Journal.open(), backend=central.backend())
    summary = asyncio.run(session.run())
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import dataclasses
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from bleak import BleakClient
from bleak.exc import BleakError
from rich.console import Console

from sbcore import protocol as P
from sbcore.motion import PARAMS, PHASE_NAMES
from smartbell import SmartbellError, ble, screening
from smartbell.live import LineView, LiveState, LiveView

log = logging.getLogger("smartbell.logger")

PARAM_IDS = {p[1]: p[0] for p in PARAMS}
BACKOFF_FIRST_S = 0.05
BACKOFF_MAX_S = 2.0
LIVE_ANGLE_HZ = 25
LIVE_RAW_HZ = 100
ABRUPT_BANNER_S = 4.0
RAW_HEADER = ["t", "ax", "ay", "az", "gx", "gy", "gz"]
# Redraw at least this often while a burst (e.g. a replay) is being consumed.
REDRAW_EVERY_S = 0.05


class SessionError(SmartbellError, RuntimeError):
    """A session that cannot go on (no device, the device refuses the exercise...)."""


@dataclass
class Step:
    """One exercise of the session: its spec and the plan's sets x reps."""
    name: str
    spec: object
    sets: int = 1
    reps: int | None = None
    hold_s: float | None = None
    weight_limit_kg: float | None = None
    rest_s: float = 60.0


def steps_from(exercise: str | None, plan=None) -> list[Step]:
    """The session's steps from a plan (all its exercises) or one exercise name/spec path."""
    from smartbell.spec import load_spec

    if plan is not None:
        out = []
        for ex in plan.exercises:
            if exercise and ex.name != exercise:
                continue
            spec = plan.spec_for(ex.name)
            out.append(Step(ex.name, spec, ex.sets, ex.reps, ex.hold_s or spec.hold_target_s,
                            ex.weight_kg, ex.rest_s))
        if not out:
            raise SessionError(f"exercise {exercise!r} is not in the plan")
        return out
    spec = load_spec(exercise or "generic")
    return [Step(spec.name, spec, 1, None, spec.hold_target_s, None, 60.0)]


class SeqTracker:
    """Unwraps the 16-bit event sequence numbers into the session's own numbering and knows the
    last contiguous one. A device that restarts numbers from 0 again: `new_epoch()` continues the
    session's numbering after the highest number seen."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.next: int | None = None       # lowest full seq not yet received
        self.baseline: int | None = None   # first seq of this session
        self.epoch = 0                     # full seq of the device's seq 0 since its last boot
        self.epochs = 0                    # device restarts seen

    def start(self, head16: int) -> None:
        if self.next is None:
            self.next = self.baseline = head16

    def new_epoch(self) -> None:
        self.epoch = max(self.seen) + 1 if self.seen else (self.next or 0)
        self.next = self.epoch
        self.epochs += 1

    def unwrap(self, seq16: int) -> int:
        ref = (self.next if self.next is not None else seq16) - self.epoch
        return self.epoch + ref + (((seq16 - ref + 0x8000) & 0xFFFF) - 0x8000)

    def add(self, full: int) -> bool:
        if self.next is None:
            self.next = self.baseline = full
        if full in self.seen or full < self.baseline:
            return False
        self.seen.add(full)
        while self.next in self.seen:
            self.next += 1
        return True

    @property
    def missing(self) -> int:
        return 0 if not self.seen else max(self.seen) + 1 - self.next - sum(
            1 for s in self.seen if s > self.next)

    def replay_from(self) -> int:
        return ((self.next or 0) - self.epoch) & 0xFFFF


@dataclass
class SetRange:
    exercise: str
    set_no: int
    start_t_ms: int
    end_t_ms: int | None = None
    epoch: int = 0          # device boots: its clock starts again at 0 after a restart


@dataclass
class Stats:
    packets: int = 0
    events: int = 0
    duplicates: int = 0
    malformed: int = 0
    reconnects: int = 0
    raw_samples: int = 0
    live_packets: int = 0
    render_latency_s: list = field(default_factory=list)
    relink_s: list = field(default_factory=list)   # wall time from a lost link to set up again


def _params_for(spec) -> list[tuple[int, int]]:
    out = []
    for name, value in spec.detector_params().items():
        if name not in PARAM_IDS:
            raise SessionError(f"spec {spec.name}: detector parameter {name!r} unknown to the firmware")
        out.append((PARAM_IDS[name], int(value)))
    return out


class Session:
    """One live session. `run()` returns the summary dict once the plan is done or `stop()`.

    The link loop connects (one BleakClient per connection, in `async with`), replays what it
    missed (or learns the event head the first time), asks for live data, syncs the clock, pushes
    the exercise's thresholds and starts the set; on a dropped link it reconnects with backoff."""

    def __init__(self, steps: list[Step], *, journal, patient: str = "me",
                 weight_kg: float | None = None, device: str | None = None,
                 backend: ble.Backend | None = None, view: LiveView | None = None,
                 raw_csv: Path | None = None, auto: bool = True, rest_scale: float = 1.0,
                 scan_timeout_s: float = 10.0, plan_dict: dict | None = None):
        self.steps = steps
        self.journal = journal
        self.patient = patient
        self.weight_kg = weight_kg
        self.device_query = device
        self.backend = backend or ble.Backend()
        self.view = view or LiveView(enabled=False)
        self.raw_csv = Path(raw_csv) if raw_csv else None
        self.auto = auto
        self.rest_scale = rest_scale
        self.scan_timeout_s = scan_timeout_s
        self.plan_dict = plan_dict   # the therapist's plan as journaled (Plan.to_dict())
        self.state = LiveState(exercise_count=len(steps), weight_kg=weight_kg)
        self.stats = Stats()
        self.seq = SeqTracker()
        self.commander = ble.Commander()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.session_id: str | None = None
        self.device_info: dict = {}
        self.step_index = 0
        self.set_ranges: list[SetRange] = []
        self.reps: dict[str, list[dict]] = {s.name: [] for s in steps}
        self.abrupt_t_s: list[float] = []
        self.abrupts: dict[str, int] = {s.name: 0 for s in steps}
        self._hold_start_ms: int | None = None
        self._connected = asyncio.Event()
        self._done = asyncio.Event()
        self._lost = asyncio.Event()
        self._client: BleakClient | None = None
        self._tasks: set[asyncio.Task] = set()
        self._selected_step: int | None = None
        self._raw_file = None
        self._raw_writer = None
        self._set_busy = False
        self._last_render = 0.0
        self.summary: dict | None = None
        self._early_faults: list[tuple[str, str, bytes]] = []
        self._shown_pending: list[float] = []
        self._early_events: list[tuple[float, dict, bytes]] = []
        self._early_raw: list[dict] = []
        self._lost_at: float | None = None
        self._enter_step(0)
        self._det = None   # host-side detector for the phase when live data is raw
        self._resume_set = False

    # -- public -----------------------------------------------------------------------------
    @property
    def step(self) -> Step:
        return self.steps[self.step_index]

    def stop(self) -> None:
        """End the session: the set is stopped, the journal closed, the summary made."""
        self._done.set()

    async def run(self) -> dict:
        if self.raw_csv:
            self.raw_csv.parent.mkdir(parents=True, exist_ok=True)
            self._raw_file = open(self.raw_csv, "w", newline="")
            self._raw_writer = csv.writer(self._raw_file)
            self._raw_writer.writerow(RAW_HEADER)
        consumer = asyncio.create_task(self._consume(), name="consumer")
        link = asyncio.create_task(self._link_loop(), name="link")
        try:
            with self.view:
                done = asyncio.create_task(self._done.wait())
                await asyncio.wait([done, link], return_when=asyncio.FIRST_COMPLETED)
                done.cancel()
                if link.done() and not link.cancelled() and link.exception() is not None:
                    await self._drain()
                    self._summarise()
                    raise link.exception()
                await self._finish_set_on_exit()
                link.cancel()
                await asyncio.gather(link, return_exceptions=True)
                await self._drain()
                self._render(force=True)
        finally:
            consumer.cancel()
            link.cancel()
            for t in list(self._tasks):
                t.cancel()
            if self._raw_file:
                self._raw_file.close()
        return self._summarise()

    # -- keys ---------------------------------------------------------------------------------
    def handle_key(self, key: str) -> None:
        key = key.lower()
        if key == "q":
            self.stop()
        elif key == " ":
            self._spawn(self._stop_set() if self.state.in_set else self._start_set())
        elif key == "n":
            self._spawn(self._next_exercise())

    # -- the link -----------------------------------------------------------------------------
    async def _link_loop(self) -> None:
        attempt = 0
        first = True
        while not self._done.is_set():
            try:
                self.state.connection = "searching" if first else f"reconnecting (attempt {attempt + 1})"
                self._render(force=True)
                device = await ble.find(self.device_query, self.scan_timeout_s, self.backend,
                                        name_wait_s=ble.NAME_WAIT_S if first else 0.0)
                self._lost.clear()
                kw = {"backend": self.backend.client} if self.backend.client else {}
                async with BleakClient(device, lambda _c: self._on_lost(), **kw) as client:
                    self._client = client
                    await self._setup(client, device, first)
                    first = False
                    attempt = 0
                    self.state.connection = "connected"
                    if self._lost_at is not None:
                        self.stats.relink_s.append(time.perf_counter() - self._lost_at)
                        self._lost_at = None
                    self._connected.set()
                    self._render(force=True)
                    waiters = [asyncio.create_task(self._lost.wait()), asyncio.create_task(self._done.wait())]
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                    for w in waiters:
                        w.cancel()
            except ble.BluetoothUnavailable as exc:
                if first:
                    raise SessionError(str(exc)) from None
                log.info("%s", exc)
            except ble.DeviceNotFound as exc:
                if first and attempt >= 2:
                    raise SessionError(str(exc)) from None
                log.info("%s", exc)
            except (BleakError, ble.CommandFailed, asyncio.TimeoutError, OSError, EOFError) as exc:
                log.info("link: %s: %s", type(exc).__name__, exc)
                if first and isinstance(exc, ble.CommandRefused):
                    raise SessionError(str(exc)) from None   # e.g. thresholds it cannot take
            finally:
                self._client = None
                self._connected.clear()
                self.commander.fail_all("link lost")
            if self._done.is_set():
                break
            self.stats.reconnects += 1
            self.state.lost_links = self.stats.reconnects
            self.state.connection = "link lost: reconnecting"
            self._render(force=True)
            await asyncio.sleep(min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** attempt))
            attempt += 1

    def _on_lost(self) -> None:
        self._lost_at = time.perf_counter()
        self._lost.set()
        self._connected.clear()
        self.commander.fail_all("link lost")

    async def _setup(self, client: BleakClient, device, first: bool) -> None:
        send = self.commander.send
        await ble.subscribe(client, self.queue, live=True)
        if self.seq.next is not None:
            # The device holds new events until the first command after a connection: replay
            # must be that command, from the first sequence number we do not have.
            resp = await send(client, "replay", from_seq=self.seq.replay_from(), check=False)
            if resp["code"] == P.E_RANGE:
                await self._device_restarted(client, resp["value"])
                resp = await send(client, "replay", from_seq=0, check=False)
            if resp["code"] not in (P.OK, P.E_PARTIAL):
                log.warning("replay refused: %s", resp["status"])
            if resp["code"] == P.E_PARTIAL:
                self.journal.add_fault(self.session_id, "replay_partial",
                                       f"events older than seq {resp['value']} were overwritten", b"")
        else:
            head = (await send(client, "get", key=P.GET_EVENT_HEAD))["value"]
            self.seq.start(head)
        # Live data next: a raw recording should miss as little of the start as it can.
        raw = self.raw_csv is not None
        await send(client, "live", rate_hz=LIVE_RAW_HZ if raw else LIVE_ANGLE_HZ,
                   content=P.LIVE_RAW if raw else P.LIVE_ANGLE)
        sync = await send(client, "time_sync", host_ms=int(time.time() * 1000) & 0xFFFFFFFF)
        self.device_info["clock_offset_ms"] = int(time.time() * 1000) - sync["t_ms"]
        if first:
            info = {}
            for key in ("accel_lsb_per_g", "gyro_mdps_per_lsb", "fw_version", "has_gyro", "battery_mv"):
                info[key] = (await send(client, "get", key=P.GET_KEYS.index(key)))["value"]
            info["name"] = device.name or device.address
            info["address"] = device.address
            self.device_info.update(info)
            self.state.device_name = info["name"]
            self._start_journal()
        self.state.battery_pct = await self._battery(client)
        await self._select(client, self.step_index, reselect=not first)
        if self._resume_set:
            self._resume_set = False
            resp = await send(client, "start", check=False)
            self.set_ranges.append(SetRange(self.step.name, self.state.set_no, resp["t_ms"],
                                            epoch=self.seq.epochs))
        if first and self.auto:
            self._spawn(self._start_set())

    async def _device_restarted(self, client: BleakClient, device_next: int) -> None:
        """The device has issued fewer events than we hold: it restarted (power, watchdog) and
        numbers from 0 again. Events it made but had not sent before that are gone; say so."""
        self.seq.new_epoch()
        self._selected_step = None                 # it lost the exercise and thresholds too
        self.journal.add_fault(self.session_id, "device_restart",
                               f"the device restarted (its next event is {device_next}); events "
                               "it had not sent before restarting are lost", b"")
        self.state.message = "The dumbbell restarted: carrying on."
        if self.state.in_set:
            self._resume_set = True                 # it is not in a set any more: start it again

    async def _battery(self, client: BleakClient) -> int | None:
        try:
            return await asyncio.wait_for(ble.read_battery_level(client), 2)
        except (BleakError, asyncio.TimeoutError):
            return None

    async def _select(self, client: BleakClient, index: int, reselect: bool = False) -> None:
        """Tell the device the exercise and its thresholds; after a reconnect only re-push the
        thresholds (`select` would reset nothing we need, but keep the device's set running)."""
        params = _params_for(self.steps[index].spec)
        room = max(1, (client.mtu_size - 3 - 4) // 5)
        if reselect and self._selected_step == index:
            chunks = [params[i:i + room] for i in range(0, len(params), room)]
            for chunk in chunks:
                await self.commander.send(client, "params", params=chunk)
            return
        await self.commander.send(client, "select", exercise=index + 1, params=params[:room])
        for i in range(room, len(params), room):
            await self.commander.send(client, "params", params=params[i:i + room])
        self._selected_step = index

    async def _with_link(self, action, what: str):
        """`await action(client)` once a link is up; again after a reconnect if the link dropped
        meanwhile (a key press while the link is down takes effect when it is back)."""
        while True:
            await self._connected.wait()
            client = self._client
            if client is None:
                await asyncio.sleep(0.01)
                continue
            try:
                return await action(client)
            except (BleakError, ble.LinkLost) as exc:
                log.info("%s: %s; again after reconnecting", what, exc)
            except ble.CommandFailed:
                if client.is_connected:
                    raise
            await asyncio.sleep(0.01)   # the link loop notices the loss and reconnects

    async def _command(self, name: str, **args) -> dict:
        return await self._with_link(lambda client: self.commander.send(client, name, **args), name)

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                exc = t.exception()
                self.state.message = f"error: {exc}"
                log.error("session task failed: %r", exc)
                self._render(force=True)

        task.add_done_callback(done)

    # -- plan walking -------------------------------------------------------------------------
    def _enter_step(self, index: int) -> None:
        self.step_index = index
        step = self.step
        st = self.state
        st.exercise = step.name
        st.exercise_no = index + 1
        st.sets_target = step.sets
        st.reps_target = step.reps
        st.hold_target_s = step.hold_s
        st.set_no = 0
        st.reps = 0
        st.last_rep = None
        limit = getattr(step.spec, "weight_max_kg", None)
        st.weight_warning = screening.weight_warning(self.weight_kg, step.weight_limit_kg, limit)

    async def _start_set(self) -> None:
        if self.state.in_set or self._set_busy or self._done.is_set():
            return
        self._set_busy = True
        try:
            resp = await self._command("start", check=False)
            if resp["code"] not in (P.OK, P.E_STATE):   # E_STATE: it already is in a set
                raise ble.CommandRefused(f"device refused 'start': {resp['status']}", resp["status"])
            self._open_set(resp["t_ms"])
            self._render(force=True)
        finally:
            self._set_busy = False

    def _open_set(self, t_ms: int) -> None:
        st = self.state
        st.set_no += 1
        st.reps = 0
        st.in_set = True
        st.message = ""
        self.set_ranges.append(SetRange(self.step.name, st.set_no, t_ms, epoch=self.seq.epochs))

    async def _stop_set(self) -> None:
        if not self.state.in_set or self._set_busy:
            return
        self._set_busy = True
        try:
            resp = await self._command("stop", check=False)
            self._close_set(resp["t_ms"])
        finally:
            self._set_busy = False
        await self._after_set()

    def _close_set(self, t_ms: int) -> None:
        self.state.in_set = False
        if self.set_ranges and self.set_ranges[-1].end_t_ms is None:
            self.set_ranges[-1].end_t_ms = t_ms

    async def _after_set(self) -> None:
        st, step = self.state, self.step
        if st.set_no < (step.sets or 1):
            if not self.auto:
                st.message = (f"Set {st.set_no} done. Rest {step.rest_s:g} s, then press space "
                              f"or the dumbbell's button for set {st.set_no + 1}.")
                self._render(force=True)
                return
            await self._rest(f"Set {st.set_no} done. Rest", f"then set {st.set_no + 1}.")
            await self._start_set()
            return
        if self.step_index + 1 < len(self.steps):
            upcoming = self.steps[self.step_index + 1].name
            if not self.auto:
                st.message = f"{step.name} done. Press n for {upcoming}."
                self._render(force=True)
                return
            await self._rest(f"{step.name} done. Rest", f"then {upcoming}.")
            await self._next_exercise()
            return
        st.message = "Plan done. Well done!"
        st.finished = True
        self._render(force=True)
        self.stop()

    async def _rest(self, before: str, after: str) -> None:
        """The plan's rest between sets, counted down on screen."""
        left = self.step.rest_s * self.rest_scale
        while True:
            self.state.message = f"{before}: {max(0.0, left):.0f} s left, {after}"
            self._render(force=True)
            if left <= 0:
                return
            await asyncio.sleep(min(1.0, left))
            left -= 1.0

    async def _next_exercise(self) -> None:
        if self.state.in_set and not self._set_busy:
            self._set_busy = True        # the device's own "set stopped" is this stop, not a button
            try:
                resp = await self._command("stop", check=False)
                self._close_set(resp["t_ms"])
            finally:
                self._set_busy = False
        if self.step_index + 1 >= len(self.steps):
            self.stop()
            return
        self._enter_step(self.step_index + 1)
        index = self.step_index
        await self._with_link(lambda client: self._select(client, index), "select")
        if self.auto:
            await self._start_set()

    async def _finish_set_on_exit(self, client: BleakClient | None = None) -> None:
        client = client or self._client
        if not self.state.in_set or client is None or not client.is_connected:
            return
        try:
            resp = await self.commander.send(client, "stop", check=False, timeout_s=1.0)
            self._close_set(resp["t_ms"])
        except (ble.CommandFailed, BleakError):
            pass

    # -- the consumer -------------------------------------------------------------------------
    async def _consume(self) -> None:
        while True:
            host_time, data = await self.queue.get()
            try:
                self.handle_packet(host_time, data)
            except Exception as exc:  # never let one packet stop the session
                log.exception("packet %s", data.hex())
                self._fault("error", f"{type(exc).__name__}: {exc}", data)
            if self.queue.empty():
                self._render()

    async def _drain(self) -> None:
        while not self.queue.empty():
            host_time, data = self.queue.get_nowait()
            self.handle_packet(host_time, data)

    def _fault(self, kind: str, detail: str, data: bytes) -> None:
        self.stats.malformed += 1
        self.state.malformed = self.stats.malformed
        log.warning("%s packet (%d bytes %s): %s", kind, len(data), data[:24].hex(), detail)
        if self.session_id is not None:
            self.journal.add_fault(self.session_id, kind, detail, bytes(data))
        else:
            self._early_faults.append((kind, detail, bytes(data)))

    def handle_packet(self, host_time: float, data: bytes) -> None:
        """Decode one notification and act on it (the only place packets are decoded)."""
        self.stats.packets += 1
        try:
            pkt = P.decode(data)
        except P.ProtocolError as exc:
            self._fault("malformed", str(exc), data)
            return
        kind = pkt["type"]
        if kind == "response":
            self.commander.on_response(pkt)
        elif kind == "live_angle":
            self._on_live_angle(pkt)
        elif kind == "live_raw":
            self._on_live_raw(pkt)
        else:
            self._on_event(host_time, pkt, data)
        if kind in ("rep", "abrupt", "hold", "status"):
            self._render(force=kind != "status")
        else:
            self._render()

    def _set_for(self, t_ms: int) -> tuple[str, int]:
        for r in reversed(self.set_ranges):
            if r.epoch != self.seq.epochs:
                continue
            if t_ms >= r.start_t_ms and (r.end_t_ms is None or t_ms <= r.end_t_ms):
                return r.exercise, r.set_no
        return self.step.name, 0

    def _on_event(self, host_time: float, pkt: dict, data: bytes) -> None:
        full = self.seq.unwrap(pkt["seq"])
        if full in self.seq.seen or (self.seq.baseline is not None and full < self.seq.baseline):
            self.stats.duplicates += 1
            return
        if self.session_id is None:
            # Delivery starts with our first command, before the device info that opens the
            # journal session has arrived: keep the event until it is open.
            self._early_events.append((host_time, pkt, data))
            return
        exercise, set_no = self._set_for(pkt["t_ms"])
        # The journal keeps what the device measured; the checks are derived (export redoes
        # them with every abrupt event, including ones confirmed after their rep was sent).
        fields = {k: v for k, v in pkt.items() if k not in ("version", "type", "seq", "t_ms")}
        kind = pkt["type"]
        st = self.state
        new = self.journal.add_event(self.session_id, seq=full, type=kind, t_ms=pkt["t_ms"],
                                     host_time=datetime.fromtimestamp(host_time, timezone.utc),
                                     exercise=exercise, set_no=set_no, fields=fields,
                                     raw_bytes=bytes(data))
        self.seq.add(full)
        if not new:
            self.stats.duplicates += 1
            return
        self.stats.events += 1
        if kind == "rep":
            self._shown_pending.append(host_time)
            rep = dict(fields, abrupt_count=sum(
                1 for t in self.abrupt_t_s if fields["start_s"] <= t <= fields["end_s"]))
            self._check(exercise, rep)
            self.reps[exercise].append(rep)
            st.last_rep = rep
            if exercise == self.step.name and set_no == st.set_no and st.in_set:
                st.reps += 1
                if st.reps_target and st.reps >= st.reps_target and self.auto:
                    self._spawn(self._stop_set())
        elif kind == "abrupt":
            self.abrupt_t_s.append(pkt["t_s"])
            # The detector confirms an abrupt movement a little later: it may belong to a rep
            # already shown, whose verdict then changes.
            for rep in self.reps.get(exercise, []):
                if rep["start_s"] <= pkt["t_s"] <= rep["end_s"]:
                    rep["abrupt_count"] += 1
                    self._check(exercise, rep)
            self.abrupts[exercise] = self.abrupts.get(exercise, 0) + 1
            st.abrupt_count += 1
            st.last_abrupt = fields
            st.abrupt_until = time.monotonic() + ABRUPT_BANNER_S
        elif kind == "status":
            name = pkt["status"]
            if name in ("set_started", "set_stopped"):
                self._device_set(name == "set_started", pkt["t_ms"])
            elif name == "low_battery":
                st.message = f"Battery low ({pkt['value']} mV): charge the dumbbell after this set."
            elif name == "fault":
                st.message = f"Sensor problem ({pkt.get('fault')}): the dumbbell is recovering..."
            elif name == "recovered":
                st.message = "Sensor recovered."

    def _device_set(self, started: bool, t_ms: int) -> None:
        """The device started or stopped a set by itself (its button). A set this logger started
        or stopped is already in that state (or is being changed: `_set_busy`), so only a change
        the logger did not make moves it; the device's time bounds the set's reps."""
        st = self.state
        if self._set_busy or st.in_set == started or self._done.is_set():
            return
        if started:
            self._open_set(t_ms)
            return
        self._close_set(t_ms)
        self._spawn(self._after_set())

    def _check(self, exercise: str, rep: dict) -> None:
        spec = next(s.spec for s in self.steps if s.name == exercise)
        rep.update(spec.check_rep(rep, abrupt_count=rep["abrupt_count"], weight_kg=self.weight_kg))

    def _on_live_angle(self, pkt: dict, count: bool = True) -> None:
        self.stats.live_packets += count
        st = self.state
        for s in pkt["samples"]:
            phase = PHASE_NAMES[s["phase"]] if s["phase"] < len(PHASE_NAMES) else "rest"
            if phase == "hold" and st.phase != "hold":
                self._hold_start_ms = s["t_ms"]
            st.phase = phase
            st.angle_deg = s["angle_deg"]
            if phase == "hold" and self._hold_start_ms is not None:
                st.hold_elapsed_s = (s["t_ms"] - self._hold_start_ms) / 1000

    def _on_live_raw(self, pkt: dict) -> None:
        self.stats.live_packets += 1
        if "accel_lsb_per_g" not in self.device_info or self.session_id is None:
            self._early_raw.append(pkt)   # the scales arrive a few commands later
            return
        early, self._early_raw = self._early_raw, []
        for p in early:
            self._write_raw(p)
        self._write_raw(pkt)

    def _host_detector(self):
        """With live data raw there is no phase from the device: the same detector, run here on
        the same samples, gives it."""
        if self._det is None:
            from sbcore.motion import Detector
            info = self.device_info
            det = Detector(accel_lsb_per_g=info["accel_lsb_per_g"],
                           gyro_mdps_per_lsb=(info.get("gyro_mdps_per_lsb") or 30518) / 1000,
                           has_gyro=bool(info.get("has_gyro", 1)))
            for pid, value in _params_for(self.step.spec):
                det.set_param_id(pid, value)
            self._det = det
        return self._det

    def _write_raw(self, pkt: dict) -> None:
        det = self._host_detector()
        phases = []
        for smp in pkt["samples"]:
            det.step(smp["t_ms"], smp["ax"], smp["ay"], smp["az"], smp["gx"], smp["gy"], smp["gz"])
            phases.append({"t_ms": smp["t_ms"], "phase": det.phase, "angle_deg": det.angle_ddeg / 10})
        self._on_live_angle({"samples": phases}, count=False)
        a = self.device_info.get("accel_lsb_per_g") or 1
        g = (self.device_info.get("gyro_mdps_per_lsb") or 0) / 1_000_000
        has_gyro = self.device_info.get("has_gyro", 1)
        rows = []
        for s in pkt["samples"]:
            row = (s["t_ms"] / 1000, s["ax"] / a, s["ay"] / a, s["az"] / a,
                   s["gx"] * g, s["gy"] * g, s["gz"] * g)
            rows.append(row)
        if self.session_id is not None:
            self.journal.add_raw_samples(self.session_id, rows)
        if self._raw_writer is not None:
            for r in rows:
                self._raw_writer.writerow([f"{r[0]:.3f}"] + [f"{v:.5f}" for v in r[1:4]] +
                                          ([f"{v:.4f}" for v in r[4:]] if has_gyro else ["", "", ""]))
            self._raw_file.flush()
        self.stats.raw_samples += len(rows)
        self.state.raw_samples = self.stats.raw_samples

    # -- journal and summary ------------------------------------------------------------------
    def _start_journal(self) -> None:
        if self.session_id is not None:
            return
        info = self.device_info
        fw = info.get("fw_version")
        plan = self.plan_dict or {"patient": self.patient, "exercises": [
            {k: v for k, v in {"name": s.name, "sets": s.sets, "reps": s.reps, "hold_s": s.hold_s,
                               "weight_kg": s.weight_limit_kg, "rest_s": s.rest_s}.items()
             if v is not None} for s in self.steps]}
        spec = self.steps[0].spec
        self.session_id = self.journal.start_session(
            patient=self.patient, exercise_plan=plan, spec_name=spec.name,
            spec=dataclasses.asdict(spec),
            weight_kg=self.weight_kg, device_name=info.get("name"), device_id=info.get("address"),
            firmware_version=None if fw is None else f"{fw // 100}.{fw % 100}",
            started_at=datetime.now(timezone.utc).astimezone())
        for kind, detail, data in self._early_faults:
            self.journal.add_fault(self.session_id, kind, detail, data)
        self._early_faults = []
        early, self._early_events = self._early_events, []
        for host_time, pkt, data in early:
            self._on_event(host_time, pkt, data)

    def _summarise(self) -> dict:
        per_exercise = {name: screening.advise(reps, self.abrupts.get(name, 0), weight_kg=self.weight_kg)
                        for name, reps in self.reps.items()}
        s = self.stats
        summary = {"session_id": self.session_id, "exercises": per_exercise,
                   "events": s.events, "duplicates_dropped": s.duplicates,
                   "malformed": s.malformed, "reconnects": s.reconnects,
                   "raw_samples": s.raw_samples, "missing_events": self.seq.missing,
                   "raw_csv": str(self.raw_csv) if self.raw_csv else None}
        if self.session_id is not None:
            self.journal.end_session(self.session_id, datetime.now(timezone.utc).astimezone(), summary)
        self.summary = summary
        return summary

    def _render(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last_render < REDRAW_EVERY_S:
            return
        self._last_render = now
        self.view.update(self.state)
        if self._shown_pending:
            # From the notification reaching the host to the view showing the rep.
            shown = time.time()
            self.stats.render_latency_s.extend(shown - t for t in self._shown_pending)
            self._shown_pending.clear()


# -- CLI ---------------------------------------------------------------------------------------
def add_scan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=5.0, metavar="S", help="seconds to listen")
    parser.add_argument("--no-battery", action="store_true",
                        help="do not connect to read battery levels the advertisement lacks")


def format_scan(found: list[ble.FoundDevice]) -> str:
    if not found:
        return "no smartbell found (is it switched on and within a few metres?)"
    lines = [f"{'name':<18} {'address':<18} {'signal':>8} {'battery':>8}"]
    for d in found:
        rssi = f"{d.rssi} dBm" if d.rssi is not None else "?"
        batt = f"{d.battery_pct}%" if d.battery_pct is not None else "?"
        lines.append(f"{d.name:<18} {d.address:<18} {rssi:>8} {batt:>8}")
    return "\n".join(lines)


def run_scan(args, backend: ble.Backend | None = None) -> int:
    found = asyncio.run(ble.scan(args.timeout, backend, with_battery=not args.no_battery))
    print(format_scan(found))
    return 0 if found else 1


def add_session_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exercise", help="exercise spec name or file (default: the plan's)")
    parser.add_argument("--plan", type=Path, help="the therapist's plan file (TOML)")
    parser.add_argument("--device", help="device name or address (default: the first found)")
    parser.add_argument("--weight-kg", type=float, help="the dumbbell's weight, kg")
    parser.add_argument("--patient", help="patient pseudonym (default: the plan's, else 'me')")
    parser.add_argument("--raw", type=Path, metavar="CSV",
                        help="also record the raw IMU stream to this CSV (and the journal)")
    parser.add_argument("--manual", action="store_true",
                        help="start each set with the space key instead of automatically")


def _ask_terminal(console: Console):
    from rich.prompt import Confirm

    return lambda question: Confirm.ask(question, console=console)


def print_summary(summary: dict, console: Console) -> None:
    console.print(f"[bold]Session {summary['session_id']}[/bold]: {summary['events']} events, "
                  f"{summary['reconnects']} reconnects, {summary['malformed']} bad packets")
    for name, adv in summary["exercises"].items():
        console.print(f"  {name}: {adv['reps']} reps ({adv['reps_ok']} ok), "
                      f"{adv['abrupt']} abrupt; weight: {adv['weight']}, tempo: {adv['tempo']}, "
                      f"depth: {adv['depth']}")
        for line in adv["advice"]:
            console.print(f"    {line}")
    if summary.get("raw_csv"):
        console.print(f"  raw IMU stream: {summary['raw_csv']}")


async def _with_keys(session: Session, runner=None) -> dict:
    """Run the session (or `runner`, a coroutine running it), feeding single key presses from a
    terminal (cbreak mode)."""
    import termios
    import tty

    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    loop = asyncio.get_running_loop()
    tty.setcbreak(fd)
    loop.add_reader(fd, lambda: session.handle_key(os.read(fd, 1).decode(errors="ignore")))
    try:
        return await (runner if runner is not None else session.run())
    finally:
        loop.remove_reader(fd)
        termios.tcsetattr(fd, termios.TCSADRAIN, old)


def run_session(args, backend: ble.Backend | None = None, console: Console | None = None) -> int:
    console = console or Console()
    interactive = sys.stdin.isatty()
    asyncio.run(session_main(args, backend, console, interactive))
    return 0


async def session_main(args, backend: ble.Backend | None, console: Console,
                       interactive: bool = False) -> dict:
    """`smartbell session` once its arguments are parsed: screening, plan, the session, the
    summary. Async so a caller can run it beside other tasks on its loop (tests, the demo)."""
    from smartbell.journal import Journal
    from smartbell.plan import load_plan

    plan = load_plan(args.plan) if args.plan else None
    if plan is None and not args.exercise:
        raise SessionError("give --exercise NAME or --plan FILE")
    patient = args.patient or (plan.patient if plan else "me")
    screening.screen(patient, _ask_terminal(console) if interactive else None, say=console.print)
    steps = steps_from(args.exercise, plan)
    with Journal.open() as journal:
        session = Session(steps, journal=journal, patient=patient, weight_kg=args.weight_kg,
                          device=args.device, backend=backend,
                          view=LiveView(console) if console.is_terminal else LineView(console),
                          raw_csv=args.raw, auto=not args.manual,
                          plan_dict=plan.to_dict() if plan else None)
        summary = await (_with_keys(session) if interactive else session.run())
        print_summary(summary, console)
        console.print(f"journal: {journal.path}")
    return summary
