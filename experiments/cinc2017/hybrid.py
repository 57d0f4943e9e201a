"""CinC 2017 stacking hybrid (issue 18, 2b): LightGBM over record features + ECG-SL deep outputs.

    python experiments/cinc2017/hybrid.py --data /work/runs/cinc2017_prepared \
        --features /work/runs/cinc2017_features --work /work/runs/hybrid [--steps ...] [--seeds 42 43 44]

One resumable command (every step skips what is finished; a killed fine-tune resumes from its
BackupAndRestore state; logs on stderr and in WORK/logs; ONE JSON line last on stdout):

``folds``     stratified k-fold (k=5, stable hash of the record id, ``stacking.assign_folds``) of the
              TRAINING records of ``--data``; one fold folder each (``training.oof.write_fold_data``):
              train = the other folds, validation = the fold (early stopping / best epoch chosen on it;
              the package's validation split plays no part in any deep-model choice).
``finetune``  one ECG-SL fine-tune per fold, initialised from the ``encoder`` preset (masked-segment
              pre-trained, no labels), short schedule (``--epochs``, default 10, patience 6, 1 warm-up
              epoch of the head alone); ``--model resnet1d``: the 1-D ResNet baseline instead, trained from
              random weights on a ``--data`` prepared with ``--raw-signal``; ``--model hybrid``: hybrid (a)
              (``cinc2017-keras``' recipe: stage ``hybrid`` from ``--init-from``, no class weights) on a ``--data``
              prepared with ``--record-features``. With ``--continue-from
              EARLIER_WORK`` each fold model instead trains ``--epochs`` more from EARLIER_WORK's fold model
              (same folds; no warm-up): the longer schedule.
``deep``      out-of-fold class probabilities of every training record (from the one fold model that
              held it out) and, for the validation records, the MEAN of the k fold models'
              probabilities (no extra full-split model); checked with ``training.oof.check_out_of_fold``.
``encoder``   the label-free deep input: mean-pooled temporal-encoder output of the ``encoder`` preset
              (never saw labels, so no out-of-fold scheme is needed) for every record.
``boost``     LightGBM (``modeling.stacking.StackedClassifier``, balanced class weights, NaN kept) on
              the training split; hyper-parameters: best macro F1 of a small grid in 3-fold stratified CV
              on the training split only; validation scored for each of ``--seeds``. Rows: features
              alone, stacking with OOF probabilities, stacking with the encoder embedding, stacking with
              the fine-tuned fold models' OOF embedding (``deep_oof_embedding.npz``), the plain average of
              ECG-SL (mean of folds) and the features booster, ECG-SL alone, and the average whose booster's
              class weighting (balanced, its square root, none) is chosen by k-fold CV of the average itself
              on the training split (``average_cv_weighting``).
``blend``     with ``--extra-deep WORK ...`` (other runs of this script on the same folds, e.g. the ResNet
              baseline's, ``--model resnet1d``): the features booster averaged with the mean of several
              deep sets' probabilities, scored by 5-fold CV of the average on the training split and on
              validation (rows ``average_features_<sets>`` for the first 1, 2, ... extra sets without and
              with ECG-SL, and ``<set>_mean_of_folds``). Its choice ships as a preset with a mixed deep side
              (``experiments/cinc2017/ship.py --signal-deep``, measured by ``experiments/cinc2017/mixed_preset.py``).
``groups``    record-feature groups beyond the 111 features (``record_features.DEFAULT_GROUPS``): ``ectopy``, ``rhythm``,
              ``atrial`` (AF / Other evidence), when ``--features`` holds them (``features.py --groups``): chosen by
              5-fold CV on the training split of the average (greedy forward; a group stays only if the CV
              macro F1 of the average, mean over ``--seeds``, rises), then every evaluated set on validation;
              key ``feature_groups`` of ``--out`` (the other keys stay as they are when ``boost`` does not run);
              with ``--extra-deep`` also for the average with the mean of ECG-SL and those deep sets
              (``feature_groups_blend``).
``preset``    a stacked preset folder WORK/preset (model.keras = the k fold models as one ensemble,
              booster.txt, stacking.json, config.json, signal_config.json) of the OOF stacking row.

``--features`` is the work folder of ``experiments/cinc2017/features.py`` (its ``features.npz``,
``ecgsl_keras.data.record_features`` for every record); when it has none, that script's ``extract``
step is run into it. Results: ``experiments/cinc2017/hybrid_results.json`` (``--out``).
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
from experiments.shared_data import CINC2017  # noqa: E402

from experiments.cinc2017.features import LABELS, _metrics, _summary  # noqa: E402  (the same scores as the features table)
from experiments.protocol_steps import StepRunner  # noqa: E402

log = logging.getLogger("experiments.cinc2017.hybrid")

STEPS = ("folds", "finetune", "deep", "encoder", "boost", "blend", "groups", "preset")
GRID = (
    {"learning_rate": 0.05, "num_boost_round": 400, "num_leaves": 15, "min_data_in_leaf": 20},
    {"learning_rate": 0.05, "num_boost_round": 400, "num_leaves": 31, "min_data_in_leaf": 10},
    {"learning_rate": 0.03, "num_boost_round": 800, "num_leaves": 15, "min_data_in_leaf": 20},
)
COMMON = {"bagging_fraction": 0.8, "bagging_freq": 1, "feature_fraction": 0.8}


def _aligned(table, split: str, key: str, record_ids) -> np.ndarray:
    """Rows ``SPLIT_KEY`` of an ``.npz`` table of per-record outputs, in the order of ``record_ids``."""
    index = {str(r): i for i, r in enumerate(table[f"{split}_record_id"])}
    return np.stack([table[f"{split}_{key}"][index[r]] for r in record_ids])


def _feature_table(path, groups):
    """(names, matrix, record id -> row, status) of a ``features.npz`` of ``features.py``, its columns
    restricted to ``record_features.feature_names(groups)`` (None: ``DEFAULT_GROUPS``, the 111 features of
    the rows of ``boost``), so that a table extracted with more groups gives the same rows."""
    from ecgsl_keras.data.record_features import feature_names

    data = np.load(path)
    table = [str(n) for n in data["names"]]
    names = list(feature_names(groups))
    missing = sorted(set(names) - set(table))
    if missing:
        raise SystemExit(f"error: {path} lacks {len(missing)} features of the groups {groups} (e.g. {missing[:3]}); "
                         f"extract them with features.py --groups")
    cols = [table.index(n) for n in names]
    rows = {str(r): i for i, r in enumerate(data["record_id"])}
    return names, data["X"][:, cols], rows, data["status"]


ERROR_FEATURES = ("heart_rate", "cv_rr", "sample_entropy", "af_afev", "af_p_presence", "af_fwave_ratio",
                  "sqi_template_snr_db", "rhy_ectopic_fraction", "rhy_clean_pnn50", "rhy_cosen_lm",
                  "rhy_irregular_window_fraction", "atr_dominant_fraction", "atr_p_presence", "atr_p_snr_db")
ERROR_CELLS = {"A_as_A": (1, 1), "O_as_A": (2, 1), "A_as_O": (1, 2), "O_as_O": (2, 2), "A_as_N": (1, 0),
               "N_as_N": (0, 0)}   # truth_as_predicted


def _error_analysis(y, pred, X, names) -> dict:
    """Record counts and feature medians of the confusion-matrix cells that matter for AF (``ERROR_CELLS``)."""
    cells = {k: (y == t) & (pred == p) for k, (t, p) in ERROR_CELLS.items()}
    out = {"counts": {k: int(m.sum()) for k, m in cells.items()}, "medians": {}}
    for name in ERROR_FEATURES:
        if name in names:
            col = X[:, names.index(name)]
            out["medians"][name] = {k: float(np.nanmedian(col[m])) if np.isfinite(col[m]).any() else None
                                    for k, m in cells.items()}
    return out


def _average_f1(y, booster, deep) -> float:
    """Macro F1 of the plain average of the booster's and the deep side's probabilities."""
    from sklearn.metrics import f1_score

    return float(f1_score(y, (0.5 * (booster + deep)).argmax(-1), average="macro"))


class Hybrid(StepRunner):
    def __init__(self, args):
        super().__init__(args.work)
        self.args = args
        self.data = Path(args.data).resolve()
        self.fold_dirs = [self.work / "folds" / f"fold_{i}" for i in range(args.k)]
        self.run_dirs = [self.work / "runs" / f"fold_{i}" for i in range(args.k)]

    # -- deep side ----------------------------------------------------------------------------

    def step_folds(self):
        from ecgsl_keras.modeling.stacking import assign_folds
        from ecgsl_keras.training import oof

        path = self.work / "folds" / "assignment.json"
        if path.is_file():
            fold_of = json.loads(path.read_text())
        else:
            labels = oof.read_record_labels(self.data, "train")
            fold_of = assign_folds(list(labels), list(labels.values()), k=self.args.k, seed=self.args.fold_seed)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(fold_of, sort_keys=True) + "\n")
        for i, folder in enumerate(self.fold_dirs):
            ids = oof.write_fold_data(self.data, folder, fold_of, i)
            log.info("fold %d: %d training records, %d held out", i, len(ids["train"]), len(ids["validation"]))

    def step_finetune(self):
        for i, (fold_dir, run_dir) in enumerate(zip(self.fold_dirs, self.run_dirs)):
            if self._finished(run_dir):
                continue
            common = ["--data", str(fold_dir), "--run-dir", str(run_dir), "--epochs", str(self.args.epochs),
                      "--patience", "6", "--seed", str(self.args.deep_seed), "--verbose", "2"]
            if self.args.model == "resnet1d":  # the ResNet baseline on the raw signal: from random weights
                argv = ["-m", "ecgsl_keras.train", "--stage", "supervised", "--model", self.args.model] + common
            elif self.args.model == "hybrid":  # hybrid (a), cinc2017-keras' recipe (hybrid_keras.VARIANTS)
                argv = ["-m", "ecgsl_keras.train", "--stage", "hybrid", "--init-from", self.args.init_from,
                        "--encoder-warmup-epochs", "1", "--no-class-weights"] + common
            else:
                if self.args.continue_from:   # a longer schedule: the shorter run's fold model trains on, no warm-up
                    init, warmup = str(Path(self.args.continue_from) / "runs" / run_dir.name), "0"
                else:
                    init, warmup = self.args.init_from, "1"
                argv = ["-m", "ecgsl_keras.train", "--stage", "finetune", "--init-from", init,
                        "--encoder-warmup-epochs", warmup] + common
            t0 = time.perf_counter()
            self._run(argv, f"finetune_fold_{i}")
            log.info("fold %d fine-tuned in %.0f s", i, time.perf_counter() - t0)

    def step_deep(self):
        from ecgsl_keras.training import oof

        # deep_oof.npz: probabilities; deep_oof_embedding.npz: the same pass with the pooled embedding too
        # (written apart so that work folders from before the embedding row keep their probabilities file).
        for name, embedding in (("deep_oof.npz", False), ("deep_oof_embedding.npz", True)):
            out = self.work / name
            if out.is_file() or (embedding and self.args.model != "ecgsl"):   # only the ECG-SL embedding is used
                continue
            if not all(self._finished(r) for r in self.run_dirs):
                log.warning("deep: not every fold model is finished; skipped")
                return
            table = oof.oof_outputs(self.data, self.fold_dirs, self.run_dirs, embedding=embedding)
            check = oof.check_out_of_fold(table, self.fold_dirs)
            log.info("out-of-fold check passed: %s", check)
            np.savez_compressed(out, **{f"{split}_{key}": value for split, part in table.items()
                                        for key, value in part.items() if value is not None})

    def step_encoder(self):
        out = self.work / "encoder_embedding.npz"
        if out.is_file():
            return
        import keras

        import ecgsl_keras  # noqa: F401
        from ecgsl_keras import tasks as tasks_lib
        from ecgsl_keras.config import ExperimentConfig
        from ecgsl_keras.store import presets
        from ecgsl_keras.training import oof

        model = keras.models.load_model(presets.path(self.args.init_from), compile=False)
        config = ExperimentConfig.from_dict(presets.config(self.args.init_from)["experiment_config"])
        task = tasks_lib.get_task("cinc2017")
        parts = {}
        for split in ("train", "validation"):
            got = oof.deep_outputs(model, self.data, split, config, task)
            parts[f"{split}_record_id"], parts[f"{split}_embedding"] = got["record_id"], got["embedding"]
            parts[f"{split}_targets"] = got["targets"]
        np.savez_compressed(out, **parts)

    # -- boosters -------------------------------------------------------------------------------

    def _features(self):
        folder = Path(self.args.features)
        if not (folder / "features.npz").is_file():
            script = REPO / "experiments" / "cinc2017" / "features.py"
            self._run([str(script), "--cinc-dir", self.args.cinc_dir, "--work", str(folder), "--steps", "extract"],
                      "features_extract")
        return _feature_table(folder / "features.npz", None)

    def step_boost(self):
        from ecgsl_keras.modeling.stacking import StackedClassifier, choose_params, probability_names, embedding_names

        names, F, frow, status = self._features()
        deep = np.load(self.work / "deep_oof.npz") if (self.work / "deep_oof.npz").is_file() else None
        enc = np.load(self.work / "encoder_embedding.npz") if (self.work / "encoder_embedding.npz").is_file() else None
        tuned = self.work / "deep_oof_embedding.npz"
        tuned = np.load(tuned) if tuned.is_file() else None
        # the records: those of the prepared splits (deep outputs), else the feature table's
        from ecgsl_keras.training import oof

        ids, y = {}, {}
        for split in ("train", "validation"):
            labels = oof.read_record_labels(self.data, split)
            ids[split] = sorted(rid for rid in labels if rid in frow and status[frow[rid]] == "ok")
            y[split] = np.array([labels[r] for r in ids[split]], int)
            missing = len(labels) - len(ids[split])
            log.info("%s: %d records with features (%d without)", split, len(ids[split]), missing)

        def columns(table, prefix, key, split):
            return _aligned(table, prefix, key, ids[split])

        def feats(split):
            return F[[frow[r] for r in ids[split]]]

        inputs = {"features": ([], lambda s: feats(s))}
        if deep is not None:
            inputs["stack_oof_probabilities"] = (probability_names(LABELS),
                                                 lambda s: columns(deep, s, "probabilities", s))
        if enc is not None:
            dim = enc["train_embedding"].shape[1]
            inputs["stack_encoder_embedding"] = (embedding_names(dim), lambda s: columns(enc, s, "embedding", s))
        if tuned is not None:
            dim = tuned["train_embedding"].shape[1]
            inputs["stack_oof_embedding"] = (embedding_names(dim), lambda s: columns(tuned, s, "embedding", s))
        cache_path = self.work / "boost_rows.json"
        done = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
        probs = {}
        for row, (deep_names, get) in inputs.items():
            Xtr = feats("train") if row == "features" else np.concatenate([feats("train"), get("train")], axis=1)
            Xva = feats("validation") if row == "features" else np.concatenate([feats("validation"), get("validation")], axis=1)

            source = {"features": {}, "stack_oof_probabilities": {
                "kind": "probabilities", "train": f"out-of-fold, {self.args.k} folds", "validation":
                "mean of the fold models"}, "stack_encoder_embedding": {
                "kind": "encoder_embedding", "preset": self.args.init_from, "pooling": "masked mean"},
                "stack_oof_embedding": {
                "kind": "finetuned_embedding", "train": f"out-of-fold, {self.args.k} folds",
                "validation": "mean of the fold models' embeddings", "pooling": "the classifier's attention pooling"}}[row]

            def make(params, seed=42, deep_names=deep_names, source=source):
                return StackedClassifier(names, deep_names, LABELS, params=dict(COMMON, **params), seed=seed,
                                         deep_source=source)

            if row in done and len(done[row]["runs"]) == len(self.args.seeds) and (self.work / f"proba_{row}.npy").is_file():
                probs[row] = np.load(self.work / f"proba_{row}.npy")
                continue
            t0 = time.perf_counter()
            params, cv = choose_params(Xtr, y["train"], GRID, folds=3, seed=self.args.seeds[0], make=make)
            runs, seed_probs = [], []
            for seed in self.args.seeds:
                clf = make(params, seed).fit(Xtr, y["train"])
                p = clf.predict_proba(Xva)
                seed_probs.append(p)
                runs.append(dict(seed=seed, **_metrics(y["validation"], p.argmax(-1))))
                log.info("%s seed %d: macro F1 %.4f challenge F1 %.4f", row, seed, runs[-1]["macro_f1"],
                         runs[-1]["challenge_f1"])
                if seed == self.args.seeds[0]:
                    clf.save(self.work / "boosters" / row)
            probs[row] = np.mean(seed_probs, axis=0)
            np.save(self.work / f"proba_{row}.npy", probs[row])
            done[row] = {"n_columns": Xtr.shape[1], "params": params, "cv": cv, "runs": runs,
                         "seconds": round(time.perf_counter() - t0, 1)}
            cache_path.write_text(json.dumps(done, indent=1))
        if deep is not None:
            ecgsl = columns(deep, "validation", "probabilities", "validation")
            done["ecgsl_mean_of_folds"] = {"runs": [dict(seed=self.args.deep_seed, **_metrics(y["validation"],
                                                                                            ecgsl.argmax(-1)))]}
            avg = []
            # the average uses each seed's features booster probabilities
            feat_seeds = self._seed_probs("features", names, feats, y)
            for seed, p in zip(self.args.seeds, feat_seeds):
                avg.append(dict(seed=seed, **_metrics(y["validation"], (0.5 * (p + ecgsl)).argmax(-1))))
            done["average_ecgsl_features"] = {"runs": avg}
            weighted = self._average_weighting(names, feats, y, ids, lambda s: columns(deep, s, "probabilities", s),
                                               done["features"]["params"])
            if weighted:
                done["average_cv_weighting"] = weighted
                cache_path.write_text(json.dumps(done, indent=1))
        self.rows = done
        self.n_records = {s: len(ids[s]) for s in ids}
        self._boost_inputs = (names, feats, y, ids)

    def _booster_oof(self, names, feats, y, ids, params, class_weight="balanced", seed=None) -> np.ndarray:
        """The features booster's out-of-fold probabilities of the training records over the deep models'
        own folds (``folds/assignment.json``), first seed (or ``seed``), so that it averages with their
        out-of-fold outputs."""
        from ecgsl_keras.modeling.stacking import StackedClassifier

        fold_of = json.loads((self.work / "folds" / "assignment.json").read_text())
        fold = np.array([int(fold_of[r]) for r in ids["train"]])
        Xtr, ytr = feats("train"), y["train"]
        out = np.zeros((len(fold), len(LABELS)))
        for k in range(self.args.k):
            held = fold == k
            clf = StackedClassifier(names, [], LABELS, params=dict(COMMON, **params),
                                    seed=self.args.seeds[0] if seed is None else seed, class_weight=class_weight)
            out[held] = clf.fit(Xtr[~held], ytr[~held]).predict_proba(Xtr[held])
        return out

    def step_blend(self):
        """Averages of the features booster with the MEAN of several out-of-fold deep sets: this work's
        and those of ``--extra-deep`` work folders (same folds, e.g. ``--model resnet1d``). Scored by
        5-fold CV of each average on the training split (booster out of fold over the deep models' folds,
        balanced weights, the features row's parameters, first seed) and on validation for every seed's
        booster. Runs after ``boost`` in the same command."""
        if not self.args.extra_deep or not hasattr(self, "_boost_inputs"):
            if self.args.extra_deep:
                log.warning("blend: run it with the boost step (--steps boost blend)")
            return
        from sklearn.metrics import f1_score

        names, feats, y, ids = self._boost_inputs
        sets = {"ecgsl": self.work}
        for extra in self.args.extra_deep:
            sets[Path(extra).name] = Path(extra)
        self._check_folds(ids["train"])
        deep = {}
        for name, work in sets.items():
            table = np.load(work / "deep_oof.npz")
            deep[name] = {split: _aligned(table, split, "probabilities", ids[split]) for split in ("train", "validation")}
        booster_oof = self._booster_oof(names, feats, y, ids, self.rows["features"]["params"])
        booster_val = self._seed_probs("features", names, feats, y)
        extras = [n for n in sets if n != "ecgsl"]   # each first j extra sets, without and with ECG-SL
        combos = {f"average_features_{'_'.join(members)}": members
                  for j in range(1, len(extras) + 1) for members in (extras[:j], ["ecgsl"] + extras[:j])}
        for name in sets:
            if name != "ecgsl":
                self.rows[f"{name}_mean_of_folds"] = {"runs": [dict(seed=self.args.deep_seed, **_metrics(
                    y["validation"], deep[name]["validation"].argmax(-1)))],
                    "cv_macro_f1": float(f1_score(y["train"], deep[name]["train"].argmax(-1), average="macro"))}
        for row, members in combos.items():
            mean = {split: np.mean([deep[m][split] for m in members], axis=0) for split in ("train", "validation")}
            cv = _average_f1(y["train"], booster_oof, mean["train"])
            runs = [dict(seed=seed, **_metrics(y["validation"], (0.5 * (p + mean["validation"])).argmax(-1)))
                    for seed, p in zip(self.args.seeds, booster_val)]
            self.rows[row] = {"deep_sets": members, "cv_macro_f1": cv, "runs": runs}
            log.info("%s: CV macro F1 %.4f, validation %.4f", row, cv, np.mean([r["macro_f1"] for r in runs]))
        self.rows["average_ecgsl_features"]["cv_macro_f1"] = _average_f1(y["train"], booster_oof, deep["ecgsl"]["train"])

    def _average_weighting(self, names, feats, y, ids, deep, params):
        """The average's booster with its class weighting chosen by k-fold CV of the AVERAGE on the training
        split (the folds of the deep models, their out-of-fold probabilities; the features row's
        parameters): balanced, its square root, or none. Then 3 seeds on the validation split; the first
        seed's booster is kept in ``boosters/average_features``. Cached in ``boost_rows.json``."""
        from sklearn.metrics import f1_score

        from ecgsl_keras.modeling.stacking import CLASS_WEIGHTS, StackedClassifier

        cached = json.loads((self.work / "boost_rows.json").read_text()).get("average_cv_weighting")
        if cached and len(cached["runs"]) == len(self.args.seeds):
            return cached
        Xtr, Xva, Dtr, Dva = feats("train"), feats("validation"), deep("train"), deep("validation")
        t0 = time.perf_counter()

        def make(weight, seed):
            return StackedClassifier(names, [], LABELS, params=dict(COMMON, **params), seed=seed, class_weight=weight)

        cv = []
        for weight in CLASS_WEIGHTS:
            booster_oof = self._booster_oof(names, feats, y, ids, params, class_weight=weight)
            cv.append({"class_weight": weight, "cv_macro_f1_average": _average_f1(y["train"], booster_oof, Dtr),
                       "cv_macro_f1_booster": float(f1_score(y["train"], booster_oof.argmax(-1), average="macro"))})
            log.info("average, class weight %s: CV macro F1 %.4f (booster alone %.4f)", weight,
                     cv[-1]["cv_macro_f1_average"], cv[-1]["cv_macro_f1_booster"])
        best = max(cv, key=lambda row: row["cv_macro_f1_average"])["class_weight"]
        runs, booster_runs = [], []
        for seed in self.args.seeds:
            clf = make(best, seed).fit(Xtr, y["train"])
            p = clf.predict_proba(Xva)
            runs.append(dict(seed=seed, **_metrics(y["validation"], (0.5 * (p + Dva)).argmax(-1))))
            booster_runs.append(dict(seed=seed, **_metrics(y["validation"], p.argmax(-1))))
            if seed == self.args.seeds[0]:
                clf.save(self.work / "boosters" / "average_features")
        return {"class_weight": best, "params": params, "cv": cv, "runs": runs, "booster_alone_runs": booster_runs,
                "seconds": round(time.perf_counter() - t0, 1)}

    def _seed_probs(self, row, names, feats, y):
        """Validation probabilities of each seed's booster of ``row`` (refit from the stored params)."""
        from ecgsl_keras.modeling.stacking import StackedClassifier

        cache = self.work / f"proba_{row}_per_seed.npy"
        if cache.is_file():
            return list(np.load(cache))
        params = json.loads((self.work / "boost_rows.json").read_text())[row]["params"]
        out = []
        for seed in self.args.seeds:
            clf = StackedClassifier(names, [], LABELS, params=dict(COMMON, **params), seed=seed)
            out.append(clf.fit(feats("train"), y["train"]).predict_proba(feats("validation")))
        np.save(cache, np.stack(out))
        return out

    def step_groups(self):
        """Record-feature groups beyond ``DEFAULT_GROUPS`` (``ectopy``, ``rhythm``, ``atrial``: AF / Other evidence),
        chosen by 5-fold CV on the TRAINING split of the shipped average (features booster, balanced
        weights, the ``features`` row's parameters, averaged with the ECG-SL out-of-fold probabilities),
        over the deep models' folds: greedy forward, a group is kept only if it raises the CV macro F1 of
        the average (mean over ``--seeds`` of the booster). ``--features`` must hold the groups
        (``features.py --groups``). Then every evaluated set on validation (each seed's booster fitted on
        the whole training split, averaged with the mean of the fold models); the chosen set's booster of the
        first seed is saved in ``WORK/boosters/feature_groups_<groups>`` (for ``ship.py --booster``). With
        ``--extra-deep`` the same selection again for the average with the MEAN of ECG-SL's and those sets'
        probabilities (the blend step's ``average_features_ecgsl_<sets>``). Cached in ``WORK/feature_groups.json`` (and
        ``feature_groups_blend.json``); results under the keys ``feature_groups`` (and
        ``feature_groups_blend``)."""
        from ecgsl_keras.data.record_features import DEFAULT_GROUPS, GROUPS, feature_names

        path = Path(self.args.features) / "features.npz"
        table = [str(n) for n in np.load(path)["names"]]
        extra = [g for g in GROUPS if g not in DEFAULT_GROUPS and set(feature_names(g)) <= set(table)]
        if not extra:
            log.warning("groups: %s has no group beyond %s; extract them with features.py --groups", path,
                        DEFAULT_GROUPS)
            return
        deep = np.load(self.work / "deep_oof.npz")
        _, _, frow, status = _feature_table(path, None)
        ids = {s: sorted(str(r) for r in deep[f"{s}_record_id"] if str(r) in frow and status[frow[str(r)]] == "ok")
               for s in ("train", "validation")}
        y = {s: _aligned(deep, s, "targets", ids[s]).astype(int) for s in ids}
        sides = {"feature_groups": [self.work]}
        if self.args.extra_deep:
            self._check_folds(ids["train"])
            sides["feature_groups_blend"] = [self.work] + [Path(e) for e in self.args.extra_deep]
        for name, works in sides.items():
            tables = [np.load(w / "deep_oof.npz") for w in works]
            dp = {s: np.mean([_aligned(t, s, "probabilities", ids[s]) for t in tables], axis=0) for s in ids}
            result = self._select_groups(path, extra, ids, y, dp, self.work / f"{name}.json",
                                         error_analysis=name == "feature_groups")
            result["deep_sets"] = ["ecgsl"] + [w.name for w in works[1:]]
            setattr(self, name, result)

    def _check_folds(self, train_ids):
        """Exit when an ``--extra-deep`` work folder's folds differ from this work's."""
        fold_of = json.loads((self.work / "folds" / "assignment.json").read_text())
        for extra in self.args.extra_deep:
            other = json.loads((Path(extra) / "folds" / "assignment.json").read_text())
            if any(other.get(r) != fold_of[r] for r in train_ids):
                raise SystemExit(f"error: {extra}: its folds differ from {self.work}'s; out-of-fold outputs cannot be mixed")

    def _select_groups(self, path, extra, ids, y, dp, cache_path, error_analysis=False) -> dict:
        """Greedy forward selection of ``extra`` groups by CV of the average of the features booster with
        ``dp`` (deep probabilities per split: out of fold on train), then validation of every evaluated set."""
        from sklearn.metrics import f1_score

        from ecgsl_keras.data.record_features import DEFAULT_GROUPS, GROUPS
        from ecgsl_keras.modeling.stacking import StackedClassifier

        params = json.loads((self.work / "boost_rows.json").read_text())["features"]["params"]
        done = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
        done.setdefault("cv", {})
        done.setdefault("rows", {})

        def key(groups):     # the added groups in table order: one key per set
            return "+".join(g for g in GROUPS if g in groups and g not in DEFAULT_GROUPS) or "default"

        def table_of(groups):
            names, X, rows, _ = _feature_table(path, groups)
            return names, lambda s: X[[rows[r] for r in ids[s]]]

        def cv(groups):
            k = key(groups)
            if k not in done["cv"]:
                names, feats = table_of(groups)
                t0, seeds = time.perf_counter(), []
                for seed in self.args.seeds:
                    oof = self._booster_oof(names, feats, y, ids, params, seed=seed)
                    booster = f1_score(y["train"], oof.argmax(-1), average=None, labels=list(range(len(LABELS))))
                    avg = f1_score(y["train"], (0.5 * (oof + dp["train"])).argmax(-1), average=None,
                                   labels=list(range(len(LABELS))))
                    seeds.append({"seed": seed, "booster_macro_f1": float(booster.mean()),
                                  "booster_af_f1": float(booster[1]), "average_macro_f1": float(avg.mean()),
                                  "average_challenge_f1": float(avg[:3].mean()),
                                  "average_per_class_f1": dict(zip(LABELS, map(float, avg)))})
                done["cv"][k] = {"groups": list(groups), "n_features": len(names), "seeds": seeds,
                                 "average_macro_f1": float(np.mean([r["average_macro_f1"] for r in seeds])),
                                 "average_af_f1": float(np.mean([r["average_per_class_f1"]["A"] for r in seeds])),
                                 "booster_macro_f1": float(np.mean([r["booster_macro_f1"] for r in seeds])),
                                 "seconds": round(time.perf_counter() - t0, 1)}
                cache_path.write_text(json.dumps(done, indent=1))
            row = done["cv"][k]
            log.info("%s, groups %s: CV macro F1 of the average %.4f (AF %.4f), booster alone %.4f", cache_path.stem,
                     k, row["average_macro_f1"], row["average_af_f1"], row["booster_macro_f1"])
            return row["average_macro_f1"]

        chosen, best = list(DEFAULT_GROUPS), cv(list(DEFAULT_GROUPS))
        left = list(extra)
        while left:
            scores = {g: cv(chosen + [g]) for g in left}
            g = max(left, key=lambda name: scores[name])
            if scores[g] <= best:
                break
            chosen, best = chosen + [g], scores[g]
            left.remove(g)
        if len(extra) > 1:
            cv(list(DEFAULT_GROUPS) + extra)        # every group, for the record
        done["chosen"] = key(chosen)
        if error_analysis and "error_analysis" not in done:
            names, feats = table_of(list(DEFAULT_GROUPS) + extra)
            oof = self._booster_oof(*table_of(list(DEFAULT_GROUPS)), y, ids, params)
            done["error_analysis"] = _error_analysis(y["train"], (0.5 * (oof + dp["train"])).argmax(-1),
                                                     feats("train"), names)
            cache_path.write_text(json.dumps(done, indent=1))
        for k, row in done["cv"].items():            # validation of every evaluated set
            if f"average_{k}" in done["rows"]:
                continue
            names, feats = table_of(row["groups"])
            runs, alone = [], []
            for seed in self.args.seeds:
                clf = StackedClassifier(names, [], LABELS, params=dict(COMMON, **params), seed=seed)
                p = clf.fit(feats("train"), y["train"]).predict_proba(feats("validation"))
                alone.append(dict(seed=seed, **_metrics(y["validation"], p.argmax(-1))))
                runs.append(dict(seed=seed, **_metrics(y["validation"], (0.5 * (p + dp["validation"])).argmax(-1))))
            done["rows"][f"features_{k}"] = {"groups": row["groups"], "runs": alone}
            done["rows"][f"average_{k}"] = {"groups": row["groups"], "runs": runs}
            cache_path.write_text(json.dumps(done, indent=1))
        for row in done["rows"].values():
            row["summary"] = _summary(row["runs"])
        booster = self.work / "boosters" / f"{cache_path.stem}_{done['chosen']}"   # the chosen set, first seed
        if not (booster / "stacking.json").is_file():
            names, feats = table_of(done["cv"][done["chosen"]]["groups"])
            clf = StackedClassifier(names, [], LABELS, params=dict(COMMON, **params), seed=self.args.seeds[0])
            clf.fit(feats("train"), y["train"]).save(booster)
        done["booster"] = str(booster)
        log.info("%s: CV chose %s (its booster, seed %d: %s)", cache_path.stem, done["chosen"], self.args.seeds[0],
                 booster)
        return dict(done, params=params, candidates=extra, records={s: len(ids[s]) for s in ids},
                    criterion="5-fold CV on the training split (the deep models' folds) of the average's "
                              "macro F1, mean over the booster seeds; greedy forward from the default groups")

    def step_preset(self):
        """A stacked preset folder of the OOF-probability row: the fold models as one ensemble."""
        out = self.work / "preset"
        booster = self.work / "boosters" / "stack_oof_probabilities"
        if (out / "stacking.json").is_file() or not booster.is_dir() or not all(self._finished(r) for r in self.run_dirs):
            return
        import keras

        import ecgsl_keras  # noqa: F401
        from ecgsl_keras.modeling.ensemble import build_ensemble

        members = [keras.models.load_model(r / "model.keras", compile=False) for r in self.run_dirs]
        tmp = self.work / "preset.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        build_ensemble(members, name="ecgsl_stacked_deep").save(tmp / "model.keras")
        info = json.loads((self.run_dirs[0] / "config.json").read_text())
        info.update(stage="ensemble", members=[str(r) for r in self.run_dirs], model_kind="ecgsl_stacked")
        (tmp / "config.json").write_text(json.dumps(info, indent=2) + "\n")
        (tmp / "signal_config.json").write_text(json.dumps(info["experiment_config"]["signal"], indent=2) + "\n")
        for name in ("booster.txt", "stacking.json"):
            shutil.copy2(booster / name, tmp / name)
        from ecgsl_keras.store import presets

        rows = json.loads((self.work / "boost_rows.json").read_text())
        (tmp / "README.md").write_text(
            "# cinc2017-stacked (work in progress)\n\nECG-SL fine-tuned from `encoder` (the k fold models of "
            "`experiments/cinc2017/hybrid.py` as one ensemble), then a LightGBM booster (`booster.txt`, LightGBM text "
            "format; `stacking.json`) over the record features of `ecgsl_keras.data.record_features` and the "
            "ensemble's class probabilities. Validation figures: `experiments/cinc2017/hybrid_results.json`.\n\n"
            + presets.NOT_A_MEDICAL_DEVICE + "\n")
        files = {f.name: {"sha256": presets.sha256_file(f), "size": f.stat().st_size}
                 for f in sorted(tmp.iterdir()) if f.is_file()}
        (tmp / "metadata.json").write_text(json.dumps({
            "name": "cinc2017-stacked", "stage": "ensemble", "model_kind": "ecgsl_stacked",
            "task": info.get("task"), "label_names": list(LABELS), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "validation": {k: rows.get("stack_oof_probabilities", {}).get("runs", [{}])[0].get(k)
                           for k in ("macro_f1", "challenge_f1", "per_class_f1")},
            "files": files}, indent=2) + "\n")
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)






def _epoch_seconds(run_dirs) -> dict:
    out = {}
    for run in run_dirs:
        config = run / "config.json"
        if config.is_file():
            info = json.loads(config.read_text())
            if info.get("seconds") and info.get("epochs_completed"):
                out[run.name] = {"epochs": info["epochs_completed"], "best_epoch": (info.get("best") or {}).get("epoch"),
                                 "seconds_per_epoch": round(info["seconds"] / info["epochs_completed"], 1),
                                 "status": info.get("status")}
    return out


def _table(rows: dict) -> str:
    lines = [f"{'row':<28}{'macro F1':>17}  {'challenge F1':>17}  " + "  ".join(f"F1 {c:<4}" for c in LABELS)]
    for key, row in rows.items():
        s = row["summary"]
        lines.append(f"{key:<28}{s['macro_f1']['mean']:.4f} +- {s['macro_f1']['sd']:.4f}  "
                     f"{s['challenge_f1']['mean']:.4f} +- {s['challenge_f1']['sd']:.4f}  "
                     + "  ".join(f"{s['per_class_f1'][c]['mean']:.3f}  " for c in LABELS) + f" (n={len(s['seeds'])})")
    return "\n".join(lines)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="prepared CinC 2017 TFRecords (train/validation splits)")
    p.add_argument("--features", required=True, help="work folder of experiments/cinc2017/features.py (features.npz)")
    p.add_argument("--cinc-dir", default=str(CINC2017))
    p.add_argument("--work", required=True)
    p.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--fold-seed", type=int, default=42)
    p.add_argument("--deep-seed", type=int, default=42)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--init-from", default="encoder")
    p.add_argument("--extra-deep", nargs="+", default=[],
                   help="work folders of other runs of this script with the same folds (e.g. --model resnet1d) whose "
                        "out-of-fold probabilities the blend step averages with this work's")
    p.add_argument("--model", default="ecgsl", choices=("ecgsl", "resnet1d", "hybrid"),
                   help="the deep model of the folds: ECG-SL fine-tuned from --init-from, the 1-D ResNet "
                        "baseline from random weights (give a --data prepared with --raw-signal for its raw input), "
                        "or hybrid (a) from --init-from (a --data prepared with --record-features)")
    p.add_argument("--continue-from", help="work folder of an earlier run of this script with the same folds: each "
                                           "fold model trains --epochs more from that run's fold model (a longer "
                                           "schedule in two parts; the learning-rate schedule restarts)")
    p.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    p.add_argument("--out", default=str(HERE / "hybrid_results.json"))
    args = p.parse_args(argv)
    hybrid = Hybrid(args)
    start = time.perf_counter()
    for step in args.steps:
        t0 = time.perf_counter()
        getattr(hybrid, f"step_{step}")()
        log.info("step %s done in %.0f s", step, time.perf_counter() - t0)
    result = {"command": "python experiments/cinc2017/hybrid.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "k": args.k, "epochs": args.epochs, "init_from": args.init_from, "continue_from": args.continue_from,
              "fold_runs": _epoch_seconds(hybrid.run_dirs),
              "validation_deep_outputs": "mean of the k fold models' probabilities",
              "early_stopping": "each fold model: best epoch on its held-out fold (never the validation split)"}
    for key, work in (("deep_oof_train_macro_f1", hybrid.work),
                      ("continue_from_deep_oof_train_macro_f1", Path(args.continue_from) if args.continue_from else None)):
        if work is not None and (work / "deep_oof.npz").is_file():   # the fold models' own out-of-fold score
            table = np.load(work / "deep_oof.npz")
            result[key] = _metrics(table["train_targets"], table["train_probabilities"].argmax(-1))["macro_f1"]
    rows = getattr(hybrid, "rows", None)
    if rows:
        for row in rows.values():
            row["summary"] = _summary(row["runs"])
        result["records"] = hybrid.n_records
        result["rows"] = rows
        print(_table(rows), file=sys.stderr)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    keys = [k for k in ("feature_groups", "feature_groups_blend") if getattr(hybrid, k, None)]
    if keys:   # new keys only; without boost in this command the other keys stay as --out has them
        out = Path(args.out)
        saved = result if rows or not out.is_file() else json.loads(out.read_text(encoding="utf-8"))
        for key in keys:
            groups = getattr(hybrid, key)
            saved[key] = dict(groups, command=result["command"])
            result[key] = {k: groups[k] for k in ("chosen", "candidates", "deep_sets")}
        out.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
    result["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
