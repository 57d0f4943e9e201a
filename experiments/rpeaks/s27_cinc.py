"""What the issue-21 options of run s27 change on CinC 2017 records (no beat annotations): the deep rescue
(``SignalConfig.rpeak_rescue_deep``), the P-wave check (``rpeak_guard_p_wave``), the negative-QRS fallback taken last
(``rpeak_mindelay_keep="prominent_negative_last"``) and the three together, each against ``prominent`` alone.

    python experiments/rpeaks/s27_cinc.py --data-dir /work/shared/data/cinc2017/training2017 --limit 500 \\
        > benchmarks/results/rpeaks_loro_s27_cinc2017.json

For the first ``--limit`` records of ``RECORDS``: ``signal.find_rpeaks`` with each setting. Reported per option and
per label: records changed, peaks removed / added (a peak moved counts as one of each), added peaks inside an
ordinary RR interval of the ``prominent`` peaks (under 1.4 x the record's median RR: suspect, a T wave or noise
between two beats, rather than a missed beat in a long gap), and added peaks whose QRS amplitude is under 0.25 x
the record's median (small: a scaled normal beat of bigeminy, or noise).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import signal as S

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prominent_cinc import cinc_records, read_cleaned  # noqa: E402

BASE = SignalConfig(rpeak_mindelay_keep="prominent")
OPTIONS = {"deep_rescue": SignalConfig(rpeak_mindelay_keep="prominent", rpeak_rescue_deep=0.2),
           "p_wave_check": SignalConfig(rpeak_mindelay_keep="prominent", rpeak_guard_p_wave=1.0),
           "negative_last": SignalConfig(rpeak_mindelay_keep="prominent_negative_last"),
           "chosen_s27": SignalConfig(rpeak_mindelay_keep="prominent_negative_last", rpeak_rescue_deep=0.2,
                                      rpeak_guard_p_wave=1.0)}
KEYS = ("records", "changed", "peaks_prominent", "removed", "added", "added_inside_ordinary_rr", "added_small")


def compare(data_dir, ids, labels, base_config, options: dict, changed_records=None) -> tuple:
    """(totals, per_label) of each option's ``find_rpeaks`` against ``base_config``'s on the records ``ids`` (the
    ``KEYS`` counts). ``changed_records``, a dict, receives per option the records it changed: id -> (label, peaks
    removed, peaks added, added inside an ordinary RR interval)."""
    totals = {name: dict.fromkeys(KEYS, 0) for name in options}
    per_label = {name: {} for name in options}
    for rid in ids:
        x, fs, cleaned = read_cleaned(data_dir, rid)
        base = S.find_rpeaks(x, fs, base_config, cleaned=cleaned)
        rr = np.diff(base)
        median_rr = float(np.median(rr)) if rr.size else np.inf
        median_amp = float(np.median(S.qrs_amplitudes(cleaned, base, fs))) if base.size else 0.0
        for name, config in options.items():
            peaks = S.find_rpeaks(x, fs, config, cleaned=cleaned)
            gone, came = np.setdiff1d(base, peaks), np.setdiff1d(peaks, base)
            position = np.searchsorted(base, came)
            inside = (position > 0) & (position < base.size)
            span = np.where(inside, base[np.clip(position, 0, base.size - 1)] - base[np.clip(position - 1, 0, base.size - 1)], 0)
            amp = S.qrs_amplitudes(cleaned, came, fs) if came.size else np.zeros(0)
            counts = {"records": 1, "changed": int(bool(gone.size or came.size)), "peaks_prominent": int(base.size),
                      "removed": int(gone.size), "added": int(came.size),
                      "added_inside_ordinary_rr": int(np.sum(inside & (span < 1.4 * median_rr))),
                      "added_small": int(np.sum(amp < 0.25 * median_amp))}
            row = per_label[name].setdefault(labels.get(rid, "?"), dict.fromkeys(KEYS, 0))
            for key, value in counts.items():
                totals[name][key] += value
                row[key] += value
            if changed_records is not None and counts["changed"]:
                changed_records.setdefault(name, {})[rid] = (labels.get(rid, "?"), counts["removed"], counts["added"],
                                                             counts["added_inside_ordinary_rr"])
    return totals, per_label


def main(argv=None):
    args, ids, labels = cinc_records(__doc__, argv)
    totals, per_label = compare(args.data_dir, ids, labels, BASE, OPTIONS)
    print(json.dumps({"experiment": "rpeaks_loro_s27_cinc2017", "records": len(ids), "scored_on": "first records of RECORDS",
                      "baseline": "rpeak_mindelay_keep='prominent'",
                      "options": {n: {f: getattr(c, f) for f in ("rpeak_mindelay_keep", "rpeak_rescue_deep", "rpeak_guard_p_wave")}
                                  for n, c in OPTIONS.items()},
                      "totals": totals, "per_label": per_label,
                      "command": "python experiments/rpeaks/s27_cinc.py --data-dir path/to/training2017 --limit %d" % args.limit}))


if __name__ == "__main__":
    main()
