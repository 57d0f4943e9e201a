"""Issue 18, AF lever af66: every committed column table of the earlier AF levers beside the 118 columns, together.

    python experiments/cinc2017/column_union.py --work WORK [--steps plan cv] \
        [--out experiments/cinc2017/af66_results.json]

Reads the committed inputs (``oof/features118.npz``, ``oof/deep_oof.npz``) through af_lever's ``Lever`` and the four
committed column tables of earlier levers (``TABLES``, in ``oof/``: af34's beat-by-beat atrial waves, af35's atrial
spectrum after QRST cancellation, af41's TQ-segment columns, af44's RR-pattern columns; af44's ``rr_paroxysm`` and
``rr_block`` tables are the two halves of ``rr_pattern``, equal value for value, so they are not read again).
Every row is the shipped recipe's average ``0.5 * booster + 0.5 * mean(ECG-SL, ResNet)`` scored by 5-fold CV
on the 5,456 training records (the preset's folds), against ``base`` (the 118 columns).

Why, and not blind: each table was measured alone against the 118 columns and none was kept; af65 found the booster's
macro F1 falling monotonically as columns are removed (top 40 < top 60 < top 80 < all 118), so weak columns add up in
this booster. Whether the four tables' weak AF evidence adds up when given together was never measured.

Variants (``VARIANTS``, fixed before any figure): ``all_four`` (PRIMARY, the only one that can be kept: the 118
columns and all 33 columns of the four tables) and ``atrial_three`` (af34 + af35 + af41: the atrial-activity tables;
information; if it passes, it is the a-priori primary of a next look on booster seeds 48-50). af44's RR table alone
was af44's own row. The shipped LightGBM setting (af_lever ``BASE``); columns appended in ``TABLES``' order.

KEEP RULE (af36's, ``af_lever.seed_set_row``): af_lever's rule (CV AF F1 mean over booster seeds rises by more than
the larger seed sd of both rows, CV macro F1 does not drop by more than it) on seeds 42-44 against ``base`` AND on
45-47 against ``base_fresh_seeds``, and paired over seeds 42-47 the mean AF F1 gain above its sd and the mean macro
F1 difference not below minus its sd. Validation (1,364 records) and a preset only if kept.

``overlap`` (information, after cv): each table column's nearest of the 118 by absolute correlation.

Boosters' out-of-fold outputs in WORK/oof (resumable); last stdout line one JSON object; ``--out`` key
``column_union``.
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

from experiments.cinc2017.af_lever import BASE, FRESH, SEEDS, PlannedLever, af36_keep_rule, variants_cv  # noqa: E402
from experiments.cinc2017.oof_table import lever_main, table_rows  # noqa: E402

log = logging.getLogger("experiments.cinc2017.column_union")
STEPS = ("plan", "cv", "overlap")
PLAN_PATH = HERE / "af66_plan.json"
OOF = HERE / "oof"
TABLES = {"atrial_waves": "af34", "atrial_spectrum": "af35", "tq_features": "af41", "rr_pattern": "af44"}
VARIANTS = {"all_four": list(TABLES), "atrial_three": ["atrial_waves", "atrial_spectrum", "tq_features"]}
PRIMARY = "all_four"
KEEP_RULE = af36_keep_rule("all_four",
                           "a non-primary variant that passes is the a-priori primary of a next look on seeds 48-50",
                           "validation and a preset only if kept")
PLAN = {"lever": "af66 every committed column table of the earlier AF levers beside the 118 columns, together",
        "blind": False,
        "why": "each table alone was not kept (af34, af35, af41, af44); af65: the booster's macro F1 falls "
               "monotonically as columns are removed, so weak columns add up in this booster; the four tables "
               "together were never measured (rr_paroxysm and rr_block are rr_pattern's two halves, not read)",
        "tables": {name: f"experiments/cinc2017/oof/{name}.npz ({lever})" for name, lever in TABLES.items()},
        "variants": VARIANTS, "primary": PRIMARY, "params": "the shipped LightGBM setting (af_lever BASE); columns "
        "appended in the tables' order", "keep_rule": KEEP_RULE, "booster_seeds": {"primary": SEEDS, "fresh": FRESH}}


def table_names(name) -> list:
    """The column names of committed table ``name``."""
    return [str(n) for n in np.load(OOF / f"{name}.npz")["names"]]


class ColumnUnion(PlannedLever):
    PLAN, PLAN_PATH = PLAN, PLAN_PATH

    @functools.cached_property
    def tables(self) -> dict:
        """Each table's training rows in the Lever's record order (a missing record stops with the file named)."""
        return {name: table_rows(OOF / f"{name}.npz", self.ids) for name in TABLES}

    def variant_names(self, variant) -> list:
        """A variant's column names: the 118 columns', then its tables'."""
        return list(self.lever.names) + [n for t in VARIANTS[variant] for n in table_names(t)]

    def variant_table(self, variant) -> tuple:
        """(X, names) of a variant: the 118 columns, then its tables' columns."""
        X = np.concatenate([self.lever.X["train"]] + [self.tables[t] for t in VARIANTS[variant]], axis=1)
        return X.astype(np.float32), self.variant_names(variant)

    def variant_oof(self, variant, seed) -> np.ndarray:
        X, names = self.variant_table(variant)
        return self.lever.oof(f"af66_{variant}", BASE, seed, X=X, names=names)

    def step_overlap(self, result):
        """Information (after cv, chooses nothing): per table column, the largest absolute Pearson correlation with
        one of the 118 columns over the training records (pairs with NaN left out, at least 100 records)."""
        import pandas as pd

        X, names = self.variant_table(PRIMARY)
        n = len(self.lever.names)
        corr = pd.DataFrame(X, columns=names).corr(min_periods=100).abs().iloc[n:, :n]
        nearest = {col: {"column": str(corr.loc[col].idxmax()), "abs_correlation": float(corr.loc[col].max())}
                   for col in names[n:]}
        result["overlap"] = {"nearest_of_118": nearest,
                             "largest_abs_correlation": max(v["abs_correlation"] for v in nearest.values())}

    def step_cv(self, result):
        result["cv"] = variants_cv(self.lever, VARIANTS, PRIMARY, KEEP_RULE, self.variant_oof, "column_union")
        result["cv"]["columns"] = {v: len(self.variant_names(v)) for v in VARIANTS}


def main(argv=None) -> int:
    return lever_main(__doc__, STEPS, "column_union", ColumnUnion, KEEP_RULE, argv)


if __name__ == "__main__":
    sys.exit(main())
