"""CPU time of signal.find_rpeaks on the 22 DS1 records (run s34, issue 21): today's default, run s33's most chosen point
and the points most folds of run s34 chose (``most_chosen`` of ``--results``, and on the first grid alone;
experiments/rpeaks/blocked_p.py ``points``), interleaved in a rotating order, 5 repeats, one process
(``cluster.cpu_seconds_per_record``); the issue's limit is 1.3x today's detector.

    python experiments/rpeaks/blocked_p_speed.py --data-dir /work/shared/data/mitdb > benchmarks/results/rpeaks_loro_s34_speed.json
"""
import json
import sys

from ecgsl_keras import tasks
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard as G

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from blocked_p import S33, points  # noqa: E402
from cluster import cpu_seconds_per_record, speed_arguments  # noqa: E402

args = speed_arguments(__doc__, "benchmarks/results/rpeaks_loro_s34.json")
results = json.loads(open(args.results).read())
chosen = results["most_chosen"]
first = max(sorted(results["choice_counts_first_grid"]), key=results["choice_counts_first_grid"].get)
grid = {name: (config, constants) for name, config, constants in points()}
configs = {"today": (SignalConfig(), G.GUARD), "s33_chosen": grid[S33], "s34_chosen": grid[chosen],
           "s34_first_grid_chosen": grid[first]}
names = list(configs)
res = cpu_seconds_per_record(args.data_dir, configs, args.repeats)
print(json.dumps({"cpu_seconds_per_record": res, "ratio_to_today": {k: res[k] / res["today"] for k in names},
                  "ratio_s34_to_s33": res["s34_chosen"] / res["s33_chosen"],
                  "ratio_s34_first_grid_to_s33": res["s34_first_grid_chosen"] / res["s33_chosen"],
                  "s33_chosen": S33, "s34_chosen": chosen, "s34_first_grid_chosen": first, "records": list(tasks.MITDB_DS1), "repeats": args.repeats,
                  "clock": "process_time",
                  "command": "python experiments/rpeaks/blocked_p_speed.py " + " ".join(sys.argv[1:])}))
