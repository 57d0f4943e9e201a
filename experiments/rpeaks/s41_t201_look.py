"""Run s41-t201's look (issue 21, a look that chooses nothing; not blind: run s40-201's look named the record and the
false beats): how MIT-BIH 201's block21 false beats at 100 Hz (T waves) and its true beats separate in the T-wave
check's correlation and in their QRS shape against the kept beat before them.

    python experiments/rpeaks/s41_t201_look.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s41_t201_look.json

Run s40-slope2's kept point (``region_rate.RUNS["s40-slope2"]``'s ``step_feature_sharpness``) on 201's block21 build
(run s58b's builder; builder seeds record + 1000 k), at 100 Hz (``detect_rate.detect_at_rate``'s path) and natively.
The last T-wave check's call (``t_wave_like`` with ``t_wave_all``, every kept peak) is recorded; for each of its peaks
that has a T-wave template (``t_wave_rate_look.measures``: in the lag range, under ``t_wave_rr`` x the local RR, at
least ``cluster_min`` members): its correlation with the template, its span over the template's, and its QRS amplitude
and width (``rpeak_guard.qrs_shapes``) over the kept beat's before it; whether it is a false beat (no reference beat
within 150 ms). Counted: the true and false peaks a shape-conditioned veto would take (correlation at least c, below
the point's 0.9, span within ``t_wave_size``, amplitude under a x and width over w x the beat before; one pass, the
guard's cascade not rerun). Written per build: the counts and the rows of the false beats and of the true beats at
least 0.5 like the template. Prints one JSON object last.
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import region_rate as RR  # noqa: E402
from block21_seam import JOINS, SEED_STEP  # noqa: E402
from cluster import rhythm_signals  # noqa: E402
from detect_rate import RATE  # noqa: E402
from look_cli import look_parser, parse_look_args  # noqa: E402
from t_wave_rate_look import measures  # noqa: E402

from ecgsl_keras.data import rpeak_guard as G  # noqa: E402
from ecgsl_keras.data import rpeaks  # noqa: E402
from ecgsl_keras.data.filters import clean, resample  # noqa: E402

log = logging.getLogger("experiments.rpeaks.s41_t201_look")
SCRIPT = "experiments/rpeaks/s41_t201_look.py"
RECORD = "201"
POINT = ("s40-slope2", "step_feature_sharpness")
SEEDS = (0, 1, 2, 3, 4)
MATCH_S = 0.15
MEASURES = ("wave_corr", "amplitude_prev", "width_prev", "sharpness_prev", "amplitude_nb", "width_nb", "sharpness_nb")
# (reference, correlation floor, amplitude under, width over, sharpness under): against the kept beat before ("prev")
# or the neighbours (small_wide's references: 75th percentile amplitude, median width and sharpness); 0 = not asked
GRID = tuple((ref, c, a, w, s) for ref in ("prev", "nb") for c in (0.5, 0.6, 0.7) for a in (0.6, 0.8)
             for w, s in ((2.0, 0), (3.0, 0), (0, 0.7), (0, 0.8), (1.5, 0.8)))


def last_t_wave_call(fn):
    """``fn()``'s result and the inputs of its last ``t_wave_like`` call from ``guard_rpeaks`` (the kept peaks)."""
    calls = []
    original = G.t_wave_like

    def recorded(kept, at, *a, **k):
        if sys._getframe(1).f_code.co_name == "guard_rpeaks":
            calls.append(np.asarray(kept, np.int64).copy())
        return original(kept, at, *a, **k)

    G.t_wave_like = recorded
    try:
        return fn(), calls[-1] if calls else None
    finally:
        G.t_wave_like = original


def rows_of(kept, cleaned, fs, beats_at_rate, constants, correlation) -> list:
    """Each kept peak with a T-wave template: the check's measures, shape over the kept beat before it, false or true."""
    m_all = measures(kept, kept, cleaned, fs, constants, correlation)
    amplitude, sharpness, width = G.qrs_shapes(cleaned, kept, fs, constants)
    nb_amplitude = G._neighbour_percentile(kept, amplitude, kept, constants.neighbours, constants.percentile)
    nb_width = G._neighbour_percentile(kept, width, kept, constants.neighbours, 50.0)
    nb_sharpness = G._neighbour_percentile(kept, sharpness, kept, constants.neighbours, 50.0)
    out = []
    for i, m in enumerate(m_all):
        if not m["has_template"] or i == 0:
            continue
        false = bool(np.min(np.abs(beats_at_rate - kept[i])) > MATCH_S * fs)
        out.append({"at": int(kept[i]), "false": false, "wave_corr": m["wave_corr"], "ptp_ratio": m["ptp_ratio"],
                    "lag_s": m["lag_s"], "amplitude_prev": round(float(amplitude[i] / amplitude[i - 1]), 3),
                    "width_prev": round(float(width[i] / width[i - 1]), 3),
                    "sharpness_prev": round(float(sharpness[i] / sharpness[i - 1]), 3),
                    "amplitude_nb": round(float(amplitude[i] / nb_amplitude[i]), 3),
                    "width_nb": round(float(width[i] / nb_width[i]), 3),
                    "sharpness_nb": round(float(sharpness[i] / nb_sharpness[i]), 3)})
    return out


def separation(rows, constants, correlation) -> dict:
    """Per grid point: the false and true peaks (not vetoed by the check at ``correlation``) a shape-conditioned veto
    would take."""
    out = {}
    for ref, c, a, w, s in GRID:
        take = [r for r in rows if r["wave_corr"] is not None and c <= r["wave_corr"] < correlation
                and r["ptp_ratio"] <= constants.t_wave_size and r[f"amplitude_{ref}"] < a
                and (w == 0 or r[f"width_{ref}"] > w) and (s == 0 or r[f"sharpness_{ref}"] < s)]
        out[f"{ref}_c{c}_a{a}_w{w}_s{s}"] = {"false": sum(r["false"] for r in take), "true": sum(not r["false"] for r in take)}
    return out


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    argv, parser = look_parser(argv, __doc__)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    args = parse_look_args(parser, argv)
    if args is None:
        return 2
    config = RR.RUNS[POINT[0]].configs()[POINT[1]]
    constants = G.constants_for(config)
    correlation = float(config.rpeak_guard_t_wave)
    builds = {}
    for k in args.seeds:
        for rhythm, built, fs, _, _ in rhythm_signals(args.data_dir, RECORD, {}, names=("block21",), t_end_s=None,
                                                      join_edge_s=JOINS["new"], seed_offset=SEED_STEP * k,
                                                      artifacts=True, own_onset=True):
            x = built["signal"]
            beats = np.asarray(built["beats"], np.float64)
            x100 = resample(x, fs, RATE)
            _, kept100 = last_t_wave_call(lambda: rpeaks.find_rpeaks(x100, RATE, config))
            _, kept_n = last_t_wave_call(lambda: rpeaks.find_rpeaks(x, fs, config))
            rows = {"100": rows_of(kept100, clean(x100, RATE, config.clean_method), RATE, beats * RATE / fs,
                                   constants, correlation),
                    "native": rows_of(kept_n, clean(x, fs, config.clean_method), fs, beats, constants, correlation)}
            # the rows kept in the output: the false beats and the true beats at least 0.5 like the T template
            near = {r: [row for row in v if row["false"] or (row["wave_corr"] or -1) >= 0.5] for r, v in rows.items()}
            builds[f"k{k}"] = {"rows": rows, "rows_out": near, "separation": {r: separation(v, constants, correlation)
                                                            for r, v in rows.items()}}
            log.info("k=%d: %s", k, {r: separation(v, constants, correlation)["nb_c0.6_a0.6_w3.0_s0"]
                                     for r, v in rows.items()})
    totals = {rate: {g: {c: sum(b["separation"][rate][g][c] for b in builds.values()) for c in ("false", "true")}
                     for g in next(iter(builds.values()))["separation"][rate]} for rate in ("100", "native")}
    false_rows = [r for b in builds.values() for r in b["rows"]["100"] if r["false"] and r["wave_corr"] < correlation]
    true_rows = [r for b in builds.values() for r in b["rows"]["100"] if not r["false"]]
    spread = lambda v: [round(float(np.min(v)), 3), round(float(np.median(v)), 3), round(float(np.max(v)), 3)] \
        if v else None  # noqa: E731
    summary = {"false_kept_by_check_100": len(false_rows), "true_with_template_100": len(true_rows),
               "false_100_min_median_max": {m: spread([r[m] for r in false_rows])
                                            for m in MEASURES},
               "true_100_min_median_max": {m: spread([r[m] for r in true_rows if r[m] is not None])
                                           for m in MEASURES},
               "separation_totals": totals}
    result = {"experiment": "rpeaks_s41_t201_look", "command": " ".join(["python", SCRIPT] + argv),
              "what": __doc__.split("\n\n")[0], "point": list(POINT), "record": RECORD, "seeds": args.seeds,
              "grid": [list(g) for g in GRID], "summary": summary,
              "builds": {k: {"separation": b["separation"], "rows_false_or_t_like": b["rows_out"]}
                         for k, b in builds.items()}}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
