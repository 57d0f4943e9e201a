"""A rhythm member for the ``cinc2017-edge`` preset (issue 18): the record's RR statistics, computed in the graph,
classified by a small dense network and averaged with the edge ECG-SL model.

    python experiments/edge/rhythm_member.py --data PREPARED --work WORK --steps plan statistics cv train validate \
        [--cinc-dir ../shared/data/cinc2017/training2017] [--out benchmarks/results/edge_rhythm_member.json]

PREPARED: the CinC records prepared with the edge preset's own signal config (``python -m ecgsl_keras.prepare
--dataset cinc2017 --data-dir CINC --out PREPARED --config CONFIG``, CONFIG the ``experiment_config`` of
``ecgsl_keras/presets/cinc2017-edge/config.json``: the serving settings, R-peaks at 100 Hz, as the end-to-end file
detects them). Records are split as everywhere in issue 18: the committed out-of-fold table's split and folds
(``experiments/cinc2017/oof/deep_oof.npz``: 5,456 training records in 5 folds, 1,364 validation records).

Why, and not blind: the edge file ships one ECG-SL model (validation macro F1 0.728, the weakest CinC preset) because
the full preset's record features and booster are not in the graph. A probe on the validation records averaged the
edge model's probabilities with a small network on 42 of the booster's RR columns: macro F1 0.736 -> 0.765, AF F1
0.734 -> 0.803 (equal weights; 0.7 on the ECG-SL side was also looked at). On the training split, with the committed
out-of-fold ECG-SL probabilities in place of the edge model, the 5-fold CV chose equal weights for every column set
tried, and 24 plain RR statistics carried most of the gain (macro 0.693 -> 0.742, AF 0.716 -> 0.801). Those are
statistics a TFLite graph can compute; so the member reads ``layers.RRStatistics`` (26 of them) of the beats the
graph already has, and the ensemble (``ensemble.build_ensemble``: the mean of the two) is one Keras model with the
edge model's inputs: ``export --end-to-end`` puts it in the file unchanged.

Steps:
``plan``        the plan and the ship rule (``PLAN``), written before any figure of the member.
``statistics``  ``RRStatistics`` of every prepared example (each example as the model reads it), WORK/statistics.npz.
``cv``          5-fold CV on the training records (the committed folds): the member trained on the other folds'
                examples, its probabilities averaged over each record's examples, then averaged with the committed
                out-of-fold ECG-SL probabilities at deep weights 0 .. 1 (a report: the weight is fixed at 0.5).
``train``       the member on every training record, seeds ``SEEDS`` (WORK/member_s<seed>.keras).
``validate``    each seed's ensemble with the edge preset's ECG-SL, and the edge preset itself, through ``ecgsl
                evaluate`` on the 1,364 validation records (the served path: ``predict_signal`` with the preset's
                serving settings), and the ship rule.
``publish``     when the rule ships it: ``cinc2017-edge`` rebuilt (``training.publish.build``, ``edge_preset``'s
                serving settings) from a run folder of the seed-42 ensemble whose config is the preset's own with
                the trained values the preset's metadata lists, and whose ``metrics.json`` is the ensemble's
                validation figure above (the ECG-SL's best epoch recorded: it was chosen on this split).
``bench``       the end-to-end files before and after (``--export`` of the preset as shipped, ``--export-before`` of the
                ECG-SL model alone; ``python -m ecgsl_keras.export --model ... --end-to-end --tflite float32 int8``)
                through ``experiments/edge/bench.py``: size and latency (1 thread), twice each, interleaved after,
                before, before, after on the same machine; and the ``cinc`` step (file against ``predict_signal``) once
                each. Bench caches in WORK/bench_<after|before>[_again].

Last stdout line one JSON object; the result under key ``rhythm_member`` of ``--out``.
"""
from __future__ import annotations

import argparse
import contextlib
import io
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
from experiments.cinc2017.features import LABELS  # noqa: E402  (the CinC classes, in the tables' order)
from experiments.shared_data import CINC2017  # noqa: E402

log = logging.getLogger("experiments.edge.rhythm_member")
KEY = "rhythm_member"
STEPS = ("plan", "statistics", "cv", "train", "validate", "publish", "bench")
PLAN_PATH = HERE / "rhythm_member_plan.json"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "edge_rhythm_member.json"
OOF = REPO / "experiments" / "cinc2017" / "oof" / "deep_oof.npz"
EDGE = REPO / "ecgsl_keras" / "presets" / "cinc2017-edge"
SEEDS = (42, 43, 44)
SHIPPED_SEED = 42
DEEP_WEIGHT = 0.5
WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))
SCHEDULE = {"units": 32, "dropout": 0.2, "optimizer": "adam", "learning_rate": 1e-3, "batch_size": 64,
            "epochs": 60, "class_weight": None}
SHIP_RULE = ("the ensemble of the edge ECG-SL and the seed-42 member replaces the cinc2017-edge model only if, on the "
             "1,364 validation records through ecgsl evaluate, the mean over member seeds 42-44 AND seed 42 alone "
             "give a higher macro F1 and a higher AF F1 than the edge preset; the end-to-end int8 file's size and "
             "latency against the edge goals (400 KB, 5 ms) are then measured and reported, not a condition")
PLAN = {"what": "a rhythm member (layers.RRStatistics -> Normalization -> Dense 32 ReLU -> Dropout -> softmax) "
                "averaged with the cinc2017-edge ECG-SL model (ensemble.build_ensemble, equal weights)",
        "blind": False,
        "why": "probe on the validation records: edge 0.736 / AF 0.734 -> with a network on 42 booster RR columns "
               "averaged 0.765 / 0.803 (deep weights 0.5 and 0.7 looked at); training-split CV with the committed "
               "ECG-SL out-of-fold probabilities chose 0.5 for every column set; 24 plain RR statistics: 0.742 / 0.801",
        "statistics": "layers.RRStatistics (26), per prepared example, the edge preset's signal config",
        "schedule": SCHEDULE, "seeds": list(SEEDS), "shipped_seed": SHIPPED_SEED, "deep_weight": DEEP_WEIGHT,
        "split": "the committed out-of-fold table's (5,456 training records in 5 folds, 1,364 validation records)",
        "ship_rule": SHIP_RULE}
ENTROPY_KEY = "rhythm_member_entropy"
ENTROPY_PLAN_PATH = HERE / "rhythm_member_entropy_plan.json"
ENTROPY_SHIP_RULE = ("the member with entropy (RRStatistics(entropy=True): the 26 statistics, sample entropy and "
                     "COSEn) replaces the shipped one only if, on the 1,364 validation records through ecgsl "
                     "evaluate, its "
                     "mean over member seeds 42-44 beats the shipped member's mean (key rhythm_member.validate.mean) "
                     "AND its seed 42 beats the shipped cinc2017-edge (evaluated again here), on macro F1 AND AF F1; "
                     "then the preset is rebuilt, exported and benched as the shipped one was")
ENTROPY_PLAN = dict(PLAN, what="the rhythm member with sample entropy and COSEn (28 statistics), else as shipped",
                    why="an uncommitted probe on the training split (the member's pipeline, seeds 42-44, with the "
                        "committed ECG-SL out-of-fold probabilities): macro F1 0.7442 -> 0.7488, AF F1 0.8132 -> "
                        "0.8221, seed sd about 0.002; the validation records were looked at for the shipped member",
                    statistics="layers.RRStatistics(entropy=True) (28), per prepared example",
                    ship_rule=ENTROPY_SHIP_RULE)


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


def rr_statistics(rr_list, batch: int = 256, entropy: bool = False) -> np.ndarray:
    """``layers.RRStatistics`` (``entropy``: with sample entropy and COSEn) of each (beats, 3) RR array, padded per
    batch."""
    from ecgsl_keras.modeling.layers import RRStatistics

    layer = RRStatistics(entropy=entropy)
    out = []
    for start in range(0, len(rr_list), batch):
        part = rr_list[start:start + batch]
        steps = max(len(r) for r in part)
        rr = np.zeros((len(part), steps, 3), np.float32)
        mask = np.zeros((len(part), steps), bool)
        for i, r in enumerate(part):
            rr[i, :len(r)], mask[i, :len(r)] = r, True
        out.append(np.asarray(layer((rr, mask))))
    return np.concatenate(out).astype(np.float64)


def edge_config() -> tuple:
    """(ModelConfig, Task) of the edge preset: the member takes its ECG-SL model's inputs and labels."""
    from ecgsl_keras.store import runs

    experiment, task, _ = runs.run_config(EDGE)
    return experiment.model, task


def train_member(stats, y, seed, entropy: bool = False):
    """``classifier.build_rhythm_member`` standardised on ``stats`` and its head trained on them (``SCHEDULE``)."""
    import keras

    from ecgsl_keras.modeling.classifier import build_rhythm_member

    keras.utils.set_random_seed(seed)
    cfg, task = edge_config()
    member = build_rhythm_member(cfg, task, mean=stats.mean(axis=0), variance=stats.var(axis=0) + 1e-12,
                                 units=SCHEDULE["units"], dropout=SCHEDULE["dropout"], entropy=entropy)
    head = keras.Model(member.get_layer("rr_standardise").input, member.output)
    head.compile(keras.optimizers.Adam(SCHEDULE["learning_rate"]), "sparse_categorical_crossentropy")
    head.fit(stats.astype(np.float32), y, batch_size=SCHEDULE["batch_size"], epochs=SCHEDULE["epochs"], verbose=0,
             shuffle=True)
    return member, head


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


class RhythmMember:
    """The steps for a member averaged with a shipped preset's model; subclasses change the member, the inputs it
    reads (``member_inputs``) and the preset (``preset``, ``member_layer``: a layer only the added member has)."""
    preset, preset_name, ensemble_name, member_layer = EDGE, "cinc2017-edge", "ecgsl_edge_with_rhythm", "rr_statistics"
    baseline_key = "edge"     # the validate step's key for the preset's model without the member

    def __init__(self, args):
        self.args = args
        self.work = Path(args.work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.entropy = bool(getattr(args, "entropy", False))
        table = np.load(OOF)
        self.split = {str(r): str(s) for r, s in zip(table["record_id"], table["split"])}
        self.fold = {str(r): int(f) for r, f, s in zip(table["record_id"], table["fold"], table["split"])
                     if s == "train"}
        self.label = {str(r): int(v) for r, v in zip(table["record_id"], table["label"])}
        self.ecgsl_oof = {str(r): p for r, p, s in zip(table["record_id"], table["ecgsl"], table["split"])
                          if s == "train"}

    def step_plan(self, result):
        plan, path = (ENTROPY_PLAN, ENTROPY_PLAN_PATH) if self.entropy else (PLAN, PLAN_PATH)
        path.write_text(json.dumps(plan, indent=1) + "\n")
        result["plan"] = plan

    @property
    def table(self) -> dict:
        data = np.load(self.work / "statistics.npz")
        return {"ids": [str(r) for r in data["record_id"]], "y": data["label"], "X": data["X"]}

    def member_inputs(self, data) -> tuple:
        """(record ids, labels, X) of every prepared example: the member's inputs, one row per example."""
        ids, y, rr = examples(data)
        return ids, y, rr_statistics(rr, entropy=self.entropy)

    def fit_member(self, X, y, seed) -> tuple:
        """(member model, its trained head: the part after the preprocessing, fed ``X``)."""
        return train_member(X, y, seed, self.entropy)

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
        """A run folder holding the ensemble of the preset's model and the seed's member, with the preset's
        config (``ecgsl evaluate --model FOLDER/model.keras`` reads its signal config and task)."""
        import keras

        import ecgsl_keras  # noqa: F401  (registers the custom layers)
        from ecgsl_keras.modeling.ensemble import build_ensemble

        folder = self.work / f"candidate_s{seed}"
        if (folder / "model.keras").is_file():
            return folder
        folder.mkdir(parents=True, exist_ok=True)
        base = keras.models.load_model(self.ecgsl_alone(), compile=False)
        member = keras.models.load_model(self.work / f"member_s{seed}.keras", compile=False)
        model = build_ensemble([base, member], name=self.ensemble_name)
        for name in ("config.json", "signal_config.json"):
            shutil.copy(self.preset / name, folder / name)
        model.save(folder / "model.keras")
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
        metrics = ("macro_f1", "af_f1")
        if self.entropy:     # against the shipped member: its seeds' mean, and the preset as shipped (its seed 42)
            out["shipped"] = self.evaluate("cinc2017-edge", self.work / "shipped_validation.csv")
            out["shipped_mean"] = json.loads(DEFAULT_OUT.read_text())[KEY]["validate"]["mean"]
            out["ship"] = all(mean[m] > out["shipped_mean"][m] and shipped[m] > out["shipped"][m] for m in metrics)
        else:
            out["ship"] = all(mean[m] > out[base][m] and shipped[m] > out[base][m] for m in metrics)
        result["validate"] = out

    def step_publish(self, result):
        if not (result.get("validate") or {}).get("ship"):
            raise SystemExit("error: the ship rule did not ship the rhythm member (validate step); nothing published")
        sys.path.insert(0, str(HERE))
        import edge_preset

        from ecgsl_keras.store import runs
        from ecgsl_keras.training import publish as publish_lib

        run_dir = self.work / "publish_run"
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.candidate(SHIPPED_SEED) / "model.keras", run_dir / runs.MODEL_NAME)
        info = runs.read_json(EDGE / runs.CONFIG_NAME)
        served = runs.read_json(EDGE / "metadata.json").get("serving") or {}
        for key, (trained, _) in served.items():       # the run's trained values; publish applies SERVING again
            section, field = key.split(".")
            info["experiment_config"][section][field] = trained
        info["stage"] = "ensemble"
        runs.write_json(run_dir / runs.CONFIG_NAME, info)
        metrics = json.loads((self.work / f"validation_s{SHIPPED_SEED}.json").read_text())
        metrics.update(split="validation", data=f"the {metrics.get('n')} validation records of the CinC 2017 "
                       "folder through ecgsl evaluate (raw records)", best=info.get("best"), served_settings=True)
        runs.write_json(run_dir / runs.METRICS_NAME, metrics)
        extra = self.work / "card_extra.md"
        card = (RHYTHM_CARD.replace("26 statistics of the record's RR series", "28 statistics of the record's RR "
                                    "series, sample entropy and COSEn among them")
                .replace("benchmarks/results/edge_rhythm_member.json", "benchmarks/results/edge_rhythm_member.json, "
                         "key rhythm_member_entropy") if self.entropy else RHYTHM_CARD)
        extra.write_text(card + "\n" + edge_preset.CARD_EXTRA, encoding="utf-8")
        description = DESCRIPTION.replace("26 RR statistics", "28 RR statistics") if self.entropy else DESCRIPTION
        meta = publish_lib.build(run_dir, edge_preset.NAME, description, card_extra=extra, overwrite=True,
                                 serving=edge_preset.SERVING)
        result["publish"] = {"preset": edge_preset.NAME, "parameters": meta["parameters"],
                             "serving": meta["serving"], "files": meta["files"]}

    def step_bench(self, result):
        if not (self.args.export and self.args.export_before):
            raise SystemExit("error: the bench step needs --export and --export-before (end-to-end export folders)")
        before_model = self.ecgsl_alone()
        sides = {"after": (self.args.export, "cinc2017-edge"), "before": (self.args.export_before, before_model)}
        out = {side: {"export": str(export)} for side, (export, _) in sides.items()}
        for side, again in (("after", ""), ("before", ""), ("before", "_again"), ("after", "_again")):
            export, model = sides[side]
            steps = ["latency"] if again else ["latency", "cinc"]
            got = run_bench(export, model, self.work / f"bench_{side}{again}", steps)
            out[side].setdefault("latency_runs", []).append(got["latency"])
            if not again:
                out[side]["cinc"] = got["cinc"]
        for side in out:
            runs_ = out[side]["latency_runs"]
            out[side]["int8_median_ms"] = [r["int8"]["median_ms"] for r in runs_]
            out[side]["int8_bytes"] = runs_[0]["int8"]["size_bytes"]
        result["bench"] = out


def run_bench(export, model, work, steps) -> dict:
    """``experiments/edge/bench.py --export EXPORT --model MODEL --work WORK --steps STEPS``' JSON (its cache in
    WORK: a rerun reads it)."""
    import subprocess

    command = [sys.executable, str(HERE / "bench.py"), "--export", str(export), "--model", str(model), "--work",
               str(work), "--steps", *steps]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"error: bench.py failed ({done.stderr.strip().splitlines()[-1:]})")
    return json.loads(done.stdout.strip().splitlines()[-1])


DESCRIPTION = ("ECG-SL CinC 2017 rhythm classifier (N, A, O, ~) for the edge: one ECG-SL model (the best of three "
               "seeds on validation, v3 labels) averaged with a rhythm member (26 RR statistics computed in the "
               "graph, a dense network of about a thousand weights: experiments/edge/rhythm_member.py); exports "
               "end to end (python -m ecgsl_keras.export --model cinc2017-edge --end-to-end) to one TFLite file; "
               "single lead")
RHYTHM_CARD = ("The model (`model.keras`) is an ensemble of two members, their class probabilities averaged: "
               "`member_0`, the ECG-SL classifier, and `member_1`, the rhythm member "
               "(`modeling.classifier.build_rhythm_member`: `layers.RRStatistics`, 26 statistics of the record's "
               "RR series, standardised, one hidden layer of 32, softmax), trained on the training records' "
               "statistics (seed 42). Both read the beats' RR features that the end-to-end graph computes, so the "
               "TFLite file holds both. What it adds on the validation records, and the seeds' spread: "
               "docs/export.md and benchmarks/results/edge_rhythm_member.json.\n")


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, help="the CinC records prepared with the edge preset's signal config")
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--cinc-dir", type=Path, default=CINC2017)
    p.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--export", type=Path, help="bench: the end-to-end export of the preset as shipped")
    p.add_argument("--export-before", type=Path, help="bench: the end-to-end export of the ECG-SL model alone")
    p.add_argument("--entropy", action="store_true", help="the member with sample entropy and COSEn (its own plan, "
                   "ship rule and results key rhythm_member_entropy; a WORK of its own)")
    args = p.parse_args(argv)
    if "statistics" in args.steps and args.data is None:
        p.error("--data is needed for the statistics step")
    command = "python experiments/edge/rhythm_member.py " + " ".join(sys.argv[1:] if argv is None else argv)
    return run_steps(RhythmMember(args), ENTROPY_KEY if args.entropy else KEY, args.steps, args.out, command)


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


if __name__ == "__main__":
    sys.exit(main())
