"""af56 (issue 18): af29's beat-ectopy columns replicated on today's recipe (the committed tables and today's
``mitdb-beats``), with a validation step for a kept lever.

    python experiments/cinc2017/beat_ectopy.py --features DIR --work WORK --steps extract columns
    python experiments/cinc2017/beat_ectopy_lever.py --work WORK --steps plan cv [validate] \
        --out experiments/cinc2017/af56_results.json

``DIR`` holds ``features.npz``: the committed 118-column table (``oof/features118.npz``) under that name.

Why, and not blind: af29's six ``FOCUS`` columns (the ectopic fractions from the package's own beat classifier and the
RR irregularity that ectopic beats do or do not explain) gave the strongest and most consistent CV AF gain of every
lever so far: paired over nine booster seeds +0.0078 +- 0.0056 AF F1, higher on 9 of 9, macro +0.0029 (af29, on the
af26 tables: the deep side of that day's own fold runs). They were picked by looking at the training split, and af30's
nested selection (the choice of columns inside the CV) kept less of the gain, so no preset was built. Since then the
deep side is the shipped preset's own fold members (``oof/deep_oof.npz``, af31) and ``mitdb-beats`` was rebuilt (its V
gate, template and pause rules, s34-s39), so the columns and the recipe they join are not the ones af29 measured. This
lever measures af29's primary again on today's recipe, unchanged, under af36's rule: a replication, not a new choice.

``plan``      the plan (``af56_plan.json``), before any figure.
``cv``        ``af_lever.variants_cv``: the booster over the 118 columns and the variant's beat-ectopy columns
              (WORK/beat_ectopy.npz from ``beat_ectopy.py --steps extract columns``: all 14 columns of
              ``ecgsl_keras.data.beat_ectopy``), averaged with the deep side as shipped, against the shipped recipe.
``validate``  only for a kept lever (SHIP_RULE): the validation rows, 1,364 records.

Last stdout line one JSON object (key ``beat_ectopy_lever`` of ``--out``).
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

from experiments.cinc2017.af_lever import (BASE, FRESH, SEEDS, PlannedLever, af36_keep_rule,  # noqa: E402
                                           validation_rows, variants_cv)
from experiments.cinc2017.beat_ectopy import FOCUS  # noqa: E402
from experiments.cinc2017.oof_table import lever_main, table_rows  # noqa: E402

log = logging.getLogger("experiments.cinc2017.beat_ectopy_lever")
STEPS = ("plan", "cv", "validate")
PLAN_PATH = HERE / "af56_plan.json"
TABLE = "beat_ectopy.npz"
VARIANTS = {"focus": "af29's six FOCUS columns, unchanged (PRIMARY)",
            "all": "all 14 beat-ectopy columns (information only)"}
PRIMARY = "focus"
KEEP_RULE = af36_keep_rule("focus", "validation only if kept")
SHIP_RULE = ("only for a kept lever (af44's rule): the booster over the 118 columns and the focus columns refit on the "
             "whole training split (booster seeds 42-44), averaged (weight 0.5) with the shipped validation deep side, "
             "against the shipped recipe's boosters on the same seeds; a preset only if the validation AF F1 (mean "
             "over the seeds) rises and the validation macro F1 does not drop by more than 0.005. Serving it puts "
             "mitdb-beats and beat_ectopy_features into cinc2017's serving path")
PLAN = {"lever": "af56 af29's beat-ectopy columns on today's recipe (a replication)", "blind": False,
        "why": "af29's focus columns were the strongest CV AF lever (+0.0078 +- 0.0056 over 9 booster seeds, 9 of 9) "
               "on the af26 tables; the deep side (the preset's fold members, af31) and mitdb-beats (s34-s39) changed "
               "since; the columns were picked on the training split (af30's nested selection kept less)",
        "columns": {"focus": list(FOCUS), "table": "beat_ectopy.py --steps extract columns (mitdb-beats as shipped "
                    "today, every CinC record)"},
        "variants": VARIANTS, "primary": PRIMARY, "params": "the shipped LightGBM setting (af_lever BASE)",
        "keep_rule": KEEP_RULE, "ship_rule": SHIP_RULE, "booster_seeds": {"primary": SEEDS, "fresh": FRESH}}


def table_summary(work) -> dict:
    """The beat-ectopy table's extraction (``beat_ectopy.py``'s WORK/beats): records, refused, ms per record."""
    beats = Path(work) / "beats"
    for name in ("timing.json", "errors.json"):
        if not (beats / name).is_file():
            raise SystemExit(f"error: {beats / name}: not found: run beat_ectopy.py --work {work} --steps extract")
    timing = json.loads((beats / "timing.json").read_text())
    seconds, records = sum(t["seconds"] for t in timing.values()), sum(t["records"] for t in timing.values())
    return {"records": records, "refused": len(json.loads((beats / "errors.json").read_text())),
            "ms_per_record": round(1000 * seconds / records, 1),
            "timing_note": "mitdb-beats predict_signal, one TensorFlow thread, the shared 2-core CPU, nice 10"}


def table_names(work) -> list:
    """The column names of WORK's beat-ectopy table; stops naming the command that writes a missing one."""
    path = Path(work) / TABLE
    if not path.is_file():
        raise SystemExit(f"error: {path}: not found: run beat_ectopy.py --work {work} --steps extract columns")
    return [str(n) for n in np.load(path)["names"]]


def joined(lever, work, split, ids, names) -> tuple:
    """(X, column names): the Lever's 118 columns of ``split`` (rows ``ids``) and the beat-ectopy table's ``names``."""
    table = table_names(work)
    extra = table_rows(Path(work) / TABLE, ids)[:, [table.index(n) for n in names]]
    return np.concatenate([lever.X[split].astype(np.float64), extra], axis=1), list(lever.names) + list(names)


class BeatEctopyLever(PlannedLever):
    PLAN, PLAN_PATH = PLAN, PLAN_PATH

    def columns(self, variant) -> list:
        return list(FOCUS) if variant == "focus" else table_names(self.work)

    def extended(self, split, variant, ids) -> tuple:
        return joined(self.lever, self.work, split, ids, self.columns(variant))

    def booster_side(self, variant, seed) -> np.ndarray:
        X, names = self.extended("train", variant, self.ids)
        return self.lever.oof(f"af56_{variant}", BASE, seed, X=X, names=names)

    def step_cv(self, result):
        result["table"] = table_summary(self.work)
        result["cv"] = variants_cv(self.lever, VARIANTS, PRIMARY, KEEP_RULE, self.booster_side, "beat_ectopy_lever")

    def step_validate(self, result):
        """SHIP_RULE's rows (``af_lever.validation_rows``): per booster seed, the shipped recipe's booster and the focus
        booster, each refit on the whole training split and averaged with the shipped validation deep side."""
        if not (result.get("cv") or {}).get("kept"):
            raise SystemExit("error: the lever is not kept: the validation split is not looked at (SHIP_RULE)")
        lever, val_ids = self.lever, self.lever.ids["validation"]
        (Xt, names), (Xv, _) = self.extended("train", PRIMARY, self.ids), self.extended("validation", PRIMARY, val_ids)
        sides = {"shipped": (lever.X["train"], lever.X["validation"], lever.names, lever.deep["validation"]),
                 "focus": (Xt, Xv, names, lever.deep["validation"])}
        result["validate"] = dict(validation_rows(lever, sides, SEEDS, PRIMARY, "shipped"), ship_rule=SHIP_RULE)


def main(argv=None) -> int:
    return lever_main(__doc__, STEPS, "beat_ectopy_lever", BeatEctopyLever, KEEP_RULE, argv)


if __name__ == "__main__":
    sys.exit(main())
