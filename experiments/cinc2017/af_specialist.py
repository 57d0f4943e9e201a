"""Issue 18, AF lever (h), af32: an AF-vs-Other specialist that re-decides A against O where the shipped recipe's
average hesitates between them.

    python experiments/cinc2017/af_specialist.py --work /work/runs/af32 [--steps nested validate] \
        [--out experiments/cinc2017/af32_results.json]

Reads the committed inputs only (``oof/deep_oof.npz``: the shipped preset's fold members' out-of-fold
probabilities and folds; ``oof/features118.npz``: the 118 columns) through af_lever's ``Lever``; the shipped recipe
is refit on the SAME table (``base``: the booster seeds' out-of-fold probabilities averaged with the mean of ECG-SL
and the ResNet, deep weight 0.5), so every comparison is on one table (oof_results.json ``refit_check``).

Why this lever: most of the recipe's AF errors are A <-> O swaps (``o_as_a`` and ``a_as_o`` near 50 each in
af31's rows, against a handful of A <-> N and A <-> ~); the 4-class booster spends its trees on all 4 classes with
balanced weights, and the average's A/O boundary is wherever the two halves put it. A binary booster trained only on
the training records of A and O, with the deep probabilities as 4 more columns, spends every tree on that boundary.
Cheaper alternatives from the committed tables were tried (per-class offsets, e; deep weight, c; extra columns, d, f,
g); this one changes only the rows where A and O are the two top classes and close, so N and Noisy cannot move.

The specialist (``fit_specialist``): LightGBM ``binary`` (af_lever's ``COMMON`` bagging settings, unweighted so that
its probability estimates P(A | A or O); seed = the booster seed), inputs the 118 columns + the 4 out-of-fold deep
probabilities (mean of ECG-SL and ResNet); trained on the A and O records of the training folds only; out of fold
on the preset's 5 folds (no row scored by a specialist or booster that saw it).

The decision (``apply_specialist``): ``p`` the recipe's average; a row is gated when A and O are its two top
classes and ``|p_A - p_O| < margin``; a gated row becomes A if ``(1 - w) * p_A / (p_A + p_O) + w * q >= 0.5``
(``q`` the specialist's P(A)), else O; other rows keep ``argmax p``.

Settings (``GRID``, fixed before any figure): margin in ``MARGINS`` (1.0: every row whose two top classes are A and
O), specialist weight ``w`` in ``SPEC_WEIGHTS``, specialist size in ``SIZES``; and ``off`` (the shipped recipe).

``nested``    NESTED CV, as af_lever's ``nested_extra``: for each outer fold k, every setting is scored by an inner
              4-fold CV on the outer-training records only (inner folds: the other 4 outer folds; one booster and one
              specialist per pair of held folds, fitted on the other 3, serve both inner scores); per seed set
              (42-44, 45-47) the inner rule chooses a setting (``keep``: a setting must beat ``off`` on the inner
              CV by af_lever's rule; among those the highest inner AF F1 mean; else ``off``; also reported:
              ``best_af``, the highest inner AF F1 mean, ``off`` included), and the outer booster and specialist
              (fitted on the 4 outer-training folds) score fold k with it. The nested CV figure per seed pools the
              5 outer folds. Also the plain (non-nested) 5-fold CV of every setting (``plain_grid``, in-sample
              selection; information only) and the keep rule applied to it (``all_records_choice``: what a preset
              would ship). Caveat shared with ``nested_extra``: the deep out-of-fold probability of an inner row
              comes from the preset member that held out its fold, which saw the outer fold's records.
``validate``  only if kept: the recipe refit on the whole training split (booster seeds 42-44) with and without
              the specialist (fitted on all training A and O records, the ``all_records_choice`` setting of seeds
              42-44), on the validation split (1,364 records).

KEEP RULE (fixed before any figure): af_lever's rule (``Lever.beats``: CV AF F1, mean over booster seeds, rises by
more than the larger seed sd of both rows, and CV macro F1 does not drop by more than it), with the NESTED figure
(rule ``keep``) as the CV figure, on seeds 42-44 against ``base`` AND on fresh seeds 45-47 against
``base_fresh_seeds``; kept only if both hold. Validation only if kept.

Cached in WORK (boosters in WORK/oof, af_lever's names; specialists WORK/oof/spec_*); last stdout line one JSON
object; ``--out`` key ``af_specialist``.
"""
from __future__ import annotations

import itertools
import logging
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.cinc2017.af_lever import BASE, FRESH, SEEDS, Lever, committed_lever, paired  # noqa: E402
from experiments.cinc2017.features import LABELS, _metrics, _summary  # noqa: E402
from experiments.cinc2017.hybrid import COMMON  # noqa: E402
from experiments.cinc2017.oof_table import (finish_lever, lever_arguments, run_steps,  # noqa: E402
                                          validation_af_f1)

log = logging.getLogger("experiments.cinc2017.af_specialist")
STEPS = ("nested", "validate")
A, O = LABELS.index("A"), LABELS.index("O")
MARGINS = (0.1, 0.2, 0.35, 1.0)
SPEC_WEIGHTS = (0.5, 1.0)
SIZES = {"small": {"learning_rate": 0.05, "num_boost_round": 300, "num_leaves": 7, "min_data_in_leaf": 20},
         "base": dict(BASE)}
GRID = {f"m{m}_w{w}_{s}": (m, w, s) for s, m, w in itertools.product(SIZES, MARGINS, SPEC_WEIGHTS)}
AF_TARGET = 0.85     # issue 18's validation target for AF F1
KEEP_RULE = ("af_lever's rule (CV AF F1 mean over booster seeds rises by more than the larger seed sd of both rows, "
             "CV macro F1 does not drop by more than it) with the nested CV figure (inner rule 'keep') as the CV "
             "figure, on seeds 42-44 against base AND seeds 45-47 against base_fresh_seeds; validation only if kept")


def apply_specialist(p, q, margin: float, w: float) -> np.ndarray:
    """Classes of the average ``p`` (n, C) with the A/O re-decision: rows whose two top classes are A and O with
    ``|p_A - p_O| < margin`` become A if ``(1 - w) p_A / (p_A + p_O) + w q >= 0.5`` else O (``q``: (n,) the
    specialist's P(A)); every other row keeps ``argmax p``."""
    p = np.asarray(p, float)
    pred = p.argmax(-1)
    top2 = np.sort(np.argsort(-p, axis=-1, kind="stable")[:, :2], axis=-1)
    gated = (top2[:, 0] == min(A, O)) & (top2[:, 1] == max(A, O)) & (np.abs(p[:, A] - p[:, O]) < margin)
    share = p[:, A] / np.maximum(p[:, A] + p[:, O], 1e-12)
    s = (1 - w) * share + w * np.asarray(q, float)
    pred[gated] = np.where(s[gated] >= 0.5, A, O)
    return pred


def fit_specialist(X, y, size: str, seed: int):
    """The binary A-vs-O booster on the rows of ``X`` whose label is A or O (target 1 for A)."""
    import lightgbm as lgb

    params = dict(COMMON, **SIZES[size])
    rounds = int(params.pop("num_boost_round"))
    params.update(objective="binary", seed=seed, deterministic=True, num_threads=1, verbose=-1, use_missing=True)
    rows = np.isin(y, [A, O])
    return lgb.train(params, lgb.Dataset(X[rows], label=(y[rows] == A).astype(int), free_raw_data=True), rounds)


class Specialist:
    def __init__(self, args):
        self.args = args
        self.lever = committed_lever(args)
        self.Xs = {s: np.concatenate([self.lever.X[s], self.lever.deep[s]], axis=1) for s in ("train", "validation")}
        self.y, self.fold = self.lever.y["train"], self.lever.fold
        self.cache = Path(args.work) / "oof"

    def spec(self, size, seed, held) -> np.ndarray:
        """Specialist P(A) of the rows of the folds ``held`` (NaN elsewhere), fitted on the other folds."""
        cache = self.cache / f"spec_{size}_s{seed}_{''.join(map(str, held))}.npy"
        if cache.is_file():
            return np.load(cache)
        rows = np.isin(self.fold, held)
        model = fit_specialist(self.Xs["train"][~rows], self.y[~rows], size, seed)
        out = np.full(len(self.y), np.nan)
        out[rows] = model.predict(self.Xs["train"][rows])
        np.save(cache, out)
        return out

    def outer(self, seed):
        """(booster out-of-fold probabilities, {size: specialist out-of-fold P(A)}) of one seed."""
        q = {}
        for size in SIZES:
            q[size] = np.full(len(self.y), np.nan)
            for k in range(self.args.k):
                rows = self.fold == k
                q[size][rows] = self.spec(size, seed, (k,))[rows]
        return self.lever.oof("base", BASE, seed), q

    def inner(self, seed, k):
        """Inner-CV (booster probabilities, {size: specialist P(A)}) of outer fold k's training rows (NaN on k)."""
        p = np.full((len(self.y), len(LABELS)), np.nan)
        q = {size: np.full(len(self.y), np.nan) for size in SIZES}
        for j in range(self.args.k):
            if j == k:
                continue
            rows, pair = self.fold == j, (min(j, k), max(j, k))
            p[rows] = self.lever.nested_pair("none", seed, *pair)[rows]
            for size in SIZES:
                q[size][rows] = self.spec(size, seed, pair)[rows]
        return p, q

    def f1(self, y, pred) -> dict:
        from sklearn.metrics import f1_score

        per = f1_score(y, pred, labels=list(range(len(LABELS))), average=None)
        return {"macro_f1": float(per.mean()), "af_f1": float(per[A])}

    @staticmethod
    def predict(p, q, setting, deep) -> np.ndarray:
        avg = 0.5 * p + 0.5 * deep
        if setting == "off":
            return avg.argmax(-1)
        m, w, size = GRID[setting]
        return apply_specialist(avg, q[size], m, w)

    @staticmethod
    def stats(runs) -> dict:
        return {m: {"mean": float(np.mean([r[m] for r in runs])), "sd": float(np.std([r[m] for r in runs], ddof=1))}
                for m in ("macro_f1", "af_f1")}

    def choose(self, rows) -> dict:
        """The inner rules over {setting: stats}: ``keep`` and ``best_af`` (see the docstring)."""
        passing = [s for s in GRID if Lever.beats(rows[s], rows["off"])]
        return {"keep": max(passing, key=lambda s: rows[s]["af_f1"]["mean"]) if passing else "off",
                "best_af": max(rows, key=lambda s: rows[s]["af_f1"]["mean"]), "passing": passing}

    def step_nested(self, result):
        lever, deep, y = self.lever, self.lever.deep["train"], self.y
        t0 = time.perf_counter()
        lever.result["base"] = lever.cv_row("base", BASE, SEEDS)
        lever.result["base_fresh_seeds"] = lever.cv_row("base", BASE, FRESH)
        out = {"grid": {s: {"margin": m, "specialist_weight": w, "size": z} for s, (m, w, z) in GRID.items()},
               "sizes": SIZES, "inner_folds": "the other 4 outer folds", "keep_rule": KEEP_RULE,
               "base": lever.result["base"], "base_fresh_seeds": lever.result["base_fresh_seeds"]}
        outer = {}
        for seed in SEEDS + FRESH:
            outer[seed] = self.outer(seed)
            log.info("seed %d: outer boosters and specialists ready (%.0f s)", seed, time.perf_counter() - t0)
        settings = ["off"] + list(GRID)
        # the plain 5-fold CV of every setting (in-sample choice; information) and the choice on all records
        plain, full = {}, {}
        for key, ss in (("seeds_42_44", SEEDS), ("seeds_45_47", FRESH)):
            plain[key] = {}
            for st in settings:
                runs = [dict(seed=s, **self.f1(y, self.predict(*outer[s], st, deep))) for s in ss]
                plain[key][st] = self.stats(runs)
            full[key] = self.choose(plain[key])
        out["plain_grid"], out["all_records_choice"] = plain, full
        for key, ss, ref in (("seeds_42_44", SEEDS, "base"), ("seeds_45_47", FRESH, "base_fresh_seeds")):
            per_fold, chosen = {}, {"keep": {}, "best_af": {}}
            for k in range(self.args.k):
                train = self.fold != k
                inner = {s: self.inner(s, k) for s in ss}
                rows = {st: self.stats([dict(seed=s, **self.f1(y[train], self.predict(
                    inner[s][0][train], {z: v[train] for z, v in inner[s][1].items()}, st, deep[train])))
                    for s in ss]) for st in settings}
                c = self.choose(rows)
                chosen["keep"][str(k)], chosen["best_af"][str(k)] = c["keep"], c["best_af"]
                per_fold[str(k)] = {"passing": c["passing"], "inner_off": rows["off"],
                                    "inner_keep": rows[c["keep"]], "inner_best_af": rows[c["best_af"]]}
                log.info("%s fold %d: keep %s best_af %s (%d passing; %.0f s)", key, k, c["keep"], c["best_af"],
                         len(c["passing"]), time.perf_counter() - t0)
            res = {"per_fold": per_fold, "chosen": chosen}
            for rule in ("keep", "best_af"):
                runs = []
                for s in ss:
                    pred = np.zeros(len(y), int)
                    for k in range(self.args.k):
                        rows = self.fold == k
                        pred[rows] = self.predict(outer[s][0], outer[s][1], chosen[rule][str(k)], deep)[rows]
                    runs.append(dict(seed=s, **lever.score(outer[s][0], pred=pred)))
                row = lever.summarise(runs)
                row["kept"] = Lever.beats(row, lever.result[ref])
                row["paired"] = paired(runs, lever.result[ref]["runs"])
                res[rule] = row
                log.info("nested %s %s: CV macro %.4f AF %.4f (shipped %.4f / %.4f) kept %s", key, rule,
                         row["macro_f1"]["mean"], row["af_f1"]["mean"], lever.result[ref]["macro_f1"]["mean"],
                         lever.result[ref]["af_f1"]["mean"], row["kept"])
            out[key] = res
        for rule in ("keep", "best_af"):
            out[rule] = {"kept_on_both_seed_sets": all(out[k][rule]["kept"] for k in ("seeds_42_44", "seeds_45_47")),
                         "paired": paired(out["seeds_42_44"][rule]["runs"] + out["seeds_45_47"][rule]["runs"],
                                          lever.result["base"]["runs"] + lever.result["base_fresh_seeds"]["runs"]),
                         "times_chosen": {st: sum(out[k]["chosen"][rule][str(f)] == st
                                                  for k in ("seeds_42_44", "seeds_45_47") for f in range(self.args.k))
                                          for st in settings if any(out[k]["chosen"][rule][str(f)] == st for k in (
                                              "seeds_42_44", "seeds_45_47") for f in range(self.args.k))}}
        out["kept"] = out["keep"]["kept_on_both_seed_sets"]
        out["seconds"] = time.perf_counter() - t0
        result["nested"] = out

    def step_validate(self, result):
        """Only if kept: validation of the refit recipe with and without the specialist, booster seeds 42-44."""
        nested = result["nested"]
        if not nested["kept"]:
            result["validation"] = "not scored: the lever is not kept"
            return
        setting = nested["all_records_choice"]["seeds_42_44"]["keep"]
        lever, yv, deep = self.lever, self.lever.y["validation"], self.lever.deep["validation"]
        rows = {"without": [], "with": []}
        for seed in SEEDS:
            p = lever._clf(lever.names, BASE, seed).fit(lever.X["train"], self.y).predict_proba(lever.X["validation"])
            q = {}
            if setting != "off":
                size = GRID[setting][2]
                q[size] = fit_specialist(self.Xs["train"], self.y, size, seed).predict(self.Xs["validation"])
            rows["without"].append(dict(seed=seed, **_metrics(yv, self.predict(p, q, "off", deep))))
            rows["with"].append(dict(seed=seed, **_metrics(yv, self.predict(p, q, setting, deep))))
        result["validation"] = {"setting": setting, "records": len(yv),
                                **{k: {"runs": v, "summary": _summary(v)} for k, v in rows.items()}}


def main(argv=None) -> int:
    args = lever_arguments(__doc__, STEPS, "af_specialist", argv)
    args.work.mkdir(parents=True, exist_ok=True)
    path = args.work / "af_specialist.json"
    spec, result = run_steps(lambda: Specialist(args), args.steps, path, KEEP_RULE)
    result["command"] = "python experiments/cinc2017/af_specialist.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    result["records"] = {s: len(v) for s, v in spec.lever.ids.items()}
    if "nested" in result:
        af = {"target": AF_TARGET}
        for key in ("seeds_42_44", "seeds_45_47"):
            af[key] = {"nested_cv_af_f1": result["nested"][key]["keep"]["af_f1"]["mean"]}
        af.update(validation_af_f1(result.get("validation"), AF_TARGET))
        result["af_target"] = af
    finish_lever(path, result, args.out, "af_specialist", "nested")
    return 0


if __name__ == "__main__":
    sys.exit(main())
