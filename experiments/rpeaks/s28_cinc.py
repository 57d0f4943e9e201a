"""What the second proposer (``SignalConfig.rpeak_second_proposer``, issue 21 run s28) changes on CinC 2017 records
(no beat annotations), on run s27's recommended settings and on the settings without the negative-QRS fallback
(prominent, deep rescue, P-wave check: the candidates for a default).

    python experiments/rpeaks/s28_cinc.py --data-dir /work/shared/data/cinc2017/training2017 --limit 500 \\
        > benchmarks/results/rpeaks_loro_s28_cinc2017.json

For the first ``--limit`` records of ``RECORDS``: ``signal.find_rpeaks`` with and without the option (the chosen
point, and with its QRS correlation check at 0.8)
(``s27_cinc.compare``: records changed, peaks removed / added, added inside an ordinary RR interval of the base
peaks, added under 0.25 x the record's median QRS amplitude), and the records it changed (id: label, removed,
added, added inside an ordinary RR interval).
"""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard as G

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prominent_cinc import cinc_records  # noqa: E402
from s27_cinc import compare  # noqa: E402

LEVEL = 0.5   # rpeak_second_proposer of run s28's choice (experiments/rpeaks/second.py); GuardConstants.second_* defaults
S27 = SignalConfig(rpeak_mindelay_keep="prominent_negative_last", rpeak_rescue_deep=0.2, rpeak_guard_p_wave=1.0)
PROMINENT = SignalConfig(rpeak_mindelay_keep="prominent", rpeak_rescue_deep=0.2, rpeak_guard_p_wave=1.0)
# option name -> (base settings, the guard's constants while both run): the chosen point, and with the QRS
# correlation check at 0.8 (the grid's other value; a few folds chose it)
OPTIONS = {"s27_second": (S27, G.GUARD),
           "s27_second_correlation0.8": (S27, dataclasses.replace(G.GUARD, second_correlation=0.8)),
           "prominent_deep_p_wave_second": (PROMINENT, G.GUARD),
           "prominent_deep_p_wave_second_correlation0.8": (PROMINENT, dataclasses.replace(G.GUARD, second_correlation=0.8))}
SETTINGS = ("rpeak_mindelay_keep", "rpeak_rescue_deep", "rpeak_guard_p_wave")


def main(argv=None):
    args, ids, labels = cinc_records(__doc__, argv)
    out = {"experiment": "rpeaks_loro_s28_cinc2017", "records": len(ids), "scored_on": "first records of RECORDS",
           "rpeak_second_proposer": LEVEL, "options": {}, "totals": {}, "per_label": {}, "changed_records": {}}
    shipped = G.GUARD
    for option, (base, constants) in OPTIONS.items():
        changed = {}
        try:
            G.GUARD = constants
            totals, per_label = compare(args.data_dir, ids, labels, base,
                                        {option: dataclasses.replace(base, rpeak_second_proposer=LEVEL)}, changed)
        finally:
            G.GUARD = shipped
        out["options"][option] = {**{f: getattr(base, f) for f in SETTINGS},
                                  **{f.name: getattr(constants, f.name) for f in dataclasses.fields(constants)
                                     if f.name.startswith("second_")}}
        out["totals"][option], out["per_label"][option] = totals[option], per_label[option]
        out["changed_records"][option] = changed.get(option, {})
    out["command"] = "python experiments/rpeaks/s28_cinc.py --data-dir path/to/training2017 --limit %d" % args.limit
    print(json.dumps(out))


if __name__ == "__main__":
    main()
