"""CPU time of signal.find_rpeaks on the 22 DS1 records (run s45, issue 21): today's default, the baseline (run s37's
point with ``rpeak_keep_first_beat``), and the P-wave point most folds of run s45 chose (the most chosen in
``choice_counts`` of ``--results`` other than the baseline; experiments/rpeaks/wide_p.py ``points``: the restricted wide
rescue with its P-wave refusal), interleaved in a rotating order, 5 repeats, one process
(``cluster.cpu_seconds_per_record``); the issue's limit is 1.3x today's detector.

    python experiments/rpeaks/wide_p_speed.py --data-dir /work/shared/data/mitdb \\
        > benchmarks/results/rpeaks_s45_wide_p_speed.json
"""
import argparse
import json
import sys

from ecgsl_keras import tasks
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard as G

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from wide_p import FIRST, points  # noqa: E402
from cluster import cpu_seconds_per_record  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data-dir", required=True)
parser.add_argument("--results", default="benchmarks/results/rpeaks_s45_wide_p.json")
parser.add_argument("--repeats", type=int, default=5)
args = parser.parse_args()
counts = json.loads(open(args.results).read())["choice_counts"]
chosen = max(sorted(n for n in counts if n != "s37_first"), key=counts.get)
grid = {name.replace(FIRST, "s37_first"): (config, constants) for name, config, constants in points()}
configs = {"today": (SignalConfig(), G.GUARD), "s37_first": grid["s37_first"], "s45_chosen": grid[chosen]}
res = cpu_seconds_per_record(args.data_dir, configs, args.repeats)
ratio = {k: res[k] / res["today"] for k in configs}
print(json.dumps({"cpu_seconds_per_record": res, "ratio_to_today": ratio,
                  "chosen_to_baseline": res["s45_chosen"] / res["s37_first"], "limit": 1.3,
                  "within_limit": ratio["s45_chosen"] <= 1.3, "s45_chosen": chosen,
                  "records": list(tasks.MITDB_DS1), "repeats": args.repeats, "clock": "process_time",
                  "command": "python experiments/rpeaks/wide_p_speed.py " + " ".join(sys.argv[1:])}))
