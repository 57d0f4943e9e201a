"""Issue 18, AF lever af40: ECG-SL fold models whose beats carry the stretch before each QRS as a second channel
(``SignalConfig.beat_reference="tq"``, ``signal.tq_stretch``: the samples from the previous beat's estimated T end to
this QRS onset, on the record's own time scale, right-aligned in ``beat_len`` samples), on the deep side of the
shipped ``cinc2017`` form (the 118-column booster averaged with the mean of the deep sets, deep weight 0.5).

    python experiments/cinc2017/window_lever.py --work WORK/lever --steps config \
        --config-from OOF_WORK/prepared_raw/manifest.json --config-out WORK/prepare_config.json
    python -m ecgsl_keras.prepare --dataset cinc2017 --data-dir .../training2017 --out WORK/prepared \
        --config WORK/prepare_config.json --workers 1 --no-progress     # the shipped signal, beat_reference tq
    python experiments/cinc2017/hybrid.py --data WORK/prepared --features ANY --work WORK/hybrid \
        --steps folds finetune deep --deep-seed 42 --epochs 10        # 5 fold models from the encoder preset
    python experiments/cinc2017/window_lever.py --hybrid WORK/hybrid --prepared WORK/prepared --work WORK/lever \
        [--steps table cv validate]

Why this lever: af38's median reference channel shows each beat against its record's usual beat, but the beat
window itself (0.32 s before R to 0.64 s after) holds little of the atrial activity: at a resting rate the T-to-QRS
interval, where a P wave or f waves (4-9 Hz fibrillatory waves) show, starts before the window. The features
booster reads the atrial evidence (af34, af35: P-wave presence, f-wave power after QRST cancellation); ECG-SL saw it
only through the RR features. The stretch keeps its real time scale (no resampling: f waves keep their rate); the
samples before the previous T end (Bazett QT at QTc 0.40 s after the previous R) are 0 (the record's baseline after
robust normalisation), so the channel holds the previous beat's T-wave tail at most, never its QRS.

The fold models start from the ``encoder`` preset (one-channel beats): ``--init-from`` copies every matching weight
and extends the beat encoder's first convolution with zero kernels for the new channel (``modeling.transfer``,
``extend_channels``), so each fold model starts exactly at the one-channel pre-trained model; the same 5 folds
(``stacking.assign_folds`` k=5 seed 42; checked equal to the committed table's), the shipped 10-epoch schedule,
one training seed (42) -- as af38's relative set, so the two are comparable.

``config``    the ExperimentConfig of the shipped form's prepared folder (``--config-from``) with
              ``signal.beat_reference = "tq"`` and ``model.beat_channels = 2``, to ``--config-out`` for prepare.
``table``     the fold set's out-of-fold probabilities (checked with ``training.oof.check_out_of_fold``) and the
              validation records' mean of the 5 models, float16 to ``--out-npz`` (committed: ``oof/window_oof.npz``,
              column ``ecgsl_tq``); the set alone scored out of fold on the training split against the committed
              ECG-SL set, and (information) af38's relative and plain retrained sets alone.
``cv``        5-fold CV of the shipped recipe on the training split only (``relative_lever``'s rows on the same cached
              boosters; only the deep side changes), booster seeds 42-44 and 45-47:
              ``base``      deep side = mean(ECG-SL, ResNet) (the shipped recipe);
              ``replace``   (i) deep side = mean(tq ECG-SL, ResNet);
              ``add``       (ii) deep side = mean(ECG-SL, ResNet, tq ECG-SL).
              Information (chooses nothing, not under the keep rule): each form with af38's plain retrained set
              (``oof/plain_retrain_oof.npz``: the same folds, seed, schedule and ``encoder`` start on one-channel
              beats) in place of the tq set, and the paired per-seed differences tq minus plain: the channel's own
              share, apart from retraining (key ``tq_minus_plain``).
``validate``  validation (1,364 records) ONLY for a kept form, and the shipped recipe on the same boosters.

KEEP RULE (fixed before any figure; af38's rule): af_lever's rule (``Lever.beats``: the CV AF F1, mean over booster
seeds, rises by more than the larger seed sd of the two rows, and the CV macro F1 does not fall by more than the
larger seed sd) on seeds 42-44 against ``base`` AND on seeds 45-47 against ``base`` on those seeds; a form is kept
only if both hold; both kept: the higher CV AF F1 on 42-44. Validation only for the kept form.

``--reference tq_median`` (af40b, the same steps; its own prepared folder and fold set): a third channel, the
stretch less its own level minus the record's median stretch (``signal.tq_against_median``: a P wave at a steady PR
interval cancels, f waves and a P wave that comes and goes do not); column ``ecgsl_tq_median`` of
``oof/window_median_oof.npz``, key ``af_lever_window_median``, under the same keep rule.

``--pretrain WORK/pretrain`` (af42, with ``--reference tq_median``): the fold models start from ECG-SL pre-trained on
the set's own three-channel beats instead of the one-channel ``encoder`` preset extended with zero kernels (af40b),
so that the stretch channels are learnt without labels before the fine-tune. Step ``pretrain`` (resumable: each
stage's run resumes or is skipped when finished):

    python experiments/cinc2017/window_lever.py --reference tq_median --pretrain WORK/pretrain \
        --prepared AF40B_WORK/prepared --work WORK/lever --out experiments/cinc2017/af42_results.json --steps pretrain
    python experiments/cinc2017/hybrid.py --data AF40B_WORK/prepared --features ANY --work WORK/hybrid \
        --steps folds finetune deep --deep-seed 42 --epochs 10 --init-from WORK/pretrain/masked
    python experiments/cinc2017/window_lever.py --reference tq_median --pretrain WORK/pretrain \
        --hybrid WORK/hybrid --prepared AF40B_WORK/prepared --work WORK/lever \
        --out experiments/cinc2017/af42_results.json --steps table cv validate

``PRETRAIN_SCHEDULE`` (fixed before any figure, from the seconds per epoch measured on the shared CPU so that it
ends by the session's deadline): ``WORK/pretrain/data`` holds the training split's 5,456 records of ``--prepared``
(``oof.write_fold_data`` with every record in the train split: no validation-split record, no label read); stage 1
(``train --stage autoencoder``: the beat autoencoder rebuilding all three channels, MSE over them) 3 epochs, stage 2
(``train --stage masked --init-from WORK/pretrain/autoencoder``: the latent masked target, the frozen stage-1
embedding of the three-channel beats, and the RR term) 5 epochs; both with the ``encoder`` preset's ExperimentConfig
(architecture and train settings: batch 32, AdamW 1e-3 cosine, seed 42; ``model.beat_channels`` = 3 from the
data), and no validation split, so the checkpoint follows the training loss: each stage's ``model.keras``, which the
next stage starts from, is its epoch of lowest training loss. The preset was pre-trained 12 masked epochs on 10,399 sequences of four data sets; this one sees only the CinC
training split's beats, for far fewer epochs: a short schedule, said so in RESULTS.md. The pre-training sees the beats
(never the labels) of every training record, the CV folds' held-out records included, as the preset did (it was
pre-trained on the CinC training split too). Then the same 5 folds, seed and 10-epoch fine-tune as af40b
(``hybrid.py --init-from WORK/pretrain/masked``: one warm-up epoch of the head, patience 6). Column
``ecgsl_tq_median_pre`` of ``oof/multich_oof.npz``, key ``af_lever_multich`` of ``af42_results.json``; the same
KEEP_RULE; information (chooses nothing): each form with af40b's set (the same beats, the extended one-channel
preset) in place of this one and the paired per-seed differences, pre-trained minus extended
(``pretrained_minus_extended``).

``--pretrain WORK/pretrain_preset --pretrain-start preset`` (af43, with ``--reference tq_median``): the middle form
between af40b and af42: the same pre-training schedule (``PRETRAIN_SCHEDULE``: 3 autoencoder + 5 masked epochs on
the training split's 5,456 records of three-channel beats, batch 32, seed 42, the ``encoder`` preset's
ExperimentConfig, each stage's epoch of lowest training loss kept), but each stage STARTS from the ``encoder``
preset's weights extended to three channels instead of random weights (``train --start-from encoder``: weights by
layer name, the beat encoder's first convolution with zero kernels for the two new channels, as af40b's fold models
start, ``modeling.transfer.transfer_weights(extend_channels=True)``): stage 1 the preset's beat encoder (the decoder,
which the preset does not hold, from random weights); stage 2 ``--init-from WORK/pretrain_preset/autoencoder`` (the
continued beat encoder, its frozen copy as the latent target and the target statistics, ``Stage.start_keeps``) and
the preset's temporal encoder and masked heads. Then the same 5 folds, seed and 10-epoch fine-tune
(``hybrid.py --init-from WORK/pretrain_preset/masked``), the same table and cv steps and the same KEEP_RULE (fixed
before any figure). Column ``ecgsl_tq_median_warm`` of ``oof/multich_preset_oof.npz``, key
``af_lever_multich_preset`` of ``af43_results.json``; information (chooses nothing): the paired per-seed
differences against af40b's set (``warm_minus_extended``: what continuing the self-supervision on the three-channel
beats adds to the extended preset) and against af42's set (``warm_minus_scratch``: what the preset start adds to
the short pre-training from random weights). Validation only for a kept form:

    python experiments/cinc2017/window_lever.py --reference tq_median --pretrain WORK/pretrain_preset \
        --pretrain-start preset --prepared AF40B_WORK/prepared --work WORK/lever \
        --out experiments/cinc2017/af43_results.json --steps pretrain
    python experiments/cinc2017/hybrid.py --data AF40B_WORK/prepared --features ANY --work WORK/hybrid_preset \
        --steps folds finetune deep --deep-seed 42 --epochs 10 --init-from WORK/pretrain_preset/masked
    python experiments/cinc2017/window_lever.py --reference tq_median --pretrain WORK/pretrain_preset \
        --pretrain-start preset --hybrid WORK/hybrid_preset --prepared AF40B_WORK/prepared --work WORK/lever \
        --out experiments/cinc2017/af43_results.json --steps table cv

Last stdout line one JSON object; ``--out`` (``experiments/cinc2017/af40_results.json``) key ``af_lever_window``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.cinc2017.features import _metrics  # noqa: E402
from experiments.cinc2017.oof_table import finish_chosen_lever, timed_steps  # noqa: E402
from experiments.cinc2017.af_lever import paired  # noqa: E402
from experiments.cinc2017.relative_lever import (AF_TARGET, FORMS, _form_rows, _lever, deep_side,  # noqa: E402
                                               fold_set_arguments, step_config, step_cv, step_table, step_validate)

log = logging.getLogger("experiments.cinc2017.window_lever")
STEPS = ("config", "pretrain", "table", "cv", "validate")
# --reference (SignalConfig.beat_reference of the set's beats) -> the set's column in --out-npz, the results key and
# the default --out-npz: "tq" the beat and the stretch before its QRS (af40); "tq_median" also that stretch less its
# level against the record's median stretch (af40b, signal.tq_against_median)
VARIANTS = {"tq": ("ecgsl_tq", "af_lever_window", "window_oof.npz"),
            "tq_median": ("ecgsl_tq_median", "af_lever_window_median", "window_median_oof.npz")}
KEEP_RULE = ("af38's rule: af_lever's rule (CV AF F1, mean over booster seeds, rises by more than the larger seed sd "
             "of the two rows; CV macro F1 does not fall by more than the larger seed sd) on booster seeds 42-44 "
             "against base AND on seeds 45-47 against base on those seeds; both forms kept: the higher CV AF F1 on "
             "42-44; validation only for the kept form (fixed before any figure)")
# --pretrain (af42): the set's fold models start from ECG-SL pre-trained on its own multi-channel beats (step
# pretrain); --reference -> (column, results key, table file, the information control: the same beats' fold set
# from the extended one-channel preset, its table and column, and the name of the paired differences)
PRETRAINED = {"tq_median": ("ecgsl_tq_median_pre", "af_lever_multich", "multich_oof.npz",
                            (HERE / "oof" / "window_median_oof.npz", "ecgsl_tq_median", "pretrained_minus_extended"))}
# --pretrain-start preset (af43): each pre-training stage starts from the preset extended to the set's channels
# (train --start-from PRESET); --reference -> (column, results key, table file, the information controls: (table,
# column, name of the paired differences) each)
PRETRAINED_PRESET = {"tq_median": ("ecgsl_tq_median_warm", "af_lever_multich_preset", "multich_preset_oof.npz",
                                   [(HERE / "oof" / "window_median_oof.npz", "ecgsl_tq_median", "warm_minus_extended"),
                                    (HERE / "oof" / "multich_oof.npz", "ecgsl_tq_median_pre", "warm_minus_scratch")])}
PRETRAIN_STARTS = {"scratch": "each stage from random weights (stage 2: the stage-1 beat encoder)",
                   "preset": "each stage from the encoder preset's weights by layer name, the beat encoder's first "
                             "convolution extended with zero kernels for the new channels (train --start-from "
                             "encoder); stage 2 keeps the stage-1 beat encoder, its frozen copy as the target and "
                             "the target statistics (Stage.start_keeps), the temporal encoder and masked heads "
                             "from the preset; the autoencoder's decoder from random weights"}
PRETRAIN_SCHEDULE = {"autoencoder_epochs": 3, "masked_epochs": 5, "seed": 42, "batch_size": 32,
                     "config": "the encoder preset's ExperimentConfig (model and train), beat_channels from the data",
                     "records": "the training split's records of --prepared (no validation-split record, no label)",
                     "weights_kept": "each stage's model.keras: its epoch of lowest training loss (no validation "
                                     "split; the checkpoint follows the training loss)",
                     # PRETRAIN: the run's --pretrain folder, put in when the schedule is written (af43's text named
                     # af42's folder before run af44 corrected it)
                     "fine_tune": "hybrid.py --steps folds finetune deep --deep-seed 42 --epochs 10 "
                                  "--init-from PRETRAIN/masked (af40b's folds and schedule)"}
PRESET = "encoder"
# information only: af38's other sets of the same folds and schedule, alone out of fold (table step)
OTHER_SETS = {"ecgsl_relative": HERE / "oof" / "relative_oof.npz", "ecgsl_plain": HERE / "oof" / "plain_retrain_oof.npz"}


def other_sets_alone(table_npz: Path, extra: dict | None = None) -> dict:
    """af38's relative and plain retrained sets (and ``extra``: {column: table}) alone, out of fold on the training
    split, on the records of ``table_npz`` (argmax; the same scores as ``write_table``'s)."""
    ours = np.load(table_npz)
    train = ours["split"].astype(str) == "train"
    ids, y = ours["record_id"].astype(str)[train], ours["label"][train].astype(int)
    out = {}
    for key, path in {**OTHER_SETS, **(extra or {})}.items():
        if not path.is_file():
            continue
        data = np.load(path)
        row = {r: i for i, r in enumerate(data["record_id"].astype(str))}
        out[key] = _metrics(y, data[key][[row[r] for r in ids]].astype(np.float64).argmax(-1))
    return out


def tq_minus_plain(args, cv, key, control_key="ecgsl_plain", name="tq_minus_plain") -> dict:
    """Information: each form with the control set (``--control-npz``, column ``control_key``; af38's plain retrained
    set by default) in place of this set (column ``key``; the same cached boosters), and the paired per-seed
    differences this set minus the control (``cv``: the cv step's rows), under ``name``."""
    lever, sets = _lever(args, control=True, key=key, control_key=control_key)
    out = {}
    for form in FORMS:
        plain = {k: v for k, v in sets["train"].items() if k != "plain"}
        plain["relative"] = sets["train"]["plain"]
        rows = _form_rows(lever, deep_side(form, **plain), cv["base"])
        ours = cv["forms"][form]
        rows[name] = paired(ours["42-44"]["runs"] + ours["45-47"]["runs"], rows["42-44"]["runs"] + rows["45-47"]["runs"])
        out[form] = rows
        log.info("control %s: AF %.4f / %.4f; %s: AF %+.4f macro %+.4f", form, rows["42-44"]["af_f1"]["mean"],
                 rows["45-47"]["af_f1"]["mean"], name, rows[name]["af_f1"]["mean"], rows[name]["macro_f1"]["mean"])
    return out


def _train_stage(work: Path, stage: str, argv: list) -> dict:
    """``ecgsl_keras.train --stage stage`` into ``work/stage`` (resumed when killed, skipped when finished); its run
    summary: epochs, seconds, seconds per epoch, the last loss."""
    run_dir = work / stage
    config = run_dir / "config.json"
    if not (config.is_file() and json.loads(config.read_text()).get("status") == "finished"):
        log_path = work / "logs" / f"{stage}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log.info("pretrain: %s (log %s)", stage, log_path)
        with open(log_path, "a", encoding="utf-8") as f:
            subprocess.run([sys.executable, "-m", "ecgsl_keras.train", "--stage", stage, "--run-dir", str(run_dir),
                            "--verbose", "2", *argv], check=True, cwd=REPO, stdout=f, stderr=subprocess.STDOUT,
                           env=dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2"))
    info = json.loads(config.read_text())
    text = (work / "logs" / f"{stage}.log").read_text() if (work / "logs" / f"{stage}.log").is_file() else ""
    losses = [float(v) for v in re.findall(r"^\d+/\d+ - \d+s - .*? loss: ([0-9.e+-]+)", text, re.M)]
    return {"status": info.get("status"), "epochs": info.get("epochs_completed"), "seconds": info.get("seconds"),
            "seconds_per_epoch": round(info["seconds"] / info["epochs_completed"], 1)
            if info.get("seconds") and info.get("epochs_completed") else None,
            "epoch_seconds": [int(v) for v in re.findall(r"^\d+/\d+ - (\d+)s - ", text, re.M)],
            "loss_per_epoch": losses, "data_splits": info.get("data_splits")}


def step_pretrain(args) -> dict:
    """af42's pre-training (``PRETRAIN_SCHEDULE``) on the training split's multi-channel beats of ``--prepared``,
    from random weights or (``--pretrain-start preset``, af43) from the ``encoder`` preset extended to them."""
    from ecgsl_keras.training import oof

    work = Path(args.pretrain)
    data, config = work / "data", work / "config.json"
    labels = oof.read_record_labels(args.prepared, "train")      # ids only: the labels are not used
    ids = oof.write_fold_data(args.prepared, data, {r: 0 for r in labels}, -1)   # fold -1: all in train
    if ids["validation"]:
        raise SystemExit(f"error: {data}: the pre-training data hold validation records")
    if not config.is_file():
        preset = json.loads((REPO / "ecgsl_keras" / "presets" / PRESET / "config.json").read_text())
        config.write_text(json.dumps(preset["experiment_config"], indent=1) + "\n")
    common = ["--data", str(data), "--config", str(config), "--seed", str(PRETRAIN_SCHEDULE["seed"]),
              "--batch-size", str(PRETRAIN_SCHEDULE["batch_size"])]
    if args.pretrain_start == "preset":
        common += ["--start-from", PRESET]
    out = {"records": len(ids["train"]), "data": str(data)}
    out["autoencoder"] = _train_stage(work, "autoencoder",
                                      common + ["--epochs", str(PRETRAIN_SCHEDULE["autoencoder_epochs"])])
    out["masked"] = _train_stage(work, "masked", common + ["--epochs", str(PRETRAIN_SCHEDULE["masked_epochs"]),
                                                           "--init-from", str(work / "autoencoder")])
    return out


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    fold_set_arguments(p, "tq", STEPS)
    p.add_argument("--reference", choices=tuple(VARIANTS), default="tq", help="the set's beat_reference (VARIANTS)")
    p.add_argument("--out-npz", type=Path, help="the set's table (default: oof/<VARIANTS' file>)")
    p.add_argument("--control-npz", type=Path, default=OTHER_SETS["ecgsl_plain"],
                   help="af38's plain retrained set's table (cv step, information)")
    p.add_argument("--pretrain", type=Path, help="af42: the set's fold models start from ECG-SL pre-trained on its "
                   "own multi-channel beats in this folder (step pretrain; PRETRAINED, PRETRAIN_SCHEDULE)")
    p.add_argument("--pretrain-start", choices=tuple(PRETRAIN_STARTS), default="scratch",
                   help="with --pretrain: what each pre-training stage starts from (af43: preset; PRETRAIN_STARTS)")
    p.add_argument("--out", type=Path, default=HERE / "af40_results.json")
    args = p.parse_args(argv)
    key, result_key, npz_name = VARIANTS[args.reference]
    controls = [(args.control_npz, "ecgsl_plain", "tq_minus_plain")]
    if args.pretrain is not None:
        if args.reference not in PRETRAINED:
            raise SystemExit(f"error: --pretrain is written for --reference {' / '.join(PRETRAINED)}")
        if args.pretrain_start == "preset":
            key, result_key, npz_name, controls = PRETRAINED_PRESET[args.reference]
        else:
            key, result_key, npz_name, control = PRETRAINED[args.reference]
            controls = [control]
    elif "pretrain" in args.steps:
        raise SystemExit("error: the pretrain step needs --pretrain")
    elif args.pretrain_start != "scratch":
        raise SystemExit("error: --pretrain-start is for --pretrain")
    args.out_npz = args.out_npz or HERE / "oof" / npz_name
    saved = json.loads(args.out.read_text()) if args.out.is_file() else {}
    result = saved.get(result_key, {})
    result["keep_rule"] = KEEP_RULE      # written before any figure of the steps below
    result["beat_reference"] = args.reference
    name = f"{args.reference} ECG-SL" + ("" if args.pretrain is None else " pre-trained on its beats" if
                                         args.pretrain_start == "scratch" else " preset, pre-training continued on its beats")
    result["forms"] = {"base": "mean(ECG-SL, ResNet)", "replace": f"mean({name}, ResNet)",
                       "add": f"mean(ECG-SL, ResNet, {name})"}
    if args.pretrain is not None:
        result["pretrain_schedule"] = dict(PRETRAIN_SCHEDULE, start=PRETRAIN_STARTS[args.pretrain_start],
                                           fine_tune=PRETRAIN_SCHEDULE["fine_tune"].replace("PRETRAIN",
                                                                                            str(args.pretrain)))
    saved[result_key] = result
    args.out.write_text(json.dumps(saved, indent=1) + "\n")

    def run(step):
        if step == "config":
            if not (args.config_from and args.config_out):
                raise SystemExit("error: the config step needs --config-from and --config-out")
            result["config"] = step_config(args, args.reference)
        elif step == "pretrain":
            if args.prepared is None:
                raise SystemExit("error: the pretrain step needs --prepared (the set's prepared folder)")
            result["pretrain"] = step_pretrain(args)
        elif step == "table":
            if args.hybrid is None:
                raise SystemExit("error: the table step needs --hybrid (hybrid.py's work folder of the fold set)")
            result["table"] = step_table(args, key)
            result["table"]["alone_oof_train"].update(other_sets_alone(args.out_npz, {c[1]: c[0] for c in controls}))
        elif step == "cv":
            if not args.out_npz.is_file():
                raise SystemExit(f"error: {args.out_npz}: no such file (the table step writes it)")
            result["cv"] = step_cv(args, key)
            for table, column, diff in controls:
                args.control_npz = table
                result["cv"][diff] = tq_minus_plain(args, result["cv"], key, column, diff)
        else:
            if "cv" not in result:
                raise SystemExit("error: the validate step needs the cv step's choice (run --steps cv first)")
            result["validation"] = step_validate(args, result["cv"]["chosen"], key=key)

    timed_steps(args.steps, run, result, saved, result_key, args.out, log)
    return finish_chosen_lever(args.out, saved, result_key, result, "window_lever.py", argv, AF_TARGET)


if __name__ == "__main__":
    sys.exit(main())
