"""af41 (issue 18): the ``tq`` group of ``ecgsl_keras.data.record_features`` (record-level summaries of the stretch
before each QRS, ``signal.tq_stretch`` / ``signal.tq_against_median``) as extra columns of the shipped recipe's
feature booster, for ``af_lever.py``'s ``extra`` step (``--extra-features``).

    python experiments/cinc2017/tq_features.py --work /work/runs/s34-cinc-booster/tq \
        --out experiments/cinc2017/oof/tq_features.npz --results experiments/cinc2017/af41_results.json
    python experiments/cinc2017/af_lever.py --features experiments/cinc2017/oof/features118.npz \
        --deep-oof experiments/cinc2017/oof/deep_oof.npz --work WORK --steps base extra \
        --extra-features experiments/cinc2017/oof/tq_features.npz --out experiments/cinc2017/af41_results.json
    (then the same with --steps extra --extra-seeds 45 46 47)

Why: af40b gave ECG-SL each beat's stretch against the record's median stretch as an input channel; replacing the
ECG-SL set moved the CV AF F1 by +0.0030 (up on 6 of 6 booster seeds, under the keep rule's seed sd) and cost macro
F1 through the Noisy class. The same atrial evidence as a few record-level columns of the booster avoids the deep
side. The group (``record_features(..., groups="tq")``; off by default, in no shipped preset) has six columns, fixed
before any figure, documented in the library's ``FEATURES`` table: the median and IQR over beats of the share of
each stretch's power that the record's median stretch leaves unexplained, the fraction of beats where that share
exceeds 0.5 (``TQ_RESIDUAL_HIGH``), the median correlation of each stretch with the median stretch (P-wave
consistency), the median stretch's RMS and the residual's median RMS (robust-normalised units). NaN for the whole
group where fewer than 3 beats hold a stretch; LightGBM routes NaN by its learned default (no fill).

For every record of ``--features``' table (training records first): the raw lead and its rate through
``record_features`` (its own cleaning, R-peaks, 100 Hz resampling, normalisation and beat cut, as
``signal.preprocess``). Cache: one ``.npy`` row per record in WORK/rows (resumable); ms per record (all groups but
``ON_REQUEST_GROUPS`` are computed on the way: the group shares their R-peaks and beats) to WORK/timing.json.

KEEP RULE (fixed before any figure; af_lever's, as af27-af40): the columns are kept only if the CV AF F1 (mean over
booster seeds 42-44) rises beyond the larger seed sd of both rows and the CV macro F1 does not drop beyond it, AND the
same on fresh seeds 45-47 (``extra`` step with ``--extra-seeds 45 46 47``). Validation only if kept.

Last stdout line one JSON object (key ``tq_features`` of ``--results``).
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
from experiments.cinc2017.oof_table import (column_arguments, column_summary, extract_columns, save_results,  # noqa: E402
                                          train_rows)

log = logging.getLogger("tq_features")
KEEP_RULE = ("af_lever's rule: kept only if CV AF F1 (mean over booster seeds 42-44) rises beyond the larger seed sd "
             "of both rows and CV macro F1 does not drop beyond it, and the same on fresh seeds 45-47; validation "
             "only if kept (fixed before any figure)")


def names() -> tuple:
    from ecgsl_keras.data.record_features import feature_names

    return feature_names("tq")


def tq_columns(signal, fs) -> np.ndarray:
    """The ``tq`` group of one raw single-lead record (mV), in ``names()`` order."""
    from ecgsl_keras.data.record_features import record_features, to_vector

    return to_vector(record_features(signal, fs, groups="tq"), names())


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    column_arguments(p, "tq_features")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    cols = names()
    if args.results:     # the rule in the results JSON before any figure
        save_results(args.results, "tq_features", {"names": list(cols), "keep_rule": KEEP_RULE})
    got = extract_columns(tq_columns, cols, args.features, args.deep_oof, args.cinc_dir, args.work, args.out,
                          args.limit, log)
    X = got["X"]
    result = {"records": len(got["ids"]), "records_done": len(got["done"]), "names": list(cols),
              **column_summary(got, cols), "keep_rule": KEEP_RULE,
              "command": "python experiments/cinc2017/tq_features.py " + " ".join(argv or sys.argv[1:])}
    train, y = train_rows(got)
    if train:
        result["train_class_median"] = {n: {c: round(float(np.nanmedian(X[train][y == c, j])), 4)
                                            for c in sorted(set(y))} for j, n in enumerate(cols)}
    if args.results:
        save_results(args.results, "tq_features", result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
