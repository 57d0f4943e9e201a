"""af51 (issue 18): the served ``cinc2017`` ensemble's deep weight, chosen on the validation split and estimated there
by cross-fitting (af50's protocol, for the blend instead of the decision offsets).

The shipped recipe averages its booster and its deep side (the mean of ECG-SL and the ResNet) with weight 0.5, chosen
on the training split's CV (af27 (c) searched it there; not kept). As in af50, the served pipeline differs from the CV's
(5-fold-mean deep members, the booster refit on the whole training split), and the guide lets such settings be chosen
on the validation split. Not blind: af50's figures (its in-sample AF threshold ceiling) were seen first.

    python experiments/cinc2017/served_weight.py --work WORK --steps plan served crossfit choose \
        --served-csv AF50_WORK/served_validation.csv --out experiments/cinc2017/af51_results.json

``plan``      the plan to ``af51_plan.json`` beside this script, before any figure.
``served``    every validation record through the preset's own ``predict_signal`` (``serving.inference``, the path
              ``evaluate`` serves): the served probabilities, the deep side's and each deep member's, at full precision,
              to WORK/served_components.npz (resumable by chunks); the booster's are ``(p - w d) / (1 - w)`` (the preset
              has no rules after the average). Checked: the argmax equals af50's served CSV on every record.
``crossfit``  af50's 20 stratified 5-fold partitions: the weight chosen on 4/5 (the best macro F1 over WEIGHTS; ties:
              nearest the shipped 0.5), applied to the held 1/5, pooled per partition, paired with the shipped weight.
``choose``    the weight chosen on all 1,364 records (in-sample, optimistic), and the best AF F1 over the weight and
              AF's offset together (an in-sample ceiling; a report, not a choice).

Last stdout line one JSON object (key ``served_weight`` of ``--out``).
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
from experiments.cinc2017.served_offsets import (FOLDS, REPEATS, _metrics, _spread,  # noqa: E402
                                               af_threshold_ceiling, crossfit_runs, read_served, served_main)

log = logging.getLogger("served_weight")
KEY = "served_weight"
PLAN = HERE / "af51_plan.json"
PRESET = "cinc2017"
SHIPPED_WEIGHT = 0.5
WEIGHTS = np.round(np.arange(0.0, 1.0001, 0.05), 2)
KEEP_RULE = (f"af50's: kept if the cross-fitted macro F1 gain over the shipped weight 0.5 (same records) is positive "
             f"in at least 16 of the {REPEATS} repeats and its mean exceeds 0.002, and the mean cross-fitted "
             f"challenge F1 gain and AF F1 gain are both >= 0")
SHIP_RULE = ("only if kept: the weight chosen on all 1,364 validation records becomes the preset's deep_weight (a new "
             "build); the card gives the validation figures as in-sample beside the cross-fitted estimate")


def blend(booster, deep, w) -> np.ndarray:
    return (1.0 - w) * booster + w * deep


def choose_weight(booster, deep, y, weights=WEIGHTS) -> float:
    """The weight of the best macro F1 of the blend's argmax on these rows (ties: nearest the shipped 0.5)."""
    scores = [(_metrics(y, blend(booster, deep, w).argmax(-1))["macro_f1"], -abs(w - SHIPPED_WEIGHT), w)
              for w in weights]
    return float(max(scores)[2])


def crossfit_predictions(booster, deep, y, fold) -> tuple:
    """(classes, weight per part): each part classified with the weight chosen on the other parts alone."""
    pred, chosen = blend(booster, deep, SHIPPED_WEIGHT).argmax(-1), []
    for f in np.unique(fold):
        held = fold == f
        w = choose_weight(booster[~held], deep[~held], y[~held])
        pred[held] = blend(booster[held], deep[held], w).argmax(-1)
        chosen.append(w)
    return pred, chosen


def crossfit(booster, deep, y, repeats=REPEATS, k=FOLDS) -> dict:
    """The weight chosen on k - 1 parts and applied to the held part, ``repeats`` partitions (af50's
    ``crossfit_runs``, against the shipped weight), and the spread of the chosen weights."""
    out = crossfit_runs(y, blend(booster, deep, SHIPPED_WEIGHT).argmax(-1),
                        lambda fold: crossfit_predictions(booster, deep, y, fold), "weights", repeats, k)
    out["summary"]["weight"] = _spread([w for r in out["runs"] for w in r["weights"]])
    return out


def joint_ceiling(booster, deep, y) -> dict:
    """The best AF F1 over the weight and AF's offset together on these records (in-sample upper bound): af50's
    ``af_threshold_ceiling`` at each weight, the first weight of the highest."""
    best = None
    for w in WEIGHTS:
        top = af_threshold_ceiling(np.log(np.clip(blend(booster, deep, w), 1e-7, 1.0)), y)["best"]
        if best is None or top["af_f1"] > best["af_f1"]:
            best = {"weight": float(w), "af_offset": top["offset"], "af_f1": top["af_f1"],
                    "macro_f1": top["macro_f1"], "o_as_a": top["o_as_a"], "a_as_o": top["a_as_o"]}
    per_weight = {str(w): _metrics(y, blend(booster, deep, w).argmax(-1))["per_class_f1"]["A"] for w in WEIGHTS}
    return {"best": best, "af_f1_per_weight_no_offset": per_weight,
            "note": "in-sample on the 1,364 validation records: an upper bound"}


class ServedWeight:
    def __init__(self, args, result):
        self.args, self.result = args, result
        self.work = Path(args.work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.npz = self.work / "served_components.npz"

    def step_plan(self):
        plan = {"lever": "af51", "what": "the served cinc2017 ensemble's deep weight chosen on the validation split",
                "chooser": f"the best macro F1 over weights {WEIGHTS[0]}..{WEIGHTS[-1]} by 0.05 (ties: nearest 0.5)",
                "inputs": "the preset's own predict_signal on the 1,364 validation records: served, deep-side and "
                          "booster probabilities (the booster's from the average)",
                "estimate": f"af50's {REPEATS} stratified {FOLDS}-fold partitions (seeds 0..{REPEATS - 1})",
                "keep_rule": KEEP_RULE, "ship_rule": SHIP_RULE,
                "blind": "no: af50's figures (its in-sample AF threshold ceiling) were seen first"}
        PLAN.write_text(json.dumps(plan, indent=1) + "\n")
        self.result["plan"] = plan

    def step_served(self):
        from ecgsl_keras.data import readers
        from ecgsl_keras.serving.inference import load_model

        ids, y, p_csv = read_served(Path(self.args.served_csv))
        chunks = self.work / "components"
        chunks.mkdir(exist_ok=True)
        predictor = load_model(PRESET)
        size = 200
        for start in range(0, len(ids), size):
            path = chunks / f"chunk_{start // size:03d}.npz"
            if path.is_file():
                continue
            rows = {"p": [], "deep": [], "members": []}
            for rid in ids[start:start + size]:
                signal, fs, _ = readers.read_lead(Path(self.args.cinc_dir) / rid)
                out = predictor.predict_signal(signal, fs)
                rows["p"].append(out["probabilities"])
                rows["deep"].append(out["deep_probabilities"])
                rows["members"].append(out["deep_member_probabilities"])
            np.savez(path, **{k: np.asarray(v, np.float64) for k, v in rows.items()})
            log.info("records %d-%d done", start, min(start + size, len(ids)) - 1)
        parts = [np.load(chunks / f"chunk_{i:03d}.npz") for i in range((len(ids) + size - 1) // size)]
        p, deep, members = (np.concatenate([part[k] for part in parts]) for k in ("p", "deep", "members"))
        booster = (p - SHIPPED_WEIGHT * deep) / (1.0 - SHIPPED_WEIGHT)
        np.savez(self.npz, record_id=np.asarray(ids), y=y, probabilities=p, deep=deep, members=members,
                 booster=booster)
        self.result["served"] = {"records": len(ids),
                                 "argmax_equals_af50_csv": bool((p.argmax(-1) == p_csv.argmax(-1)).all()),
                                 "max_abs_difference_to_csv": float(np.abs(p - p_csv).max()),
                                 "booster_rows_sum_to_one": float(np.abs(booster.sum(-1) - 1.0).max()),
                                 "metrics": _metrics(y, p.argmax(-1))}

    def _components(self):
        if not self.npz.is_file():
            raise SystemExit(f"error: {self.npz}: no such file (run --steps served first)")
        data = np.load(self.npz)
        return data["booster"], data["deep"], data["y"].astype(int)

    def step_crossfit(self):
        booster, deep, y = self._components()
        self.result["crossfit"] = crossfit(booster, deep, y)
        self.result["kept"] = self.result["crossfit"]["kept"]

    def step_choose(self):
        booster, deep, y = self._components()
        w = choose_weight(booster, deep, y)
        self.result["chosen_on_all"] = {"weight": w, "in_sample": _metrics(y, blend(booster, deep, w).argmax(-1)),
                                        "note": "chosen on these 1,364 records: optimistic"}
        self.result["joint_ceiling"] = joint_ceiling(booster, deep, y)
        self.result["alone"] = {"booster": _metrics(y, booster.argmax(-1)), "deep": _metrics(y, deep.argmax(-1))}


def main(argv=None) -> int:
    def extra(parser):
        parser.add_argument("--served-csv", default=None,
                            help="served_offsets.py's WORK/served_validation.csv: the records, their labels, and the "
                                 "served classes this pass must reproduce")

    def make(args, result):
        if "served" in args.steps and not args.served_csv:
            raise SystemExit("error: --steps served needs --served-csv (served_offsets.py's "
                             "WORK/served_validation.csv)")
        result.update(keep_rule=KEEP_RULE, ship_rule=SHIP_RULE)
        return ServedWeight(args, result)

    return served_main(__doc__, "served_weight.py", KEY, make, HERE / "af51_results.json", argv, extra)


if __name__ == "__main__":
    sys.exit(main())
