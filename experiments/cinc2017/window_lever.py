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

Last stdout line one JSON object; ``--out`` (``experiments/cinc2017/af40_results.json``) key ``af_lever_window``.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.cinc2017.features import _metrics  # noqa: E402
from experiments.cinc2017.oof_table import (DEFAULT_FEATURES_NPZ, DEFAULT_NPZ, finish_chosen_lever,  # noqa: E402
                                          timed_steps)
from experiments.cinc2017.af_lever import paired  # noqa: E402
from experiments.cinc2017.relative_lever import (AF_TARGET, FORMS, _form_rows, _lever, deep_side,  # noqa: E402
                                               step_config, step_cv, step_table, step_validate)

log = logging.getLogger("experiments.cinc2017.window_lever")
STEPS = ("config", "table", "cv", "validate")
# --reference (SignalConfig.beat_reference of the set's beats) -> the set's column in --out-npz, the results key and
# the default --out-npz: "tq" the beat and the stretch before its QRS (af40); "tq_median" also that stretch less its
# level against the record's median stretch (af40b, signal.tq_against_median)
VARIANTS = {"tq": ("ecgsl_tq", "af_lever_window", "window_oof.npz"),
            "tq_median": ("ecgsl_tq_median", "af_lever_window_median", "window_median_oof.npz")}
KEEP_RULE = ("af38's rule: af_lever's rule (CV AF F1, mean over booster seeds, rises by more than the larger seed sd "
             "of the two rows; CV macro F1 does not fall by more than the larger seed sd) on booster seeds 42-44 "
             "against base AND on seeds 45-47 against base on those seeds; both forms kept: the higher CV AF F1 on "
             "42-44; validation only for the kept form (fixed before any figure)")
# information only: af38's other sets of the same folds and schedule, alone out of fold (table step)
OTHER_SETS = {"ecgsl_relative": HERE / "oof" / "relative_oof.npz", "ecgsl_plain": HERE / "oof" / "plain_retrain_oof.npz"}


def other_sets_alone(table_npz: Path) -> dict:
    """af38's relative and plain retrained sets alone, out of fold on the training split, on the records of
    ``table_npz`` (argmax; the same scores as ``write_table``'s)."""
    ours = np.load(table_npz)
    train = ours["split"].astype(str) == "train"
    ids, y = ours["record_id"].astype(str)[train], ours["label"][train].astype(int)
    out = {}
    for key, path in OTHER_SETS.items():
        if not path.is_file():
            continue
        data = np.load(path)
        row = {r: i for i, r in enumerate(data["record_id"].astype(str))}
        out[key] = _metrics(y, data[key][[row[r] for r in ids]].astype(np.float64).argmax(-1))
    return out


def tq_minus_plain(args, cv, key) -> dict:
    """Information: each form with the plain retrained set in place of the tq set (column ``key``; the same cached
    boosters), and the paired per-seed differences tq minus plain (``cv``: the cv step's rows)."""
    lever, sets = _lever(args, control=True, key=key)
    out = {}
    for form in FORMS:
        plain = {k: v for k, v in sets["train"].items() if k != "plain"}
        plain["relative"] = sets["train"]["plain"]
        rows = _form_rows(lever, deep_side(form, **plain), cv["base"])
        ours = cv["forms"][form]
        rows["tq_minus_plain"] = paired(ours["42-44"]["runs"] + ours["45-47"]["runs"],
                                        rows["42-44"]["runs"] + rows["45-47"]["runs"])
        out[form] = rows
        log.info("plain %s: AF %.4f / %.4f; tq minus plain: AF %+.4f macro %+.4f", form, rows["42-44"]["af_f1"]["mean"],
                 rows["45-47"]["af_f1"]["mean"], rows["tq_minus_plain"]["af_f1"]["mean"],
                 rows["tq_minus_plain"]["macro_f1"]["mean"])
    return out


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hybrid", type=Path, help="hybrid.py's work folder of the tq fold set (table step)")
    p.add_argument("--work", type=Path, required=True, help="af_lever's work folder (its booster cache)")
    p.add_argument("--steps", nargs="*", choices=STEPS, default=list(STEPS))
    p.add_argument("--deep-oof", type=Path, default=DEFAULT_NPZ)
    p.add_argument("--features", type=Path, default=DEFAULT_FEATURES_NPZ)
    p.add_argument("--config-from", type=Path, help="config step: the manifest of the shipped form's prepared folder")
    p.add_argument("--config-out", type=Path, help="config step: the prepare config to write")
    p.add_argument("--prepared", type=Path, help="the prepared folder the fold set trained on (table step: its counts)")
    p.add_argument("--reference", choices=tuple(VARIANTS), default="tq", help="the set's beat_reference (VARIANTS)")
    p.add_argument("--out-npz", type=Path, help="the set's table (default: oof/<VARIANTS' file>)")
    p.add_argument("--control-npz", type=Path, default=OTHER_SETS["ecgsl_plain"],
                   help="af38's plain retrained set's table (cv step, information)")
    p.add_argument("--out", type=Path, default=HERE / "af40_results.json")
    args = p.parse_args(argv)
    key, result_key, npz_name = VARIANTS[args.reference]
    args.out_npz = args.out_npz or HERE / "oof" / npz_name
    saved = json.loads(args.out.read_text()) if args.out.is_file() else {}
    result = saved.get(result_key, {})
    result["keep_rule"] = KEEP_RULE      # written before any figure of the steps below
    result["beat_reference"] = args.reference
    result["forms"] = {"base": "mean(ECG-SL, ResNet)", "replace": f"mean({args.reference} ECG-SL, ResNet)",
                       "add": f"mean(ECG-SL, ResNet, {args.reference} ECG-SL)"}
    saved[result_key] = result
    args.out.write_text(json.dumps(saved, indent=1) + "\n")

    def run(step):
        if step == "config":
            if not (args.config_from and args.config_out):
                raise SystemExit("error: the config step needs --config-from and --config-out")
            result["config"] = step_config(args, args.reference)
        elif step == "table":
            if args.hybrid is None:
                raise SystemExit("error: the table step needs --hybrid (hybrid.py's work folder of the fold set)")
            result["table"] = step_table(args, key)
            result["table"]["alone_oof_train"].update(other_sets_alone(args.out_npz))
        elif step == "cv":
            if not args.out_npz.is_file():
                raise SystemExit(f"error: {args.out_npz}: no such file (the table step writes it)")
            result["cv"] = step_cv(args, key)
            result["cv"]["tq_minus_plain"] = tq_minus_plain(args, result["cv"], key)
        else:
            if "cv" not in result:
                raise SystemExit("error: the validate step needs the cv step's choice (run --steps cv first)")
            result["validation"] = step_validate(args, result["cv"]["chosen"], key=key)

    timed_steps(args.steps, run, result, saved, result_key, args.out, log)
    return finish_chosen_lever(args.out, saved, result_key, result, "window_lever.py", argv, AF_TARGET)


if __name__ == "__main__":
    sys.exit(main())
