"""Issue 18, AF lever af68: af67's Lorenz-plot member as four booster columns, nested so that no fold's labels reach
the columns its booster trains on.

    python experiments/cinc2017/lorenz_stack.py --work WORK --member-work AF67_WORK [--steps plan nested cv] \
        [--out experiments/cinc2017/af68_results.json]

AF67_WORK: ``lorenz_member.py``'s WORK (``lorenz.npz``: the images; ``member_s<seed>.npy``: the member's out-of-fold
probabilities per training seed). Reads the committed inputs (``oof/features118.npz``, ``oof/deep_oof.npz``) through
af_lever's ``Lever``. Every row is the shipped recipe's average ``0.5 * booster + 0.5 * mean(ECG-SL, ResNet)`` scored
by 5-fold CV on the 5,456 training records (the preset's folds), against ``base`` (the booster over the 118 columns).

Why, and not blind: af67's member reads AF alone about as well as the deep members (CV AF F1 0.735) but, averaged on
the deep side, adds nothing. Averaging gives it one fixed weight everywhere; as booster columns its evidence can count
where the booster's own rhythm columns are weak (short or noisy records, few beats). The mechanism differs from af67
(a learned weight per region of the columns rather than a fixed vote); the member, its images and its schedule are
af67's, unchanged.

Nesting (``nested``): for outer fold h, the booster's training rows (the other folds) carry the member's
probabilities from members that never saw fold h: the row of fold g from af67's member trained on the three folds
other than h and g (one member per fold pair scores both folds of the pair, af_lever's ``nested_pair`` scheme; 10 pairs
x training seeds 42-44, the mean over the seeds); fold h's own rows carry af67's outer member (trained on the four
folds other than h, the mean over the seeds). So no label of fold h reaches, through the member, the booster that
scores it.

Variants: ``probabilities`` (PRIMARY, the only one that can be kept): the 118 columns and the member's four class
probabilities; ``af_only`` (information): the 118 columns and the member's P(AF). The shipped LightGBM setting.

KEEP RULE (af36's, ``af_lever.seed_set_row``): af_lever's rule on booster seeds 42-44 against ``base`` AND on 45-47
against ``base_fresh_seeds``, and paired over seeds 42-47 the mean AF F1 gain above its sd and the mean macro F1
difference not below minus its sd. Validation (1,364 records) only if kept.

Nested members' probabilities in WORK/pair_s<seed>_<a><b>.npy (resumable); boosters in WORK/oof; last stdout line one
JSON object; ``--out`` key ``lorenz_stack``.
"""
from __future__ import annotations

import functools
import itertools
import logging
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.cinc2017.af_lever import BASE, FRESH, SEEDS, PlannedLever, af36_keep_rule, variants_cv  # noqa: E402
from experiments.cinc2017.features import LABELS  # noqa: E402
from experiments.cinc2017.lorenz_member import TRAINING_SEEDS, member_input, seed_mean, train_member  # noqa: E402
from experiments.cinc2017.oof_table import lever_main, table_rows  # noqa: E402

log = logging.getLogger("experiments.cinc2017.lorenz_stack")
STEPS = ("plan", "nested", "cv")
PLAN_PATH = HERE / "af68_plan.json"
VARIANTS = {"probabilities": list(range(len(LABELS))), "af_only": [LABELS.index("A")]}
PRIMARY = "probabilities"
KEEP_RULE = af36_keep_rule("probabilities", "validation and a preset only if kept")
PLAN = {"lever": "af68 af67's Lorenz-plot member as booster columns, nested", "blind": False,
        "why": "af67: the member alone reads AF about as well as the deep members (CV AF F1 0.735) but adds nothing "
               "averaged on the deep side with one fixed weight; as booster columns its weight can depend on the "
               "other columns",
        "member": "af67's (images, CNN, schedule, training seeds 42-44 averaged), unchanged",
        "nesting": "outer fold h: training rows of fold g carry the member trained on the folds other than h and g "
                   "(one member per fold pair scores both folds of the pair); fold h's rows carry af67's outer member",
        "variants": {"probabilities": "118 columns + the member's 4 class probabilities (PRIMARY)",
                     "af_only": "118 columns + the member's P(AF) (information)"},
        "primary": PRIMARY, "params": "the shipped LightGBM setting (af_lever BASE)", "keep_rule": KEEP_RULE,
        "booster_seeds": {"primary": SEEDS, "fresh": FRESH}}


def nested_columns(pairs: dict, outer: np.ndarray, fold: np.ndarray, h: int) -> np.ndarray:
    """The member columns of outer fold ``h``: fold ``g``'s rows from ``pairs[frozenset((h, g))]`` (a member that
    never saw folds h and g), fold ``h``'s rows from ``outer`` (af67's member, which never saw fold h)."""
    out = np.full_like(outer, np.nan)
    for g in np.unique(fold):
        rows = fold == g
        out[rows] = outer[rows] if g == h else pairs[frozenset((h, int(g)))][rows]
    return out


class LorenzStack(PlannedLever):
    PLAN, PLAN_PATH = PLAN, PLAN_PATH

    def __init__(self, args):
        super().__init__(args)
        self.member_work = Path(args.member_work)
        self.y, self.fold = self.lever.y["train"], self.lever.fold

    @functools.cached_property
    def images(self) -> np.ndarray:
        return table_rows(self.member_work / "lorenz.npz", self.ids)

    @functools.cached_property
    def outer(self) -> np.ndarray:
        """af67's member: the mean of its training seeds' out-of-fold probabilities."""
        return seed_mean(self.member_work)

    def pair(self, seed, a, b) -> np.ndarray:
        """Probabilities of folds ``a`` and ``b``'s rows (NaN elsewhere) from af67's member (training seed ``seed``)
        trained on the other three folds."""
        path = self.work / f"pair_s{seed}_{a}{b}.npy"
        if path.is_file():
            return np.load(path)
        held = np.isin(self.fold, [a, b])
        out = np.full((len(self.y), len(LABELS)), np.nan)
        model = train_member(self.images[~held], self.y[~held], seed + 100 * (10 * a + b))
        out[held] = model.predict(member_input(self.images[held]), batch_size=256, verbose=0)
        np.save(path, out)
        return out

    def step_nested(self, result):
        t0 = time.perf_counter()
        for seed, (a, b) in itertools.product(TRAINING_SEEDS, itertools.combinations(range(self.args.k), 2)):
            self.pair(seed, a, b)
            log.info("pair %d%d seed %d (%.0f s)", a, b, seed, time.perf_counter() - t0)
        result["nested"] = {"members": len(TRAINING_SEEDS) * self.args.k * (self.args.k - 1) // 2,
                            "seconds": round(time.perf_counter() - t0, 1)}

    @functools.cached_property
    def pairs(self) -> dict:
        """fold pair -> the mean over training seeds of that pair's member probabilities."""
        return {frozenset((a, b)): np.mean([self.pair(s, a, b) for s in TRAINING_SEEDS], axis=0)
                for a, b in itertools.combinations(range(self.args.k), 2)}

    def variant_oof(self, variant, seed) -> np.ndarray:
        cache = self.work / "oof" / f"af68_{variant}_s{seed}.npy"
        if cache.is_file():
            return np.load(cache)
        lever, cols = self.lever, VARIANTS[variant]
        names = list(lever.names) + [f"lorenz_p_{LABELS[c]}" for c in cols]
        out = np.zeros((len(self.y), len(LABELS)))
        for h in range(self.args.k):
            X = np.concatenate([lever.X["train"], nested_columns(self.pairs, self.outer, self.fold, h)[:, cols]],
                               axis=1)
            keep = self.fold != h
            clf = lever._clf(names, BASE, seed).fit(X[keep], self.y[keep])
            out[~keep] = clf.booster.predict(X[~keep])
        np.save(cache, out)
        return out

    def step_cv(self, result):
        result["cv"] = variants_cv(self.lever, VARIANTS, PRIMARY, KEEP_RULE, self.variant_oof, "lorenz_stack")


def _member_work(parser) -> None:
    parser.add_argument("--member-work", type=Path, required=True, help="lorenz_member.py's WORK (af67)")


def main(argv=None) -> int:
    return lever_main(__doc__, STEPS, "lorenz_stack", LorenzStack, KEEP_RULE, argv, extra=_member_work)


if __name__ == "__main__":
    sys.exit(main())
