"""Run s47 (issue 21): block21's cut joined to the real signal by a cross-fade (``bench.rhythms.JOIN_EDGE_S``), checked
on the signal, and run s40's baseline point scored over several builder seeds.

    python experiments/rpeaks/block21_seam.py --signal --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s47_block21_seam_signal.json
    python experiments/rpeaks/block21_seam.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s47_block21_seam.json --cache-dir /work/runs/s34-rpeaks-cut/s47/counts

Why (run s46's ``--why``, benchmarks/results/rpeaks_s46_block21_cut_why.json): in MIT-BIH 108 the false beats follow the
cut's end wherever it is. Until this run the builder filled a blocked beat's span with the straight line between its two
end samples plus the record's TP noise (``NoiseSource.take``), whose last 8 samples fall linearly to 0: wherever the
noise's local level (in 108 the TP pieces, from 0.42 s after R, hold the end of its long T waves) is away from 0 at the
cut's end, the fill ends in a 22 ms ramp, and the 5-15 Hz band the detector looks in (``signal.clean``,
pantompkins1985) shows a bump there that the original signal does not have. A real 2:1 block has no join at all. The
builder (fixed from the signal only, before any detector figure of this run) now ends the fill on the signal's MEAN over
the span's last 20 ms (the straight line from the span's first sample to it), adds the noise less the straight line from
0 to its own mean there, and cross-fades into the real signal over those 20 ms (raised cosine, inside the span: the
20 ms margin the cut leaves after the T-wave end, so no T wave comes back). The span's start is as before: it starts on
the signal's sample and the noise starts at 0 (a TP piece's first sample), so no ramp there. A first version faded
both ends (the start's 20 ms inside the span too, from the mean there); its ``--signal`` look (no detector) showed the
start's fade taking back part of the QRS onset of wide-QRS 124 (median level step at the start 4.1 -> 15.4 x the median
|first difference|), so the start keeps the old join. ``join_edge_s=0`` (``JOIN_EDGE_NONE``) rebuilds the old signals
(same noise draws).

``--signal`` (no detector): per DS1 record (seed = record number, the cut of run s46), for the old and the new join,
at each end of each cut (``start`` and ``stop``):
- ``step``: the largest |first difference| within ``JOIN_EDGE_S`` of the join sample, over the record's median |first
  difference| (the measure of run s45's ``seam_step``, widened to the fade);
- ``level_step``: |mean over the 20 ms before the join - mean over the 20 ms after|, over the same median;
- ``band``: the largest |5-15 Hz band| (``signal.clean`` pantompkins1985) within ``BAND_S`` of the join, over the
  record's median |band|; at the cut's stop also the original signal's at the same place (``band_original``: no join
  there, what a real blocked beat's T-end-to-TP holds).
Each as the median (and 90th percentile) over the record's cuts. The join is accepted on the signal when, over the 22
records, the median ``band`` at the stop is within ``ACCEPT`` (1.2) x ``band_original`` and no record's is over that
which was not over it with the old join, and 108's falls (``accepted``; fixed before the look; the first part alone,
as first written, the old join met too).

Scoring (after ``--signal``): run s40's grid, choice and keep rule (experiments/rpeaks/first_beat.py: run s37's point
with ``rpeak_keep_first_beat`` off and on, chosen per record left out by the fewest FN + FP over the four rhythms on
the other 21) with block21 rebuilt for each seed in ``SEEDS`` (seed = record + 1000 k, k = 0 the seed of runs s29-s46)
with the old join and the new, the other three rhythms run s40's counts (``--old-cache-dir``, run s46's cache). The
REPORTED figure (fixed before any count): the new join's mean (and sd) over all ``SEEDS`` of the held-out errors, block21
Se / +P, FN / FP and the distance to 0.997; k = 0 alone is shown beside it (run s46's single draw). Old join, k = 0 must
recount run s46's figures (``old_k0_equals_s46``). Nothing here changes the detector or chooses a detector setting.
Prints one JSON object last.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import first_beat  # noqa: E402
from cluster import RHYTHMS, TODAY, distance, errors, loro_summary  # noqa: E402
from block21_cut import recount_block21  # noqa: E402

from ecgsl_keras import tasks  # noqa: E402
from ecgsl_keras.bench import rhythms  # noqa: E402
from ecgsl_keras.bench.rpeaks import read_mitdb  # noqa: E402
from ecgsl_keras.data import signal as S  # noqa: E402

log = logging.getLogger("experiments.rpeaks.block21_seam")
SCRIPT = "experiments/rpeaks/block21_seam.py"
NAMES = first_beat.names()
S37, FIRST = first_beat.S37, first_beat.FIRST
SHORT = {S37: "s37", FIRST: "s37_first"}
SEEDS = tuple(range(5))             # seed = record + 1000 k
SEED_STEP = 1000
JOINS = {"old": rhythms.JOIN_EDGE_NONE, "new": rhythms.JOIN_EDGE_S}
BAND_S = 0.05
ACCEPT = 1.2
S46_CACHE = "/work/runs/s34-rpeaks-cut/counts"
S46_JSON = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "rpeaks_s46_block21_cut.json"
REPORTED = (f"new join (join_edge_s={rhythms.JOIN_EDGE_S}), mean and sd over the {len(SEEDS)} builder seeds record + "
            f"{SEED_STEP} k, k = {SEEDS[0]}..{SEEDS[-1]} (fixed before any count)")


def cut_spans(built, fs, ref):
    """``(start, stop)`` samples of block21's cuts in ``built`` (as ``rhythms.block21`` cuts them)."""
    removed = built["removed"]
    nxt = ref[np.searchsorted(ref, removed) + 1]
    # run s58b's builder (own_onset) cuts each beat from its own onset: the built signal lists each removed beat's cut
    start = removed - np.round(np.asarray(built.get("cut_before_s", built["qrs_before_s"])) * fs).astype(np.int64)
    stop = np.minimum(removed + int(round(built["t_end_s"] * fs)), nxt - int(round(0.28 * fs)))
    return start, stop


def join_measures(x, original, fs, start, stop) -> dict:
    """``--signal``'s measures at the cuts' ends (module docstring), median and 90th percentile over the cuts."""
    edge, band_w = int(round(rhythms.JOIN_EDGE_S * fs)), int(round(BAND_S * fs))
    d = np.abs(np.diff(x))
    scale = float(np.median(np.abs(np.diff(original)))) or 1e-12
    band, band0 = np.abs(S.clean(x, fs, "pantompkins1985")), np.abs(S.clean(original, fs, "pantompkins1985"))
    band_scale = float(np.median(band0)) or 1e-12
    keep = (start > band_w + edge) & (stop < x.size - band_w - edge - 1)
    out = {}
    for name, ends in (("start", start[keep]), ("stop", stop[keep])):
        step = np.array([d[j - edge:j + edge + 1].max() for j in ends]) / scale
        level = np.array([abs(x[j - edge:j].mean() - x[j + 1:j + 1 + edge].mean()) for j in ends]) / scale
        peak = np.array([band[j - band_w:j + band_w + 1].max() for j in ends]) / band_scale
        row = {}
        for key, v in (("step", step), ("level_step", level), ("band", peak)):
            row[key] = round(float(np.median(v)), 3)
            row[key + "_p90"] = round(float(np.percentile(v, 90)), 3)
        if name == "stop":
            v = np.array([band0[j - band_w:j + band_w + 1].max() for j in ends]) / band_scale
            row["band_original"], row["band_original_p90"] = round(float(np.median(v)), 3), round(
                float(np.percentile(v, 90)), 3)
        out[name] = row
    out["cuts"] = int(keep.sum())
    return out


def signal_look(data_dir) -> dict:
    rows = {}
    for rid in tasks.MITDB_DS1:
        signal, fs, ref, episodes, _, symbols = read_mitdb(data_dir, rid, with_symbols=True)
        original = np.asarray(signal, np.float64)
        row = {}
        for label, edge in JOINS.items():
            built = rhythms.build("block21", signal, fs, ref, symbols, episodes, seed=int(rid), join_edge_s=edge)
            start, stop = cut_spans(built, fs, ref)
            row[label] = join_measures(built["signal"], original, fs, start, stop)
        rows[rid] = row
        log.info("%s: %s", rid, row)
    summary = {}
    for label in JOINS:
        summary[label] = {f"{end}_{key}": round(float(np.median([rows[r][label][end][key] for r in rows])), 3)
                          for end in ("start", "stop") for key in ("step", "level_step", "band")}
    summary["original_stop_band"] = round(float(np.median([rows[r]["old"]["stop"]["band_original"] for r in rows])), 3)
    over = {label: [r for r in rows if rows[r][label]["stop"]["band"] > ACCEPT * rows[r][label]["stop"]["band_original"]]
            for label in JOINS}
    accepted = (summary["new"]["stop_band"] <= ACCEPT * summary["original_stop_band"]
                and set(over["new"]) <= set(over["old"])
                and rows["108"]["new"]["stop"]["band"] < rows["108"]["old"]["stop"]["band"])
    return {"experiment": "rpeaks_s47_block21_seam_signal", "records": list(tasks.MITDB_DS1),
            "joins": JOINS, "join_edge_s": rhythms.JOIN_EDGE_S, "band_s": BAND_S, "seed": "record number",
            "accept_rule": (f"new median (of records) band at the stop <= {ACCEPT} x the original signal's there, no "
                            "record over that which was not with the old join, and 108's stop band falls"),
            "accepted": bool(accepted), "median_of_records": summary, "records_stop_band_over_original": over,
            "records_stop_band_over_original_text": {label: ", ".join(v) or "none" for label, v in over.items()},
            "stop_band_108": {label: rows["108"][label]["stop"]["band"] for label in JOINS},
            "per_record": rows}


def count_seed(args, label, k) -> dict:
    """All 22 records' counts with block21 rebuilt (join ``label``, seed offset ``SEED_STEP`` k), the other three
    rhythms from run s46's cache; cached per record in ``--cache-dir``/<label>_<k>/."""
    cache = Path(args.cache_dir) / f"{label}_{k}"
    cache.mkdir(parents=True, exist_ok=True)
    counts = {}
    for rid in tasks.MITDB_DS1:
        path = cache / f"{rid}.json"
        if path.exists():
            block = json.loads(path.read_text())
        else:
            block = first_beat.count_record(args.data_dir, rid, {}, t_end_s=None, names=("block21",),
                                            join_edge_s=JOINS[label], seed_offset=SEED_STEP * k)
            block = {key: v for key, v in block.items() if not key.endswith("first_changes")}
            path.write_text(json.dumps(block) + "\n")
        old = json.loads((Path(args.old_cache_dir) / f"{rid}.json").read_text())
        for rhythm in RHYTHMS:
            if rhythm != "block21":
                for name in NAMES + [TODAY]:
                    counts[f"{rid}|{rhythm}|{name}"] = old[f"{rid}|{rhythm}|{name}"]
        counts.update(block)
    return counts


def seed_figures(counts) -> dict:
    records, held, choice, all22, _ = loro_summary(counts, NAMES)
    b = held["block21"]
    return {"errors_held_out": errors(held), "block21": {k: b[k] for k in ("TP", "FN", "FP", "Se", "+P")},
            "block21_distance": distance(held)["block21"],
            "block21_fn_allowed": int((1 - 0.997) * (b["TP"] + b["FN"])),
            "block21_fp_allowed": int((1 - 0.997) / 0.997 * b["TP"]),
            "held_out_rhythm_fn_fp": {r: [held[r]["FN"], held[r]["FP"]] for r in RHYTHMS},
            "choice_counts": {SHORT[c]: list(choice.values()).count(c) for c in sorted(set(choice.values()))},
            "block21_per_record": {r: counts[f"{r}|block21|{choice[r]}"] for r in records}}


def mean_sd(values) -> dict:
    v = np.asarray(values, np.float64)
    return {"mean": round(float(v.mean()), 5), "sd": round(float(v.std(ddof=1)), 5) if v.size > 1 else None,
            "min": round(float(v.min()), 5), "max": round(float(v.max()), 5)}


def summarise(per_seed) -> dict:
    pick = {"errors_held_out": lambda f: f["errors_held_out"],
            "block21_Se": lambda f: f["block21"]["Se"], "block21_+P": lambda f: f["block21"]["+P"],
            "block21_FN": lambda f: f["block21"]["FN"], "block21_FP": lambda f: f["block21"]["FP"],
            "block21_Se_distance": lambda f: f["block21_distance"]["Se"],
            "block21_+P_distance": lambda f: f["block21_distance"]["+P"]}
    return {key: mean_sd([fn(f) for f in per_seed.values()]) for key, fn in pick.items()}


# runs s43-s45's grids, each with run s46's cache (its block21 recounted on run s46's builder; s43 and s44 share one)
LEVERS = (("wide_rescue", "rpeaks_s46_wide_rescue", "like"), ("wide_restrict", "rpeaks_s46_wide_restrict", "like"),
          ("wide_p", "rpeaks_s46_wide_p", "p"))
S46_LEVERS = "/work/runs/s34-rpeaks-cut/levers"


def levers(args, argv) -> dict:
    """``--levers`` (after the scoring): runs s43-s45's grids rescored by their own scripts' choice and keep rule with
    block21 rebuilt with the new join for each seed in ``SEEDS``. The other rhythms' counts are copied from run s46's
    caches into ``--cache-dir``/../levers/<cache>_k<k>/ with every block21 count dropped, block21 is recounted at
    every point of the script's grid, then the script scores the cache (k = 0 into
    benchmarks/results/rpeaks_s47_<script>.json, the other seeds into the work folder). Per script: held-out errors per
    seed, their mean and sd, against the baseline's held out on the same seed (``--out`` of the scoring), and whether
    its keep rule recommends it on each seed."""
    import importlib

    base = json.loads((Path(args.out).parent / "rpeaks_s47_block21_seam.json").read_text())["per_seed"]["new"]
    root = Path(args.cache_dir).parent / "levers"
    summary = {}
    for script, old_name, cache_name in LEVERS:
        module = importlib.import_module(script)
        rows = {}
        for k in SEEDS:
            cache = root / f"{cache_name}_k{k}"
            cache.mkdir(parents=True, exist_ok=True)
            for rid in tasks.MITDB_DS1:
                recount_block21(cache / f"{rid}.json", Path(S46_LEVERS) / cache_name / f"{rid}.json",
                                f"{rid}|block21", f"{rid}|block21_s47|{script}",
                                lambda counts: module.count_record(args.data_dir, rid, counts, t_end_s=None,
                                                                   names=("block21",), join_edge_s=JOINS["new"],
                                                                   seed_offset=SEED_STEP * k))
            out = (Path(args.out).parent / f"rpeaks_s47_{script}.json" if k == 0
                   else Path(args.cache_dir).parent / f"rpeaks_s47_{script}_k{k}.json")
            module.main(["--data-dir", args.data_dir, "--out", str(out), "--cache-dir", str(cache)])
            result = json.loads(out.read_text())
            result["experiment"] = f"rpeaks_s47_{script}" + (f"_k{k}" if k else "")
            result["command"] = " ".join(["python", SCRIPT] + argv)
            result["block21_builder"] = (f"run s46's cut, join_edge_s={JOINS['new']} (run s47's join), seed = record + "
                                         f"{SEED_STEP} x {k}")
            result["rescored_from"] = f"benchmarks/results/{old_name}.json (same grid, choice and keep rule)"
            out.write_text(json.dumps(result, indent=2) + "\n")
            rows[str(k)] = {"held_out": result["errors"]["held_out"],
                            "baseline_held_out": base[str(k)]["errors_held_out"],
                            "recommended_on_counts": result["keep"]["recommended_on_counts"],
                            "falls": result["keep"].get("falls"),
                            "block21_fn_fp": result["held_out_rhythm_fn_fp"]["block21"],
                            "choice_counts": result["choice_counts"]}
            log.info("%s k=%d: %s", script, k, rows[str(k)])
        diff = [r["held_out"] - r["baseline_held_out"] for r in rows.values()]
        summary[script] = {"held_out": mean_sd([r["held_out"] for r in rows.values()]),
                           "minus_baseline": mean_sd(diff), "fewer_errors_seeds": sum(d < 0 for d in diff),
                           "recommended_seeds": sum(bool(r["recommended_on_counts"]) for r in rows.values()),
                           "per_seed": rows}
    return {"experiment": "rpeaks_s47_levers", "command": " ".join(["python", SCRIPT] + argv),
            "seeds": [f"record + {SEED_STEP} x {k}" for k in SEEDS], "joins": JOINS, "levers": summary}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--cache-dir", default="/work/runs/s34-rpeaks-cut/s47/counts")
    parser.add_argument("--old-cache-dir", default=S46_CACHE, help="run s46's per-record counts (other rhythms)")
    parser.add_argument("--signal", action="store_true", help="the signal check only (no detector)")
    parser.add_argument("--levers", action="store_true", help="runs s43-s45's grids over the seeds (after the scoring)")
    args = parser.parse_args(argv)
    command = " ".join(["python", SCRIPT] + argv)
    if args.levers:
        result = levers(args, argv)
        Path(args.cache_dir).parent.joinpath("levers_summary.json").write_text(json.dumps(result, indent=2) + "\n")
        Path(args.out).parent.joinpath("rpeaks_s47_levers.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps({k: {kk: v[kk] for kk in ("held_out", "minus_baseline", "fewer_errors_seeds",
                                                   "recommended_seeds")} for k, v in result["levers"].items()}))
        return 0
    if args.signal:
        result = {**signal_look(args.data_dir), "command": command}
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps({k: result[k] for k in ("accepted", "median_of_records", "records_stop_band_over_original")}))
        return 0
    per = {label: {} for label in JOINS}
    for k in SEEDS:
        for label in JOINS:
            per[label][k] = seed_figures(count_seed(args, label, k))
            log.info("%s k=%d: %s block21 %s", label, k, per[label][k]["errors_held_out"], per[label][k]["block21"])
    s46 = json.loads(S46_JSON.read_text())
    old0 = per["old"][0]
    result = {"experiment": "rpeaks_s47_block21_seam", "command": command, "records": list(tasks.MITDB_DS1),
              "rhythms": list(RHYTHMS), "tolerance_ms": 150, "target": 0.997,
              "grid_choice_keep": "run s40's (experiments/rpeaks/first_beat.py; first_beat.KEEP_RULE), unchanged",
              "keep_rule": first_beat.KEEP_RULE, "joins": JOINS, "seeds": [f"record + {SEED_STEP} x {k}" for k in SEEDS],
              "reported": REPORTED,
              "old_k0_equals_s46": {"held_out": old0["errors_held_out"] == s46["errors"]["held_out"],
                                    "block21_fn_fp": [old0["block21"]["FN"], old0["block21"]["FP"]]
                                    == s46["held_out_rhythm_fn_fp"]["block21"]},
              "summary": {label: summarise(per[label]) for label in JOINS},
              "k0": {label: {"errors_held_out": per[label][0]["errors_held_out"], "block21": per[label][0]["block21"]}
                     for label in JOINS},
              "new_minus_old_per_seed": {str(k): {
                  "errors_held_out": per["new"][k]["errors_held_out"] - per["old"][k]["errors_held_out"],
                  "block21_FN": per["new"][k]["block21"]["FN"] - per["old"][k]["block21"]["FN"],
                  "block21_FP": per["new"][k]["block21"]["FP"] - per["old"][k]["block21"]["FP"]} for k in SEEDS},
              "per_seed": {label: {str(k): v for k, v in per[label].items()} for label in JOINS}}
    result["reported_figure"] = result["summary"]["new"]
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("reported", "reported_figure", "old_k0_equals_s46", "k0",
                                             "new_minus_old_per_seed")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
