"""CPU time of signal.find_rpeaks on the 22 DS1 records (run s43, issue 21): today's default, the baseline (run s37's
point with ``rpeak_keep_first_beat``), the point most folds of run s43 chose (``most_chosen_short`` of ``--results``;
experiments/rpeaks/wide_runs_add_shape.py ``points``: the additive pass with the width and sharpness check, which runs
the guard twice where the pass adds a peak), interleaved in a rotating order, 5 repeats, one process
(``cluster.cpu_seconds_per_record``); the issue's limit is 1.3x today's detector.

    python experiments/rpeaks/wide_runs_add_shape_speed.py --data-dir /work/shared/data/mitdb \\
        > benchmarks/results/rpeaks_s43_add_shape_speed.json
"""

import json
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from wide_runs_add_shape import FIRST, points  # noqa: E402
from cluster import chosen_speed, speed_arguments  # noqa: E402

args = speed_arguments(__doc__, "benchmarks/results/rpeaks_s43_add_shape.json")
chosen = json.loads(open(args.results).read())["most_chosen_short"]
grid = {name.replace(FIRST, "s37_first"): (config, constants) for name, config, constants, _, _ in points()}
print(json.dumps(chosen_speed(args, "wide_runs_add_shape_speed.py", "s43_chosen", grid, chosen)))
