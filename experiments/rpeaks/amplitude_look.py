"""Run s65a (issue 21): the peaks the guard's amplitude check (``rpeak_guard.guard_keep``) drops at run s64's point, and
what each of its rescues measures on them. A HELD-OUT look, NOT blind (run s64's look, ``rpeaks_s64_block21_look.json``,
already named the beats: block21's 27.6 amplitude-check misses per seed at run s58's point); it aims run s65a's lever,
whose point is still chosen leave one record out (``minimum_gap.py --run s65a``).

    python experiments/rpeaks/amplitude_look.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s65a_amplitude_look.json

For each DS1 record, its unchanged rhythm (``normal``) and block21 at builder seed k (run s58b's builder), run s64's
point (``minimum_gap.blocked_p_gap_point(1.3)``) is run as ``minimum_gap.count`` runs it; the guard's input (the primary
peaks without the gap's held-out minima) goes through a copy of ``guard_keep``'s two passes at the point's constants
(checked equal to ``guard_keep``: ``checks``), and every peak dropped in the last pass is written with the measures of
that pass: its QRS amplitude over the reference (``amplitude``), its sharpness and width over those of the peaks over
the threshold around it (``sharpness``, ``width``), the number of kept peaks among the ``cluster_neighbours`` each side
whose window correlates at least the cluster rescue's level with its own (``cluster_similar``), its amplitude over the
75th percentile of theirs (``cluster_amplitude``), its best correlation with a kept neighbour (``best_correlation``)
and with one of the record's templates (``template_correlation``), the RR gaps to the kept neighbours over the local
median RR (``gap_before`` / ``gap_after``), and whether it is a true beat the final peaks miss (``true``: within 150 ms
of an annotation no final peak matches), a true beat found anyway (``found_elsewhere``) or not a beat (``false``).
``summary`` (``near_misses``): how many dropped peaks, true and not, in each rhythm and by record, one rescue would
keep with one of its constants moved (read from the rows: the shape rescue's ``rescue_amplitude`` / ``rescue_width`` /
``rescue_sharpness``, the deep rescue's ``deep_width`` / ``deep_sharpness``, the cluster rescue's ``cluster_amplitude``
-- at least ``cluster_min`` similar kept peaks and over ``cluster_floor`` x the reference; its sharpness test is not
read, so these are upper bounds -- and the template rescue's ``templates_amplitude``). The rows written: every true
beat and every peak over ``cluster_floor`` x the reference (the smaller ones no rescue of the point reaches).
Prints one JSON object last (the summary).
"""
from __future__ import annotations

import argparse
import collections
import functools
import json
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from block21_203 import builder  # noqa: E402
from cluster import TODAY, match, rhythm_signals  # noqa: E402
from minimum_gap import BASELINE, blocked_p_gap_point, final_peaks, points, suffix  # noqa: E402

from ecgsl_keras import tasks  # noqa: E402
from ecgsl_keras.data import rpeak_guard as G  # noqa: E402

log = logging.getLogger("experiments.rpeaks.amplitude_look")
SCRIPT = "experiments/rpeaks/amplitude_look.py"
S64_POINT = blocked_p_gap_point(1.3)
S64_NAME = f"{BASELINE}__{suffix(S64_POINT)}"


def keep_measures(peaks, amplitude, sharpness, width, windows, guard, constants, deep, cluster, templates) -> tuple:
    """``guard_keep``'s two passes (run s64's point: the shape and deep rescues, the cluster and template rescues; no
    wide rescue) and the measures of its last pass on every peak: ``(keep, measures)``."""
    keep = np.ones(peaks.size, bool)
    m = {}
    for _ in range(2):
        if keep.sum() < 3:
            break
        reference = G._neighbour_percentile(peaks[keep], amplitude[keep], peaks, constants.neighbours,
                                            constants.percentile)
        large = amplitude >= guard * reference
        sharp_ref = G._neighbour_percentile(peaks[large], sharpness[large], peaks, constants.neighbours, 50.0)
        width_ref = G._neighbour_percentile(peaks[large], width[large], peaks, constants.neighbours, 50.0)
        qrs_like = ((amplitude >= constants.rescue_amplitude * reference)
                    & (sharpness >= constants.rescue_sharpness * sharp_ref)
                    & (width <= constants.rescue_width * width_ref))
        qrs_like |= ((amplitude >= deep * reference) & (sharpness >= constants.deep_sharpness * sharp_ref)
                     & (width <= constants.deep_width * width_ref))
        new = large | qrs_like
        pick = np.flatnonzero(new)[G.template_sample(int(new.sum()), constants)]
        shapes = G.record_templates(amplitude[pick], sharpness[pick], windows[pick], templates, constants)
        for _ in range(constants.cluster_rounds):
            low = np.flatnonzero(~new & (amplitude >= constants.cluster_floor * reference))
            if low.size == 0 or not new.any():
                break
            rescued = G.cluster_like(peaks[new], amplitude[new], windows[new], peaks[low], amplitude[low], windows[low],
                                     cluster, constants, sharpness[new], sharpness[low])
            rescued |= G.template_like(shapes, amplitude[low], windows[low], templates, constants, sharpness[low])
            if not rescued.any():
                break
            new = new.copy()
            new[low[rescued]] = True
        m = {"reference": reference, "sharp_ref": sharp_ref, "width_ref": width_ref, "shapes": shapes, "kept": new}
        if not new.any():
            break
        keep = new
    return keep, m


def cluster_measures(peaks, amplitude, windows, kept, i, correlation, constants) -> dict:
    """Peak ``i``'s morphology cluster among the kept peaks (``cluster_like``'s reading)."""
    pos = peaks[kept]
    n = constants.cluster_neighbours
    index = np.searchsorted(pos, peaks[i]) + np.arange(-n, n)
    index = index[(index >= 0) & (index < pos.size)]
    corr = windows[kept][index] @ windows[i]
    similar = corr >= correlation
    ref = np.percentile(amplitude[kept][index][similar], constants.percentile) if similar.any() else np.nan
    return {"cluster_similar": int(similar.sum()), "best_correlation": round(float(corr.max()), 3) if corr.size else None,
            "cluster_amplitude": round(float(amplitude[i] / ref), 3) if similar.any() else None}


def rows_of(rid, rhythm, k, built, fs, cleaned, detect, config) -> tuple:
    """The dropped peaks of one built rhythm at run s64's point (module docstring) and the build's check."""
    constants = G.constants_for(config)
    primary, added, final = final_peaks(built, fs, cleaned, detect, config, None, S64_POINT)
    peaks = primary[~np.isin(primary, added)]
    amplitude, sharpness, width = G.qrs_shapes(cleaned, peaks, fs, constants)
    windows = G.qrs_windows(cleaned, peaks, fs, constants.cluster_window_s)
    guard = float(config.rpeak_guard_amplitude)
    keep, m = keep_measures(peaks, amplitude, sharpness, width, windows, guard, constants,
                            float(config.rpeak_rescue_deep), float(config.rpeak_rescue_cluster),
                            float(config.rpeak_rescue_templates))
    shipped = G.guard_keep(peaks, amplitude, sharpness, width, guard, constants, deep=float(config.rpeak_rescue_deep),
                           windows=windows, cluster=float(config.rpeak_rescue_cluster),
                           templates=float(config.rpeak_rescue_templates))
    tp, fn, fp, hit, false = match(built, final, fs)
    beats = built["beats"]
    missed = np.array(sorted(set(beats.tolist()) - hit), np.int64)
    tol = int(round(0.15 * fs))
    kept_pos = peaks[keep]
    rr = np.diff(kept_pos)
    rows = []
    for i in np.flatnonzero(~keep):
        p = int(peaks[i])
        near_missed = missed[np.abs(missed - p) <= tol]
        near_beat = beats[np.abs(beats - p) <= tol]
        label = "true" if near_missed.size else "found_elsewhere" if near_beat.size else "false"
        j = int(np.searchsorted(kept_pos, p))
        local = np.median(rr[max(j - 5, 0):j + 4]) if rr.size else np.nan
        row = {"record": rid, "rhythm": rhythm, "seed": k, "sample": p, "label": label,
               "annotation": int(near_missed[0]) if near_missed.size else None,
               "amplitude": round(float(amplitude[i] / m["reference"][i]), 3),
               "sharpness": round(float(sharpness[i] / m["sharp_ref"][i]), 3),
               "width": round(float(width[i] / m["width_ref"][i]), 3),
               "gap_before": round(float((p - kept_pos[j - 1]) / local), 3) if 0 < j and local > 0 else None,
               "gap_after": round(float((kept_pos[j] - p) / local), 3) if j < kept_pos.size and local > 0 else None,
               **cluster_measures(peaks, amplitude, windows, m["kept"], i, float(config.rpeak_rescue_cluster),
                                  constants)}
        shapes = m["shapes"][0]
        row["template_correlation"] = round(float((shapes @ windows[i]).max()), 3) if shapes.shape[0] else None
        # the template rescue's reading (template_like): over the templates it matches at the rescue's level, its
        # amplitude and sharpness over the template's (the largest ratio; None: no template matches)
        matches = (shapes @ windows[i]) >= float(config.rpeak_rescue_templates) if shapes.shape[0] else np.zeros(0, bool)
        row["template_amplitude"] = (round(float((amplitude[i] / m["shapes"][1][matches]).max()), 3) if matches.any()
                                     else None)
        row["template_sharpness"] = (round(float((sharpness[i] / m["shapes"][2][matches]).max()), 3) if matches.any()
                                     else None)
        rows.append(row)
    return rows, bool(np.array_equal(keep, shipped)), [tp, fn, fp]


def near_misses(rows, constants, deep) -> dict:
    """``summary`` (module docstring): per rescue constant and value, the dropped peaks it would keep."""
    c = constants
    shape = lambda r, a=c.rescue_amplitude, s=c.rescue_sharpness, w=c.rescue_width: (  # noqa: E731
        r["amplitude"] >= a and r["sharpness"] >= s and r["width"] <= w)
    deep_like = lambda r, s=c.deep_sharpness, w=c.deep_width: (  # noqa: E731
        r["amplitude"] >= deep and r["sharpness"] >= s and r["width"] <= w)
    cluster = lambda r, a: (r["cluster_similar"] >= c.cluster_min and r["amplitude"] >= c.cluster_floor  # noqa: E731
                            and r["cluster_amplitude"] is not None and r["cluster_amplitude"] >= a)
    template = lambda r, a: (r["template_amplitude"] is not None and r["template_amplitude"] >= a  # noqa: E731
                             and r["amplitude"] >= c.cluster_floor and r["template_sharpness"] >= c.templates_sharpness)
    tests = {**{f"rescue_amplitude={a}": functools.partial(shape, a=a) for a in (0.22, 0.2)},
             **{f"rescue_width={w}": functools.partial(shape, w=w) for w in (1.75, 2.0, 2.5)},
             **{f"rescue_sharpness={s}": functools.partial(shape, s=s) for s in (0.75,)},
             **{f"deep_width={w}": functools.partial(deep_like, w=w) for w in (1.0, 1.5, 2.0)},
             **{f"deep_sharpness={s}": functools.partial(deep_like, s=s) for s in (0.9, 0.8)},
             **{f"cluster_amplitude={a}": functools.partial(cluster, a=a) for a in (0.25, 0.2, 0.15)},
             **{f"templates_amplitude={a}": functools.partial(template, a=a) for a in (0.25, 0.2, 0.15)}}
    out = {}
    for name, test in tests.items():
        sel = [r for r in rows if r["label"] != "found_elsewhere" and test(r)]
        out[name] = {f"{rhythm}|{label}": sum(r["rhythm"] == rhythm and r["label"] == label for r in sel)
                     for rhythm in ("normal", "block21") for label in ("true", "false")}
        out[name]["false_by_record"] = dict(collections.Counter(r["record"] for r in sel
                                                                if r["label"] == "false").most_common())
        out[name]["true_by_record"] = dict(collections.Counter(f"{r['record']}|{r['rhythm']}" for r in sel
                                                               if r["label"] == "true").most_common())
    return out


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--records", nargs="+", default=list(tasks.MITDB_DS1))
    parser.add_argument("--seed", type=int, default=0, help="block21's builder seed k (seed = record + 1000 k)")
    args = parser.parse_args(argv)
    config = {n: c for n, c, _, _ in points("s64")}[S64_NAME]
    rows, checks, counts = [], {}, {}
    for rid in args.records:
        for rhythm, signals in (("normal", {"names": ("normal",), "artifacts": True}),
                                ("block21", dict(builder(args.seed), names=("block21",), artifacts=True,
                                                 own_onset=True))):
            for _, built, fs, cleaned, detect in rhythm_signals(args.data_dir, rid, {f"{rid}|{rhythm}|{TODAY}": None},
                                                                **signals):
                r, same, c = rows_of(rid, rhythm, args.seed, built, fs, cleaned, detect, config)
                rows += r
                checks[f"{rid}|{rhythm}"] = same
                counts[f"{rid}|{rhythm}"] = c
        log.info("%s: %d rows", rid, len(rows))
    by = collections.Counter((r["rhythm"], r["label"]) for r in rows)
    constants = G.constants_for(config)
    summary = near_misses(rows, constants, float(config.rpeak_rescue_deep))
    written = [r for r in rows if r["label"] != "false" or r["amplitude"] >= constants.cluster_floor]
    result = {"experiment": "rpeaks_s65a_amplitude_look", "command": " ".join(["python", SCRIPT] + argv),
              "blind": False, "point": S64_NAME, "seed": args.seed, "records": args.records,
              "guard_keep_copy_equals_shipped": all(checks.values()), "counts": counts,
              "dropped_by_label": {f"{a}|{b}": v for (a, b), v in sorted(by.items())},
              "point_constants": {"rescue_amplitude": constants.rescue_amplitude, "rescue_sharpness":
                                  constants.rescue_sharpness, "rescue_width": constants.rescue_width,
                                  "rpeak_rescue_deep": float(config.rpeak_rescue_deep),
                                  "deep_sharpness": constants.deep_sharpness, "deep_width": constants.deep_width,
                                  "cluster_min": constants.cluster_min, "cluster_floor": constants.cluster_floor,
                                  "cluster_amplitude": constants.cluster_amplitude,
                                  "templates_amplitude": constants.templates_amplitude,
                                  "templates_sharpness": constants.templates_sharpness},
              "near_misses": summary, "rows_written": "every true beat and every peak over cluster_floor x the reference",
              "rows": written}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("guard_keep_copy_equals_shipped", "dropped_by_label", "near_misses")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
