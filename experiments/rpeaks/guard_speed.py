"""CPU time of signal.find_rpeaks on the 22 DS1 records with the guard's shape rescue on and off
(interleaved, 2 repeats, one process): issue 21's speed limit (within 1.3x of the detector before it).

    python experiments/rpeaks/guard_speed.py > benchmarks/results/rpeaks_guard_speed.json
"""
import time, dataclasses, json, numpy as np
from ecgsl_keras.data import rpeak_guard as G
from ecgsl_keras.data import signal as S
from ecgsl_keras.bench.rpeaks import read_mitdb
from ecgsl_keras import tasks
from ecgsl_keras.config import SignalConfig
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from experiments.shared_data import MITDB
cfg = SignalConfig(); shipped = G.GUARD; off = dataclasses.replace(shipped, rescue_amplitude=1.0)
sigs = [read_mitdb(MITDB, r)[:2] for r in tasks.MITDB_DS1]
S.find_rpeaks(sigs[0][0][:36000], 360.0, cfg)
t = {"rescue": [], "off": []}
for rep in range(2):
    for x, fs in sigs:
        for name, c in (("off", off), ("rescue", shipped)) if rep % 2 == 0 else (("rescue", shipped), ("off", off)):
            G.GUARD = c; t0 = time.process_time(); S.find_rpeaks(x, fs, cfg); t[name].append(time.process_time() - t0)
G.GUARD = shipped
res = {k: float(np.sum(v) / 2 / len(sigs)) for k, v in t.items()}
res["ratio"] = res["rescue"] / res["off"]
print(json.dumps({"cpu_seconds_per_record": res, "records": list(tasks.MITDB_DS1), "repeats": 2, "clock": "process_time"}))
