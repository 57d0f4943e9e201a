"""af50 (issue 18): decision offsets for the served ``cinc2017`` ensemble, chosen on the validation split and
estimated there by cross-fitting.

The developers' guide lets thresholds be chosen on the validation split (the held-back CinC records check the
shipped model). Every earlier AF lever chose on the training split's 5-fold CV, whose pipeline is not the served one:
at validation the deep side is the mean of the 5 fold models and the booster is refit on the whole training split.
af27 (e) chose per-class log-probability offsets on that CV (not kept). Not blind: the idea comes from the committed
validation confusion matrix (``ship_results.json``: 24 of the 388 Other records called AF, 6.2%, against about 3.4%
of Other called AF in the training-split CV).

Offsets: ``b`` (``b[N] = 0``) added to the log of the served probabilities, the label the argmax; served as a
class-prior correction ``p'(c) = softmax(log p + b)(c)`` (the probabilities stay consistent with the label). ``b`` is
chosen by ``af_lever.choose_offsets`` (macro F1, ``OFFSET_GRID`` -1 .. 1 by 0.1 per class, coordinate ascent),
the rule of af27 (e).

    python experiments/cinc2017/served_offsets.py --work WORK --steps plan served crossfit choose \
        --out experiments/cinc2017/af50_results.json

``plan``      the plan (procedure, keep and ship rules) to ``af50_plan.json`` beside this script, before any figure.
``served``    the preset's per-record probabilities on the 1,364 validation records through ``ecgsl evaluate``
              (``--predictions WORK/served_validation.csv``); checked to reproduce ``ship_results.json``'s validation
              confusion matrix exactly.
``crossfit``  the estimate the decision uses: REPEATS stratified 5-fold partitions of the validation records
              (seeds 0 ..); offsets chosen on 4/5, applied to the held 1/5; each repeat pools its 5 held parts into
              one confusion matrix; gains paired with the plain argmax on the same records.
``choose``    the offsets chosen on all 1,364 records and their in-sample figures (optimistic: chosen there), and
              the best AF F1 that AF's offset alone reaches there (``af_threshold_ceiling``: an upper bound on any AF
              threshold of the served probabilities; a report, not a choice), and AF's one-vs-rest AUROC.

Last stdout line one JSON object (key ``served_offsets`` of ``--out``).
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
from experiments.cinc2017.af_lever import OFFSET_GRID, OFFSET_ROUNDS, choose_offsets  # noqa: E402
from experiments.cinc2017.features import LABELS, _metrics as split_metrics  # noqa: E402
from experiments.cinc2017.oof_table import (DEFAULT_NPZ, add_command, cinc_dir_argument, save_results,  # noqa: E402
                                          timed_steps)

log = logging.getLogger("served_offsets")
KEY = "served_offsets"
PLAN = HERE / "af50_plan.json"
REPEATS = 20
FOLDS = 5
PRESET = "cinc2017"
STEPS = ("plan", "served", "crossfit", "choose")
CEILING_GRID = np.round(np.arange(-2.0, 2.0001, 0.1), 2)   # AF's offset alone, for the in-sample ceiling
KEEP_RULE = (f"kept if the cross-fitted macro F1 gain over the plain argmax (same records) is positive in at least "
             f"16 of the {REPEATS} repeats and its mean exceeds 0.002, and the mean cross-fitted challenge F1 gain "
             f"and AF F1 gain are both >= 0")
SHIP_RULE = ("only if kept: the offsets chosen on all 1,364 validation records go into the preset's stacking.json "
             "(decision_offsets) and serving applies softmax(log p + b); the card gives the validation figures as "
             "in-sample (the offsets were chosen there) beside the cross-fitted estimate; otherwise nothing ships")


def _metrics(y, pred) -> dict:
    """``features._metrics`` (macro, challenge and per-class F1, the confusion matrix) with the A <-> O swaps and the
    number of AF calls."""
    out = split_metrics(y, pred)
    cm = np.asarray(out["confusion_matrix"])
    out.update(o_as_a=int(cm[2, 1]), a_as_o=int(cm[1, 2]), af_calls=int(cm[:, 1].sum()))
    return out


def _spread(values) -> dict:
    v = np.asarray(values, float)
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max())}


def stratified_folds(y, k, seed) -> np.ndarray:
    """Fold of each record: each class's records shuffled (``seed``) and dealt round-robin, the next class starting
    where the last stopped (balanced fold sizes)."""
    rng = np.random.default_rng(seed)
    fold, start = np.empty(len(y), int), 0
    for c in range(len(LABELS)):
        rows = rng.permutation(np.flatnonzero(y == c))
        fold[rows] = (start + np.arange(rows.size)) % k
        start += rows.size
    return fold


def crossfit_predictions(logp, y, fold) -> tuple:
    """(classes, offsets per part): each part's records classified with the offsets chosen on the other parts
    alone (a held record's label never reaches the offsets that classify it)."""
    pred, offsets = logp.argmax(-1).copy(), []
    for f in np.unique(fold):
        held = fold == f
        b = choose_offsets(logp[~held], y[~held], OFFSET_GRID, OFFSET_ROUNDS)
        pred[held] = (logp[held] + b).argmax(-1)
        offsets.append([round(float(v), 2) for v in b])
    return pred, offsets


def crossfit_runs(y, plain_pred, predictions_of, chosen_key, repeats=REPEATS, k=FOLDS) -> dict:
    """af50's and af51's estimate: for ``repeats`` stratified ``k``-fold partitions, ``predictions_of(fold)`` gives
    (classes with each part's setting chosen on the other parts, the settings); per repeat the pooled figures, their
    gains over ``plain_pred`` (the shipped decision on the same records) and the settings (under ``chosen_key``);
    the spread over repeats and the keep rule (``KEEP_RULE``)."""
    plain = _metrics(y, plain_pred)
    runs = []
    for seed in range(repeats):
        pred, chosen = predictions_of(stratified_folds(y, k, seed))
        fitted = _metrics(y, pred)
        runs.append({"seed": seed, chosen_key: chosen, "with": fitted,
                     "gain": {"macro_f1": fitted["macro_f1"] - plain["macro_f1"],
                              "challenge_f1": fitted["challenge_f1"] - plain["challenge_f1"],
                              "af_f1": fitted["per_class_f1"]["A"] - plain["per_class_f1"]["A"]}})
    gains = {m: _spread([r["gain"][m] for r in runs]) for m in ("macro_f1", "challenge_f1", "af_f1")}
    summary = {m: _spread([r["with"][m] for r in runs]) for m in ("macro_f1", "challenge_f1")}
    summary.update({f"{c}_f1": _spread([r["with"]["per_class_f1"][c] for r in runs]) for c in LABELS},
                   o_as_a=_spread([r["with"]["o_as_a"] for r in runs]),
                   a_as_o=_spread([r["with"]["a_as_o"] for r in runs]))
    positive = sum(r["gain"]["macro_f1"] > 0 for r in runs)
    kept = (positive >= 16 and gains["macro_f1"]["mean"] > 0.002 and gains["challenge_f1"]["mean"] >= 0
            and gains["af_f1"]["mean"] >= 0)
    return {"repeats": repeats, "folds": k, "plain": plain, "summary": summary, "gain": gains,
            "macro_gain_positive_repeats": positive, "kept": bool(kept), "runs": runs}


def crossfit(logp, y, repeats=REPEATS, k=FOLDS) -> dict:
    """Offsets chosen on k - 1 parts and applied to the held part, ``repeats`` partitions (``crossfit_runs``)."""
    return crossfit_runs(y, logp.argmax(-1), lambda fold: crossfit_predictions(logp, y, fold), "offsets",
                         repeats, k)


def af_threshold_ceiling(logp, y, grid=CEILING_GRID) -> dict:
    """The best AF F1 that AF's offset alone (the others 0) reaches on these records, over ``grid``: an in-sample
    upper bound on what any AF decision threshold of these probabilities can give (a report, not a choice)."""
    rows = []
    for v in grid:
        b = np.zeros(len(LABELS))
        b[LABELS.index("A")] = v
        m = _metrics(y, (logp + b).argmax(-1))
        rows.append({"offset": float(v), "af_f1": m["per_class_f1"]["A"], "macro_f1": m["macro_f1"],
                     "o_as_a": m["o_as_a"], "a_as_o": m["a_as_o"], "af_calls": m["af_calls"]})
    best = max(rows, key=lambda r: (r["af_f1"], -abs(r["offset"])))
    return {"best": best, "rows": rows, "note": "in-sample on the 1,364 validation records: an upper bound"}


def read_served(path) -> tuple:
    """(record ids, labels, probabilities) of ``evaluate --predictions``' CSV; a clear error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"error: {path}: no such file (run --steps served first)")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = {"record", "label", *(f"p_{c}" for c in LABELS)} - set(rows[0] if rows else {})
    if missing:
        raise SystemExit(f"error: {path}: not evaluate's predictions CSV (missing columns {sorted(missing)})")
    ids = [r["record"] for r in rows]
    y = np.array([LABELS.index(r["label"]) for r in rows])
    p = np.array([[float(r[f"p_{c}"]) for c in LABELS] for r in rows])
    return ids, y, p


class ServedOffsets:
    def __init__(self, args, result):
        self.args, self.result = args, result
        self.work = Path(args.work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.csv = self.work / "served_validation.csv"

    def step_plan(self):
        plan = {"lever": "af50", "what": "per-class log-probability offsets for the served cinc2017 ensemble",
                "chooser": "af_lever.choose_offsets (macro F1, OFFSET_GRID -1..1 by 0.1, N fixed at 0)",
                "inputs": "the preset's per-record probabilities on the 1,364 validation records (ecgsl evaluate)",
                "estimate": f"{REPEATS} stratified {FOLDS}-fold partitions (seeds 0..{REPEATS - 1}): chosen on "
                            f"{FOLDS - 1}/{FOLDS}, applied to the held part, pooled per repeat",
                "keep_rule": KEEP_RULE, "ship_rule": SHIP_RULE,
                "blind": "no: motivated by the committed validation confusion matrix (24 of 388 Other called AF)"}
        PLAN.write_text(json.dumps(plan, indent=1) + "\n")
        self.result["plan"] = plan

    def step_served(self):
        from ecgsl_keras.cli import evaluate as evaluate_cli

        table = np.load(self.args.deep_oof)
        ids = sorted(str(r) for r, s in zip(table["record_id"], table["split"]) if s == "validation")
        argv = ["--model", PRESET, "--dataset", "cinc2017", "--data-dir", str(self.args.cinc_dir), "--records", *ids,
                "--no-progress", "--predictions", str(self.csv)]
        if evaluate_cli.main(argv) != 0:
            raise SystemExit("error: ecgsl evaluate failed on the validation records")
        got, y, p = read_served(self.csv)
        shipped = json.loads((HERE / "ship_results.json").read_text())["shipped"]["confusion_matrix"]
        served = _metrics(y, p.argmax(-1))
        self.result["served"] = {"records": len(got), "metrics": served,
                                 "equals_ship_results": served["confusion_matrix"] == shipped}
        if not self.result["served"]["equals_ship_results"]:
            log.warning("served confusion matrix %s differs from ship_results.json's %s", served["confusion_matrix"],
                        shipped)

    def _logp(self):
        _, y, p = read_served(self.csv)
        return np.log(np.clip(p, 1e-7, 1.0)), y

    def step_crossfit(self):
        logp, y = self._logp()
        self.result["crossfit"] = crossfit(logp, y)
        self.result["kept"] = self.result["crossfit"]["kept"]

    def step_choose(self):
        from sklearn.metrics import roc_auc_score

        logp, y = self._logp()
        b = choose_offsets(logp, y, OFFSET_GRID, OFFSET_ROUNDS)
        self.result["chosen_on_all"] = {"offsets": dict(zip(LABELS, (round(float(v), 2) for v in b))),
                                        "in_sample": _metrics(y, (logp + b).argmax(-1)),
                                        "note": "chosen on these 1,364 records: optimistic"}
        self.result["af_threshold_ceiling"] = af_threshold_ceiling(logp, y)
        self.result["af_auroc"] = float(roc_auc_score(y == LABELS.index("A"), logp[:, LABELS.index("A")]))


def served_main(doc, script, key, make, out, argv=None, extra=None) -> int:
    """The command line of af50 and af51: ``--work``, ``--steps``, ``--out``, ``--cinc-dir`` (and ``extra(parser)``'s
    options); the lever ``make(args, result)`` runs its ``step_<name>`` methods through ``timed_steps``, the result
    under ``key`` of ``--out`` after each; the last stdout line one JSON object."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True)
    parser.add_argument("--steps", nargs="+", default=list(STEPS), choices=STEPS)
    parser.add_argument("--out", type=Path, default=out)
    cinc_dir_argument(parser)
    if extra:
        extra(parser)
    args = parser.parse_args(argv)
    saved = json.loads(args.out.read_text()) if args.out.is_file() else {}
    result = saved.get(key, {"issue": 18, "records": "the 1,364 validation records (v3 labels)"})
    add_command(result, script, argv)
    lever = make(args, result)
    timed_steps(args.steps, lambda step: getattr(lever, f"step_{step}")(), result, saved, key, args.out,
                logging.getLogger(key))
    save_results(args.out, key, result)
    print(json.dumps({"command": result["commands"][-1], "kept": result.get("kept"),
                      "seconds": result.get("seconds")}))
    return 0


def main(argv=None) -> int:
    def extra(parser):
        parser.add_argument("--deep-oof", default=str(DEFAULT_NPZ), help="the committed table (its validation ids)")

    def make(args, result):
        result.update(keep_rule=KEEP_RULE, ship_rule=SHIP_RULE)
        return ServedOffsets(args, result)

    return served_main(__doc__, "served_offsets.py", KEY, make, HERE / "af50_results.json", argv, extra)


if __name__ == "__main__":
    sys.exit(main())
