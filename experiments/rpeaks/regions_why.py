"""Run s39 (issue 21), after the grid: why lowering the primary detector's region rules (experiments/rpeaks/regions.py)
buys so few of block21's misses and so many false beats. Post hoc (written after the held-out figures of
benchmarks/results/rpeaks_loro_s39.json were seen; it chooses nothing), on block21, all 22 DS1 records.

    python experiments/rpeaks/regions_why.py --data-dir /work/shared/data/mitdb --out benchmarks/results/rpeaks_s39_regions_why.json

For run s37's point and two lowered settings (``SETTINGS``: the grid's best on all 22 records, 1.4 / 0.4, and the most
permissive, 1.3 / 0.1):

- ``s37_misses``: of run s37's block21 misses (benchmarks/results/rpeaks_s39_diagnosis.json), how many the lowered
  primary detector proposes (a primary peak within 150 ms), how many are found in the end, and the guard step
  (``block21_misses.trace_guard``) after which the proposed ones that stay missed are gone for good;
- ``new_misses``: the beats run s37's point finds and the setting misses: ``displaced`` (a false beat of the setting
  within 300 ms: a new candidate won the refractory contest or moved the apex) or ``dropped``;
- ``new_false``: the false beats the setting has and run s37's point has not (no false beat of s37's within 150 ms), by
  record and by kind: ``t_wave`` (0.15-0.45 s after a reference beat), ``blocked_p`` (within 0.3 s before a blocked
  beat's annotation: its P wave or the cut span), ``other``; and where they come from: ``primary`` (a primary peak within
  20 ms) or a later proposer.
Prints one JSON object last.
"""
from __future__ import annotations

import argparse
import collections
import json
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import block21_misses as D  # noqa: E402
from cluster import BASE, guard_constants, primary_config  # noqa: E402
from regions import S37, points  # noqa: E402

from ecgsl_keras import tasks  # noqa: E402
from ecgsl_keras.bench import rhythms  # noqa: E402
from ecgsl_keras.bench.rpeaks import in_episodes, read_mitdb  # noqa: E402
from ecgsl_keras.data import signal as S  # noqa: E402

log = logging.getLogger("experiments.rpeaks.regions_why")
DIAGNOSIS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "rpeaks_s39_diagnosis.json"
SETTINGS = ((1.4, 0.4), (1.3, 0.1))


def run(x, fs, built, cleaned, detect, config, constants, regions):
    primary = S.find_rpeaks(x, fs, primary_config(**regions), cleaned=cleaned)
    with guard_constants(constants):
        steps = D.trace_guard(primary, cleaned, detect, fs, config)
    peaks = steps["after_wide_beat"]
    peaks = peaks[~in_episodes(peaks, built["episodes"])]
    m = S.match_peaks(built["beats"], peaks, int(round(0.15 * fs)))
    false = np.setdiff1d(peaks, peaks[m["matched"][:, 1]])
    return primary, steps, peaks, m, false


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    grid = {setting: (config, constants) for _, config, constants, setting in points()}
    config, constants = grid[(1.5, 0.4)]
    missed = collections.defaultdict(list)
    for row in json.loads(DIAGNOSIS.read_text())["misses"]:
        missed[row["record"]].append(row["sample"])
    out = {f"{t}_{m}": {"s37_misses": collections.Counter(), "new_false_by_record": collections.Counter(),
                        "new_false_kind": collections.Counter(), "new_false_source": collections.Counter(),
                        "s37_misses_203": collections.Counter(), "new_misses": collections.Counter()} for t, m in SETTINGS}
    for rid in tasks.MITDB_DS1:
        signal, fs, ref, episodes, _, symbols = read_mitdb(args.data_dir, rid, with_symbols=True)
        built = rhythms.build("block21", signal, fs, ref, symbols, episodes, seed=int(rid))
        x = built["signal"]
        cleaned, detect = S.clean(x, fs, BASE.clean_method), S.clean(x, fs, BASE.rpeak_clean_method)
        tol, close = int(round(0.15 * fs)), int(round(0.02 * fs))
        _, _, _, base_m, base_false = run(x, fs, built, cleaned, detect, config, constants, {})
        base_found = built["beats"][base_m["matched"][:, 0]]
        misses = np.asarray(missed[rid], np.int64)
        removed = np.sort(built["removed"])
        for setting in SETTINGS:
            key = f"{setting[0]}_{setting[1]}"
            regions = dict(rpeak_region_threshold=setting[0], rpeak_region_min_length=setting[1])
            primary, steps, peaks, m, false = run(x, fs, built, cleaned, detect, config, constants, regions)
            found = set(built["beats"][m["matched"][:, 0]].tolist())
            for a in misses:
                if a in found:
                    fate = "found"
                elif not D.near(primary, a, tol):
                    fate = "not_proposed"
                else:
                    present = [bool(D.near(steps[s], a, tol)) for s in D.GUARD_STEPS]
                    gone = [s for k, s in enumerate(D.GUARD_STEPS) if not any(present[k:])]
                    fate = "dropped_by_" + (gone[0] if gone else "matching")
                out[key]["s37_misses"][fate] += 1
                if rid == "203":
                    out[key]["s37_misses_203"][fate] += 1
            # beats run s37's point finds and this setting loses: displaced (a false beat of the setting within 300 ms:
            # a new candidate won the refractory contest or took the apex) or dropped
            lost = np.setdiff1d(base_found, list(found)) if found else base_found
            for a in lost:
                displaced = false.size and np.abs(false - a).min() <= 2 * tol
                out[key]["new_misses"]["displaced" if displaced else "dropped"] += 1
            new = false[~D.near(base_false, false, tol)] if base_false.size else false
            out[key]["new_false_by_record"][rid] += int(new.size)
            for f in new:
                j = np.searchsorted(built["beats"], f)
                after = (f - built["beats"][j - 1]) / fs if j > 0 else np.inf
                k = np.searchsorted(removed, f)
                before_blocked = (removed[k] - f) / fs if k < removed.size else np.inf
                kind = "t_wave" if 0.15 <= after <= 0.45 else "blocked_p" if 0 <= before_blocked <= 0.3 else "other"
                out[key]["new_false_kind"][kind] += 1
                out[key]["new_false_source"]["primary" if D.near(primary, f, close) else "later_proposer"] += 1
        log.info("%s: %s", rid, {k: dict(v["new_false_by_record"]).get(rid, 0) for k, v in out.items()})
    result = {"experiment": "rpeaks_s39_regions_why", "post_hoc": True, "rhythm": "block21", "s37_point": S37,
              "settings": [list(s) for s in SETTINGS], "records": list(tasks.MITDB_DS1),
              "command": " ".join(["python", "experiments/rpeaks/regions_why.py"]
                                  + list(argv if argv is not None else sys.argv[1:])),
              "by_setting": {k: {name: dict(c.most_common()) for name, c in v.items()} for k, v in out.items()}}
    for v in result["by_setting"].values():
        v["new_false"] = sum(v["new_false_by_record"].values())
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["by_setting"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
