"""CPU time of signal.find_rpeaks on the 22 DS1 records (run s40, issue 21): today's default, run s37's most chosen point
and that point with ``rpeak_keep_first_beat`` (experiments/rpeaks/first_beat.py ``points``), interleaved in a rotating
order, 5 repeats, one process (``cluster.cpu_seconds_per_record``); the issue's limit is 1.3x today's detector.

    python experiments/rpeaks/first_beat_speed.py --data-dir /work/shared/data/mitdb > benchmarks/results/rpeaks_loro_s40_speed.json
"""
import json
import sys

from ecgsl_keras import tasks
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard as G

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from first_beat import FIRST, S37, points  # noqa: E402
from cluster import cpu_seconds_per_record, speed_arguments  # noqa: E402

args = speed_arguments(__doc__)
grid = {name: (config, constants) for name, config, constants, _ in points()}
configs = {"today": (SignalConfig(), G.GUARD), "s37_chosen": grid[S37], "s37_first": grid[FIRST]}
res = cpu_seconds_per_record(args.data_dir, configs, args.repeats)
ratio = {k: res[k] / res["today"] for k in configs}
print(json.dumps({"cpu_seconds_per_record": res, "ratio_to_today": ratio,
                  "first_to_s37": res["s37_first"] / res["s37_chosen"], "limit": 1.3,
                  "within_limit": ratio["s37_first"] <= 1.3, "s37_chosen": S37,
                  "records": list(tasks.MITDB_DS1), "repeats": args.repeats, "clock": "process_time",
                  "command": "python experiments/rpeaks/first_beat_speed.py " + " ".join(sys.argv[1:])}))
