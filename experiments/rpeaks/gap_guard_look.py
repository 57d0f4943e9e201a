"""Run s51's look (issue 21): what run s50's extra false beats in the bigeminy builds are. A HELD-OUT look, not blind:
run s50's counts say where they are (bigeminy 205 and 207, one each, the same on every seed: bigeminy is built once,
seed = record number); this traces them through the guard and checks run s51's option on them. It chooses nothing
(run s51's grid and keep rule are in experiments/rpeaks/minimum_gap.py, fixed before this look's figures were used).

    python experiments/rpeaks/gap_guard_look.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s51_gap_guard_look.json

For each false beat run s50's point (``s37_first_gap0.25_final0.5``) adds against run s47's baseline (``s37_first``):
whether it is a peak the gap kept (run s50's test only reaches those), whether the primary detector proposes it at
either point, the first guard step after which the two points disagree on it (the guard run with its later steps
off, ``STEPS``), the gap's minima nearest it, and the measure of that step: the second proposer's local median RR
(``GuardConstants.neighbours`` each side) and the candidate's spacing from its kept neighbours, or the noise check's
record-wide typical count of slope-sign changes (``noise_typical_beats`` kept peaks spread over the record) and the
peak's own. Then whether run s51's point (the gap's minima held out of the guard,
``SignalConfig.rpeak_minimum_gap_after_guard``) still has it, and the counts of the three points there. Prints one
JSON object last.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from cluster import TODAY, match, rhythm_signals  # noqa: E402
from look_cli import look_parser  # noqa: E402
import minimum_gap as M  # noqa: E402

from ecgsl_keras.data import rpeak_guard as G  # noqa: E402

log = logging.getLogger("experiments.rpeaks.gap_guard_look")
RECORDS = ("205", "207")     # run s50's changes_per_record: bigeminy's two false beats added
RHYTHM = "bigeminy"
# guard_rpeaks' steps after the amplitude check, in its order (a step off: its SignalConfig field 0)
STEPS = ("rpeak_guard_p_wave", "rpeak_searchback", "rpeak_second_proposer", "rpeak_propose_templates",
         "rpeak_guard_t_wave", "rpeak_guard_wide", "rpeak_guard_noise", "rpeak_guard_own_t", "rpeak_guard_blocked_p",
         "rpeak_guard_post_wide")


def point(run, a=0.5):
    """(name, SignalConfig, GuardConstants, options) of ``run``'s point at ``a`` (the baseline for ``"base"``)."""
    pts = list(M.points("s50" if run == "base" else run))
    return pts[0] if run == "base" else next(p for p in pts if p[3].get("rpeak_minimum_gap_final") == a)


def peaks_at(p, built, fs, cleaned, detect, off=()):
    """(primary, gap minima, final peaks) of point ``p``, the guard's steps ``off`` turned off."""
    _, config, constants, options = p
    return M.final_peaks(built, fs, cleaned, detect, dataclasses.replace(config, **{s: 0.0 for s in off}), constants,
                         options)


def step_of(points, at, built, fs, cleaned, detect):
    """The first guard step after which the two ``points`` disagree on peak ``at`` (the amplitude check alone first),
    and the peaks each kept just before that step (the step's input)."""
    before = None
    for i in range(len(STEPS) + 1):
        off = STEPS[i:] if i else STEPS
        kept = [peaks_at(p, built, fs, cleaned, detect, off)[2] for p in points]
        if (at in kept[0]) != (at in kept[1]):
            return ("amplitude check" if i == 0 else STEPS[i - 1]), before
        before = kept
    return None, before


def second_measure(kept, at, fs, constants):
    """The second proposer's local median RR at ``at`` over ``kept`` and ``at``'s spacing from its kept neighbours,
    in seconds, with the spacings it allows (``second_spacing`` / ``cluster_spacing`` / ``run_spacing`` x local RR)."""
    rr = np.diff(kept).astype(np.float64)
    local = float(G._neighbour_percentile(kept[1:], rr, np.array([at]), constants.neighbours, 50.0)[0])
    j = int(np.searchsorted(kept, at))
    return {"local_rr_s": round(local / fs, 3), "after_kept_s": round((at - kept[j - 1]) / fs, 3),
            "before_kept_s": round((kept[j] - at) / fs, 3),
            "spacing_needed_s": {name: round(getattr(constants, name) * local / fs, 3)
                                 for name in ("second_spacing", "cluster_spacing", "run_spacing")}}


def noise_measure(kept, at, cleaned, fs, constants, ratio):
    """The noise check's typical count of slope-sign changes over ``kept`` (``noise_typical_beats`` spread over the
    record), ``at``'s own count and the threshold ``ratio`` x typical."""
    half = max(1, int(round(constants.noise_window_s * float(fs))))
    spread = kept[np.linspace(0, kept.size - 1, min(kept.size, constants.noise_typical_beats)).astype(int)]
    typical = max(float(np.median(G.sign_changes(cleaned, spread, half))), 1.0)
    return {"kept_peaks": int(kept.size), "typical": typical, "threshold": ratio * typical,
            "own": int(G.sign_changes(cleaned, np.array([at]), half)[0])}


def look(data_dir) -> dict:
    base, s50, s51 = point("base"), point("s50"), point("s51")
    rows, counts = [], {}
    for rid in RECORDS:
        for _, built, fs, cleaned, detect in rhythm_signals(data_dir, rid, {f"{rid}|{RHYTHM}|{TODAY}": 0},
                                                           names=(RHYTHM,)):
            got = {M.SHORT[p[0]]: peaks_at(p, built, fs, cleaned, detect) for p in (base, s50, s51)}
            matched = {k: match(built, v[2], fs) for k, v in got.items()}
            counts[rid] = {k: list(v[:3]) for k, v in matched.items()}
            (p0, _, _), (p1, gap, f1) = got[M.SHORT[base[0]]], got[M.SHORT[s50[0]]]
            amplitude = G.qrs_shapes(cleaned, f1, fs)[0]
            for at in sorted(matched[M.SHORT[s50[0]]][4] - matched[M.SHORT[base[0]]][4]):
                step, kept = step_of((base, s50), at, built, fs, cleaned, detect)
                j = int(np.searchsorted(f1, at))
                constants = s50[2]
                row = {"record": rid, "rhythm": RHYTHM, "sample": int(at), "time_s": round(at / fs, 2),
                       "a_gap_minimum": bool(np.isin(at, gap)), "in_primary": {"s37_first": bool(np.isin(at, p0)),
                                                                               "s50": bool(np.isin(at, p1))},
                       "first_step_differing": step,
                       "nearest_gap_minima_s": sorted(round(float(g - at) / fs, 2)
                                                      for g in gap[np.argsort(np.abs(gap - at))[:3]]),
                       "after_kept_s": round((at - f1[j - 1]) / fs, 3),
                       "amplitude_over_reference": round(float(amplitude[j] / G.amplitude_reference(
                           np.delete(f1, j), np.delete(amplitude, j), np.array([at]))[0]), 2),
                       "kept_peaks_before_step": {"s37_first": int(kept[0].size), "s50": int(kept[1].size)},
                       "in_s51": bool(np.isin(at, got[M.SHORT[s51[0]]][2]))}
                if step == "rpeak_second_proposer":
                    row["second_proposer"] = {name: second_measure(k, at, fs, constants)
                                              for name, k in zip(("s37_first", "s50"), kept)}
                if step == "rpeak_guard_noise":
                    ratio = float(s50[1].rpeak_guard_noise)
                    row["noise_check"] = {name: noise_measure(k, at, cleaned, fs, constants, ratio)
                                          for name, k in zip(("s37_first", "s50"), kept)}
                log.info("%s", row)
                rows.append(row)
    return {"experiment": "rpeaks_s51_gap_guard_look", "blind": False,
            "what": "run s50's extra false beats in the bigeminy builds (held out: run s50's counts say where), traced "
                    "through the guard; chooses nothing",
            "points": {"baseline": M.SHORT[base[0]], "s50": M.SHORT[s50[0]], "s51": M.SHORT[s51[0]]},
            "records": list(RECORDS), "rhythm": RHYTHM, "seed": "record number (bigeminy is built once)",
            "guard_steps": list(STEPS), "false_beats": rows, "counts_tp_fn_fp": counts,
            "removed_by_s51": sum(not r["in_s51"] for r in rows), "false_beats_n": len(rows)}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    argv, parser = look_parser(argv, __doc__)
    args = parser.parse_args(argv)
    result = look(args.data_dir)
    result["command"] = " ".join(["python", "experiments/rpeaks/gap_guard_look.py"] + argv)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("false_beats_n", "removed_by_s51", "counts_tp_fn_fp")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
