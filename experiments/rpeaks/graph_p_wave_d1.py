"""Run s41-gd1p (issue 21): the in-graph R-peak detector itself against the MIT-BIH annotations on deliverable 1's
benchmark, without and with the graph's P-wave check (``EndToEnd.p_wave_check``), a measurement that chooses nothing.

    python experiments/rpeaks/graph_p_wave_d1.py --data-dir /work/shared/data/mitdb \\
        --work /work/runs/s41-pport/port --cache /work/runs/s41-gd1p/rows.jsonl \\
        --out benchmarks/results/rpeaks_graph_p_wave_d1.json

The two float32 end-to-end files of run s41-pport (the ``cinc2017-edge`` preset at ``gap_port.POINTS["on_post_wide"]``,
and that with ``rpeak_guard_p_wave`` 1.0; no file at ``on_post_wide_first`` had the check), each on its 30 s windows at
100 Hz (``gap_port.graph_windows``), counted as run s41-graphd1's part 2 counts the graph against the annotations
(``graph_points_look.classifiable_zones``: 150 ms, VF left out, on the beats the file can classify), on all 22 DS1
records and the four rhythms of run s58b's builder (``FIDELITY_BUILDS``; pause with normal's options; block21 on
the builder seeds ``--seeds``; normal / bigeminy / pause have one build, seed = record). Per rhythm Se / +P (block21:
mean and sd over the seeds) and the distance to 0.997, FN + FP over the four rhythms, and the check's difference.
Prints one JSON object last; per-record rows are cached (``--cache``, resumable).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import types
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "edge"))
import gap_port  # noqa: E402
import graph_points_look as G  # noqa: E402
from block21_seam import SEED_STEP, mean_sd  # noqa: E402
from cluster import RHYTHMS, match, rhythm_signals  # noqa: E402

from ecgsl_keras.data.filters import resample  # noqa: E402

log = logging.getLogger("experiments.rpeaks.graph_p_wave_d1")
EXPERIMENT = "rpeaks_graph_p_wave_d1"
FILES = {"off": "export_on_post_wide", "p_wave": "export_on_post_wide_p_wave"}
BUILDS = {**G.FIDELITY_BUILDS, "pause": {**G.FIDELITY_BUILDS["normal"], "names": ("pause",)}}
EMULATION = ("graph_100", "plus_p_wave_100")     # run s41-graphd1's Python points (on_post_wide_first at 100 Hz)


def record_rows(args, rid, runners) -> dict:
    """Record ``rid``'s builds: ``{"<rhythm>|k<seed>": {file: [tp, fn, fp]}}``."""
    rows = {}
    builds = [(h, 0) for h in ("normal", "bigeminy", "pause")] + [("block21", k) for k in args.seeds]
    for rhythm, k in builds:
        skip = {f"{rid}|{rhythm}|today": []}      # rhythm_signals scores today's detector unless told it has
        for _, built, fs, _, _ in rhythm_signals(args.data_dir, rid, skip, seed_offset=SEED_STEP * k,
                                                 **BUILDS[rhythm]):
            row = {}
            for name, (run, rate, window, lo, hi) in runners.items():
                at = resample(np.asarray(built["signal"], np.float64), fs, rate).astype(np.float32)
                zones, peaks = G.classifiable_zones(gap_port.graph_windows(run, at, window), lo, hi, fs, rate)
                row[name] = [int(v) for v in match(*G.in_zones(built, peaks * fs / rate, zones), fs)[:3]]
            rows[f"{rhythm}|k{k}"] = row
            log.info("%s %s k%d: %s", rid, rhythm, k, row)
    return rows


def rates(tp, fn, fp) -> dict:
    return {"Se": round(tp / max(tp + fn, 1), 5), "+P": round(tp / max(tp + fp, 1), 5)}


def figures(per_record, name, seeds) -> dict:
    """Per rhythm: Se / +P (block21: mean, sd over ``seeds``), minus 0.997, FN, FP (means); FN + FP in all."""
    out, errors = {}, []
    for rhythm in RHYTHMS:
        ks = seeds if rhythm == "block21" else [0]
        per_k = [np.sum([r[f"{rhythm}|k{k}"][name] for r in per_record.values()], axis=0) for k in ks]
        r = {m: mean_sd([rates(*t)[m] for t in per_k]) for m in ("Se", "+P")}
        for m in ("Se", "+P"):
            r[m]["minus_target"] = round(r[m]["mean"] - G.TARGET, 5)
        r["FN"], r["FP"] = (round(float(np.mean([t[i] for t in per_k])), 1) for i in (1, 2))
        r["TP"] = round(float(np.mean([t[0] for t in per_k])), 1)
        out[rhythm] = r
    errors = [sum(int(np.sum([r[f"{h}|k{k if h == 'block21' else 0}"][name][1:] for r in per_record.values()]))
                  for h in RHYTHMS) for k in seeds]
    out["errors"] = {**mean_sd(errors), "per_seed": dict(zip(map(str, seeds), errors))}
    return out


def removed_by_record(per_record, seeds) -> dict:
    """Per record, the FN + FP the check removes per rhythm (block21: mean over ``seeds``) and in all, the records where
    it removes or adds any, most first."""
    out = {}
    for rid, rows in per_record.items():
        by = {h: round(float(np.mean([sum(rows[f"{h}|k{k}"]["off"][1:]) - sum(rows[f"{h}|k{k}"]["p_wave"][1:])
                                      for k in (seeds if h == "block21" else [0])])), 1) for h in RHYTHMS}
        if any(by.values()):
            out[rid] = {"by_rhythm": by, "errors": round(sum(by.values()), 1)}
    return dict(sorted(out.items(), key=lambda kv: -abs(kv[1]["errors"])))


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--work", default="/work/runs/s41-pport/port", help="run s41-pport's export folders")
    parser.add_argument("--cache", default="/work/runs/s41-gd1p/rows.jsonl")
    parser.add_argument("--out", required=True)
    parser.add_argument("--records", nargs="+", default=list(G.tasks.MITDB_DS1))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="block21's builder seeds k")
    parser.add_argument("--count-only", action="store_true", help="count --records into --cache and stop")
    args = parser.parse_args(argv)
    from ecgsl_keras.serving import edge

    runners = {}
    for name, folder in FILES.items():
        path = Path(args.work) / folder / edge.tflite_name("float32")
        if not path.is_file():
            parser.error(f"{path}: run s41-pport's float32 end-to-end file is missing (--work)")
        meta = json.loads((path.parent / edge.METADATA_NAME).read_text())
        rate, window = float(meta["input"]["rate_hz"]), int(meta["input"]["max_samples"])
        lo, hi = gap_port.classifiable_margins(types.SimpleNamespace(**meta["signal_config"]), rate)
        runners[name] = (edge.Runner(path, num_threads=1), rate, window, lo, hi)
    cache = Path(args.cache)
    done = gap_port.read_rows(cache)
    for rid in args.records:
        have = done.get(rid, {}).get("rows", {})
        if all(f"block21|k{k}" in have for k in args.seeds) and "normal|k0" in have:
            continue
        done[rid] = {"record": rid, "rows": {**have, **record_rows(args, rid, runners)}}
        with cache.open("a") as f:
            f.write(json.dumps(done[rid]) + "\n")
    if args.count_only:
        return 0
    per_record = {rid: done[rid]["rows"] for rid in args.records}
    seeds = [k for k in args.seeds if all(f"block21|k{k}" in r for r in per_record.values())]
    out = {"experiment": EXPERIMENT, "command": " ".join(["python", "experiments/rpeaks/graph_p_wave_d1.py",
                                                          *(argv if argv is not None else sys.argv[1:])]),
           "records": args.records, "block21_seeds": [f"record + {SEED_STEP} x {k}" for k in seeds],
           "tolerance_ms": 150, "target": G.TARGET, "choice": "none (a measurement of two fixed files)",
           "files": {n: str(Path(args.work) / f) for n, f in FILES.items()}}
    out["graph"] = {n: figures(per_record, n, seeds) for n in FILES}
    out["per_record"] = per_record     # [tp, fn, fp] per build and file
    off, on = out["graph"]["off"], out["graph"]["p_wave"]
    out["p_wave_removes"] = {"errors": round(off["errors"]["mean"] - on["errors"]["mean"], 1),
                             **{h: {m: round(off[h][m] - on[h][m], 1) for m in ("FN", "FP")} for h in RHYTHMS}}
    out["p_wave_removes_by_record"] = removed_by_record(per_record, seeds)
    emu = json.loads((G.HERE.parent.parent / "benchmarks/results/rpeaks_graph_points_look.json").read_text())["points"]
    out["python_emulation"] = {
        "points": dict(zip(("off", "p_wave"), EMULATION)), "note": "run s41-graphd1: on_post_wide_first in Python at "
        "100 Hz, whole records, five block21 seeds; the graph here: on_post_wide, classifiable beats, block21 seeds "
        "above",
        **{n: {**{h: {m: emu[p][h][m]["mean"] for m in ("Se", "+P")} | {"FN": emu[p][h]["FN"], "FP": emu[p][h]["FP"]}
                  for h in RHYTHMS}, "errors": emu[p]["errors"]["mean"]} for n, p in zip(("off", "p_wave"), EMULATION)}}
    out["python_emulation"]["p_wave_removes"] = round(emu[EMULATION[0]]["errors"]["mean"]
                                                      - emu[EMULATION[1]]["errors"]["mean"], 1)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
