"""Issue 18, AF lever af49: the record features also computed on a second R-peak detector's beats.

    python experiments/cinc2017/detector_diversity.py --work /work/runs/s44-af49 [--steps plan extract cv] \
        [--cinc-dir ../shared/data/cinc2017/training2017] [--out experiments/cinc2017/af49_results.json]

Reads the committed inputs (``oof/deep_oof.npz``, ``oof/features118.npz``) through af_lever's ``Lever`` and the
training-split signals. Every row is the shipped recipe's average ``0.5 * booster side + 0.5 * mean(ECG-SL,
ResNet)``, 5-fold CV on the 5,456 training records (the preset's folds), against ``base`` (the same table).

Why this lever: every rhythm, AF and morphology column comes from one detector's R-peaks (``rpeaks.find_rpeaks``,
neurokit2's). Where it misses or adds beats (low-amplitude AF, noise, tall T waves) the RR statistics are wrong for
that record, and the booster calls the rhythm from wrong evidence. ``record_features`` already runs a second detector
(Hamilton 2002) for the bSQI agreement; its beats give a second, differently erring estimate of every column. No lever
has used a second detector's beats for anything but the bSQI. The idea is not from a validation look (blind).

Table B (``extract``, fixed before any figure): ``record_features`` of each training record's signal (the same
``record.lead(None)`` the table used) with ``rpeaks`` = the Hamilton beats exactly as ``record_features`` computes
them for the bSQI (``detect_rpeaks(clean(x, fs, "hamilton2002"), fs, "hamilton2002", cleaned=True)``; a detector
failure gives no beats, hence NaN columns). The ``sqi_*`` columns of table B are table A's: with the Hamilton beats as
the record's beats the bSQI would compare the detector with itself.

Variants (``VARIANTS``): ``mean_of_two`` (PRIMARY, the only one that can be kept): the booster side is the mean of the
shipped booster (table A) and the same booster fitted on table B; ``concat``: one booster over table A's 118 columns
and table B's non-``sqi`` columns (information only; if it passes, it is the a-priori primary of a next look on seeds
48-50).

KEEP RULE (af36's, ``af_lever.variants_cv``): af_lever's rule (CV AF F1 mean over booster seeds rises by more than the
larger seed sd of both rows, CV macro F1 does not drop by more than it) on seeds 42-44 against ``base`` AND on 45-47
against ``base_fresh_seeds``, and paired over seeds 42-47 the mean AF F1 gain above its sd and the mean macro F1
difference not below minus its sd. Validation (1,364 records) only if kept.

Table B is written by ``oof_table.extract_columns`` (one row per record of the features table, the training records
first; rows cached in WORK/rows, resumable; WORK/table_b.npz, float32 like table A, its last column the second
detector's beat count); boosters' out-of-fold outputs in WORK/oof; last stdout line one JSON object; ``--out`` key
``detector_diversity``.
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
from experiments.cinc2017.oof_table import cinc_dir_argument, extract_columns, lever_main, table_rows  # noqa: E402

log = logging.getLogger("experiments.cinc2017.detector_diversity")
STEPS = ("plan", "extract", "cv")
PLAN_PATH = HERE / "af49_plan.json"
SECOND_DETECTOR = "hamilton2002"
QUALITY_PREFIX = "sqi_"
BEATS_COLUMN = "second_detector_beats"     # table_b.npz's last column
VARIANTS = {"mean_of_two": "mean of the table-A and table-B boosters' probabilities",
            "concat": "one booster over table A and table B's non-sqi columns"}
PRIMARY = "mean_of_two"
KEEP_RULE = ("the primary variant (mean_of_two) is kept only if (a) af_lever's rule (CV AF F1 mean over booster seeds "
             "rises by more than the larger seed sd of both rows, CV macro F1 does not drop by more than it) holds on "
             "seeds 42-44 against base AND on seeds 45-47 against base_fresh_seeds, and (b) paired over booster seeds "
             "42-47 the mean CV AF F1 gain exceeds its sd and the mean macro F1 difference is not below minus its sd; "
             "a non-primary variant that passes is the a-priori primary of a next look on seeds 48-50; validation "
             "and a preset only if kept")
PLAN = {"lever": "af49 record features also on a second R-peak detector's beats", "blind": True,
        "why": "every rhythm, AF and morphology column comes from one detector's beats; record_features already runs "
               "a second one (Hamilton 2002) for the bSQI, whose beats give a differently erring estimate. Not from a "
               "validation look.",
        "table_b": {"detector": SECOND_DETECTOR, "beats": "detect_rpeaks(clean(x, fs, 'hamilton2002'), fs, "
                    "'hamilton2002', cleaned=True), as record_features computes them for the bSQI",
                    "sqi_columns": "table A's (the bSQI would compare the detector with itself)",
                    "detector_failure": "no beats: NaN columns"},
        "variants": VARIANTS, "primary": PRIMARY, "params": "the shipped LightGBM setting (af_lever BASE) for every "
        "booster", "keep_rule": KEEP_RULE, "booster_seeds": {"primary": SEEDS, "fresh": FRESH}}


def second_detector_beats(signal, fs) -> np.ndarray:
    """The Hamilton 2002 beats ``record_features`` computes for the bSQI (none where the detector fails)."""
    from ecgsl_keras.data.filters import clean
    from ecgsl_keras.data.rpeaks import detect_rpeaks

    raw = np.asarray(signal, np.float64).reshape(-1)
    try:
        return np.asarray(detect_rpeaks(clean(raw, fs, SECOND_DETECTOR), fs, SECOND_DETECTOR, cleaned=True), np.int64)
    except (ValueError, TypeError, IndexError, ZeroDivisionError, FloatingPointError):
        return np.zeros((0,), np.int64)


def with_quality_of(table_b, table_a, names) -> np.ndarray:
    """Table B with its ``sqi_*`` columns taken from table A."""
    out = np.array(table_b, np.float64, copy=True)
    quality = [i for i, n in enumerate(names) if str(n).startswith(QUALITY_PREFIX)]
    out[:, quality] = np.asarray(table_a, np.float64)[:, quality]
    return out


class DetectorDiversity(PlannedLever):
    PLAN, PLAN_PATH = PLAN, PLAN_PATH

    def step_extract(self, result):
        from ecgsl_keras.data.record_features import groups_of, record_features

        names, groups = list(self.lever.names), groups_of(self.lever.names)

        def columns(signal, fs):
            beats = second_detector_beats(signal, fs)
            feats = record_features(signal, fs, rpeaks=beats, groups=groups)
            return np.array([feats[n] for n in names] + [beats.size], np.float64)

        got = extract_columns(columns, names + [BEATS_COLUMN], self.args.features, self.args.deep_oof,
                              self.args.cinc_dir, self.work, self.work / "table_b.npz", log=log)
        rows = self.training_rows()
        same = np.isclose(self.table_b(rows), self.lever.X["train"], rtol=0, atol=0, equal_nan=True).all(1)
        result["extract"] = {"records": len(got["done"]), "training_records": len(self.ids),
                             "training_records_under_2_beats": int((rows[:, -1] < 2).sum()),
                             "training_records_every_column_equal_to_table_a": int(same.sum()),
                             "ms_per_record_median": round(float(np.median(got["ms"])), 1) if len(got["ms"]) else None}
        log.info("extract: %s", result["extract"])

    def training_rows(self) -> np.ndarray:
        """table_b.npz's rows of the training records, in ``self.ids``' order (the last column: the beat count)."""
        return table_rows(self.work / "table_b.npz", self.ids)

    def table_b(self, rows=None) -> np.ndarray:
        """Table B's 118 columns for the training records (``rows``: ``training_rows()``, read if not given), in
        ``self.ids``' order, ``sqi_*`` from table A."""
        rows = self.training_rows() if rows is None else rows
        return with_quality_of(rows[:, :-1], self.lever.X["train"], self.lever.names).astype(np.float32)

    @functools.cached_property
    def table_b_train(self) -> np.ndarray:
        """``table_b()``, read once for every variant and seed of the cv step."""
        return self.table_b()

    def booster_side(self, variant, seed) -> np.ndarray:
        lever = self.lever
        if variant == "mean_of_two":
            return 0.5 * (lever.oof("base", BASE, seed) + lever.oof("table_b", BASE, seed, X=self.table_b_train))
        if variant == "concat":
            keep = [i for i, n in enumerate(lever.names) if not str(n).startswith(QUALITY_PREFIX)]
            X = np.concatenate([lever.X["train"].astype(np.float64), self.table_b_train[:, keep]], axis=1)
            names = list(lever.names) + [f"b_{lever.names[i]}" for i in keep]
            return lever.oof("concat", BASE, seed, X=X, names=names)
        raise ValueError(f"unknown variant {variant!r}")

    def step_cv(self, result):
        self.table_b_train             # a missing or partial table_b.npz stops here, before any booster is fitted
        result["cv"] = variants_cv(self.lever, VARIANTS, PRIMARY, KEEP_RULE, self.booster_side, "detector_diversity")


def main(argv=None) -> int:
    return lever_main(__doc__, STEPS, "detector_diversity", DetectorDiversity, KEEP_RULE, argv,
                      extra=cinc_dir_argument)


if __name__ == "__main__":
    sys.exit(main())
