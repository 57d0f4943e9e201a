"""CPU time of signal.find_rpeaks on the 22 DS1 records (run s31, issue 21): today's default, run s28's point, run s30's
chosen point and the point most folds of run s31 chose (``choice_counts`` of ``--results``; experiments/rpeaks/residual.py
``points``), interleaved in a rotating order, 3 repeats, one process; the issue's limit is 1.3x today's detector.

    python experiments/rpeaks/residual_speed.py --data-dir /work/shared/data/mitdb > benchmarks/results/rpeaks_loro_s31_speed.json
"""
import argparse
import json
import sys

from ecgsl_keras import tasks
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard as G

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from residual import OFF, S30, points  # noqa: E402
from cluster import cpu_seconds_per_record  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data-dir", required=True)
parser.add_argument("--results", default="benchmarks/results/rpeaks_loro_s31.json")
parser.add_argument("--repeats", type=int, default=3)
args = parser.parse_args()
counts = json.loads(open(args.results).read())["choice_counts"]
chosen = max(sorted(counts), key=lambda n: counts[n])
grid = {name: (config, constants) for name, config, constants in points()}
today = SignalConfig()
shipped = G.GUARD
configs = {"today": (today, shipped), "s28": grid[OFF], "s30_chosen": grid[S30], "s31_chosen": grid[chosen]}
names = list(configs)
res = cpu_seconds_per_record(args.data_dir, configs, args.repeats)
print(json.dumps({"cpu_seconds_per_record": res, "ratio_to_today": {k: res[k] / res["today"] for k in names},
                  "s31_chosen": chosen, "records": list(tasks.MITDB_DS1), "repeats": args.repeats,
                  "clock": "process_time",
                  "command": "python experiments/rpeaks/residual_speed.py " + " ".join(sys.argv[1:])}))
