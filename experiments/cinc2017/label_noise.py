"""Issue 18, AF lever af36: training-label noise handling (confident learning) for the shipped ``cinc2017`` recipe.

    python experiments/cinc2017/label_noise.py --work /work/runs/s32-cinc-labels/af36 [--steps cv validate] \
        [--out experiments/cinc2017/af36_results.json]

Reads the committed inputs only (``oof/deep_oof.npz``: the shipped preset's fold members' out-of-fold
probabilities and folds; ``oof/features118.npz``: the 118 columns) through af_lever's ``Lever``; the shipped recipe
is refit on the SAME table (``base``: booster out of fold on the preset's 5 folds, averaged with the mean of ECG-SL
and the ResNet, deep weight 0.5), so every comparison is on one table.

Why this lever: af33 (``af_errors.py``) found that many Other records are called AF by all three models (29 of the
52 O-called-A training errors, 13 of the 53 A-called-O) and that half the A <-> O swaps have no model calling the
true class; CinC 2017's labels are known to be noisy (relabelled twice; v3 here). If some training labels are
wrong, the booster spends trees fitting them; confident learning (Northcutt, Jiang and Chuang 2021) finds them from
out-of-fold probabilities and prunes them before the fit.

The flagging rule (``flag_label_issues``, cleanlab's ``filter_by="confident_learning"`` written out; cleanlab is not
a dependency): ``p`` (n, C) out-of-fold probabilities, ``y`` the given labels. Per class ``j`` the threshold
``t_j`` is the mean of ``p[i, j]`` over the rows labelled ``j`` (the class's average self-confidence). A row is
confidently of class ``j`` when ``p[i, j] >= t_j``; among such classes its confident class is the one of highest
``p``. A row is flagged when it has a confident class and that class is not its given label (the off-diagonal of
the confident joint). ``p`` here is the recipe's own average: 0.5 * booster + 0.5 * mean(ECG-SL, ResNet).

Honest CV (``cv``): for every outer fold k of the preset's 5 folds, the flags of the outer-training rows (folds
other than k) are computed from probabilities in which fold k's labels take no part on the booster side: the rows of
fold j come from the booster fitted on the 3 folds other than j and k (af_lever's ``nested_pair``; one booster per
pair of held folds), the thresholds ``t_j`` from the outer-training rows only. The outer booster is then fitted on
the outer-training rows with the flagged rows dropped (or down-weighted), and scores fold k. Scored rows are never
dropped, re-weighted or relabelled: every figure is against the ORIGINAL labels of all 5,456 training records
(``Lever.score``). Caveat shared with af30 / af32: the deep out-of-fold probability of an outer-training row comes
from the preset member that held out its fold, which saw fold k's records.

Variants (``VARIANTS``, fixed before any figure). PRIMARY (the only one that can be kept): ``drop`` -- flags over
all 4 classes, flagged rows left out of the booster's training folds (balanced class weights recomputed on the rows
that remain, as the recipe does). Information only: ``weight`` -- the same flags, flagged rows kept with
``WEIGHT_FACTOR`` times their balanced weight; ``drop_af`` -- only the flags whose given or confident class is A,
dropped. A non-primary variant that passes the rule is not kept here; it would be the a-priori primary of a next look
on fresh booster seeds.

Also reported (``flags``): the flags on all 5,456 training rows from the plain 5-fold out-of-fold average of each
booster seed (what a preset refit would use), per given class and per (given, confident) pair, the rows flagged on
every seed, and how many of af33's unanimous errors (``af33_results.json`` ``unanimous_errors``: the label-noise
candidates) are flagged; and the flags of the outer folds of the honest CV (mean per fold, per given class).

``flags``     the flag report alone, refreshed from the cached boosters (after ``cv``); it also lists the records
              whose flag involves A on every booster seed (``af_scope_every_seed_records``: the list for a label
              audit).
``validate``  only if kept: the recipe refit on the whole training split (booster seeds 42-44) with the flagged
              rows (the seed's all-records flags) dropped, against the refit without dropping, on the validation
              split (1,364 records), as af_lever's ``validate``.

KEEP RULE (fixed before any figure, ``KEEP_RULE``): the primary variant is kept only if (a) af_lever's rule holds
(``Lever.beats``: CV AF F1, mean over booster seeds, rises by more than the larger seed sd of both rows, and CV
macro F1 does not drop by more than it) on seeds 42-44 against ``base`` AND on fresh seeds 45-47 against
``base_fresh_seeds``, and (b) paired over the 6 booster seeds 42-47, the mean CV AF F1 gain exceeds its sd and the
mean macro F1 difference is not below minus its sd. Validation only if kept.

Cached in WORK (boosters in WORK/oof, af_lever's names; this lever's outer boosters WORK/oof/af36_*); last stdout
line one JSON object; ``--out`` key ``label_noise``.
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

from experiments.cinc2017.af_lever import BASE, FRESH, SEEDS, committed_lever, variants_cv  # noqa: E402
from experiments.cinc2017.features import LABELS, _metrics, _summary  # noqa: E402
from experiments.cinc2017.oof_table import lever_main, validation_af_f1  # noqa: E402

log = logging.getLogger("experiments.cinc2017.label_noise")
STEPS = ("cv", "flags", "validate")
A = LABELS.index("A")
WEIGHT_FACTOR = 0.5
VARIANTS = {"drop": {"mode": "drop", "scope": "all"},
            "weight": {"mode": "weight", "scope": "all", "factor": WEIGHT_FACTOR},
            "drop_af": {"mode": "drop", "scope": "af"}}
PRIMARY = "drop"
AF_TARGET = 0.85     # issue 18's validation target for AF F1
AF33 = HERE / "af33_results.json"
KEEP_RULE = ("the primary variant (drop, flags over all 4 classes) is kept only if (a) af_lever's rule (CV AF F1 "
             "mean over booster seeds rises by more than the larger seed sd of both rows, CV macro F1 does not drop "
             "by more than it) holds on seeds 42-44 against base AND on seeds 45-47 against base_fresh_seeds, and "
             "(b) paired over booster seeds 42-47 the mean CV AF F1 gain exceeds its sd and the mean macro F1 "
             "difference is not below minus its sd; CV always scored against the original labels of every "
             "training row; validation only if kept")


def flag_label_issues(p, y, n_classes: int | None = None):
    """Confident-learning flags of the rows of ``p`` (n, C out-of-fold probabilities) given labels ``y`` (n,):
    returns (flags (n,) bool, confident class (n,), -1 where none, thresholds (C,)). ``t_j`` = mean ``p[:, j]``
    over the rows labelled j (inf for a class with no rows: nothing is confidently of it)."""
    p, y = np.asarray(p, np.float64), np.asarray(y, int)
    C = p.shape[1] if n_classes is None else n_classes
    t = np.array([p[y == j, j].mean() if np.any(y == j) else np.inf for j in range(C)])
    above = p >= t
    confident = np.where(above.any(-1), np.where(above, p, -np.inf).argmax(-1), -1)
    return (confident >= 0) & (confident != y), confident, t


def in_scope(flags, y, confident, scope: str) -> np.ndarray:
    """``all``: every flag; ``af``: only those whose given or confident class is A."""
    if scope == "all":
        return flags
    if scope == "af":
        return flags & ((y == A) | (confident == A))
    raise ValueError(f"unknown scope {scope!r}")


def noise_cv(y, fold, flags_for_fold, fit_predict, variant: dict, k: int):
    """Out-of-fold outputs with training-label noise handling: for each fold ``h`` the rows of the other folds are
    the training rows; ``flags_for_fold(h)`` (n,) bool flags among them; ``drop`` leaves flagged training rows out,
    ``weight`` keeps them with ``variant["factor"]`` times their weight. ``fit_predict(train_rows, multiplier,
    held_rows)`` returns the held rows' outputs (``multiplier``: per training row, None for plain weights).
    Returns (outputs (n, ...), {h: training rows used}): every row gets an output from the fold that held it out;
    no row is ever relabelled, so a scorer of these outputs uses the original ``y``."""
    y, fold = np.asarray(y), np.asarray(fold)
    out, used = None, {}
    for h in range(k):
        held = fold == h
        flags = np.asarray(flags_for_fold(h), bool) & ~held        # a held row is never cleaned away
        if variant["mode"] == "drop":
            train, mult = ~held & ~flags, None
        elif variant["mode"] == "weight":
            train = ~held
            mult = np.where(flags[train], variant["factor"], 1.0)
        else:
            raise ValueError(f"unknown mode {variant['mode']!r}")
        pred = np.asarray(fit_predict(train, mult, held))
        if out is None:
            out = np.full((len(y),) + pred.shape[1:], np.nan)
        out[held] = pred
        used[h] = np.flatnonzero(train)
    return out, used


class LabelNoise:
    def __init__(self, args):
        self.args = args
        self.lever = committed_lever(args)
        self.y, self.fold = self.lever.y["train"], self.lever.fold
        self.deep = self.lever.deep["train"]
        self.ids = self.lever.ids["train"]

    def inner_average(self, seed, h) -> np.ndarray:
        """The recipe's average for outer fold h's training rows (NaN on h): booster rows of fold j from the booster
        fitted on the 3 folds other than j and h."""
        p = np.full((len(self.y), len(LABELS)), np.nan)
        for j in range(self.args.k):
            if j != h:
                rows = self.fold == j
                p[rows] = self.lever.nested_pair("none", seed, min(j, h), max(j, h))[rows]
        return 0.5 * p + 0.5 * self.deep

    def outer_flags(self, seed, h, scope) -> np.ndarray:
        train = self.fold != h
        flags, conf, _ = flag_label_issues(self.inner_average(seed, h)[train], self.y[train], len(LABELS))
        out = np.zeros(len(self.y), bool)
        out[train] = in_scope(flags, self.y[train], conf, scope)
        return out

    def fit_predict(self, seed, train, mult, held) -> np.ndarray:
        lever = self.lever
        clf = lever._clf(lever.names, BASE, seed)
        X, y = lever.X["train"], self.y
        weight = None if mult is None else clf.sample_weight(y[train]) * mult
        clf.fit(X[train], y[train], sample_weight=weight)
        return clf.booster.predict(X[held])

    def variant_oof(self, name, seed) -> np.ndarray:
        cache = Path(self.args.work) / "oof" / f"af36_{name}_s{seed}.npy"
        if cache.is_file():
            return np.load(cache)
        variant = VARIANTS[name]
        out, _ = noise_cv(self.y, self.fold, lambda h: self.outer_flags(seed, h, variant["scope"]),
                          lambda tr, m, he: self.fit_predict(seed, tr, m, he), variant, self.args.k)
        np.save(cache, out)
        return out

    def counts(self, flags, conf) -> dict:
        """Flags per given class and per (given, confident) pair."""
        out = {"total": int(flags.sum()), "per_given_class": {c: int((flags & (self.y == j)).sum())
                                                              for j, c in enumerate(LABELS)}}
        out["given_to_confident"] = {f"{LABELS[a]}_to_{LABELS[b]}": int((flags & (self.y == a) & (conf == b)).sum())
                                     for a in range(len(LABELS)) for b in range(len(LABELS)) if a != b
                                     and (flags & (self.y == a) & (conf == b)).any()}
        return out

    def all_record_flags(self, seed):
        avg = 0.5 * self.lever.oof("base", BASE, seed) + 0.5 * self.deep
        return flag_label_issues(avg, self.y, len(LABELS))

    def flag_report(self) -> dict:
        out = {"all_records": {}, "outer_folds": {}}
        every = np.ones(len(self.y), bool)
        every_af = np.ones(len(self.y), bool)
        for seed in SEEDS + FRESH:
            flags, conf, t = self.all_record_flags(seed)
            every &= flags
            every_af &= in_scope(flags, self.y, conf, "af")
            if seed == SEEDS[0]:
                conf_first = conf
            row = self.counts(flags, conf)
            row["thresholds"] = dict(zip(LABELS, map(float, t)))
            row["af_scope_total"] = int(in_scope(flags, self.y, conf, "af").sum())
            out["all_records"][str(seed)] = row
        out["all_records_every_seed"] = {"total": int(every.sum()), "per_given_class": {
            c: int((every & (self.y == j)).sum()) for j, c in enumerate(LABELS)}}
        # the list for a label audit: flags that involve A on every booster seed (confident class: seed 42's)
        out["af_scope_every_seed_records"] = [{"record": self.ids[i], "given": LABELS[self.y[i]],
                                               "confident": LABELS[conf_first[i]]} for i in np.flatnonzero(every_af)]
        out["af_scope_every_seed_total"] = int(every_af.sum())
        out["training_records"] = int(len(self.y))
        out["training_per_class"] = {c: int((self.y == j).sum()) for j, c in enumerate(LABELS)}
        for scope in ("all", "af"):
            per = [[int((self.outer_flags(s, h, scope) & (self.y == j)).sum()) for j in range(len(LABELS))]
                   for s in SEEDS + FRESH for h in range(self.args.k)]
            per = np.array(per)
            out["outer_folds"][scope] = {"mean_per_fold": float(per.sum(1).mean()),
                                         "mean_per_fold_per_given_class": dict(zip(LABELS, map(float, per.mean(0))))}
        # af33's label-noise candidates (its unanimous errors, booster seed 42 out of fold)
        if AF33.is_file():
            un = json.loads(AF33.read_text())["af_errors"]["unanimous_errors"]
            index = {r: i for i, r in enumerate(self.ids)}
            seed_flags = {s: self.all_record_flags(s)[0] for s in SEEDS + FRESH}
            cand = {}
            for group in ("O_as_A", "A_as_O"):
                recs = [r for r in un[group]["records"] if r in index]
                rows = np.array([index[r] for r in recs], int)
                cand[group] = {"n": len(recs),
                               "flagged_seed_42": int(seed_flags[42][rows].sum()),
                               "flagged_every_seed": int(np.all([seed_flags[s][rows] for s in seed_flags], 0).sum()),
                               "flagged_any_seed": int(np.any([seed_flags[s][rows] for s in seed_flags], 0).sum()),
                               "flagged_in_outer_folds_seed_42": int(sum(
                                   self.outer_flags(42, h, "all")[index[r]] for r in recs
                                   for h in range(self.args.k) if self.fold[index[r]] != h)),
                               "outer_fold_slots": 4 * len(recs)}
            out["af33_candidates"] = cand
        return out

    def step_cv(self, result):
        # the primary first: it alone decides; the flag report after the rows, before the verdict's seconds
        out = variants_cv(self.lever, VARIANTS, PRIMARY, KEEP_RULE, self.variant_oof, "label_noise")
        out["flags"] = self.flag_report()
        result["cv"] = out

    def step_flags(self, result):
        """The flag report alone (cheap: the cached boosters), into the ``cv`` step's result."""
        result["cv"]["flags"] = self.flag_report()

    def step_validate(self, result):
        """Only if kept: validation of the refit recipe with and without the flagged rows, booster seeds 42-44."""
        if not result["cv"]["kept"]:
            result["validation"] = "not scored: the lever is not kept"
            return
        lever, yv, deep = self.lever, self.lever.y["validation"], self.lever.deep["validation"]
        rows = {"without": [], "with": []}
        for seed in SEEDS:
            flags = self.all_record_flags(seed)[0]
            for key, keep in (("without", np.ones(len(self.y), bool)), ("with", ~flags)):
                p = lever._clf(lever.names, BASE, seed).fit(lever.X["train"][keep], self.y[keep]).predict_proba(
                    lever.X["validation"])
                rows[key].append(dict(seed=seed, dropped=int((~keep).sum()),
                                      **_metrics(yv, (0.5 * p + 0.5 * deep).argmax(-1))))
        result["validation"] = {"records": len(yv), **{k: {"runs": v, "summary": _summary(v)}
                                                       for k, v in rows.items()}}


def af_target(result) -> None:
    """The AF target's block of the result: the primary's CV AF F1 per seed set and the validation figure."""
    af = {"target": AF_TARGET}
    if "cv" in result:
        for key in ("seeds_42_44", "seeds_45_47"):
            af[key] = {"cv_af_f1": result["cv"][PRIMARY][key]["af_f1"]["mean"]}
    af.update(validation_af_f1(result.get("validation"), AF_TARGET))
    result["af_target"] = af


def main(argv=None) -> int:
    return lever_main(__doc__, STEPS, "label_noise", LabelNoise, KEEP_RULE, argv, before_finish=af_target)


if __name__ == "__main__":
    sys.exit(main())
