"""The motion detector (sbcore.motion): same results under MicroPython and CPython, no allocation
per sample, and the behaviour the product promises, checked against the simulator's ground truth.

Traces are regenerated deterministically from seeds (the simulator is seeded), then turned into
the int16 samples and device ticks the firmware would see (`smartbell.analyze.to_raw`).
"""
import importlib.util
import math
import random

import numpy as np
import pytest

from sbcore.compat import TICKS_PERIOD, ticks_diff
from sbcore.motion import EV_ABRUPT, EV_HOLD, EV_REP, PARAMS, Detector
from smartbell.analyze import ACCEL_LSB_PER_G, GYRO_LSB_PER_DPS, Trace, make_detector, to_raw
from smartbell.simulate import in_phase, simulate
from smartbell.spec import load_spec
from smartbell.vectors import vectors_from_trace, write_vectors

from mpy import ROOT

MATCH_S = 0.3
MASK = TICKS_PERIOD - 1


def _cost_module():
    spec = importlib.util.spec_from_file_location("firmware_cost", ROOT / "tests" / "benchmarks" / "firmware_cost.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


cost = _cost_module()


def raw(trace, tick0_ms=0):
    t_ms, acc, gyr = to_raw(Trace(trace.t_s, trace.accel_g, trace.gyro_dps))
    return (((t_ms + tick0_ms) & MASK).tolist(), acc.tolist(), None if gyr is None else gyr.tolist())


def run(trace, spec="good-morning", *, tick0_ms=0, params=None, det=None, start=0, stop=None):
    """Step a trace through a Detector in-process; events as dicts with times in device ticks."""
    t_ms, acc, gyr = raw(trace, tick0_ms)
    if det is None:
        det = make_detector(load_spec(spec), gyr is not None)
        for name, value in (params or {}).items():
            det.set_param(name, value)
    events = []
    for i in range(start, len(t_ms) if stop is None else stop):
        g = gyr[i] if gyr is not None else (0, 0, 0)
        fl = det.step(t_ms[i], acc[i][0], acc[i][1], acc[i][2], g[0], g[1], g[2])
        if fl & EV_REP:
            events.append({"type": "rep", "i": i, "n": det.rep_count, "start": det.rep_t_start_ms,
                           "far": det.rep_t_far_ms, "ret": det.rep_t_return_ms, "end": det.rep_t_end_ms,
                           "rom_ddeg": det.rep_rom_ddeg, "hold_ms": det.rep_hold_ms,
                           "speed": det.rep_peak_speed_dps, "accel_mg": det.rep_peak_accel_mg})
        if fl & EV_HOLD:
            events.append({"type": "hold", "i": i, "start": det.hold_t_start_ms, "hold_ms": det.hold_ms,
                           "angle_ddeg": det.hold_angle_ddeg})
        if fl & EV_ABRUPT:
            events.append({"type": "abrupt", "i": i, "t": det.abrupt_t_ms, "peak_mg": det.abrupt_peak_mg,
                           "jerk": det.abrupt_jerk_gps})
    return det, events


def reps_of(events):
    return [e for e in events if e["type"] == "rep"]


# -- parity: MicroPython (56wK heap, .mpy) and CPython give identical streams ---------------------

PARITY = {
    # name: (exercise, reps, seed, rate, messy, gyro, spec, tick0[, simulate() options])
    "gm-clean-200hz": ("good-morning", 3, 11, 200.0, False, True, "good-morning", 0),
    "hyper-messy-accel-only": ("hyperextension", 3, 12, 100.0, True, False, "hyperextension", 0),
    "gm-generic-tick-wrap": ("good-morning", 3, 13, 50.0, True, True, "generic", TICKS_PERIOD - 9000),
    # The first rep begun during the pick-up, found from its far end: the attitude history is
    # searched back across the tick wrap (20 s in).
    "gm-flowing-start-tick-wrap": ("good-morning", 3, 36, 100.0, True, True, "good-morning",
                                   TICKS_PERIOD - 20000, {"lead_in": "flowing"}),
}


@pytest.fixture(scope="module")
def vectors(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("motion-vectors")
    out = {}
    for name, (ex, reps, seed, rate, messy, gyro, spec, tick0, *options) in PARITY.items():
        tr = simulate(ex, reps, seed=seed, rate_hz=rate, messy=messy, gyro=gyro, **(options[0] if options else {}))
        out[name] = (tr, spec, tick0, vectors_from_trace(tmp / f"{name}.bin", tr, spec, tick0_ms=tick0))
    return out


@pytest.mark.parametrize("name", list(PARITY))
def test_micropython_and_cpython_give_identical_event_streams(vectors, name):
    tr, spec, tick0, path = vectors[name]
    mpy = cost.run_runner(path, "events", interpreter="micropython").splitlines()
    cpy = cost.run_runner(path, "events", interpreter="cpython").splitlines()
    assert mpy == cpy
    # Not vacuous: the whole trace went through, and the stream agrees with an in-process run.
    assert mpy[-1].startswith(f"end {len(tr.t_s)} samples, ")
    _, events = run(tr, spec, tick0_ms=tick0)
    assert len([ln for ln in mpy if " rep " in ln]) == len(reps_of(events)) > 0
    assert len([ln for ln in mpy if " abrupt " in ln]) == len([e for e in events if e["type"] == "abrupt"])


@pytest.mark.parametrize("has_gyro", [True, False], ids=["gyro", "accel"])
def test_garbage_input_same_under_both_interpreters_and_no_exception(tmp_path, has_gyro):
    # Saturated, zero and random int16 values, repeated ticks, gaps and a tick wrap: nothing
    # raises, and both interpreters still agree sample for sample.
    rnd = random.Random(5)
    t, t_ms, acc, gyr = TICKS_PERIOD - 3000, [], [], []
    for _ in range(4000):
        t = (t + rnd.choice((0, 1, 5, 5, 5, 5, 250, 4000))) & MASK
        t_ms.append(t)
        acc.append([rnd.choice((-32768, 32767, 0, rnd.randint(-32768, 32767), 4096)) for _ in range(3)])
        gyr.append([rnd.choice((-32768, 32767, 0, rnd.randint(-300, 300))) for _ in range(3)])
    path = write_vectors(tmp_path / "fuzz.bin", t_ms, acc, gyr if has_gyro else None,
                              accel_lsb_per_g=ACCEL_LSB_PER_G, gyro_mdps_per_lsb=1000 / GYRO_LSB_PER_DPS)
    mpy = cost.run_runner(path, "events", interpreter="micropython")
    assert mpy == cost.run_runner(path, "events", interpreter="cpython")
    assert mpy.splitlines()[-1].startswith("end 4000 samples")


def test_parity_vectors_cover_every_event_kind(vectors):
    kinds = set()
    for tr, spec, tick0, _ in vectors.values():
        kinds |= {e["type"] for e in run(tr, spec, tick0_ms=tick0)[1]}
    assert kinds == {"rep", "hold", "abrupt"}


@pytest.mark.parametrize("name", ["hyper-messy-accel-only", "gm-generic-tick-wrap", "gm-flowing-start-tick-wrap"])
def test_step_allocates_nothing_with_the_heap_locked(vectors, name):
    tr, spec, tick0, path = vectors[name]
    out = cost.run_runner(path, "lock", interpreter="micropython").strip()
    assert "MemoryError" not in out
    _, events = run(tr, spec, tick0_ms=tick0)
    assert out == f"locked {len(tr.t_s)} samples, {len(reps_of(events))} reps, 0 bytes"


def test_heap_lock_runner_detects_an_allocation(tmp_path):
    # The lock test must be able to fail: a detector subclass that allocates in step().
    tr = simulate("good-morning", 1, seed=3, rate_hz=50.0)
    path = vectors_from_trace(tmp_path / "v.bin", tr, "good-morning")
    script = cost.runner_path(tmp_path)
    script.write_text(script.read_text().replace(
        "from sbdev.bench import",
        "from sbcore.motion import Detector as _D\n"
        "class Detector(_D):\n"
        "    def step(self, *a):\n"
        "        self.last = list(a)\n"
        "        return _D.step(self, *a)\n"
        "import sbdev.bench\n"
        "sbdev.bench.Detector = Detector\n"
        "from sbdev.bench import"))
    from fakes.mpybuild import build_mpy
    from mpy import run_micropython
    out = run_micropython(script=script, args=(path, "lock"), extra_path=(build_mpy(),)).stdout.decode()
    assert out.startswith("MemoryError in block at sample 0")


# -- behaviour against the simulator's truth ------------------------------------------------------

def _case(ex, messy, gyro, seed, xfail=None):
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    return pytest.param(ex, messy, gyro, seed, marks=marks,
                        id=f"{ex}-{'messy' if messy else 'clean'}-{'gyro' if gyro else 'accel'}-{seed}")


COUNT_CASES = [
    _case("good-morning", False, True, 1), _case("good-morning", False, True, 2),
    _case("good-morning", True, True, 1),
    _case("good-morning", True, True, 2),     # lies on the floor near the first rep's far end
    _case("good-morning", False, False, 1), _case("good-morning", False, False, 2),
    _case("good-morning", True, False, 1), _case("good-morning", True, False, 2),
    _case("hyperextension", False, True, 1), _case("hyperextension", True, True, 1),
    _case("hyperextension", True, True, 2), _case("hyperextension", False, False, 1),
    _case("hyperextension", True, False, 1),
    _case("hyperextension", True, False, 2),
]

_SIM = {}


def sim(ex, messy, gyro, seed, reps=5):
    key = (ex, messy, gyro, seed, reps)
    if key not in _SIM:
        tr = simulate(ex, reps, seed=seed, messy=messy, gyro=gyro)
        _SIM[key] = (tr, run(tr, ex)[1])
    return _SIM[key]


def match_reps(trace, events):
    """Pairs (truth, detected) where the detected rep's span covers the true rep's far end."""
    det = [(r["start"] / 1000, r["end"] / 1000, r) for r in reps_of(events)]
    pairs = []
    for truth in trace.truth["reps"]:
        mid = (truth["far_s"] + truth["return_s"]) / 2
        hits = [r for s, e, r in det if s <= mid <= e]
        pairs.append((truth, hits))
    return pairs


@pytest.mark.parametrize("ex,messy,gyro,seed", COUNT_CASES)
def test_reps_counted_one_to_one_with_the_truth(ex, messy, gyro, seed):
    tr, events = sim(ex, messy, gyro, seed)
    reps = reps_of(events)
    assert len(reps) == tr.truth["rep_count"] == 5
    # One detected rep per true rep, in time: partial dips, pauses, pick-up and set-down (all
    # present in every messy trace) produced none of their own.
    assert all(len(hits) == 1 for _, hits in match_reps(tr, events))
    assert [r["n"] for r in reps] == [1, 2, 3, 4, 5]


def test_messy_traces_contain_the_distractors():
    tr, _ = sim("good-morning", True, True, 1)
    t = tr.truth
    assert t["pickup"] and t["setdown"] and t["partial_dips"] and t["pauses"]


@pytest.mark.parametrize("ex", ["good-morning", "hyperextension"])
def test_pick_up_and_set_down_alone_are_not_reps(ex):
    tr = simulate(ex, 0, seed=4, messy=True)
    assert tr.truth["pickup"] and tr.truth["setdown"]
    assert reps_of(run(tr, ex)[1]) == []


def _one_to_one(tr, events):
    reps = reps_of(events)
    return (len(reps) == tr.truth["rep_count"] and all(len(h) == 1 for _, h in match_reps(tr, events))
            and [r["n"] for r in reps] == list(range(1, len(reps) + 1)))


@pytest.mark.parametrize("ex", ["good-morning", "hyperextension"])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel"])
def test_floor_orientation_near_the_far_end_is_not_a_rep(ex, gyro):
    # The dumbbell lies on the floor as it would be held at the first rep's far end: by the angle
    # alone the pick-up is the out half of a rep. Its vertical travel (~0.8 m, a rep's < 0.5 m)
    # says it was carried. Before that rule, 16 of these 24 traces were miscounted.
    for seed in range(6):
        tr = simulate(ex, 4, seed=seed, messy=True, gyro=gyro, floor_near_far=True)
        assert _one_to_one(tr, run(tr, ex)[1]), seed


@pytest.mark.parametrize("ex", ["good-morning", "hyperextension"])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel"])
def test_a_stop_part_of_the_way_is_not_a_new_start_position(ex, gyro):
    # A cautious patient stops for a moment half-way out (or back). The place held still while
    # out is a candidate new start position (the second track); taken as one, every later rep
    # was counted twice, from there to the start and back (22 % of such sets counted exactly).
    # It is one now only if the dumbbell stops or turns round when it comes back there.
    traces = (simulate(ex, 6, seed=seed, messy=seed % 2 == 1, gyro=gyro, hesitations=True)
              for seed in range(20))
    out = [tr for tr in traces if any(h["way"] == 0 for h in tr.truth["hesitations"])][:4]
    assert len(out) == 4
    for tr in out:
        seed = tr.truth["seed"]
        _, events = run(tr, ex)
        assert _one_to_one(tr, events), seed
        if gyro:
            for truth, hits in match_reps(tr, events):
                assert abs(hits[0]["hold_ms"] / 1000 - truth["hold_s"]) <= 0.3, (seed, truth)


@pytest.mark.parametrize("ex", ["good-morning", "hyperextension"])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel"])
def test_a_tiring_patient_s_shrinking_reps_are_all_counted(ex, gyro):
    # The range falls to 55 % over the set: the partial-dip threshold follows the smaller of the
    # last two reps (40 %), so the last reps still count, and the range reported follows them.
    for seed in range(3):
        tr = simulate(ex, 10, seed=seed, messy=seed == 2, gyro=gyro, fatigue=True)
        _, events = run(tr, ex)
        assert _one_to_one(tr, events), seed
        found = [hits[0]["rom_ddeg"] / 10 for _, hits in match_reps(tr, events)]
        true = [r["rom_deg"] for r in tr.truth["reps"]]
        assert found[-1] < 0.75 * found[0] and abs(found[-1] - true[-1]) < 4.0, (found, true)


@pytest.mark.parametrize("ex", ["good-morning", "hyperextension"])
def test_re_settling_the_dumbbell_between_reps_keeps_the_count(ex):
    # Between reps the dumbbell is turned 10-35 deg in the arms and the next rep starts from
    # there, often at once. Before, the old start position was kept: reps were lost or split
    # (good-morning seed 1: 3 of 8 counted). Now a pause or turning point while out is a
    # candidate start (the second track), and a stop off the plane the reps move in after a
    # movement smaller than a rep is the new start position.
    traces = (simulate(ex, 8, seed=seed, gyro=True, regrips=True) for seed in range(12))
    traces = [tr for tr in traces if tr.truth["regrips"]][:6]
    assert len(traces) == 6
    for tr in traces:
        assert _one_to_one(tr, run(tr, ex)[1]), tr.truth["seed"]


@pytest.mark.parametrize("ex,seed,messy,reps", [("good-morning", 7015, False, 5),
                                                ("good-morning", 7019, True, 11),
                                                ("hyperextension", 7016, True, 9),
                                                ("hyperextension", 7019, False, 11)])
def test_a_re_grip_along_the_reps_path_does_not_split_the_reps(ex, seed, messy, reps):
    # A turn in the hands mostly about the reps' own axis moves the start along their path: the
    # next rep then passes the old start position on its way out, without slowing down. That
    # pass used to end a rep (the angle turned round) and drop the candidate start, and every
    # later rep was counted in two halves (good-morning seed 4012: 18 for 12). With a gyro, a
    # turn of the angle without a slowing of the movement is not a rep's end.
    tr = simulate(ex, reps, seed=seed, messy=messy, gyro=True, regrips=True)
    assert tr.truth["regrips"]
    assert _one_to_one(tr, run(tr, ex)[1])


@pytest.mark.parametrize("ex,seed,reps,lead_in,gyro", [("good-morning", 6013, 11, "flowing", True),
                                                       ("hyperextension", 6009, 12, "flowing", True),
                                                       ("good-morning", 5004, 8, "quick", False),
                                                       ("good-morning", 80003, 12, "flowing", True),
                                                       ("hyperextension", 80011, 5, "flowing", True)])
def test_a_rep_begun_during_the_pick_up_is_counted_from_its_start(ex, seed, reps, lead_in, gyro):
    # The first rep begins before the lift has ended: the pick-up is never judged (no rest after
    # it) and the first place held still is that rep's far end. The second track took it for a
    # start and, when the next rep came back to it, made it the start: every later rep was then
    # measured from far end to far end (0 of 10 and 0 of 11 reps in phase in the first two). The
    # spec says which way the far end lies (far_vertical: below the start for Good Mornings,
    # above for hyperextensions); the vertical travel from that place to the next rest says the
    # dumbbell went towards the start, so the start is there. That first rep was then lost (one
    # short in every set here): it is now reported from where the dumbbell was last nearest the
    # start before its far end (the attitude history), and the next rep from the rest it left.
    # The last two rest more than rep_max_ms after the first rep, so no rep comes back to the far
    # end to confirm it: the dumbbell resting at the start settles it. (Without a gyro the stop
    # at the chest after a pick-up is not seen either: the same case.)
    tr = simulate(ex, reps, seed=seed, messy=True, gyro=gyro, lead_in=lead_in)
    found = reps_of(run(tr, ex)[1])
    phased = [in_phase(r["start"] / 1000, r["end"] / 1000, tr.truth["reps"]) for r in found]
    assert len(found) == reps and all(phased), phased
    first, true_first = found[0], tr.truth["reps"][0]
    assert abs(first["hold_ms"] / 1000 - true_first["hold_s"]) < 0.3
    assert abs(first["rom_ddeg"] / 10 - true_first["rom_deg"]) < 5


def test_the_flowing_start_parity_vector_recovers_its_first_rep_from_the_far_end(monkeypatch):
    # (So that the parity and heap-lock tests above run the attitude-history search.)
    ex, reps, seed, rate, messy, gyro, spec, tick0, options = PARITY["gm-flowing-start-tick-wrap"]
    seen = []
    far_rep = Detector._far_rep
    monkeypatch.setattr(Detector, "_far_rep", lambda self, *args: seen.append(far_rep(self, *args)) or seen[-1])
    tr = simulate(ex, reps, seed=seed, rate_hz=rate, messy=messy, gyro=gyro, **options)
    found = reps_of(run(tr, spec, tick0_ms=tick0)[1])
    assert seen and seen[0] & EV_REP
    start, end = (ticks_diff(found[0][k], tick0) / 1000 for k in ("start", "end"))
    assert len(found) == reps and in_phase(start, end, tr.truth["reps"])


def test_a_rep_dropped_with_a_pick_up_judged_at_its_far_end_is_reported():
    # A hyperextension's far end is above the start: the lift and the first rep's way out add
    # up to a carry, judged at that rep's far end, which dropped the rep and took the far end for
    # the start. The next rest, reached towards the start, says it was a far end: the start is
    # there, and the dropped rep is reported from its far end (the attitude history gives its
    # start). Before: 3 reps found, the first two out of phase (one of them counted twice).
    tr = simulate("hyperextension", 3, seed=26, rate_hz=100.0, messy=True, gyro=True, lead_in="flowing")
    found = reps_of(run(tr, "hyperextension")[1])
    assert [in_phase(r["start"] / 1000, r["end"] / 1000, tr.truth["reps"]) for r in found] == [True] * 3
    assert abs(found[0]["hold_ms"] / 1000 - tr.truth["reps"][0]["hold_s"]) < 0.3


def test_a_far_end_taken_for_the_start_is_left_at_the_next_rest():
    # The first rep begun during the pick-up, merged with it, ended at an attitude like the
    # floor's, where the pick-up started (the dumbbell lay on the floor as it is held at the far
    # end): the start position stayed at the far end and every rep was measured from far end to
    # far end (0 of 11 in phase). At the next rest, the vertical travel from the rest where that
    # rep ended says the dumbbell went towards the start (far_vertical, by more than the
    # estimate's error over that stretch): the start is there.
    tr = simulate("good-morning", 11, seed=60014, messy=True, gyro=True, lead_in="flowing")
    found = reps_of(run(tr, "good-morning")[1])
    phased = [in_phase(r["start"] / 1000, r["end"] / 1000, tr.truth["reps"]) for r in found]
    assert len(found) == 11 and all(phased[1:]), phased


@pytest.mark.parametrize("ex,seed,messy,reps", [("good-morning", 4013, False, 7),
                                                ("good-morning", 94027, True, 9)])
def test_a_re_grip_is_not_a_partial_dip_when_the_next_rep_passes_the_old_start(ex, seed, messy, reps):
    # The re-grip moves the start back along the reps' path (good-morning 4013: 18 deg): a
    # movement smaller than a rep, stopping there (a candidate start). The next rep then passes
    # the old start position on its way out, and that counted as the end of a partial dip: back
    # home, the candidate dropped, the rest of the set measured from the old start (6 of 7 here,
    # 3 in phase). With a gyro, a partial dip ends at home only if the movement slows down there.
    tr = simulate(ex, reps, seed=seed, messy=messy, gyro=True, regrips=True)
    assert tr.truth["regrips"]
    assert _one_to_one(tr, run(tr, ex)[1])


def test_a_candidate_start_never_returned_to_does_not_block_the_count():
    # The second track (a place held still while out: a candidate start) waits for the dumbbell
    # to come back to it. After a re-grip the dumbbell never did, and while it waited the main
    # track's "out too long" rule was blocked: no rep was counted for the rest of the set
    # (hyperextension seed 7026: 5 of 10, none of the 6 after the third re-grip; good-morning
    # seed 7004: 10 of 12). Away longer than rep_max_ms, the candidate is dropped, and counting
    # resumes once the main track's rule has found the new start.
    tr = simulate("good-morning", 12, seed=7004, messy=True, gyro=True, regrips=True)
    assert _one_to_one(tr, run(tr, "good-morning")[1])
    tr = simulate("hyperextension", 10, seed=7026, messy=False, gyro=True, regrips=True)
    last = tr.truth["regrips"][-1]["end_s"]
    after = [hits for truth, hits in match_reps(tr, run(tr, "hyperextension")[1]) if truth["start_s"] > last]
    # (The rule needs rep_max_ms to pass: the first two reps after the re-grip are still lost.)
    assert len(after) == 5 and all(len(h) == 1 for h in after[2:])


@pytest.mark.parametrize("ex", ["good-morning", "hyperextension"])
def test_a_rep_held_longer_than_the_spec_allows_is_counted_and_flagged(ex):
    # The spec's hold_max_s (10 s, 8 s) plus normal movement made reps of 13-16 s; with the
    # detector's default rep_max_ms (12 s) the dumbbell, still at the far end past 12 s, was taken
    # for a new start position and a rep was lost: the most diligent patient's, without a word.
    from smartbell.analyze import analyze
    hold = load_spec(ex).limits["hold_max_s"] + 0.5
    tr = simulate(ex, 5, seed=2, hold_s=hold)
    assert max(r["duration_s"] for r in tr.truth["reps"]) > 12.0
    assert _one_to_one(tr, run(tr, ex)[1])
    res = analyze(Trace(tr.t_s, tr.accel_g, tr.gyro_dps), ex)
    assert list(res.reps["check_hold"]) == ["hold too long"] * 5


@pytest.mark.parametrize("ex", ["good-morning", "hyperextension"])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel"])
@pytest.mark.parametrize("messy", [True, False], ids=["messy", "clean"])
def test_a_long_hold_at_the_far_end_is_still_a_rep(ex, gyro, messy):
    # A rest while out is not a new posture by itself: 8 s held at the far end (fast reps, so
    # the rep stays under rep_max_ms), after a pick-up from a floor that looks like that far end.
    tr = simulate(ex, 3, seed=1, messy=messy, gyro=gyro, hold_s=8.0, fast_reps=3,
                  floor_near_far=messy)
    _, events = run(tr, ex)
    assert _one_to_one(tr, events)
    # The hold is inside the rep counted. (Not compared with the truth: on the clean trace the
    # detector finds 5.6 s of the first rep's 8.1 s with a gyro and ~7.5 s without, as it did
    # before the carry rule; on the messy ones an injected knock can split the hold.)
    assert all(h[0]["hold_ms"] >= 4000 for t, h in match_reps(tr, events))


def test_carry_min_mm_is_what_tells_a_pick_up_from_a_rep():
    tr = simulate("good-morning", 4, seed=0, messy=True, gyro=True, floor_near_far=True)
    assert _one_to_one(tr, run(tr)[1])
    # Above the pick-up's ~0.8 m of travel the pick-up is taken for the out half of a rep again.
    assert not _one_to_one(tr, run(tr, params={"carry_min_mm": 2000})[1])


@pytest.mark.parametrize("ex,messy,gyro,seed", [c for c in COUNT_CASES if c.values[2] and not c.marks])
def test_hold_within_0_3_s_of_the_truth(ex, messy, gyro, seed):
    tr, events = sim(ex, messy, gyro, seed)
    for truth, hits in match_reps(tr, events):
        assert abs(hits[0]["hold_ms"] / 1000 - truth["hold_s"]) <= 0.3, truth


def test_accel_only_holds_are_not_cut_short_by_sensor_noise_or_lag():
    # Without a gyro the speed estimate carries a few deg/s of noise, and lags the movement most
    # when it decays from a fast approach. Uncompensated, the noise cut holds short by 0.33 s on
    # average on these traces; with its power taken off, the lag still cut them by 0.24 s; with
    # the hold's start moved back to where the angle stopped changing, about 0.1 s.
    errors = []
    for ex in ("good-morning", "hyperextension"):
        for seed in (1, 2):
            tr, events = sim(ex, False, False, seed)
            errors += [hits[0]["hold_ms"] / 1000 - truth["hold_s"]
                       for truth, hits in match_reps(tr, events) if hits]
    assert len(errors) == 20
    assert abs(sum(errors) / len(errors)) < 0.15, errors


@pytest.mark.xfail(strict=True, reason="accel-only holds: the speed estimate's lag and noise still move "
                   "the ends of some holds by more than 0.3 s (e.g. good-morning seed 1: "
                   "true 2.96 s, found 2.53 s; hyperextension seed 1: true 2.82 s, found 2.48 s)")
@pytest.mark.parametrize("ex", ["good-morning", "hyperextension"])
def test_accel_only_hold_within_0_3_s_of_the_truth(ex):
    tr, events = sim(ex, False, False, 1)
    errors = [hits[0]["hold_ms"] / 1000 - truth["hold_s"] for truth, hits in match_reps(tr, events)]
    assert max(abs(e) for e in errors) <= 0.3, errors


@pytest.mark.parametrize("ex,messy,gyro,seed", [
    _case("good-morning", False, True, 1), _case("good-morning", True, True, 1),
    _case("hyperextension", True, True, 1), _case("hyperextension", True, True, 2),
    _case("hyperextension", False, False, 1), _case("hyperextension", True, False, 2),
    _case("good-morning", False, False, 1),
    _case("hyperextension", True, False, 1),
])
def test_abrupt_events_found_at_the_injected_times(ex, messy, gyro, seed):
    tr, events = sim(ex, messy, gyro, seed)
    t_true = [a["t_s"] for a in tr.truth["abrupt"]]
    t_det = [e["t"] / 1000 for e in events if e["type"] == "abrupt"]
    assert t_true, "the case must inject something"
    assert all(any(abs(t - d) <= MATCH_S for d in t_det) for t in t_true), (t_true, t_det)   # recall
    assert all(any(abs(t - d) <= MATCH_S for t in t_true) for d in t_det), (t_true, t_det)   # precision


def test_hold_events_report_the_far_end_hold():
    tr, events = sim("good-morning", False, True, 1)
    holds = [e for e in events if e["type"] == "hold"]
    long_holds = [r for r in tr.truth["reps"] if r["hold_s"] >= 0.5]
    assert len(holds) >= len(long_holds) > 0
    for truth in long_holds:
        assert any(abs(h["start"] / 1000 - truth["far_s"]) <= MATCH_S + 0.2 and
                   abs(h["hold_ms"] / 1000 - truth["hold_s"]) <= 0.3 for h in holds), truth


# -- parameters ----------------------------------------------------------------------------------

def test_params_table_is_consistent():
    ids = [p[0] for p in PARAMS]
    names = [p[1] for p in PARAMS]
    assert len(set(ids)) == len(ids) and len(set(names)) == len(names)
    for pid, name, default, lo, hi in PARAMS:
        assert isinstance(pid, int) and 0 < pid < 256, name
        assert lo <= default <= hi, name
        assert Detector().get_param(name) == default


def test_set_param_rejects_unknown_names_and_bad_values():
    det = Detector()
    with pytest.raises(ValueError, match="no_such_param"):
        det.set_param("no_such_param", 1)
    for pid, name, default, lo, hi in PARAMS:
        for bad in (lo - 1, hi + 1):
            with pytest.raises(ValueError, match=rf"{name}.*{bad}"):
                det.set_param(name, bad)
        with pytest.raises(ValueError, match=name):
            det.set_param(name, default + 0.5)
        assert det.get_param(name) == default
        det.set_param(name, hi)
        assert det.get_param(name) == hi
    with pytest.raises(ValueError, match="no_such_param"):
        det.get_param("no_such_param")


def test_set_param_id_returns_false_instead_of_raising():
    det = Detector()
    assert det.set_param_id(max(p[0] for p in PARAMS) + 1, 1) is False
    assert det.set_param_id(0, 1) is False
    pid, name, default, lo, hi = PARAMS[0]
    assert det.set_param_id(pid, hi + 1) is False and det.get_param(name) == default
    assert det.set_param_id(pid, lo - 1) is False and det.get_param(name) == default
    assert det.set_param_id(pid, lo) is True and det.get_param(name) == lo


def test_detector_rejects_impossible_scales():
    for kwargs in ({"accel_lsb_per_g": 0}, {"accel_lsb_per_g": 100000}, {"gyro_mdps_per_lsb": 0},
                   {"gyro_mdps_per_lsb": -1}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            Detector(**kwargs)


def test_spec_detector_values_are_applied():
    for name in ("good-morning", "hyperextension", "generic"):
        spec = load_spec(name)
        det = make_detector(spec, True)
        assert spec.detector_params(), name
        for key, value in spec.detector_params().items():
            assert det.get_param(key) == value, (name, key)


def test_params_change_behaviour():
    tr, events = sim("good-morning", False, True, 1)
    assert len(reps_of(events)) == 5
    deepest = max(r["rom_deg"] for r in tr.truth["reps"])
    # A minimum range above every rep's range: nothing is a rep any more.
    assert reps_of(run(tr, params={"rep_min_rom_deg": math.ceil(deepest) + 10})[1]) == []
    # A very high abrupt limit: the injected pulses are no longer abrupt.
    quiet = run(tr, params={"abrupt_accel_mg": 16000, "abrupt_jerk_gps": 2000})[1]
    assert [e for e in quiet if e["type"] == "abrupt"] == []


# -- device ticks, sample rate, sets -------------------------------------------------------------

def _rel(events, tick0):
    keys = ("start", "far", "ret", "end", "t")
    return [{k: ((v - tick0) & MASK if k in keys else v) for k, v in e.items()} for e in events]


def test_tick_wrap_gives_the_same_events():
    tr, events = sim("good-morning", False, True, 1)
    first = tr.truth["reps"][0]
    # Wrap in the middle of the first rep's hold, so start, far end and return straddle it.
    tick0 = TICKS_PERIOD - round((first["far_s"] + first["hold_s"] / 2) * 1000)
    _, wrapped = run(tr, tick0_ms=tick0)
    assert _rel(wrapped, tick0) == events


def test_every_reported_tick_is_a_valid_device_tick():
    tr, _ = sim("good-morning", False, True, 1)
    first = tr.truth["reps"][0]
    tick0 = TICKS_PERIOD - round((first["far_s"] + first["hold_s"] / 2) * 1000)
    _, wrapped = run(tr, tick0_ms=tick0)
    ticks = [e[k] for e in wrapped for k in ("start", "far", "ret", "end", "t") if k in e]
    assert ticks and all(0 <= t < TICKS_PERIOD for t in ticks)


def test_rep_timing_fields_are_ordered():
    tr, events = sim("hyperextension", True, True, 1)
    for r in reps_of(events):
        d = [ticks_diff(r["far"], r["start"]), ticks_diff(r["ret"], r["far"]), ticks_diff(r["end"], r["ret"])]
        assert all(x >= 0 for x in d), r
        assert r["hold_ms"] == ticks_diff(r["ret"], r["far"])
        assert 800 <= ticks_diff(r["end"], r["start"]) <= 12000


@pytest.mark.parametrize("ex", ["good-morning", "hyperextension"])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel"])
def test_sample_rate_does_not_change_the_count(ex, gyro):
    # The same movement (same seed, the rate given) sampled at every rate of the input contract.
    counts = {}
    for rate in (12.5, 25.0, 50.0, 100.0, 200.0, 400.0):
        tr = simulate(ex, 4, seed=21, rate_hz=rate, gyro=gyro)
        counts[rate] = len(reps_of(run(tr, ex)[1]))
    assert set(counts.values()) == {tr.truth["rep_count"]}, counts


class _Cut:
    def __init__(self, tr, t0, t1):
        keep = ~((tr.t_s > t0) & (tr.t_s < t1))
        self.t_s, self.accel_g = tr.t_s[keep], tr.accel_g[keep]
        self.gyro_dps = None if tr.gyro_dps is None else tr.gyro_dps[keep]
        self.truth = tr.truth


@pytest.mark.parametrize("where", ["rest", "hold"])
def test_a_sample_dropout_changes_neither_count_nor_hold(where):
    tr, events = sim("good-morning", False, True, 1)
    r2, r3 = tr.truth["reps"][1], tr.truth["reps"][2]
    t0 = r2["end_s"] + 0.1 if where == "rest" else r3["far_s"] + 0.5
    cut = _Cut(tr, t0, t0 + 0.5)
    reps = reps_of(run(cut)[1])
    assert len(reps) == 5
    assert all(abs(a["hold_ms"] - b["hold_ms"]) <= 60 for a, b in zip(reps, reps_of(events)))


def test_reset_reps_starts_numbering_again_and_keeps_what_was_learnt():
    tr, events = sim("good-morning", False, True, 1)
    reps = reps_of(events)
    cut = (reps[1]["i"] + reps[2]["i"]) // 2           # between rep 2 and rep 3
    det, before = run(tr, stop=cut)
    assert det.rep_count == 2
    det.reset_reps()
    assert det.rep_count == 0 and det.abrupt_count == 0
    _, after = run(tr, det=det, start=cut)
    # No new warm-up: the rest of the set is counted from 1, with the same measurements.
    assert [r["n"] for r in reps_of(after)] == [1, 2, 3]
    strip = [{k: v for k, v in r.items() if k != "n"} for r in reps]
    assert [{k: v for k, v in r.items() if k != "n"} for r in reps_of(before + after)] == strip


def test_live_phase_follows_each_rep_and_calibration_is_reported_once():
    from sbcore.motion import (EV_ANCHOR, EV_CALIBRATED, PHASE_HOLD, PHASE_OUT, PHASE_REST,
                               PHASE_RETURN, PHASE_SEARCH)

    tr, _ = sim("good-morning", False, True, 1)
    t_ms, acc, gyr = raw(tr)
    det = make_detector(load_spec("good-morning"), True)
    phases, calibrated, anchors, angles = [det.phase], [], [], []
    for i in range(len(t_ms)):
        fl = det.step(t_ms[i], *acc[i], *gyr[i])
        calibrated += [i] if fl & EV_CALIBRATED else []
        anchors += [i] if fl & EV_ANCHOR else []
        angles.append(det.angle_ddeg)
        if det.phase != phases[-1]:
            phases.append(det.phase)
    assert phases[0] == PHASE_SEARCH and len(calibrated) == 1 and anchors and det.calibrated
    assert 0 <= min(angles) and max(angles) <= 1800
    # Between two rests: out, then held at the far end (every rep of this trace holds >= 2.5 s),
    # then the return; never back to searching once the start position is known.
    cycles, cur = [], []
    for p in phases[1:]:
        assert p != PHASE_SEARCH
        if p == PHASE_REST:
            if cur:
                cycles.append(cur)
            cur = []
        else:
            cur.append(p)
    assert len(cycles) == 5
    for c in cycles:
        assert c[0] == PHASE_OUT and PHASE_HOLD in c and c[-1] == PHASE_RETURN, c
        assert c.index(PHASE_HOLD) < len(c) - 1


def test_reset_keeps_parameters_and_calibration_recalibrate_forgets_it():
    tr, events = sim("good-morning", False, True, 1)
    det, _ = run(tr, params={"hold_band_deg": 6})
    assert det.calibrated
    det.reset()
    assert det.calibrated and det.get_param("hold_band_deg") == 6
    _, again = run(tr, det=det)
    assert len(reps_of(again)) == len(reps_of(events))
    det.recalibrate()
    assert not det.calibrated and det.get_param("hold_band_deg") == 6
    _, third = run(tr, det=det)
    assert len(reps_of(third)) == len(reps_of(events)) and det.calibrated


def _wrist(seconds_still, tremor_g, reps, rep_g, rate=50.0, seed=0):
    # An accelerometer-only wrist-like trace: still with a 1.2 Hz tremor, then `reps` 2-second
    # swings out by rep_g and back along one tilted axis, then still again.
    rng = np.random.default_rng(seed)
    t = np.arange(0, seconds_still + 2.0 * reps + 3.0, 1 / rate)
    u = np.array([0.6, 0.3, 0.74]) / np.linalg.norm([0.6, 0.3, 0.74])
    x = tremor_g * np.sin(2 * np.pi * 1.2 * t)
    moving = (t >= seconds_still) & (t < seconds_still + 2.0 * reps)
    x[moving] += rep_g * np.sin(np.pi * (t[moving] - seconds_still) / 2) ** 2
    acc = np.array([0.0, 0.0, 1.0]) + np.outer(x, u) + rng.normal(0, 0.004, (len(t), 3))
    return Trace(t, acc, None)


def test_generic_counts_no_rep_in_tremor_before_the_set():
    # A still start lets the cycle counter's envelope shrink to the tremor; before the swing
    # floor (cycle_min_mg) each tremor cycle longer than rep_min_ms was a rep.
    quiet = _wrist(12.0, 0.012, 0, 0.3)
    assert reps_of(run(quiet, "generic")[1]) == []
    lifted = _wrist(12.0, 0.012, 6, 0.3)
    assert len(reps_of(run(lifted, "generic")[1])) == 6


def _tilts(hold_s, reps=5, rate=50.0, deg=60.0):
    # An accelerometer-only wrist that tilts by `deg` and back (gravity turning in the sensor
    # frame, |a| = 1 g, no noise): still 4 s, a first rep held `hold_s` at the far end, then
    # reps - 1 reps 1 s out and 1 s back with 1 s between them.
    up = np.sin(np.pi / 2 * np.arange(int(rate)) / rate) ** 2
    segs = [np.zeros(int(4 * rate)), up, np.ones(int(hold_s * rate)), up[::-1]]
    for _ in range(reps - 1):
        segs += [np.zeros(int(rate)), up, up[::-1]]
    segs.append(np.zeros(int(3 * rate)))
    th = np.radians(deg) * np.concatenate(segs)
    t = np.arange(len(th)) / rate
    return Trace(t, np.stack([0.8 * np.sin(th), 0.6 * np.sin(th), np.cos(th)], 1), None)


@pytest.mark.parametrize("hold_s", [0.0, 6.0, 10.0])
def test_generic_counts_the_first_rep_whatever_its_hold(hold_s):
    # The rounding of the warm-up used to decide which side is "out" before the set started
    # (then every rep was counted at the next one's start and the last was lost), and a first
    # rep held over ~5 s was dropped: its doubled second half passed rep_max_ms.
    events = run(_tilts(hold_s), "generic")[1]
    reps = [e for e in events if e["type"] == "rep"]
    assert len(reps) == 5
    # Each rep ends with its swing back, not with the next rep's swing out.
    t_back = [4.0 + 1.0 + hold_s + 0.5 + 3.0 * k for k in range(5)]
    assert all(abs(r["end"] / 1000 - tb) < 0.6 for r, tb in zip(reps, t_back)), [r["end"] for r in reps]


def _picked_up_then_tilts(reps=6, deg=20.0, rate=50.0, rest_s=1.5):
    # Accelerometer only: still on the floor 2 s, lifted 0.8 m in 1.2 s while turned 90 deg (the
    # specific force: gravity plus the lift's vertical acceleration, in the turning sensor frame),
    # still `rest_s`, then `reps` tilts by `deg` about another axis, 1 s out, 1 s back, 1 s apart.
    n_lift = int(1.2 * rate)
    s = np.arange(n_lift) / n_lift
    z_acc = 0.4 * (np.pi / 1.2) ** 2 * np.cos(np.pi * s) / 9.81     # g, of z = 0.4 (1 - cos(pi s)) m
    turn = np.radians(90) * (1 - np.cos(np.pi * s)) / 2
    up = np.sin(np.pi / 2 * np.arange(int(rate)) / rate) ** 2
    tilt = [np.zeros(int(rest_s * rate))]
    for _ in range(reps):
        tilt += [up, up[::-1], np.zeros(int(rate))]
    tilt = np.radians(deg) * np.concatenate(tilt)
    f_lift = 1 + z_acc
    acc = [np.tile([0.0, 0.0, 1.0], (int(2 * rate), 1)),
           np.stack([f_lift * np.sin(turn), np.zeros(n_lift), f_lift * np.cos(turn)], 1),
           np.stack([np.cos(tilt), np.sin(tilt), np.zeros(len(tilt))], 1)]
    acc = np.concatenate(acc)
    acc += np.random.default_rng(1).normal(0, 0.004, acc.shape)
    return Trace(np.arange(len(acc)) / rate, acc, None)


@pytest.mark.parametrize("rest_s", [1.5, 2.5])
def test_generic_counts_small_reps_right_after_a_pick_up(rest_s):
    # The pick-up (0.8 m up, turned 90 deg) is no rep, and the cycle counter's averages start again
    # once it is recognised (at the rest after it): before, its mean position and envelope, learnt
    # on a swing of ~1.4 g, took the first reps (0.34 g) for noise for about 8 s.
    # (Recognising it needs a rest: without a gyro the stillness takes ~1.3 s to be sure of.)
    tr = _picked_up_then_tilts(rest_s=rest_s)
    reps = reps_of(run(tr, "generic")[1])
    assert len(reps) == 6, [(r["start"], r["end"]) for r in reps]
    assert all(r["start"] / 1000 >= 2.0 + 1.2 for r in reps), [r["start"] for r in reps]


@pytest.mark.parametrize("signal", [1, 2])
def test_cycle_counters_see_the_same_stream_at_any_rate(signal):
    # Signals 1 and 2 step once per ~20 ms block (every 4th sample at 200 Hz, a sample's cost
    # saved 3 times in 4): the same movement sampled at 200 Hz and at 50 Hz gives the same reps
    # at the same times (within a block), and the peaks are still taken on every sample.
    tr = simulate("good-morning", 6, seed=4, rate_hz=200.0, gyro=True)
    slow = Trace(tr.t_s[::4], tr.accel_g[::4], tr.gyro_dps[::4])
    params = {"signal": signal}
    fast = reps_of(run(tr, "generic", params=params)[1])
    slow = reps_of(run(slow, "generic", params=params)[1])
    assert len(fast) == len(slow) >= 4
    assert all(abs(f["end"] - s["end"]) <= 40 for f, s in zip(fast, slow)), (fast, slow)
    assert all(f["accel_mg"] >= s["accel_mg"] * 0.9 for f, s in zip(fast, slow))


@pytest.mark.parametrize("hold_s", [4.0, 8.0])
def test_accel_only_knock_during_a_hold_does_not_split_it(hold_s):
    # Without a gyro a knock reads as a turn; these traces have one inside a hold (before, the
    # hold was cut to its longer piece: 2.4 of 4.4 s, 4.6 of 8.6 s).
    tr = simulate("hyperextension", 4, seed=2, messy=False, gyro=False, hold_s=hold_s)
    knocked = [r for r in tr.truth["reps"]
               if any(r["far_s"] < a["t_s"] < r["return_s"] for a in tr.truth["abrupt"])]
    assert knocked
    events = run(tr, "hyperextension")[1]
    for truth, hits in match_reps(tr, events):
        assert len(hits) == 1
        assert abs(hits[0]["hold_ms"] / 1000 - truth["hold_s"]) <= 0.6, truth


@pytest.mark.parametrize("ex,seed", [("good-morning", 4), ("good-morning", 13), ("good-morning", 15),
                                     ("good-morning", 21), ("hyperextension", 16)])
def test_accelerometer_offset_does_not_make_a_rep_a_carry(ex, seed):
    # The simulator's accelerometer has a zero-g offset of up to 40 mg an axis, as real parts do.
    # Along gravity it changes as the dumbbell turns, which the vertical-travel estimate must
    # allow for: without that these clean sets lost reps to the pick-up rule (7 of 8, 3 of 8 ...).
    reps = int(np.random.default_rng(10_000 + seed).integers(5, 13))
    tr = simulate(ex, reps, seed=seed, messy=False, gyro=True)
    assert any(abs(o) > 0.01 for o in tr.truth["accel_offset_g"])
    assert len(reps_of(run(tr, ex)[1])) == len(tr.truth["reps"])


def test_accelerometer_offset_is_learnt_at_rests():
    # At each rest the reading's excess over 1 g along gravity is the offset's component there;
    # half of it is taken off per rest. After a set, along the start position's gravity the
    # learnt offset matches the simulated sensor's within 10 mg.
    tr = simulate("good-morning", 6, seed=3, messy=False, gyro=True)
    det = make_detector(load_spec("good-morning"), True)
    run(tr, det=det)
    true = np.array(tr.truth["accel_offset_g"])
    learnt = np.array([det._s.ox, det._s.oy, det._s.oz]) / 16384
    rest = tr.t_s < tr.truth["reps"][0]["start_s"] - 0.2
    g = (tr.accel_g[rest] - true).mean(axis=0)
    g /= np.linalg.norm(g)
    assert abs(true @ g) > 0.02                          # there was something to learn
    assert abs((learnt - true) @ g) < 0.01, (learnt, true)


@pytest.mark.parametrize("ex,seed", [("good-morning", 13), ("hyperextension", 12)])
def test_sets_counted_with_an_offset_at_the_sensors_specified_worst(monkeypatch, ex, seed):
    # 80 mg an axis (an MPU-6050's Z axis at its specified worst): before the offset was learnt
    # these clean sets lost a rep (rests at some orientations were not recognised as rests).
    import smartbell.simulate as sim_module
    monkeypatch.setattr(sim_module, "ACCEL_OFFSET_MAX_G", 0.08)
    reps = int(np.random.default_rng(10_000 + seed).integers(5, 13))
    tr = simulate(ex, reps, seed=seed, messy=False, gyro=True)
    assert max(abs(o) for o in tr.truth["accel_offset_g"]) > 0.04
    assert len(reps_of(run(tr, ex)[1])) == len(tr.truth["reps"])
