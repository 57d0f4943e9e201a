"""Run s65b (issue 21): run s65a's rows (``rpeaks_s65a_amplitude_look.json``) that a lower cluster-rescue floor would
keep, measured against the record's P wave. A HELD-OUT look, NOT blind (run s65a's look already named the peaks); it
aims run s65b's test, whose point is still chosen leave one record out (``minimum_gap.py --run s65b``).

    python experiments/rpeaks/p_wave_look.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s65b_p_wave_look.json

For every row of run s65a's look (run s64's point, k = 0, normal and block21) with at least ``cluster_min`` similar
kept peaks and a cluster amplitude in [0.15, 0.3) (the peaks ``cluster_amplitude`` 0.15-0.25 would add), the record's
P wave is found from the guard's input peaks as the guard finds it (``rpeak_guard.record_p_wave``), and the row gets
the best correlation and size of its window against that P template (``p_wave_match``: ``p_corr``, ``p_size``) and
the same one R-to-P lag before it (``own_p_corr``: its own P wave). ``p_template``: False where the record shows no
consistent P wave. Prints one JSON object last (per label, the rows each P-correlation threshold would refuse).
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
from block21_203 import builder  # noqa: E402
from cluster import TODAY, rhythm_signals  # noqa: E402
from minimum_gap import BASELINE, blocked_p_gap_point, final_peaks, points, suffix  # noqa: E402

from ecgsl_keras.data import rpeak_guard as G  # noqa: E402

log = logging.getLogger("experiments.rpeaks.p_wave_look")
SCRIPT = "experiments/rpeaks/p_wave_look.py"
LOOK = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "rpeaks_s65a_amplitude_look.json"
S64_POINT = blocked_p_gap_point(1.3)
S64_NAME = f"{BASELINE}__{suffix(S64_POINT)}"
THRESHOLDS = (0.6, 0.7, 0.8, 0.9)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    look = json.loads(LOOK.read_text())
    config = {n: c for n, c, _, _ in points("s64")}[S64_NAME]
    constants = G.constants_for(config)
    rows = [dict(r) for r in look["rows"] if r["cluster_similar"] >= constants.cluster_min
            and r["cluster_amplitude"] is not None and 0.15 <= r["cluster_amplitude"] < 0.3
            and r["label"] != "found_elsewhere"]
    by = collections.defaultdict(list)
    for r in rows:
        by[(r["record"], r["rhythm"])].append(r)
    for (rid, rhythm), some in sorted(by.items()):
        signals = ({"names": ("normal",), "artifacts": True} if rhythm == "normal" else
                   dict(builder(look["seed"]), names=("block21",), artifacts=True, own_onset=True))
        for _, built, fs, cleaned, detect in rhythm_signals(args.data_dir, rid, {f"{rid}|{rhythm}|{TODAY}": None},
                                                            **signals):
            primary, added, _ = final_peaks(built, fs, cleaned, detect, config, None, S64_POINT)
            peaks = primary[~np.isin(primary, added)]
            x = np.asarray(cleaned, np.float64)
            p_wave = G.record_p_wave(peaks, x, fs, constants)
            at = np.array([r["sample"] for r in some], np.int64)
            for r in some:
                r["p_template"] = p_wave is not None
            if p_wave is None:
                continue
            lag, template = p_wave
            c, size = G.p_wave_match(x, at, fs, template, constants)
            own, _ = G.p_wave_match(x, at - lag, fs, template, constants)
            for r, ci, si, oi in zip(some, c, size, own):
                r.update(p_corr=round(float(ci), 3), p_size=round(float(si), 3), own_p_corr=round(float(oi), 3),
                         p_lag_s=round(lag / fs, 3))
        log.info("%s %s: %d rows", rid, rhythm, len(some))
    summary = {}
    for t in THRESHOLDS:
        for floor in (0.25, 0.2):
            sel = [r for r in rows if r["cluster_amplitude"] >= floor]
            refused = [r for r in sel if r.get("p_corr") is not None and r["p_corr"] >= t
                       and 1 / constants.blocked_p_size <= r["p_size"] <= constants.blocked_p_size]
            labels = [f"{rhythm}|{label}" for rhythm in ("normal", "block21") for label in ("true", "false")]
            count = lambda rows_: {k: sum(f"{r['rhythm']}|{r['label']}" == k for r in rows_) for k in labels}  # noqa: E731
            summary[f"floor{floor}_p{t}"] = {
                "candidates": count(sel), "refused": count(refused),
                "kept_false_by_record": dict(collections.Counter(
                    r["record"] for r in sel if r["label"] == "false" and r not in refused).most_common()),
                "refused_true": [f"{r['record']}|{r['rhythm']}|{r['sample']}" for r in refused if r["label"] == "true"]}
    result = {"experiment": "rpeaks_s65b_p_wave_look", "command": " ".join(["python", SCRIPT] + argv), "blind": False,
              "point": S64_NAME, "seed": look["seed"], "rows_from": str(LOOK.name), "summary": summary, "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
