"""af63 (issue 18): the booster trained on soft targets, its records' labels mixed with the deep side's out-of-fold
probabilities (knowledge distillation into the trees), instead of on the hard labels alone.

    python experiments/cinc2017/soft_targets.py --work WORK --steps plan cv [--jobs 2] \
        --out experiments/cinc2017/af63_results.json

Reads the committed inputs only (``oof/deep_oof.npz``, ``oof/features118.npz``) through af_lever's ``Lever``; scored by
5-fold CV on the training split (the preset's folds); the booster side is averaged with the deep side as served.

Why, and not blind: af57's gap report puts the drop from the CV to the validation records on the booster's AF F1
(0.854 against 0.81) while its macro F1 holds: the trees fit the A/O boundary of the training labels more closely
than it generalises (af33: the A <-> O errors are where the labels themselves are least sure). A soft target,
``alpha * onehot(label) + (1 - alpha) * q`` with ``q`` a second model's out-of-fold probabilities for the record,
spends less of the trees' capacity on records whose label the other view doubts. This is neither af36 (confident-
learning flags left out), af60 (the deep side as the trees' starting point) nor the average itself (the served
prediction still averages the booster with the deep side).

The model (fixed before any figure): LightGBM with a custom objective, the multiclass softmax cross-entropy against
soft targets (gradient ``w * (p - t)``, hessian ``w * K / (K - 1) * p * (1 - p)``: LightGBM's own multiclass
objective with ``t`` one-hot, ``w`` the balanced class weight of the record's label); the shipped setting and
af_lever's COMMON otherwise. Held probabilities softmax(raw). With ``t`` one-hot and no column sampling the custom
objective's first trees are LightGBM's built-in multiclass booster's to 1e-8 (tested; later trees drift by rounding,
LightGBM's own gradients being float32); with column sampling LightGBM draws the columns from another random
stream, so the custom objective's one-hot arm (``hard``) is every variant's reference:
the keep rule pairs each variant with ``hard`` on the same seeds, not with af_lever's ``base`` (given too, as
information).

Variants (``VARIANTS``; ``q`` of a training record is always an out-of-fold output: no record's target comes from a
model that trained on it): ``hard`` (reference): ``alpha = 1``; ``soft_deep`` (PRIMARY): ``alpha = 0.8``, ``q`` the
deep side (the mean of ECG-SL's and the ResNet's fold members); ``soft_deep_half`` (information): ``alpha = 0.5``;
``soft_recipe`` (information): ``alpha = 0.8``, ``q`` the recipe's own out-of-fold average (af_lever's ``base``
booster of the same seed and the deep side: self-distillation). KEEP_RULE: af36's against ``hard``.
Validation only if kept; serving it would need only a booster trained this way (the preset's form is unchanged).

Last stdout line one JSON object (key ``soft_targets`` of ``--out``).
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import softmax

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.cinc2017.af_lever import BASE, FRESH, SEEDS, Lever, PlannedLever, seed_set_row  # noqa: E402
from experiments.cinc2017.features import LABELS  # noqa: E402
from experiments.cinc2017.oof_table import lever_main  # noqa: E402

log = logging.getLogger("experiments.cinc2017.soft_targets")
STEPS = ("plan", "cv")
PLAN_PATH = HERE / "af63_plan.json"
VARIANTS = {"hard": {"alpha": 1.0, "q": None}, "soft_deep": {"alpha": 0.8, "q": "deep"},
            "soft_deep_half": {"alpha": 0.5, "q": "deep"}, "soft_recipe": {"alpha": 0.8, "q": "recipe"}}
REFERENCE, PRIMARY = "hard", "soft_deep"
KEEP_RULE = ("af36's, against the custom objective's one-hot arm (hard) instead of af_lever's base: the primary "
             "variant (soft_deep) is kept only if af_lever's rule (CV AF F1 mean over booster seeds rises by more than "
             "the larger seed sd of both rows, CV macro F1 does not drop by more than it) holds on seeds 42-44 and on "
             "seeds 45-47 against hard on the same seeds, and paired over booster seeds 42-47 the mean CV AF F1 gain "
             "exceeds its sd and the mean macro F1 difference is not below minus its sd; validation only if kept")
PLAN = {"lever": "af63 the booster trained on soft targets (labels mixed with an out-of-fold second view)",
        "blind": False,
        "why": "af57's gap report: the booster's AF F1 generalises least; soft targets spend less of the trees' "
               "capacity on records whose label the deep side doubts",
        "model": "per fold: LightGBM, the shipped setting and COMMON, custom multiclass softmax cross-entropy against "
                 "t = alpha * onehot(label) + (1 - alpha) * q (gradient w (p - t), hessian w K/(K-1) p (1 - p), w the "
                 "balanced class weight of the label), q the training records' out-of-fold deep side (or the "
                 "recipe's out-of-fold average); held probabilities softmax(raw), averaged 0.5/0.5 with the deep side",
        "variants": VARIANTS, "reference": REFERENCE, "primary": PRIMARY, "keep_rule": KEEP_RULE,
        "booster_seeds": {"primary": SEEDS, "fresh": FRESH}}


def soft_targets(y, alpha: float, q=None) -> np.ndarray:
    """(n, K) targets ``alpha * onehot(y) + (1 - alpha) * q`` (``q`` None: one-hot); rows sum to 1."""
    t = np.eye(len(LABELS))[np.asarray(y, int)]
    if q is None or alpha >= 1.0:
        return t
    q = np.asarray(q, np.float64)
    return alpha * t + (1.0 - alpha) * q / q.sum(axis=1, keepdims=True)


def soft_fit_predict(clf, X, y, targets, X_out) -> np.ndarray:
    """(n_out, K) probabilities of a LightGBM booster fitted on (X, soft ``targets``) with the multiclass softmax
    cross-entropy as a custom objective (``clf``: af_lever's ``StackedClassifier``, for its parameters and the
    balanced class weights of the hard labels ``y``), on ``X_out``."""
    import lightgbm as lgb

    k = len(LABELS)
    t = np.asarray(targets, np.float64)
    w = clf.sample_weight(y)
    w = np.ones(len(y)) if w is None else w

    def objective(raw, _data):
        p = softmax(raw, axis=1)
        return (p - t) * w[:, None], (k / (k - 1.0)) * p * (1.0 - p) * w[:, None]

    params = dict(clf._lgb_params(), objective=objective)
    data = lgb.Dataset(np.asarray(X, np.float64), label=np.asarray(y, int), weight=w, free_raw_data=True)
    booster = lgb.train(params, data, num_boost_round=int(clf.params.get("num_boost_round", 400)))
    raw = np.asarray(booster.predict(np.asarray(X_out, np.float64), raw_score=True)).reshape(len(X_out), k)
    return softmax(raw, axis=1)


_SELF = None


def _job(job):
    variant, seed = job
    if variant == "base":
        return variant, seed, _SELF.lever.oof("base", BASE, seed)
    return variant, seed, _SELF.soft_oof(variant, seed)


class SoftTargets(PlannedLever):
    PLAN, PLAN_PATH = PLAN, PLAN_PATH

    def q_of(self, variant, seed):
        kind = VARIANTS[variant]["q"]
        if kind is None:
            return None
        deep = self.lever.deep["train"]
        if kind == "deep":
            return deep
        return 0.5 * self.lever.oof("base", BASE, seed) + 0.5 * deep      # the recipe's out-of-fold average

    def soft_oof(self, variant, seed) -> np.ndarray:
        cache = self.work / "oof" / f"af63_{variant}_s{seed}.npy"
        if cache.is_file():
            return np.load(cache)
        lever = self.lever
        X, y, fold = lever.X["train"], lever.y["train"], lever.fold
        t = soft_targets(y, VARIANTS[variant]["alpha"], self.q_of(variant, seed))
        out = np.zeros((len(y), len(LABELS)))
        for k in range(self.args.k):
            held = fold == k
            clf = lever._clf(lever.names, BASE, seed)
            out[held] = soft_fit_predict(clf, X[~held], y[~held], t[~held], X[held])
        np.save(cache, out)
        return out

    def fill_cache(self, seeds) -> None:
        """Every (variant, seed) booster and af_lever's ``base`` boosters fitted and cached, in ``--jobs`` forked
        processes; ``soft_recipe`` in a second round (it reads ``base``)."""
        global _SELF
        _SELF = self
        t0 = time.perf_counter()
        first = [v for v in VARIANTS if VARIANTS[v]["q"] != "recipe"]
        for names in (["base"] + first, [v for v in VARIANTS if v not in first]):
            jobs = [(v, s) for v in names for s in seeds
                    if not (self.work / "oof" / (f"base_s{s}.npy" if v == "base" else f"af63_{v}_s{s}.npy")).is_file()]
            if self.args.jobs > 1 and jobs:
                with mp.get_context("fork").Pool(self.args.jobs) as pool:
                    for i, (v, s, _) in enumerate(pool.imap_unordered(_job, jobs)):
                        log.info("%s seed %d done (%d / %d, %.0f s)", v, s, i + 1, len(jobs), time.perf_counter() - t0)
            else:
                for job in jobs:
                    _job(job)

    def step_cv(self, result):
        t0 = time.perf_counter()
        lever = self.lever
        self.fill_cache(SEEDS + FRESH)
        lever.result["base"] = lever.cv_row("base", BASE, SEEDS)
        lever.result["base_fresh_seeds"] = lever.cv_row("base", BASE, FRESH)

        def runs(variant, seeds):
            return [dict(seed=s, **lever.score(self.soft_oof(variant, s))) for s in seeds]

        reference = {"base": Lever.summarise(runs(REFERENCE, SEEDS)),
                     "base_fresh_seeds": Lever.summarise(runs(REFERENCE, FRESH))}
        out = {"variants": VARIANTS, "reference": REFERENCE, "primary": PRIMARY, "keep_rule": KEEP_RULE,
               "hard": reference, "base": lever.result["base"], "base_fresh_seeds": lever.result["base_fresh_seeds"]}
        for variant in VARIANTS:
            run_seed = lambda s, v=variant: dict(seed=s, **lever.score(self.soft_oof(v, s)))  # noqa: E731
            if variant != REFERENCE:
                out[variant] = seed_set_row(lever, run_seed, references=reference)
            # every arm against af_lever's base too (information: another column-sampling stream)
            out.setdefault("against_base", {})[variant] = seed_set_row(lever, run_seed)["paired"]
            if variant != REFERENCE:
                pair = out[variant]["paired"]
                log.info("%s against hard: paired AF %+.4f +- %.4f macro %+.4f +- %.4f passes %s", variant,
                         pair["af_f1"]["mean"], pair["af_f1"]["sd"], pair["macro_f1"]["mean"], pair["macro_f1"]["sd"],
                         out[variant]["passes"])
        out["kept"] = out[PRIMARY]["passes"]
        out["next_look"] = [v for v in VARIANTS if v not in (REFERENCE, PRIMARY) and out[v]["passes"]]
        out["seconds"] = time.perf_counter() - t0
        result["cv"] = out


def _extra(parser):
    parser.add_argument("--jobs", type=int, default=1, help="boosters fitted in this many processes (forked)")


def main(argv=None) -> int:
    return lever_main(__doc__, STEPS, "soft_targets", SoftTargets, KEEP_RULE, argv, extra=_extra)


if __name__ == "__main__":
    sys.exit(main())
