"""Issue 18, AF lever af46: a learned blend of the shipped ``cinc2017`` recipe's three models (stacking with a linear
meta-learner) in place of the fixed average.

    python experiments/cinc2017/meta_blend.py --work /work/runs/s43-af46 [--steps plan cv] \
        [--out experiments/cinc2017/af46_results.json]

Reads the committed inputs only (``oof/deep_oof.npz``: the shipped preset's fold members' out-of-fold
probabilities and folds; ``oof/features118.npz``: the 118 columns) through af_lever's ``Lever``. The recipe averages
the features booster with the mean of ECG-SL and the ResNet, one fixed weight for all classes (0.5; af27 (c) chose
one weight by CV, af28 (e) added per-class offsets: neither kept). The lever: a multinomial logistic regression over
the 12 log-probabilities of the three models (booster, ECG-SL, ResNet; each clipped at 1e-6) learns a weight per
model and class, so that, e.g., the ResNet's word on AF can count for more or less than its word on Noisy. Wolpert's
stacked generalisation with a linear meta-learner; 52 parameters on 5,456 rows.

Honest CV (``cv``): for every outer fold h of the preset's 5 folds, the meta-learner is fitted on the outer-training
rows (folds other than h), whose booster inputs come from boosters that never saw fold h: the rows of fold j from
the booster fitted on the 3 folds other than j and h (af_lever's ``nested_pair``, cached as in af36); it then scores
fold h with fold h's usual out-of-fold booster (fitted on the 4 other folds). Its setting (``GRID``: C and class
weights) is chosen per outer fold by an inner leave-one-fold-out CV over the 4 outer-training folds (pooled inner
macro F1, ties to the first in ``GRID`` order), never on fold h. Every figure pools the 5 held folds against the
original labels of all 5,456 training records (``Lever.score``). Caveat shared with af30 / af32 / af36: the deep
out-of-fold probability of an outer-training row comes from the preset member that held out its own fold, which saw
fold h's records.

``plan``      writes ``af46_plan.json`` (the grid, the choice rule and the keep rule) before any figure.
``cv``        the nested CV above, booster seeds 42-44 and 45-47, against the recipe (``base``) on the same seeds.
              Also the setting chosen on all 5 folds' out-of-fold rows (what a preset would ship) and its weights.

KEEP RULE (fixed before any figure, ``KEEP_RULE``; the rule of af36): kept only if (a) af_lever's rule
(``Lever.beats``) holds on seeds 42-44 against ``base`` AND on seeds 45-47 against ``base_fresh_seeds``, and (b)
paired over the 6 booster seeds the mean CV AF F1 gain exceeds its sd and the mean macro F1 difference is not below
minus its sd. Serving the blend (a preset) only if kept.

Cached in WORK (boosters in WORK/oof, af_lever's names); last stdout line one JSON object; ``--out`` key
``meta_blend``.
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.cinc2017.af_lever import BASE, FRESH, SEEDS, PlannedLever, seed_set_row  # noqa: E402
from experiments.cinc2017.features import LABELS  # noqa: E402
from experiments.cinc2017.hybrid import _aligned  # noqa: E402
from experiments.cinc2017.oof_table import lever_main, load_deep_oof  # noqa: E402

log = logging.getLogger("experiments.cinc2017.meta_blend")
STEPS = ("plan", "cv")
PLAN_PATH = HERE / "af46_plan.json"
FLOOR = 1e-6          # probabilities clipped here before the log
GRID = [{"C": c, "class_weight": w} for c in (0.01, 0.1, 1.0) for w in (None, "balanced")]
CHOICE_RULE = ("per outer fold h: the GRID setting of the highest pooled inner macro F1 of a leave-one-fold-out CV "
               "over the 4 outer-training folds (ties to the first in GRID order); the meta-learner with that "
               "setting is fitted on the 4 folds and scores fold h")
KEEP_RULE = ("kept only if (a) af_lever's rule (CV AF F1 mean over booster seeds rises by more than the larger seed "
             "sd of both rows, CV macro F1 does not drop by more than it) holds on seeds 42-44 against base AND on "
             "seeds 45-47 against base_fresh_seeds, and (b) paired over booster seeds 42-47 the mean CV AF F1 gain "
             "exceeds its sd and the mean macro F1 difference is not below minus its sd; a preset only if kept")
PLAN = {"lever": "af46 meta blend", "blind": True,
        "why": "untried: af27 (c) chose one deep weight, af28 (e) per-class offsets; neither a weight per model and "
               "class. The idea is not from a validation look.",
        "inputs": "log of the booster's, ECG-SL's and the ResNet's probabilities (12 columns), clipped at 1e-6",
        "meta_learner": "sklearn LogisticRegression (lbfgs, multinomial), max_iter 5000",
        "grid": GRID, "choice_rule": CHOICE_RULE, "keep_rule": KEEP_RULE,
        "booster_seeds": {"primary": SEEDS, "fresh": FRESH}}


def meta_inputs(booster, ecgsl, resnet) -> np.ndarray:
    """The meta-learner's 12 columns: the three models' log-probabilities (each clipped at ``FLOOR``)."""
    return np.log(np.clip(np.concatenate([booster, ecgsl, resnet], axis=1), FLOOR, 1.0))


def fit_meta(X, y, setting):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=setting["C"], class_weight=setting["class_weight"], max_iter=5000).fit(X, y)


def choose_setting(X, y, fold) -> tuple:
    """(index into ``GRID``, pooled inner macro F1 per setting): leave one of ``fold``'s folds out at a time."""
    from sklearn.metrics import f1_score

    scores = []
    for setting in GRID:
        pred = np.zeros(len(y), int)
        for j in np.unique(fold):
            held = fold == j
            pred[held] = fit_meta(X[~held], y[~held], setting).predict(X[held])
        scores.append(float(f1_score(y, pred, labels=list(range(len(LABELS))), average="macro")))
    return int(np.argmax(scores)), scores


class MetaBlend(PlannedLever):
    PLAN, PLAN_PATH = PLAN, PLAN_PATH

    def __init__(self, args):
        super().__init__(args)
        self.y, self.fold = self.lever.y["train"], self.lever.fold
        table = load_deep_oof(args.deep_oof)
        ids = self.lever.ids["train"]
        self.ecgsl = _aligned(table["ecgsl"], "train", "probabilities", ids)
        self.resnet = _aligned(table["resnet"], "train", "probabilities", ids)
        # the Lever's deep side is the mean of these two; the meta-learner reads them apart
        assert np.allclose(0.5 * (self.ecgsl + self.resnet), self.lever.deep["train"])

    def outer_training_booster(self, seed, h) -> np.ndarray:
        """Booster probabilities of the rows outside fold h (NaN on h): fold j's from the booster fitted on the 3 folds
        other than j and h."""
        p = np.full((len(self.y), len(LABELS)), np.nan)
        for j in range(self.args.k):
            if j != h:
                rows = self.fold == j
                p[rows] = self.lever.nested_pair("none", seed, min(j, h), max(j, h))[rows]
        return p

    def nested_cv(self, seed) -> tuple:
        """(predicted classes of every training row, each from the meta-learner of its outer fold; per fold the chosen
        setting and the inner scores)."""
        outer = self.lever.oof("base", BASE, seed)
        pred = np.zeros(len(self.y), int)
        chosen = []
        for h in range(self.args.k):
            train, held = self.fold != h, self.fold == h
            X = meta_inputs(self.outer_training_booster(seed, h)[train], self.ecgsl[train], self.resnet[train])
            best, scores = choose_setting(X, self.y[train], self.fold[train])
            meta = fit_meta(X, self.y[train], GRID[best])
            pred[held] = meta.predict(meta_inputs(outer[held], self.ecgsl[held], self.resnet[held]))
            chosen.append({"fold": h, "setting": best, "inner_macro_f1": scores})
        return pred, chosen

    def all_folds_choice(self, seed) -> dict:
        """The setting a preset would ship: chosen by leave-one-fold-out CV over all 5 folds' out-of-fold rows, and
        the fitted weights (rows: classes N, A, O, ~; columns: booster, ECG-SL, ResNet log-probabilities)."""
        X = meta_inputs(self.lever.oof("base", BASE, seed), self.ecgsl, self.resnet)
        best, scores = choose_setting(X, self.y, self.fold)
        meta = fit_meta(X, self.y, GRID[best])
        return {"setting": best, "cv_macro_f1": scores, "coef": np.round(meta.coef_, 4).tolist(),
                "intercept": np.round(meta.intercept_, 4).tolist()}

    def step_cv(self, result):
        lever = self.lever
        t0 = time.perf_counter()
        lever.result["base"] = lever.cv_row("base", BASE, SEEDS)
        lever.result["base_fresh_seeds"] = lever.cv_row("base", BASE, FRESH)
        out = {"grid": GRID, "choice_rule": CHOICE_RULE, "keep_rule": KEEP_RULE,
               "base": lever.result["base"], "base_fresh_seeds": lever.result["base_fresh_seeds"]}
        def run_seed(s):
            pred, chosen = self.nested_cv(s)
            run = dict(seed=s, chosen=chosen, **lever.score(lever.oof("base", BASE, s), pred=pred))
            log.info("meta seed %d: CV macro %.4f AF %.4f (%.0f s)", s, run["macro_f1"], run["af_f1"],
                     time.perf_counter() - t0)
            return run

        row = seed_set_row(lever, run_seed)
        pair = row["paired"]
        out["meta"] = row
        out["all_folds_choice"] = {str(s): self.all_folds_choice(s) for s in SEEDS + FRESH}
        out["kept"] = row["passes"]
        out["seconds"] = time.perf_counter() - t0
        log.info("meta: paired AF %+.4f +- %.4f macro %+.4f +- %.4f kept %s", pair["af_f1"]["mean"],
                 pair["af_f1"]["sd"], pair["macro_f1"]["mean"], pair["macro_f1"]["sd"], out["kept"])
        result["cv"] = out


def main(argv=None) -> int:
    return lever_main(__doc__, STEPS, "meta_blend", MetaBlend, KEEP_RULE, argv)


if __name__ == "__main__":
    sys.exit(main())
