"""af60 (issue 18): the booster boosted from the deep side's log-probabilities (its initial score), instead of
averaged with them.

    python experiments/cinc2017/residual_booster.py --work WORK --steps plan cv \
        --out experiments/cinc2017/af60_results.json

Reads the committed inputs only (``oof/deep_oof.npz``, ``oof/features118.npz``) through af_lever's ``Lever``; scored by
5-fold CV on the training split (the preset's folds) against the shipped recipe (``0.5 * booster + 0.5 * deep side``).

Why, and not blind: af57's gap report puts the drop from the CV to the validation records on the booster (AF F1 0.854
against 0.81) more than on the deep side (0.772 against 0.757). Averaging gives the booster half the say everywhere;
boosting from the deep side's log-probabilities (LightGBM's ``init_score``) lets the trees learn only what the
record's columns add to the deep side, where the deep side is wrong, and leaves the deep side's ranking elsewhere.
This is neither af46's learned blend (weights over the members' outputs) nor the stacked form (the deep
probabilities as columns that the trees split on): here the deep side is the trees' starting point.

The model (fixed before any figure): for each held fold, the booster (the shipped setting, balanced class weights,
af_lever's COMMON) is fitted on the other folds' records with ``init_score = log(deep side)`` (the deep side's
out-of-fold probabilities of those records, clipped at 1e-6); the held fold's class probabilities are
``softmax(booster raw score + log(deep side))`` of its own deep side. One fit per booster seed.

Variants (``VARIANTS``): ``residual`` (PRIMARY): 400 rounds, the shipped setting; ``residual_200`` (information): 200
rounds (half the trees: less to learn on top of a starting point). KEEP_RULE: af36's (``af_lever.seed_set_row``).
Validation only if kept; serving it would need a ``combine: "residual"`` form in ``modeling.stacking``.

Last stdout line one JSON object (key ``residual_booster`` of ``--out``).
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
from scipy.special import softmax

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.cinc2017.af_lever import BASE, FRESH, SEEDS, PlannedLever, af36_keep_rule, variants_cv  # noqa: E402
from experiments.cinc2017.features import LABELS  # noqa: E402
from experiments.cinc2017.oof_table import lever_main  # noqa: E402

log = logging.getLogger("experiments.cinc2017.residual_booster")
STEPS = ("plan", "cv")
PLAN_PATH = HERE / "af60_plan.json"
CLIP = 1e-6
VARIANTS = {"residual": dict(BASE), "residual_200": dict(BASE, num_boost_round=200)}
PRIMARY = "residual"
KEEP_RULE = af36_keep_rule("residual", "validation only if kept")
PLAN = {"lever": "af60 the booster boosted from the deep side's log-probabilities", "blind": False,
        "why": "af57's gap report: the booster generalises least; boosting from the deep side lets the trees learn "
               "only what the columns add to it",
        "model": "per fold: LightGBM (the shipped setting, balanced class weights) with init_score = log(clip(deep "
                 "side, 1e-6)) of the training records' out-of-fold deep side; held probabilities softmax(raw + "
                 "log deep side)",
        "variants": VARIANTS, "primary": PRIMARY, "keep_rule": KEEP_RULE,
        "booster_seeds": {"primary": SEEDS, "fresh": FRESH}}


def residual_fit_predict(clf, X, y, deep, X_out, deep_out) -> np.ndarray:
    """(n_out, C) probabilities of a LightGBM booster boosted from ``log(deep)`` on (X, y) (``clf``: af_lever's
    ``StackedClassifier``, for its parameters and class weights), scored from ``log(deep_out)`` on ``X_out``."""
    import lightgbm as lgb

    start = np.log(np.clip(deep, CLIP, 1.0))
    data = lgb.Dataset(np.asarray(X, np.float64), label=y, weight=clf.sample_weight(y), init_score=start,
                       free_raw_data=True)
    booster = lgb.train(clf._lgb_params(), data, num_boost_round=int(clf.params.get("num_boost_round", 400)))
    raw = np.asarray(booster.predict(np.asarray(X_out, np.float64), raw_score=True)).reshape(len(X_out), len(LABELS))
    return softmax(raw + np.log(np.clip(deep_out, CLIP, 1.0)), axis=1)


class ResidualBooster(PlannedLever):
    PLAN, PLAN_PATH = PLAN, PLAN_PATH

    def residual_oof(self, variant, seed) -> np.ndarray:
        cache = self.work / "oof" / f"af60_{variant}_s{seed}.npy"
        if cache.is_file():
            return np.load(cache)
        lever = self.lever
        X, y, deep, fold = lever.X["train"], lever.y["train"], lever.deep["train"], lever.fold
        out = np.zeros((len(y), len(LABELS)))
        for k in range(self.args.k):
            held = fold == k
            clf = lever._clf(lever.names, VARIANTS[variant], seed)
            out[held] = residual_fit_predict(clf, X[~held], y[~held], deep[~held], X[held], deep[held])
        np.save(cache, out)
        return out

    def step_cv(self, result):
        # the model's probabilities are the recipe's whole output: Lever.score averages the booster side and the deep
        # side with w = 0.5, so both are the model's probabilities (the average is then exactly them, and the
        # "booster alone" figures are the model's own)
        result["cv"] = variants_cv(self.lever, VARIANTS, PRIMARY, KEEP_RULE, self.residual_oof, "residual_booster",
                                   deep_of=self.residual_oof)


def main(argv=None) -> int:
    return lever_main(__doc__, STEPS, "residual_booster", ResidualBooster, KEEP_RULE, argv)


if __name__ == "__main__":
    sys.exit(main())
