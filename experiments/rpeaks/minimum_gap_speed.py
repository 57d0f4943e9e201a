"""CPU time of signal.find_rpeaks on the 22 DS1 records (runs s48-s50, issue 21): today's default, run s47's
baseline (``s37_first``) and the most chosen point of experiments/rpeaks/minimum_gap.py (``keep.most_chosen`` of its
results; the baseline itself when no fold chose the option: then the run's last grid point is timed, run s48's
0.25 s), interleaved in a rotating order, 5 repeats, one process (``cluster.chosen_speed``); the issue's limit is 1.3x
today's detector.

    python experiments/rpeaks/minimum_gap_speed.py --data-dir /work/shared/data/mitdb \\
        > benchmarks/results/rpeaks_s48_minimum_gap_speed.json
    python experiments/rpeaks/minimum_gap_speed.py --run s49 --data-dir /work/shared/data/mitdb \\
        > benchmarks/results/rpeaks_s49_minimum_gap_conditioned_speed.json
    python experiments/rpeaks/minimum_gap_speed.py --run s50 --data-dir /work/shared/data/mitdb \\
        > benchmarks/results/rpeaks_s50_minimum_gap_final_speed.json

``--point NAME`` times that grid point (its short name) instead of the most chosen one (run s53: the option point,
which the folds did not mostly choose). ``--beside NAME`` (run s64) also times that point in the same interleaved loop
(``chosen_to_beside``: what the option adds to the point it changes); ``--per-record-min`` reads the limit on each
record's least time over the repeats.
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from cluster import chosen_speed, speed_arguments  # noqa: E402
from minimum_gap import EXPERIMENTS, GRIDS, SHORT, points  # noqa: E402

args = speed_arguments(__doc__, extra=lambda parser: (
    parser.add_argument("--run", choices=tuple(GRIDS), default="s48"), parser.add_argument("--results"),
    parser.add_argument("--point", help="time this point (its short name) instead of the most chosen one"),
    parser.add_argument("--beside", help="run s64: also time this point (its short name) in the same loop")))
results = args.results or f"benchmarks/results/{EXPERIMENTS[args.run]}.json"
grid = {SHORT[name]: (config, constants) for name, config, constants, _ in points(args.run)}
chosen = list(grid)[-1]
if Path(results).exists():
    most = json.loads(Path(results).read_text())["keep"]["most_chosen"]
    chosen = most if most != "s37_first" else chosen
if args.point:
    # run s53: no fold mostly chose the option, but its cost is still the question
    chosen = args.point
print(json.dumps(chosen_speed(args, "minimum_gap_speed.py", f"{args.run}_chosen", grid, chosen, beside=args.beside)))
