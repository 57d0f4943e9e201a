"""Issue 18, AF lever af47: other tree learners on the booster side of the shipped ``cinc2017`` recipe.

    python experiments/cinc2017/tree_diversity.py --work /work/runs/s44-af47 [--steps plan cv] \
        [--out experiments/cinc2017/af47_results.json]

Reads the committed inputs only (``oof/deep_oof.npz``: the shipped preset's fold members' out-of-fold
probabilities and folds; ``oof/features118.npz``: the 118 columns) through af_lever's ``Lever``; every row is the
shipped recipe's average ``0.5 * booster side + 0.5 * mean(ECG-SL, ResNet)`` scored by 5-fold CV on the training
split (the preset's folds), against ``base`` (the shipped LightGBM setting, the same table).

Why this lever: af27 (a) bagged five boosters of the SAME learner (the mean did not move, only the seed spread
narrowed) and (b) moved its hyper-parameters along one family; no lever has changed the kind of tree learner. A
learner with another bias errs on other records, which is what an average gains from (af27 found the booster and
the deep models complementary). The idea is not from a validation look (blind).

Variants (``VARIANTS``, fixed before any figure; LightGBM's own options, so that each is stored in LightGBM's text
format like the shipped booster):

``extra_trees`` (PRIMARY, the only one that can be kept): the shipped setting with ``extra_trees`` (each split's
                threshold drawn at random per feature, Geurts et al. 2006): one booster file, servable as today's.
``rf_member``   the booster side is the mean of the shipped booster and a LightGBM random forest (``boosting=rf``,
                300 trees per class, 63 leaves, 5 per leaf, rows bagged at 0.632, a third of the columns per tree).
``dart``        the shipped setting boosted with DART (``drop_rate`` 0.1, ``skip_drop`` 0.5; Rashmi and
                Gilad-Bachrach 2015).

A non-primary variant that passes the keep rule is not kept here; it would be the a-priori primary of a next look
on fresh booster seeds (48-50).

KEEP RULE (``KEEP_RULE``, af36's, ``af_lever.seed_set_row``): af_lever's rule (CV AF F1 mean over booster seeds
rises by more than the larger seed sd of both rows, CV macro F1 does not drop by more than it) on seeds 42-44
against ``base`` AND on 45-47 against ``base_fresh_seeds``, and paired over seeds 42-47 the mean AF F1 gain above
its sd and the mean macro F1 difference not below minus its sd. Validation (1,364 records) only if kept.

Steps: ``plan`` writes ``af47_plan.json`` (the variants and rules, before any figure); ``cv`` the CV rows. Boosters'
out-of-fold outputs cached in WORK/oof (af_lever's names); last stdout line one JSON object; ``--out`` key
``tree_diversity``.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.cinc2017.af_lever import BASE, FRESH, SEEDS, PlannedLever, variants_cv  # noqa: E402
from experiments.cinc2017.oof_table import lever_main  # noqa: E402

log = logging.getLogger("experiments.cinc2017.tree_diversity")
STEPS = ("plan", "cv")
PLAN_PATH = HERE / "af47_plan.json"
RANDOM_FOREST = {"boosting": "rf", "num_boost_round": 300, "num_leaves": 63, "min_data_in_leaf": 5,
                 "bagging_fraction": 0.632, "bagging_freq": 1, "feature_fraction": 0.33}
# each variant: the boosters (tag -> LightGBM setting) whose out-of-fold probabilities are averaged on the booster side
VARIANTS = {
    "extra_trees": {"et": dict(BASE, extra_trees=True)},
    "rf_member": {"base": BASE, "rf": RANDOM_FOREST},
    "dart": {"dart": dict(BASE, boosting="dart", drop_rate=0.1, skip_drop=0.5)},
}
PRIMARY = "extra_trees"
KEEP_RULE = ("the primary variant (extra_trees) is kept only if (a) af_lever's rule (CV AF F1 mean over booster seeds "
             "rises by more than the larger seed sd of both rows, CV macro F1 does not drop by more than it) holds on "
             "seeds 42-44 against base AND on seeds 45-47 against base_fresh_seeds, and (b) paired over booster seeds "
             "42-47 the mean CV AF F1 gain exceeds its sd and the mean macro F1 difference is not below minus its sd; "
             "a non-primary variant that passes is the a-priori primary of a next look on seeds 48-50; validation "
             "and a preset only if kept")
PLAN = {"lever": "af47 tree-learner diversity on the booster side", "blind": True,
        "why": "af27 bagged the same learner and moved its hyper-parameters; no lever changed the kind of tree "
               "learner. The idea is not from a validation look.",
        "variants": VARIANTS, "primary": PRIMARY, "common": "af_lever COMMON (bagging 0.8 every round, 0.8 of the "
        "columns) under each setting; balanced class weights; the shipped deep weight 0.5",
        "keep_rule": KEEP_RULE, "booster_seeds": {"primary": SEEDS, "fresh": FRESH}}


def booster_side(lever, variant: str, seed: int) -> np.ndarray:
    """(n, C) out-of-fold booster-side probabilities of ``variant`` for booster ``seed``: the mean of its boosters'."""
    return np.mean([lever.oof(tag, params, seed) for tag, params in VARIANTS[variant].items()], axis=0)


class TreeDiversity(PlannedLever):
    PLAN, PLAN_PATH = PLAN, PLAN_PATH

    def step_cv(self, result):
        result["cv"] = variants_cv(self.lever, VARIANTS, PRIMARY, KEEP_RULE,
                                   lambda v, s: booster_side(self.lever, v, s), "tree_diversity")


def main(argv=None) -> int:
    return lever_main(__doc__, STEPS, "tree_diversity", TreeDiversity, KEEP_RULE, argv)


if __name__ == "__main__":
    sys.exit(main())
