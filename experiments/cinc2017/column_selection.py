"""Issue 18, AF lever af65: the booster on fewer columns, chosen inside each training fold by its own gain.

    python experiments/cinc2017/column_selection.py --work WORK [--steps plan cv] \
        [--out experiments/cinc2017/af65_results.json]

Reads the committed inputs (``oof/features118.npz``: the 118 columns; ``oof/deep_oof.npz``: the shipped preset's fold
members' out-of-fold probabilities and folds) through af_lever's ``Lever``. Every row is the shipped recipe's average
``0.5 * booster + 0.5 * mean(ECG-SL, ResNet)`` scored by 5-fold CV on the 5,456 training records (the preset's
folds), against ``base`` (the same table, all 118 columns).

Why, and not blind: af57's gap report puts the validation AF shortfall on the booster (AF F1 0.854 on the training
split's CV against 0.810 on the validation records) while its macro F1 holds. The booster splits on every one of
118 columns, many of them noisy estimates of the same evidence (several RR irregularity measures, AFEv, P- and
f-wave power); a booster restricted to the columns that carry most of its gain has fewer places to fit what only the
training records share. The 2017 challenge's feature entries selected their columns (Zabihi et al.: 150 of 491);
no earlier lever here removed columns.

Selection (``selected_columns``, fixed before any figure): for a held fold h and booster seed s, the shipped booster
(af_lever ``BASE``, seed s) is fitted on the other folds' records with all 118 columns; its columns are ranked by
total split gain (LightGBM ``feature_importance("gain")``, ties by column order) and the top ``k`` kept; a booster of
the same setting and seed refitted on those columns of the same records scores fold h. The held fold never takes part
in its selection.

Variants (``VARIANTS``): ``top60`` (PRIMARY, the only one that can be kept; about half the columns), ``top40`` and
``top80`` (information; one that passes is the a-priori primary of a next look on booster seeds 48-50). ``stability``
(information) counts, per column, in how many of the 30 (fold, seed) selections of the primary it was kept.

KEEP RULE (af36's, ``af_lever.seed_set_row``): af_lever's rule (CV AF F1 mean over booster seeds rises by more than
the larger seed sd of both rows, CV macro F1 does not drop by more than it) on seeds 42-44 against ``base`` AND on
45-47 against ``base_fresh_seeds``, and paired over seeds 42-47 the mean AF F1 gain above its sd and the mean macro
F1 difference not below minus its sd. Validation (1,364 records) and a preset only if kept.

Boosters' out-of-fold outputs in WORK/oof (resumable); last stdout line one JSON object; ``--out`` key
``column_selection``.
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

from experiments.cinc2017.af_lever import BASE, FRESH, SEEDS, PlannedLever, af36_keep_rule, variants_cv  # noqa: E402
from experiments.cinc2017.features import LABELS  # noqa: E402
from experiments.cinc2017.oof_table import lever_main  # noqa: E402

log = logging.getLogger("experiments.cinc2017.column_selection")
STEPS = ("plan", "cv")
PLAN_PATH = HERE / "af65_plan.json"
VARIANTS = {"top60": 60, "top40": 40, "top80": 80}
PRIMARY = "top60"
KEEP_RULE = af36_keep_rule("top60",
                           "a non-primary variant that passes is the a-priori primary of a next look on seeds 48-50",
                           "validation and a preset only if kept")
PLAN = {"lever": "af65 the booster on its top-k columns by gain, selected inside each training fold", "blind": False,
        "why": "af57's gap report: the booster's AF F1 falls from 0.854 (CV) to 0.810 (validation) while its macro F1 "
               "holds; 118 columns, many noisy estimates of the same evidence; the challenge's feature entries "
               "selected columns; no earlier lever removed columns",
        "selection": "per held fold and booster seed: the shipped booster fitted on the other folds with all 118 "
                     "columns, columns ranked by total split gain (ties by column order), top k kept, the same "
                     "setting and seed refitted on them; the held fold takes no part in its selection",
        "variants": {"top k columns": VARIANTS}, "primary": PRIMARY, "params": "the shipped LightGBM setting "
        "(af_lever BASE)", "keep_rule": KEEP_RULE, "booster_seeds": {"primary": SEEDS, "fresh": FRESH}}


def selected_columns(gain, k: int) -> np.ndarray:
    """The indices of the ``k`` columns of largest ``gain`` (ties: the earlier column first), in column order."""
    gain = np.asarray(gain, np.float64)
    if not 0 < k <= len(gain):
        raise ValueError(f"k must be in 1..{len(gain)}, got {k}")
    order = np.lexsort((np.arange(len(gain)), -gain))
    return np.sort(order[:k])


class ColumnSelection(PlannedLever):
    PLAN, PLAN_PATH = PLAN, PLAN_PATH

    def __init__(self, args):
        super().__init__(args)
        self.y, self.fold = self.lever.y["train"], self.lever.fold

    def fold_gain(self, h: int, seed: int) -> np.ndarray:
        """Total split gain per column of the shipped booster (seed ``seed``) fitted on the folds other than ``h``;
        cached in WORK/oof (every variant ranks the same fit)."""
        cache = self.work / "oof" / f"af65_gain_h{h}_s{seed}.npy"
        if cache.is_file():
            return np.load(cache)
        lever, keep = self.lever, self.fold != h
        clf = lever._clf(lever.names, BASE, seed).fit(lever.X["train"][keep], self.y[keep])
        gain = np.asarray(clf.booster.feature_importance(importance_type="gain"), np.float64)
        np.save(cache, gain)
        return gain

    def variant_oof(self, variant, seed) -> np.ndarray:
        cache = self.work / "oof" / f"af65_{variant}_s{seed}.npy"
        if cache.is_file():
            return np.load(cache)
        lever, X = self.lever, self.lever.X["train"]
        out = np.zeros((len(self.y), len(LABELS)))
        for h in range(self.args.k):
            cols = selected_columns(self.fold_gain(h, seed), VARIANTS[variant])
            keep = self.fold != h
            clf = lever._clf([lever.names[c] for c in cols], BASE, seed).fit(X[keep][:, cols], self.y[keep])
            out[~keep] = clf.booster.predict(X[~keep][:, cols])
        np.save(cache, out)
        return out

    def stability(self) -> dict:
        """Per column, in how many (fold, seed) selections of the primary it was kept (seeds 42-47)."""
        counts = np.zeros(len(self.lever.names), int)
        for seed in SEEDS + FRESH:
            for h in range(self.args.k):
                counts[selected_columns(self.fold_gain(h, seed), VARIANTS[PRIMARY])] += 1
        order, selections = np.argsort(-counts, kind="stable"), len(SEEDS + FRESH) * self.args.k
        every = [self.lever.names[i] for i in order if counts[i] == selections]
        never = [self.lever.names[i] for i in order if counts[i] == 0]
        return {"selections": selections, "kept_in_every": every, "kept_in_every_count": len(every),
                "never_kept": never, "never_kept_count": len(never),
                "counts": {self.lever.names[i]: int(counts[i]) for i in order}}

    def step_cv(self, result):
        result["cv"] = variants_cv(self.lever, VARIANTS, PRIMARY, KEEP_RULE, self.variant_oof, "column_selection")
        result["cv"]["stability"] = self.stability()
        log.info("cv: kept %s; %s", result["cv"]["kept"],
                 json.dumps({v: result["cv"][v]["paired"]["af_f1"]["mean"] for v in VARIANTS}))


def main(argv=None) -> int:
    return lever_main(__doc__, STEPS, "column_selection", ColumnSelection, KEEP_RULE, argv)


if __name__ == "__main__":
    sys.exit(main())
