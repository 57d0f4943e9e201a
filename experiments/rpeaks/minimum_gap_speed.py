"""CPU time of signal.find_rpeaks on the 22 DS1 records (run s48, issue 21): today's default, run s47's baseline
(``s37_first``) and the most chosen point of experiments/rpeaks/minimum_gap.py (``keep.most_chosen`` of its results;
the baseline itself when no fold chose the option: then the 0.25 point is timed), interleaved in a rotating order,
5 repeats, one process (``cluster.chosen_speed``); the issue's limit is 1.3x today's detector.

    python experiments/rpeaks/minimum_gap_speed.py --data-dir /work/shared/data/mitdb \\
        > benchmarks/results/rpeaks_s48_minimum_gap_speed.json
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from cluster import chosen_speed, speed_arguments  # noqa: E402
from minimum_gap import SHORT, points  # noqa: E402

args = speed_arguments(__doc__, "benchmarks/results/rpeaks_s48_minimum_gap.json")
grid = {SHORT[name]: (config, constants) for name, config, constants, _ in points()}
chosen = "s37_first_gap0.25"
if Path(args.results).exists():
    most = json.loads(Path(args.results).read_text())["keep"]["most_chosen"]
    chosen = most if most != "s37_first" else chosen
print(json.dumps(chosen_speed(args, "minimum_gap_speed.py", "s48_chosen", grid, chosen)))
