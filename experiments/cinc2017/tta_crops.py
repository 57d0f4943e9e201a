"""af62 (issue 18): the booster's prediction averaged over the whole record and two crops of it (test-time crops).

    python experiments/cinc2017/tta_crops.py --work WORK --steps plan extract cv \
        --out experiments/cinc2017/af62_results.json

Reads the committed inputs (``oof/features118.npz``, ``oof/deep_oof.npz``) through af_lever's ``Lever`` and the CinC
signals for the crops (``--cinc-dir``).

Why, and not blind: af57's gap report puts the validation AF shortfall on the booster, whose AF generalises worse than
its CV says. The booster reads one estimate of each record statistic (RR irregularity, AFEv, P-wave evidence); the
same statistics on two long crops of the record are other estimates of them. Averaging the booster's probabilities
over the whole record and its crops smooths a decision that rests on where one estimate falls against a threshold.
af48 trained the booster on crops (not kept); no lever averaged its predictions over crops.

Crops (af48's, ``crop_augment.crop_bounds``): every record lasting at least 20 s, of every class (the class never
decides whether a record has crops), gives its first and its last 70% of samples; each crop's 118 columns through the
same quality gate (``crop_augment.CropAugment.crop_row``); a refused crop is left out.

``extract``  the crops of every CinC record (``oof_table.extract_columns``; resumable): WORK/crops.npz.
``cv``       for each booster seed and held fold, the shipped booster fitted on the other folds' whole records (as
             af_lever's ``base``, which its whole-record predictions must reproduce) predicts the held records and
             their crops. VARIANTS: ``tta_mean`` (PRIMARY): the mean of the whole record's and its crops'
             probabilities; ``tta_half`` (information): 0.5 whole + 0.5 the crops' mean. A record without crops keeps
             its whole-record probabilities. The booster side so formed is averaged with the deep side as shipped.

KEEP_RULE: af36's (``af_lever.seed_set_row``). Validation only if kept.

Last stdout line one JSON object (key ``tta_crops`` of ``--out``).
"""
from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.cinc2017.af_lever import BASE, FRESH, SEEDS, af36_keep_rule, variants_cv  # noqa: E402
from experiments.cinc2017.crop_augment import CROP_STATUS, CropAugment, crop_names  # noqa: E402
from experiments.cinc2017.features import LABELS  # noqa: E402
from experiments.cinc2017.oof_table import cinc_dir_argument, extract_columns, lever_main, table_rows  # noqa: E402

log = logging.getLogger("experiments.cinc2017.tta_crops")
STEPS = ("plan", "extract", "cv")
PLAN_PATH = HERE / "af62_plan.json"
VARIANTS = {"tta_mean": "booster side = mean of the whole record's and its crops' probabilities (PRIMARY)",
            "tta_half": "booster side = 0.5 whole + 0.5 the crops' mean (information)"}
PRIMARY = "tta_mean"
KEEP_RULE = af36_keep_rule("tta_mean", "validation only if kept")
PLAN = {"lever": "af62 test-time crops for the booster", "blind": False,
        "why": "af57's gap report: the booster's AF generalises least; averaging its prediction over other estimates "
               "of the record's statistics smooths its decision; af48 trained on crops, none averaged over them",
        "crops": "af48's crop_bounds (records of at least 20 s: first and last 70%), every class, the same gate",
        "variants": VARIANTS, "primary": PRIMARY, "keep_rule": KEEP_RULE,
        "booster_seeds": {"primary": SEEDS, "fresh": FRESH}}


def tta(whole, crops, ok, share=None) -> np.ndarray:
    """(n, C) booster side: ``whole`` (n, C) averaged with the mean of the crops ``crops`` (n, 2, C) that are ``ok``
    (n, 2); ``share``: the crops' weight (None: each crop weighs as much as the whole record). Rows without a crop
    keep ``whole``."""
    count = ok.sum(1, keepdims=True)
    crop_sum = (crops * ok[:, :, None]).sum(1)
    if share is None:
        return (whole + crop_sum) / (1 + count)
    crop_mean = np.divide(crop_sum, np.maximum(count, 1))
    return np.where(count > 0, (1 - share) * whole + share * crop_mean, whole)


class TtaCrops(CropAugment):
    PLAN, PLAN_PATH = PLAN, PLAN_PATH

    def step_extract(self, result):
        n = len(self.lever.names)
        got = extract_columns(self.crop_row, crop_names(self.lever.names), self.args.features, self.args.deep_oof,
                              self.args.cinc_dir, self.work, self.work / "crops.npz", log=log)
        rows = table_rows(self.work / "crops.npz", self.ids)
        status = rows[:, 2 * n:]
        result["extract"] = {"records": len(got["done"]), "training_records": len(self.ids),
                             "training_crops_ok": int((status == CROP_STATUS["ok"]).sum()),
                             "training_crops_refused": int((status == CROP_STATUS["refused"]).sum()),
                             "ms_per_record_median": round(float(np.median(got["ms"])), 1) if len(got["ms"]) else None}

    @functools.cached_property
    def crop_rows(self) -> tuple:
        """(crops (n, 2, 118), ok (n, 2)) of the training records in ``self.ids``' order."""
        n = len(self.lever.names)
        rows = table_rows(self.work / "crops.npz", self.ids)
        return rows[:, :2 * n].reshape(len(rows), 2, n), rows[:, 2 * n:] == CROP_STATUS["ok"]

    def predictions(self, seed) -> tuple:
        """(whole (n, C), crops (n, 2, C)) out-of-fold booster probabilities of the training records and their crops."""
        cache = self.work / "oof" / f"af62_tta_s{seed}.npz"
        if cache.is_file():
            z = np.load(cache)
            return z["whole"], z["crops"]
        lever, X = self.lever, self.lever.X["train"]
        crops, _ = self.crop_rows
        whole, crop_p = np.zeros((len(X), len(LABELS))), np.zeros((len(X), 2, len(LABELS)))
        for h in range(self.args.k):
            held = self.fold == h
            clf = lever._clf(lever.names, BASE, seed).fit(X[~held], self.y[~held])
            whole[held] = clf.booster.predict(X[held])
            for c in range(2):
                crop_p[held, c] = clf.booster.predict(np.asarray(crops[held, c], np.float64))
        if np.abs(whole - lever.oof("base", BASE, seed)).max() > 1e-9:
            raise SystemExit(f"error: seed {seed}: the whole-record predictions do not reproduce af_lever's base")
        np.savez(cache, whole=whole, crops=crop_p)
        return whole, crop_p

    def booster_side(self, variant, seed) -> np.ndarray:
        whole, crops = self.predictions(seed)
        return tta(whole, crops, self.crop_rows[1], share=None if variant == "tta_mean" else 0.5)

    def step_cv(self, result):
        self.crop_rows                 # a missing or partial crops.npz stops here, before any booster is fitted
        result["cv"] = variants_cv(self.lever, VARIANTS, PRIMARY, KEEP_RULE, self.booster_side, "tta_crops")


def main(argv=None) -> int:
    return lever_main(__doc__, STEPS, "tta_crops", TtaCrops, KEEP_RULE, argv, extra=cinc_dir_argument)


if __name__ == "__main__":
    sys.exit(main())
