"""Run s31 (issue 21): leave-one-record-out choice of the QRS residual (``SignalConfig.rpeak_guard_residual``,
``signal.qrs_residual``, ``GuardConstants.residual_strict``) for the cluster rescue's closer spacing, on run s28's point,
on MIT-BIH DS1 and the rhythms built from it (normal, block21, pause, bigeminy).

    python experiments/rpeaks/residual.py --data-dir /work/shared/data/mitdb --out benchmarks/results/rpeaks_loro_s31.json

Why: in run s30 the cluster rescue on the second proposer's candidates at the closer spacing (0.4 x the local RR, with
the T-wave veto 0.9 / all / size 4) brought bigeminy under its error budget on all 22 records (FN 146) but added false
beats elsewhere that the T-wave template does not recognise. A real QRS on top of the T wave of the beat before it
leaves a large residual after subtracting what follows the beats of that beat's shape at the same lag; the T wave does
not; with ``residual_strict`` a candidate without such a template (too few beats of the shape of the beat before it:
noise, 108's P waves) is not added at the closer spacing.

Grid: run s30's 92 points (experiments/rpeaks/t_wave.py ``points``; their counts can be reused from run s30's cache)
plus, on the closer spacings 0.4 and 0.35 (sharpness 0.8, veto 0.9 / all / size 4), the residual 0.3 / 0.5 / 0.7 x
strict off / on; second grid: ``GuardConstants.cluster_close_min`` 4 / 8 (beats of the candidate's shape needed at the
closer spacing) at 0.4 without the residual, and at 0.4 and 0.35 with the strict residual 0.3; third grid:
``GuardConstants.cluster_loose_only`` (a candidate only the closer spacing admits goes through the cluster rescue and
the closer checks, not the usual size check) at 0.4 alone, with 4 / 6 / 8 beats and the strict residual 0.3, with 4 beats
and the strict residual 0.5, and at 0.35 with 4 beats and the strict residual 0.3; fourth grid: the cluster rescue's
floor against all neighbours (``GuardConstants.cluster_floor``, 0.1) 0.15 / 0.2 / 0.25 at 0.4 with 4 beats, the strict
residual 0.3 and ``cluster_loose_only``. Chosen leave-one-record-out as in
run s30 (fewest FN + FP over the four rhythms on the other 21; run s28's point fixed as the base); counts as
``bench rpeaks`` (150 ms, VF episodes excluded). Per-record counts are
cached in ``--cache-dir`` (``--records`` counts a subset and stops). Prints one JSON object last.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import t_wave  # noqa: E402
from cluster import BASE_CONSTANTS, errors, loro, totals, write_result  # noqa: E402
from t_wave import OFF, S29, TODAY  # noqa: E402


log = logging.getLogger("experiments.rpeaks.residual")
S30 = "s28__c0.9_a0.3_second_n16_s0.8__t0.9_all_z4"           # run s30's choice (19 of 22 folds)
VETO = "s28__t0.7_all"                                          # run s30's choice in 203's fold (the veto alone)
CLOSER = ("s28__c0.9_a0.3_second_n16_s0.8_sp0.4__t0.9_all_z4", "s28__c0.9_a0.3_second_n16_s0.8_sp0.35__t0.9_all_z4")
RESIDUAL, STRICT = (0.3, 0.5, 0.7), (False, True)
CLOSE_MIN = (4, 8)
# third grid: (cluster_close_min, residual with strict) with cluster_loose_only; 0.35 only at (4, 0.3)
LOOSE_ONLY = ((0, 0.0), (4, 0.3), (6, 0.3), (8, 0.3), (4, 0.5))
FLOOR = (0.15, 0.2, 0.25)
_S30_POINTS = t_wave.points


def points():
    """(name, SignalConfig, GuardConstants): run s30's grid, then the residual on the closer spacings."""
    grid = list(_S30_POINTS())
    yield from grid
    by_name = {name: (config, constants) for name, config, constants in grid}
    for base, r, strict in itertools.product(CLOSER, RESIDUAL, STRICT):
        config, constants = by_name[base]
        yield (f"{base}__r{r}" + ("_strict" if strict else ""), dataclasses.replace(config, rpeak_guard_residual=r),
               dataclasses.replace(constants, residual_strict=strict))
    # second grid (the residual alone left the closer spacing's non-T-wave false beats): more beats of the
    # candidate's shape around it at the closer spacing (GuardConstants.cluster_close_min), without and with the
    # strict residual 0.3
    for base, close_min, r in itertools.product(CLOSER, CLOSE_MIN, (0.0, 0.3)):
        if base == CLOSER[1] and r == 0.0:
            continue
        config, constants = by_name[base]
        yield (f"{base}__m{close_min}" + (f"__r{r}_strict" if r else ""),
               dataclasses.replace(config, rpeak_guard_residual=r),
               dataclasses.replace(constants, residual_strict=bool(r), cluster_close_min=close_min))
    # third grid (a candidate only the closer spacing admits can pass the usual size check after its move to the apex:
    # GuardConstants.cluster_loose_only sends it through the cluster rescue and the closer checks)
    for base, (close_min, r) in itertools.product(CLOSER, LOOSE_ONLY):
        if base == CLOSER[1] and (close_min, r) != (4, 0.3):
            continue
        config, constants = by_name[base]
        yield ((f"{base}__m{close_min}__r{r}_strict__lo" if r else f"{base}__lo"),
               dataclasses.replace(config, rpeak_guard_residual=r),
               dataclasses.replace(constants, cluster_loose_only=True, residual_strict=bool(r), cluster_close_min=close_min))
    # fourth grid (the chosen point's false beats on the other 21 records of 203's fold are mostly small peaks the
    # cluster rescue keeps far from both beats: 108's blocked P waves): its floor against all neighbours
    # (GuardConstants.cluster_floor, 0.1), on the third grid's 0.4 / 4 beats / strict residual 0.3
    config, constants = by_name[CLOSER[0]]
    for floor in FLOOR:
        yield (f"{CLOSER[0]}__m4__r0.3_strict__lo__f{floor}", dataclasses.replace(config, rpeak_guard_residual=0.3),
               dataclasses.replace(constants, cluster_loose_only=True, residual_strict=True, cluster_close_min=4,
                                   cluster_floor=floor))


def main(argv=None) -> int:
    start = t_wave.grid_start(__doc__, argv, points())
    if start is None:
        return 0
    args, counts, records, all_names = start
    new = all_names[len(list(_S30_POINTS())):]
    held, choice, all22, best, others = t_wave.loro_grid(counts, all_names, records)
    held30, choice30 = loro(counts, all_names[:len(all_names) - len(new)], records)
    watch = sorted({OFF, S29, S30, VETO, best, *choice.values(), *CLOSER, *new})
    result = {**t_wave.head_fields("rpeaks_loro_s31", "experiments/rpeaks/residual.py", argv, records),
              "base": BASE_CONSTANTS, "grid": {"s30_points": len(all_names) - len(new), "closer": CLOSER,
                                               "rpeak_guard_residual": RESIDUAL, "residual_strict": STRICT,
                                               "cluster_close_min (second grid)": CLOSE_MIN,
                                               "cluster_loose_only (third grid)": LOOSE_ONLY,
                                               "cluster_floor (fourth grid)": FLOOR},
              "grid_points": len(all_names), "new_points": new, "new_point_count": len(new),
              **t_wave.most_chosen_fields(choice),
              "today": all22[TODAY], "s28": all22[OFF], "s30": all22[S30],
              **t_wave.held_fields(held),
              "held_out_s30_grid": held30, "choice_per_fold_s30_grid": choice30,
              **t_wave.choice_best_fields(choice, all22, best),
              "errors": {"today": errors(all22[TODAY]), "s28": errors(all22[OFF]), "s30": errors(all22[S30]),
                         "held_out": errors(held), "held_out_s30_grid": errors(held30),
                         "best_all_22": errors(all22[best])},
              "grid_all_22": {n: all22[n] for n in [OFF, S30, *CLOSER, *new]},
              "grid_errors_all_22": {n: errors(all22[n]) for n in all_names},
              "fold_errors": {r: {**t_wave.fold_chosen(counts, choice, others, r),
                                  "held_out_s30_choice": errors(totals(counts, choice30[r], [r])),
                                  **t_wave.fold_best(counts, choice, best, others, r)} for r in records},
              **t_wave.watch_fields(counts, choice, records, watch)}
    write_result(args.out, result,
                 ("held_out", "held_out_distance_to_target", "choice_counts", "errors", "best_all_22"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
