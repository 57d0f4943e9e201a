"""A record-features member for the ``cinc2017-keras`` preset (issue 18's one-Keras-file form): a small dense
network on the 111 record features, averaged with the preset's hybrid (a) model into one Keras model.

    python experiments/cinc2017/features_member.py --data PREPARED --work WORK \
        --steps plan features cv train validate [publish] [--cinc-dir ../shared/data/cinc2017/training2017]

PREPARED: the CinC records prepared with record features (``python -m ecgsl_keras.prepare --dataset cinc2017
--data-dir CINC --out PREPARED --record-features``: the preset's signal config, the package default). Records are
split as everywhere in issue 18: the committed out-of-fold table's split and folds
(``experiments/cinc2017/oof/deep_oof.npz``: 5,456 training records in 5 folds, 1,364 validation records).

Why, and not blind: the edge preset gained macro F1 0.736 -> 0.762 and AF F1 0.734 -> 0.778 on the validation records
from a small rhythm network averaged with its ECG-SL model (``experiments/edge/rhythm_member.py``), and a probe then
averaged that edge model with a network on the booster's record features (0.788). ``cinc2017-keras`` already joins
the record features with the beats before its head (0.768 +- 0.010 over seeds, against the features booster's 0.77
alone), so whether a late average adds to it is open: no figure of this member on ``cinc2017-keras`` was looked at
before ``PLAN`` was committed. The member (``modeling.hybrid.build_features_member``) takes the hybrid's four inputs
and reads ``record_features`` alone, through the hybrid's own ``RecordFeatureNormalization`` (NaN policy included);
``ensemble.build_ensemble`` averages the two into one model that ``predict_signal``, ``evaluate``, SavedModel and
TFLite export treat as they treat the hybrid.

Steps (as ``late_member.py``'s, see there):
``plan``      ``PLAN`` and its ship rule, written before any figure of the member.
``features``  the record features of every prepared example, WORK/statistics.npz.
``cv``        a report: 5-fold CV of the member on the training records, alone and averaged with the committed
              out-of-fold ECG-SL probabilities (ECG-SL without features: a proxy, no out-of-fold hybrid exists).
``train``     the member on every training record, seeds ``SEEDS``.
``validate``  each seed's ensemble and the preset itself through ``ecgsl evaluate`` on the 1,364 validation records,
              and the ship rule.
``publish``   when the rule ships it: ``cinc2017-keras`` rebuilt (``training.publish.build``) from the seed-42
              ensemble, its card's figures those of ``validate``.

Last stdout line one JSON object; the result under key ``features_member`` of ``--out``.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
from experiments.cinc2017 import late_member  # noqa: E402  (the steps this lever shares with the edge member)
from experiments.shared_data import CINC2017  # noqa: E402

log = logging.getLogger("experiments.cinc2017.features_member")
KEY = "features_member"
STEPS = ("plan", "features", "cv", "train", "validate", "publish")
PLAN_PATH = HERE / "features_member_plan.json"
DEFAULT_OUT = HERE / "features_member_results.json"
PRESET = REPO / "ecgsl_keras" / "presets" / "cinc2017-keras"
CARD = HERE / "cinc2017_keras_card.md"
SCHEDULE = dict(late_member.SCHEDULE)          # the edge member's, unchanged
SHIP_RULE = ("the ensemble of the cinc2017-keras model and the seed-42 member replaces the cinc2017-keras model only "
             "if, on the 1,364 validation records through ecgsl evaluate, the mean over member seeds 42-44 AND seed "
             "42 alone give a higher macro F1 and a higher AF F1 than the preset")
PLAN = {"what": "a record-features member (modeling.hybrid.build_features_member: RecordFeatureNormalization of "
                "the 111 record features -> Dense 32 ReLU -> Dropout 0.2 -> softmax) averaged with the "
                "cinc2017-keras hybrid (a) model (ensemble.build_ensemble, equal weights)",
        "blind": False,
        "why": "the edge preset's rhythm member (validation macro 0.736 -> 0.762, AF 0.734 -> 0.778) and a validation "
               "probe of the edge model averaged with a network on the booster's record features (0.788); no "
               "figure of this member with cinc2017-keras was looked at before this plan",
        "features": "the 111 record features of ecgsl_keras.data.record_features per prepared example "
                    "(prepare --record-features, the preset's signal config), NaN kept (the layer handles it)",
        "schedule": SCHEDULE, "seeds": list(late_member.SEEDS), "shipped_seed": late_member.SHIPPED_SEED,
        "deep_weight": late_member.DEEP_WEIGHT,
        "split": "the committed out-of-fold table's (5,456 training records in 5 folds, 1,364 validation records)",
        "ship_rule": SHIP_RULE}
DESCRIPTION = ("CinC 2017 rhythm classes (N, A, O, ~), one lead: ECG-SL joined with 111 record features in one Keras "
               "model (hybrid a), averaged with a dense network on the same record features")
MEMBER_CARD = ("The model (`model.keras`) is an ensemble of two members, their class probabilities averaged: "
               "`member_0`, the hybrid (a) model described below, and `member_1`, a features member "
               "(`modeling.hybrid.build_features_member`: the same 111 record features through the same "
               "normalisation, one hidden layer of 32, softmax), trained on the training records' features (seed 42; "
               "`experiments/cinc2017/features_member.py`). What it adds on the validation records, and the seeds' "
               "spread: `experiments/cinc2017/features_member_results.json`.\n\n")


class FeaturesMember(late_member.LateMember):
    preset, preset_name, ensemble_name = PRESET, "cinc2017-keras", "ecgsl_hybrid_with_features"
    member_layer = "features_probabilities"      # build_features_member's output layer: the hybrid has none
    baseline_key = "preset"
    description, card_intro = DESCRIPTION, MEMBER_CARD      # the rebuilt preset's description and card opening

    def member_inputs(self, data) -> tuple:
        ids, y, rows = late_member.examples(data, field="record_features")
        width = self.model_config()[0].n_record_features
        bad = sorted({len(r) for r in rows} - {width})
        if bad:
            raise SystemExit(f"error: {data}: examples with {bad} record features; {self.preset_name} takes {width} "
                             "(prepare --record-features)")
        return ids, y, np.stack(rows).astype(np.float64)

    def model_config(self) -> tuple:
        from ecgsl_keras.store import runs

        experiment, task, _ = runs.run_config(self.preset)
        return experiment.model, task

    def fit_member(self, X, y, seed) -> tuple:
        import keras

        from ecgsl_keras.modeling import hybrid

        keras.utils.set_random_seed(seed)
        cfg, task = self.model_config()
        member = hybrid.build_features_member(cfg, task, n_features=X.shape[1],
                                              feature_stats=hybrid.feature_statistics(X), units=SCHEDULE["units"],
                                              dropout=SCHEDULE["dropout"])
        head = keras.Model(member.input[hybrid.RECORD_FEATURES], member.output)
        head.compile(keras.optimizers.Adam(SCHEDULE["learning_rate"]), "sparse_categorical_crossentropy")
        head.fit(X.astype(np.float32), y, batch_size=SCHEDULE["batch_size"], epochs=SCHEDULE["epochs"], verbose=0,
                 shuffle=True)
        return member, head

    def step_plan(self, result):
        PLAN_PATH.write_text(json.dumps(PLAN, indent=1) + "\n")
        result["plan"] = PLAN

    def step_features(self, result):
        self.step_statistics(result)
        result["features"] = result.pop("statistics")

    def shipped(self) -> tuple:
        """(run folder of the model the ship rule ships, its validation metrics JSON from ``evaluate``)."""
        seed = late_member.SHIPPED_SEED
        return self.candidate(seed), self.work / f"validation_s{seed}.json"

    def step_publish(self, result):
        if not (result.get("validate") or {}).get("ship"):
            raise SystemExit("error: the ship rule did not ship it (validate step); nothing published")
        candidate, metrics_path = self.shipped()
        self.publish(result, candidate, metrics_path, self.description,
                     self.card_intro + CARD.read_text(encoding="utf-8"))


def lever_main(lever_class, key, steps, default_out, data_step, script, doc, argv=None) -> int:
    """The command line of a lever on ``cinc2017-keras`` (this one, ``keras_seed_ensemble.py``): ``--data`` (needed by
    ``data_step``), ``--work``, ``--cinc-dir``, ``--steps``, ``--out``; ``late_member.run_steps`` runs them."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--data", type=Path, help=f"the CinC records prepared with --record-features ({data_step} step)")
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--cinc-dir", type=Path, default=CINC2017)
    p.add_argument("--steps", nargs="+", choices=steps, default=list(steps))
    p.add_argument("--out", type=Path, default=default_out)
    args = p.parse_args(argv)
    if data_step in args.steps and args.data is None:
        p.error(f"--data is needed for the {data_step} step")
    command = f"python experiments/cinc2017/{script} " + " ".join(sys.argv[1:] if argv is None else argv)
    return late_member.run_steps(lever_class(args), key, args.steps, args.out, command)


def main(argv=None) -> int:
    return lever_main(FeaturesMember, KEY, STEPS, DEFAULT_OUT, "features", "features_member.py", __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
