"""CPU time of signal.find_rpeaks on the 22 DS1 records (run s39, issue 21): today's default, run s37's most chosen point
and the point most folds of run s39 chose (``most_chosen`` of ``--results``; experiments/rpeaks/regions.py ``points``:
run s37's point with the primary detector's region rules lowered), interleaved in a rotating order, 5 repeats, one
process (``cluster.cpu_seconds_per_record``); the issue's limit is 1.3x today's detector.

    python experiments/rpeaks/regions_speed.py --data-dir /work/shared/data/mitdb > benchmarks/results/rpeaks_loro_s39_speed.json
"""
import json
import sys

from ecgsl_keras import tasks
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard as G

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from regions import S37, points  # noqa: E402
from cluster import cpu_seconds_per_record, speed_arguments  # noqa: E402

args = speed_arguments(__doc__, "benchmarks/results/rpeaks_loro_s39.json")
results = json.loads(open(args.results).read())
chosen = results["most_chosen"]
grid = {name: (config, constants) for name, config, constants, _ in points()}
lowered = min((n for n in grid if n != S37), key=lambda n: (results["grid_errors_all_22"][n.replace(S37, "s37")], n))
configs = {"today": (SignalConfig(), G.GUARD), "s37_chosen": grid[S37], "s39_chosen": grid[chosen],
           "lowered_best": grid[lowered]}
res = cpu_seconds_per_record(args.data_dir, configs, args.repeats)
ratio = {k: res[k] / res["today"] for k in configs}
print(json.dumps({"cpu_seconds_per_record": res, "ratio_to_today": ratio, "limit": 1.3,
                  "within_limit": ratio["s39_chosen"] <= 1.3, "s39_chosen": chosen, "s37_chosen": S37,
                  "lowered_best": lowered.replace(S37, "s37"),
                  "records": list(tasks.MITDB_DS1), "repeats": args.repeats, "clock": "process_time",
                  "command": "python experiments/rpeaks/regions_speed.py " + " ".join(sys.argv[1:])}))
