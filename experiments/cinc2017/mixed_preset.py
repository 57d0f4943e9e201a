"""The CV's choice of issue 18's ``blend`` step as a preset: the features booster averaged with the MEAN of the
ECG-SL fold models (beats) and the 1-D ResNet fold models (continuous signal), served from one signal.

    python experiments/cinc2017/ship.py --deep /work/runs/hybrid/runs/fold_{0,1,2,3,4} \
        --signal-deep /work/runs/hybrid_resnet/runs/fold_{0,1,2,3,4} --booster /work/runs/hybrid/boosters/features \
        --work /work/runs/mixed26/ship --out-root /work/runs/mixed26/candidate        # the candidate preset
    python experiments/cinc2017/mixed_preset.py --candidate /work/runs/mixed26/preset --shipped cinc2017 \
        --work /work/runs/mixed26 [--steps check evaluate]

``check``: ``serving.inference.load_model(PRESET).predict_signal`` on every validation record of the v3 split
(``--data``'s ``validation`` split, read from the record files of ``--cinc-dir``) for both presets; the served
probabilities are compared with the experiment's (``hybrid.py``: booster seed 42's validation probabilities,
``proba_features_per_seed.npy``, averaged with the deep sets' ``deep_oof.npz`` validation probabilities: the mean of
ECG-SL and ResNet for the candidate, ECG-SL for the shipped preset); the seconds of each ``predict_signal`` call; and the scores of the served deep
probabilities averaged with each booster seed's on the served record features (``--seeds``, the boosters refit as
``hybrid.py`` does), like for like for both presets.
``evaluate``: the package's evaluation path, ``python -m ecgsl_keras.evaluate --model PRESET --dataset cinc2017
--data-dir CINC --records <the validation ids>``, for both presets (as the shipped preset's card figures were made).
Results: ``--out`` (default ``experiments/cinc2017/mixed_preset_results.json``); last stdout line one JSON object.
"""
from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
from experiments.shared_data import CINC2017  # noqa: E402

from experiments.cinc2017.features import _metrics, _summary  # noqa: E402  (the scores of the other tables)
from experiments.cinc2017.hybrid import _aligned  # noqa: E402  (per-record rows of an .npz in a given order)

log = logging.getLogger("experiments.cinc2017.mixed_preset")
STEPS = ("check", "evaluate")


def _size(folder) -> int:
    return sum(f.stat().st_size for f in Path(folder).resolve().iterdir() if f.is_file())


def _beats_changed(args, ids) -> np.ndarray:
    """Per record, whether today's preprocessing gives other R-peaks, beats or RR features than the prepared
    TFRecords the experiment's ECG-SL outputs came from (``--data``, prepared before the R-peak guard's shape rescue,
    issue 21)."""
    cache = Path(args.work) / "beats_changed.npy"
    if cache.is_file():
        return np.load(cache)
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.signal import preprocess
    from ecgsl_keras.store.presets import signal_config
    from tfrecords_tools import read_examples

    stored = {str(example.record_id): (example.rpeaks, example.beats, example.rr)
              for example in read_examples(str(args.data), "validation")}
    config = signal_config("cinc2017")
    reader = open_dataset("cinc2017", args.cinc_dir, records=ids)
    changed = []
    for rid in ids:
        record = reader.load(rid)
        now = preprocess(record.lead(None), record.fs, config, path=record.path)
        changed.append(any(np.shape(a) != np.shape(b) or not np.array_equal(a, b)
                           for a, b in zip((now.rpeaks, now.beats, now.rr), stored[rid])))
    changed = np.asarray(changed)
    np.save(cache, changed)
    return changed


def _served_booster_probs(args, ids) -> np.ndarray:
    """(seeds, n, C): each booster seed's validation probabilities on the record features the package computes
    today (``StackedPredictor.features``: the served ones), the boosters refit as ``hybrid.py`` does (the features
    row's parameters, the training records' features of ``features.npz``); seed 42 is the presets' booster."""
    cache = Path(args.work) / "booster_seeds_served.npy"
    if cache.is_file():
        return np.load(cache)
    from experiments.cinc2017.hybrid import COMMON, LABELS
    from ecgsl_keras.data import record_features as features_lib
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.modeling.stacking import StackedClassifier
    from ecgsl_keras.training import oof

    table = np.load(Path(args.hybrid) / "features" / "features.npz")
    names = [str(n) for n in table["names"]]
    row = {str(r): i for i, r in enumerate(table["record_id"])}
    labels = oof.read_record_labels(args.data, "train")
    train = sorted(r for r in labels if r in row and table["status"][row[r]] == "ok")
    X, y = table["X"][[row[r] for r in train]], np.array([labels[r] for r in train], int)
    reader = open_dataset("cinc2017", args.cinc_dir, records=ids)
    served = []
    for rid in ids:
        record = reader.load(rid)
        values = features_lib.record_features(record.lead(None), record.fs, path=record.path,
                                              groups=features_lib.groups_of(names))
        served.append([float(values[n]) for n in names])
    params = json.loads((Path(args.hybrid) / "boost_rows.json").read_text())["features"]["params"]
    out = np.stack([StackedClassifier(names, [], LABELS, params=dict(COMMON, **params), seed=seed).fit(X, y)
                    .predict_proba(np.asarray(served, np.float64)) for seed in args.seeds])
    np.save(cache, out)
    return out


def step_check(args, ids) -> dict:
    """Served probabilities of both presets on the validation records, against the experiment's."""
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.serving.inference import load_model
    from ecgsl_keras.store.runs import model_path

    booster = np.load(Path(args.hybrid) / "proba_features_per_seed.npy")[0]   # seed 42, the shipped booster
    ecgsl = _aligned(np.load(Path(args.hybrid) / "deep_oof.npz"), "validation", "probabilities", ids)
    resnet = _aligned(np.load(Path(args.resnet) / "deep_oof.npz"), "validation", "probabilities", ids)
    expected = {"shipped": 0.5 * (booster + ecgsl), "candidate": 0.5 * (booster + 0.5 * (ecgsl + resnet))}
    reader = open_dataset("cinc2017", args.cinc_dir, records=ids)
    changed = _beats_changed(args, ids)
    same = ~changed
    out = {"records_whose_beats_changed": int(changed.sum()),
           "beats_changed_note": "today's preprocessing gives other R-peaks, beats or RR features than the "
                                 "prepared TFRecords of the experiment's ECG-SL outputs (prepared before the R-peak "
                                 "guard's shape rescue, issue 21)"}
    for name, preset in (("shipped", args.shipped), ("candidate", args.candidate)):
        cache = Path(args.work) / f"served_{name}.npz"
        if not cache.is_file():
            predictor = load_model(model_path(preset))
            probs, deep, members, seconds = [], [], [], []
            for rid in ids:
                record = reader.load(rid)
                t0 = time.perf_counter()
                result = predictor.predict_signal(record.lead(None), record.fs, path=record.path)
                seconds.append(time.perf_counter() - t0)
                probs.append(result["probabilities"])
                deep.append(result["deep_probabilities"])
                members.append(result.get("deep_member_probabilities", result["deep_probabilities"][None, :]))
            np.savez_compressed(cache, record_id=np.asarray(ids), probabilities=np.asarray(probs),
                                deep_probabilities=np.asarray(deep), member_probabilities=np.asarray(members),
                                seconds=np.asarray(seconds))
        served = np.load(cache)
        seconds = served["seconds"][5:]   # the first calls build the models' graphs
        p = served["probabilities"].astype(np.float64)
        out[name] = {
            "preset": str(preset), "size_bytes": _size(Path(model_path(preset)).parent),
            "max_abs_diff_vs_experiment": float(np.abs(p - expected[name]).max()),
            "argmax_agreement_vs_experiment": float((p.argmax(-1) == expected[name].argmax(-1)).mean()),
            "max_abs_diff_ecgsl_member": float(np.abs(served["member_probabilities"][:, 0] - ecgsl).max()),
            "max_abs_diff_vs_experiment_same_beats": float(np.abs(p - expected[name])[same].max()),
            "max_abs_diff_ecgsl_member_same_beats": float(
                np.abs(served["member_probabilities"][:, 0] - ecgsl)[same].max()),
            "records_differing_above_1e-5": int((np.abs(p - expected[name]).max(-1) > 1e-5).sum()),
            "argmax_disagreements_vs_experiment": int((p.argmax(-1) != expected[name].argmax(-1)).sum()),
            "every_differing_record_has_changed_beats": bool(
                np.all(changed[np.abs(p - expected[name]).max(-1) > 1e-5])),
            "predict_signal_seconds": {"mean": float(seconds.mean()), "median": float(np.median(seconds)),
                                       "p90": float(np.percentile(seconds, 90)), "records": int(len(seconds))}}
        # like for like over booster seeds: today's served deep probabilities, each seed's booster (hybrid.py)
        deep_served = served["deep_probabilities"].astype(np.float64)
        y = np.load(Path(args.hybrid) / "deep_oof.npz")
        targets = np.asarray([dict(zip(map(str, y["validation_record_id"]), y["validation_targets"]))[r] for r in ids])
        boosters = _served_booster_probs(args, ids)
        runs = [dict(seed=seed, **_metrics(targets, (0.5 * (b + deep_served)).argmax(-1)))
                for seed, b in zip(args.seeds, boosters)]
        out[name]["booster_seeds"] = {"runs": runs, "summary": _summary(runs),
                                      "seed_42_max_abs_diff_vs_served": float(np.abs(
                                          0.5 * (boosters[0] + deep_served) - p).max())}
        if name == "candidate":
            out[name]["max_abs_diff_resnet_member"] = float(np.abs(served["member_probabilities"][:, 1] - resnet).max())
        log.info("%s: %s", name, out[name])
    return out


def evaluate_cached(model, cinc_dir, ids, path: Path) -> tuple:
    """``python -m ecgsl_keras.evaluate --model MODEL --dataset cinc2017`` on the records ``ids`` of ``cinc_dir``,
    its JSON line kept in ``path`` (run only when ``path`` is not there): (result, command)."""
    command = [sys.executable, "-m", "ecgsl_keras.evaluate", "--model", str(model), "--dataset", "cinc2017",
               "--data-dir", str(cinc_dir), "--no-progress", "--records", *ids]
    if not path.is_file():
        log.info("evaluate %s", model)
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"evaluate {model} failed:\n{done.stderr[-3000:]}")
        path.write_text(done.stdout.strip().splitlines()[-1] + "\n")
    return json.loads(path.read_text()), command


def step_evaluate(args, ids) -> dict:
    """``python -m ecgsl_keras.evaluate`` on the validation records' files, for both presets."""
    out = {}
    for name, preset in (("shipped", args.shipped), ("candidate", args.candidate)):
        result, command = evaluate_cached(preset, args.cinc_dir, ids, Path(args.work) / f"evaluate_{name}.json")
        out[name] = {key: result.get(key) for key in ("macro_f1", "challenge_f1", "per_class_f1", "accuracy",
                                                     "confusion_matrix", "records", "skipped", "model_format",
                                                     "deep", "seconds")}
        out[name]["command"] = "python -m ecgsl_keras.evaluate " + " ".join(command[3:command.index("--records") + 1]) \
            + " <the 1,364 validation ids>"
    return out


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--candidate", required=True, help="the mixed preset folder (or name)")
    p.add_argument("--shipped", default="cinc2017", help="the shipped preset (name or folder)")
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--data", default="/work/runs/cinc2017_prepared", help="prepared folder whose validation split "
                                                                          "names the records")
    p.add_argument("--cinc-dir", default=str(CINC2017))
    p.add_argument("--hybrid", default="/work/runs/hybrid", help="hybrid.py work folder of ECG-SL and the booster")
    p.add_argument("--resnet", default="/work/runs/hybrid_resnet", help="hybrid.py work folder of the ResNet folds")
    p.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    p.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44],
                   help="the booster seeds of hybrid.py's proba_features_per_seed.npy, in its order")
    p.add_argument("--out", type=Path, default=HERE / "mixed_preset_results.json")
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    from ecgsl_keras.training import oof

    ids = sorted(oof.read_record_labels(args.data, "validation"))
    result = json.loads(args.out.read_text()) if args.out.is_file() else {}
    result.update(command="python experiments/cinc2017/mixed_preset.py " + " ".join(
        argv if argv is not None else sys.argv[1:]), records=len(ids),
        records_are="the validation split of the v3 labels (stratified 80/20, seed 42), read from the record files")
    for step in args.steps:
        result[step] = globals()[f"step_{step}"](args, ids)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
