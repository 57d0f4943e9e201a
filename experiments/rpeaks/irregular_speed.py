"""CPU time of signal.find_rpeaks on the 22 DS1 records: the detector before the guard (``bench.rpeaks.LEGACY``),
today's default, and the issue-21 options (``rpeak_mindelay_keep``, ``rpeak_searchback_shape``, the choices of runs
s27 and s28, and run s28b's wide-peak check), interleaved in a rotating order, 2 repeats, one process; the issue's speed limit is 1.3x the detector
before the guard.

    python experiments/rpeaks/irregular_speed.py --data-dir /work/shared/data/mitdb > benchmarks/results/rpeaks_loro_s28_speed.json
    python experiments/rpeaks/irregular_speed.py --data-dir /work/shared/data/mitdb > benchmarks/results/rpeaks_loro_s28b_speed.json
"""
import argparse
import dataclasses
import json
import sys
import time

import numpy as np

from ecgsl_keras import tasks
from ecgsl_keras.bench.rpeaks import LEGACY, read_mitdb
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import signal as S

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data-dir", required=True)
args = parser.parse_args()
today = SignalConfig()
configs = {"before_guard": dataclasses.replace(today, **LEGACY), "today": today,
           "prominent": SignalConfig(rpeak_mindelay_keep="prominent"),
           "prominent_shape": SignalConfig(rpeak_mindelay_keep="prominent", rpeak_searchback_shape=1.1),
           # experiments/rpeaks/deep.py's options (issue 21, run s27)
           "prominent_deep": SignalConfig(rpeak_mindelay_keep="prominent", rpeak_rescue_deep=0.2),
           "prominent_p_wave": SignalConfig(rpeak_mindelay_keep="prominent", rpeak_guard_p_wave=0.8),
           "prominent_deep_p_wave": SignalConfig(rpeak_mindelay_keep="prominent", rpeak_rescue_deep=0.2,
                                                 rpeak_guard_p_wave=0.8),
           "chosen_s27": SignalConfig(rpeak_mindelay_keep="prominent_negative_last", rpeak_rescue_deep=0.2,
                                      rpeak_guard_p_wave=1.0),
           # experiments/rpeaks/second.py's option on run s27's choice (run s28; GuardConstants.second_* defaults)
           "chosen_s28": SignalConfig(rpeak_mindelay_keep="prominent_negative_last", rpeak_rescue_deep=0.2,
                                      rpeak_guard_p_wave=1.0, rpeak_second_proposer=0.5),
           # experiments/rpeaks/block.py's wide-peak check on run s28's choice (GuardConstants.wide_amplitude default)
           "s28_wide": SignalConfig(rpeak_mindelay_keep="prominent_negative_last", rpeak_rescue_deep=0.2,
                                    rpeak_guard_p_wave=1.0, rpeak_second_proposer=0.5, rpeak_guard_wide=2.0)}
sigs = [read_mitdb(args.data_dir, r)[:2] for r in tasks.MITDB_DS1]
S.find_rpeaks(sigs[0][0][:36000], 360.0, today)
names = list(configs)
t = {k: [] for k in names}
for rep in range(2):
    for i, (x, fs) in enumerate(sigs):
        shift = (i + rep) % len(names)
        for name in names[shift:] + names[:shift]:
            t0 = time.process_time()
            S.find_rpeaks(x, fs, configs[name])
            t[name].append(time.process_time() - t0)
res = {k: float(np.sum(v) / 2 / len(sigs)) for k, v in t.items()}
ratio = {k: res[k] / res["before_guard"] for k in names}
print(json.dumps({"cpu_seconds_per_record": res, "ratio_to_before_guard": ratio, "records": list(tasks.MITDB_DS1),
                  "configs": {k: {f: getattr(c, f) for f in ("rpeak_mindelay_keep", "rpeak_searchback_shape",
                                                             "rpeak_guard_amplitude", "rpeak_searchback", "rpeak_rescue_deep",
                                                             "rpeak_guard_p_wave", "rpeak_second_proposer",
                                                             "rpeak_guard_wide")}
                              for k, c in configs.items()},
                  "repeats": 2, "clock": "process_time",
                  "command": "python experiments/rpeaks/irregular_speed.py " + " ".join(sys.argv[1:])}))
