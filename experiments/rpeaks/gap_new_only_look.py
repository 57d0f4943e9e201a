"""Run s53 (issue 21): MIT-BIH 207's two extra block21 false beats at seed k = 0 under run s51's point, traced. A
HELD-OUT look (207's counts are its own fold's held-out ones), so NOT blind; it chooses nothing.

    python experiments/rpeaks/gap_new_only_look.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s53_207_look.json

On run s47's block21 build of 207 (seed 207 + 0), the baseline's (``s37_first``) primary peaks and run s51's primary
peaks without the gap's peaks (what run s51's guard sees) are compared, and the guard is traced step by step on both
(``block21_misses.trace_guard``): the step after which each false beat stays. The gap's peaks are listed with whether the
contest without the gap keeps them too (``gap_new_only``'s test), and run s53's point (``rpeak_minimum_gap_new_only``)
is run on the same signal. Prints one JSON object last.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import block21_misses as BM  # noqa: E402
from block21_203 import baseline, builder  # noqa: E402
from cluster import guard_constants, match  # noqa: E402
from look_cli import look_parser  # noqa: E402
from minimum_gap import S51_POINT, final_peaks  # noqa: E402

from ecgsl_keras.bench.rpeaks import read_mitdb  # noqa: E402

RECORD = "207"


def main(argv=None) -> int:
    argv, parser = look_parser(argv, __doc__)
    args = parser.parse_args(argv)
    name, config, constants = baseline()
    run = BM.run(args.data_dir, RECORD, "block21", config, constants, read_mitdb(args.data_dir, RECORD, with_symbols=True),
                 builder(0))
    fs, cleaned, detect, built = run["fs"], run["x"], run["detect"], run["built"]
    points, primaries = {}, {}
    for label, options in (("s51", S51_POINT), ("s53", dict(S51_POINT, rpeak_minimum_gap_new_only=True))):
        primary, added, peaks = final_peaks(built, fs, cleaned, detect, dataclasses.replace(config, **options),
                                            constants, options)
        points[label] = (peaks, match(built, peaks, fs))
        primaries[label] = (primary, added)
    _, _, _, _, false0 = match(built, run["peaks"], fs)
    extra = sorted(points["s51"][1][4] - false0)
    primary, added = primaries["s51"]
    guarded_input = primary[~np.isin(primary, added)]
    with guard_constants(constants):
        steps = {"baseline": BM.trace_guard(run["primary"], cleaned, detect, fs, config),
                 "s51": BM.trace_guard(guarded_input, cleaned, detect, fs, config)}
    dropped = {label: {int(a): next((s for s, p in st.items() if not bool(BM.near(p, a, 3))), None) for a in extra}
               for label, st in steps.items()}
    plain = run["primary"]
    result = {"experiment": "rpeaks_s53_207_look", "command": " ".join(["python", "experiments/rpeaks/gap_new_only_look.py"]
                                                                     + argv),
              "blind": False, "record": RECORD, "seed": 0, "point": "s37_first_gap0.25_final0.5_after (run s51)",
              "extra_false_beats": [int(a) for a in extra],
              "extra_false_beats_s": [round(a / fs, 2) for a in extra],
              "gap_peaks": added.tolist(),
              "gap_peaks_the_baseline_contest_keeps": [int(a) for a in added if a in set(plain.tolist())],
              "primary_only_baseline": np.setdiff1d(plain, guarded_input).tolist(),
              "primary_only_s51_guard_input": np.setdiff1d(guarded_input, plain).tolist(),
              "guard_input_sizes": {"baseline": int(plain.size), "s51": int(guarded_input.size)},
              "first_step_without_it": dropped,
              "kept_after_step": {label: {step: [bool(BM.near(p, a, 3)) for a in extra] for step, p in st.items()}
                                  for label, st in steps.items()},
              "counts": {"baseline": list(match(built, run["peaks"], fs)[:3]),
                         **{label: list(v[1][:3]) for label, v in points.items()}},
              "s53_removes_them": not (set(extra) & points["s53"][1][4])}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
