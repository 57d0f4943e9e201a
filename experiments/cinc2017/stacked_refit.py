"""Refit the ``cinc2017-stacked`` preset's booster on today's record features (issue 18).

    python experiments/cinc2017/stacked_refit.py --features /work/runs/af26/features \
        --hybrid /work/runs/hybrid --work /work/runs/af27/stacked [--steps fit evaluate install]

The preset's booster (``hybrid.py``'s ``stack_oof_probabilities`` row: LightGBM over the 111 default record features
and the ECG-SL fold models' out-of-fold probabilities, seed 42, balanced weights, the parameters its 3-fold CV chose
and ``stacking.json`` records) had been fitted on features extracted before the R-peak guard's shape rescue (205
records' R-peaks changed since). Same recipe, same parameters, same out-of-fold deep outputs (``HYBRID/deep_oof.npz``),
today's features (``--features``, ``features.py``'s extraction with today's detector).

``fit``       the refit booster (seed 42) into WORK/booster; a check that the recipe on the OLD extraction
              (``HYBRID/features``) gives the shipped booster's trees; the experiment's validation scores over booster
              seeds 42-44 (old features vs today's; the deep side the mean of the fold models).
``evaluate``  ``python -m ecgsl_keras.evaluate --model FOLDER --dataset cinc2017 --data-dir CINC --records <the 1,364
              validation ids>`` for the shipped preset and a candidate folder (the preset with the refit booster,
              WORK/candidate/cinc2017-stacked).
``served``    like for like over booster seeds 42-44: the served inputs of every validation record (the preset's
              ``predict_signal``: record features and ECG-SL probabilities from the record file, today's
              preprocessing) scored with each seed's booster fitted on the old extraction and on today's.
``install``   only if the refit is not worse on validation (``served``: macro F1 and challenge F1, mean over the booster
              seeds; the seed-42 boosters alone, ``evaluate``, differ by one record's worth): the candidate's
              ``booster.txt.gz``, ``stacking.json`` and ``metadata.json`` (its files' SHA-256, the validation figures)
              replace the package preset's.
Results: key ``stacked_refit`` of ``--out``; last stdout line one JSON object.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
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

from experiments.cinc2017.features import LABELS, _metrics, _summary  # noqa: E402
from experiments.cinc2017.hybrid import _aligned, _feature_table  # noqa: E402
from experiments.cinc2017.mixed_preset import evaluate_cached  # noqa: E402

log = logging.getLogger("experiments.cinc2017.stacked_refit")
STEPS = ("fit", "evaluate", "served", "install")
PRESET = "cinc2017-stacked"
SEEDS = [42, 43, 44]
SHIPPED_FILES = ("booster.txt.gz", "stacking.json")


def _inputs(features_dir, hybrid, data):
    """(names, X per split, y per split, deep per split) as ``hybrid.py``'s boost step builds them."""
    from ecgsl_keras.training import oof

    names, F, frow, status = _feature_table(Path(features_dir) / "features.npz", None)
    deep = np.load(Path(hybrid) / "deep_oof.npz")
    ids, X, y, D = {}, {}, {}, {}
    for split in ("train", "validation"):
        labels = oof.read_record_labels(data, split)
        ids[split] = sorted(r for r in labels if r in frow and status[frow[r]] == "ok")
        y[split] = np.array([labels[r] for r in ids[split]], int)
        X[split] = F[[frow[r] for r in ids[split]]]
        D[split] = _aligned(deep, split, "probabilities", ids[split])
    return names, X, y, D, ids


def _make(names, spec, seed):
    from ecgsl_keras.modeling.stacking import StackedClassifier, probability_names

    return StackedClassifier(names, probability_names(LABELS), LABELS, params=spec["params"], seed=seed,
                             class_weight=spec["class_weight"], deep_source=spec["deep_source"])


def step_fit(args, out):
    from ecgsl_keras.store import presets

    spec = json.loads((presets.preset_dir(PRESET) / "stacking.json").read_text())
    rows = {}
    for tag, folder in (("old_features", Path(args.hybrid) / "features"), ("today_features", Path(args.features))):
        names, X, y, D, ids = _inputs(folder, args.hybrid, args.data)
        if names != spec["feature_names"]:
            raise SystemExit(f"error: {folder}: its columns differ from the preset's")
        Xtr, Xva = (np.concatenate([X[s], D[s]], axis=1) for s in ("train", "validation"))
        runs = []
        for seed in SEEDS:
            clf = _make(names, spec, seed).fit(Xtr, y["train"])
            runs.append(dict(seed=seed, **_metrics(y["validation"], clf.predict(Xva))))
            if seed == spec["seed"]:
                if tag == "today_features":
                    clf.save(Path(args.work) / "booster")
                else:   # the recipe on the old extraction gives the shipped trees
                    shipped = gzip.decompress((presets.preset_dir(PRESET) / spec["booster_file"]).read_bytes())
                    refit = clf.booster.model_to_string().encode()
                    trees = lambda text: text.split(b"\nTree=0\n", 1)[1].split(b"\nend of trees\n", 1)[0]  # noqa: E731
                    rows["recipe_reproduces_shipped_trees"] = trees(shipped) == trees(refit)
        rows[tag] = {"runs": runs, "summary": _summary(runs), "records": {s: len(ids[s]) for s in ids}}
        log.info("%s: validation macro F1 %.4f ± %.4f", tag, rows[tag]["summary"]["macro_f1"]["mean"],
                 rows[tag]["summary"]["macro_f1"]["sd"])
    rows["params"] = spec["params"]
    rows["class_weight"] = spec["class_weight"]
    out["fit"] = rows


def _candidate(args) -> Path:
    """The shipped preset folder with the refit booster (gzip, mtime 0) and its spec; metadata files updated."""
    from ecgsl_keras.store import presets

    src = presets.preset_dir(PRESET)
    folder = Path(args.work) / "candidate" / PRESET
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(src, folder)
    booster = Path(args.work) / "booster"
    packed = gzip.compress((booster / "booster.txt").read_bytes(), mtime=0)
    (folder / "booster.txt.gz").write_bytes(packed)
    spec = json.loads((booster / "stacking.json").read_text())
    spec.update(booster_file="booster.txt.gz", booster_sha256=hashlib.sha256(packed).hexdigest())
    (folder / "stacking.json").write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
    meta = json.loads((folder / "metadata.json").read_text())
    for name in SHIPPED_FILES:
        meta["files"][name] = {"sha256": presets.sha256_file(folder / name), "size": (folder / name).stat().st_size}
    (folder / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    return folder


def step_evaluate(args, out):
    from ecgsl_keras.store import presets
    from ecgsl_keras.training import oof

    ids = sorted(oof.read_record_labels(args.data, "validation"))
    rows = {}
    for name, folder in (("shipped", presets.preset_dir(PRESET)), ("refit", _candidate(args))):
        result, _ = evaluate_cached(folder, args.cinc_dir, ids, Path(args.work) / f"evaluate_{name}.json")
        rows[name] = {k: result.get(k) for k in ("macro_f1", "challenge_f1", "per_class_f1", "accuracy",
                                                 "confusion_matrix", "records", "skipped", "model_format", "deep")}
        rows[name]["command"] = ("python -m ecgsl_keras.evaluate --model " + ("cinc2017-stacked" if name == "shipped"
                                 else str(folder)) + " --dataset cinc2017 --data-dir " + str(args.cinc_dir)
                                 + f" --records <the {len(ids):,} validation ids>")
    out["evaluate"] = rows


def step_served(args, out):
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.serving.inference import load_model
    from ecgsl_keras.store import presets
    from ecgsl_keras.training import oof

    labels = oof.read_record_labels(args.data, "validation")
    ids = sorted(labels)
    cache = Path(args.work) / "served_validation.npz"
    if not cache.is_file():
        predictor = load_model(str(presets.preset_dir(PRESET)))
        reader = open_dataset("cinc2017", args.cinc_dir, records=ids)
        feats, deep, served = [], [], []
        for rid in ids:
            record = reader.load(rid)
            signal = record.lead(None)
            got = predictor.predict_signal(signal, record.fs, path=record.path)
            feats.append(predictor.features(signal, record.fs, record.path))
            deep.append(got["deep_probabilities"])
            served.append(got["probabilities"])
        np.savez_compressed(cache, record_id=np.array(ids), features=np.array(feats), deep=np.array(deep),
                            served=np.array(served))
    table = np.load(cache)
    y = np.array([labels[r] for r in table["record_id"]], int)
    Xva = np.concatenate([table["features"], table["deep"]], axis=1)
    spec = json.loads((presets.preset_dir(PRESET) / "stacking.json").read_text())
    rows = {"records": int(len(y))}
    for tag, folder in (("old_features", Path(args.hybrid) / "features"), ("today_features", Path(args.features))):
        names, X, ytr, D, _ = _inputs(folder, args.hybrid, args.data)
        Xtr = np.concatenate([X["train"], D["train"]], axis=1)
        runs = []
        for seed in SEEDS:
            p = _make(names, spec, seed).fit(Xtr, ytr["train"]).predict_proba(Xva)
            runs.append(dict(seed=seed, **_metrics(y, p.argmax(-1))))
            if tag == "old_features" and seed == spec["seed"]:
                rows["seed_42_old_max_abs_diff_vs_served"] = float(np.abs(p - table["served"]).max())
        rows[tag] = {"runs": runs, "summary": _summary(runs)}
        log.info("served inputs, %s: macro F1 %.4f ± %.4f", tag, rows[tag]["summary"]["macro_f1"]["mean"],
                 rows[tag]["summary"]["macro_f1"]["sd"])
    out["served"] = rows


def step_install(args, out):
    from ecgsl_keras.store import presets

    served = out.get("served")
    if not served:
        raise SystemExit("error: install needs the served step")
    mean = lambda tag, key: served[tag]["summary"][key]["mean"]  # noqa: E731
    out["install_criterion"] = ("validation, served inputs, mean over booster seeds 42-44: macro F1 and challenge F1 of "
                                "the refit >= the old extraction's")
    if not (mean("today_features", "macro_f1") >= mean("old_features", "macro_f1")
            and mean("today_features", "challenge_f1") >= mean("old_features", "challenge_f1")):
        log.warning("install: the refit is worse on validation; the preset stays")
        out["installed"] = False
        return
    folder = Path(args.work) / "candidate" / PRESET
    target = REPO / "ecgsl_keras" / "presets" / PRESET
    for name in SHIPPED_FILES:
        shutil.copyfile(folder / name, target / name)
    meta = json.loads((target / "metadata.json").read_text())
    for name in list(SHIPPED_FILES) + ["README.md"]:      # the card states the figures (edited beside this step)
        meta["files"][name] = {"sha256": presets.sha256_file(target / name), "size": (target / name).stat().st_size}
    ev = out["evaluate"]["refit"]
    meta["validation"].update(macro_f1=ev["macro_f1"], challenge_f1=ev["challenge_f1"],
                              per_class_f1=ev["per_class_f1"], records=ev["records"])
    meta["validation"]["evaluated_by"] = ("python -m ecgsl_keras.evaluate --model cinc2017-stacked --dataset cinc2017 "
                                          "--data-dir training2017 --records <the validation ids>")
    meta["booster_refit"] = ("record features extracted with the R-peak detector of the package (after the guard's "
                             "shape rescue); same recipe and parameters")
    (target / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    out["installed"] = True


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--features", required=True, help="features.py work folder of today's extraction")
    p.add_argument("--hybrid", default="/work/runs/hybrid", help="hybrid.py work folder (deep_oof.npz, features/)")
    p.add_argument("--data", default="/work/runs/cinc2017_prepared")
    p.add_argument("--cinc-dir", default=str(CINC2017))
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    p.add_argument("--out", type=Path, default=HERE / "af27_results.json")
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    saved = json.loads(args.out.read_text()) if args.out.is_file() else {}
    out = saved.get("stacked_refit", {})
    t0 = time.perf_counter()
    for step in args.steps:
        globals()[f"step_{step}"](args, out)
        saved["stacked_refit"] = out
        args.out.write_text(json.dumps(saved, indent=1) + "\n")
    out["command"] = "python experiments/cinc2017/stacked_refit.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if out["command"] not in out.setdefault("commands", []):
        out["commands"].append(out["command"])
    out["seconds"] = round(time.perf_counter() - t0, 1)
    saved["stacked_refit"] = out
    args.out.write_text(json.dumps(saved, indent=1) + "\n")
    print(json.dumps({k: out[k] for k in ("command", "installed") if k in out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
