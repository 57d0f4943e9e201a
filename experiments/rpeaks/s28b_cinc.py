"""What the wide-peak check (``SignalConfig.rpeak_guard_wide``, issue 21 run s28b) changes on CinC 2017 records (no
beat annotations), on run s28's choice.

    python experiments/rpeaks/s28b_cinc.py --data-dir /work/shared/data/cinc2017/training2017 --limit 500 \\
        > benchmarks/results/rpeaks_loro_s28b_cinc2017.json

For the first ``--limit`` records of ``RECORDS``: ``signal.find_rpeaks`` with and without the option
(``rpeak_guard_wide`` 2.0, ``GuardConstants.wide_amplitude`` default), through ``s27_cinc.compare`` (records changed,
peaks removed / added), and the records it changed (id: label, removed, added, added inside an ordinary RR interval).
The option only removes peaks; a removed peak is a true beat or a false one, which the counts cannot tell.
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

WIDE = 2.0   # rpeak_guard_wide of the folds' choice (experiments/rpeaks/block.py)
S28 = SignalConfig(rpeak_mindelay_keep="prominent_negative_last", rpeak_rescue_deep=0.2, rpeak_guard_p_wave=1.0,
                   rpeak_second_proposer=0.5)


def main(argv=None):
    args, ids, labels = cinc_records(__doc__, argv)
    changed = {}
    totals, per_label = compare(args.data_dir, ids, labels, S28,
                                {"s28_wide": dataclasses.replace(S28, rpeak_guard_wide=WIDE)}, changed)
    print(json.dumps({"experiment": "rpeaks_loro_s28b_cinc2017", "records": len(ids), "scored_on": "first records of RECORDS",
                      "baseline": {f: getattr(S28, f) for f in ("rpeak_mindelay_keep", "rpeak_rescue_deep",
                                                                "rpeak_guard_p_wave", "rpeak_second_proposer")},
                      "rpeak_guard_wide": WIDE, "wide_amplitude": G.GUARD.wide_amplitude,
                      "totals": totals["s28_wide"], "per_label": per_label["s28_wide"],
                      "changed_records": changed.get("s28_wide", {}),
                      "command": "python experiments/rpeaks/s28b_cinc.py --data-dir path/to/training2017 --limit %d"
                                 % args.limit}))


if __name__ == "__main__":
    main()
