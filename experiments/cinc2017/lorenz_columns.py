"""af55 (issue 18): the Lorenz-plot organisation columns of ``record_features``' ``rhythm`` group as extra columns of
the shipped ``cinc2017`` booster, on today's recipe.

    python experiments/cinc2017/lorenz_columns.py --work WORK --steps plan extract cv \
        --out experiments/cinc2017/af55_results.json

Why, and not blind: the label-audit look (``label_audit.py``, RESULTS.md) found 7 of af33's 29 unanimous
Other-called-AF training records to be organised rhythms whose Lorenz plot is a few tight clusters (bigeminy, grouped
beating, flutter with varying conduction), and 4 of the 13 AF-called-Other to be clustered too. The shipped 118 columns
hold no column of that organisation. The ``rhythm`` group (11 columns, ``record_features``' table documents each) was
measured as a whole on the recipe of its day (the feature-groups table: + rhythm, CV AF F1 0.846 against 0.847) and not
kept; it was never measured on today's recipe, nor were its organisation columns alone.

``plan``     the plan (``af55_plan.json``), before any figure.
``extract``  ``record_features(signal, fs, groups=("rhythm",))`` for every CinC record (``oof_table.extract_columns``;
             resumable): WORK/rhythm.npz.
``cv``       ``af_lever.variants_cv``: the booster over the 118 columns and the variant's extra columns, averaged with
             the deep side as shipped, against the shipped recipe (af36's keep rule; VARIANTS, PRIMARY).
``look``     after cv (chooses nothing): the booster's and the recipe's calls and p(A) of the audit look's 7
             organised Other records (``ORGANISED_LOOK``) on booster seeds 42-44, with and without the columns.

Last stdout line one JSON object (key ``lorenz_columns`` of ``--out``).
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
from experiments.cinc2017.features import LABELS  # noqa: E402
from experiments.cinc2017.oof_table import (cinc_dir_argument, extract_block, extract_columns, lever_main,  # noqa: E402
                                             table_rows)

log = logging.getLogger("experiments.cinc2017.lorenz_columns")
STEPS = ("plan", "extract", "cv", "look")
# the 7 Other-called-AF training records the label-audit look saw as organised (tight Lorenz clusters; RESULTS.md)
ORGANISED_LOOK = ("A00100", "A00155", "A02248", "A05096", "A05243", "A05586", "A07283")
PLAN_PATH = HERE / "af55_plan.json"
GROUP = "rhythm"
ORGANISATION = ("rhy_kmeans2_cv", "rhy_kmeans3_cv", "rhy_poincare_clusters", "rhy_poincare_top3_fraction",
                "rhy_poincare_cell_fraction")
VARIANTS = {"organisation": "the 5 Lorenz-plot / RR-cluster columns of the rhythm group (PRIMARY)",
            "rhythm": "the whole rhythm group, 11 columns (information only)"}
PRIMARY = "organisation"
KEEP_RULE = af36_keep_rule("organisation", "validation and a preset only if kept")
PLAN = {"lever": "af55 the rhythm group's Lorenz-plot organisation columns on today's recipe",
        "blind": False, "why": "the label-audit look at af33's unanimous errors (7 of 29 Other called AF are organised "
        "rhythms with a clustered Lorenz plot)", "variants": VARIANTS, "primary": PRIMARY,
        "params": "the shipped LightGBM setting (af_lever BASE)", "keep_rule": KEEP_RULE,
        "booster_seeds": {"primary": SEEDS, "fresh": FRESH}}


def rhythm_names() -> list:
    from ecgsl_keras.data.record_features import feature_names

    return list(feature_names((GROUP,)))


class LorenzColumns(PlannedLever):
    PLAN, PLAN_PATH = PLAN, PLAN_PATH

    def step_extract(self, result):
        from ecgsl_keras.data.record_features import record_features, to_vector

        names = rhythm_names()
        got = extract_columns(lambda signal, fs: to_vector(record_features(signal, fs, groups=(GROUP,)), names),
                              names, self.args.features, self.args.deep_oof, self.args.cinc_dir, self.work,
                              self.work / "rhythm.npz", log=log)
        result["extract"] = extract_block(got, self.work / "rhythm.npz", self.ids, names)

    @functools.cached_property
    def rhythm_train(self) -> np.ndarray:
        """The rhythm table's training rows in ``self.ids``' order (a missing table stops the cv step first)."""
        return table_rows(self.work / "rhythm.npz", self.ids)

    def booster_side(self, variant, seed) -> np.ndarray:
        names = rhythm_names()
        keep = [names.index(n) for n in ORGANISATION] if variant == "organisation" else list(range(len(names)))
        X = np.concatenate([self.lever.X["train"].astype(np.float64), self.rhythm_train[:, keep]], axis=1)
        return self.lever.oof(f"af55_{variant}", BASE, seed, X=X, names=list(self.lever.names) +
                              [names[i] for i in keep])

    def step_cv(self, result):
        self.rhythm_train
        result["cv"] = variants_cv(self.lever, VARIANTS, PRIMARY, KEEP_RULE, self.booster_side, "lorenz_columns")

    def step_look(self, result):
        """After cv (a look, chooses nothing): what the booster alone and the recipe call the audit look's organised
        records (``ORGANISED_LOOK``), per booster seed, with and without the variants' columns, and p(A)."""
        pos = {r: i for i, r in enumerate(self.ids)}
        rows = [pos[r] for r in ORGANISED_LOOK]
        out = {"records": list(ORGANISED_LOOK), "reference": "O", "deep_p_a": [round(float(v), 3) for v in
                                                                             self.lever.deep["train"][rows, 1]]}
        variant_of = {"base": None, **{f"af55_{v}": v for v in VARIANTS}}     # result key -> booster side
        for tag, variant in variant_of.items():
            per_seed = {}
            for seed in SEEDS:
                booster = self.lever.oof("base", BASE, seed) if variant is None else self.booster_side(variant, seed)
                recipe = 0.5 * booster + 0.5 * self.lever.deep["train"]
                per_seed[str(seed)] = {"booster_calls": "".join(LABELS[k] for k in booster[rows].argmax(-1)),
                                       "recipe_calls": "".join(LABELS[k] for k in recipe[rows].argmax(-1)),
                                       "booster_p_a": [round(float(v), 3) for v in booster[rows, 1]]}
            out[tag] = per_seed
        out["called_other_by_the_recipe"] = sum(d["recipe_calls"].count("O") for tag in variant_of
                                                for d in out[tag].values())
        result["look"] = out


def main(argv=None) -> int:
    return lever_main(__doc__, STEPS, "lorenz_columns", LorenzColumns, KEEP_RULE, argv, extra=cinc_dir_argument)


if __name__ == "__main__":
    sys.exit(main())
