"""Run s36 (issue 21), a combination added after the held-out figures of run s36 (record templates,
benchmarks/results/rpeaks_loro_s36.json) and of run s34 (blocked-P-wave check, rpeaks_loro_s34.json) were seen: the two
options together on run s33's most chosen point, chosen leave one DS1 record out as in runs s30-s36.

    python experiments/rpeaks/templates_combo.py --data-dir /work/shared/data/mitdb --out benchmarks/results/rpeaks_loro_s36_combo.json

Why: each fell short of run s33's point in the opposite way -- the templates bring back beats (bigeminy 155 -> 141 misses
on all 22) and add a few false ones; run s34's second-grid check drops block21's false beats (121 -> 100 held out) and a
few true ones. Grid (6 points, fixed before this script ran): run s33's point; the templates at run s36's most chosen
point (``rpeak_rescue_templates`` 0.95, ``templates_min`` 8, amplitude 0.3, ``templates_second``); run s34's two chosen
checks (``rpeak_guard_blocked_p`` 0.8, ``blocked_p_own`` 0.95, ``blocked_p_mid`` 0.06, with ``blocked_p_unlike`` 0 and
with 0.9 / ``blocked_p_after`` 0.5); each check with the templates. Per-record counts shared with templates.py's cache
(run s34's cache holds the checks alone).

Keep rule (as run s36's, fixed before this script's figures; the grid itself came after other held-out figures, so a
pass here would be a pointer for a fresh test, not a result): recommended when no rhythm's held-out Se or +P falls
below run s33's point's (all 22), the held-out FN + FP falls below its 895, and the chosen point's CPU time is at most
1.3x today's detector. Prints one JSON object last.
"""
from __future__ import annotations

import dataclasses
import logging
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import t_wave  # noqa: E402
import templates  # noqa: E402
from cluster import RHYTHMS, errors, held_out_fields, totals, write_result  # noqa: E402
from t_wave import kind_totals  # noqa: E402

log = logging.getLogger("experiments.rpeaks.templates_combo")
S33 = templates.S33
TEMPLATES = "tp0.95_m8_a0.3_second"
CHECKS = {"bp0.8_o0.95_m0.06_u0.0": dict(blocked_p_own=0.95, blocked_p_mid=0.06, blocked_p_unlike=0.0),
          "bp0.8_o0.95_m0.06_u0.9_after0.5": dict(blocked_p_own=0.95, blocked_p_mid=0.06, blocked_p_unlike=0.9,
                                                  blocked_p_after=0.5)}
KEEP_RULE = templates.KEEP_RULE


def points():
    """(name, SignalConfig, GuardConstants): run s33's point, the templates, the two checks, each check with them."""
    grid = {name: (c, k) for name, c, k in templates.points()}
    config, constants = grid[S33]
    with_templates = grid[f"{S33}__{TEMPLATES}"]
    yield S33, config, constants
    yield f"{S33}__{TEMPLATES}", *with_templates
    for base_name, (c, k) in ((S33, (config, constants)), (f"{S33}__{TEMPLATES}", with_templates)):
        for check, fields in CHECKS.items():
            yield (f"{base_name}__{check}", dataclasses.replace(c, rpeak_guard_blocked_p=0.8),
                   dataclasses.replace(k, **fields))


def main(argv=None) -> int:
    run = t_wave.grid_loro(__doc__, argv, points())
    if run is None:
        return 0
    args, counts, all_names, records, held, choice, all22, most = run
    result = {"experiment": "rpeaks_loro_s36_combo",
              "command": " ".join(["python", "experiments/rpeaks/templates_combo.py"] + list(argv if argv is not None else sys.argv[1:])),
              "added": "after the held-out figures of run s36 (templates) and run s34 (blocked-P-wave check) were seen",
              "records": records, "rhythms": list(RHYTHMS), "scored_on": "each DS1 record held out (choice on the other 21)",
              "criterion": "fewest FN + FP over the four rhythms", "tolerance_ms": 150, "target": 0.997,
              "keep_rule": KEEP_RULE, "grid": all_names, "most_chosen": most,
              "s33_point": all22[S33],
              **held_out_fields(held, choice, all22[S33], KEEP_RULE, {n: n for n in all_names}),
              "errors": {"s33_point": errors(all22[S33]), "held_out": errors(held),
                         "most_chosen_all_22": errors(all22[most])},
              "grid_all_22": {n: all22[n] for n in all_names},
              "grid_errors_all_22": {n: errors(all22[n]) for n in all_names},
              "per_record_held_out": {r: totals(counts, choice[r], [r]) for r in records},
              "kinds": {n: {rh: kind_totals(counts, n, records, rh) for rh in t_wave.KIND_RHYTHMS}
                        for n in sorted({S33, most})}}
    write_result(args.out, result, ("held_out", "held_out_distance_to_target", "meets_target", "choice_counts",
                                    "errors", "keep"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
