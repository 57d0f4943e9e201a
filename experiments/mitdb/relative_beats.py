"""Run v37 (issue 18, deliverable 3): the per-beat ECG-SL model given each beat RELATIVE to its record's usual beat.

    python experiments/mitdb/run.py --work WORK --steps data cv inner --variants scratch_focal --beat-reference median
    python experiments/mitdb/beats_preset.py --work WORK --steps table export --export-to WORK/left_out_k2_median.npz \\
        --out WORK/export.json
    python experiments/mitdb/relative_beats.py --work WORK --candidate WORK/left_out_k2_median.npz [--commit]

Why: ECG-SL's own V false positives concentrate on records whose every beat is wide (108, 118: right bundle branch
block; 203): a model that never saw such a record calls its normal beats V. The classic inter-patient remedy is to
give the model each beat against the record's own typical beat. ``--beat-reference median``
(``SignalConfig.beat_reference``, ``signal.with_reference``) gives the beat encoder a second input channel, the beat
minus the sample-by-sample median of every beat of its record; the rest of the protocol is ``run.py``'s
``scratch_focal`` (same folds, seed, schedule) and the recipe is the shipped one (``beats_preset.py --steps rhythm
--gate-sets shipped --gate-from-rhythm-labels``: ECG-SL + per-beat feature booster, set / size / deep weight chosen by
each training fold's inner CV on the inner models' probabilities, the rhythm gate fitted to the training records'
rhythm annotations), booster seeds 42-44.

This script runs that recipe twice on the same table, once with the committed baseline probabilities
(``oof/left_out_k2.npz``) and once with the candidate's (both read through ``oof.CommittedPredictions``), and
reports paired differences per booster seed, the training-side ECG-SL figures (the inner models' probabilities on
the training records, pooled: the only figures looked at before the rule below was written), and the per-record V
false positives of ECG-SL alone and of the recipe (seed 42) on 108, 118 and 203 before and after.

Keep rule (fixed before any left-out figure was looked at; ``KEEP_RULE``): on the gated recipe
(``chosen_weighted_gated``), paired over booster seeds 42-44 (candidate minus baseline, same seed), the mean change
of V +P is positive and larger than both the sd of the paired changes and the baseline's seed sd of V +P; the mean
change of V Se and of macro F1 (N, S, V, F) is >= 0; and the mean change of S Se is not below minus the baseline's
seed sd of S Se. Kept: ``--commit`` copies the candidate file to ``oof/left_out_k2_median.npz`` (float16, as
exported); the ``mitdb-beats`` preset is NOT retrained here.

Not kept (V +P -0.0004): ECG-SL alone improved (left-out V +P 0.811 to 0.866), the recipe did not, because its false
V calls are the booster's and the inner CV keeps ECG-SL's weight at 0.25. Follow-up ``--stack-from`` (run v37b):

    python experiments/mitdb/v_side.py --work WORK --from-committed WORK/left_out_k2_median.npz \
        --recipe-from WORK/export.json --out WORK/v_side.json --steps cache stack
    python experiments/mitdb/v_side.py ... --steps diagnose   # the same arguments: the diagnosis of 108 / 118 / 203
    python experiments/mitdb/relative_beats.py --work WORK --candidate WORK/left_out_k2_median.npz \
        --stack-from WORK/v_side.json

ECG-SL's V probability as a booster column (``v_side.py --steps stack``: out of fold on both sides, each training
fold takes it only if its inner CV says so) failed in runs s36/s37 because the training-side column was weak (inner
ECG-SL V +P 0.517); with the relative input it is 0.758 (a training-side figure). Rule ``STACK_RULE`` (fixed before
the stack's figures): kept only if ``v_side.STACK_KEEP_RULE`` holds for ``stack_chosen`` against the recipe of the
same probabilities AND ``KEEP_RULE``'s checks hold for ``stack_chosen`` against the committed baseline's recipe,
paired over booster seeds 42-44. Key ``relative_beats_stack``.

Results: key ``relative_beats`` of ``beats_preset_results.json``; the last line of stdout is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
from experiments.shared_data import MITDB  # noqa: E402
sys.path.insert(0, str(HERE))

import beats_preset  # noqa: E402
import oof  # noqa: E402
from hybrid import BOOSTER_SEEDS  # noqa: E402

log = logging.getLogger("experiments.mitdb.relative_beats")

KEY = "relative_beats"
FORM = "chosen_weighted_gated"      # the shipped recipe's row
COMPARED = ("macro_f1_nsvf", "V_sensitivity", "V_positive_predictivity", "S_sensitivity", "S_positive_predictivity",
            "accuracy")
RECORDS = ("108", "118", "203")     # the records of ECG-SL's V false positives (stop 31's diagnosis)
STACK_KEY = "relative_beats_stack"
# v_side's per-record diagnosis kept with --stack-from: who calls the normal beats V, and their shape and timing
DIAGNOSIS_KEYS = ("N_called_V", "N_called_V_ecgsl_says_v", "N_called_V_booster_says_v", "N_called_V_mean_p_v",
                  "N_called_V_morph")
COMMITTED_TO = HERE / "oof" / "left_out_k2_median.npz"
KEEP_RULE = ("gated recipe (chosen_weighted_gated), paired over booster seeds 42-44 (candidate - baseline): mean "
             "change of V +P > 0 and > max(sd of the paired changes, baseline seed sd of V +P); mean change of V Se "
             ">= 0 and of macro F1 (N, S, V, F) >= 0; mean change of S Se >= -(baseline seed sd of S Se). Fixed "
             "before any left-out figure; kept: the candidate's left-out probabilities committed "
             "(oof/left_out_k2_median.npz), the mitdb-beats preset not retrained")

STACK_RULE = ("fixed before the stack's figures (run v37b): the beat-minus-median ECG-SL with its V probability as a "
              "booster column (v_side.py --steps stack on the candidate's probabilities, the column taken per training "
              "fold by v_side's inner choice) is kept only if v_side.STACK_KEEP_RULE holds for stack_chosen against "
              "the recipe of the same probabilities AND KEEP_RULE's checks hold for stack_chosen against the committed "
              "baseline's gated recipe, paired over booster seeds 42-44")


def recipe(npz: Path, work: Path, mitdb_dir: Path, table: dict, labels) -> dict:
    """The shipped recipe (``beats_preset.step_rhythm``, shipped sets, gate from rhythm labels) with the ECG-SL
    probabilities of ``npz``."""
    committed = oof.CommittedPredictions(npz)
    committed.write_folds(work)
    beats_preset.COMMITTED = committed
    try:
        out = beats_preset.step_rhythm(work, mitdb_dir, table, labels, list(beats_preset.RHYTHM_LABEL_GATE_CANDIDATES),
                                       None, both=False, rhythm_labels=True)["shipped_sets"]
        out["training_side_ecgsl"] = training_side(committed, table, labels)
    finally:
        beats_preset.COMMITTED = None
    return out


def training_side(committed: oof.CommittedPredictions, table: dict, labels) -> dict:
    """ECG-SL alone on the training side: each training record's beats scored by the inner model that left its
    inner group out, pooled over both outer folds (every DS1 beat once); with the V false positives per record."""
    p = np.full((len(table["y"]), len(labels)), np.nan)
    for h in range(len(committed.folds)):
        inner = committed.inner(h, table)
        p = np.where(np.isfinite(inner), inner, p)
    ok = np.isfinite(p).all(axis=1)
    out = {k: v for k, v in beats_preset._scores(table["y"][ok], p[ok], labels).items() if k != "distance_to_targets"}
    out["V_false_positives"] = v_false_positives(table["y"][ok], p[ok], table["record"][ok], labels)
    return out


def v_false_positives(y, p, records, labels) -> dict:
    """Per record of ``RECORDS`` and in all: beats of another class called V (and of those, N beats)."""
    v, n = labels.index("V"), labels.index("N")
    called = p.argmax(-1) == v
    out = {r: {"not_V_called_V": int((called & (y != v) & (records == r)).sum()),
               "N_called_V": int((called & (y == n) & (records == r)).sum())} for r in RECORDS}
    out["all"] = {"not_V_called_V": int((called & (y != v)).sum()), "N_called_V": int((called & (y == n)).sum())}
    return out


def per_record_fp(rows: dict) -> dict:
    """``step_rhythm``'s per-record counts -> V false positives (called V minus true V hits) on ``RECORDS``."""
    def fp(r):
        return r["called_V"] - (r["V"] - r["V_missed"])
    return {r: {"not_V_called_V": fp(rows[r]), "N_called_V": rows[r]["N_called_V"], "V": rows[r]["V"],
                "V_missed": rows[r]["V_missed"]} for r in RECORDS if r in rows} | {
        "all": {"not_V_called_V": int(sum(fp(x) for x in rows.values())),
                "N_called_V": int(sum(x["N_called_V"] for x in rows.values()))}}


def compare(base: dict, cand: dict, cand_form: str = FORM) -> dict:
    """``KEEP_RULE``'s checks: the candidate's rows ``<cand_form>_s<seed>`` against the baseline's gated recipe."""
    rows_b, rows_c = base["rows"], cand["rows"]
    per_seed = {k: [rows_c[f"{cand_form}_s{s}"][k] - rows_b[f"{FORM}_s{s}"][k] for s in BOOSTER_SEEDS]
                for k in COMPARED}
    paired = {k: {"mean": float(np.mean(d)), "sd": float(np.std(d, ddof=1)), "per_seed": [round(x, 4) for x in d]}
              for k, d in per_seed.items()}
    sd_b = {k: base["seed_spread"][FORM][k]["sd"] for k in COMPARED}
    dv = paired["V_positive_predictivity"]
    checks = {
        "V_positive_predictivity_up_beyond_spread": bool(dv["mean"] > 0 and dv["mean"] > max(dv["sd"],
                                                                                             sd_b["V_positive_predictivity"])),
        "V_sensitivity_not_lower": bool(paired["V_sensitivity"]["mean"] >= 0),
        "macro_f1_not_lower": bool(paired["macro_f1_nsvf"]["mean"] >= 0),
        "S_sensitivity_within_seed_sd": bool(paired["S_sensitivity"]["mean"] >= -sd_b["S_sensitivity"]),
    }
    return {"paired_change": paired, "baseline_seed_sd": sd_b, "checks": checks, "kept": all(checks.values())}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True, help="a work folder (caches the table; its folds.json must be the "
                                                 "committed files' split)")
    p.add_argument("--candidate", required=True, help="the candidate's left-out file (beats_preset.py --steps export "
                                                      "--export-to)")
    p.add_argument("--baseline", default=str(oof.DEFAULT), help="default %(default)s")
    p.add_argument("--mitdb-dir", default=str(MITDB))
    p.add_argument("--out", default=str(HERE / "beats_preset_results.json"))
    p.add_argument("--commit", action="store_true", help=f"if kept, copy the candidate to {COMMITTED_TO.name}")
    p.add_argument("--stack-from", help="run v37b: the v_side.py --steps stack results JSON (key v_side_stack) of the "
                                        "candidate's probabilities; judged by STACK_RULE, key relative_beats_stack")
    args = p.parse_args(argv)
    if args.stack_from:
        return stack_main(args, argv)
    from ecgsl_keras import tasks as tasks_lib

    start = time.perf_counter()
    work = Path(args.work).resolve()
    labels = list(tasks_lib.MITDB_AAMI.label_names)
    table = beats_preset.step_table(work, Path(args.mitdb_dir))
    runs = {}
    for name, path in (("baseline", Path(args.baseline)), ("candidate", Path(args.candidate))):
        runs[name] = recipe(path, work, Path(args.mitdb_dir), table, labels)
        log.info("%s: gated recipe macro F1 %.4f", name, runs[name]["seed_spread"][FORM]["macro_f1_nsvf"]["mean"])
    result = {"keep_rule": KEEP_RULE, "command": "python experiments/mitdb/relative_beats.py "
              + " ".join(sys.argv[1:] if argv is None else argv),
              "beat_reference": "median", "booster_seeds": list(BOOSTER_SEEDS), **compare(runs["baseline"],
                                                                                          runs["candidate"])}
    for name, r in runs.items():
        pr = r["per_record"]["rows"]
        result[name] = {"file": str(Path(args.baseline if name == "baseline" else args.candidate)),
                        "recipe_seed_spread": r["seed_spread"][FORM], "recipe_ungated_seed_spread":
                            r["seed_spread"]["chosen_weighted"], "ecgsl_alone": r["rows"]["ecgsl"],
                        "chosen_by_inner_cv": {h: {k: c.get(k) for k in beats_preset.CHOICE_KEYS}
                                               for h, c in r["chosen_by_inner_cv"].items()},
                        "training_side_ecgsl": r["training_side_ecgsl"],
                        "V_false_positives_left_out": {"ecgsl": per_record_fp(pr["ecgsl"]),
                                                       f"{FORM}_s42": per_record_fp(pr[f"{FORM}_s42"])}}
    if result["kept"] and args.commit:
        shutil.copyfile(args.candidate, COMMITTED_TO)
        result["committed"] = str(COMMITTED_TO.relative_to(REPO))
    result["seconds"] = round(time.perf_counter() - start, 1)
    out_path = Path(args.out)
    saved = json.loads(out_path.read_text(encoding="utf-8")) if out_path.is_file() else {}
    saved[KEY] = result
    out_path.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


def stack_main(args, argv) -> int:
    """``--stack-from``: ``STACK_RULE`` on v_side's stack rows of the candidate, against the baseline's recipe."""
    from ecgsl_keras import tasks as tasks_lib

    start = time.perf_counter()
    work = Path(args.work).resolve()
    labels = list(tasks_lib.MITDB_AAMI.label_names)
    stack = json.loads(Path(args.stack_from).read_text(encoding="utf-8"))["v_side_stack"]
    table = beats_preset.step_table(work, Path(args.mitdb_dir))
    base = recipe(Path(args.baseline), work, Path(args.mitdb_dir), table, labels)
    against_baseline = compare(base, stack, "stack_chosen")
    result = {"rule": STACK_RULE, "command": "python experiments/mitdb/relative_beats.py "
              + " ".join(sys.argv[1:] if argv is None else argv), "candidate": str(args.candidate),
              "chosen_by_inner_cv": stack["chosen_by_inner_cv"], "seed_spread": stack["seed_spread"],
              "v_side_verdict": stack["verdict"], "v_side_kept": bool(stack["kept"]),
              "against_baseline": against_baseline,
              "kept": bool(stack["kept"]) and against_baseline["kept"],
              "baseline_recipe_seed_spread": base["seed_spread"][FORM],
              "V_false_positives_left_out": {k: {r: v for r, v in per_record_fp(rows).items() if r != "all"}
                                             for k, rows in stack["per_record"].items()}}
    diagnosis = (json.loads(Path(args.stack_from).read_text(encoding="utf-8")).get("v_side") or {}).get("diagnosis")
    if diagnosis:   # v_side.py --steps diagnose on the same file (recipe, seed 42): why RECORDS' normal beats are V
        result["diagnosis"] = {r: {k: diagnosis[r][k] for k in DIAGNOSIS_KEYS if k in diagnosis[r]}
                               for r in RECORDS if r in diagnosis}
    result["seconds"] = round(time.perf_counter() - start, 1)
    out_path = Path(args.out)
    saved = json.loads(out_path.read_text(encoding="utf-8")) if out_path.is_file() else {}
    saved[STACK_KEY] = result
    out_path.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
