"""CPU time of signal.find_rpeaks on the 22 DS1 records (run s37, issue 21): today's default, run s33's most chosen point,
run s36's combination (record templates + blocked-P-wave check), the same with templates_sample 256, and the point most
folds of run s37 chose (``most_chosen`` of ``--results``; experiments/rpeaks/post_wide.py ``points``), interleaved in a
rotating order, 5 repeats, one process (``cluster.cpu_seconds_per_record``); the issue's limit is 1.3x today's detector.

    python experiments/rpeaks/post_wide_speed.py --data-dir /work/shared/data/mitdb > benchmarks/results/rpeaks_loro_s37_speed.json
"""
import json
import sys

from ecgsl_keras import tasks
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard as G

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from post_wide import CHECK, S33, SAMPLE, TEMPLATES, points  # noqa: E402
from cluster import cpu_seconds_per_record, speed_arguments  # noqa: E402

args = speed_arguments(__doc__, "benchmarks/results/rpeaks_loro_s37.json")
chosen = json.loads(open(args.results).read())["most_chosen"]
grid = {name: (config, constants) for name, config, constants in points()}
combo, cheap = f"{S33}__{TEMPLATES}__{CHECK}", f"{S33}__{TEMPLATES}_s{SAMPLE}__{CHECK}"
configs = {"today": (SignalConfig(), G.GUARD), "s33_chosen": grid[S33], "s36_combo": grid[combo],
           "s36_combo_sample256": grid[cheap], "s37_chosen": grid[chosen]}
names = list(configs)
res = cpu_seconds_per_record(args.data_dir, configs, args.repeats)
ratio = {k: res[k] / res["today"] for k in names}
print(json.dumps({"cpu_seconds_per_record": res, "ratio_to_today": ratio, "limit": 1.3,
                  "within_limit": ratio["s37_chosen"] <= 1.3, "s37_chosen": chosen, "s33_chosen": S33,
                  "s36_combo": combo, "s36_combo_sample256": cheap, "records": list(tasks.MITDB_DS1),
                  "repeats": args.repeats, "clock": "process_time",
                  "command": "python experiments/rpeaks/post_wide_speed.py " + " ".join(sys.argv[1:])}))
