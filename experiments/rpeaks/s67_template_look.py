"""Run s67 (issue 21): do the record's own QRS templates tell the beats a lower second-proposer spacing would find
from the false beats it adds? A HELD-OUT look, NOT blind (it reads run s66's held-out rows and counts; it aims run
s67's option, whose point is still chosen leave one record out, experiments/rpeaks/minimum_gap.py --run s67).

    python experiments/rpeaks/s67_template_look.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s67_template_look.json

Two sets of second-proposer candidates, each measured against the record's templates (``rpeak_guard.record_templates``
at ``SignalConfig.rpeak_rescue_templates`` = 0.95, from a ``template_sample`` of run s41-combo's point's final peaks on
the same build, as the templates rescue builds them):

- ``refused_203``: run s66's look rows (``rpeaks_s66_never_proposed_look.json`` ``misses``) of 203's never-proposed
  misses at k = 0 (block21 and normal) whose candidate reaches the slope level (0.5) and the amplitude (0.1): the
  candidate (``sample`` + ``candidate_ms``) moved to its apex as the second proposer moves it;
- ``s04_added``: the peaks run s66's s = 0.4 point adds to run s41-combo's point (final peaks, same build), per record
  in ``RECORDS`` (the records run s66's s = 0.4 changed most at k = 0) over normal, pause, bigeminy and block21 k = 0:
  ``true`` (a beat it finds) or ``false`` (a false beat).

Measures: ``corr`` the largest correlation of the candidate's unit QRS window (``qrs_windows``, +-``cluster_window_s``)
with any template, ``amp`` / ``sharp`` its QRS amplitude / sharpness over that template's, ``like`` what
``template_like`` says (0.95, ``templates_amplitude``, ``templates_sharpness``). Chooses nothing. Prints one JSON object
last.
"""
from __future__ import annotations

import collections
import json
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from block21_seam import JOINS  # noqa: E402
from cluster import TODAY, match, rhythm_signals  # noqa: E402
from look_cli import look_parser, parse_look_args  # noqa: E402
from minimum_gap import GRIDS, S41_COMBO_POINT, final_peaks, points, suffix  # noqa: E402

from ecgsl_keras.data import rpeak_guard as G  # noqa: E402

log = logging.getLogger("experiments.rpeaks.s67_template_look")
SCRIPT = "experiments/rpeaks/s67_template_look.py"
LOOK = "benchmarks/results/rpeaks_s66_never_proposed_look.json"
RECORDS = ("203", "108", "208", "118", "207", "205", "215")
OTHER = ("normal", "pause", "bigeminy")
LOW = 0.85      # correlations counted in bands from here


def measures(x, fs, at, kept, config, constants) -> list:
    """Each position ``at``'s template measures against ``kept``'s record templates (module docstring)."""
    templates = float(config.rpeak_rescue_templates)
    pick = G.template_sample(kept.size, constants)
    amplitude, sharpness, _ = G.qrs_shapes(x, kept[pick], fs, constants)
    shapes = G.record_templates(amplitude, sharpness, G.qrs_windows(x, kept[pick], fs, constants.cluster_window_s),
                                templates, constants)
    at = np.asarray(at, np.int64)
    if at.size == 0:
        return []
    a, s, w = G.qrs_shapes(x, at, fs, constants)
    windows = G.qrs_windows(x, at, fs, constants.cluster_window_s)
    like = G.template_like(shapes, a, windows, templates, constants, s)
    out = []
    for i in range(at.size):
        if shapes[0].shape[0] == 0:
            out.append({"corr": None, "like": False})
            continue
        c = windows[i] @ shapes[0].T
        b = int(np.argmax(c))
        out.append({"corr": round(float(c[b]), 3), "amp": round(float(a[i] / shapes[1][b]), 3),
                    "sharp": round(float(s[i] / shapes[2][b]), 3), "like": bool(like[i]),
                    "templates": int(shapes[0].shape[0])})
    return out


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    argv, parser = look_parser(argv, __doc__)
    parser.add_argument("--records", nargs="+", default=list(RECORDS))
    args = parse_look_args(parser, argv)
    if args is None:
        return 2
    grid = {suffix(o) if o else "": (c, k, o) for _, c, k, o in points("s66")}
    base_config, constants, base_options = grid[suffix(S41_COMBO_POINT)]
    low_config, _, low_options = grid[suffix(GRIDS["s66"][-1])]    # s = 0.4
    rows = json.loads(Path(LOOK).read_text())["misses"]
    wanted = collections.defaultdict(list)
    for r in rows:
        sp = r.get("second_proposer", {})
        if (r["record"] == "203" and r["seed"] == 0 and sp.get("level", 0) >= 0.5 and sp.get("amplitude", 0) >= 0.1):
            wanted[r["rhythm"]].append(r)
    refused, added = [], []
    for rid in args.records:
        builds = [(r, dict(names=(r,), artifacts=True)) for r in OTHER]
        builds += [("block21", dict(names=("block21",), t_end_s=None, join_edge_s=JOINS["new"], seed_offset=0,
                                    artifacts=True, own_onset=True))]
        for rhythm, builder in builds:
            skip = {f"{rid}|{r}|{TODAY}": None for r in (*OTHER, "block21")}
            (_, built, fs, cleaned, detect), = rhythm_signals(args.data_dir, rid, skip, **builder)
            x = np.asarray(cleaned, np.float64)
            base = final_peaks(built, fs, cleaned, detect, base_config, None, base_options)[2]
            if rid == "203" and rhythm in wanted:
                kept = np.asarray(base, np.int64)
                direction = "up" if np.median(x[kept]) >= np.median(x[::10]) else "down"
                at = [int(G.correct_apex(x, np.array([r["sample"] + int(round(r["second_proposer"]["candidate_ms"]
                                                                                  * fs / 1000.0))]),
                                         fs, base_config.rpeak_refine_s, direction)[0]) for r in wanted[rhythm]]
                for r, m in zip(wanted[rhythm], measures(x, fs, at, kept, base_config, constants)):
                    refused.append({"rhythm": rhythm, "sample": r["sample"], "spacing": r["second_proposer"]["spacing"],
                                    "outcome": r["second_proposer"]["outcome"], **m})
            low = final_peaks(built, fs, cleaned, detect, low_config, None, low_options)[2]
            new = np.setdiff1d(low, base)
            _, _, _, hit_low, false_low = match(built, low, fs)
            _, _, _, hit_base, _ = match(built, base, fs)
            found = hit_low - hit_base
            tol = int(round(0.15 * fs))
            beats = np.asarray(sorted(found), np.int64)
            for p, m in zip(new.tolist(), measures(x, fs, new, np.asarray(base, np.int64), base_config, constants)):
                kind = ("false" if p in false_low else
                        "true" if beats.size and np.abs(beats - p).min() <= tol else "moved")
                added.append({"record": rid, "rhythm": rhythm, "sample": int(p), "kind": kind, **m})
            log.info("%s %s: %d added by s = 0.4", rid, rhythm, new.size)
    result = summarise(refused, added, args, argv)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("refused_203_summary", "s04_added_summary")}))
    return 0


def summarise(refused, added, args, argv) -> dict:
    def summary(rows):
        n = len(rows)
        corr = [r["corr"] for r in rows if r.get("corr") is not None]
        bands = collections.Counter(("none" if r.get("corr") is None else f"under_{LOW}" if r["corr"] < LOW else
                                     f"{LOW}_0.9" if r["corr"] < 0.9 else "0.9_0.95" if r["corr"] < 0.95 else
                                     "at_least_0.95") for r in rows)
        return {"n": n, "template_like": sum(r["like"] for r in rows),
                "corr_median": round(float(np.median(corr)), 3) if corr else None, "corr_bands": dict(bands),
                "corr_0.95_and_amp_0.3": sum(1 for r in rows if r.get("corr") is not None and r["corr"] >= 0.95
                                             and r["amp"] >= 0.3)}
    kinds = collections.defaultdict(list)
    for r in added:
        kinds[r["kind"]].append(r)
    per_record = {rid: {k: summary([r for r in v if r["record"] == rid]) for k, v in kinds.items()}
                  for rid in args.records}
    return {"experiment": "rpeaks_s67_template_look", "command": " ".join(["python", SCRIPT] + argv), "blind": False,
            "records": args.records, "seed": 0,
            "what": "template measures (record_templates at 0.95 from run s41-combo's point's final peaks) of 203's "
                    "refused second-proposer candidates (run s66's look rows) and of the peaks run s66's s = 0.4 point "
                    "adds (true beats and false beats); chooses nothing, aims run s67's option",
            "refused_203_summary": {rh: summary([r for r in refused if r["rhythm"] == rh]) for rh in ("block21", "normal")},
            "s04_added_summary": {k: summary(v) for k, v in kinds.items()},
            "s04_added_per_record": per_record, "refused_203": refused, "s04_added": added}


if __name__ == "__main__":
    sys.exit(main())
