"""AF levers for the shipped ``cinc2017`` form (issue 18): the record-features booster (111 + ``atrial`` features)
averaged with the mean of ECG-SL's and the 1-D ResNet's probabilities. Every choice by 5-fold CV on the TRAINING
split only (the deep models' folds, their out-of-fold probabilities); validation only for the CV's choice.

    python experiments/cinc2017/af_lever.py --features /work/runs/af26/features \
        --ecgsl /work/runs/af26/hybrid --resnet /work/runs/hybrid_resnet --work /work/runs/af27/lever \
        [--steps library base bag params weight extra offsets validate]

``hrv``       (d)'s extraction, alone in its own command: neurokit2 ``hrv_nonlinear`` of the R-peaks that
              ``record_features`` finds (``signal.find_rpeaks``, default ``SignalConfig``) for every record of
              ``--features``' table, into WORK/nk_nonlinear_all.npz and WORK/nk_nonlinear_focus.npz (``NK_FOCUS``).
``base``      the shipped recipe (``hybrid.py``'s features-row parameters, balanced weights), booster seeds 42-44:
              CV macro / challenge / AF F1 of the average (deep weight 0.5).
``bag``       (a) each booster replaced by the mean of ``--bag`` boosters (seeds s, s+1000, ...); both the mean of
              their probabilities and the softmax of their mean raw scores (the latter is one LightGBM model: the
              trees of all, leaf values divided by the bag size).
``params``    (b) LightGBM hyper-parameters (``PARAM_GRID``), each by CV over seeds 42-44; the best on the CV's
              AF F1 is re-scored with fresh seeds 45-47 (no selection optimism in that figure).
``weight``    (c) the deep weight of the average in ``WEIGHTS``, chosen per seed on the CV out-of-fold outputs of
              ``base``; the chosen weight's CV figure is then re-scored on fresh seeds 45-47.
``extra``     (d) extra AF-vs-Other columns (``--extra-features``: an ``.npz`` with ``record_id``, ``names``, ``X``),
              added to the 118 columns, CV over seeds 42-44 (``--extra-seeds``: 45-47 key ``extra_fresh_seeds``;
              any other set key ``extra_seeds_A_B_C`` against the shipped recipe on the same seeds,
              ``base_seeds_A_B_C``, and ``extra_paired_all_seeds`` pairs every set). (f) the ``mitdb-beats``
              ectopy columns: ``beat_ectopy.py`` writes their ``.npz``.
``offsets``   (e) per-class decision offsets: the class is ``argmax(log p + b)`` of the average ``p`` (deep weight
              0.5), ``b`` additive log-probability offsets (``b[N] = 0``; ``OFFSET_GRID`` per class, coordinate
              ascent from 0, ``choose_offsets``) maximising macro F1. Nested CV: for each of the 5 folds the offsets
              are chosen on the other 4 folds' out-of-fold rows of ``base`` and applied to that fold, so the CV
              figure never scores rows that chose it; per booster seed 42-44 and fresh seeds 45-47. Also the
              offsets chosen on all 5,456 rows per seed (what a preset would ship). ``blend_tuning.py`` tried
              offsets on the first hybrid form (N's offset free too, chosen on all rows, scored on validation).
``library``   the ``nonlinear`` group of ``ecgsl_keras.data.record_features`` (the same 17 indices): its values
              against (d)'s extraction (``--nk-focus``, default WORK/nk_nonlinear_focus.npz) on ``--check-records``
              random training-table records, and ``record_features``' ms per record on the package's CinC sample
              (all groups, all but this one, and the group alone on the same R-peaks); writes
              WORK/nonlinear_group.npz, (d)'s columns under the library's names and order, for ``extra``.
``nested_extra`` (f) nested selection of extra columns: for each of the 5 outer folds, each candidate of
              ``NESTED_CANDIDATES`` (column subsets of ``--nested-features``, fixed before the run) is scored by an
              inner 4-fold CV on the outer-training records only (inner folds: the other 4 outer folds; one booster
              per pair of held folds serves both inner scores), the keep rule below chooses among them per seed set
              (42-44, 45-47: a candidate must beat ``none`` on the inner CV; among those the highest inner AF F1;
              else ``none``), and the chosen set's outer booster scores the outer fold. The nested CV figure per
              seed pools the 5 outer folds; paired per seed against ``base``. Also the plain rule "highest inner AF
              F1 mean" (no spread requirement), and the keep rule applied to the plain 5-fold CV rows of all
              training records (``all_records_choice``: what a preset would ship). The outer boosters are the
              ``extra`` step's (cache tags ``base``, ``nested_<candidate>``). ``--jobs``: boosters fitted in that
              many processes (forked).
``validate``  the validation split (1,364 records) for ``--validate CANDIDATE`` only (booster fitted on the whole
              training split per seed, averaged with the mean of the fold models' validation probabilities).

A candidate is kept only if its CV AF F1 (mean over seeds) rises beyond the seed spread of both rows (difference
> the larger sd) and its CV macro F1 does not drop beyond it; (e) and the library group only if that holds on both
seed sets (42-44 against ``base``, 45-47 against ``base_fresh_seeds``). Cached in WORK (resumable,
WORK/results.json); with ``--out`` also in that file's key ``af_lever`` (``experiments/cinc2017/af27_results.json``;
(e) and the library group: ``af28_results.json``; (f), ``beat_ectopy.py``'s columns: ``af29_results.json``; their
nested selection ``nested_extra``: ``af30_results.json``); last stdout line one JSON object.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.cinc2017.features import LABELS, _metrics, _summary  # noqa: E402
from experiments.cinc2017.hybrid import COMMON, _aligned, _feature_table  # noqa: E402

log = logging.getLogger("experiments.cinc2017.af_lever")
STEPS = ("hrv", "library", "base", "bag", "params", "weight", "extra", "offsets", "nested_extra", "validate")
# (d) neurokit2 ``hrv_nonlinear`` indices of the RR series (the package's R-peaks, as ``record_features``): the
# focused subset targets AF against ectopy-driven Other (fragmentation, symbolic dynamics, DFA, asymmetry)
NK_FOCUS = ("HRV_PIP", "HRV_IALS", "HRV_PSS", "HRV_PAS", "HRV_DFA_alpha1", "HRV_ApEn", "HRV_LZC", "HRV_GI", "HRV_SI",
            "HRV_AI", "HRV_PI", "HRV_C1d", "HRV_C2d", "HRV_Symbolic_EqualProb4_0V", "HRV_Symbolic_EqualProb4_1V",
            "HRV_Symbolic_EqualProb4_2LV", "HRV_Symbolic_EqualProb4_2UV")
BASE = {"learning_rate": 0.05, "num_boost_round": 400, "num_leaves": 15, "min_data_in_leaf": 20}
PARAM_GRID = {
    "leaves7": dict(BASE, num_leaves=7, num_boost_round=600),
    "leaves31": dict(BASE, num_leaves=31),
    "leaves15_min40": dict(BASE, min_data_in_leaf=40),
    "leaves15_min10": dict(BASE, min_data_in_leaf=10),
    "lr0.03_800": dict(BASE, learning_rate=0.03, num_boost_round=800),
    "lr0.05_250": dict(BASE, num_boost_round=250),
    "lr0.1_200": dict(BASE, learning_rate=0.1, num_boost_round=200),
}
WEIGHTS = [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7]
SEEDS, FRESH = [42, 43, 44], [45, 46, 47]
OFFSET_GRID = np.round(np.arange(-1.0, 1.0001, 0.1), 2)   # (e) log-probability offsets tried per class (N fixed at 0)
OFFSET_ROUNDS = 4                                           # (e) coordinate-ascent sweeps at most
# (f) nested selection among column subsets of ``--nested-features`` (beat_ectopy.py's 14 ``beat_ectopy`` columns),
# fixed before the nested run: none, all 14 (f), af29's 6 (f'), the two ectopic fractions, the four columns of the
# RR irregularity with ectopy removed
NESTED_CANDIDATES = {
    "none": (),
    "all": None,                                           # every column of the file
    "focus": ("bx_frac_s", "bx_frac_v", "bx_rmssd_clean_norm", "bx_rmssd_clean_ratio", "bx_irregular_clean_frac",
              "bx_irregular_explained_frac"),
    "fractions": ("bx_frac_s", "bx_frac_v"),
    "irregularity": ("bx_rmssd_clean_norm", "bx_rmssd_clean_ratio", "bx_irregular_clean_frac",
                     "bx_irregular_explained_frac"),
}


def _softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def _macro_f1(y, pred, n=len(LABELS)) -> float:
    cm = np.bincount(y * n + pred, minlength=n * n).reshape(n, n)
    tp = np.diag(cm).astype(float)
    denom = cm.sum(0) + cm.sum(1)
    return float(np.mean(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)))


def choose_offsets(logp, y, grid=OFFSET_GRID, rounds=OFFSET_ROUNDS) -> np.ndarray:
    """(e) Per-class additive offsets ``b`` (``b[0] = 0``) maximising the macro F1 of ``argmax(logp + b)`` on these
    rows: coordinate ascent over classes 1.. from ``b = 0``, each class's offset the best of ``grid`` given the
    others (ties: the smallest |b|), until a sweep changes nothing."""
    b = np.zeros(logp.shape[1])
    best = _macro_f1(y, logp.argmax(-1))
    order = np.argsort(np.abs(grid), kind="stable")
    for _ in range(rounds):
        changed = False
        for c in range(1, logp.shape[1]):
            for v in grid[order]:
                trial = b.copy()
                trial[c] = v
                f = _macro_f1(y, (logp + trial).argmax(-1))
                if f > best + 1e-12:
                    best, b, changed = f, trial, True
        if not changed:
            break
    return b


class Lever:
    def __init__(self, args):
        from ecgsl_keras.data.record_features import DEFAULT_GROUPS

        self.args = args
        self.work = Path(args.work)
        (self.work / "oof").mkdir(parents=True, exist_ok=True)
        self.groups = list(DEFAULT_GROUPS) + ["atrial"]
        path = Path(args.features) / "features.npz"
        self.names, X, rows, status = _feature_table(path, self.groups)
        ecgsl = np.load(Path(args.ecgsl) / "deep_oof.npz")
        resnet = np.load(Path(args.resnet) / "deep_oof.npz")
        self.ids = {s: sorted(str(r) for r in ecgsl[f"{s}_record_id"] if str(r) in rows and status[rows[str(r)]] == "ok")
                    for s in ("train", "validation")}
        self.y = {s: _aligned(ecgsl, s, "targets", self.ids[s]).astype(int) for s in self.ids}
        self.deep = {s: 0.5 * (_aligned(ecgsl, s, "probabilities", self.ids[s])
                               + _aligned(resnet, s, "probabilities", self.ids[s])) for s in self.ids}
        self.X = {s: X[[rows[r] for r in self.ids[s]]] for s in self.ids}
        fold_of = json.loads((Path(args.ecgsl) / "folds" / "assignment.json").read_text())
        other = json.loads((Path(args.resnet) / "folds" / "assignment.json").read_text())
        if any(other.get(r) != fold_of[r] for r in self.ids["train"]):
            raise SystemExit("error: the ResNet's folds differ from ECG-SL's")
        self.fold = np.array([int(fold_of[r]) for r in self.ids["train"]])
        self.result_path = self.work / "results.json"
        self.result = json.loads(self.result_path.read_text()) if self.result_path.is_file() else {}
        log.info("records: %s; %d columns", {s: len(v) for s, v in self.ids.items()}, len(self.names))

    def save(self):
        self.result_path.write_text(json.dumps(self.result, indent=1) + "\n")

    # -- the booster's out-of-fold outputs -------------------------------------------------------

    def _clf(self, names, params, seed):
        from ecgsl_keras.modeling.stacking import StackedClassifier

        return StackedClassifier(names, [], LABELS, params=dict(COMMON, **params), seed=seed)

    def oof(self, tag, params, seed, X=None, names=None, raw=False) -> np.ndarray:
        """Out-of-fold probabilities (``raw``: raw scores) of one booster seed over the deep models' folds."""
        X = self.X["train"] if X is None else X
        names = self.names if names is None else names
        cache = self.work / "oof" / f"{tag}_s{seed}{'_raw' if raw else ''}.npy"
        if cache.is_file():
            return np.load(cache)
        out = np.zeros((len(self.fold), len(LABELS)))
        other = np.zeros_like(out)
        for k in range(self.args.k):
            held = self.fold == k
            clf = self._clf(names, params, seed).fit(X[~held], self.y["train"][~held])
            out[held] = clf.booster.predict(X[held], raw_score=raw)
            other[held] = clf.booster.predict(X[held], raw_score=not raw)
        np.save(cache, out)
        np.save(self.work / "oof" / f"{tag}_s{seed}{'' if raw else '_raw'}.npy", other)
        return out

    def score(self, booster, w=0.5, pred=None) -> dict:
        """CV scores of the average ``(1 - w) * booster + w * deep`` on the training split (its argmax, or the
        classes ``pred`` given for it)."""
        from sklearn.metrics import f1_score

        avg = (1 - w) * booster + w * self.deep["train"]
        pred = avg.argmax(-1) if pred is None else pred
        per = f1_score(self.y["train"], pred, labels=list(range(len(LABELS))), average=None)
        alone = f1_score(self.y["train"], booster.argmax(-1), labels=list(range(len(LABELS))), average=None)
        cm = np.zeros((4, 4), int)
        np.add.at(cm, (self.y["train"], pred), 1)
        return {"macro_f1": float(per.mean()), "challenge_f1": float(per[:3].mean()), "af_f1": float(per[1]),
                "per_class_f1": dict(zip(LABELS, map(float, per))), "booster_macro_f1": float(alone.mean()),
                "booster_af_f1": float(alone[1]), "o_as_a": int(cm[2, 1]), "a_as_o": int(cm[1, 2])}

    @staticmethod
    def summarise(runs) -> dict:
        out = {"runs": runs}
        for key in ("macro_f1", "challenge_f1", "af_f1", "booster_macro_f1", "booster_af_f1", "o_as_a", "a_as_o"):
            v = [r[key] for r in runs]
            out[key] = {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1))}
        return out

    def cv_row(self, tag, params, seeds, **kw) -> dict:
        runs = []
        for seed in seeds:
            t0 = time.perf_counter()
            runs.append(dict(seed=seed, **self.score(self.oof(tag, params, seed, **kw))))
            log.info("%s seed %d: CV macro %.4f AF %.4f (%.0f s)", tag, seed, runs[-1]["macro_f1"], runs[-1]["af_f1"],
                     time.perf_counter() - t0)
        return dict(self.summarise(runs), params=params)

    @staticmethod
    def beats(row, base) -> bool:
        """Kept only if the CV AF F1 rises beyond both rows' seed spread and macro F1 does not drop beyond it."""
        spread = lambda k: max(row[k]["sd"], base[k]["sd"])  # noqa: E731
        return (row["af_f1"]["mean"] - base["af_f1"]["mean"] > spread("af_f1")
                and base["macro_f1"]["mean"] - row["macro_f1"]["mean"] <= spread("macro_f1"))

    # -- steps -----------------------------------------------------------------------------------

    def step_base(self):
        self.result["base"] = self.cv_row("base", BASE, SEEDS)
        self.result["base_fresh_seeds"] = self.cv_row("base", BASE, FRESH)

    def step_bag(self):
        n = self.args.bag
        rows = {"probability_mean": [], "raw_score_mean": []}
        for seed in SEEDS:
            members = [seed + 1000 * i for i in range(n)]
            p = np.mean([self.oof("base", BASE, m) for m in members], axis=0)
            z = np.mean([self.oof("base", BASE, m, raw=True) for m in members], axis=0)
            rows["probability_mean"].append(dict(seed=seed, members=members, **self.score(p)))
            rows["raw_score_mean"].append(dict(seed=seed, members=members, **self.score(_softmax(z))))
        self.result["bag"] = {k: dict(self.summarise(v), n=n) for k, v in rows.items()}
        for k, row in self.result["bag"].items():
            row["kept"] = self.beats(row, self.result["base"])
            log.info("bag %s: CV macro %.4f AF %.4f kept %s", k, row["macro_f1"]["mean"], row["af_f1"]["mean"], row["kept"])

    def step_params(self):
        grid = {"base": self.result["base"]}
        for tag, params in PARAM_GRID.items():
            grid[tag] = self.cv_row(tag, params, SEEDS)
            self.result["params"] = {"grid": grid}
            self.save()
        best = max(grid, key=lambda t: grid[t]["af_f1"]["mean"])
        out = {"grid": grid, "chosen_by_cv_af_f1": best,
               "chosen_by_cv_macro_f1": max(grid, key=lambda t: grid[t]["macro_f1"]["mean"])}
        if best != "base":
            out["chosen_fresh_seeds"] = self.cv_row(best, PARAM_GRID[best], FRESH)
            out["kept"] = self.beats(out["chosen_fresh_seeds"], self.result["base_fresh_seeds"])
        else:
            out["kept"] = False
        self.result["params"] = out

    def step_weight(self):
        def per_weight(seeds):
            return {str(w): self.summarise([dict(seed=s, **self.score(self.oof("base", BASE, s), w)) for s in seeds])
                    for w in WEIGHTS}

        table = per_weight(SEEDS)
        best = max(WEIGHTS, key=lambda w: table[str(w)]["af_f1"]["mean"])
        fresh = per_weight(FRESH)
        self.result["weight"] = {"deep_weights": WEIGHTS, "cv": table, "chosen_by_cv_af_f1": best,
                                 "chosen_by_cv_macro_f1": max(WEIGHTS, key=lambda w: table[str(w)]["macro_f1"]["mean"]),
                                 "chosen_fresh_seeds": fresh[str(best)], "equal_fresh_seeds": fresh["0.5"],
                                 "kept": best != 0.5 and self.beats(fresh[str(best)], fresh["0.5"])}

    def step_extra(self):
        for path in self.args.extra_features:
            data = np.load(path)
            rows = {str(r): i for i, r in enumerate(data["record_id"])}
            extra_names = [str(n) for n in data["names"]]
            names = self.names + extra_names
            X = np.concatenate([self.X["train"], data["X"][[rows[r] for r in self.ids["train"]]]], axis=1)
            key, ref = self.seed_set_keys(self.args.extra_seeds)
            row = self.cv_row(f"extra_{Path(path).stem}", BASE, self.args.extra_seeds, X=X, names=names)
            row.update(extra_names=extra_names, kept=self.beats(row, self.result[ref]))
            self.result.setdefault(key, {})[Path(path).stem] = row
            self.save()

    def seed_set_keys(self, seeds) -> tuple:
        """(result key of the extra rows, key of their reference row) for a booster seed set: 42-44 ``extra``
        against ``base``, 45-47 ``extra_fresh_seeds`` against ``base_fresh_seeds``, any other set (a third look)
        ``extra_seeds_A_B_C`` against ``base_seeds_A_B_C`` (the shipped recipe on those seeds, computed here)."""
        seeds = list(seeds)
        if seeds == SEEDS:
            return "extra", "base"
        if seeds == FRESH:
            return "extra_fresh_seeds", "base_fresh_seeds"
        tag = "_".join(map(str, seeds))
        if f"base_seeds_{tag}" not in self.result:
            self.result[f"base_seeds_{tag}"] = self.cv_row("base", BASE, seeds)
        return f"extra_seeds_{tag}", f"base_seeds_{tag}"

    def step_offsets(self):
        """(e): nested-CV decision offsets on ``base``'s out-of-fold average, seeds 42-44 and fresh 45-47."""
        y = self.y["train"]

        def per_seed(seed):
            booster = self.oof("base", BASE, seed)
            logp = np.log(np.clip(0.5 * booster + 0.5 * self.deep["train"], 1e-12, None))
            pred, chosen = np.zeros(len(y), int), {}
            for k in range(self.args.k):
                held = self.fold == k
                b = choose_offsets(logp[~held], y[~held])
                pred[held] = (logp[held] + b).argmax(-1)
                chosen[str(k)] = b.tolist()
            full = choose_offsets(logp, y)
            return dict(seed=seed, **self.score(booster, pred=pred), offsets_per_fold=chosen,
                        offsets_all_rows=full.tolist(),
                        all_rows_in_sample_macro_f1=_macro_f1(y, (logp + full).argmax(-1)))

        out = {"grid": OFFSET_GRID.tolist(), "rounds": OFFSET_ROUNDS, "objective": "macro_f1"}
        for key, seeds, ref in (("cv", SEEDS, "base"), ("cv_fresh_seeds", FRESH, "base_fresh_seeds")):
            out[key] = self.summarise([per_seed(s) for s in seeds])
            out[key]["kept"] = self.beats(out[key], self.result[ref])
            log.info("offsets %s: CV macro %.4f AF %.4f (reference %.4f / %.4f) kept %s", key,
                     out[key]["macro_f1"]["mean"], out[key]["af_f1"]["mean"], self.result[ref]["macro_f1"]["mean"],
                     self.result[ref]["af_f1"]["mean"], out[key]["kept"])
        out["paired"] = paired(out["cv"]["runs"] + out["cv_fresh_seeds"]["runs"],
                               self.result["base"]["runs"] + self.result["base_fresh_seeds"]["runs"])
        out["kept"] = out["cv"]["kept"] and out["cv_fresh_seeds"]["kept"]
        runs = out["cv"]["runs"] + out["cv_fresh_seeds"]["runs"]
        full = np.array([r["offsets_all_rows"] for r in runs])
        out["offsets_all_rows_range"] = {c: {"min": float(full[:, i].min()), "max": float(full[:, i].max())}
                                         for i, c in enumerate(LABELS)}
        in_sample = [r["all_rows_in_sample_macro_f1"] for r in runs]
        out["all_rows_in_sample_macro_f1"] = {"mean": float(np.mean(in_sample)),
                                               "sd": float(np.std(in_sample, ddof=1))}
        self.result["offsets"] = out

    # -- (f) nested selection of extra columns ----------------------------------------------------

    def nested_tables(self) -> dict:
        """candidate -> (column names, training-split X): the 118 columns and the candidate's subset of
        ``--nested-features`` (in ``NESTED_CANDIDATES``' order; ``None``: the file's order)."""
        if getattr(self, "_nested", None) is None:
            data = np.load(self.args.nested_features)
            rows = {str(r): i for i, r in enumerate(data["record_id"])}
            names = [str(n) for n in data["names"]]
            full = data["X"][[rows[r] for r in self.ids["train"]]]
            self._nested = {}
            for cand, cols in NESTED_CANDIDATES.items():
                cols = names if cols is None else list(cols)
                idx = [names.index(c) for c in cols]
                self._nested[cand] = (self.names + cols, np.concatenate([self.X["train"], full[:, idx]], axis=1))
        return self._nested

    @staticmethod
    def nested_outer_tag(cand) -> str:
        return "base" if cand == "none" else f"nested_{cand}"

    def nested_pair(self, cand, seed, a, b) -> np.ndarray:
        """Booster probabilities of the rows of folds ``a`` and ``b`` (NaN elsewhere) from one booster fitted on
        the other 3 folds: the inner CV's held fold ``b`` of outer fold ``a`` and its held fold ``a`` of outer
        fold ``b``."""
        cache = self.work / "oof" / f"nested_{cand}_s{seed}_pair{a}{b}.npy"
        if cache.is_file():
            return np.load(cache)
        names, X = self.nested_tables()[cand]
        held = np.isin(self.fold, [a, b])
        clf = self._clf(names, BASE, seed).fit(X[~held], self.y["train"][~held])
        out = np.full((len(self.fold), len(LABELS)), np.nan)
        out[held] = clf.booster.predict(X[held])
        np.save(cache, out)
        return out

    def nested_fit(self, job):
        cand, seed, pair = job
        if pair is None:
            names, X = self.nested_tables()[cand]
            self.oof(self.nested_outer_tag(cand), BASE, seed, X=X, names=names)
        else:
            self.nested_pair(cand, seed, *pair)

    def _subset_f1(self, booster, mask) -> dict:
        from sklearn.metrics import f1_score

        pred = (0.5 * booster[mask] + 0.5 * self.deep["train"][mask]).argmax(-1)
        per = f1_score(self.y["train"][mask], pred, labels=list(range(len(LABELS))), average=None)
        return {"macro_f1": float(per.mean()), "af_f1": float(per[1])}

    def step_nested_extra(self):
        """(f) nested selection among ``NESTED_CANDIDATES`` (see the module docstring)."""
        folds = list(range(self.args.k))
        pairs = [(a, b) for a in folds for b in folds if a < b]
        seed_sets = {"seeds_42_44": SEEDS, "seeds_45_47": FRESH}
        seeds = SEEDS + FRESH
        jobs = [(c, s, None) for c in NESTED_CANDIDATES for s in seeds] + \
               [(c, s, p) for s in seeds for c in NESTED_CANDIDATES for p in pairs]
        self.nested_tables()
        t0 = time.perf_counter()
        if self.args.jobs > 1:
            import multiprocessing as mp

            global _LEVER
            _LEVER = self
            with mp.get_context("fork").Pool(self.args.jobs) as pool:
                for i, _ in enumerate(pool.imap_unordered(_nested_job, jobs)):
                    if i % 20 == 19:
                        log.info("nested: %d / %d boosters (%.0f s)", i + 1, len(jobs), time.perf_counter() - t0)
        else:
            for job in jobs:
                self.nested_fit(job)
        y = self.y["train"]
        out = {"candidates": {c: (list(v) if v is not None else "all") for c, v in NESTED_CANDIDATES.items()},
               "nested_features": str(self.args.nested_features), "inner_folds": "the other 4 outer folds",
               "rules": {"keep": "af_lever's keep rule over the seed set's inner CV scores against none; among "
                                 "the candidates that pass, the highest inner AF F1 mean; else none",
                         "best_af": "the highest inner AF F1 mean over the seed set, none included"}}
        outer = {c: {s: self.oof(self.nested_outer_tag(c), BASE, s) for s in seeds} for c in NESTED_CANDIDATES}
        out["outer_rows"] = {c: {key: self.summarise([dict(seed=s, **self.score(outer[c][s])) for s in ss])
                                 for key, ss in seed_sets.items()} for c in NESTED_CANDIDATES}
        for key, ss in seed_sets.items():
            ref = self.result["base"] if ss == SEEDS else self.result["base_fresh_seeds"]
            per_fold, chosen = {}, {"keep": {}, "best_af": {}}
            for k in folds:
                train = self.fold != k
                inner = {}
                for c in NESTED_CANDIDATES:
                    runs = []
                    for s in ss:
                        p = np.full((len(y), len(LABELS)), np.nan)
                        for j in folds:
                            if j != k:
                                rows = self.fold == j
                                p[rows] = self.nested_pair(c, s, min(j, k), max(j, k))[rows]
                        runs.append(dict(seed=s, **self._subset_f1(p, train)))
                    inner[c] = {m: {"mean": float(np.mean([r[m] for r in runs])),
                                    "sd": float(np.std([r[m] for r in runs], ddof=1))} for m in ("macro_f1", "af_f1")}
                    inner[c]["runs"] = runs
                passing = [c for c in NESTED_CANDIDATES if c != "none" and self.beats(inner[c], inner["none"])]
                chosen["keep"][str(k)] = max(passing, key=lambda c: inner[c]["af_f1"]["mean"]) if passing else "none"
                chosen["best_af"][str(k)] = max(NESTED_CANDIDATES, key=lambda c: inner[c]["af_f1"]["mean"])
                per_fold[str(k)] = {"inner": inner, "passing": passing,
                                    "outer_records": int((~train).sum()), "inner_records": int(train.sum())}
            res = {"per_fold": per_fold, "chosen": chosen}
            for rule in ("keep", "best_af"):
                runs = []
                for s in ss:
                    booster = np.zeros((len(y), len(LABELS)))
                    for k in folds:
                        rows = self.fold == k
                        booster[rows] = outer[chosen[rule][str(k)]][s][rows]
                    runs.append(dict(seed=s, **self.score(booster)))
                row = self.summarise(runs)
                row["kept"] = self.beats(row, ref)
                row["paired"] = paired(runs, ref["runs"])
                res[rule] = row
                log.info("nested %s %s: chosen %s; CV macro %.4f AF %.4f (shipped %.4f / %.4f) kept %s", key, rule,
                         chosen[rule], row["macro_f1"]["mean"], row["af_f1"]["mean"], ref["macro_f1"]["mean"],
                         ref["af_f1"]["mean"], row["kept"])
            out[key] = res
        # the procedure on all training records (what a preset would ship): the keep rule over the 5-fold CV rows
        full = {}
        for key, ss in seed_sets.items():
            rows = {c: out["outer_rows"][c][key] for c in NESTED_CANDIDATES}
            passing = [c for c in NESTED_CANDIDATES if c != "none" and self.beats(rows[c], rows["none"])]
            full[key] = {"passing": passing, "chosen": max(passing, key=lambda c: rows[c]["af_f1"]["mean"])
                         if passing else "none"}
        out["all_records_choice"] = full
        for rule in ("keep", "best_af"):
            out[rule] = {"kept_on_both_seed_sets": all(out[k][rule]["kept"] for k in seed_sets),
                         "paired": paired(out["seeds_42_44"][rule]["runs"] + out["seeds_45_47"][rule]["runs"],
                                          self.result["base"]["runs"] + self.result["base_fresh_seeds"]["runs"]),
                         "times_chosen": {c: sum(out[k]["chosen"][rule][str(f)] == c for k in seed_sets
                                                 for f in folds) for c in NESTED_CANDIDATES}}
        self.result["nested_extra"] = out

    def step_validate(self):
        """Validation of ``--validate`` (``base`` or a PARAM_GRID tag, with ``--deep-weight``) per seed."""
        tag, w = self.args.validate, self.args.deep_weight
        params = BASE if tag == "base" else PARAM_GRID[tag]
        runs = []
        for seed in SEEDS:
            members = [seed + 1000 * i for i in range(self.args.validate_bag)]
            p = np.mean([self._clf(self.names, params, m).fit(self.X["train"], self.y["train"]).predict_proba(
                self.X["validation"]) for m in members], axis=0)
            runs.append(dict(seed=seed, **_metrics(self.y["validation"], ((1 - w) * p + w * self.deep["validation"]).argmax(-1))))
        self.result.setdefault("validation", {})[f"{tag}_w{w}_bag{self.args.validate_bag}"] = {
            "runs": runs, "summary": _summary(runs), "records": len(self.ids["validation"])}


_LEVER = None


def _nested_job(job):
    """A worker of ``step_nested_extra`` (forked: the parent's ``Lever``)."""
    _LEVER.nested_fit(job)


def paired(rows, base) -> dict:
    """Per-seed differences (row minus base, same seed and folds) over every seed both have: mean and sd."""
    by_seed = {r["seed"]: r for r in base}
    out = {"seeds": [r["seed"] for r in rows if r["seed"] in by_seed]}
    for key in ("macro_f1", "af_f1", "challenge_f1"):
        d = [r[key] - by_seed[r["seed"]][key] for r in rows if r["seed"] in by_seed]
        out[key] = {"differences": d, "mean": float(np.mean(d)), "sd": float(np.std(d, ddof=1)),
                    "positive": int(sum(x > 0 for x in d))}
    out["per_class_f1_mean"] = {c: float(np.mean([r["per_class_f1"][c] - by_seed[r["seed"]]["per_class_f1"][c]
                                                  for r in rows if r["seed"] in by_seed])) for c in LABELS}
    return out


def extract_hrv(args) -> None:
    """(d): neurokit2 HRV nonlinear indices per record (NaN when neurokit2 cannot compute them); resumable."""
    import warnings

    import neurokit2 as nk

    from ecgsl_keras.config import SignalConfig
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.signal import clean, find_rpeaks

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    table = np.load(Path(args.features) / "features.npz")
    ids = [str(r) for r, s in zip(table["record_id"], table["status"]) if s == "ok"]
    cache = work / "nk_nonlinear_rows.json"
    rows = json.loads(cache.read_text()) if cache.is_file() else {}
    reader, config = open_dataset("cinc2017", args.cinc_dir), SignalConfig()
    t0 = time.perf_counter()
    for k, rid in enumerate(r for r in ids if r not in rows):
        record = reader.load(rid)
        x = np.asarray(record.lead(None), np.float64).reshape(-1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                peaks = find_rpeaks(x, record.fs, config, cleaned=clean(x, record.fs, config.clean_method))
                h = nk.hrv_nonlinear(peaks, sampling_rate=record.fs)
                rows[rid] = {c: float(h[c].iloc[0]) for c in h.columns}
            except Exception as exc:  # noqa: BLE001  (too few beats and the like: NaN row)
                rows[rid] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
        if k % 500 == 499:
            cache.write_text(json.dumps(rows))
            log.info("hrv: %d / %d records (%.0f s)", len(rows), len(ids), time.perf_counter() - t0)
    cache.write_text(json.dumps(rows))
    names = sorted({c for r in rows.values() for c in r if c != "error"})
    X = np.array([[rows[r].get(c, np.nan) for c in names] for r in ids], np.float64)
    X[~np.isfinite(X)] = np.nan
    for tag, cols in (("all", names), ("focus", [c for c in names if c in NK_FOCUS])):
        idx = [names.index(c) for c in cols]
        np.savez_compressed(work / f"nk_nonlinear_{tag}.npz", record_id=np.array(ids), names=np.array(
            ["nk_" + c[4:] for c in cols]), X=X[:, idx])
    log.info("hrv: %d records, %d columns, %d failed", len(ids), len(names), sum("error" in r for r in rows.values()))


def check_library(args) -> dict:
    """``library``: the record_features ``nonlinear`` group against (d)'s cached indices, and its cost."""
    import warnings

    from ecgsl_keras.config import SignalConfig
    from ecgsl_keras.data import record_features as rf
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.signal import clean, find_rpeaks

    cache = np.load(args.nk_focus or Path(args.work) / "nk_nonlinear_focus.npz")
    cached = [str(n) for n in cache["names"]]
    col = {n: cached.index("nk_" + c[4:]) for n, c in rf._NK_NONLINEAR.items()}
    rows = {str(r): i for i, r in enumerate(cache["record_id"])}
    sample = sorted(np.random.default_rng(0).choice(sorted(rows), size=args.check_records, replace=False))
    reader = open_dataset("cinc2017", args.cinc_dir)
    worst, nan_mismatch, differ = 0.0, 0, []
    for rid in sample:
        record = reader.load(rid)
        got = rf.record_features(record.lead(None), record.fs, groups="nonlinear")
        for name, j in col.items():
            a, b = got[name], float(cache["X"][rows[rid], j])
            if np.isnan(a) or np.isnan(b):
                nan_mismatch += int(np.isnan(a) != np.isnan(b))
                continue
            worst = max(worst, abs(a - b) / max(1.0, abs(b)))
            if a != b:
                differ.append([rid, name, a, b])
    # (d)'s cached columns under the library's names and order (the extra step's --extra-features for the group)
    lib = list(rf.feature_names("nonlinear"))
    np.savez_compressed(Path(args.work) / "nonlinear_group.npz", record_id=cache["record_id"], names=np.array(lib),
                        X=cache["X"][:, [col[n] for n in lib]])
    sample_dir = REPO / "ecgsl_keras" / "data" / "cinc2017_sample"
    small = open_dataset("cinc2017", str(sample_dir))
    records = [small.load(r) for r in sorted(small.record_ids())]
    rf.record_features(records[0].lead(None), records[0].fs, groups=rf.GROUPS)      # imports

    def per_record(groups):
        t0 = time.perf_counter()
        for record in records:
            rf.record_features(record.lead(None), record.fs, groups=groups)
        return (time.perf_counter() - t0) / len(records)

    total, without = per_record(rf.GROUPS), per_record(None)       # with the group, and the same call without it
    config, peaks = SignalConfig(), []
    for record in records:
        x = np.asarray(record.lead(None), np.float64).reshape(-1)
        peaks.append(find_rpeaks(x, record.fs, config, cleaned=clean(x, record.fs, config.clean_method)))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p, record in zip(peaks, records):
            rf._nonlinear(p, record.fs, {})
    alone = (time.perf_counter() - t0) / len(records)
    return {"names": list(rf.feature_names("nonlinear")), "check_records": len(sample),
            "checked_values": len(sample) * len(col), "max_relative_difference": worst,
            "values_not_identical": len(differ), "nan_mismatches": nan_mismatch, "first_differences": differ[:5],
            "cached_from": str(args.nk_focus or Path(args.work) / "nk_nonlinear_focus.npz"),
            "timing_records": len(records), "ms_per_record_all_groups": 1000 * total,
            "ms_per_record_without_nonlinear": 1000 * without,
            "ms_per_record_nonlinear_alone": 1000 * alone,
            "timing_note": "package's CinC sample (ecgsl_keras/data/cinc2017_sample), one pass, shared 2-core CPU"}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--features", required=True, help="work folder of features.py (features.npz with the atrial group)")
    p.add_argument("--ecgsl", required=True, help="hybrid.py work folder of the ECG-SL folds (deep_oof.npz, folds/)")
    p.add_argument("--resnet", required=True, help="hybrid.py work folder of the ResNet folds (same folds)")
    p.add_argument("--work", required=True)
    p.add_argument("--steps", nargs="+", choices=STEPS, default=["base", "bag", "params", "weight"])
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--bag", type=int, default=5)
    p.add_argument("--extra-features", nargs="+", default=[],
                   help=".npz files (record_id, names, X) of extra columns for the extra step, each tried alone")
    p.add_argument("--extra-seeds", nargs="+", type=int, default=SEEDS,
                   help="booster seeds of the extra step (45 46 47: a second look at a set, key extra_fresh_seeds)")
    p.add_argument("--nested-features", type=Path, help="nested_extra step: the .npz (record_id, names, X) of "
                                                          "the candidates' columns (beat_ectopy.py's beat_ectopy.npz)")
    p.add_argument("--jobs", type=int, default=1, help="nested_extra step: boosters fitted in this many processes")
    p.add_argument("--nk-focus", type=Path, help="library step: (d)'s nk_nonlinear_focus.npz (default in WORK)")
    p.add_argument("--check-records", type=int, default=300, help="library step: records compared")
    p.add_argument("--validate", default="base")
    p.add_argument("--deep-weight", type=float, default=0.5)
    p.add_argument("--validate-bag", type=int, default=1)
    p.add_argument("--cinc-dir", default=str(REPO.parent / "shared" / "data" / "cinc2017" / "training2017"))
    p.add_argument("--out", type=Path, help="results JSON of the repo (key af_lever), e.g. "
                                            "experiments/cinc2017/af27_results.json")
    args = p.parse_args(argv)
    if "hrv" in args.steps:
        extract_hrv(args)
        return 0
    lever = Lever(args)
    if "library" in args.steps:
        lever.result["library_nonlinear"] = check_library(args)
        lever.save()
    for step in (s for s in args.steps if s != "library"):
        t0 = time.perf_counter()
        getattr(lever, f"step_{step}")()
        lever.save()
        log.info("step %s done in %.0f s", step, time.perf_counter() - t0)
    command = "python experiments/cinc2017/af_lever.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lever.result["command"] = command
    if command not in lever.result.setdefault("commands", []):
        lever.result["commands"].append(command)
    for name in set(lever.result.get("extra", {})) & set(lever.result.get("extra_fresh_seeds", {})):
        lever.result.setdefault("extra_paired", {})[name] = paired(
            lever.result["extra"][name]["runs"] + lever.result["extra_fresh_seeds"][name]["runs"],
            lever.result["base"]["runs"] + lever.result["base_fresh_seeds"]["runs"])
        more = sorted(k for k in lever.result if k.startswith("extra_seeds_") and name in lever.result[k])
        if more:    # every seed set of this row: paired over all of them (key extra_paired_all_seeds)
            lever.result.setdefault("extra_paired_all_seeds", {})[name] = paired(
                lever.result["extra"][name]["runs"] + lever.result["extra_fresh_seeds"][name]["runs"]
                + [r for k in more for r in lever.result[k][name]["runs"]],
                lever.result["base"]["runs"] + lever.result["base_fresh_seeds"]["runs"]
                + [r for k in more for r in lever.result["base_seeds_" + k[len("extra_seeds_"):]]["runs"]])
    lever.result["records"] = {s: len(v) for s, v in lever.ids.items()}
    lever.save()
    if args.out:    # the repo's results file: key af_lever (other keys stay)
        saved = json.loads(args.out.read_text()) if args.out.is_file() else {}
        saved["af_lever"] = dict(lever.result, work=str(lever.work), criterion=(
            "5-fold CV on the training split (the deep models' folds; out-of-fold deep probabilities, the mean of "
            "ECG-SL and the ResNet); a candidate is kept only if its CV AF F1 (mean over booster seeds) rises by more "
            "than the larger seed sd and its CV macro F1 does not drop by more than that"))
        args.out.write_text(json.dumps(saved, indent=1) + "\n")
    print(json.dumps({k: lever.result[k] for k in ("command", "records")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
