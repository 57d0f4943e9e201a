"""Run s38 (issue 21): a proposer for the beats the primary detector never proposes, the template proposer
(``SignalConfig.rpeak_propose_templates``, ``rpeak_guard.template_proposer``, ``GuardConstants.propose_*``), tested
leave-one-record-out on MIT-BIH DS1 and the rhythms built from it (normal, block21, pause, bigeminy) on run s37's chosen
point (record templates + blocked-P-wave check + post-wide check).

    python experiments/rpeaks/propose_templates.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_loro_s38.json --cache-dir /work/runs/s38/counts

Why (run s37's diagnosis, benchmarks/results/rpeaks_s37_diagnosis.json): block21 is 25 misses over its allowance but
only 6 false beats; most misses are record 203's early multiform PVCs (21 of its 50 under 0.35 s after a kept beat,
median height 0.59 x the reference), 43 of the 50 never proposed by the primary detector, so no guard rule keeps them.
The template proposer adds local extremes of the cleaned signal at least ``propose_gap_s`` (0.2 s) from every kept peak
whose QRS window correlates with one of the record's own QRS morphologies (run s36's ``record_templates``) and whose
amplitude reaches ``propose_amplitude`` (0.5) x that morphology's; the post-wide, blocked-P and other checks then
decide on them as on every peak. Training-side diagnosis per record: the ``diagnosis`` key (counts at each point on
every record, 203's block21 first).

Training-side probe on record 203 alone before the grid was fixed (/work/runs/s38/probe.py; FN / FP of block21 at run
s37's point 50 / 31): correlation 0.95, gap 0.2 s: 46 / 31; 0.9, 0.2 s: 42 / 34; 0.9, 0.15 s: 41 / 34; with
``propose_amplitude`` 0.3 each miss found costs about one false beat or more (0.9, 0.15 s: 34 / 59), so 0.5 stays;
correlation under 0.9 finds no more (0.85 / 0.8, 0.15 s: 42 / 33-34). The proposer finds 4-9 of 203's 50 block21
misses: most of them do not match a morphology of the record at 0.85 or more with half its amplitude.

Grid (fixed before this script ran, after the 203 probe only): run s37's chosen point with the proposer off, and at
(correlation, ``propose_gap_s``) = (0.95, 0.2), (0.9, 0.2), (0.9, 0.15), (0.85, 0.15), ``propose_amplitude`` 0.5.
Chosen leave-one-record-out as in runs s30-s37: for each record left out, the point with the fewest FN + FP over the
four rhythms on the other 21 (ties: the first name in sort order, which puts the point with the proposer off first),
scored on it. Counts as ``bench rpeaks`` (150 ms, VF episodes excluded); per-record counts cached in ``--cache-dir``
(run s37's cache holds the point with the proposer off).

Keep rule (fixed before any held-out figure of this grid was seen): the most chosen point is recommended when (a) every
rhythm's held-out Se and +P reach 0.997, or at least none falls below run s33's point's (the point alone, scored on
every record), (b) the held-out FN + FP over the four rhythms is below that point's, and (c) the most chosen point's
CPU time is at most 1.3x today's detector (experiments/rpeaks/propose_templates_speed.py). A default changes in no
case here. Prints one JSON object last.
"""
from __future__ import annotations

import collections
import dataclasses
import logging
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import post_wide  # noqa: E402
import t_wave  # noqa: E402
import templates  # noqa: E402
from cluster import RHYTHMS, errors, keep, result_head, totals, write_result  # noqa: E402
from t_wave import TODAY  # noqa: E402

log = logging.getLogger("experiments.rpeaks.propose_templates")
S33 = templates.S33
S37 = f"{S33}__{post_wide.TEMPLATES}__{post_wide.CHECK}__pw0.4_l0.3"
# (rpeak_propose_templates, propose_gap_s), propose_amplitude 0.5
PROPOSE = ((0.95, 0.2), (0.9, 0.2), (0.9, 0.15), (0.85, 0.15))
KEEP_RULE = ("recommended when every rhythm's held-out Se and +P reach 0.997 or none falls below run s33's point's "
             "(scored on every record), the held-out FN + FP over the four rhythms falls below that point's, and the "
             "most chosen point's CPU time is at most 1.3x today's detector (propose_templates_speed.py)")


def points():
    """(name, SignalConfig, GuardConstants): run s37's chosen point, then the template proposer on it."""
    grid = {name: (c, k) for name, c, k in post_wide.points()}
    config, constants = grid[S37]
    yield S37, config, constants
    for c, gap in PROPOSE:
        yield (f"{S37}__pt{c}_g{gap}", dataclasses.replace(config, rpeak_propose_templates=c),
               dataclasses.replace(constants, propose_gap_s=gap))


def main(argv=None) -> int:
    run = t_wave.grid_loro(__doc__, argv, points())
    if run is None:
        return 0
    args, counts, all_names, records, held, choice, all22, most = run
    all22[S33] = totals(counts, S33, records)       # the keep rule's base, not a point of this grid
    others = {r: [o for o in records if o != r] for r in records}
    meets = {rh: bool(v["Se"] >= 0.997 and v["+P"] >= 0.997) for rh, v in held.items()}
    on_counts = keep(held, all22[S33], KEEP_RULE)
    result = {**result_head("rpeaks_loro_s38", "experiments/rpeaks/propose_templates.py", argv, records, KEEP_RULE),
              "grid": {"base": S37, "(rpeak_propose_templates, propose_gap_s)": PROPOSE, "propose_amplitude": 0.5},
              "grid_points": len(all_names), "tie_break": "the first name in sort order (the proposer off first)",
              "most_chosen": most, "today": all22[TODAY], "s33_point": all22[S33],
              **t_wave.held_fields(held),
              "fp_allowed": {rh: int((1 - 0.997) / 0.997 * v["TP"]) for rh, v in held.items()},
              "meets_target": meets,
              "keep": {**on_counts, "meets_target_all": all(meets.values()),
                       # (a) and (b) of this run's rule: the targets met replace the no-fall condition
                       "recommended_on_counts": bool(on_counts["fewer_errors"]
                                                     and (all(meets.values()) or not on_counts["falls"]))},
              "choice_per_fold": choice, "choice_counts": dict(collections.Counter(choice.values())),
              "errors": {"today": errors(all22[TODAY]), "s33_point": errors(all22[S33]), "held_out": errors(held),
                         **{f"all_22:{n}": errors(all22[n]) for n in all_names}},
              # where the proposer gains and costs: FN + FP on record 203 and on the 21 others, at each point
              "errors_203_and_rest": {n: [errors(totals(counts, n, ["203"])), errors(totals(counts, n, others["203"]))]
                                      for n in all_names},
              "grid_rhythm_errors_all_22": {n: {r: [all22[n][r]["FN"], all22[n][r]["FP"]] for r in RHYTHMS}
                                            for n in all_names},
              # training-side diagnosis: each record's FN / FP per rhythm at every point (the proposer's gains / costs)
              "diagnosis": {r: {n: {rh: counts[f"{r}|{rh}|{n}"][1:] for rh in RHYTHMS} for n in all_names}
                            for r in ["203"] + [o for o in records if o != "203"]},
              "fold_errors": {r: t_wave.fold_chosen(counts, choice, others, r) for r in records},
              "per_record_held_out": {r: totals(counts, choice[r], [r]) for r in records}}
    write_result(args.out, result, ("held_out", "held_out_distance_to_target", "meets_target", "choice_counts",
                                    "errors", "keep"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
