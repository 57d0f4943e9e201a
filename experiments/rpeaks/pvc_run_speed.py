"""CPU time of signal.find_rpeaks on the 22 DS1 records (run s33, issue 21): today's default, run s32's chosen point and
the point most folds of run s33 chose (``most_chosen`` of ``--results``; experiments/rpeaks/pvc_run.py ``points``),
interleaved in a rotating order, 3 repeats, one process; the issue's limit is 1.3x today's detector.

    python experiments/rpeaks/pvc_run_speed.py --data-dir /work/shared/data/mitdb > benchmarks/results/rpeaks_loro_s33_speed.json
"""
import argparse
import json
import sys

from ecgsl_keras import tasks
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard as G

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from pvc_run import S32, points  # noqa: E402
from cluster import cpu_seconds_per_record  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data-dir", required=True)
parser.add_argument("--results", default="benchmarks/results/rpeaks_loro_s33.json")
parser.add_argument("--repeats", type=int, default=3)
args = parser.parse_args()
chosen = json.loads(open(args.results).read())["most_chosen"]
grid = {name: (config, constants) for name, config, constants in points()}
today = SignalConfig()
shipped = G.GUARD
configs = {"today": (today, shipped), "s32_chosen": grid[S32], "s33_chosen": grid[chosen]}
names = list(configs)
res = cpu_seconds_per_record(args.data_dir, configs, args.repeats)
print(json.dumps({"cpu_seconds_per_record": res, "ratio_to_today": {k: res[k] / res["today"] for k in names},
                  "s33_chosen": chosen, "records": list(tasks.MITDB_DS1), "repeats": args.repeats,
                  "clock": "process_time",
                  "command": "python experiments/rpeaks/pvc_run_speed.py " + " ".join(sys.argv[1:])}))
