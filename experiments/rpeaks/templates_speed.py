"""CPU time of signal.find_rpeaks on the 22 DS1 records (run s36, issue 21): today's default, run s33's most chosen point
and the point most folds of run s36 chose (``most_chosen`` of ``--results``; experiments/rpeaks/templates.py
``points``), plus the grid's slowest kind of point (record templates in both places, the lowest correlation and
templates_min) and the combination most folds of templates_combo.py chose (``--combo-results``), interleaved in a
rotating order, 5 repeats, one process (``cluster.cpu_seconds_per_record``); the issue's limit is 1.3x today's detector.

    python experiments/rpeaks/templates_speed.py --data-dir /work/shared/data/mitdb > benchmarks/results/rpeaks_loro_s36_speed.json
"""
import argparse
import json
import sys

from ecgsl_keras import tasks
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard as G

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from templates import S33, points  # noqa: E402
import templates_combo  # noqa: E402
from cluster import cpu_seconds_per_record  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data-dir", required=True)
parser.add_argument("--results", default="benchmarks/results/rpeaks_loro_s36.json")
parser.add_argument("--combo-results", default="benchmarks/results/rpeaks_loro_s36_combo.json")
parser.add_argument("--repeats", type=int, default=5)
args = parser.parse_args()
results = json.loads(open(args.results).read())
chosen = results["most_chosen"]
grid = {name: (config, constants) for name, config, constants in points()}
widest = f"{S33}__tp0.9_m4_a0.3_second"
configs = {"today": (SignalConfig(), G.GUARD), "s33_chosen": grid[S33], "s36_chosen": grid[chosen],
           "s36_widest": grid[widest]}
combo = json.loads(open(args.combo_results).read())["most_chosen"]
configs["s36_combo_chosen"] = {name: (config, constants) for name, config, constants in templates_combo.points()}[combo]
names = list(configs)
res = cpu_seconds_per_record(args.data_dir, configs, args.repeats)
print(json.dumps({"cpu_seconds_per_record": res, "ratio_to_today": {k: res[k] / res["today"] for k in names},
                  "ratio_s36_to_s33": res["s36_chosen"] / res["s33_chosen"],
                  "ratio_combo_to_s33": res["s36_combo_chosen"] / res["s33_chosen"], "limit": 1.3,
                  "within_limit": res["s36_chosen"] / res["today"] <= 1.3,
                  "combo_within_limit": res["s36_combo_chosen"] / res["today"] <= 1.3, "s36_combo_chosen": combo,
                  "s33_chosen": S33, "s36_chosen": chosen, "s36_widest": widest, "records": list(tasks.MITDB_DS1),
                  "repeats": args.repeats, "clock": "process_time",
                  "command": "python experiments/rpeaks/templates_speed.py " + " ".join(sys.argv[1:])}))
