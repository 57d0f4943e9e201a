"""af64 (issue 18): the periodicity of the record's RR series as extra columns of the shipped ``cinc2017`` booster.

    python experiments/cinc2017/rr_periodicity.py --work WORK --cinc-dir CINC --steps plan extract cv \
        --out experiments/cinc2017/af64_results.json

Why, and not blind: af57's ``gap_records`` found the validation split's false AF calls to be mostly Other records
that every member reads as AF, and a look at their pages (RESULTS.md) saw about half of them as organised rhythms,
several a premature beat every few beats (a periodic tachogram), which a Lorenz plot does not show and the
``rhythm`` group's organisation columns do not separate (a look at the training records the recipe calls AF: their
quartiles are the same for true AF and true Other). A look at the same training records (seed 42's CV calls; no
validation record) found the share of the RR series' variance in its largest periodogram bin to rank true Other
above true AF (AUROC 0.68 among the records called AF) and to add to the recipe's own ranking there (logistic
regression, 5-fold: AUROC 0.788 -> 0.803). AF's RR series is close to white noise; a premature beat every k beats,
grouped beating or a varying conduction ratio concentrates it at one period. The ``rhythm`` group's ``rhy_acf1-3``
reach lag 3 only, and no column looks at the spectrum of the RR series in beats.

``plan``     the plan (``af64_plan.json``), before any figure.
``extract``  ``periodicity_columns`` for every CinC record (``oof_table.extract_columns``; resumable): WORK/rrp.npz.
``cv``       ``af_lever.variants_cv``: the booster over the 118 columns and the variant's columns, averaged with the
             deep side as shipped, against the shipped recipe (af36's keep rule; VARIANTS, PRIMARY).

Last stdout line one JSON object (key ``rr_periodicity`` of ``--out``).
"""
from __future__ import annotations

import functools
import logging
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from experiments.cinc2017.af_lever import BASE, FRESH, SEEDS, PlannedLever, af36_keep_rule, variants_cv  # noqa: E402
from experiments.cinc2017.oof_table import (cinc_dir_argument, detector_rr, extract_block,  # noqa: E402
                                             extract_columns, lever_main, table_rows)

log = logging.getLogger("experiments.cinc2017.rr_periodicity")
STEPS = ("plan", "extract", "cv")
PLAN_PATH = HERE / "af64_plan.json"
MIN_RR = 12            # fewer RR intervals: every column NaN (LightGBM takes NaN natively)
MAX_LAG = 6
NAMES = ("rrp_peak_fraction", "rrp_peak_period_beats", "rrp_flatness", "rrp_acf4", "rrp_acf_max_2_6")
MEANINGS = {
    "rrp_peak_fraction": "share of the mean-removed RR series' periodogram (in beats, DC left out) in its largest bin",
    "rrp_peak_period_beats": "the period of that bin in beats (series length / bin index)",
    "rrp_flatness": "spectral flatness of that periodogram (geometric over arithmetic mean; white noise about 0.56)",
    "rrp_acf4": "autocorrelation of the RR series at lag 4",
    "rrp_acf_max_2_6": "largest |autocorrelation| of the RR series over lags 2 to 6",
}
VARIANTS = {"periodicity": "the 5 columns (PRIMARY)", "peak_only": "rrp_peak_fraction alone (information)"}
PRIMARY = "periodicity"
KEEP_RULE = af36_keep_rule("periodicity", "validation and a preset only if kept")
PLAN = {"lever": "af64 the periodicity of the RR series (in beats) as booster columns", "blind": False,
        "why": "af57 gap_records and the look at the validation split's unanimous Other-called-AF records (organised, "
               "periodic premature beats); a look at the training records the recipe calls AF (AUROC 0.68 of the "
               "peak share, 0.788 -> 0.803 beside the recipe's ranking)",
        "columns": MEANINGS, "min_rr": MIN_RR, "rpeaks": "signal.find_rpeaks on signal.clean (record_features' "
        "detector, default SignalConfig), RR = successive differences in s", "variants": VARIANTS,
        "primary": PRIMARY, "params": "the shipped LightGBM setting (af_lever BASE)", "keep_rule": KEEP_RULE,
        "booster_seeds": {"primary": SEEDS, "fresh": FRESH}}


def periodicity(rr) -> np.ndarray:
    """The ``NAMES`` columns of an RR series (s, in beat order); NaN for every column under ``MIN_RR`` intervals
    or a constant series."""
    rr = np.asarray(rr, np.float64)
    out = np.full(len(NAMES), np.nan)
    if rr.size < MIN_RR or not np.isfinite(rr).all():
        return out
    z = rr - rr.mean()
    power = np.abs(np.fft.rfft(z))[1:] ** 2
    if power.sum() <= 0:
        return out
    k = int(np.argmax(power))
    acf = [float(np.corrcoef(z[:-lag], z[lag:])[0, 1]) for lag in range(2, MAX_LAG + 1)]
    out[:] = (power[k] / power.sum(), z.size / (k + 1), np.exp(np.mean(np.log(power + 1e-12))) / power.mean(),
              acf[2], np.nanmax(np.abs(acf)))
    return out


def periodicity_columns(signal, fs) -> np.ndarray:
    """``periodicity`` of the record's RR series, on record_features' R-peaks (a NaN row where the detector fails,
    as af_lever's hrv step)."""
    rr = detector_rr(signal, fs)
    if rr is None:
        return np.full(len(NAMES), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return periodicity(rr)


class RRPeriodicity(PlannedLever):
    PLAN, PLAN_PATH = PLAN, PLAN_PATH

    def step_extract(self, result):
        got = extract_columns(periodicity_columns, list(NAMES), self.args.features, self.args.deep_oof,
                              self.args.cinc_dir, self.work, self.work / "rrp.npz", log=log)
        result["extract"] = extract_block(got, self.work / "rrp.npz", self.ids, list(NAMES))

    @functools.cached_property
    def rrp_train(self) -> np.ndarray:
        """The periodicity table's training rows in ``self.ids``' order (a missing table stops the cv step first)."""
        return table_rows(self.work / "rrp.npz", self.ids)

    def booster_side(self, variant, seed) -> np.ndarray:
        keep = list(range(len(NAMES))) if variant == "periodicity" else [NAMES.index("rrp_peak_fraction")]
        X = np.concatenate([self.lever.X["train"].astype(np.float64), self.rrp_train[:, keep]], axis=1)
        return self.lever.oof(f"af64_{variant}", BASE, seed, X=X, names=list(self.lever.names) +
                              [NAMES[i] for i in keep])

    def step_cv(self, result):
        self.rrp_train
        result["cv"] = variants_cv(self.lever, VARIANTS, PRIMARY, KEEP_RULE, self.booster_side, "rr_periodicity")


def main(argv=None) -> int:
    return lever_main(__doc__, STEPS, "rr_periodicity", RRPeriodicity, KEEP_RULE, argv, extra=cinc_dir_argument)


if __name__ == "__main__":
    sys.exit(main())
