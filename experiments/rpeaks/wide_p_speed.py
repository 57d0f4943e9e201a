"""CPU time of signal.find_rpeaks on the 22 DS1 records (run s45, issue 21): today's default, the baseline (run s37's
point with ``rpeak_keep_first_beat``), and the P-wave point most folds of run s45 chose (the most chosen in
``choice_counts`` of ``--results`` other than the baseline; experiments/rpeaks/wide_p.py ``points``: the restricted wide
rescue with its P-wave refusal), interleaved in a rotating order, 5 repeats, one process
(``cluster.cpu_seconds_per_record``); the issue's limit is 1.3x today's detector.

    python experiments/rpeaks/wide_p_speed.py --data-dir /work/shared/data/mitdb \\
        > benchmarks/results/rpeaks_s45_wide_p_speed.json
"""

import json
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from wide_p import FIRST, points  # noqa: E402
from cluster import chosen_speed, speed_arguments  # noqa: E402

args = speed_arguments(__doc__, "benchmarks/results/rpeaks_s45_wide_p.json")
counts = json.loads(open(args.results).read())["choice_counts"]
chosen = max(sorted(n for n in counts if n != "s37_first"), key=counts.get)
grid = {name.replace(FIRST, "s37_first"): (config, constants) for name, config, constants in points()}
print(json.dumps(chosen_speed(args, "wide_p_speed.py", "s45_chosen", grid, chosen)))
