"""A member averaged late with a shipped CinC 2017 preset's model, as one Keras model (issue 18): the steps that the
edge preset's rhythm member (``experiments/edge/rhythm_member.py``) and the ``cinc2017-keras`` levers
(``features_member.py``, ``keras_seed_ensemble.py``) share. A subclass names the preset (``preset``, ``preset_name``,
``ensemble_name``, ``member_layer``: a layer only the added member has, ``baseline_key``), the member's inputs
(``member_inputs``) and its training (``fit_member``); ``run_steps`` runs the steps, resumable.

Records are split as everywhere in issue 18: the committed out-of-fold table's split and folds (``OOF``: 5,456
training records in 5 folds, 1,364 validation records).
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np

from experiments.cinc2017.features import LABELS  # (the CinC classes, in the tables' order)

log = logging.getLogger("experiments.cinc2017.late_member")
REPO = Path(__file__).resolve().parents[2]
OOF = REPO / "experiments" / "cinc2017" / "oof" / "deep_oof.npz"
SEEDS = (42, 43, 44)
SHIPPED_SEED = 42
DEEP_WEIGHT = 0.5
WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))
# the member's training schedule (the edge rhythm member's, which the features member reuses)
SCHEDULE = {"units": 32, "dropout": 0.2, "optimizer": "adam", "learning_rate": 1e-3, "batch_size": 64,
            "epochs": 60, "class_weight": None}


def examples(data, field: str = "rr") -> tuple:
    """(record ids, labels, list of the ``field`` arrays: ``rr`` (beats, 3), ``record_features`` (F,)) of every
    example of both splits of a prepared folder, in file order."""
    from tfrecords_tools import read_examples

    ids, labels, values = [], [], []
    for split in ("train", "validation"):
        for ex in read_examples(str(data), split):
            ids.append(str(ex.record_id))
            labels.append(int(np.asarray(ex.label).reshape(-1)[0]))
            values.append(np.asarray(getattr(ex, field), np.float32))
    return ids, np.array(labels), values


def record_mean(ids, probabilities) -> dict:
    """record id -> the mean of its examples' probabilities."""
    out: dict = {}
    for rid, p in zip(ids, probabilities):
        out.setdefault(rid, []).append(p)
    return {rid: np.mean(ps, axis=0) for rid, ps in out.items()}


def scores(y, probabilities) -> dict:
    from sklearn.metrics import confusion_matrix, f1_score

    pred = np.asarray(probabilities).argmax(-1)
    per = f1_score(y, pred, labels=range(len(LABELS)), average=None)
    return {"macro_f1": float(per.mean()), "af_f1": float(per[1]),
            "per_class_f1": {c: float(v) for c, v in zip(LABELS, per)},
            "confusion_matrix": confusion_matrix(y, pred, labels=range(len(LABELS))).tolist()}


class LateMember:
    """The steps of a member averaged late with ``preset``'s model (see the module docstring); ``member_inputs`` and
    ``fit_member`` are the subclass's."""
    preset: Path
    preset_name = ensemble_name = member_layer = baseline_key = ""

    def member_inputs(self, data) -> tuple:
        """(record ids, labels, X) of every example of the prepared folder ``data``: the member's inputs, one row per
        example (the subclass's)."""
        raise NotImplementedError

    def fit_member(self, X, y, seed) -> tuple:
        """(member model, its trained head: the part after the member's preprocessing, fed ``X``) (the subclass's)."""
        raise NotImplementedError

    def __init__(self, args):
        self.args = args
        self.work = Path(args.work)
        self.work.mkdir(parents=True, exist_ok=True)
        table = np.load(OOF)
        self.split = {str(r): str(s) for r, s in zip(table["record_id"], table["split"])}
        self.fold = {str(r): int(f) for r, f, s in zip(table["record_id"], table["fold"], table["split"])
                     if s == "train"}
        self.label = {str(r): int(v) for r, v in zip(table["record_id"], table["label"])}
        self.ecgsl_oof = {str(r): p for r, p, s in zip(table["record_id"], table["ecgsl"], table["split"])
                          if s == "train"}

    @property
    def table(self) -> dict:
        data = np.load(self.work / "statistics.npz")
        return {"ids": [str(r) for r in data["record_id"]], "y": data["label"], "X": data["X"]}

    def step_statistics(self, result):
        t0 = time.perf_counter()
        ids, y, X = self.member_inputs(self.args.data)
        np.savez_compressed(self.work / "statistics.npz", record_id=np.array(ids), label=y, X=X)
        known = [r for r in ids if r in self.split]
        result["statistics"] = {"examples": len(ids), "records": len(set(ids)), "records_in_split": len(set(known)),
                                "seconds": round(time.perf_counter() - t0, 1)}

    def rows(self, split):
        t = self.table
        keep = np.array([self.split.get(r) == split for r in t["ids"]])
        return [r for r, k in zip(t["ids"], keep) if k], t["y"][keep], t["X"][keep]

    def step_cv(self, result):
        ids, y, X = self.rows("train")
        fold = np.array([self.fold[r] for r in ids])
        records = sorted(set(ids))
        y_rec = np.array([self.label[r] for r in records])
        deep = np.array([self.ecgsl_oof[r] for r in records])
        out = {"records": len(records), "deep_alone": scores(y_rec, deep), "seeds": {}}
        for seed in SEEDS:
            oof = np.zeros((len(ids), len(LABELS)))
            for k in sorted(set(fold)):
                held = fold == k
                _, head = self.fit_member(X[~held], y[~held], seed)
                oof[held] = head.predict(X[held].astype(np.float32), verbose=0)
            member = record_mean(ids, oof)
            member = np.array([member[r] for r in records])
            out["seeds"][str(seed)] = {"member_alone": scores(y_rec, member),
                                       "by_deep_weight": {str(w): scores(y_rec, w * deep + (1 - w) * member)
                                                          for w in WEIGHTS}}
            row = out["seeds"][str(seed)]["by_deep_weight"][str(DEEP_WEIGHT)]
            log.info("cv seed %d: member alone macro %.3f AF %.3f; with ECG-SL (0.5) macro %.3f AF %.3f", seed,
                     out["seeds"][str(seed)]["member_alone"]["macro_f1"],
                     out["seeds"][str(seed)]["member_alone"]["af_f1"], row["macro_f1"], row["af_f1"])
        out["mean_by_deep_weight"] = {
            str(w): {m: float(np.mean([out["seeds"][str(s)]["by_deep_weight"][str(w)][m] for s in SEEDS]))
                     for m in ("macro_f1", "af_f1")} for w in WEIGHTS}
        out["cv_best_weight_macro"] = max(WEIGHTS, key=lambda w: out["mean_by_deep_weight"][str(w)]["macro_f1"])
        result["cv"] = out

    def step_train(self, result):
        _, y, X = self.rows("train")
        out = {}
        for seed in SEEDS:
            t0 = time.perf_counter()
            member, _ = self.fit_member(X, y, seed)
            member.save(self.work / f"member_s{seed}.keras")
            out[str(seed)] = {"examples": int(len(y)), "parameters": int(member.count_params()),
                              "seconds": round(time.perf_counter() - t0, 1)}
        result["train"] = out

    def ecgsl_alone(self) -> Path:
        """WORK/before_run/model.keras: the preset's model without the added member, with the preset's config files
        beside it (the baseline, the candidates' first member and the bench's "before"). The preset itself before
        the member shipped; once it ships, the preset's other member (its weights unchanged)."""
        import keras

        import ecgsl_keras  # noqa: F401  (registers the custom layers)
        from ecgsl_keras.modeling.classifier import ensemble_members

        folder = self.work / "before_run"
        if (folder / "model.keras").is_file():
            return folder / "model.keras"
        folder.mkdir(parents=True, exist_ok=True)
        model = keras.models.load_model(self.preset / "model.keras", compile=False)
        for name in ("config.json", "signal_config.json"):
            shutil.copy(self.preset / name, folder / name)
        self.base_of(model, ensemble_members(model)).save(folder / "model.keras")
        return folder / "model.keras"

    def base_of(self, model, members):
        """The preset's model without the added member: ``model`` itself when it is no ensemble, else its one member
        without ``member_layer`` (build_rhythm_member's "rr_statistics")."""
        if not members:
            return model
        kept = [m for m in members if self.member_layer not in [layer.name for layer in m.layers]]
        if len(kept) != 1:
            raise SystemExit(f"error: {self.preset / 'model.keras'}: expected one member beside the added one")
        return kept[0]

    def candidate(self, seed) -> Path:
        """A run folder holding the ensemble of the preset's model and the seed's member (``ensemble_folder``)."""
        return self.ensemble_folder(self.work / f"candidate_s{seed}",
                                    [self.ecgsl_alone(), self.work / f"member_s{seed}.keras"])

    def ensemble_folder(self, folder, model_files) -> Path:
        """``folder`` holding the ensemble (``ensemble.build_ensemble``, ``ensemble_name``) of the ``.keras`` files
        ``model_files``, with the preset's config (``ecgsl evaluate --model FOLDER/model.keras`` reads its signal
        config and task); kept when it exists."""
        import keras

        import ecgsl_keras  # noqa: F401  (registers the custom layers)
        from ecgsl_keras.modeling.ensemble import build_ensemble

        if (folder / "model.keras").is_file():
            return folder
        folder.mkdir(parents=True, exist_ok=True)
        models = [keras.models.load_model(path, compile=False) for path in model_files]
        build_ensemble(models, name=self.ensemble_name).save(folder / "model.keras")
        for name in ("config.json", "signal_config.json"):
            shutil.copy(self.preset / name, folder / name)
        return folder

    def evaluate(self, model_arg, csv) -> dict:
        from ecgsl_keras.cli import evaluate as evaluate_cli

        records = sorted(r for r, s in self.split.items() if s == "validation")
        metrics_path = Path(csv).with_suffix(".json")
        if not Path(csv).is_file() or not metrics_path.is_file():
            argv = ["--model", str(model_arg), "--dataset", "cinc2017", "--data-dir", str(self.args.cinc_dir),
                    "--records", *records, "--no-progress", "--predictions", str(csv)]
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                code = evaluate_cli.main(argv)
            if code != 0:
                raise SystemExit(f"error: ecgsl evaluate failed for {model_arg}")
            metrics_path.write_text(printed.getvalue().strip().splitlines()[-1] + "\n")   # evaluate's own JSON
        from experiments.cinc2017.served_offsets import read_served    # evaluate's predictions CSV, checked

        ids, y, p = read_served(csv)
        return dict(records=len(ids), **scores(y, p))

    def step_validate(self, result):
        base = self.baseline_key
        out = {base: self.evaluate(self.ecgsl_alone(), self.work / f"{base}_validation.csv"), "candidates": {}}
        for seed in SEEDS:
            folder = self.candidate(seed)
            out["candidates"][str(seed)] = self.evaluate(folder / "model.keras", self.work / f"validation_s{seed}.csv")
            log.info("validation seed %d: macro %.3f AF %.3f (%s %.3f / %.3f)", seed,
                     out["candidates"][str(seed)]["macro_f1"], out["candidates"][str(seed)]["af_f1"], base,
                     out[base]["macro_f1"], out[base]["af_f1"])
        mean = {m: float(np.mean([out["candidates"][str(s)][m] for s in SEEDS])) for m in ("macro_f1", "af_f1")}
        sd = {m: float(np.std([out["candidates"][str(s)][m] for s in SEEDS], ddof=1)) for m in ("macro_f1", "af_f1")}
        shipped = out["candidates"][str(SHIPPED_SEED)]
        out["mean"], out["sd"] = mean, sd
        out["ship"] = self.ship(out, mean, shipped)
        result["validate"] = out

    def publish(self, result, candidate, metrics_path, description, card, info=None, serving=None) -> None:
        """``preset_name`` rebuilt (``training.publish.build``) from a run folder of ``candidate``'s model.keras whose
        config is ``info`` (default the preset's own; stage ``ensemble``) and whose metrics are ``evaluate``'s JSON
        ``metrics_path`` (measured with the served settings); ``card`` (Markdown) appended to the model card,
        ``serving`` the preset's serving settings where it has them."""
        from ecgsl_keras.store import runs
        from ecgsl_keras.training import publish as publish_lib

        run_dir = self.work / "publish_run"
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(candidate) / "model.keras", run_dir / runs.MODEL_NAME)
        info = runs.read_json(self.preset / runs.CONFIG_NAME) if info is None else info
        info["stage"] = "ensemble"
        runs.write_json(run_dir / runs.CONFIG_NAME, info)
        metrics = json.loads(Path(metrics_path).read_text())
        metrics.update(split="validation", data=f"the {metrics.get('n')} validation records of the CinC 2017 "
                       "folder through ecgsl evaluate (raw records)", best=info.get("best"), served_settings=True)
        runs.write_json(run_dir / runs.METRICS_NAME, metrics)
        extra = self.work / "card_extra.md"
        extra.write_text(card, encoding="utf-8")
        meta = publish_lib.build(run_dir, self.preset_name, description, card_extra=extra, overwrite=True,
                                 serving=serving)
        result["publish"] = {"preset": self.preset_name, "parameters": meta["parameters"],
                             **({"serving": meta["serving"]} if serving is not None else {}), "files": meta["files"]}

    def ship(self, out, mean, shipped) -> bool:
        """The ship rule: the member seeds' ``mean`` AND the shipped seed's row (``shipped``) above the baseline
        (``out[baseline_key]``) on macro F1 AND AF F1."""
        base = out[self.baseline_key]
        return all(mean[m] > base[m] and shipped[m] > base[m] for m in ("macro_f1", "af_f1"))


def run_steps(lever, key, steps, out_path, command) -> int:
    """Run ``lever``'s steps in order, each saved as it ends (WORK/KEY.json: a rerun resumes from what is there),
    then the result under ``key`` of ``out_path``; the last stdout line one JSON object."""
    path = lever.work / f"{key}.json"
    result = json.loads(path.read_text()) if path.is_file() else {}
    commands = result.setdefault("commands", [])
    if command not in commands:
        commands.append(command)
    for step in steps:
        t0 = time.perf_counter()
        getattr(lever, f"step_{step}")(result)
        result.setdefault("seconds", {})[step] = round(time.perf_counter() - t0, 1)
        path.write_text(json.dumps(result, indent=1) + "\n")
    saved = json.loads(out_path.read_text()) if out_path.is_file() else {}
    saved[key] = result
    out_path.write_text(json.dumps(saved, indent=1) + "\n")
    print(json.dumps({"command": command, "steps": list(steps), "ship": result.get("validate", {}).get("ship")}))
    return 0
