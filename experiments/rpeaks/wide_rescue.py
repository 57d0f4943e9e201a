"""Run s43, second lever (issue 21): the wide rescue of the guard's amplitude check (``SignalConfig.rpeak_rescue_wide``
= a, ``GuardConstants.wide_sharpness`` = s; ``rpeak_guard.guard_keep``) on the baseline of runs s41-s43, run s37's
point with ``rpeak_keep_first_beat`` (``s37_first``): a peak under the amplitude threshold is kept when it is at least
a x the reference, wider than ``rescue_width`` x the QRS complexes around it and at least s x their median sharpness.

Why (benchmarks/results/rpeaks_s43_block21_misses.json, ``block21_misses.py --first-beat``): outside MIT-BIH 203, 24
of block21's 60 misses are dropped by the amplitude check (``guard_keep``), most of them PVCs at 0.2-0.5 x the
neighbours' amplitude and 2-7 x their width; the shape rescue refuses them (width at most ``rescue_width`` x). A lever
whose gain is all in 203 cannot pass leave-one-record-out (run s43's first lever), so this one aims at the other 21.

    python experiments/rpeaks/wide_rescue.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s43_wide_rescue.json --cache-dir /work/runs/s33-rpeaks-like/counts

Grid (fixed before any figure of this grid was seen): the baseline and a in {0.15, 0.25} x s in {0.85, 1.0}. Leave one
record out as in runs s30-s43 (fewest FN + FP over the four rhythms on the other 21).

Keep rule (fixed before any figure of this grid was seen): recommended when the held-out FN + FP of the
leave-one-record-out choice is below the baseline's (820) and no rhythm's held-out Se or +P is below the baseline's
(a default also needs CPU time within 1.3x today's detector). Prints one JSON object last.
"""
from __future__ import annotations

import dataclasses
import logging
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import first_beat  # noqa: E402
from cluster import (RHYTHMS, cached_counts, changes, errors, grid_error_fields, guard_constants,  # noqa: E402
                     held_out_fields, loro_summary, match, parse_grid_arguments, primary_config, result_head,
                     rhythm_signals, score_point, write_result)

from ecgsl_keras.data import signal as S  # noqa: E402

log = logging.getLogger("experiments.rpeaks.wide_rescue")
FIRST = first_beat.FIRST
AMPLITUDE, SHARPNESS = (0.15, 0.25), (0.85, 1.0)
KEEP_RULE = ("recommended when the held-out FN + FP of the leave-one-record-out choice is below the baseline's "
             "(s37_first, 820) and no rhythm's held-out Se or +P is below the baseline's (a default also needs CPU "
             "time within 1.3x today's detector)")
PRINTED = ("errors", "held_out", "keep", "choice_counts", "grid_errors_all_22")


def baseline():
    """(name, SignalConfig, GuardConstants) of the wide grids' baseline: run s40's point, ``s37_first``."""
    return next((n, c, k) for n, c, k, _ in first_beat.points() if n == FIRST)


def points():
    """(name, SignalConfig, GuardConstants): the baseline, then the wide rescue's grid."""
    base, config, constants = baseline()
    yield base, config, constants
    for a in AMPLITUDE:
        for s in SHARPNESS:
            yield (f"{base}__wide{a}_s{s}", dataclasses.replace(config, rpeak_rescue_wide=a),
                   dataclasses.replace(constants, wide_sharpness=s))


def count_grid(grid, logger, data_dir, rid, out=None, extra=None, **signals) -> dict:
    """Counts of record ``rid``'s four signals at every point of ``grid`` (the wide grids of runs s43-s45: its first
    point the baseline), and per other point the beats found / lost and false beats added / removed against the
    baseline (``rid|rhythm|name|changes``); ``extra(rhythm, built, fs, sets)``, when given, returns more keys of a
    rhythm (``sets``: ``score_point``'s matched and false beats per name). ``signals``: ``rhythm_signals``'
    ``t_end_s`` and ``names`` (run s46 recounts block21 on its builder)."""
    out = dict(out or {})
    grid = list(grid)
    base_name = grid[0][0]
    for rhythm, built, fs, cleaned, detect in rhythm_signals(data_dir, rid, out, **signals):
        primary = S.find_rpeaks(built["signal"], fs, primary_config(rpeak_keep_first_beat=True), cleaned=cleaned)
        sets = {}
        for name, config, constants in grid:
            with guard_constants(constants):
                peaks = S.guard_rpeaks(primary, cleaned, detect, fs, config)
            score_point(out, sets, f"{rid}|{rhythm}|{name}", name, base_name, match(built, peaks, fs))
        if extra is not None:
            out.update(extra(rhythm, built, fs, sets))
        logger.info("%s %s: %s", rid, rhythm, [out[f"{rid}|{rhythm}|{n}"] for n, _, _ in grid])
    return out


def count_record(data_dir, rid, out=None, **signals) -> dict:
    """``count_grid`` of this grid (``points``)."""
    return count_grid(points(), log, data_dir, rid, out, **signals)


def first_two(grid, data_dir, records, rhythms=None):
    """Per record of ``records`` and rhythm (of ``rhythms``, all when None): ``(rid, rhythm, built, fs, cleaned,
    primary, peaks0, peaks1)``, the primary peaks and the guarded peaks at ``grid``'s first two points (the post hoc
    looks of runs s44-s45: the baseline against a wide point)."""
    (_, config0, constants0), (_, config1, constants1) = list(grid)[:2]
    for rid in records:
        for rhythm, built, fs, cleaned, detect in rhythm_signals(data_dir, rid, {}):
            if rhythms is not None and rhythm not in rhythms:
                continue
            primary = S.find_rpeaks(built["signal"], fs, primary_config(rpeak_keep_first_beat=True), cleaned=cleaned)
            with guard_constants(constants0):
                peaks0 = S.guard_rpeaks(primary, cleaned, detect, fs, config0)
            with guard_constants(constants1):
                peaks1 = S.guard_rpeaks(primary, cleaned, detect, fs, config1)
            yield rid, rhythm, built, fs, cleaned, primary, peaks0, peaks1


def grid_result(args, argv, names, count_record, experiment, script, grid, extra_keys=()):
    """``(result, counts, all22)`` of a wide grid over ``names`` (its first the baseline ``FIRST``), or None when
    ``--records`` asked for counting only: the counts cached per record (``count_record``, with the ``|changes`` keys
    and ``extra_keys``), the leave-one-record-out choice, the keep decision under ``KEEP_RULE`` and each point's
    errors and changes against the baseline; ``grid`` is the results' ``grid`` key."""
    adds = names[1:]
    short = {n: n.replace(FIRST, "s37_first") for n in names}
    counts = cached_counts(args, names + [f"{n}|changes" for n in adds] + list(extra_keys), count_record)
    if counts is None:
        return None

    records, held, choice, all22, most = loro_summary(counts, names)
    result = result_head(experiment, script, argv, records, KEEP_RULE)
    result["grid"] = grid
    result.update(held_out_fields(held, choice, all22[FIRST], KEEP_RULE, short))
    result["most_chosen_short"] = short[most]
    result["errors"] = {"held_out": errors(held), "baseline": errors(all22[FIRST]),
                        "most_chosen_all_22": errors(all22[most])}
    result["held_out_rhythm_fn_fp"] = {r: [held[r]["FN"], held[r]["FP"]] for r in RHYTHMS}
    result["baseline_all_22"] = all22[FIRST]
    result.update(grid_error_fields(counts, all22, names, records, short))
    result["changes_vs_baseline_all_22"] = {short[n]: changes(counts, n, records) for n in adds}
    result["changes_vs_baseline_per_record"] = {short[n]: {rid: changes(counts, n, [rid]) for rid in records
                                                           if any(changes(counts, n, [rid]).values())} for n in adds}
    return result, counts, all22


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_grid_arguments(__doc__, argv)
    run = grid_result(args, argv, [p[0] for p in points()], count_record, "rpeaks_loro_s43_wide_rescue",
                      "experiments/rpeaks/wide_rescue.py",
                      {"amplitude": list(AMPLITUDE), "wide_sharpness": list(SHARPNESS)})
    if run is not None:
        write_result(args.out, run[0], PRINTED)
    return 0


if __name__ == "__main__":
    sys.exit(main())
