"""Issue 18, AF lever af71: hybrid (a) fold models (``cinc2017-keras``' recipe) as a third member of the deep side.

    # the fold models and their out-of-fold probabilities (the preset's 5 folds; resumable)
    python experiments/cinc2017/hybrid.py --data PREPARED --features UNUSED --work FOLDS --model hybrid --epochs 12 \
        --steps folds finetune deep
    python experiments/cinc2017/hybrid_member.py --work WORK --hybrid-work FOLDS [--steps plan cv [validate]] \
        [--out experiments/cinc2017/af71_results.json]

PREPARED: the CinC records prepared with record features (``prepare --record-features``). Reads the committed inputs
(``oof/features118.npz``, ``oof/deep_oof.npz``: the shipped preset's fold members' out-of-fold probabilities and
folds) through af_lever's ``Lever``. Every row is the recipe's average ``0.5 * booster + 0.5 * deep side`` scored by
5-fold CV on the 5,456 training records (the preset's folds), against ``base`` (the deep side as shipped: the mean of
ECG-SL and the ResNet).

Why, and not blind: issue 18 names stronger deep members as a lever left. The strongest single deep model of the
issue is hybrid (a), ECG-SL with the record features before its head (validation macro F1 0.766 to 0.780 over seeds,
against 0.72 for ECG-SL alone, ``hybrid_keras_refit_results.json`` and ``keras_seed_ensemble_results.json``: those
validation figures were seen). The served deep side has never held it: its members read the waveform alone. It may add
little, since the booster reads the same features; the CV says.

Fold models: ``hybrid.py --model hybrid`` (stage ``hybrid`` from the ``encoder`` preset, 1 warm-up epoch, no class
weights, 12 epochs, patience 6, seed 42), one per fold of the preset's assignment (checked equal to the committed
table's), each trained on the other 4 folds' training records with its best epoch chosen on its held fold, as the
committed ECG-SL fold models were; ``training.oof.check_out_of_fold`` checks that no record's probability comes from
a model that trained on it.

Variants (``VARIANTS``): ``three_members`` (PRIMARY, the only one that can be kept): the deep side the mean of
ECG-SL, the ResNet and the hybrid; ``hybrid_for_ecgsl`` (information): the mean of the ResNet and the hybrid. The
booster side is the shipped booster (af_lever ``BASE``, its cached out-of-fold outputs). The hybrid alone on the CV
is reported (information).

KEEP RULE (af36's, as af67's): the primary variant is kept only if af_lever's rule holds on booster seeds 42-44
against ``base`` AND on 45-47 against ``base_fresh_seeds``, and paired over seeds 42-47 the mean AF F1 gain exceeds its
sd and the mean macro F1 difference is not below minus its sd; validation and a preset only if kept.

af72 (``--confirm``, key ``hybrid_member_confirm``, plan ``af72_plan.json``; not blind: af71's information variant
passed the rule and is tested here as the primary): the hybrid fold models trained again with training seed 43
(``hybrid.py --deep-seed 43``, ``--hybrid-work`` its work folder; ``--hybrid-work-first`` af71's seed-42 folder), the
deep side the mean of the ResNet and the seed-43 hybrid (``hybrid_for_ecgsl``, PRIMARY), and, information, the mean
of the ResNet and the two seeds' hybrids (``hybrid_two_seeds_for_ecgsl``); the same keep rule on booster seeds 42-44,
45-47 and paired. A second training seed of the fold models is the draw af71 could not repeat: its booster seeds
re-draw the booster only.
``validate`` (kept af72 only; ``SHIP_RULE``, af44's): the booster refit on the whole training split, averaged with the
validation deep side of the ResNet and the seed-43 hybrid fold models (each the mean of its fold models), against the
shipped deep side.

Last stdout line one JSON object; ``--out`` key ``hybrid_member`` (``hybrid_member_confirm`` with ``--confirm``).
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.cinc2017.af_lever import (BASE, FRESH, SEEDS, PlannedLever, af36_keep_rule,  # noqa: E402
                                           validation_rows, variants_cv)
from experiments.cinc2017.features import _metrics  # noqa: E402
from experiments.cinc2017.oof_table import lever_main  # noqa: E402

STEPS = ("plan", "cv", "validate")
PLAN_PATH = HERE / "af71_plan.json"
VARIANTS = {"three_members": "mean of ECG-SL, the ResNet and the hybrid (a) fold models (PRIMARY)",
            "hybrid_for_ecgsl": "mean of the ResNet and the hybrid (a) fold models (information)"}
PRIMARY = "three_members"
KEEP_RULE = af36_keep_rule("three_members", "validation and a preset only if kept")
PLAN = {"lever": "af71 hybrid (a) fold models (cinc2017-keras' recipe) as a third deep member", "blind": False,
        "why": "issue 18 names stronger deep members; hybrid (a) is the strongest single deep model of the issue "
               "(validation 0.766-0.780 over seeds against 0.72 for ECG-SL, seen); the served deep side never held "
               "it; the booster reads the same features, so the gain may be small",
        "fold_models": "experiments/cinc2017/hybrid.py --model hybrid --epochs 12: stage hybrid from encoder, 1 "
                       "warm-up epoch, no class weights, patience 6, seed 42, best epoch on the held fold; the "
                       "preset's fold assignment (checked equal to oof/deep_oof.npz's)",
        "variants": VARIANTS, "primary": PRIMARY, "booster": "the shipped booster (af_lever BASE)",
        "keep_rule": KEEP_RULE, "booster_seeds": {"primary": SEEDS, "fresh": FRESH}}


CONFIRM_VARIANTS = {"hybrid_for_ecgsl": "mean of the ResNet and the seed-43 hybrid (a) fold models (PRIMARY)",
                    "hybrid_two_seeds_for_ecgsl": "mean of the ResNet and the mean of the seed-42 and seed-43 hybrid "
                                                  "fold models (information)"}
CONFIRM_PRIMARY = "hybrid_for_ecgsl"
CONFIRM_KEEP_RULE = af36_keep_rule("hybrid_for_ecgsl, seed-43 fold models", "validation and a preset only if kept")
CONFIRM_PLAN_PATH = HERE / "af72_plan.json"
SHIP_RULE = ("only for a kept af72 (af44's rule, af_lever.validation_rows): the shipped booster refit on the whole "
             "training split (booster seeds 42-44), averaged (weight 0.5) with the validation deep side of the mean of "
             "the ResNet's and the seed-43 hybrid fold models' validation probabilities (each the mean of its 5 fold "
             "models), against the same boosters with the shipped deep side (ECG-SL and the ResNet); a preset only if "
             "the validation AF F1 (mean over the seeds) rises and the validation macro F1 does not drop by more "
             "than 0.005")
CONFIRM_PLAN = dict(PLAN, lever="af72 hybrid (a) fold models in place of ECG-SL on the deep side, on a second training "
                    "seed (43) of the fold models", why="af71's information variant (the hybrid in place of ECG-SL) "
                    "passed every part of the rule on the seed-42 fold models (paired AF +0.0047 +- 0.0026, 6 of 6 "
                    "seeds); singled out after its figures, so it is tested again on fold models trained with another "
                    "seed, the draw af71's booster seeds do not repeat",
                    fold_models=PLAN["fold_models"].replace("seed 42", "seed 43 (--deep-seed 43)"),
                    variants=CONFIRM_VARIANTS, primary=CONFIRM_PRIMARY, keep_rule=CONFIRM_KEEP_RULE,
                    ship_rule=SHIP_RULE)


def fold_oof(folder, ids, split: str = "train") -> np.ndarray:
    """``hybrid.py``'s probabilities in ``folder`` (its deep_oof.npz), in the order of ``ids``: out of fold for the
    ``train`` split, the mean of the fold models for ``validation``."""
    if folder is None:
        raise SystemExit("error: give the hybrid fold models' work folder (--hybrid-work; af72's cv also "
                         "--hybrid-work-first)")
    path = Path(folder) / "deep_oof.npz"
    if not path.is_file():
        raise SystemExit(f"error: {path}: not found: run hybrid.py --model hybrid --steps folds finetune deep")
    table = np.load(path)
    row = {str(r): i for i, r in enumerate(table[f"{split}_record_id"])}
    missing = [r for r in ids if r not in row]
    if missing:
        raise SystemExit(f"error: {path}: no {split} row for {len(missing)} records (e.g. {missing[:3]})")
    return table[f"{split}_probabilities"][[row[r] for r in ids]]


class HybridMember(PlannedLever):
    PLAN, PLAN_PATH = PLAN, PLAN_PATH

    def __init__(self, args):
        super().__init__(args)
        if getattr(args, "confirm", False):
            self.PLAN, self.PLAN_PATH = CONFIRM_PLAN, CONFIRM_PLAN_PATH

    @functools.cached_property
    def member(self) -> np.ndarray:
        """The hybrid fold models' out-of-fold probabilities in ``self.ids``' order (``hybrid.py``'s deep_oof.npz)."""
        return fold_oof(self.args.hybrid_work, self.ids)

    def step_cv(self, result):
        e, r = self.lever.members["train"]
        result["member_alone_cv"] = _metrics(self.lever.y["train"], self.member.argmax(-1))
        if getattr(self.args, "confirm", False):
            first = fold_oof(self.args.hybrid_work_first, self.ids)
            sides = {"hybrid_for_ecgsl": 0.5 * (r + self.member),
                     "hybrid_two_seeds_for_ecgsl": 0.5 * (r + 0.5 * (first + self.member))}
            variants, primary, rule, tag = CONFIRM_VARIANTS, CONFIRM_PRIMARY, CONFIRM_KEEP_RULE, "hybrid_member_confirm"
        else:
            sides = {"three_members": (e + r + self.member) / 3.0, "hybrid_for_ecgsl": 0.5 * (r + self.member)}
            variants, primary, rule, tag = VARIANTS, PRIMARY, KEEP_RULE, "hybrid_member"
        result["cv"] = variants_cv(self.lever, variants, primary, rule,
                                   lambda variant, seed: self.lever.oof("base", BASE, seed), tag,
                                   deep_of=lambda variant, seed: sides[variant])

    def step_validate(self, result):
        """SHIP_RULE's rows (``af_lever.validation_rows``), for a kept af72 only."""
        if not (getattr(self.args, "confirm", False) and (result.get("cv") or {}).get("kept")):
            raise SystemExit("error: af72 is not kept: the validation split is not looked at (SHIP_RULE)")
        lever, val_ids = self.lever, self.lever.ids["validation"]
        _, resnet = lever.members["validation"]
        hybrid = fold_oof(self.args.hybrid_work, val_ids, split="validation")
        booster = (lever.X["train"], lever.X["validation"], lever.names)
        sides = {"shipped": (*booster, lever.deep["validation"]), CONFIRM_PRIMARY: (*booster, 0.5 * (resnet + hybrid))}
        result["validate"] = dict(validation_rows(lever, sides, SEEDS, CONFIRM_PRIMARY, "shipped"), ship_rule=SHIP_RULE)


def _hybrid_work(parser) -> None:
    parser.add_argument("--hybrid-work", type=Path, help="hybrid.py --model hybrid's work folder (deep_oof.npz)")
    parser.add_argument("--confirm", action="store_true", help="af72: the seed-43 fold models (--hybrid-work), "
                        "af71's seed-42 ones in --hybrid-work-first")
    parser.add_argument("--hybrid-work-first", type=Path, help="af72: af71's seed-42 hybrid.py work folder")


def main(argv=None) -> int:
    confirm = "--confirm" in (sys.argv[1:] if argv is None else argv)
    key, rule = ("hybrid_member_confirm", CONFIRM_KEEP_RULE) if confirm else ("hybrid_member", KEEP_RULE)
    return lever_main(__doc__, STEPS, key, HybridMember, rule, argv, extra=_hybrid_work, script="hybrid_member.py")


if __name__ == "__main__":
    sys.exit(main())
