"""Run s33 (issue 21): leave-one-record-out choice of the PVC-run spacing (``SignalConfig.rpeak_second_run``,
``signal.pvc_run_like``, ``GuardConstants.run_*``) on top of run s32's grid, on MIT-BIH DS1 and the rhythms built
from it (normal, block21, pause, bigeminy).

    python experiments/rpeaks/pvc_run.py --data-dir /work/shared/data/mitdb --out benchmarks/results/rpeaks_loro_s33.json

Why: block21's missed PVCs next to another PVC (203, 205; experiments/rpeaks/pvc_runs.py,
benchmarks/results/rpeaks_loro_s32_pvc.json) are never proposed by neurokit2, and the second proposer's spacing
check drops 28 of 38: they sit 0.3-0.5 x the local RR from a kept beat (second_spacing 0.5). The PVC-run spacing lets
a second-proposer candidate in down to ``run_spacing`` x the local RR when its QRS correlates at least
``rpeak_second_run`` with at least ``run_min`` wide kept beats around it (a PVC inside a run of PVCs).

Grid: run s32's grids 1-3 (experiments/rpeaks/noise.py ``points`` without the fourth grid's own T-wave check: run
s32's reported 948 held-out errors) plus the PVC-run spacing on run s32's most chosen point: ``rpeak_second_run``
0.8 / 0.9 / 0.95 x ``run_spacing`` 0.3 / 0.4 x ``run_min`` 1 / 2 (``run_wide`` 1.3; 203's PVCs are multiform: few wide kept beats around a missed one share its shape); second grid
(the first's choice sat at its edge): 0.95 / 0.97 / 0.98 x 0.25 / 0.3 / 0.35 at ``run_min`` 1. Chosen leave-one-record-out as in runs
s30-s32 (fewest FN + FP over the four rhythms on the other 21); counts as ``bench rpeaks`` (150 ms, VF episodes
excluded). Per-record counts are cached in ``--cache-dir`` (run s32's cache can be copied in: only the new points are
counted). Prints one JSON object last.
"""
from __future__ import annotations

import collections
import dataclasses
import logging
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import noise  # noqa: E402
import t_wave  # noqa: E402
from cluster import BASE_CONSTANTS, errors, loro, totals, write_result  # noqa: E402
from t_wave import TODAY  # noqa: E402

from ecgsl_keras.data import rpeak_guard as G  # noqa: E402

log = logging.getLogger("experiments.rpeaks.pvc_run")
S32 = noise.S32     # run s32's most chosen point (17 of 22 folds)
# (rpeak_second_run, run_spacing, run_min)
RUN = FIRST_RUN = tuple((c, s, k) for c in (0.8, 0.9, 0.95) for s in (0.3, 0.4) for k in (1, 2))
# second grid (the first grid's fewest errors on all 22, and 21 folds' choice, sat at its edge, 0.95 / 0.3 / 1):
# higher correlations and closer spacings at run_min 1
RUN += tuple((c, s, 1) for c in (0.95, 0.97, 0.98) for s in (0.25, 0.3, 0.35) if (c, s) != (0.95, 0.3))
_S32_POINTS = noise.points


def points():
    """(name, SignalConfig, GuardConstants): run s32's grids 1-3, then the PVC-run spacing on run s32's point."""
    grid = [p for p in _S32_POINTS() if "__o" not in p[0]]      # without the own T-wave check (fourth grid)
    config, constants = {name: (c, k) for name, c, k in grid}[S32]
    for correlation, spacing, least in RUN:
        grid.append((f"{S32}__pr{correlation}_sp{spacing}_k{least}",
                     dataclasses.replace(config, rpeak_second_run=correlation),
                     dataclasses.replace(constants, run_spacing=spacing, run_min=least)))
    yield from grid


def main(argv=None) -> int:
    start = t_wave.grid_start(__doc__, argv, points())
    if start is None:
        return 0
    args, counts, records, all_names = start
    new = all_names[len(all_names) - len(RUN):]
    old = all_names[:len(all_names) - len(RUN)]
    held, choice, all22, best, others = t_wave.loro_grid(counts, all_names, records)
    held32, choice32 = loro(counts, old, records)
    first = len(old) + len(FIRST_RUN)
    held_first, choice_first = loro(counts, all_names[:first], records)    # with the first PVC-run grid only
    watch = sorted({S32, best, *choice.values(), *new})
    result = {**t_wave.head_fields("rpeaks_loro_s33", "experiments/rpeaks/pvc_run.py", argv, records),
              "base": BASE_CONSTANTS, "grid": {"s32_points": len(old), "run_base": S32,
                                               "(rpeak_second_run, run_spacing, run_min)": RUN,
                                               "run_wide": G.GUARD.run_wide,
                                               "second_window_s": G.GUARD.second_window_s},
              "grid_points": len(all_names), "new_points": new, "new_point_count": len(new),
              **t_wave.most_chosen_fields(choice),
              "today": all22[TODAY], "s32_point": all22[S32],
              **t_wave.held_fields(held),
              "held_out_s32_grid": held32, "choice_per_fold_s32_grid": choice32,
              "held_out_first_run_grid": held_first,
              "choice_counts_first_run_grid": dict(collections.Counter(choice_first.values())),
              **t_wave.choice_best_fields(choice, all22, best, best_distance=False),
              "errors": {"today": errors(all22[TODAY]), "s32_point": errors(all22[S32]), "held_out": errors(held),
                         "held_out_s32_grid": errors(held32), "held_out_first_run_grid": errors(held_first),
                         "best_all_22": errors(all22[best])},
              "grid_all_22": {n: all22[n] for n in [S32, *new]},
              "grid_errors_all_22": {n: errors(all22[n]) for n in [S32, *new]},
              "fold_errors": {r: {**t_wave.fold_chosen(counts, choice, others, r),
                                  "held_out_s32_grid_choice": errors(totals(counts, choice32[r], [r]))}
                              for r in records},
              **t_wave.watch_fields(counts, choice, records, watch, block21_kinds=False)}
    write_result(args.out, result, ("held_out", "choice_counts", "errors", "best_all_22"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
