"""The shipped preset's ResNet fold models trained longer (issue 18, af45): an AF lever on the deep side.

    python experiments/cinc2017/resnet_longer.py --work /work/runs/s43-af45 \
        [--steps folds time plan train oof cv validate]

The ``cinc2017`` preset's ``resnet1d.keras`` holds the 5 ResNet fold models (layers ``member_0`` .. ``member_4``,
folds ``stacking.assign_folds(k=5, seed=42)``), trained on the short schedule (12 epochs, ``hybrid.py --model
resnet1d``); the ECG-SL fold models gained when trained 10 more (``hybrid_ext_results.json``). Here each ResNet fold
model trains ``PLAN["extra_epochs"]`` more epochs from the preset's member, on the same fold, the way ``hybrid.py
--continue-from`` continued the ECG-SL folds (the lost work folder is replaced by the preset's member; no warm-up;
the cosine learning-rate schedule restarts; patience 6; seed 42). One resumable command; logs on stderr and in
WORK/logs; the last stdout line one JSON object.

``folds``     ``oof_from_preset.py --steps prepare`` must have written WORK/oof/prepared_raw (``--raw-signal``);
              ``hybrid.py``'s ``folds`` step writes WORK/resnet/folds/fold_<i> (train = the other folds, validation =
              the held-out fold); the assignment must equal the committed table's ``fold`` column.
``time``      one epoch of fold 0 from its member in a scratch run (WORK/timing; only its seconds are read).
``plan``      writes ``experiments/cinc2017/af45_plan.json`` (``PLAN``: the epochs, the best-epoch rule, the keep rule),
              committed before any figure.
``train``     the continued fold models, WORK/resnet/runs/fold_<i> (``ecgsl_keras.training.trainer.train`` with the
              supervised stage whose freshly built ResNet takes the member's weights; a killed run resumes from its
              BackupAndRestore state).
``oof``       the continued members and the preset's members on every record (one pass per split, the mean over a
              record's evaluation windows, as ``oof_from_preset.py``'s ``members`` step); WORK/deep_oof_af45.npz: the
              committed table with the ``resnet`` column replaced (held-out continued member for a training record,
              the mean of the 5 for a validation record; the ``ecgsl`` column unchanged). Check: the preset's members
              recomputed here reproduce the committed ``resnet`` column.
``cv``        ``af_lever.py --steps base`` (booster seeds 42-44 and 45-47) on the committed table and on the new one;
              the keep rule on both seed sets; where the AF records move (``af_records``: the ResNet alone, and the
              recipe per booster seed from af_lever's cached out-of-fold booster outputs).
``validate``  only when kept: the validation split (1,364 records) of a candidate preset (the shipped one with
              ``resnet1d.keras`` replaced) by ``python -m ecgsl_keras.evaluate --model DIR``.

Results: ``experiments/cinc2017/af45_results.json`` key ``af45`` (``--out``).
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.cinc2017.features import LABELS, _metrics  # noqa: E402
from experiments.cinc2017.oof_table import (DEFAULT_FEATURES_NPZ, DEFAULT_NPZ, FAMILIES, add_command,  # noqa: E402
                                          save_results, timed_steps)

log = logging.getLogger("experiments.cinc2017.resnet_longer")
STEPS = ("folds", "time", "plan", "train", "oof", "cv", "validate")
PLAN_PATH = HERE / "af45_plan.json"

# Fixed before any figure (written by the plan step, committed first).
PLAN = {
    "lever": "each ResNet fold model of the shipped cinc2017 preset (resnet1d.keras member_i) trained more epochs "
             "on its own fold from the preset's weights (issue 18, af45)",
    "origin": "blind: the untried-levers list of the stop-42 note (the ECG-SL fold models gained from 10 more "
              "epochs, hybrid_ext_results.json); no validation figure suggested it",
    "extra_epochs": 12,
    "extra_epochs_sized_by": "time only: one epoch of fold 0 from member_0 (the time step) took 39.8 s with building "
                             "and the held-out fold's metrics (28 s of training), so 5 folds x 12 epochs fit by about "
                             "09:45 UTC on the shared 2-core machine; that scratch run's Keras log line also showed "
                             "fold 0's held-out macro F1 after that one epoch (training split; no validation figure)",
    "training": "ecgsl_keras.train --stage supervised --model resnet1d defaults (learning rate 1e-3, cosine decay "
                "over the extra epochs restarting from 1e-3, label smoothing 0.1, augmentation, balanced class "
                "weights), --patience 6, --seed 42; weights of the preset's member_i; fold i's data: train = the "
                "other 4 folds of the 5,456 training records, held out = fold i",
    "best_epoch_rule": "each fold model's best epoch (val_macro_f1) chosen on its own held-out fold only, among the "
                       "extra epochs (the trainer's best checkpoint, as hybrid.py --continue-from chose for the "
                       "ECG-SL extension); the package's validation split plays no part",
    "oof": "training record: the continued member whose fold held it out; validation record: the mean of the 5; "
           "the ecgsl column of experiments/cinc2017/oof/deep_oof.npz unchanged",
    "cv": "af_lever.py --steps base on the committed table and on the new one (5-fold CV of the shipped recipe on "
          "the 5,456 training records; booster seeds 42-44 and 45-47, the same booster out-of-fold outputs)",
    "keep_rule": "kept only if, on BOTH seed sets (42-44 and 45-47), the CV AF F1 mean rises by more than the larger "
                 "seed sd of the two rows and the CV macro F1 mean does not fall by more than the larger seed sd "
                 "(af_lever.Lever.beats)",
    "validation": "only when kept: a candidate preset (the shipped preset with resnet1d.keras replaced by the 5 "
                  "continued members) on the 1,364 validation records (python -m ecgsl_keras.evaluate --model DIR); "
                  "shipping is the lead's decision",
}


def _run(argv, log_path: Path):
    log.info("running %s (log %s)", " ".join(map(str, argv)), log_path)
    with open(log_path, "a") as f:
        subprocess.run([sys.executable] + [str(a) for a in argv], check=True, cwd=REPO, stdout=f,
                       stderr=subprocess.STDOUT)


class Longer:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.work)
        self.data = self.work / "oof" / "prepared_raw"
        self.resnet = self.work / "resnet"
        self.fold_dirs = [self.resnet / "folds" / f"fold_{i}" for i in range(args.k)]
        self.run_dirs = [self.resnet / "runs" / f"fold_{i}" for i in range(args.k)]
        (self.work / "logs").mkdir(parents=True, exist_ok=True)
        self.out = Path(args.out)
        self.saved = json.loads(self.out.read_text()) if self.out.is_file() else {}   # the results JSON so far
        self.result = self.saved.get("af45", {})

    # -- steps --------------------------------------------------------------------------------------

    def step_folds(self):
        from experiments.cinc2017.hybrid import Hybrid

        if not (self.data / "manifest.json").is_file():
            raise SystemExit(f"error: {self.data}: no prepared folder; run experiments/cinc2017/oof_from_preset.py "
                             f"--work {self.work / 'oof'} --steps prepare first")
        Hybrid(argparse.Namespace(work=str(self.resnet), data=str(self.data), k=self.args.k,
                                  fold_seed=self.args.fold_seed)).step_folds()
        fold_of = json.loads((self.resnet / "folds" / "assignment.json").read_text())
        table = np.load(self.args.deep_oof)
        committed = {str(r): int(f) for r, f, s in zip(table["record_id"], table["fold"], table["split"])
                     if str(s) == "train"}
        if {r: int(f) for r, f in fold_of.items()} != committed:
            raise SystemExit(f"error: the folds of {self.data} differ from the committed table's {self.args.deep_oof}")
        self.result["folds"] = {"records": {f"fold_{i}": sum(int(f) == i for f in fold_of.values())
                                            for i in range(self.args.k)}, "equal_to_committed_table": True}

    def _train(self, fold: int, run_dir: Path, epochs: int) -> dict:
        from ecgsl_keras.training.trainer import TrainOptions, train

        command = ["python", "experiments/cinc2017/resnet_longer.py"] + sys.argv[1:] + [f"(fold {fold}: {epochs} "
                                                                                  f"epochs from member_{fold})"]
        options = TrainOptions(model="resnet1d", epochs=epochs, early_stopping_patience=6, seed=42, verbose=2,
                               command=command)
        return train(_continued_stage(self.args.preset, fold), self.fold_dirs[fold], run_dir, options)

    def step_time(self):
        run = self.work / "timing" / "fold_0"
        if not (run / "config.json").is_file() or json.loads((run / "config.json").read_text()).get("status") != "finished":
            self._train(0, run, 1)
        info = json.loads((run / "config.json").read_text())
        self.result["timing"] = {"fold": 0, "epochs": 1, "seconds": info.get("seconds"),
                                 "note": "a scratch run of one epoch (its metrics are not read); seconds include "
                                         "building, loading and the held-out fold's metrics"}
        log.info("one epoch of fold 0: %s s", info.get("seconds"))

    def step_plan(self):
        PLAN_PATH.write_text(json.dumps(PLAN, indent=1) + "\n")
        self.result["plan"] = str(PLAN_PATH.relative_to(REPO))

    def step_train(self):
        plan = json.loads(PLAN_PATH.read_text())
        for i, run in enumerate(self.run_dirs):
            if _finished(run):
                continue
            t0 = time.perf_counter()
            self._train(i, run, int(plan["extra_epochs"]))
            log.info("fold %d continued in %.0f s", i, time.perf_counter() - t0)
        self.result["train"] = {"extra_epochs": plan["extra_epochs"], "runs": _fold_runs(self.run_dirs)}

    def step_oof(self):
        from ecgsl_keras.modeling.files import load_keras_model

        if not all(_finished(r) for r in self.run_dirs):
            raise SystemExit("error: not every continued fold model is finished (run --steps train)")
        cache = self.work / "members_resnet_af45.npz"
        if not cache.is_file():
            continued = [load_keras_model(r / "model.keras") for r in self.run_dirs]
            preset = _preset_members(self.args.preset)
            np.savez_compressed(cache, **_member_outputs(self.data, self.args.preset, continued + preset))
        got = np.load(cache)
        table = dict(np.load(self.args.deep_oof))
        ids, split = table["record_id"].astype(str), table["split"].astype(str)
        k = self.args.k
        probs = {}
        for s in ("train", "validation"):
            index = {str(r): i for i, r in enumerate(got[f"{s}_record_id"])}
            rows = [index[r] for r in ids[split == s]]
            members = got[f"{s}_members"][rows]
            if not np.array_equal(got[f"{s}_targets"][rows], table["label"][split == s]):
                raise SystemExit(f"error: {cache}: labels differ from {self.args.deep_oof}")
            probs[s] = {"continued": members[:, :k], "preset": members[:, k:]}
        fold = table["fold"][split == "train"].astype(int)
        y = {s: table["label"][split == s].astype(int) for s in ("train", "validation")}
        at = np.arange(len(fold))
        oof = {name: probs["train"][name][at, fold] for name in ("continued", "preset")}
        committed = table["resnet"][split == "train"].astype(np.float64)
        check = {"preset_members_vs_committed_resnet_train": float(np.abs(oof["preset"] - committed).max()),
                 "preset_members_vs_committed_resnet_validation": float(np.abs(
                     probs["validation"]["preset"].mean(1) - table["resnet"][split == "validation"]).max())}
        log.info("recomputed preset members against the committed column: %s", check)
        per_fold = []
        for f in range(k):
            rows = fold == f
            held = {name: _metrics(y["train"][rows], oof[name][rows].argmax(-1)) for name in ("preset", "continued")}
            trained = [_metrics(y["train"][rows], probs["train"]["continued"][rows, m].argmax(-1))["macro_f1"]
                       for m in range(k) if m != f]
            per_fold.append({"fold": f, "records": int(rows.sum()),
                             "held_out_macro_f1": {"before": held["preset"]["macro_f1"],
                                                   "after": held["continued"]["macro_f1"]},
                             "held_out_af_f1": {"before": held["preset"]["per_class_f1"]["A"],
                                                "after": held["continued"]["per_class_f1"]["A"]},
                             "continued_trained_members_macro_f1_min": min(trained),
                             "held_out_clearly_worse": held["continued"]["macro_f1"] < min(trained)})
        new = dict(table)
        new["resnet"] = np.concatenate([oof["continued"], probs["validation"]["continued"].mean(1)]).astype(np.float32)
        if not (np.array_equal(ids[split == "train"], ids[:len(fold)])):
            raise SystemExit(f"error: {self.args.deep_oof}: training rows are not first")
        out = self.work / "deep_oof_af45.npz"
        np.savez_compressed(out, **new)
        self.result["oof"] = {
            "deep_oof_npz": str(out), "check": check, "per_fold": per_fold,
            "resnet_alone_oof_train": {"before": _metrics(y["train"], committed.argmax(-1)),
                                       "after": _metrics(y["train"], oof["continued"].argmax(-1))},
            "records": {s: int(len(v)) for s, v in y.items()}}

    def step_cv(self):
        from experiments.cinc2017.af_lever import Lever

        rows = {}
        for name, table in (("committed", self.args.deep_oof), ("af45", self.work / "deep_oof_af45.npz")):
            work = self.work / f"lever_{name}"
            if name == "af45" and (self.work / "lever_committed" / "oof").is_dir() and not (work / "oof").is_dir():
                # the booster's out-of-fold outputs read the features only: the same boosters, exactly paired
                shutil.copytree(self.work / "lever_committed" / "oof", work / "oof")
            _run([HERE / "af_lever.py", "--deep-oof", table, "--features", self.args.features, "--work", work,
                  "--steps", "base"], self.work / "logs" / f"lever_{name}.log")
            rows[name] = json.loads((work / "results.json").read_text())
        keep = {}
        for key, label in (("base", "42-44"), ("base_fresh_seeds", "45-47")):
            a, b = rows["af45"][key], rows["committed"][key]
            keep[label] = {"kept": Lever.beats(a, b),
                           "af_f1_difference": a["af_f1"]["mean"] - b["af_f1"]["mean"],
                           "macro_f1_difference": a["macro_f1"]["mean"] - b["macro_f1"]["mean"],
                           "larger_sd_af_f1": max(a["af_f1"]["sd"], b["af_f1"]["sd"]),
                           "larger_sd_macro_f1": max(a["macro_f1"]["sd"], b["macro_f1"]["sd"])}
        paired = {}
        for metric in ("af_f1", "macro_f1", "challenge_f1"):
            d = [ra[metric] - rb[metric] for key in ("base", "base_fresh_seeds")
                 for ra, rb in zip(rows["af45"][key]["runs"], rows["committed"][key]["runs"])]
            paired[metric] = {"mean": float(np.mean(d)), "sd": float(np.std(d, ddof=1)),
                              "positive": int(sum(x > 0 for x in d)), "n": len(d)}
        for cls in LABELS:
            d = [ra["per_class_f1"][cls] - rb["per_class_f1"][cls] for key in ("base", "base_fresh_seeds")
                 for ra, rb in zip(rows["af45"][key]["runs"], rows["committed"][key]["runs"])]
            paired.setdefault("per_class_f1_mean", {})[cls] = float(np.mean(d))
        self.result["cv"] = {
            "committed": {"42-44": rows["committed"]["base"], "45-47": rows["committed"]["base_fresh_seeds"]},
            "af45": {"42-44": rows["af45"]["base"], "45-47": rows["af45"]["base_fresh_seeds"]},
            "keep": keep, "kept": all(v["kept"] for v in keep.values()), "paired_42_47": paired,
            "records": rows["af45"].get("records"),
            "af_records": _af_diagnosis(self.args.deep_oof, self.work / "deep_oof_af45.npz", self.args.features,
                                        self.work / "lever_committed" / "oof")}
        log.info("keep: %s", keep)

    def step_validate(self):
        if not (self.result.get("cv") or {}).get("kept"):
            self.result["validation"] = None
            log.info("validate: not kept, no validation figure computed")
            return
        raise SystemExit("error: kept: build the candidate preset (experiments/cinc2017/ship.py --signal-deep "
                         "WORK/resnet/runs/fold_{0..4}) and evaluate it; not automated here because the rule kept "
                         "nothing so far")


def _af_diagnosis(committed, new, features, booster_oof) -> dict:
    """Where the AF records move: the ResNet alone (recall, precision, AF records gained / lost) and the recipe per
    booster seed (its cached out-of-fold booster outputs; records whose class changes, AF records called right)."""
    from experiments.cinc2017.af_lever import SEEDS, FRESH
    from experiments.cinc2017.oof_table import load_deep_oof

    af = LABELS.index("A")
    tables = {"committed": load_deep_oof(committed), "af45": load_deep_oof(new)}
    table = np.load(features)
    ok = {str(r) for r, s in zip(table["record_id"], table["status"]) if str(s) == "ok"}
    ids = tables["committed"]["ecgsl"]["train_record_id"]
    rows = np.array([i for i in np.argsort(ids) if ids[i] in ok])     # af_lever's rows: sorted ids, features ok
    y = tables["committed"]["ecgsl"]["train_targets"][rows]
    ecgsl = tables["committed"]["ecgsl"]["train_probabilities"][rows]
    resnet = {k: t["resnet"]["train_probabilities"][rows] for k, t in tables.items()}
    pred = {k: p.argmax(-1) for k, p in resnet.items()}
    out = {"af_records": int((y == af).sum()), "resnet_alone": {}}
    for k, p in pred.items():
        tp = int(((y == af) & (p == af)).sum())
        out["resnet_alone"][k] = {"called_af": int((p == af).sum()), "af_called_af": tp,
                                  "recall": tp / int((y == af).sum()), "precision": tp / max(1, int((p == af).sum()))}
    out["resnet_alone"]["af_records_gained"] = int(((y == af) & (pred["committed"] != af) & (pred["af45"] == af)).sum())
    out["resnet_alone"]["af_records_lost"] = int(((y == af) & (pred["committed"] == af) & (pred["af45"] != af)).sum())
    out["recipe"] = {}
    for seed in list(SEEDS) + list(FRESH):
        booster = np.load(Path(booster_oof) / f"base_s{seed}.npy")
        p = {k: (0.5 * booster + 0.25 * (ecgsl + r)).argmax(-1) for k, r in resnet.items()}
        changed = p["committed"] != p["af45"]
        out["recipe"][str(seed)] = {
            "records_changed": int(changed.sum()),
            "changed_with_af_involved": int((changed & ((y == af) | (p["committed"] == af) | (p["af45"] == af))).sum()),
            "af_called_af": {k: int(((y == af) & (v == af)).sum()) for k, v in p.items()},
            "called_af": {k: int((v == af).sum()) for k, v in p.items()}}
    return out


# -- pieces --------------------------------------------------------------------------------------------

def _preset_members(preset: str) -> list:
    from ecgsl_keras.modeling.files import load_keras_model
    from ecgsl_keras.store.runs import model_path

    ensemble = load_keras_model(Path(model_path(preset)).parent / FAMILIES["resnet"])
    return sorted((layer for layer in ensemble.layers if layer.name.startswith("member_")),
                  key=lambda layer: int(layer.name.split("_")[1]))


def _continued_stage(preset: str, fold: int):
    """The supervised stage whose freshly built ResNet takes the weights of the preset's ``member_<fold>``."""
    from ecgsl_keras.training.stages import SupervisedStage

    class ContinuedResNet(SupervisedStage):
        def build_model(self, config, task, **kw):
            net = super().build_model(config, task, **kw)
            member = _preset_members(preset)[fold]
            net.set_weights(member.get_weights())   # same architecture: a shape mismatch raises here
            x = np.random.default_rng(0).normal(size=(2, *net.inputs[0].shape[1:])).astype("float32")
            diff = float(np.abs(np.asarray(net(x, training=False)) - np.asarray(member(x, training=False))).max())
            if diff > 1e-5:
                raise SystemExit(f"error: fold {fold}: the built ResNet differs from the preset's member ({diff})")
            log.info("fold %d: the ResNet starts from %s member_%d (outputs equal within %.1e)", fold, preset, fold, diff)
            return net

    return ContinuedResNet()


def _member_outputs(data: Path, preset: str, members: list) -> dict:
    """Every member's probabilities (mean over a record's evaluation windows) for each split, side by side."""
    import tensorflow as tf

    from ecgsl_keras import tasks as tasks_lib
    from ecgsl_keras.config import ExperimentConfig
    from ecgsl_keras.evaluation import evaluate as evaluate_lib
    from ecgsl_keras.store import presets

    config = ExperimentConfig.from_dict(presets.config(preset)["experiment_config"])
    task = tasks_lib.get_task("cinc2017")

    @tf.function(reduce_retracing=True)
    def forward(inputs):
        return tf.concat([m(inputs, training=False) for m in members], axis=-1)

    parts = {}
    for split in ("train", "validation"):
        t0 = time.perf_counter()
        dataset = evaluate_lib.eval_dataset(data, split, config, task, raw_input="signal")
        windows = evaluate_lib.predict_windows(lambda f: forward(evaluate_lib.model_inputs(f, raw_window=True)), dataset)
        agg = evaluate_lib.aggregate(windows, task.kind)
        parts[f"{split}_record_id"] = np.asarray(agg["keys"]).astype(str)
        parts[f"{split}_targets"] = np.asarray(agg["targets"]).astype(int)
        parts[f"{split}_members"] = np.asarray(agg["probabilities"], np.float64).reshape(
            -1, len(members), task.num_classes)
        log.info("members on %s: %d records, %.0f s", split, len(parts[f"{split}_record_id"]), time.perf_counter() - t0)
    return parts


def _finished(run: Path) -> bool:
    config = run / "config.json"
    return config.is_file() and json.loads(config.read_text()).get("status") == "finished" \
        and (run / "model.keras").is_file()


def _fold_runs(run_dirs) -> dict:
    out = {}
    for run in run_dirs:
        config = run / "config.json"
        if not config.is_file():
            continue
        info = json.loads(config.read_text())
        epochs = info.get("epochs_completed")
        out[run.name] = {"epochs_run": epochs, "best_epoch": (info.get("best") or {}).get("epoch"),
                         "best_held_out": info.get("best"), "seconds": info.get("seconds"),
                         "seconds_per_epoch": round(info["seconds"] / epochs, 1) if info.get("seconds") and epochs else None,
                         "status": info.get("status"), "run_dir": str(run)}
    return out


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True)
    p.add_argument("--steps", nargs="+", choices=STEPS, default=["folds", "train", "oof", "cv", "validate"])
    p.add_argument("--preset", default="cinc2017")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--fold-seed", type=int, default=42)
    p.add_argument("--deep-oof", type=Path, default=DEFAULT_NPZ)
    p.add_argument("--features", type=Path, default=DEFAULT_FEATURES_NPZ)
    p.add_argument("--out", type=Path, default=HERE / "af45_results.json")
    args = p.parse_args(argv)
    Path(args.work).mkdir(parents=True, exist_ok=True)
    longer = Longer(args)
    timed_steps(args.steps, lambda step: getattr(longer, f"step_{step}")(), longer.result, longer.saved, "af45",
                longer.out, log)
    command = add_command(longer.result, "resnet_longer.py", argv)
    save_results(longer.out, "af45", longer.result)
    print(json.dumps({"command": command, "seconds": longer.result.get("seconds")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
