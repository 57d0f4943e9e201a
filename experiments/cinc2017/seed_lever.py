"""Issue 18, AF lever af39: several training seeds of the ECG-SL fold set on the deep side of the shipped ``cinc2017``
form (the 118-column booster averaged with the deep side, deep weight 0.5). No training: the committed tables only.

    python experiments/cinc2017/seed_lever.py --work WORK/lever [--steps cv validate]

(WORK/lever: af38's booster cache, ``relative_lever.py --work``; the boosters are refitted when it is absent.)

Why this lever: each ECG-SL fold set is one training seed, and a retrained set differs from the committed one by
about 0.01 macro F1 alone (af38's control: the plain set retrained on today's beats, 0.706 / AF 0.736 against the
committed set's 0.693 / 0.716); the booster seeds' spread does not hold that noise. Averaging training seeds shrinks
it at the cost of more fold models in the preset.

The ECG-SL members (all the same 5 folds, ``stacking.assign_folds`` k=5 seed 42, the shipped 10-epoch schedule from
the ``encoder`` preset, out of fold on the training split; validation: each set's mean of its 5 fold models):
``ecgsl`` the committed set (``oof/deep_oof.npz``, the preset's fold members), ``plain`` the plain one-channel set
retrained in af38 (``oof/plain_retrain_oof.npz``), ``relative`` af38's relative set (``oof/relative_oof.npz``,
beats with the median reference channel: another training of ECG-SL, on a richer input).

``cv``        5-fold CV of the shipped recipe on the training split only (``relative_lever``'s rows: af_lever's
              ``Lever`` on the committed inputs, its cached booster out-of-fold outputs per seed; only the deep side
              changes between rows), booster seeds 42-44 and 45-47:
              ``base``      deep side = mean(ECG-SL, ResNet) (the shipped recipe);
              ``seeds2``    (a) deep side = mean(mean(ECG-SL, plain), ResNet): two ECG-SL seeds;
              ``seeds3``    (b) deep side = mean(mean(ECG-SL, plain, relative), ResNet): three ECG-SL members.
              Information (chooses nothing): the ECG-SL side alone (argmax, out of fold) for each row.
``validate``  validation (1,364 records) ONLY for a kept row, and the shipped recipe on the same boosters (booster
              fitted on the whole training split per seed 42-44, averaged with each set's mean of its fold models).

KEEP RULE (fixed before any figure; af38's rule): af_lever's rule (``Lever.beats``: the CV AF F1, mean over booster
seeds, rises by more than the larger seed sd of the two rows, and the CV macro F1 does not fall by more than the
larger seed sd) on seeds 42-44 against ``base`` AND on seeds 45-47 against ``base`` on those seeds; a row is kept only
if both hold; both kept: the higher CV AF F1 on 42-44. Validation only for the kept row. Shipping a kept row needs
the plain fold models (and for ``seeds3`` the relative ones) in the preset: a later step, not this one.

Last stdout line one JSON object; ``--out`` (``experiments/cinc2017/af39_results.json``) key ``af_lever_seeds``.
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
from experiments.cinc2017.relative_lever import AF_TARGET, SEED_FORMS, _lever, cv_forms, step_validate  # noqa: E402

log = logging.getLogger("experiments.cinc2017.seed_lever")
STEPS = ("cv", "validate")
ROWS = tuple(SEED_FORMS)     # seeds2 (a), seeds3 (b)
KEEP_RULE = ("af38's rule: af_lever's rule (CV AF F1, mean over booster seeds, rises by more than the larger seed sd "
             "of the two rows; CV macro F1 does not fall by more than the larger seed sd) on booster seeds 42-44 "
             "against base AND on seeds 45-47 against base on those seeds; both rows kept: the higher CV AF F1 on "
             "42-44; validation only for the kept row (fixed before any figure)")


def ecgsl_side(form: str, sets: dict) -> np.ndarray:
    """The ECG-SL side of a row alone (the mean of its members; ``base``: the committed set)."""
    return np.mean([sets[m] for m in SEED_FORMS.get(form, ("ecgsl",))], axis=0)


def step_cv(args) -> dict:
    lever, sets = _lever(args, control=True)
    out = {"base": {}, "rows": {}, "ecgsl_side_alone_oof_train": {}}
    y = lever.y["train"]
    for form in ("base",) + ROWS:   # information: the ECG-SL side alone, argmax, out of fold
        out["ecgsl_side_alone_oof_train"][form] = _metrics(y, ecgsl_side(form, sets["train"]).argmax(-1))
    cv_forms(lever, sets, ROWS, out, "rows")
    return out


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, required=True, help="af_lever's work folder (its booster cache)")
    p.add_argument("--steps", nargs="*", choices=STEPS, default=list(STEPS))
    p.add_argument("--deep-oof", type=Path, default=DEFAULT_NPZ)
    p.add_argument("--features", type=Path, default=DEFAULT_FEATURES_NPZ)
    p.add_argument("--out-npz", type=Path, default=HERE / "oof" / "relative_oof.npz", help="the relative set's table")
    p.add_argument("--control-npz", type=Path, default=HERE / "oof" / "plain_retrain_oof.npz",
                   help="the plain retrained set's table")
    p.add_argument("--out", type=Path, default=HERE / "af39_results.json")
    args = p.parse_args(argv)
    for path in (args.out_npz, args.control_npz):
        if not path.is_file():
            raise SystemExit(f"error: {path}: no such file (relative_lever.py --steps table / control writes it)")
    saved = json.loads(args.out.read_text()) if args.out.is_file() else {}
    result = saved.get("af_lever_seeds", {})
    result["keep_rule"] = KEEP_RULE      # written before any figure of the steps below
    result["members"] = {"base": ["ecgsl"], **{f: list(m) for f, m in SEED_FORMS.items()}}
    saved["af_lever_seeds"] = result
    args.out.write_text(json.dumps(saved, indent=1) + "\n")
    def run(step):
        if step == "cv":
            result["cv"] = step_cv(args)
        else:
            if "cv" not in result:
                raise SystemExit("error: the validate step needs the cv step's choice (run --steps cv first)")
            result["validation"] = step_validate(args, result["cv"]["chosen"], control=True)

    timed_steps(args.steps, run, result, saved, "af_lever_seeds", args.out, log)
    return finish_chosen_lever(args.out, saved, "af_lever_seeds", result, "seed_lever.py", argv, AF_TARGET)


if __name__ == "__main__":
    sys.exit(main())
