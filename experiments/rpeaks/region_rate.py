"""Run s39-region (issue 21, toward one detector): does a rate-robust region rule close the Python detector's gap at the
graph's rate (100 Hz)?

    python experiments/rpeaks/region_rate.py --plan --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_region_rate_plan.json
    python experiments/rpeaks/region_rate.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_region_rate.json --cache-dir /work/runs/s39-region/counts \\
        --reference-cache /work/runs/s39-region/rate100_counts_copy

Why: run s58's point makes more errors at 100 Hz than natively (``rpeaks_detect_rate.json``); in MIT-BIH 201's block21
most of the extra false beats are T waves whose QRS region passes neurokit2's length rule (at least 0.4 x the mean
region length) at 100 Hz but not natively. Two rate effects, not separated: the length counted on a 10 ms sample grid,
and np.gradient's one-sample central difference damping the QRS slope more than a T wave's at 100 Hz. The options
(``SignalConfig.rpeak_region_interpolated``, ``rpeak_region_gradient_step_s``; ``rpeaks._findpeaks_neurokit``) remove
them: ``interp`` measures region lengths between linearly interpolated threshold crossings; ``interp_step`` also takes the
slope as a central difference over a fixed 1/360 s step on the cubic spline through the samples (at 360 Hz that is
np.gradient's own).

Points (``POINTS``, fixed before any count; nothing is chosen): run s58's point (``detect_rate.CONFIGS["s58"]``) natively
and at 100 Hz (``detect_rate.detect_at_rate``, ``mapped``), each with the options off (``off``: the counts must equal
``rpeaks_detect_rate.json``'s cache, ``s58_native`` / ``s58_100_mapped``, else the run stops) and with each variant on:
six points; all 22 MIT-BIH DS1 records, the four built rhythms on run s58b's builder, five block21 builder seeds, counted
as ``detect_rate`` counts them. ``REPORT_RULE`` says what is reported and the two verdicts. Prints one JSON object last.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path


sys.path.insert(0, __file__.rsplit("/", 1)[0])
import detect_rate as D  # noqa: E402
from block21_seam import JOINS, SEED_STEP, SEEDS  # noqa: E402
from cluster import BASE, RHYTHMS, TODAY, errors, match, rhythm_signals, score_point, totals  # noqa: E402

from ecgsl_keras import tasks  # noqa: E402
from ecgsl_keras.data import rpeaks  # noqa: E402
from ecgsl_keras.data.filters import clean  # noqa: E402

log = logging.getLogger("experiments.rpeaks.region_rate")
SCRIPT = "experiments/rpeaks/region_rate.py"
EXPERIMENT = "rpeaks_region_rate"
TARGET = D.TARGET
STEP_S = 1.0 / 360.0              # the fixed slope step: MIT-BIH's native sample step
VARIANTS = {"off": {}, "interp": {"rpeak_region_interpolated": True},
            "interp_step": {"rpeak_region_interpolated": True, "rpeak_region_gradient_step_s": STEP_S}}
# (point, variant, rate): rate "native" or "100" (detect_rate's "mapped")
POINTS = tuple((f"s58_{rate}_{variant}", variant, rate) for variant in VARIANTS for rate in ("native", "100"))
CACHED_AS = {"s58_native_off": "s58_native", "s58_100_off": "s58_100_mapped"}   # detect_rate's counts of the same
OFF_OF = {name: f"s58_{rate}_off" for name, _, rate in POINTS}
REPORT_RULE = ("no choice: fixed points on all 22 DS1 records, five builder seeds. Reported per point: each rhythm's Se "
               "and +P (mean and sd over the seeds), FN + FP over the four rhythms (mean and sd), each rhythm's mean "
               "minus 0.997, each variant minus its off point at the same rate. A variant 'closes the rate gap' when "
               "s58_100_<variant> has every rhythm's mean Se and +P at least 0.997; it 'is safe natively' when "
               "s58_native_<variant> makes no more FN + FP than s58_native_off on every seed. The off points must equal "
               "run s39-rate100's counts (rpeaks_detect_rate.json) on every build, else the run stops")

OFF_IDENTITY = ("with the options off the detector is unchanged: rpeaks.find_rpeaks on the 22 raw DS1 records (native "
                "rate) with SignalConfig() and with run s58's point gave the same peaks (44 arrays, 102136 peaks) with "
                "this branch's ecgsl_keras as with its parent commit's (71c70b6), checked before this plan")


def configs() -> dict:
    base = D.CONFIGS["s58"]()
    return {v: dataclasses.replace(base, **opts) for v, opts in VARIANTS.items()}


def count(data_dir, rid, reference, **signals) -> dict:
    """Counts (``rid|rhythm|point``: TP, FN, FP; ``|changes`` against the off point at the same rate) of record
    ``rid``'s ``signals["names"]`` rhythms at every point of ``POINTS``; the off points must equal ``reference``."""
    out = {f"{rid}|{r}|{TODAY}": reference[f"{rid}|{r}|today_native"] for r in signals["names"]}
    by_variant = configs()
    for rhythm, built, fs, cleaned, _ in rhythm_signals(data_dir, rid, out, **signals):
        x = built["signal"]
        sets = {}
        own = None
        for name, variant, rate in POINTS:
            config = by_variant[variant]
            if own is None:
                own = cleaned if config.clean_method == BASE.clean_method else clean(x, fs, config.clean_method)
            peaks = (rpeaks.find_rpeaks(x, fs, config, cleaned=own) if rate == "native"
                     else D.detect_at_rate(x, fs, config))
            key = f"{rid}|{rhythm}|{name}"
            if name in CACHED_AS:
                # score_point raises where the recount differs from detect_rate's count of the same build
                out[key] = reference[f"{rid}|{rhythm}|{CACHED_AS[name]}"]
            score_point(out, sets, key, name, OFF_OF[name], match(built, peaks, fs))
        log.info("%s %s: %s", rid, rhythm, {name: out[f"{rid}|{rhythm}|{name}"] for name, _, _ in POINTS})
    return {k: v for k, v in out.items() if k.split("|")[2] in OFF_OF}


def record_counts(args, rid) -> dict:
    cache, ref_dir = Path(args.cache_dir), Path(args.reference_cache)
    cache.mkdir(parents=True, exist_ok=True)

    def load(name, **signals):
        path, ref_path = cache / name, ref_dir / name
        if path.exists():
            return json.loads(path.read_text())
        if not ref_path.exists():
            raise FileNotFoundError(f"{ref_path}: run s39-rate100's counts of record {rid} are missing")
        counts = count(args.data_dir, rid, json.loads(ref_path.read_text()), **signals)
        path.write_text(json.dumps(counts) + "\n")
        return counts

    other = load(f"{rid}_other.json", names=D.OTHER, artifacts=True)
    block = {k: load(f"{rid}_block21_k{k}.json", names=("block21",), t_end_s=None, join_edge_s=JOINS["new"],
                     seed_offset=SEED_STEP * k, artifacts=True, own_onset=True) for k in SEEDS}
    return {"other": other, "block21": block}


def plan(argv) -> dict:
    return {"experiment": EXPERIMENT, "command": " ".join(["python", SCRIPT] + argv),
            "points": [{"name": n, "variant": v, "options": VARIANTS[v], "rate": r,
                        "counted_as": CACHED_AS.get(n, n)} for n, v, r in POINTS],
            "config": f"detect_rate.CONFIGS['s58'] ({D.S58_NAME}) with the variant's options",
            "rate_hz": D.RATE, "mapping": "detect_rate.detect_at_rate, mapped (round(p x fs / 100), clipped, unique)",
            "records": list(tasks.MITDB_DS1), "rhythms": list(RHYTHMS), "tolerance_ms": 150, "target": TARGET,
            "builder": "run s58b's (as detect_rate.py)", "seeds": [f"record + {SEED_STEP} x {k}" for k in SEEDS],
            "report_rule": REPORT_RULE, "off_identity": OFF_IDENTITY}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--cache-dir", default="/work/runs/s39-region/counts")
    parser.add_argument("--reference-cache", default="/work/runs/s39-region/rate100_counts_copy",
                        help="a copy of run s39-rate100's counts (the off points' recount must equal them)")
    parser.add_argument("--records", nargs="+", help="count these records only and stop")
    parser.add_argument("--plan", action="store_true", help="write the points and the report rule (no count) and stop")
    args = parser.parse_args(argv)
    if not Path(args.data_dir).is_dir():
        print(f"error: --data-dir {args.data_dir}: not a directory", file=sys.stderr)
        return 2
    if args.plan:
        result = plan(argv)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result))
        return 0
    records = list(tasks.MITDB_DS1)
    chosen = args.records or records
    missing = [r for r in chosen if r not in records]
    if missing:
        print(f"error: --records {missing}: not MIT-BIH DS1 records", file=sys.stderr)
        return 2
    per_record = {rid: record_counts(args, rid) for rid in chosen}
    if args.records:
        print(json.dumps({"counted": args.records}))
        return 0
    names = [n for n, _, _ in POINTS]
    per_seed_totals = {}
    for k in SEEDS:
        counts = {}
        for rid in records:
            counts.update(per_record[rid]["other"])
            counts.update(per_record[rid]["block21"][k])
        per_seed_totals[str(k)] = {n: totals(counts, n, records) for n in names}
    figures = {n: D.point_figures(per_seed_totals, n) for n in names}
    minus_off = {n: {r: {m: round(figures[n][r][m]["mean"] - figures[OFF_OF[n]][r][m]["mean"], 5)
                         for m in ("Se", "+P")} for r in RHYTHMS}
                 | {"errors": round(figures[n]["errors"]["mean"] - figures[OFF_OF[n]]["errors"]["mean"], 1)}
                 for n in names if n != OFF_OF[n]}
    # where the variants change errors (a look after the counts, chooses nothing): per record, FN + FP minus the off
    # point's at the same rate, summed over the four rhythms, mean over the seeds (block21 changes with the seed)
    per_record_minus = {}
    for n in minus_off:
        rows = {}
        for rid in records:
            row = {}
            for r in RHYTHMS:
                cs = [per_record[rid]["block21"][k] for k in SEEDS] if r == "block21" else [per_record[rid]["other"]]
                row[r] = round(sum(sum(c[f"{rid}|{r}|{n}"][1:]) - sum(c[f"{rid}|{r}|{OFF_OF[n]}"][1:])
                                   for c in cs) / len(cs), 1)
            if any(row.values()):
                rows[rid] = {"by_rhythm": row, "errors": round(sum(row.values()), 1)}
        per_record_minus[n] = dict(sorted(rows.items(), key=lambda kv: kv[1]["errors"]))
    seed_errors = {n: {k: errors(t[n]) for k, t in per_seed_totals.items()} for n in names}
    verdicts = {v: {"closes_rate_gap": bool(figures[f"s58_100_{v}"]["meets_target"]),
                    "safe_natively": all(seed_errors[f"s58_native_{v}"][k] <= seed_errors["s58_native_off"][k]
                                         for k in per_seed_totals)}
                for v in VARIANTS if v != "off"}
    result = {"experiment": EXPERIMENT, "command": " ".join(["python", SCRIPT] + argv), "records": records,
              "rhythms": list(RHYTHMS), "tolerance_ms": 150, "target": TARGET,
              "seeds": [f"record + {SEED_STEP} x {k}" for k in SEEDS], "plan": plan(argv),
              "off_reproduces_detect_rate": True, "points": figures, "minus_off": minus_off,
              "errors_minus_off_per_record": per_record_minus,
              "errors_per_seed": seed_errors, "verdicts": verdicts,
              "per_seed": {k: {n: {r: {m: t[n][r][m] for m in ("TP", "FN", "FP")} for r in RHYTHMS} for n in names}
                           for k, t in per_seed_totals.items()}}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({"points": {n: {"errors": figures[n]["errors"]["mean"],
                                     **{f"{r}_{m}": figures[n][r][m]["mean"] for r in RHYTHMS for m in ("Se", "+P")}}
                                 for n in names}, "verdicts": verdicts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
