"""Run s48 (issue 21) diagnosis: MIT-BIH 203's block21 misses at run s47's baseline (run s40's ``s37_first``; all 22
folds of run s47 choose it), on run s47's builder (cut end from the record's T wave, cross-faded join) for each of run
s47's five builder seeds (seed = 203 + 1000 k, k = 0..4). Training-side only: no grid, no held-out figure; it says
where each missed beat is lost, to aim run s48's lever.

    python experiments/rpeaks/block21_203.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s48_203_diagnosis.json

Each miss is traced by ``block21_misses.diagnose`` (run s43's fields: ``stage`` -- never a candidate: ``no_region`` /
``short_region`` / ``no_extremum`` (the primary detector's slope threshold / region length), ``refractory_lost`` (its
region's peak lost the ``mindelay`` contest; ``winner_ms``, ``winner_true``), ``close_or_refine``; or the guard step that
dropped it -- ``symbol``, ``amplitude`` / ``sharpness`` / ``width`` over the 16 kept peaks around it, ``pair``,
``missed_in_normal``, ``next_to_blocked``), and here also:

- ``amplitude_vs_reference_neighbours``: its QRS amplitude (``rpeak_guard.qrs_shapes``) over the median of the two
  reference beats around it (the annotated beats, not the kept peaks);
- ``noise``: slope-sign changes of the cleaned signal within +-0.3 s over their median at the kept peaks
  (``small_noisy``'s measure; over 1.7, the baseline's ``rpeak_guard_noise``, is a noisy stretch);
- ``prev_blocked`` / ``next_blocked``: the reference neighbour before / after it is a blocked beat of the builder;
  ``after_cut_ms``: from the end of the nearest cut before it (the replaced span) to it;
- ``prev_symbol`` / ``next_symbol``: the annotations of the reference neighbours; ``rr_prev_over_median`` (its RR
  over the median RR of the 9 reference intervals around it);
- ``candidate``: the primary detector's candidate nearest to it within 150 ms (its region's length over the mean, and
  whether it is a region minimum) when it has one;
- ``seeds_missed``: on how many of the five seeds the same annotation is missed (block21 keeps every sample's place).

Checks: each seed's FN / FP of 203 equal run s47's counts (benchmarks/results/rpeaks_s47_block21_seam.json,
``per_seed.new.<k>.block21_per_record["203"]``; ``equals_s47``). Prints one JSON object last.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import block21_misses  # noqa: E402
import first_beat  # noqa: E402
from block21_seam import SEED_STEP, SEEDS  # noqa: E402

from ecgsl_keras.bench import rhythms  # noqa: E402
from ecgsl_keras.data import rpeak_guard as G  # noqa: E402

log = logging.getLogger("experiments.rpeaks.block21_203")
SCRIPT = "experiments/rpeaks/block21_203.py"
RECORD = "203"
S47_JSON = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "rpeaks_s47_block21_seam.json"
NOISE_HALF_S = 0.3
NOISY = 1.7                 # the baseline's rpeak_guard_noise


def builder(k) -> dict:
    """Run s47's block21 builder at seed offset ``SEED_STEP`` x ``k``."""
    return {"seed_offset": SEED_STEP * k, "t_end_s": None, "join_edge_s": rhythms.JOIN_EDGE_S}


def baseline():
    """(name, SignalConfig, GuardConstants) of run s47's baseline (run s40's ``s37_first``)."""
    return first_beat.FIRST, dataclasses.replace(first_beat.S37_CONFIG, rpeak_keep_first_beat=True), \
        first_beat.S37_CONSTANTS


def extra_fields(row, detail, fs) -> dict:
    """The fields this run adds to a miss row of ``block21_misses.diagnose`` (module docstring)."""
    run, spans, candidates = detail["run"], detail["spans"], detail["candidates"]
    x, peaks, built = run["x"], run["peaks"], run["built"]
    beats, removed = built["beats"], set(built["removed"].tolist())
    _, _, ref, _, _, symbols = detail["record"]
    symbol_at = dict(zip(ref.tolist(), symbols))
    a = row["sample"]
    i = int(np.searchsorted(beats, a))
    around = [int(beats[j]) for j in (i - 1, i + 1) if 0 <= j < beats.size]
    amp = G.qrs_shapes(x, np.array([a] + around), fs)[0]
    o = int(np.searchsorted(ref, a))
    prev_ref = int(ref[o - 1]) if o > 0 else None
    next_ref = int(ref[o + 1]) if o + 1 < ref.size else None
    half = int(round(NOISE_HALF_S * fs))
    spread = peaks[np.linspace(0, peaks.size - 1, min(peaks.size, 200)).astype(int)]
    typical = max(float(np.median(G.sign_changes(x, spread, half))), 1.0)
    before = spans[spans[:, 1] <= a]
    lo, hi = max(i - 5, 1), min(i + 5, beats.size - 1)
    rr = np.diff(beats[lo - 1:hi + 1])
    out = {"amplitude_vs_reference_neighbours": round(float(amp[0] / max(np.median(amp[1:]), 1e-12)), 3)
           if amp.size > 1 else None,
           "noise": round(float(G.sign_changes(x, np.array([a]), half)[0] / typical), 2),
           "prev_blocked": prev_ref in removed, "next_blocked": next_ref in removed,
           "after_cut_ms": round(1000.0 * (a - int(before[:, 1].max())) / fs, 1) if before.size else None,
           "prev_symbol": symbol_at.get(prev_ref, "?") if prev_ref is not None else None,
           "next_symbol": symbol_at.get(next_ref, "?") if next_ref is not None else None,
           "rr_prev_over_median": round(float((a - beats[i - 1]) / np.median(rr)), 2) if i > 0 and rr.size else None}
    tol = int(round(0.15 * fs))
    near = [c for c in candidates if c["peak"] >= 0 and abs(c["peak"] - a) <= tol]
    if near:
        c = min(near, key=lambda c: abs(c["peak"] - a))
        length = (c["region"][1] - c["region"][0]) / block21_misses.trace_neurokit.mean_length
        out["candidate"] = {"offset_ms": round(1000.0 * (c["peak"] - a) / fs, 1), "fate": c["fate"],
                            "minimum": c["minimum"], "region_over_mean": round(float(length), 2)}
    return out


def summary(rows) -> dict:
    """Counts over ``rows`` (one seed's misses, or all seeds')."""
    amp = np.array([r["amplitude"] for r in rows]) if rows else np.zeros(0)
    dropped = [r for r in rows if r["stage"] == "refractory_lost" and r.get("candidate", {}).get("fate")
               == "minimum_dropped"]
    # the candidate's distance from the kept peak that blocked it: its offset from the annotation less the winner's
    gaps = [r["candidate"]["offset_ms"] - r["winner_ms"] for r in dropped if "winner_ms" in r]
    tally = lambda key: dict(collections.Counter(str(r[key]) for r in rows).most_common())  # noqa: E731
    never = block21_misses.NEVER_PROPOSED
    return {"misses": len(rows), "stage": tally("stage"), "symbol": tally("symbol"), "pair": tally("pair"),
            "never_proposed": sum(r["stage"] in never for r in rows),
            "guard_dropped": sum(r["stage"] in block21_misses.GUARD_STEPS for r in rows),
            "stage_by_symbol": {s: dict(collections.Counter(r["stage"] for r in rows if r["symbol"] == s))
                                for s in sorted({r["symbol"] for r in rows})},
            "missed_in_normal": sum(r["missed_in_normal"] for r in rows),
            "next_to_blocked": sum(r["next_to_blocked"] for r in rows),
            "prev_blocked": sum(r["prev_blocked"] for r in rows), "next_blocked": sum(r["next_blocked"] for r in rows),
            "noisy": sum(r["noise"] > NOISY for r in rows),
            "amplitude_q25_50_75": [round(float(v), 2) for v in np.percentile(amp, [25, 50, 75])] if amp.size else None,
            "refractory_winner_true": sum(bool(r.get("winner_true")) for r in rows if r["stage"] == "refractory_lost"),
            "refractory_winner_ms_q25_50_75": [round(float(v), 1) for v in np.percentile(
                [r["winner_ms"] for r in rows if "winner_ms" in r] or [np.nan], [25, 50, 75])],
            # the refractory losses whose candidate is a region minimum (no maximum in its region) that
            # prominent_negative_last dropped within mindelay of the kept peak before it (run s48's lever)
            "refractory_minimum_dropped": len(dropped),
            "minimum_dropped_after_kept_ms": [round(min(gaps), 1), round(max(gaps), 1)] if gaps else None,
            "rr_prev_under_0.3s": sum(r["rr_prev_ms"] is not None and r["rr_prev_ms"] < 300 for r in rows),
            "prev_symbol_V": sum(r["prev_symbol"] == "V" for r in rows)}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    name, config, constants = baseline()
    s47 = json.loads(S47_JSON.read_text())["per_seed"]["new"]
    rows, per_seed, equals = [], {}, {}
    for k in SEEDS:
        misses, check, counts = block21_misses.diagnose(args.data_dir, RECORD, config, constants, builder(k),
                                                        detail=True)
        detail = counts.pop("_detail")
        fs = detail["run"]["fs"]
        for r in misses:
            r.update(extra_fields(r, detail, fs), seed=k)
        rows += misses
        tp_fn_fp = s47[str(k)]["block21_per_record"][RECORD]
        equals[str(k)] = [counts["FN"], counts["FP"]] == tp_fn_fp[1:]
        per_seed[str(k)] = {**counts, "builder": check, "summary": summary(misses)}
        log.info("k=%d: FN %d FP %d (s47 %s) stages %s", k, counts["FN"], counts["FP"], tp_fn_fp,
                 per_seed[str(k)]["summary"]["stage"])
    seen = collections.Counter(r["sample"] for r in rows)
    for r in rows:
        r["seeds_missed"] = seen[r["sample"]]
    persistent = [r for r in rows if r["seed"] == 0 and r["seeds_missed"] == len(SEEDS)]
    stage_mean = collections.defaultdict(float)
    for v in per_seed.values():
        for stage, n in v["summary"]["stage"].items():
            stage_mean[stage] += n / len(SEEDS)
    result = {"experiment": "rpeaks_s48_203_diagnosis", "command": " ".join(["python", SCRIPT] + argv),
              "record": RECORD, "point": name, "point_short": "s37_first",
              "builder": "run s47's (cut end from the record's T wave, join_edge_s="
                         f"{rhythms.JOIN_EDGE_S}), seed = 203 + {SEED_STEP} k, k = {SEEDS[0]}..{SEEDS[-1]}",
              "tolerance_ms": 150, "equals_s47": equals, "equals_s47_all": all(equals.values()),
              "fn_per_seed": {k: v["FN"] for k, v in per_seed.items()},
              "fp_per_seed": {k: v["FP"] for k, v in per_seed.items()},
              "fn_mean": round(float(np.mean([v["FN"] for v in per_seed.values()])), 1),
              "stage_mean_per_seed": {s: round(v, 1) for s, v in sorted(stage_mean.items(), key=lambda kv: -kv[1])},
              "all_seeds": summary(rows),
              "missed_on_every_seed": {"beats": len(persistent), **summary(persistent)},
              "distinct_beats_missed": len(seen),
              "per_seed": per_seed, "misses": rows}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("equals_s47_all", "fn_per_seed", "fp_per_seed", "stage_mean_per_seed",
                                             "missed_on_every_seed", "distinct_beats_missed")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
