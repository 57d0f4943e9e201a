"""Run s37 (issue 21) diagnosis: block21's false beats and misses at run s36's combination (record templates + run
s34's blocked-P-wave check; experiments/rpeaks/templates_combo.py), counted on every DS1 record and the four rhythms
built from it (``bench.rhythms.build``, seed = record number; 150 ms), before any grid of this run ran.

    python experiments/rpeaks/post_wide_diag.py --data-dir /work/shared/data/mitdb --out benchmarks/results/rpeaks_s37_diagnosis.json

1. **Misses** (``missed``, block21 and normal for the same records): per record with the most, how many the primary
   detector proposed (a peak of its within 150 ms; the rest no guard rule can bring back), how many lie under 0.35 s
   from a kept peak before (after) them, and the quartiles of their QRS amplitude over the guard's reference.
2. **T waves after wide beats** (``post_wide``): for the rule "a kept peak under ``lag`` s after a kept peak at least
   ``width`` x as wide as the median of the 8 each side (``qrs_shapes``), under ``amplitude`` x its QRS amplitude and
   under ``sharpness`` x its sharpness", the true and false beats it would drop per rhythm.
Prints one JSON object last.
"""
from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
from pathlib import Path

import numpy as np

from ecgsl_keras import tasks
from ecgsl_keras.data import rpeak_guard as G

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import blocked_p_diag as D  # noqa: E402
import templates_combo  # noqa: E402

log = logging.getLogger("experiments.rpeaks.post_wide_diag")
RHYTHMS = ("normal", "block21", "pause", "bigeminy")
POINT = f"{templates_combo.S33}__{templates_combo.TEMPLATES}__bp0.8_o0.95_m0.06_u0.9_after0.5"
RULES = list(itertools.product((0.3, 0.45), (1.5, 2.0), (0.4, 0.5), (0.9, 1.2, None)))
MISS_RECORDS = ("203", "208", "116", "205", "108")


def rule_key(rule) -> str:
    """A rule's JSON key: its four values joined by "_" (no space: docs/render_figures.py's markers split on spaces)."""
    return "_".join(str(v) for v in rule)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    config, constants = {n: (c, k) for n, c, k in templates_combo.points()}[POINT]
    drops = {rule_key(rule): {r: [0, 0] for r in RHYTHMS} for rule in RULES}
    false_beats = {r: 0 for r in RHYTHMS}
    missed = {}
    for rid in tasks.MITDB_DS1:
        for rhythm in RHYTHMS:
            b = D.run_signal(args.data_dir, rid, rhythm, config, constants)
            x, fs, peaks, m, built = b["x"], b["fs"], b["peaks"], b["m"], b["built"]
            true = np.zeros(peaks.size, bool)
            true[m["matched"][:, 1]] = True
            false_beats[rhythm] += int((~true).sum())
            amplitude, sharpness, width = G.qrs_shapes(x, peaks, fs)
            median_width = G._neighbour_percentile(peaks, width, peaks, 8, 50.0)
            i = np.arange(1, peaks.size)
            lag = (peaks[i] - peaks[i - 1]) / fs
            for rule in RULES:
                most_lag, least_width, most_amplitude, most_sharpness = rule
                drop = ((lag < most_lag) & (width[i - 1] >= least_width * median_width[i])
                        & (amplitude[i] < most_amplitude * amplitude[i - 1]))
                if most_sharpness is not None:
                    drop &= sharpness[i] < most_sharpness * sharpness[i - 1]
                drops[rule_key(rule)][rhythm][0] += int((drop & true[i]).sum())
                drops[rule_key(rule)][rhythm][1] += int((drop & ~true[i]).sum())
            if rid in MISS_RECORDS and rhythm in ("normal", "block21"):
                beats, primary = built["beats"], b["primary"]
                fn = beats[np.setdiff1d(np.arange(beats.size), m["matched"][:, 0])]
                if fn.size == 0:
                    continue
                proposed = np.abs(primary[None, :] - fn[:, None]).min(axis=1) <= 0.15 * fs
                k = np.searchsorted(peaks, fn)
                before = (fn - peaks[np.clip(k - 1, 0, None)]) / fs
                after = (peaks[np.clip(k, 0, peaks.size - 1)] - fn) / fs
                kept_amplitude = G.qrs_amplitudes(x, peaks, fs)
                reference = G._neighbour_percentile(peaks, kept_amplitude, fn, 8, 75.0)
                arel = G.qrs_amplitudes(x, fn, fs) / reference
                missed[f"{rid}|{rhythm}"] = {"missed": int(fn.size), "proposed": int(proposed.sum()),
                                             "kept_peak_before_under_0.35s": int((before < 0.35).sum()),
                                             "kept_peak_after_under_0.35s": int((after < 0.35).sum()),
                                             "amplitude_over_reference_q25_50_75":
                                                 [round(float(v), 2) for v in np.percentile(arel, [25, 50, 75])]}
        log.info("%s done", rid)
    result = {"experiment": "rpeaks_s37_diagnosis", "point": POINT, "records": list(tasks.MITDB_DS1),
              "command": " ".join(["python", "experiments/rpeaks/post_wide_diag.py"] + list(argv if argv is not None else sys.argv[1:])),
              "false_beats": false_beats, "missed": missed,
              "post_wide": {"rule": "lag s under _ width x median at least _ amplitude x the wide beat's under _ "
                                    "sharpness x its under or None: [true, false] beats dropped per rhythm",
                            "drops": drops}}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"false_beats": false_beats, "missed": missed,
                      "drops_0.3_1.5_0.4_1.2": drops[rule_key((0.3, 1.5, 0.4, 1.2))]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
