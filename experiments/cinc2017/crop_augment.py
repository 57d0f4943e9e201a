"""Issue 18, AF lever af48: the booster of the shipped ``cinc2017`` recipe also trained on crops of its records.

    python experiments/cinc2017/crop_augment.py --work /work/runs/s44-af48 [--steps plan check extract cv] \
        [--cinc-dir ../shared/data/cinc2017/training2017] [--out experiments/cinc2017/af48_results.json]

Reads the committed inputs (``oof/deep_oof.npz``: the shipped preset's fold members' out-of-fold probabilities and
folds; ``oof/features118.npz``: the 118 columns) through af_lever's ``Lever``, and the training-split signals for the
crops. Every row is the shipped recipe's average ``0.5 * booster + 0.5 * mean(ECG-SL, ResNet)`` scored by 5-fold CV
on the 5,456 training records (the preset's folds), whole records only, against ``base`` (the same table).

Why this lever: the booster learns from one feature vector per record (about 4,400 per fold), and its statistics
(RR irregularity, AFEv, P-wave and f-wave evidence) are estimates whose noise depends on how many beats the record
has. Crops of the same record give the booster other draws of those estimates under the same label: data
augmentation for a feature model. No lever has changed the booster's training rows except by dropping them (af36).
The idea is not from a validation look (blind).

Crops (fixed before any figure): every training-split record of class N, A or O lasting at least ``MIN_SECONDS``
(20 s) gives two crops, its first and its last ``CROP_FRACTION`` (70%) of samples (so each crop lasts at least 14 s
and the two overlap in the middle 40%). Noisy records give none: their noise may lie outside a crop, so the crop's
label could be wrong. A crop's features are ``record_features`` on the cropped signal, through the same quality gate
(``signal.preprocess``) as the table; a crop the gate refuses is left out. ``check`` first proves that the whole
records' features, computed here, equal the committed table.

CV (``cv``): for each held fold h, the booster is fitted on the other folds' whole records AND on the crops of those
records only (a held record's crops never train the booster that scores it), each crop weighted ``factor`` times its
class's balanced weight (the class weights of the whole records); it scores fold h's whole records.

Variants (``VARIANTS``): ``crop_half`` (PRIMARY, the only one that can be kept): factor 0.5 (a record's two crops
weigh as much as the record); ``crop_full``: factor 1.0 (information only; if it passes, it is the a-priori primary
of a next look on booster seeds 48-50).

KEEP RULE (af36's, ``af_lever.seed_set_row``): af_lever's rule (CV AF F1 mean over booster seeds rises by more than
the larger seed sd of both rows, CV macro F1 does not drop by more than it) on seeds 42-44 against ``base`` AND on
45-47 against ``base_fresh_seeds``, and paired over seeds 42-47 the mean AF F1 gain above its sd and the mean macro
F1 difference not below minus its sd. Validation (1,364 records) only if kept.

The crops are written by ``oof_table.extract_columns``: one row per record of the features table (crop 0's 118
columns, crop 1's, each crop's status: ``CROP_STATUS``), every record's crops computed and the class rule applied
when they are read; rows cached in WORK/rows (resumable), WORK/crops.npz float32 like the table. Boosters'
out-of-fold outputs in WORK/oof; last stdout line one JSON object; ``--out`` key ``crop_augment``.
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

from experiments.cinc2017.af_lever import BASE, FRESH, SEEDS, PlannedLever, variants_cv  # noqa: E402
from experiments.cinc2017.features import LABELS  # noqa: E402
from experiments.cinc2017.oof_table import cinc_dir_argument, extract_columns, lever_main, table_rows  # noqa: E402

log = logging.getLogger("experiments.cinc2017.crop_augment")
STEPS = ("plan", "check", "extract", "cv")
PLAN_PATH = HERE / "af48_plan.json"
MIN_SECONDS = 20.0
CROP_FRACTION = 0.7
CROP_CLASSES = ("N", "A", "O")
CHECK_RECORDS = 20
VARIANTS = {"crop_half": 0.5, "crop_full": 1.0}
CROP_STATUS = {"none": 0.0, "ok": 1.0, "refused": -1.0}    # a crop's status column in crops.npz
PRIMARY = "crop_half"
KEEP_RULE = ("the primary variant (crop_half) is kept only if (a) af_lever's rule (CV AF F1 mean over booster seeds "
             "rises by more than the larger seed sd of both rows, CV macro F1 does not drop by more than it) holds on "
             "seeds 42-44 against base AND on seeds 45-47 against base_fresh_seeds, and (b) paired over booster seeds "
             "42-47 the mean CV AF F1 gain exceeds its sd and the mean macro F1 difference is not below minus its sd; "
             "CV scored on whole records only; a non-primary variant that passes is the a-priori primary of a next "
             "look on seeds 48-50; validation and a preset only if kept")
PLAN = {"lever": "af48 booster trained on record crops too", "blind": True,
        "why": "augmentation of a feature model: crops give other draws of the record statistics under the same "
               "label; no lever changed the booster's training rows except by dropping them (af36). Not from a "
               "validation look.",
        "crops": {"min_seconds": MIN_SECONDS, "fraction": CROP_FRACTION, "which": "first and last fraction of the "
                  "samples", "classes": list(CROP_CLASSES), "gate": "signal.preprocess, as the table"},
        "variants": {"crop weight factor": VARIANTS}, "primary": PRIMARY,
        "cv": "crops of the outer-training records only; scored on whole held records",
        "keep_rule": KEEP_RULE, "booster_seeds": {"primary": SEEDS, "fresh": FRESH}}


def crop_bounds(n_samples: int, fs: float) -> list:
    """The (start, stop) sample bounds of a record's crops: none under ``MIN_SECONDS``, else its first and last
    ``CROP_FRACTION`` of samples."""
    if n_samples / fs < MIN_SECONDS:
        return []
    size = int(round(CROP_FRACTION * n_samples))
    return [(0, size), (n_samples - size, n_samples)]


def augmented_rows(X, y, fold, crops_X, crops_y, crops_fold, held: int, factor: float, class_weight) -> tuple:
    """(X, y, sample weight) of the booster that scores fold ``held``: the whole records of the other folds with
    ``class_weight[y]``, and the crops of those records only with ``factor * class_weight[y]``."""
    keep, crop_keep = fold != held, crops_fold != held
    Xa = np.concatenate([X[keep], crops_X[crop_keep]])
    ya = np.concatenate([y[keep], crops_y[crop_keep]])
    wa = np.concatenate([class_weight[y[keep]], factor * class_weight[crops_y[crop_keep]]])
    return Xa, ya, wa


def oof_with_rows(lever, seed, rows_X, rows_y, rows_fold, factor: float, k: int) -> np.ndarray:
    """Out-of-fold probabilities of the shipped booster (af_lever ``BASE``, booster ``seed``) on ``lever``'s training
    records, each held fold's booster also trained on the extra rows whose fold is not the held one
    (``augmented_rows``: ``factor`` times their class's balanced weight); the extra rows are never scored (af48's
    crops, af69's MIT-BIH windows)."""
    X, y, fold = lever.X["train"], lever.y["train"], lever.fold
    out = np.zeros((len(y), len(LABELS)))
    for h in range(k):
        clf = lever._clf(lever.names, BASE, seed)
        train_y = y[fold != h]
        class_weight = np.zeros(len(LABELS))
        class_weight[train_y] = clf.sample_weight(train_y)
        Xa, ya, wa = augmented_rows(X, y, fold, rows_X, rows_y, rows_fold, h, factor, class_weight)
        clf.fit(Xa, ya, sample_weight=wa)
        out[fold == h] = clf.booster.predict(X[fold == h])
    return out


def crop_names(names) -> list:
    """The crops table's columns (``crop_row``'s order): crop 0's ``names``, crop 1's, then each crop's status."""
    return [f"crop{c}_{n}" for c in range(2) for n in names] + ["crop0_status", "crop1_status"]


class CropAugment(PlannedLever):
    PLAN, PLAN_PATH = PLAN, PLAN_PATH

    def __init__(self, args):
        super().__init__(args)
        self.y, self.fold = self.lever.y["train"], self.lever.fold
        self._reader = None

    @property
    def reader(self):
        if self._reader is None:
            from ecgsl_keras.data.datasets import open_dataset

            self._reader = open_dataset("cinc2017", self.args.cinc_dir)
        return self._reader

    def features(self, signal, fs, path) -> np.ndarray:
        """The 118 columns of a signal, as the table computes them (the quality gate first)."""
        from ecgsl_keras.data.record_features import groups_of, record_features
        from ecgsl_keras.data.signal import preprocess

        preprocess(signal, fs, path=path)
        feats = record_features(signal, fs, path=path, groups=groups_of(self.lever.names))
        return np.array([feats[n] for n in self.lever.names], np.float64)

    def step_check(self, result):
        rng = np.random.default_rng(0)
        picked = sorted(rng.choice(len(self.ids), CHECK_RECORDS, replace=False))
        worst = 0.0
        for i in picked:
            record = self.reader.load(self.ids[i])
            got = self.features(record.lead(None), record.fs, record.path)
            ref = self.lever.X["train"][i].astype(np.float64)
            if not np.array_equal(np.isnan(got), np.isnan(ref)):
                raise SystemExit(f"error: {self.ids[i]}: NaN pattern differs from the committed table")
            worst = max(worst, float(np.nanmax(np.abs(got.astype(np.float32) - ref), initial=0.0)))
        if worst > 0:
            raise SystemExit(f"error: whole-record features differ from the committed table by up to {worst}")
        result["check"] = {"records": [self.ids[i] for i in picked], "max_abs_difference_float32": worst}
        log.info("check: %d records' features equal the committed table", len(picked))

    def crop_row(self, signal, fs) -> np.ndarray:
        """A record's crops as one row of ``extract_columns``: crop 0's 118 columns, crop 1's, then each crop's status
        (``CROP_STATUS``); NaN columns for a crop that is absent or that the quality gate refuses."""
        from ecgsl_keras.errors import RecordError

        n = len(self.lever.names)
        row = np.full(2 * n + 2, np.nan)
        row[2 * n:] = CROP_STATUS["none"]
        for c, (a, b) in enumerate(crop_bounds(len(signal), fs)):
            try:
                row[c * n:(c + 1) * n] = self.features(signal[a:b], fs, f"<crop {c}>")
                row[2 * n + c] = CROP_STATUS["ok"]
            except RecordError:
                row[2 * n + c] = CROP_STATUS["refused"]
        return row

    def step_extract(self, result):
        got = extract_columns(self.crop_row, crop_names(self.lever.names), self.args.features, self.args.deep_oof,
                              self.args.cinc_dir, self.work, self.work / "crops.npz", log=log)
        cX, cy, _ = self.crops()
        status = self._rows()[:, -2:]
        result["extract"] = {"records": len(got["done"]), "crops_ok": len(cy),
                             "crops_refused": int((status == CROP_STATUS["refused"]).sum()),
                             "per_class": {c: int((cy == LABELS.index(c)).sum()) for c in CROP_CLASSES},
                             "ms_per_record_median": round(float(np.median(got["ms"])), 1) if len(got["ms"]) else None}
        log.info("extract: %s", result["extract"])

    def _rows(self) -> np.ndarray:
        """crops.npz's rows of the training records whose class gives crops, in ``self.ids``' order."""
        eligible = [rid for rid, label in zip(self.ids, self.y) if LABELS[label] in CROP_CLASSES]
        return table_rows(self.work / "crops.npz", eligible)

    def crops(self) -> tuple:
        """(X, y, fold) of every crop the gate passed, record by record in ``self.ids``' order, crop 0 first."""
        n = len(self.lever.names)
        rows = self._rows()
        owner = np.array([i for i, label in enumerate(self.y) if LABELS[label] in CROP_CLASSES], int)
        X, who = [], []
        for row, i in zip(rows, owner):
            for c in range(2):
                if row[2 * n + c] == CROP_STATUS["ok"]:
                    X.append(row[c * n:(c + 1) * n])
                    who.append(i)
        who = np.array(who, int)
        return np.array(X, np.float32).reshape(-1, n), self.y[who], self.fold[who]

    @functools.cached_property
    def crop_table(self) -> tuple:
        """``crops()``, read once for every variant and seed of the cv step."""
        return self.crops()

    def variant_oof(self, variant, seed) -> np.ndarray:
        cache = self.work / "oof" / f"af48_{variant}_s{seed}.npy"
        if cache.is_file():
            return np.load(cache)
        out = oof_with_rows(self.lever, seed, *self.crop_table, VARIANTS[variant], self.args.k)
        np.save(cache, out)
        return out

    def step_cv(self, result):
        self.crop_table                # a missing or partial crops.npz stops here, before any booster is fitted
        result["cv"] = variants_cv(self.lever, VARIANTS, PRIMARY, KEEP_RULE, self.variant_oof, "crop_augment")


def main(argv=None) -> int:
    return lever_main(__doc__, STEPS, "crop_augment", CropAugment, KEEP_RULE, argv, extra=cinc_dir_argument)


if __name__ == "__main__":
    sys.exit(main())
