"""af59 (issue 18): the two latest small AF gains together, on booster seeds that neither was measured on: af53's
spectrogram member on the deep side and af56's beat-ectopy focus columns on the booster side.

    python experiments/cinc2017/combo_lever.py --work WORK --spectro-work SPECTRO --ectopy-work ECTOPY \
        --steps plan cv [validate] --out experiments/cinc2017/af59_results.json

``SPECTRO``: ``spectro_member.py --lever af53``'s WORK (``spectro_oof.npz``, ``spectro_oof_s43.npz``,
``spectro_oof_s44.npz``: the member's out-of-fold training and fold-mean validation probabilities per training seed);
``ECTOPY``: ``beat_ectopy.py``'s WORK (``beat_ectopy.npz``, every CinC record).

Why, and not blind: af53 (the spectrogram member, three training seeds averaged, on the deep side: paired AF F1
+0.0019, 5 of 6 booster seeds) and af56 (af29's focus columns on the booster side: +0.0029, 5 of 6) each moved the CV
AF F1 up inside the booster-seed spread, on different sides of the average. Whether their gains add is measured here
on booster seeds 48-53, on which neither was measured (their deep members' folds and training seeds are fixed, so
fresh booster seeds remove booster-seed luck, not the choice of the two levers).

``cv``        5-fold CV on the training split (the preset's folds): the recipe ``0.5 * booster side + 0.5 * deep side``
              against the shipped recipe, booster seeds 48-50 and 51-53. VARIANTS: ``both`` (PRIMARY): booster over
              the 118 + focus columns, deep side the mean of ECG-SL, the ResNet and the spectrogram member;
              ``spectro_only`` and ``focus_only`` (information: is the sum the parts?).
``validate``  only for a kept lever (SHIP_RULE): the validation rows, 1,364 records.

KEEP_RULE: af_lever's rule (CV AF F1 mean over booster seeds rises by more than the larger seed sd of both rows, CV
macro F1 does not drop by more than it) on seeds 48-50 AND on 51-53, each against the shipped recipe on the same
seeds, and paired over 48-53 the mean AF F1 gain above its sd and the mean macro F1 difference not below minus its sd.

Last stdout line one JSON object (key ``combo_lever`` of ``--out``).
"""
from __future__ import annotations

import functools
import logging
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.cinc2017.af_lever import BASE, Lever, PlannedLever, paired, validation_rows  # noqa: E402
from experiments.cinc2017.beat_ectopy import FOCUS  # noqa: E402
from experiments.cinc2017.beat_ectopy_lever import joined  # noqa: E402
from experiments.cinc2017.oof_table import lever_main  # noqa: E402

log = logging.getLogger("experiments.cinc2017.combo_lever")
STEPS = ("plan", "cv", "validate")
PLAN_PATH = HERE / "af59_plan.json"
SEED_SETS = ((48, 49, 50), (51, 52, 53))
SPECTRO_FILES = ("spectro_oof.npz", "spectro_oof_s43.npz", "spectro_oof_s44.npz")     # af53's training seeds 42-44
VARIANTS = {"both": "booster over the 118 + focus columns; deep side ECG-SL, the ResNet and the spectrogram member "
                    "(PRIMARY)",
            "spectro_only": "the shipped booster; deep side with the spectrogram member (information)",
            "focus_only": "booster over the 118 + focus columns; the shipped deep side (information)"}
PRIMARY = "both"
KEEP_RULE = ("the primary variant (both) is kept only if af_lever's rule (CV AF F1 mean over booster seeds rises by "
             "more than the larger seed sd of both rows, CV macro F1 does not drop by more than it) holds on booster "
             "seeds 48-50 AND on 51-53, each against the shipped recipe on the same seeds, and paired over 48-53 the "
             "mean CV AF F1 gain exceeds its sd and the mean macro F1 difference is not below minus its sd; "
             "validation only if kept")
SHIP_RULE = ("only for a kept lever (af44's rule): the variant's booster refit on the whole training split (seeds "
             "48-50) averaged with its validation deep side, against the shipped recipe's boosters on the same seeds; "
             "it would ship only if the validation AF F1 (mean over the seeds) rises and the validation macro F1 does "
             "not drop by more than 0.005. Serving it needs the spectrogram member ported to a signal-input Keras "
             "model and mitdb-beats in cinc2017's serving path")
PLAN = {"lever": "af59 af53's spectrogram member and af56's focus columns together", "blind": False,
        "why": "each moved the CV AF F1 up inside the booster-seed spread, on different sides of the average; do the "
               "gains add, on booster seeds neither was measured on?",
        "spectrogram_member": "af53: the mean of its training seeds 42-44 (" + ", ".join(SPECTRO_FILES) + ")",
        "focus_columns": list(FOCUS), "variants": VARIANTS, "primary": PRIMARY,
        "booster_seeds": [list(s) for s in SEED_SETS], "keep_rule": KEEP_RULE, "ship_rule": SHIP_RULE}


def extra_arguments(parser) -> None:
    parser.add_argument("--spectro-work", type=Path, required=True, help="spectro_member.py --lever af53's WORK")
    parser.add_argument("--ectopy-work", type=Path, required=True, help="beat_ectopy.py's WORK (beat_ectopy.npz)")


class ComboLever(PlannedLever):
    PLAN, PLAN_PATH = PLAN, PLAN_PATH

    @functools.cached_property
    def spectro(self) -> dict:
        """{split: (n, C) the spectrogram member's probabilities in the Lever's order}: the mean of af53's seeds."""
        parts = []
        for name in SPECTRO_FILES:
            path = Path(self.args.spectro_work) / name
            if not path.is_file():
                raise SystemExit(f"error: {path}: not found: run spectro_member.py --lever af53 --steps oof")
            z = np.load(path)
            parts.append(dict(zip(map(str, z["record_id"]), z["spectro"].astype(np.float64))))
        return {s: np.stack([np.mean([p[r] for p in parts], axis=0) for r in self.lever.ids[s]])
                for s in ("train", "validation")}

    def deep_side(self, variant, split) -> np.ndarray:
        if variant == "focus_only":
            return self.lever.deep[split]
        e, r = self.lever.members[split]
        return (e + r + self.spectro[split]) / 3.0

    def focus(self, split) -> tuple:
        """(X, names): the Lever's 118 columns of ``split`` and af29's focus columns (``beat_ectopy_lever.joined``)."""
        return joined(self.lever, self.args.ectopy_work, split, self.lever.ids[split], FOCUS)

    def booster_side(self, variant, seed) -> np.ndarray:
        if variant == "spectro_only":
            return self.lever.oof("base", BASE, seed)
        X, names = self.focus("train")
        return self.lever.oof("af59_focus", BASE, seed, X=X, names=names)

    def step_cv(self, result):
        lever, t0 = self.lever, time.perf_counter()
        out = {"variants": VARIANTS, "primary": PRIMARY, "keep_rule": KEEP_RULE}
        base_runs = {}
        for seeds in SEED_SETS:
            key = "seeds_" + "_".join(map(str, seeds))
            out.setdefault("base", {})[key] = lever.cv_row("base", BASE, list(seeds))
            base_runs[key] = out["base"][key]["runs"]
        for variant in VARIANTS:
            row, runs = {}, []
            for key, seeds in zip(base_runs, SEED_SETS):
                rs = [dict(seed=s, **lever.score(self.booster_side(variant, s), deep=self.deep_side(variant, "train")))
                      for s in seeds]
                row[key] = lever.summarise(rs)
                row[key]["passes_af_lever_rule"] = Lever.beats(row[key], out["base"][key])
                runs += rs
            pair = paired(runs, [r for rs in base_runs.values() for r in rs])
            row["paired"] = pair
            row["passes"] = bool(all(row[k]["passes_af_lever_rule"] for k in base_runs)
                                 and pair["af_f1"]["mean"] > pair["af_f1"]["sd"]
                                 and pair["macro_f1"]["mean"] >= -pair["macro_f1"]["sd"])
            log.info("%s: paired AF %+.4f +- %.4f macro %+.4f +- %.4f passes %s", variant, pair["af_f1"]["mean"],
                     pair["af_f1"]["sd"], pair["macro_f1"]["mean"], pair["macro_f1"]["sd"], row["passes"])
            out[variant] = row
        out["kept"] = out[PRIMARY]["passes"]
        out["seconds"] = time.perf_counter() - t0
        result["cv"] = out

    def step_validate(self, result):
        """SHIP_RULE's rows (``af_lever.validation_rows``) on booster seeds 48-50."""
        if not (result.get("cv") or {}).get("kept"):
            raise SystemExit("error: the lever is not kept: the validation split is not looked at (SHIP_RULE)")
        lever = self.lever
        (Xt, names), (Xv, _) = self.focus("train"), self.focus("validation")
        sides = {"shipped": (lever.X["train"], lever.X["validation"], lever.names, lever.deep["validation"]),
                 PRIMARY: (Xt, Xv, names, self.deep_side(PRIMARY, "validation"))}
        result["validate"] = dict(validation_rows(lever, sides, SEED_SETS[0], PRIMARY, "shipped"), ship_rule=SHIP_RULE)


def main(argv=None) -> int:
    return lever_main(__doc__, STEPS, "combo_lever", ComboLever, KEEP_RULE, argv, extra=extra_arguments)


if __name__ == "__main__":
    sys.exit(main())
