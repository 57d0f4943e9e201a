"""How far the shipped `cinc2017` figures on validation can move by chance (issue 18).

The validation split holds 1,364 records (120 AF). The shipped preset's AF F1 there is 0.828 against the 0.85 target,
while its training-split CV AF F1 is 0.852-0.856 over ~5x the records. This script puts a record bootstrap interval
(``ecgsl_keras.evaluation.metrics.bootstrap_f1_intervals``: records resampled with replacement, 10,000 resamples,
95% percentile interval, seed 0) around each validation figure of the shipped preset, from the confusion matrix
``ship.py`` committed (``ship_results.json`` key ``shipped.confusion_matrix``: rows true, columns predicted, N A O ~).
No model is run and nothing is chosen: it reads a committed figure and says how precise it is, and how many of these
records a model would have to call differently to meet the AF target on them (``af_records_to_target``).

    python experiments/cinc2017/validation_ci.py [--resamples 10000] [--seed 0]

Prints one JSON object (last line of stdout) and writes it to ``experiments/cinc2017/validation_ci_results.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ecgsl_keras import tasks as tasks_lib
from ecgsl_keras.evaluation.metrics import bootstrap_f1_intervals

HERE = Path(__file__).resolve().parent
SHIP_RESULTS = HERE / "ship_results.json"
OUT = HERE / "validation_ci_results.json"


def records_to_f1(cm, cls: int, target: float):
    """The fewest records whose call must change to bring class ``cls``'s F1 to ``target`` on the confusion matrix
    ``cm`` (rows true, columns called): each change either turns a missed ``cls`` record into a caught one or a false
    ``cls`` call into a right one (0 if met already; None if no change reaches it); also the fewest of one kind alone
    (``missed_only``, ``false_calls_only``; None where that kind alone cannot reach it)."""
    cm = np.asarray(cm, int)
    tp, fn, fp = cm[cls, cls], cm[cls].sum() - cm[cls, cls], cm[:, cls].sum() - cm[cls, cls]

    def meets(caught, cleared):
        t, n, p = tp + caught, fn - caught, fp - cleared
        return 2 * t / max(2 * t + n + p, 1) >= target - 1e-12

    best = next(({"records": k, "missed_caught": a, "false_calls_cleared": k - a}
                 for k in range(fn + fp + 1) for a in range(min(k, fn) + 1) if k - a <= fp and meets(a, k - a)), None)
    if best is not None:
        best.update(missed=int(fn), false_calls=int(fp),
                    missed_only=next((a for a in range(fn + 1) if meets(a, 0)), None),
                    false_calls_only=next((b for b in range(fp + 1) if meets(0, b)), None))
    return best


def intervals(ship: dict, resamples: int, seed: int) -> dict:
    """The shipped preset's validation intervals and each target's place in them."""
    shipped = ship["shipped"]
    task = tasks_lib.CINC2017
    ci = bootstrap_f1_intervals(shipped["confusion_matrix"], task.label_names,
                                tasks_lib.CINC2017_CHALLENGE_LABELS, n_resamples=resamples, seed=seed)
    targets = ship["targets"]
    reading = {"af_f1": ci["per_class_f1"]["A"], "macro_f1": ci["macro_f1"], "challenge_f1": ci["challenge_f1"]}
    against = {key: {"target": targets[key], "point": reading[key]["point"],
                     "target_inside_interval": reading[key]["low"] <= targets[key] <= reading[key]["high"]}
               for key in ("af_f1", "macro_f1", "challenge_f1")}
    af = task.label_names.index("A")
    return {"records": ship["records"], "shipped": ci, "targets": against,
            "af_records_to_target": records_to_f1(shipped["confusion_matrix"], af, targets["af_f1"])}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resamples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    ship = json.loads(SHIP_RESULTS.read_text())
    result = {"issue": 18, "command": "python experiments/cinc2017/validation_ci.py " + " ".join(argv or sys.argv[1:]),
              "source": "experiments/cinc2017/ship_results.json shipped.confusion_matrix",
              **intervals(ship, args.resamples, args.seed)}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
