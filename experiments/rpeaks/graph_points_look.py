"""Run s41-graphd1 (issue 21, "one detector, in Python and in the graph"): the graph's own R-peak detector points on
deliverable 1's benchmark, a measurement that chooses nothing.

    python experiments/rpeaks/graph_points_look.py --plan --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_graph_points_look_plan.json
    python experiments/rpeaks/graph_points_look.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_graph_points_look.json --cache-dir /work/runs/s41-graphd1/counts \\
        --reference-cache /work/runs/s41-graphd1/rate100_counts_copy
    python experiments/rpeaks/graph_points_look.py --fidelity-only --data-dir /work/shared/data/mitdb \\
        --work /work/runs/s41-graphd1/export --fidelity-records <the 22 DS1 records> \\
        --fidelity-rhythms normal bigeminy block21 --out benchmarks/results/rpeaks_graph_points_look_fidelity.json
    python experiments/rpeaks/graph_points_look.py --cumulative --data-dir /work/shared/data/mitdb --out /dev/null \\
        --cache-dir /work/runs/s41-graphd1/counts --reference-cache /work/runs/s41-graphd1/rate100_counts_copy \\
        --cumulative-cache /work/runs/s41-graphd1/counts_cumulative

(the counting run joins part 2's file and part 4's counts where present: run it last).

Why: deliverable 1's guard (Se and +P >= 0.997 on normal / bigeminy / block21 / pause built from MIT-BIH DS1) is run
s64's Python point (run s58's point with ``GuardConstants.blocked_p_gap`` 1.3), which runs about a dozen steps the
end-to-end graph does not (``serving/edge.py``'s ``PYTHON_ONLY_RPEAK_OPTIONS``); the graph detects at 100 Hz with a
subset (``GRAPH_RPEAK_FIELDS``). Nobody had counted the graph's own points on D1's benchmark.

Three parts (``POINTS``, ``FIDELITY``; fixed, written by ``--plan`` before any count; nothing is chosen):

1. The graph-runnable points in Python, natively and at 100 Hz (``detect_rate.detect_at_rate``, mapped): the
   ``cinc2017-edge`` preset's signal config (``preset``: its R-peak fields are ``SignalConfig()``'s, so its counts must
   equal run s39-rate100's ``today_native`` / ``today_100_mapped`` on every build, else the run stops) and
   ``on_post_wide_first`` (``graph``; ``s58_agreement.GRAPH``: the preset with ``gap_port.POINTS["on_post_wide"]`` and
   ``rpeak_keep_first_beat``; the graph a s58 default would export). "Natively" is the benchmark's: detection at the
   record's rate (``detect_at_native_rate`` on). The preset as shipped has it off (its Python path cleans and guards
   at the record's rate but detects at 100 Hz inside ``find_rpeaks``); both points are counted that way too
   (``preset_serving``, ``graph_serving``). Amended before the counts: the first sizing count (record 203) stopped at
   the recount check, the shipped preset's native count differing from today's, which is how this was found.
2. Fidelity: the in-graph detector itself (each point's end-to-end float32 TFLite file, ``edge.export_end_to_end``;
   its 30 s windows at 100 Hz, ``gap_port.graph_windows``) against the Python point at 100 Hz, on the normal rhythm of
   ``FIDELITY_RECORDS`` (run s58b's builder), 50 ms, on the beats the file can classify (``gap_port.score_windows``):
   the Python point on the whole record (as part 1 counts it) and on each 30 s window alone (the graph's input). Also
   each side against the annotations (150 ms, ``cluster.match``) on the same builds.
3. Each Python-only step of run s64's point (``s58_agreement.MISSING`` less the first beat, which
   ``on_post_wide_first`` has) added alone to ``on_post_wide_first`` at 100 Hz (``step_points``: the step's options at
   run s64's values, with run s64's ``rpeak_guard_constants``, which the graph's steps do not read); then all of them
   (= run s64's point at 100 Hz) and that with run s41-t201's kept QRS-unlike T-wave veto (``GuardConstants``
   ``t_wave_unlike_*`` at 0.6 / 0.8 / 0.8, ``region_rate.UNLIKE_VALUES["unlike060_s08"]``; run s41-t201 kept it on
   run s40-slope2's point, with the fixed-step slopes; here on run s64's point, without them). A check point,
   ``constants_only_100``: ``on_post_wide_first`` with run s64's ``rpeak_guard_constants`` and no step; its peaks
   must be ``graph_100``'s on every build (no ``|changes``), so that each step's effect is the step's.

All 22 MIT-BIH DS1 records, the four built rhythms on run s58b's builder (block21 on five builder seeds), 150 ms,
counted by ``detect_rate.count_points``. ``REPORT_RULE`` says what is reported. Part 4 (``CUMULATIVE_ORDER``, added after
part 3's figures, not blind): the steps that removed errors alone, added one after another in the ranking's order.
Part 2 was planned on three records (``FIDELITY_RECORDS``; 100, not in the DS1 data, replaced by 101) and then run on
all 22 and three rhythms (``--fidelity-records``, ``--fidelity-rhythms``). Prints one JSON object last.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "edge"))
import detect_rate as D  # noqa: E402
import gap_port  # noqa: E402
import minimum_gap  # noqa: E402
from block21_seam import JOINS, SEED_STEP, SEEDS  # noqa: E402
from cluster import RHYTHMS, errors, match, rhythm_signals  # noqa: E402
from region_rate import UNLIKE_VALUES  # noqa: E402
from s58_agreement import GRAPH, MISSING  # noqa: E402

from ecgsl_keras import tasks  # noqa: E402
from ecgsl_keras.bench.rpeaks import in_episodes  # noqa: E402
from ecgsl_keras.config import SignalConfig  # noqa: E402
from ecgsl_keras.data import rpeaks  # noqa: E402
from ecgsl_keras.data.filters import resample  # noqa: E402

log = logging.getLogger("experiments.rpeaks.graph_points_look")
SCRIPT = "experiments/rpeaks/graph_points_look.py"
EXPERIMENT = "rpeaks_graph_points_look"
TARGET = D.TARGET
GRAPH_POINT = "on_post_wide_first"
# run s41-t201's kept value of the QRS-unlike T-wave veto (rpeaks_t_wave_unlike.json keep.chosen_on_all_records)
VETO_VALUE = "unlike060_s08"
VETO = dict(zip(("t_wave_unlike_correlation", "t_wave_unlike_amplitude", "t_wave_unlike_sharpness"),
                UNLIKE_VALUES[VETO_VALUE]))
STEPS = tuple(s for s in MISSING if s != "first_beat")     # on_post_wide_first has the first beat
FIDELITY_RECORDS = ("101", "119", "208")   # a clean one, one with bigeminy episodes, one with trigeminy / many PVCs
# the builds of part 2 (as record_counts builds them; block21 at builder seed k = 0)
FIDELITY_BUILDS = {"normal": {"names": ("normal",), "artifacts": True},
                   "bigeminy": {"names": ("bigeminy",), "artifacts": True},
                   "block21": {"names": ("block21",), "t_end_s": None, "join_edge_s": JOINS["new"], "artifacts": True,
                               "own_onset": True}}
FIDELITY_TOLERANCE_S = 0.05                # gap_port's agreement tolerance (deliverable 2: 50 ms)
REPORT_RULE = (
    "no choice: fixed points on all 22 DS1 records, five builder seeds. Reported per point: each rhythm's Se and +P "
    "(mean and sd over the seeds) and its mean minus 0.997, FN + FP over the four rhythms (mean and sd). Part 3: per "
    "step, the FN + FP it removes added alone to on_post_wide_first at 100 Hz (mean over the seeds, and on every "
    "seed), the beats it finds / loses and false beats it adds / removes, and each rhythm's distance to 0.997; the "
    "steps ranked by the mean FN + FP removed (the order in which a port would pay on D1 if the steps added up); the "
    "point with all of them (run s64's at 100 Hz) and with run s41-t201's veto. Part 2: per record and in all, Python "
    "at 100 Hz against the graph's float32 file (50 ms, classifiable beats; Se = graph finds Python's peaks, +P = "
    "Python has the graph's), whole record and per window, and each side against the annotations (150 ms)")


def preset_signal() -> SignalConfig:
    """The ``cinc2017-edge`` preset's signal config as shipped (``gap_port._configs``)."""
    return gap_port._configs({"preset": {}})[2]["preset"].signal


def step_points(graph_config: SignalConfig, full_config: SignalConfig, missing: dict) -> dict:
    """Per step of ``missing`` (name -> the options that turn it off), ``graph_config`` with that step's options at
    ``full_config``'s values (the step on, alone), and ``"all"`` with every step's; each with ``full_config``'s
    ``rpeak_guard_constants`` (the overrides of the steps the graph does not run), and ``"none"`` with the constants
    alone (no step: must make the same peaks as ``graph_config``). name -> SignalConfig."""
    constants = {"rpeak_guard_constants": dict(full_config.rpeak_guard_constants)}
    out = {step: dataclasses.replace(graph_config, **constants,
                                     **{k: getattr(full_config, k) for k in off})
           for step, off in missing.items()}
    out["none"] = dataclasses.replace(graph_config, **constants)
    out["all"] = dataclasses.replace(graph_config, **constants,
                                     **{k: getattr(full_config, k) for off in missing.values() for k in off})
    return out


def s64_config() -> SignalConfig:
    """Run s64's point (run s58's with ``blocked_p_gap`` 1.3) as ``minimum_gap.points("s64")`` builds it."""
    name = f"{minimum_gap.BASELINE}__{minimum_gap.suffix(minimum_gap.S64_POINT)}"
    return {n: c for n, c, _, _ in minimum_gap.points("s64")}[name]


@functools.lru_cache(maxsize=1)
def configs() -> dict:
    """Config name -> SignalConfig of every point (module docstring)."""
    shipped = preset_signal()
    # the benchmark's "native" detects at the record's rate; the preset as shipped detects at target_fs (100 Hz) inside
    # find_rpeaks (detect_at_native_rate off: its serving setting, counted apart as "_serving"); at 100 Hz the two agree
    preset = dataclasses.replace(shipped, detect_at_native_rate=True)
    graph = dataclasses.replace(preset, **GRAPH[GRAPH_POINT])
    full = s64_config()
    steps = step_points(graph, full, {s: MISSING[s] for s in STEPS})
    s64 = steps.pop("all")
    veto = dataclasses.replace(s64, rpeak_guard_constants=dict(s64.rpeak_guard_constants) | VETO)
    constants_only = steps.pop("none")
    return {"preset": preset, "graph": graph, "constants_only": constants_only, "preset_serving": shipped,
            "graph_serving": dataclasses.replace(shipped, **GRAPH[GRAPH_POINT]), **{f"plus_{s}": c for s, c in steps.items()}, "s64": s64,
            "s64_veto": veto}


# (point, config name, rate, mapping); the preset's points carry the key run s39-rate100 counted them under
POINTS = (("preset_native", "preset", "native", None), ("preset_100", "preset", "100", "mapped"),
          ("graph_native", "graph", "native", None), ("graph_100", "graph", "100", "mapped"),
          ("constants_only_100", "constants_only", "100", "mapped"),
          ("preset_serving", "preset_serving", "native", None), ("graph_serving", "graph_serving", "native", None),
          *((f"plus_{s}_100", f"plus_{s}", "100", "mapped") for s in STEPS),
          ("s64_100", "s64", "100", "mapped"), ("s64_veto_100", "s64_veto", "100", "mapped"))
CACHED_AS = {"preset_native": "today_native", "preset_100": "today_100_mapped"}
BASE_OF = {"preset_native": "preset_native", "preset_100": "preset_100", "graph_native": "preset_native",
           "graph_100": "preset_100", "constants_only_100": "graph_100", "preset_serving": "preset_native", "graph_serving": "preset_serving", **{f"plus_{s}_100": "graph_100" for s in STEPS}, "s64_100": "graph_100",
           "s64_veto_100": "s64_100"}
# Part 4, added after part 3's figures (not blind: ordered by its ranking; chooses nothing): the steps that removed
# errors alone, added one after another in that order (``cum2``: the first two, ... ``cum7``: all seven); run s64's
# point is cum7 with the three steps that removed nothing alone (residual, second run, templates)
CUMULATIVE_ORDER = ("p_wave", "second_proposer", "t_wave", "cluster_rescue", "blocked_p", "s58_gap_pair",
                    "s51_gap_final_after_guard")
CUMULATIVE_POINTS = tuple((f"cum{k}_100", f"cum{k}", "100", "mapped") for k in range(2, len(CUMULATIVE_ORDER) + 1))


def cumulative_configs() -> dict:
    """``cum<k>``: ``on_post_wide_first`` with the first k steps of ``CUMULATIVE_ORDER`` (``step_points``' "all")."""
    graph, full = configs()["graph"], s64_config()
    return {f"cum{k}": step_points(graph, full, {s: MISSING[s] for s in CUMULATIVE_ORDER[:k]})["all"]
            for k in range(2, len(CUMULATIVE_ORDER) + 1)}


def count_cumulative(data_dir, rid, reference, **signals) -> dict:
    return D.count_points(data_dir, rid, reference, CUMULATIVE_POINTS, cumulative_configs(), {},
                          {n: n for n, _, _, _ in CUMULATIVE_POINTS}, **signals)


# run s39-rate100's counts of run s58's point, read beside (not recounted): where run s64's point stood before g
REFERENCE_ROWS = {"s58_native": "s58_native", "s58_100": "s58_100_mapped"}


def count(data_dir, rid, reference, **signals) -> dict:
    return D.count_points(data_dir, rid, reference, POINTS, configs(), CACHED_AS, BASE_OF, **signals)


def with_reference_rows(per_record, reference_dir: Path) -> dict:
    """``per_record`` with ``REFERENCE_ROWS`` read from run s39-rate100's counts of the same builds."""
    for rid, counts in per_record.items():
        files = {"other": json.loads((reference_dir / f"{rid}_other.json").read_text())}
        files |= {k: json.loads((reference_dir / f"{rid}_block21_k{k}.json").read_text()) for k in SEEDS}
        for name, key in REFERENCE_ROWS.items():
            for part, target in [("other", counts["other"])] + [(k, counts["block21"][k]) for k in SEEDS]:
                for ck, v in files[part].items():
                    bits = ck.split("|")
                    if len(bits) == 3 and bits[2] == key:
                        target[f"{bits[0]}|{bits[1]}|{name}"] = v
    return per_record


def ranking(figures, seed_errors, changed) -> list:
    """Part 3: the steps by mean FN + FP removed against ``graph_100`` (most first), with the per-seed sign and each
    rhythm's Se / +P mean minus 0.997."""
    rows = []
    for s in STEPS:
        n = f"plus_{s}_100"
        removed = round(figures["graph_100"]["errors"]["mean"] - figures[n]["errors"]["mean"], 1)
        rows.append({"step": s, "options": {k: getattr(configs()[f"plus_{s}"], k) for k in MISSING[s]},
                     "removed_mean": removed,
                     "removed_per_seed": {k: seed_errors["graph_100"][k] - seed_errors[n][k] for k in seed_errors[n]},
                     "fewer_on_every_seed": all(seed_errors[n][k] < seed_errors["graph_100"][k] for k in seed_errors[n]),
                     "changes": changed.get(n),
                     "minus_target": {r: {m: figures[n][r][m]["minus_target"] for m in ("Se", "+P")} for r in RHYTHMS}})
    return sorted(rows, key=lambda r: -r["removed_mean"])


def cumulative_figures(figures, seed_errors) -> list:
    """Part 4: per step of ``CUMULATIVE_ORDER``, the point with it and every step before it (the first: ``plus_<step>``,
    the last three zero steps added: ``s64_100``), its FN + FP (mean, sd), the errors that step removed there (mean,
    and on every seed) and each rhythm's Se / +P mean minus 0.997."""
    chain = ["graph_100", f"plus_{CUMULATIVE_ORDER[0]}_100"] + [n for n, _, _, _ in CUMULATIVE_POINTS] + ["s64_100",
                                                                                                           "s64_veto_100"]
    steps = [None, CUMULATIVE_ORDER[0], *CUMULATIVE_ORDER[1:], "residual + second_run + templates", "t_wave_unlike veto"]
    rows = []
    for i, (n, step) in enumerate(zip(chain, steps)):
        before = chain[i - 1] if i else None
        rows.append({"point": n, "step_added": step, "errors": figures[n]["errors"],
                     "removed_mean": (round(figures[before]["errors"]["mean"] - figures[n]["errors"]["mean"], 1)
                                      if before else None),
                     "fewer_on_every_seed": (all(seed_errors[n][k] < seed_errors[before][k] for k in seed_errors[n])
                                             if before else None),
                     "meets_target": figures[n]["meets_target"],
                     "minus_target": {r: {m: figures[n][r][m]["minus_target"] for m in ("Se", "+P")} for r in RHYTHMS}})
    return rows


def fidelity(args) -> dict:
    """Part 2 (module docstring): per graph-runnable point, its float32 file against the Python point at 100 Hz."""
    from ecgsl_keras.serving import edge
    from ecgsl_keras.serving.export import load_classifier

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cfgs = configs()
    options = {"preset": {}, "graph": GRAPH[GRAPH_POINT]}
    model_path, task, exp_configs = gap_port._configs(options)
    classifier = None
    out = {}
    for point, opts in options.items():
        folder = work / f"export_{point}"
        if not (folder / edge.tflite_name("float32")).is_file():
            classifier = classifier or load_classifier(model_path)
            edge.export_end_to_end(classifier, exp_configs[point], task, folder, formats=("float32",))
        # the file's signal config is the counted point's (detect_at_native_rate aside: no effect at 100 Hz)
        assert exp_configs[point].signal == dataclasses.replace(cfgs[point], detect_at_native_rate=False), point
        meta = json.loads((folder / edge.METADATA_NAME).read_text())
        rate, window = float(meta["input"]["rate_hz"]), int(meta["input"]["max_samples"])
        lo, hi = gap_port.classifiable_margins(cfgs[point], rate)
        run = edge.Runner(folder / edge.tflite_name("float32"), num_threads=1)
        rows = {}
        for rid, rhythm in [(r, h) for r in (args.fidelity_records or FIDELITY_RECORDS)
                            for h in (args.fidelity_rhythms or ("normal",))]:
            for _, built, fs, _, _ in rhythm_signals(args.data_dir, rid, {f"{rid}|{rhythm}|today": []},
                                                     **FIDELITY_BUILDS[rhythm]):
                at = resample(np.asarray(built["signal"], np.float64), fs, rate)
                windows = gap_port.graph_windows(run, at.astype(np.float32), window)
                whole = rpeaks.find_rpeaks(at, rate, cfgs[point])
                alone = [rpeaks.find_rpeaks(at[s:s + n], rate, cfgs[point]) + s for s, n, _ in windows]
                # the same, both sides' peaks outside the episodes the benchmark leaves out (VF, bench.rpeaks)
                out_vf = lambda p: p[~in_episodes(np.rint(p * fs / rate).astype(np.int64), built["episodes"])]  # noqa: E731
                row = {"windows": len(windows), "seconds": round(built["signal"].size / fs, 1),
                       "whole_record": counts_only(gap_port.score_windows(windows, whole, lo, hi, rate)),
                       "whole_record_outside_vf": counts_only(gap_port.score_windows(
                           [(s, n, out_vf(found)) for s, n, found in windows], out_vf(whole), lo, hi, rate)),
                       "per_window": counts_only(summed(gap_port.score_windows([w], p, lo, hi, rate)
                                                        for w, p in zip(windows, alone)))}
                zones, graph_peaks = classifiable_zones(windows, lo, hi, fs, rate)
                for side, peaks in (("python", whole), ("graph", graph_peaks)):
                    row[f"{side}_vs_annotations"] = list(match(*in_zones(built, peaks * fs / rate, zones), fs)[:3])
                rows[f"{rid}|{rhythm}"] = row
                log.info("fidelity %s %s %s: %s", point, rid, rhythm, row)
        groups = {"all": list(rows.values()), **{h: [r for k, r in rows.items() if k.endswith(f"|{h}")]
                                                 for h in (args.fidelity_rhythms or ("normal",))},
                  "planned": [r for k, r in rows.items() if k in {f"{i}|normal" for i in FIDELITY_RECORDS}]}
        totals = {g: fidelity_totals(rs) for g, rs in groups.items()}
        out[point] = {"records": rows, **totals, "rate_hz": rate, "window_samples": window,
                      "classifiable_margins": [lo, hi], "file": str(folder / edge.tflite_name("float32"))}
    return out


def classifiable_zones(windows, lo, hi, fs, rate) -> tuple:
    """(zones at the record's rate ``fs``, the file's peaks at ``rate`` inside them) for ``gap_port.graph_windows``'
    ``windows``: each side is counted against the annotations (150 ms, VF left out) on the beats the file can classify
    only (it reports no beat within its margins ``lo`` / ``hi`` of a window's ends); the last window overlaps the one
    before: its zone starts where that one's ends, and the file's peaks are taken from its own zone."""
    zones, graph_peaks, end = [], [], -np.inf
    for s, n, found in windows:
        a, b = max(s + lo, end), s + n - hi
        zones.append((a * fs / rate, b * fs / rate))
        graph_peaks.append(found[(found >= a) & (found < b)])
        end = max(end, b)
    return zones, (np.concatenate(graph_peaks) if graph_peaks else np.zeros(0, np.int64))


def fidelity_totals(rows) -> dict:
    """Part 2's counts summed over ``rows`` with Se / +P: graph against Python (whole record, per window) and each side
    against the annotations."""
    total = {part: {k: sum(r[part][k] for r in rows) for k in ("tp", "fn", "fp")}
             for part in ("whole_record", "whole_record_outside_vf", "per_window")}
    total |= {part: {k: sum(r[part][i] for r in rows) for i, k in enumerate(("tp", "fn", "fp"))}
              for part in ("python_vs_annotations", "graph_vs_annotations")}
    for t in total.values():
        t["Se"] = round(t["tp"] / max(t["tp"] + t["fn"], 1), 5)
        t["+P"] = round(t["tp"] / max(t["tp"] + t["fp"], 1), 5)
    total["builds"] = len(rows)
    total["records_with_any_difference"] = sum(1 for r in rows if r["whole_record"]["fn"] + r["whole_record"]["fp"])
    return total


def differences_by_record(rows) -> dict:
    """Where part 2's whole-record differences are (a look, chooses nothing): per record, graph against Python FN + FP
    summed over its rhythms, most first, and the two records with the most as a share of all."""
    by = {}
    for key, r in rows.items():
        rid = key.split("|")[0]
        by[rid] = by.get(rid, 0) + r["whole_record"]["fn"] + r["whole_record"]["fp"]
    by = dict(sorted(by.items(), key=lambda kv: -kv[1]))
    total = sum(by.values())
    return {"by_record": by, "total": total, "top2": list(by)[:2],
            "top2_share": round(sum(list(by.values())[:2]) / max(total, 1), 4)}


def counts_only(score) -> dict:
    return {k: int(score[k]) for k in ("tp", "fn", "fp")}


def summed(scores) -> dict:
    out = {"tp": 0, "fn": 0, "fp": 0}
    for c in scores:
        for k in out:
            out[k] += int(c[k])
    return out


def in_zones(built, peaks, zones) -> tuple:
    """(``built`` with its reference beats inside ``zones`` only, the peaks inside them, unique int64): zones are
    half-open sample intervals at the record's rate (``[(a, b)]``)."""
    def inside(p):
        p = np.asarray(p, np.float64)
        keep = np.zeros(p.shape, bool)
        for a, b in zones:
            keep |= (p >= a) & (p < b)
        return keep

    beats = np.asarray(built["beats"])
    peaks = np.unique(np.rint(np.asarray(peaks, np.float64)).astype(np.int64))
    return dict(built, beats=beats[inside(beats)]), peaks[inside(peaks)]


def plan(argv) -> dict:
    cfgs = configs()
    shown = lambda c: {f.name: getattr(c, f.name) for f in dataclasses.fields(c)  # noqa: E731
                       if f.name.startswith("rpeak_") and getattr(c, f.name) != getattr(SignalConfig(), f.name)}
    return {"experiment": EXPERIMENT, "command": " ".join(["python", SCRIPT] + argv), "blind": "no choice is made",
            "points": [{"name": n, "config": c, "rate": r, "counted_as": CACHED_AS.get(n, n), "base": BASE_OF[n]}
                       for n, c, r, _ in POINTS],
            "configs": {name: shown(c) for name, c in cfgs.items()},
            "steps": {s: MISSING[s] for s in STEPS}, "veto": {"value": VETO_VALUE, **VETO},
            "reference_rows": REFERENCE_ROWS, "rate_hz": D.RATE, "mapping": "detect_rate.detect_at_rate, mapped",
            "records": list(tasks.MITDB_DS1), "rhythms": list(RHYTHMS), "tolerance_ms": 150, "target": TARGET,
            "builder": "run s58b's (as detect_rate.py)", "seeds": [f"record + {SEED_STEP} x {k}" for k in SEEDS],
            "fidelity": {"records": list(FIDELITY_RECORDS), "rhythm": "normal", "tolerance_s": FIDELITY_TOLERANCE_S,
                         "file": "float32 end-to-end TFLite (edge.export_end_to_end), 30 s windows at 100 Hz"},
            "report_rule": REPORT_RULE}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--cache-dir", default="/work/runs/s41-graphd1/counts")
    parser.add_argument("--reference-cache", default="/work/runs/s41-graphd1/rate100_counts_copy",
                        help="a copy of run s39-rate100's counts (the preset's recount must equal them)")
    parser.add_argument("--work", default="/work/runs/s41-graphd1/export", help="the end-to-end files (part 2)")
    parser.add_argument("--cumulative-cache", default="/work/runs/s41-graphd1/counts_cumulative",
                        help="part 4's counts (counted with --cumulative; joined to the results where present)")
    parser.add_argument("--cumulative", action="store_true", help="count part 4's points (to --cumulative-cache)")
    parser.add_argument("--records", nargs="+", help="count these records only and stop")
    parser.add_argument("--fidelity-records", nargs="+", help="default: FIDELITY_RECORDS (the planned three)")
    parser.add_argument("--fidelity-rhythms", nargs="+", choices=sorted(FIDELITY_BUILDS), help="default: normal")
    parser.add_argument("--fidelity-only", action="store_true", help="part 2 only, to --out, and stop")
    parser.add_argument("--plan", action="store_true", help="write the points and the report rule (no count) and stop")
    args = parser.parse_args(argv)
    if not Path(args.data_dir).is_dir():
        print(f"error: --data-dir {args.data_dir}: not a directory", file=sys.stderr)
        return 2
    if args.plan:
        result = plan(argv)
        Path(args.out).write_text(json.dumps(result, indent=2, default=str) + "\n")
        print(json.dumps({"points": len(POINTS)}))
        return 0
    if args.fidelity_only:
        result = {"experiment": EXPERIMENT + "_fidelity", "command": " ".join(["python", SCRIPT] + argv),
                  "fidelity": fidelity(args)}
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps({p: v["all"] for p, v in result["fidelity"].items()}))
        return 0
    records = list(tasks.MITDB_DS1)
    cumulative = argparse.Namespace(**{**vars(args), "cache_dir": args.cumulative_cache})
    if args.cumulative:
        for rid in args.records or records:
            D.record_counts(cumulative, rid, count_cumulative, "run s39-rate100")
        print(json.dumps({"counted_cumulative": args.records or records}))
        return 0
    per_record = {rid: D.record_counts(args, rid, count, "run s39-rate100") for rid in (args.records or records)}
    if args.records:
        print(json.dumps({"counted": args.records}))
        return 0
    per_record = with_reference_rows(per_record, Path(args.reference_cache))
    names = [n for n, _, _, _ in POINTS] + list(REFERENCE_ROWS)
    if all((Path(args.cumulative_cache) / f"{rid}_other.json").is_file() for rid in records):
        for rid in records:   # part 4's counts, read from its cache (counted there with --cumulative)
            extra = D.record_counts(cumulative, rid, count_cumulative, "run s39-rate100")
            per_record[rid]["other"].update(extra["other"])
            for k in SEEDS:
                per_record[rid]["block21"][k].update(extra["block21"][k])
        names += [n for n, _, _, _ in CUMULATIVE_POINTS]
    per_seed_totals = D.seed_totals(per_record, names, records)
    figures = {n: D.point_figures(per_seed_totals, n) for n in names}
    seed_errors = {n: {k: errors(t[n]) for k, t in per_seed_totals.items()} for n in names}
    base_of = BASE_OF | {n: n for n in REFERENCE_ROWS} | {n: n for n, _, _, _ in CUMULATIVE_POINTS}
    changed = D.changes_vs_base(per_record, [n for n, _, _, _ in POINTS], BASE_OF, records)
    if any(changed["constants_only_100"].values()):   # run s64's constants must not move the graph's own steps
        raise RuntimeError(f"constants_only_100 differs from graph_100: {changed['constants_only_100']}")
    result = {"experiment": EXPERIMENT, "command": " ".join(["python", SCRIPT] + argv), "records": records,
              "rhythms": list(RHYTHMS), "tolerance_ms": 150, "target": TARGET,
              "seeds": [f"record + {SEED_STEP} x {k}" for k in SEEDS], "plan": json.loads(json.dumps(plan(argv),
                                                                                                     default=str)),
              "preset_reproduces_today": True, "points": figures, "minus_base": D.minus_base(figures, base_of),
              "errors_per_seed": seed_errors, "changes_vs_base": changed,
              "ranking": ranking(figures, seed_errors, changed),
              "cumulative": cumulative_figures(figures, seed_errors) if "cum2_100" in figures else None,
              "errors_minus_base_per_record": {n: D.per_record_errors(per_record, n, BASE_OF[n], records)
                                               for n in BASE_OF if BASE_OF[n] != n},
              "per_seed": {k: {n: {r: {m: t[n][r][m] for m in ("TP", "FN", "FP")} for r in RHYTHMS} for n in names}
                           for k, t in per_seed_totals.items()}}
    fid = Path(args.out).with_name(EXPERIMENT + "_fidelity.json")
    if fid.is_file():
        result["fidelity"] = json.loads(fid.read_text())["fidelity"]
        result["fidelity_where"] = {p: differences_by_record(v["records"]) for p, v in result["fidelity"].items()}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({"points": {n: {"errors": figures[n]["errors"]["mean"],
                                     **{f"{r}_{m}": figures[n][r][m]["mean"] for r in RHYTHMS for m in ("Se", "+P")}}
                                 for n in names},
                      "ranking": [(r["step"], r["removed_mean"]) for r in result["ranking"]]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
