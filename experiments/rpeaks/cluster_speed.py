"""CPU time of signal.find_rpeaks on the 22 DS1 records (run s29, issue 21): the detector before the guard
(``bench.rpeaks.LEGACY``), today's default, run s28's point (experiments/rpeaks/cluster.py ``BASE``, its
``GuardConstants``) and that point with the cluster rescue the folds chose (``rpeak_rescue_cluster`` 0.9,
``cluster_amplitude`` 0.3, ``cluster_neighbours`` 16), interleaved in a rotating order, 3 repeats, one process; the issue's limit is 1.3x the
detector before the guard.

    python experiments/rpeaks/cluster_speed.py --data-dir /work/shared/data/mitdb > benchmarks/results/rpeaks_loro_s29_speed.json
"""
import argparse
import dataclasses
import json
import sys

from ecgsl_keras import tasks
from ecgsl_keras.bench.rpeaks import LEGACY
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard as G

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from cluster import BASE, BASE_CONSTANTS, cpu_seconds_per_record  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data-dir", required=True)
parser.add_argument("--repeats", type=int, default=3)
args = parser.parse_args()
today = SignalConfig()
shipped = G.GUARD
s28 = dataclasses.replace(shipped, **BASE_CONSTANTS)
configs = {"before_guard": (dataclasses.replace(today, **LEGACY), shipped), "today": (today, shipped),
           "s28": (BASE, s28),
           # the point 20 of 22 folds chose (experiments/rpeaks/cluster.py: s28__c0.9_a0.3_n16_s0.0)
           "s28_cluster": (dataclasses.replace(BASE, rpeak_rescue_cluster=0.9),
                           dataclasses.replace(s28, cluster_amplitude=0.3, cluster_second=False, cluster_neighbours=16,
                                               cluster_sharpness=0.0))}
names = list(configs)
res = cpu_seconds_per_record(args.data_dir, configs, args.repeats)
print(json.dumps({"cpu_seconds_per_record": res, "ratio_to_before_guard": {k: res[k] / res["before_guard"] for k in names},
                  "ratio_to_today": {k: res[k] / res["today"] for k in names},
                  "records": list(tasks.MITDB_DS1), "repeats": args.repeats, "clock": "process_time",
                  "command": "python experiments/rpeaks/cluster_speed.py " + " ".join(sys.argv[1:])}))
