"""af57 (issue 18): more records for the booster. How the recipe's AF F1 grows with the booster's training records
(a curve on the training split), and whether the validation records themselves, added to the booster's training,
help records that no booster saw (a cross-fit on the validation split).

    python experiments/cinc2017/booster_records.py --work WORK --steps plan curve crossfit \
        --out experiments/cinc2017/af57_results.json

Why (blind: no figure motivated it): every lever so far changed the booster's columns, settings or members; none
changed how many records it learns from, and the shipped booster learns from the 5,456 training records only, while
the 1,364 validation records are used only to score it. The deep side (the fold members of ECG-SL and the ResNet)
is not refit here: its outputs on the validation records come from models that never saw them, as served.

``plan``      the plan (``af57_plan.json``), before any figure.
``curve``     training split, the preset's 5 folds: the booster of each fold fitted on a stratified share
              (``FRACTIONS``; drawn per class with ``numpy.random.default_rng(seed)``, the smaller share inside the
              larger) of the other folds' records, averaged (weight 0.5) with the deep side as shipped; booster seeds
              42-47, paired with the shipped recipe (af_lever's cached ``base``, all the records). Reported: the
              recipe's and the booster's CV figures per share, and the AF F1 gain per doubling of the records.
``crossfit``  validation split: ``PARTITIONS`` stratified 5-fold partitions of the 1,364 records (partition r:
              ``StratifiedKFold(shuffle, random_state=r)`` and booster seed 42 + r). For each held fifth, booster
              ``train`` (the training split only, as shipped) and booster ``train_plus`` (the training split AND the
              other four fifths of the validation records), each averaged with the validation deep side as served,
              score the held fifth; a held record never trains the booster that scores it. Per partition the five
              fifths give one prediction of every validation record: its figures, and ``train_plus`` minus
              ``train``.

``gap``       a report after the rest (chooses nothing; it looks at the validation split): where the drop from the
              training split's CV to the validation records sits, member by member. For booster seeds 42-44 the
              AF F1 and macro F1 of the booster alone, the deep side (ECG-SL, the ResNet, their mean) and the recipe
              on the CV (out-of-fold; the booster's range over the 5 folds too) and on the validation records (the
              booster refit on the whole training split, the deep side as served).

``gap_records`` a second report (session s47; chooses nothing; it looks at the validation split): whether the
              validation records' Other-called-AF excess (24 of 388 served, against about 3.4% of the training
              split's Other records in the CV) comes from the refit on the whole training split or from the records.
              Each CV fold booster (booster seeds 42-44), averaged with the deep side, scores both its own held fold
              and the validation records: per fold booster the share of Other called AF and of AF called Other on
              each; and a two-sample check per class, whether a booster (5-fold CV, 7 leaves, 200 rounds) tells the
              class's training records from its validation records by their 118 columns (AUROC near 0.5: it
              cannot); and per booster seed the Other records called AF where ECG-SL, the ResNet and the booster
              alone each call AF too (af33's unanimous errors), on the CV and on the validation records.

SHIP_RULE: ``cinc2017``'s booster is refit on all 6,820 shared records (training and validation; seed 42, the shipped
setting) only if, over the partitions, the mean validation AF F1 gain of ``train_plus`` exceeds its sd and the mean
macro F1 difference is not below minus its sd. Its validation figures are then the cross-fitted ones (each record
scored by a booster that did not see it), never the refit booster's own validation figures.

Last stdout line one JSON object (key ``booster_records`` of ``--out``).
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.cinc2017.af_lever import BASE, FRESH, SEEDS, PlannedLever, paired  # noqa: E402
from experiments.cinc2017.features import LABELS, _metrics  # noqa: E402
from experiments.cinc2017.oof_table import lever_main  # noqa: E402

log = logging.getLogger("experiments.cinc2017.booster_records")
STEPS = ("plan", "curve", "crossfit", "gap", "gap_records")
PLAN_PATH = HERE / "af57_plan.json"
FRACTIONS = (0.5, 0.75)
PARTITIONS = 6
SHIP_RULE = ("cinc2017's booster is refit on all 6,820 shared records (training and validation; seed 42, the shipped "
             "setting) only if, over the crossfit partitions, the mean validation AF F1 gain of train_plus over train "
             "exceeds its sd and the mean macro F1 difference is not below minus its sd; its validation figures are "
             "then the cross-fitted ones, never the refit booster's own")
PLAN = {"lever": "af57 more records for the booster", "blind": True,
        "why": "no lever changed how many records the booster learns from; the validation records only score it",
        "curve": {"fractions": list(FRACTIONS), "full": 1.0, "booster_seeds": SEEDS + FRESH,
                  "draw": "stratified per class, numpy default_rng(seed), the smaller share inside the larger",
                  "report": "CV figures per share, paired with base; AF F1 gain per doubling (least squares over "
                            "log2 share, per seed)"},
        "crossfit": {"partitions": PARTITIONS, "split": "StratifiedKFold(5, shuffle, random_state=r), booster seed "
                     "42 + r", "compare": "train_plus (training + the other 4/5 of validation) against train (training "
                     "only), each averaged 0.5 with the served validation deep side"},
        "ship_rule": SHIP_RULE, "params": "the shipped LightGBM setting (af_lever BASE)"}


def share_key(fraction: float) -> str:
    """The curve block's key of a share (no dot in it: the figure markers read keys split at dots)."""
    return f"share_{round(100 * fraction)}"


def stratified_share(y, fraction: float, seed: int) -> np.ndarray:
    """A boolean mask of about ``fraction`` of each class of ``y`` (at least one record per class), drawn with
    ``default_rng(seed)``; for one seed, a smaller fraction's records lie inside a larger one's."""
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(y), bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        order = idx[rng.permutation(len(idx))]
        keep[order[:max(1, int(round(fraction * len(idx))))]] = True
    return keep


class BoosterRecords(PlannedLever):
    PLAN, PLAN_PATH = PLAN, PLAN_PATH

    def fit_predict(self, X, y, seed, X_out) -> np.ndarray:
        return self.lever._clf(self.lever.names, BASE, seed).fit(X, y).predict_proba(X_out)

    def share_oof(self, fraction: float, seed: int) -> np.ndarray:
        """Out-of-fold booster probabilities over the preset's folds, each fold's booster fitted on ``fraction`` of
        the other folds' records (``stratified_share`` of the whole training split, so the share of a record does
        not depend on the held fold)."""
        cache = self.work / "oof" / f"af57_share{fraction:g}_s{seed}.npy"
        if cache.is_file():
            return np.load(cache)
        X, y, fold = self.lever.X["train"], self.lever.y["train"], self.lever.fold
        share = stratified_share(y, fraction, seed)
        out = np.zeros((len(y), len(LABELS)))
        for k in range(self.args.k):
            held = fold == k
            fit = ~held & share
            out[held] = self.fit_predict(X[fit], y[fit], seed, X[held])
        np.save(cache, out)
        return out

    def step_curve(self, result):
        t0 = time.perf_counter()
        lever = self.lever
        base = [dict(seed=s, **lever.score(lever.oof("base", BASE, s))) for s in SEEDS + FRESH]
        out = {"full": lever.summarise(base)}
        for fraction in FRACTIONS:
            runs = []
            for s in SEEDS + FRESH:
                runs.append(dict(seed=s, **lever.score(self.share_oof(fraction, s))))
                log.info("share %g seed %d: CV macro %.4f AF %.4f (%.0f s)", fraction, s, runs[-1]["macro_f1"],
                         runs[-1]["af_f1"], time.perf_counter() - t0)
            out[share_key(fraction)] = dict(lever.summarise(runs), paired_with_full=paired(runs, base))
        shares = np.log2(np.array(list(FRACTIONS) + [1.0]))
        for key in ("af_f1", "macro_f1", "booster_af_f1"):
            slopes = []
            for i in range(len(base)):
                values = [out[share_key(f)]["runs"][i][key] for f in FRACTIONS] + [base[i][key]]
                slopes.append(float(np.polyfit(shares, values, 1)[0]))
            out.setdefault("gain_per_doubling", {})[key] = {"per_seed": slopes, "mean": float(np.mean(slopes)),
                                                            "sd": float(np.std(slopes, ddof=1))}
        out["records_ratio_all_shared_to_training"] = (len(self.ids) + len(lever.ids["validation"])) / len(self.ids)
        out["seconds"] = time.perf_counter() - t0
        result["curve"] = out

    def step_crossfit(self, result):
        from sklearn.model_selection import StratifiedKFold

        t0 = time.perf_counter()
        lever = self.lever
        Xt, yt, Xv, yv, deep = (lever.X["train"], lever.y["train"], lever.X["validation"], lever.y["validation"],
                                lever.deep["validation"])
        out = {"partitions": [], "records": len(yv)}
        for r in range(PARTITIONS):
            seed = 42 + r
            alone = self.fit_predict(Xt, yt, seed, Xv)          # training split only: no validation record in it
            plus = np.zeros_like(alone)
            for fit, held in StratifiedKFold(5, shuffle=True, random_state=r).split(Xv, yv):
                plus[held] = self.fit_predict(np.concatenate([Xt, Xv[fit]]), np.concatenate([yt, yv[fit]]), seed,
                                              Xv[held])
            row = {"partition": r, "seed": seed}
            for name, p in (("train", alone), ("train_plus", plus)):
                row[name] = _metrics(yv, (0.5 * p + 0.5 * deep).argmax(-1))
            out["partitions"].append(row)
            log.info("partition %d: AF %.4f -> %.4f macro %.4f -> %.4f (%.0f s)", r,
                     row["train"]["per_class_f1"]["A"], row["train_plus"]["per_class_f1"]["A"],
                     row["train"]["macro_f1"], row["train_plus"]["macro_f1"], time.perf_counter() - t0)
        for key, get in (("af_f1", lambda m: m["per_class_f1"]["A"]), ("macro_f1", lambda m: m["macro_f1"]),
                         ("challenge_f1", lambda m: m["challenge_f1"])):
            d = [get(p["train_plus"]) - get(p["train"]) for p in out["partitions"]]
            spread = {"values": d, "mean": float(np.mean(d)), "sd": float(np.std(d, ddof=1)),
                      "positive": int(sum(x > 0 for x in d))}
            out.setdefault("difference", {})[key] = spread
            out.setdefault("train_plus", {})[key] = float(np.mean([get(p["train_plus"]) for p in out["partitions"]]))
            out.setdefault("train", {})[key] = float(np.mean([get(p["train"]) for p in out["partitions"]]))
        diff = out["difference"]
        out["kept"] = bool(diff["af_f1"]["mean"] > diff["af_f1"]["sd"]
                           and diff["macro_f1"]["mean"] >= -diff["macro_f1"]["sd"])      # SHIP_RULE
        out["ship_rule"], out["seconds"] = SHIP_RULE, time.perf_counter() - t0
        result["crossfit"] = out


    def step_gap(self, result):
        lever = self.lever

        def scores(y, p) -> dict:
            m = _metrics(y, p.argmax(-1))
            return {"af_f1": m["per_class_f1"]["A"], "macro_f1": m["macro_f1"]}

        out = {}
        for split, name in (("train", "cv"), ("validation", "validation")):
            y = lever.y[split]
            members = dict(zip(("ecgsl", "resnet"), lever.members[split]))
            out[name] = {m: scores(y, p) for m, p in members.items()}
            out[name]["deep"] = scores(y, lever.deep[split])
        for seed in SEEDS:
            cv = lever.oof("base", BASE, seed)
            val = self.fit_predict(lever.X["train"], lever.y["train"], seed, lever.X["validation"])
            folds = [scores(lever.y["train"][lever.fold == k], cv[lever.fold == k])["af_f1"]
                     for k in range(self.args.k)]
            out["cv"][f"booster_s{seed}"] = dict(scores(lever.y["train"], cv), af_f1_fold_min=min(folds),
                                                af_f1_fold_max=max(folds))
            out["cv"][f"recipe_s{seed}"] = scores(lever.y["train"], 0.5 * cv + 0.5 * lever.deep["train"])
            out["validation"][f"booster_s{seed}"] = scores(lever.y["validation"], val)
            out["validation"][f"recipe_s{seed}"] = scores(lever.y["validation"],
                                                          0.5 * val + 0.5 * lever.deep["validation"])
        for side in ("booster", "recipe"):
            for name in ("cv", "validation"):
                out[name][f"{side}_mean"] = {k: float(np.mean([out[name][f"{side}_s{s}"][k] for s in SEEDS]))
                                             for k in ("af_f1", "macro_f1")}
        out["af_f1_drop"] = {m: out["cv"][k]["af_f1"] - out["validation"][k]["af_f1"] for m, k in
                             (("booster", "booster_mean"), ("deep", "deep"), ("recipe", "recipe_mean"),
                              ("ecgsl", "ecgsl"), ("resnet", "resnet"))}
        result["gap"] = out

    def step_gap_records(self, result):
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import StratifiedKFold

        from ecgsl_keras.modeling.stacking import StackedClassifier
        from experiments.cinc2017.hybrid import COMMON

        t0 = time.perf_counter()
        lever = self.lever
        A, O = LABELS.index("A"), LABELS.index("O")

        def rates(y, p) -> dict:
            called = p.argmax(-1)
            return {"o_as_a": int(((y == O) & (called == A)).sum()), "o": int((y == O).sum()),
                    "o_as_a_share": float(((y == O) & (called == A)).sum() / max((y == O).sum(), 1)),
                    "a_as_o": int(((y == A) & (called == O)).sum()), "a": int((y == A).sum()),
                    "a_as_o_share": float(((y == A) & (called == O)).sum() / max((y == A).sum(), 1))}

        X, y, fold = lever.X["train"], lever.y["train"], lever.fold
        Xv, yv, deep_v = lever.X["validation"], lever.y["validation"], lever.deep["validation"]

        def unanimous(split, y_split, booster) -> dict:
            # Other records the recipe calls AF where ECG-SL, the ResNet and the booster alone each call AF too
            # (af33's "unanimous errors": no re-weighting of these members recovers them)
            recipe = 0.5 * booster + 0.5 * lever.deep[split]
            o_as_a = (y_split == O) & (recipe.argmax(-1) == A)
            every = o_as_a & (booster.argmax(-1) == A)
            for member in lever.members[split]:
                every &= member.argmax(-1) == A
            counts = {"o": int((y_split == O).sum()), "o_as_a": int(o_as_a.sum()), "unanimous": int(every.sum()),
                      "unanimous_share": float(every.sum() / max((y_split == O).sum(), 1))}
            if split == "validation":      # for label_audit.py's packet (a reader's look; no label is changed)
                counts["unanimous_records"] = [lever.ids[split][i] for i in np.flatnonzero(every)]
            return counts

        out = {"fold_boosters": {}, "unanimous_o_as_a": {}}
        for seed in SEEDS:
            rows, held_booster = [], np.zeros((len(y), len(LABELS)))
            for k in range(self.args.k):
                held = fold == k
                clf = lever._clf(lever.names, BASE, seed).fit(X[~held], y[~held])
                held_booster[held] = clf.predict_proba(X[held])
                own = 0.5 * held_booster[held] + 0.5 * lever.deep["train"][held]
                rows.append({"fold": k, "held_fold": rates(y[held], own),
                             "validation": rates(yv, 0.5 * clf.predict_proba(Xv) + 0.5 * deep_v)})
            refit_booster = self.fit_predict(X, y, seed, Xv)
            refit = 0.5 * refit_booster + 0.5 * deep_v
            out["fold_boosters"][f"s{seed}"] = {"folds": rows, "refit_validation": rates(yv, refit)}
            out["unanimous_o_as_a"][f"s{seed}"] = {"cv": unanimous("train", y, held_booster),
                                                   "validation": unanimous("validation", yv, refit_booster)}
        shares = {side: [r[side]["o_as_a_share"] for b in out["fold_boosters"].values() for r in b["folds"]]
                  for side in ("held_fold", "validation")}
        out["o_as_a_share_range"] = {side: {"min": float(min(v)), "max": float(max(v)), "mean": float(np.mean(v))}
                                     for side, v in shares.items()}
        out["two_sample_auroc"] = {}
        for c, name in enumerate(LABELS):
            Xc = np.r_[X[y == c], Xv[yv == c]]
            z = np.r_[np.zeros((y == c).sum()), np.ones((yv == c).sum())]
            score = np.zeros(len(z))
            for tr, te in StratifiedKFold(5, shuffle=True, random_state=0).split(Xc, z):
                clf = StackedClassifier(lever.names, [], ["training", "validation"],
                                        params=dict(COMMON, **dict(BASE, num_leaves=7, num_boost_round=200)), seed=42)
                score[te] = clf.fit(Xc[tr], z[tr].astype(int)).predict_proba(Xc[te])[:, 1]
            out["two_sample_auroc"][name] = float(roc_auc_score(z, score))
        out["seconds"] = time.perf_counter() - t0
        result["gap_records"] = out


def main(argv=None) -> int:
    return lever_main(__doc__, STEPS, "booster_records", BoosterRecords, SHIP_RULE, argv, step="crossfit")


if __name__ == "__main__":
    sys.exit(main())
