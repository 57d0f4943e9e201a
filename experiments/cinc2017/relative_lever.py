"""Issue 18, AF lever af38: ECG-SL fold models that see each beat against its record's median beat
(``SignalConfig.beat_reference="median"``: the stored beat gets a second channel, beat minus the record's median
beat), on the deep side of the shipped ``cinc2017`` form (the 118-column booster averaged with the mean of the deep
sets, deep weight 0.5).

    python experiments/cinc2017/relative_lever.py --work WORK/lever --steps config \
        --config-from OOF_WORK/prepared_raw/manifest.json --config-out WORK/prepare_config.json
    python -m ecgsl_keras.prepare --dataset cinc2017 --data-dir .../training2017 --out WORK/prepared \
        --config WORK/prepare_config.json --workers 1 --no-progress     # the shipped signal, beat_reference median
    python experiments/cinc2017/hybrid.py --data WORK/prepared --features ANY --work WORK/hybrid \
        --steps folds finetune deep --deep-seed 42 --epochs 10        # 5 fold models from the encoder preset
    python experiments/cinc2017/relative_lever.py --hybrid WORK/hybrid --prepared WORK/prepared --work WORK/lever \
        [--steps table cv validate]
    python experiments/cinc2017/relative_lever.py --control WORK/hybrid_plain --work WORK/lever --steps control

Why this lever: on MIT-BIH the relative channel raised V +P from 0.811 to 0.866 (run v37). For AF the channel
exposes what varies around the record's usual beat: the P wave that is missing or replaced by f waves, the
baseline between beats. ECG-SL alone sees each beat on its own scale.

The fold models start from the ``encoder`` preset (one-channel beats): ``--init-from`` copies every matching weight
and extends the beat encoder's first convolution with zero kernels for the new channel (``modeling.transfer``,
``extend_channels``), so each fold model starts exactly at the one-channel pre-trained model; the same 5 folds
(``stacking.assign_folds`` k=5 seed 42; checked equal to the committed table's), the shipped 10-epoch schedule.

``config``    the ExperimentConfig of the shipped form's prepared folder (``--config-from``: the manifest of
              ``oof_from_preset.py``'s WORK/prepared_raw: the same signal config and split seed) with
              ``signal.beat_reference = "median"`` and ``model.beat_channels = 2``, to ``--config-out`` for prepare.
``table``     the fold set's out-of-fold probabilities (each training record from the one fold model that held it
              out, checked with ``training.oof.check_out_of_fold`` against the fold folders) and the validation
              records' mean of the 5 models, written float16 to ``--out-npz`` (committed:
              ``oof/relative_oof.npz``: ``record_id``, ``split``, ``fold`` (-1 validation), ``label``,
              ``label_names``, ``ecgsl_relative``); the set alone scored out of fold on the training split against
              the committed ECG-SL set alone (argmax, no booster).
``cv``        5-fold CV of the shipped recipe on the training split only (af_lever's ``Lever`` on the committed
              inputs, its booster out-of-fold outputs per seed; only the deep side changes between rows), booster
              seeds 42-44 and 45-47:
              ``base``      deep side = mean(ECG-SL, ResNet) (the shipped recipe);
              ``replace``   (i) deep side = mean(relative ECG-SL, ResNet): the relative set replaces ECG-SL;
              ``add``       (ii) deep side = mean(ECG-SL, ResNet, relative ECG-SL): a third deep set.
``control``   information only, chooses nothing: a plain one-channel ECG-SL fold set retrained here (``--control``:
              ``hybrid.py --data PLAIN_PREPARED ... --steps folds finetune deep``, the same folds, seed and schedule,
              today's beats) in place of the relative set, alone and in both forms, and paired relative minus plain:
              the reference channel's own share of the difference (committed: ``oof/plain_retrain_oof.npz``).
``validate``  validation (1,364 records) ONLY for a kept form, and the shipped recipe on the same boosters (booster
              fitted on the whole training split per seed 42-44, averaged with the mean of each set's fold models).

KEEP RULE (fixed before any figure): af_lever's rule (``Lever.beats``: the CV AF F1, mean over booster seeds, rises
by more than the larger seed sd of the two rows, and the CV macro F1 does not fall by more than the larger seed sd)
on seeds 42-44 against ``base`` AND on seeds 45-47 against ``base`` on those seeds; a form is kept only if both hold;
both kept: the higher CV AF F1 on 42-44. Validation only for the kept form. The fold set's own training noise (one
training seed) is not in the booster seeds' spread.

Last stdout line one JSON object; ``--out`` (``experiments/cinc2017/af38_results.json``) key ``af_lever_relative``.
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.cinc2017.af_lever import BASE, FRESH, SEEDS, Lever, paired  # noqa: E402
from experiments.cinc2017.features import LABELS, _metrics, _summary  # noqa: E402
from experiments.cinc2017.oof_table import (DEFAULT_FEATURES_NPZ, DEFAULT_NPZ, finish_chosen_lever,  # noqa: E402
                                          timed_steps)

log = logging.getLogger("experiments.cinc2017.relative_lever")
STEPS = ("config", "table", "cv", "validate", "control")
FORMS = ("replace", "add")
AF_TARGET = 0.85     # issue 18's validation target for AF F1
KEEP_RULE = ("af_lever's rule (CV AF F1, mean over booster seeds, rises by more than the larger seed sd of the two "
             "rows; CV macro F1 does not fall by more than the larger seed sd) on booster seeds 42-44 against base "
             "AND on seeds 45-47 against base on those seeds; both forms kept: the higher CV AF F1 on 42-44; "
             "validation only for the kept form (fixed before any figure)")


# af39 (seed_lever.py): the ECG-SL side as the mean of several training seeds of the fold set, then averaged with the
# ResNet as shipped (each ECG-SL member weighs 1/(2n), the ResNet 1/2 -- unlike ``add``, where the third set takes a
# third of the deep side)
SEED_FORMS = {"seeds2": ("ecgsl", "plain"), "seeds3": ("ecgsl", "plain", "relative")}


def deep_side(form: str, ecgsl, resnet, relative, plain=None) -> np.ndarray:
    """The deep side of a row: the mean of its deep sets' probabilities (``SEED_FORMS``: the mean of the ECG-SL
    members first; ``plain`` is the plain fold set retrained here, needed only by those forms)."""
    if form in SEED_FORMS:
        members = {"ecgsl": ecgsl, "plain": plain, "relative": relative}
        if any(members[m] is None for m in SEED_FORMS[form]):
            raise ValueError(f"form {form!r} needs the sets {SEED_FORMS[form]}")
        return (np.mean([members[m] for m in SEED_FORMS[form]], axis=0) + resnet) / 2
    if form == "base":
        return (ecgsl + resnet) / 2
    if form == "replace":
        return (relative + resnet) / 2
    if form == "add":
        return (ecgsl + resnet + relative) / 3
    raise ValueError(f"unknown form {form!r}")


def step_config(args, reference: str = "median") -> dict:
    """The prepare config of the relative beats: the shipped form's, with the ``reference`` channel (af38's median;
    af40's ``window_lever.py``: the stretch before the QRS, ``"tq"``)."""
    from ecgsl_keras.config import BEAT_REFERENCES, ExperimentConfig

    config = json.loads(Path(args.config_from).read_text())["metadata"]["experiment_config"]
    config["signal"]["beat_reference"] = reference
    config["model"]["beat_channels"] = BEAT_REFERENCES[reference]
    checked = ExperimentConfig.from_dict(config)
    checked.validate()
    Path(args.config_out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.config_out).write_text(json.dumps(checked.to_dict(), indent=1) + "\n")
    return {"from": str(args.config_from), "beat_reference": reference, "beat_width": checked.signal.beat_width}


def step_table(args, key: str = "ecgsl_relative") -> dict:
    """The relative fold set's table (``--hybrid``; column ``key``), checked out of fold and against the committed
    folds; with ``--prepared`` also what its prepared folder holds (records, beats, the reference, prepare's
    seconds)."""
    out = write_table(Path(args.hybrid), args.deep_oof, args.out_npz, key)
    if args.prepared:
        manifest = json.loads((Path(args.prepared) / "manifest.json").read_text())
        summary, signal = manifest["metadata"]["prepare_summary"], manifest["metadata"]["signal_config"]
        out["prepare"] = {k: summary[k] for k in ("records_written", "records_per_split", "beats_per_split", "beats",
                                                  "skipped", "seconds", "workers")}
        out["prepare"].update(beat_reference=signal["beat_reference"], beat_width=manifest["beat_len"])
    return out


def write_table(hybrid: Path, deep_oof: Path, out_npz: Path, key: str) -> dict:
    """A fold set's table from ``hybrid.py``'s work folder ``hybrid``: its out-of-fold rows checked with
    ``check_out_of_fold`` against its fold folders, its folds and records against the committed table ``deep_oof``;
    written float16 to ``out_npz`` (column ``key``); the set alone scored out of fold on the training split."""
    from ecgsl_keras.training import oof

    data = np.load(hybrid / "deep_oof.npz")
    k = len(sorted((hybrid / "folds").glob("fold_*")))
    table = {s: {"record_id": data[f"{s}_record_id"].astype(str), "source": data[f"{s}_source"].astype(str)}
             for s in ("train", "validation")}
    check = oof.check_out_of_fold(table, [hybrid / "folds" / f"fold_{i}" for i in range(k)])
    committed = np.load(deep_oof)
    c_ids, c_split = committed["record_id"].astype(str), committed["split"].astype(str)
    c_fold = {r: int(f) for r, f, s in zip(c_ids, committed["fold"], c_split) if s == "train"}
    ours = json.loads((hybrid / "folds" / "assignment.json").read_text())
    train_ids = table["train"]["record_id"]
    sources = table["train"]["source"].astype(int)
    if any(int(ours[r]) != c_fold.get(r) for r in train_ids) or any(int(ours[r]) != s for r, s in zip(train_ids, sources)):
        raise SystemExit(f"error: {hybrid}: the folds differ from the committed table's {deep_oof}")
    if set(train_ids) != set(c_fold) or set(table["validation"]["record_id"]) != set(c_ids[c_split == "validation"]):
        raise SystemExit(f"error: {hybrid}: the records differ from the committed table's {deep_oof}")
    ids = np.concatenate([train_ids, table["validation"]["record_id"]])
    split = np.array(["train"] * len(train_ids) + ["validation"] * len(table["validation"]["record_id"]))
    fold = np.concatenate([sources, np.full(len(table["validation"]["record_id"]), -1)])
    label = np.concatenate([data["train_targets"], data["validation_targets"]]).astype(np.int8)
    probs = np.concatenate([data["train_probabilities"], data["validation_probabilities"]]).astype(np.float16)
    out_npz.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_npz, record_id=ids, split=split, fold=fold.astype(np.int8), label=label,
                        label_names=np.array(LABELS), **{key: probs})
    # alone, out of fold on the training split, against the committed ECG-SL set (and the ResNet) alone
    rows = {r: i for i, r in enumerate(c_ids)}
    sel = [rows[r] for r in train_ids]
    y = data["train_targets"].astype(int)
    if not np.array_equal(y, committed["label"][sel].astype(int)):
        raise SystemExit(f"error: {hybrid}: labels differ from the committed table's")
    alone = {key: _metrics(y, data["train_probabilities"].argmax(-1)),
             "ecgsl_committed": _metrics(y, committed["ecgsl"][sel].argmax(-1)),
             "resnet_committed": _metrics(y, committed["resnet"][sel].argmax(-1))}
    log.info("alone (OOF, training split): %s macro %.4f AF %.4f; committed ECG-SL macro %.4f AF %.4f", key,
             alone[key]["macro_f1"], alone[key]["per_class_f1"]["A"],
             alone["ecgsl_committed"]["macro_f1"], alone["ecgsl_committed"]["per_class_f1"]["A"])
    runs = {}
    for i in range(k):
        config = hybrid / "runs" / f"fold_{i}" / "config.json"
        info = json.loads(config.read_text())
        fit_log = hybrid / "logs" / f"finetune_fold_{i}.log"   # Keras' per-epoch lines: "136/136 - 43s - ..."
        epochs = [int(m) for m in re.findall(r"^\d+/\d+ - (\d+)s - ", fit_log.read_text(), re.M)] if fit_log.is_file() else []
        runs[f"fold_{i}"] = {"epochs": info.get("epochs_completed"), "best_epoch": (info.get("best") or {}).get("epoch"),
                             "seconds": info.get("seconds"), "status": info.get("status"), "epoch_seconds": epochs,
                             "seconds_per_epoch": round(info["seconds"] / info["epochs_completed"], 1)
                             if info.get("seconds") and info.get("epochs_completed") else None}
    return {"out_of_fold_check": check, "folds_equal_committed": True, "npz": str(out_npz.resolve().relative_to(REPO))
            if out_npz.resolve().is_relative_to(REPO) else str(out_npz),
            "npz_bytes": out_npz.stat().st_size, "records": {"train": int(len(train_ids)),
                                                                 "validation": int(len(table["validation"]["record_id"]))},
            "alone_oof_train": alone, "fold_runs": runs}


def _npz_table(path, key) -> dict:
    """A fold-set table written by ``write_table`` as ``hybrid.py``'s ``split_record_id`` / ``split_probabilities``."""
    data = np.load(path)
    ids, split = data["record_id"].astype(str), data["split"].astype(str)
    out = {}
    for s in ("train", "validation"):
        rows = split == s
        out.update({f"{s}_record_id": ids[rows], f"{s}_probabilities": data[key][rows].astype(np.float64)})
    return out


def _lever(args, control: bool = False, key: str = "ecgsl_relative", control_key: str = "ecgsl_plain") -> tuple:
    """af_lever's ``Lever`` on the committed inputs and each deep set's probabilities in its record order (the
    lever's own set: column ``key`` of ``--out-npz``, named ``relative`` in ``deep_side``); with ``control`` also the
    plain (one-channel) fold set retrained here (``--control-npz``, column ``control_key``), named ``plain``."""
    ns = argparse.Namespace(features=str(args.features), deep_oof=args.deep_oof, ecgsl=None, resnet=None,
                            work=str(args.work), k=5)
    lever = Lever(ns)
    from experiments.cinc2017.hybrid import _aligned
    from experiments.cinc2017.oof_table import load_deep_oof

    committed = load_deep_oof(args.deep_oof)
    tables = {"ecgsl": committed["ecgsl"], "resnet": committed["resnet"],
              "relative": _npz_table(args.out_npz, key)}
    if control:
        tables["plain"] = _npz_table(args.control_npz, control_key)
    sets = {s: {k: _aligned(t, s, "probabilities", lever.ids[s]) for k, t in tables.items()}
            for s in ("train", "validation")}
    for s in sets:   # the Lever's own deep side must be the base form of these sets
        if not np.allclose(lever.deep[s], (sets[s]["ecgsl"] + sets[s]["resnet"]) / 2):
            raise SystemExit("error: the Lever's deep side is not the mean of the committed ECG-SL and ResNet sets")
    return lever, sets


def _form_rows(lever, deep_train, base) -> dict:
    """CV rows of the recipe with the deep side ``deep_train`` (the same cached boosters) on both seed sets."""
    rows, shipped = {}, lever.deep["train"]
    for key, seeds in (("42-44", SEEDS), ("45-47", FRESH)):
        lever.deep["train"] = deep_train
        rows[key] = lever.cv_row("base", BASE, seeds)     # the same boosters; only the deep side changes
        lever.deep["train"] = shipped
        rows[key]["beats_base"] = Lever.beats(rows[key], base[key])
    rows["paired"] = paired(rows["42-44"]["runs"] + rows["45-47"]["runs"], base["42-44"]["runs"] + base["45-47"]["runs"])
    return rows


def step_cv(args, key: str = "ecgsl_relative") -> dict:
    lever, sets = _lever(args, key=key)
    out = {"base": {}, "forms": {}}
    cv_forms(lever, sets, FORMS, out, "forms")
    return out


def cv_forms(lever, sets, forms, out, key) -> None:
    """The CV rows of a lever whose forms change only the deep side (``relative_lever``, ``seed_lever``): the shipped
    recipe on booster seeds 42-44 and 45-47 into ``out["base"]``, each of ``forms`` (its deep side from ``sets``)
    against it into ``out[key]``, kept when it beats base on both seed sets (af_lever's rule), and ``out["chosen"]``:
    the kept form of highest CV AF F1 on 42-44 (None when none is kept)."""
    for seed_set, seeds in (("42-44", SEEDS), ("45-47", FRESH)):
        out["base"][seed_set] = lever.cv_row("base", BASE, seeds)
    for form in forms:
        rows = _form_rows(lever, deep_side(form, **sets["train"]), out["base"])
        rows["kept"] = rows["42-44"]["beats_base"] and rows["45-47"]["beats_base"]
        out[key][form] = rows
        log.info("%s: AF %.4f / %.4f (base %.4f / %.4f), macro %.4f / %.4f (base %.4f / %.4f), kept %s", form,
                 rows["42-44"]["af_f1"]["mean"], rows["45-47"]["af_f1"]["mean"], out["base"]["42-44"]["af_f1"]["mean"],
                 out["base"]["45-47"]["af_f1"]["mean"], rows["42-44"]["macro_f1"]["mean"],
                 rows["45-47"]["macro_f1"]["mean"], out["base"]["42-44"]["macro_f1"]["mean"],
                 out["base"]["45-47"]["macro_f1"]["mean"], rows["kept"])
    kept = [f for f in forms if out[key][f]["kept"]]
    out["chosen"] = max(kept, key=lambda f: out[key][f]["42-44"]["af_f1"]["mean"]) if kept else None


def step_control(args, cv) -> dict:
    """Information only (not under the keep rule, chooses nothing): a plain one-channel ECG-SL fold set retrained
    here with the same folds, seed and schedule on today's beats (``--control``: its ``hybrid.py`` work folder), so
    that the relative set's difference from the committed ECG-SL set splits into the reference channel (relative
    minus plain) and the retraining (plain minus committed). Its table, alone and in the two forms, and the paired
    per-seed differences relative minus plain in each form."""
    table = write_table(Path(args.control), args.deep_oof, args.control_npz, "ecgsl_plain")
    lever, sets = _lever(args, control=True)
    out = {"table": table, "forms": {}}
    for form in FORMS:
        plain = {**sets["train"], "relative": sets["train"]["plain"]}
        plain.pop("plain")
        rows = _form_rows(lever, deep_side(form, **plain), cv["base"])
        rel = cv["forms"][form]
        rows["relative_minus_plain"] = paired(rel["42-44"]["runs"] + rel["45-47"]["runs"],
                                              rows["42-44"]["runs"] + rows["45-47"]["runs"])
        out["forms"][form] = rows
        log.info("control %s: AF %.4f / %.4f, macro %.4f / %.4f; relative minus plain: AF %+.4f macro %+.4f", form,
                 rows["42-44"]["af_f1"]["mean"], rows["45-47"]["af_f1"]["mean"], rows["42-44"]["macro_f1"]["mean"],
                 rows["45-47"]["macro_f1"]["mean"], rows["relative_minus_plain"]["af_f1"]["mean"],
                 rows["relative_minus_plain"]["macro_f1"]["mean"])
    return out


def step_validate(args, chosen, control: bool = False, key: str = "ecgsl_relative") -> dict | None:
    """The kept form and the shipped recipe on validation, booster seeds 42-44 (nothing when none is kept;
    ``control``: the plain retrained set is loaded too, for ``SEED_FORMS``; ``key``: the lever set's column)."""
    if chosen is None:
        log.info("validate: no form kept; validation not looked at")
        return None
    lever, sets = _lever(args, control=control, key=key)
    y = lever.y["validation"]
    rows = {"base": [], chosen: []}
    for seed in SEEDS:
        p = lever._clf(lever.names, BASE, seed).fit(lever.X["train"], lever.y["train"]).predict_proba(
            lever.X["validation"])
        for form in rows:
            rows[form].append(dict(seed=seed, **_metrics(y, (0.5 * p + 0.5 * deep_side(form, **sets["validation"]))
                                                         .argmax(-1))))
    return {form: {"runs": runs, "summary": _summary(runs), "records": int(len(y))} for form, runs in rows.items()}


def fold_set_arguments(p, what: str, steps) -> None:
    """The options of a script that measures one ECG-SL fold set in the recipe (this one and ``window_lever.py``):
    its hybrid.py work folder, af_lever's booster cache, the steps, the committed tables and the prepare config."""
    p.add_argument("--hybrid", type=Path, help=f"hybrid.py's work folder of the {what} fold set (table step)")
    p.add_argument("--work", type=Path, required=True, help="af_lever's work folder (its booster cache)")
    p.add_argument("--steps", nargs="*", choices=steps, default=list(steps))
    p.add_argument("--deep-oof", type=Path, default=DEFAULT_NPZ)
    p.add_argument("--features", type=Path, default=DEFAULT_FEATURES_NPZ)
    p.add_argument("--config-from", type=Path, help="config step: the manifest of the shipped form's prepared folder")
    p.add_argument("--config-out", type=Path, help="config step: the prepare config to write")
    p.add_argument("--prepared", type=Path, help="the prepared folder the fold set trained on (table step: its counts)")


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    fold_set_arguments(p, "relative", STEPS)
    p.add_argument("--out-npz", type=Path, default=HERE / "oof" / "relative_oof.npz")
    p.add_argument("--control", type=Path, help="hybrid.py's work folder of a plain one-channel ECG-SL fold set "
                                                "retrained with the same folds and schedule (control step)")
    p.add_argument("--control-npz", type=Path, default=HERE / "oof" / "plain_retrain_oof.npz")
    p.add_argument("--out", type=Path, default=HERE / "af38_results.json")
    args = p.parse_args(argv)
    saved = json.loads(args.out.read_text()) if args.out.is_file() else {}
    result = saved.get("af_lever_relative", {})
    result["keep_rule"] = KEEP_RULE      # written before any figure of the steps below
    saved["af_lever_relative"] = result
    args.out.write_text(json.dumps(saved, indent=1) + "\n")
    def run(step):
        if step == "config":
            if not (args.config_from and args.config_out):
                raise SystemExit("error: the config step needs --config-from and --config-out")
            result["config"] = step_config(args)
        elif step == "table":
            if args.hybrid is None:
                raise SystemExit("error: the table step needs --hybrid (hybrid.py's work folder of the fold set)")
            result["table"] = step_table(args)
        elif step == "cv":
            result["cv"] = step_cv(args)
        elif step == "control":
            if args.control is None:
                raise SystemExit("error: the control step needs --control (hybrid.py's work folder of the plain set)")
            result["control"] = step_control(args, result["cv"])
        else:
            result["validation"] = step_validate(args, result["cv"]["chosen"])

    timed_steps(args.steps, run, result, saved, "af_lever_relative", args.out, log)
    return finish_chosen_lever(args.out, saved, "af_lever_relative", result, "relative_lever.py", argv, AF_TARGET)


if __name__ == "__main__":
    sys.exit(main())
