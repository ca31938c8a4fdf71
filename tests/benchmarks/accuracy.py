"""Accuracy of the motion detector, on the simulator and on real external recordings.

    python tests/benchmarks/accuracy.py                 # everything (about a minute on 2 cores)
    python tests/benchmarks/accuracy.py --sim 40 --no-external
    python tests/benchmarks/accuracy.py --no-external --seeds-from 90000   # other traces

Simulator: fixed seeds, both target exercises, clean and messy traces (pick-up/set-down, pauses,
partial dips, fast reps, reps without hold, injected abrupt events), gyro+accel; an extra
accelerometer-only series, a series where half the reps stop part of the way out or back (gyro
and accelerometer only), one where the dumbbell is re-settled in the arms between reps (gyro;
accelerometer only), one going straight from the pick-up into the first rep and one beginning it before the
lift has ended (gyro; accelerometer only), and the generic spec on these exercises are reported separately. External: every labelled
set of `../shared/datasets/external-dev` with `--exercise generic` and one set of constants.
Prints a table per series (count rates, hold-time and range-of-motion errors of the reps matched to
the truth, abrupt-event recall and precision, and the share of detected reps in phase with a true
rep: start and end within 1 s of its); the last line is one JSON object with all the
figures.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT.parent / "shared" / "datasets" / "external-dev"
MATCH_S = 0.3          # an abrupt event matches the truth within this


def _sim_case(args):
    from smartbell.analyze import Trace, analyze
    from smartbell.simulate import in_phase, simulate

    exercise, seed, messy, gyro, spec, *options = args  # options: simulate()'s keywords, if any
    rng = np.random.default_rng(10_000 + seed)
    reps = int(rng.integers(5, 13))
    tr = simulate(exercise, reps, seed=seed, messy=messy, gyro=gyro, **(options[0] if options else {}))
    res = analyze(Trace(tr.t_s, tr.accel_g, tr.gyro_dps), spec or exercise)
    truth = tr.truth
    det = res.reps
    # Hold error over reps matched by time: each true rep to the detected rep whose span covers
    # its far end.
    hold_err = []
    rom_err = []
    for r in truth["reps"]:
        mid = (r["far_s"] + r["return_s"]) / 2
        hit = det[(det.start_s <= mid) & (det.end_s >= mid)]
        if len(hit) == 1:
            hold_err.append(abs(float(hit.hold_s.iloc[0]) - r["hold_s"]))
            rom_err.append(float(hit.rom_deg.iloc[0]) - r["rom_deg"])
    # Reps in phase with a true rep: a start learnt at a far end gives reps from far end to far
    # end, counted right, measured wrong.
    phased = sum(in_phase(a, b, truth["reps"]) for a, b in zip(det.start_s, det.end_s))
    t_true = [a["t_s"] for a in truth["abrupt"]]
    t_det = res.events.loc[res.events.type == "abrupt", "t_s"].tolist()
    found = sum(1 for t in t_true if any(abs(t - d) <= MATCH_S for d in t_det))
    correct = sum(1 for d in t_det if any(abs(t - d) <= MATCH_S for t in t_true))
    return {"exercise": exercise, "seed": seed, "messy": messy, "gyro": gyro,
            "rate_hz": truth["rate_hz"], "true": len(truth["reps"]), "found": len(det),
            "hold_err": hold_err, "rom_err": rom_err, "abrupt_true": len(t_true), "abrupt_found": found,
            "abrupt_det": len(t_det), "abrupt_correct": correct, "in_phase": phased}


def _ext_case(row):
    from smartbell.analyze import analyze

    res = analyze(DATASET / row["source"] / f"{row['id']}.csv", "generic")
    return {"source": row["source"], "id": row["id"], "exercise": row["exercise"],
            "label": int(row["reps"]), "found": len(res.reps), "flag": "FLAG" in str(row["notes"]),
            "gap": res.summary["packet_gap_samples"]}


def count_metrics(true, found) -> dict:
    err = np.asarray(found) - np.asarray(true)
    return {"n": int(len(err)), "exact_rate": float(np.mean(err == 0)),
            "within1_rate": float(np.mean(np.abs(err) <= 1)), "count_mae": float(np.mean(np.abs(err)))}


def sim_series(results) -> dict:
    m = count_metrics([r["true"] for r in results], [r["found"] for r in results])
    holds = [e for r in results for e in r["hold_err"]]
    roms = [e for r in results for e in r["rom_err"]]
    at = sum(r["abrupt_true"] for r in results)
    ad = sum(r["abrupt_det"] for r in results)
    m.update({
        "hold_mae_s": float(np.mean(holds)) if holds else None,
        "hold_matched": len(holds),
        "rom_mae_deg": float(np.mean(np.abs(roms))) if roms else None,
        "rom_bias_deg": float(np.mean(roms)) if roms else None,
        "abrupt_recall": sum(r["abrupt_found"] for r in results) / at if at else None,
        "abrupt_precision": sum(r["abrupt_correct"] for r in results) / ad if ad else None,
        "abrupt_true": at,
        "in_phase": (sum(r["in_phase"] for r in results) / sum(r["found"] for r in results)
                     if any(r["found"] for r in results) else None),
    })
    return m


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim", type=int, default=60, help="seeds per (exercise, clean/messy): 4x this traces")
    ap.add_argument("--no-external", action="store_true")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--show-misses", action="store_true")
    ap.add_argument("--seeds-from", type=int, default=0, metavar="N",
                    help="add N to every simulator seed (e.g. 90000): the same series on traces "
                         "no change was developed on; the figures to quote are those of N = 0")
    args = ap.parse_args()
    figures: dict = {}
    few = max(5, args.sim // 4)

    def series(base, messies, gyros, n, spec=None, **options):
        # Seeds base + 0..n-1 (+ --seeds-from) for each exercise, messiness and sensor set.
        return [(ex, args.seeds_from + base + seed, messy, gyro, spec) + ((options,) if options else ())
                for ex in ("good-morning", "hyperextension") for messy in messies for gyro in gyros
                for seed in range(n)]

    both = (False, True)
    cases = series(0, both, (True,), args.sim)
    acc_only = series(1000, both, (False,), few)
    # The generic spec (cycle counter) on the target exercises: not what they are meant to be
    # counted with, but what a user who picks "generic" for them gets.
    generic = series(2000, both, (True,), few, "generic")
    # Cautious patients: half the reps stop for 0.5-2 s part of the way out or back.
    hesitant = series(3000, both, (True, False), few, hesitations=True)
    # The dumbbell re-settled in the arms (turned 10-35 deg) in about a third of the rests.
    regrip = series(4000, both, (True, False), few, regrips=True)
    # Straight from the pick-up into the first rep: no rest after the carry to judge it by.
    quick = series(5000, (True,), (True, False), few, lead_in="quick")
    # ... and the first rep begun before the lift has ended (no stop between them at all).
    flowing = series(6000, (True,), (True, False), few, lead_in="flowing")
    with ProcessPoolExecutor(args.workers) as pool:
        sim, sim_hes, sim_rg, sim_acc, sim_gen, sim_quick, sim_flow = (
            list(pool.map(_sim_case, c, chunksize=4))
            for c in (cases, hesitant, regrip, acc_only, generic, quick, flowing))
        ext = []
        if not args.no_external:
            if DATASET.is_dir():
                labels = pd.read_csv(DATASET / "labels.csv")
                ext = list(pool.map(_ext_case, labels.to_dict("records"), chunksize=4))
            else:
                print(f"external data not found at {DATASET}: skipped", file=sys.stderr)

    print(f"{'series':44} {'n':>4} {'exact':>7} {'+-1':>7} {'MAE':>6} {'holdMAE':>8} {'romMAE':>7} "
          f"{'ab.rec':>7} {'ab.prec':>7} {'phase':>6}")

    def line(name, m):
        hold = "" if m.get("hold_mae_s") is None else f"{m['hold_mae_s']:.3f}"
        rom = "" if m.get("rom_mae_deg") is None else f"{m['rom_mae_deg']:.2f}"
        rec = "" if m.get("abrupt_recall") is None else f"{m['abrupt_recall']:.3f}"
        prec = "" if m.get("abrupt_precision") is None else f"{m['abrupt_precision']:.3f}"
        phase = "" if m.get("in_phase") is None else f"{m['in_phase']:.3f}"
        print(f"{name:44} {m['n']:4d} {m['exact_rate']:7.3f} {m['within1_rate']:7.3f} "
              f"{m['count_mae']:6.3f} {hold:>8} {rom:>7} {rec:>7} {prec:>7} {phase:>6}")

    figures["sim_all"] = sim_series(sim)
    line("simulator, all (gyro+accel)", figures["sim_all"])
    for ex in ("good-morning", "hyperextension"):
        for messy in (False, True):
            key = f"sim_{ex}_{'messy' if messy else 'clean'}"
            figures[key] = sim_series([r for r in sim if r["exercise"] == ex and r["messy"] == messy])
            line(f"  {ex} {'messy' if messy else 'clean'}", figures[key])
    figures["sim_accel_only"] = sim_series(sim_acc)
    line("simulator, accelerometer only", figures["sim_accel_only"])
    figures["sim_hesitations"] = sim_series(sim_hes)
    line("simulator, stops part of the way", figures["sim_hesitations"])
    for key, name, results, accel in (("regrips", "re-settled", sim_rg, "accel only"),
                                      ("quick_start", "straight from pick-up", sim_quick, "accel"),
                                      ("flowing_start", "rep begun during pick-up", sim_flow, "accel")):
        for gyro in (True, False):
            k = f"sim_{key}_{'gyro' if gyro else 'accel'}"
            figures[k] = sim_series([r for r in results if r["gyro"] == gyro])
            line(f"simulator, {name}, {'gyro' if gyro else accel}", figures[k])
    figures["sim_generic_spec"] = count_metrics([r["true"] for r in sim_gen], [r["found"] for r in sim_gen])
    line("simulator, --exercise generic", figures["sim_generic_spec"])
    if ext:
        for source in ("spar", "muvr"):
            rows = [r for r in ext if r["source"] == source]
            figures[f"ext_{source}"] = count_metrics([r["label"] for r in rows], [r["found"] for r in rows])
            line(f"external {source} (generic)", figures[f"ext_{source}"])
            clean = [r for r in rows if not r["flag"]]
            if len(clean) != len(rows):
                figures[f"ext_{source}_unflagged"] = count_metrics([r["label"] for r in clean],
                                                                   [r["found"] for r in clean])
                line(f"external {source}, no FLAG rows", figures[f"ext_{source}_unflagged"])
            gapped = [r for r in rows if r["gap"]]
            if gapped:
                # Reported beside the headline figure, never instead of it.
                intact = [r for r in clean if not r["gap"]]
                figures[f"ext_{source}_gapped_files"] = len(gapped)
                figures[f"ext_{source}_gapped_packet_len"] = sorted({r["gap"] for r in gapped})
                figures[f"ext_{source}_intact"] = count_metrics([r["label"] for r in intact],
                                                                [r["found"] for r in intact])
                line(f"external {source}, no FLAG, no gaps", figures[f"ext_{source}_intact"])
                print(f"  ({len(gapped)} {source} files lost samples between packets of "
                      f"{figures[f'ext_{source}_gapped_packet_len']} samples)")
    if args.show_misses:
        for r in sim + sim_acc + sim_hes + sim_rg + sim_gen:
            if r["true"] != r["found"]:
                print("miss", r["exercise"], r["seed"], "messy" if r["messy"] else "clean",
                      "gyro" if r["gyro"] else "accel", r["true"], r["found"])
        for r in ext:
            if abs(r["label"] - r["found"]) > 1:
                print("ext", r["source"], r["id"], r["exercise"], r["label"], r["found"],
                      f"gaps every {r['gap']} samples" if r["gap"] else "")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
