"""Run s32 (issue 21) diagnosis: block21's missed PVCs next to another PVC (203, 205) at run s30's chosen point.

    python experiments/rpeaks/pvc_runs.py --data-dir /work/shared/data/mitdb --out benchmarks/results/rpeaks_loro_s32_pvc.json

For every missed V beat next to a V beat (block21 built as ``bench rpeaks`` builds it, seed = record number; 150 ms;
VF episodes excluded) of the records given: whether neurokit2's detector (``find_rpeaks`` without the guard, the
guard's input) proposed a peak within 150 ms (``proposed``), and if so which step lost it: ``amplitude`` (gone after
the amplitude check with its rescues and the P-wave check: the same point with the second proposer, the T-wave veto
and the search back off), ``t_wave`` (kept without the T-wave veto, gone with it), ``later`` (the rest: the search
back / second proposer moved or replaced it). Not proposed: whether the second proposer's slope feature has a local
maximum within 150 ms (``second_candidate``), and which of the second proposer's checks its nearest local maximum fails
(``second_fails``: slope level, spacing from the kept peaks, QRS amplitude, width; computed against the detector's
kept peaks, close to but not the same as the peaks the second proposer saw). Prints one JSON object last.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import logging
import sys
from pathlib import Path

import numpy as np

from ecgsl_keras.bench import rhythms
from ecgsl_keras.bench.rpeaks import in_episodes, read_mitdb
from ecgsl_keras.data import rpeak_guard as G
from ecgsl_keras.data import signal as S

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import t_wave  # noqa: E402
from cluster import BASE, guard_constants, primary_config  # noqa: E402

log = logging.getLogger("experiments.rpeaks.pvc_runs")
S30 = "s28__c0.9_a0.3_second_n16_s0.8__t0.9_all_z4"


def near(peaks, at, radius):
    peaks = np.asarray(peaks)
    return np.array([peaks.size > 0 and np.min(np.abs(peaks - a)) <= radius for a in at], bool)


def diagnose(data_dir, rid):
    signal, fs, ref, episodes, _, symbols = read_mitdb(data_dir, rid, with_symbols=True)
    built = rhythms.build("block21", signal, fs, ref, symbols, episodes, seed=int(rid))
    x = built["signal"]
    cleaned, detect = S.clean(x, fs, BASE.clean_method), S.clean(x, fs, BASE.rpeak_clean_method)
    config, constants = {n: (c, k) for n, c, k in t_wave.points()}[S30]
    primary = S.find_rpeaks(x, fs, primary_config(), cleaned=cleaned)
    with guard_constants(constants):
        peaks = S.guard_rpeaks(primary, cleaned, detect, fs, config)
        first = S.guard_rpeaks(primary, cleaned, detect, fs, dataclasses.replace(
            config, rpeak_second_proposer=0.0, rpeak_searchback=0.0, rpeak_guard_t_wave=0.0))
        no_veto = S.guard_rpeaks(primary, cleaned, detect, fs, dataclasses.replace(config, rpeak_guard_t_wave=0.0))
    peaks = peaks[~in_episodes(peaks, built["episodes"])]
    beats = built["beats"]
    m = S.match_peaks(beats, peaks, int(round(0.15 * fs)))
    fn = np.setdiff1d(np.arange(beats.size), m["matched"][:, 0])
    index = np.clip(np.searchsorted(ref, beats), 0, ref.size - 1)
    symbol = np.where(ref[index] == beats, np.asarray(symbols)[index], "?")
    runs = [i for i in fn if symbol[i] == "V" and any(0 <= i + k < beats.size and symbol[i + k] == "V" for k in (-1, 1))]
    at = beats[runs]
    radius = int(round(0.15 * fs))
    feature = S.slope_feature(detect, fs)
    import scipy.signal
    maxima = scipy.signal.find_peaks(feature, distance=max(1, int(0.2 * fs)))[0]
    # the second proposer's checks for the candidate nearest each miss, against the kept peaks (the detector's output:
    # close to, not the same as, the peaks the second proposer saw)
    level_ref = G._neighbour_percentile(peaks, feature[peaks], at, constants.neighbours, constants.second_level_percentile)
    local_rr = G._neighbour_percentile(peaks[1:], np.diff(peaks).astype(np.float64), at, constants.neighbours, 50.0)
    kept_amplitude, _, kept_width = S.qrs_shapes(cleaned, peaks, fs, constants)
    amp_ref = G._neighbour_percentile(peaks, kept_amplitude, at, constants.neighbours, constants.percentile)
    width_ref = G._neighbour_percentile(peaks, kept_width, at, constants.neighbours, 50.0)
    min_distance = max(1, int(round(config.min_rr_s * fs)))
    out = collections.Counter()
    checks = collections.Counter()
    rows = []
    for a, p, f, v in zip(at, near(primary, at, radius), near(first, at, radius), near(no_veto, at, radius)):
        if not p:
            step = "not_proposed_second_candidate" if near(maxima, [a], radius)[0] else "not_proposed"
        elif not f:
            step = "amplitude"
        elif v:
            step = "t_wave"
        else:
            step = "later"
        out[step] += 1
        k = len(rows)
        c = maxima[np.argmin(np.abs(maxima - a))]
        j = np.searchsorted(peaks, c)
        space = max(constants.second_spacing * local_rr[k], min_distance)
        gaps = [c - peaks[j - 1] if j > 0 else np.inf, peaks[j] - c if j < peaks.size else np.inf]
        amplitude, _, width = S.qrs_shapes(cleaned, np.array([c]), fs, constants)
        failed = [name for name, ok in (("level", feature[c] >= config.rpeak_second_proposer * level_ref[k]),
                                        ("spacing", min(gaps) >= space),
                                        ("amplitude", amplitude[0] >= constants.second_amplitude * amp_ref[k]),
                                        ("width", width[0] <= constants.second_width * width_ref[k])) if not ok]
        checks["+".join(failed) or "none"] += 1
        rows.append({"at": int(a), "step": step, "second_fails": failed,
                     "nearest_kept_ms": round(1000 * float(np.min(np.abs(peaks - a))) / fs),
                     "spacing_over_local_rr": round(float(min(gaps) / local_rr[k]), 2)})
    return {"missed_v_next_to_v": len(runs), "steps": dict(out), "second_fails": dict(checks), "rows": rows}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--records", nargs="+", default=["203", "205"])
    args = parser.parse_args(argv)
    per = {rid: diagnose(args.data_dir, rid) for rid in args.records}
    steps, fails = collections.Counter(), collections.Counter()
    for v in per.values():
        steps.update(v["steps"])
        fails.update(v["second_fails"])
    result = {"experiment": "rpeaks_loro_s32_pvc", "point": S30, "rhythm": "block21", "records": args.records,
              "command": " ".join(["python", "experiments/rpeaks/pvc_runs.py"] + list(argv if argv is not None else sys.argv[1:])),
              "missed_v_next_to_v": sum(v["missed_v_next_to_v"] for v in per.values()), "steps": dict(steps),
              "second_fails": dict(sorted(fails.items())),
              "per_record": per}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("missed_v_next_to_v", "steps", "second_fails")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
