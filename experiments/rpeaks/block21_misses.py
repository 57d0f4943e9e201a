"""Run s39 (issue 21) diagnosis: every block21 miss of run s37's point (``most_chosen`` of
benchmarks/results/rpeaks_loro_s37.json: record templates + blocked-P-wave check + post-wide-beat check), one by one, on
the 22 MIT-BIH DS1 records, with the builder of the block21 rhythm checked on the way. Training-side: no grid, no
held-out figure; it names the causes a lever can aim at.

    python experiments/rpeaks/block21_misses.py --data-dir /work/shared/data/mitdb --out benchmarks/results/rpeaks_s39_diagnosis.json

Run s43: ``--first-beat`` diagnoses run s40's point instead (run s37's with ``rpeak_keep_first_beat``, the baseline of
runs s41-s43; the traced detector starts without neurokit2's dummy peak too):

    python experiments/rpeaks/block21_misses.py --data-dir /work/shared/data/mitdb --first-beat \
        --out benchmarks/results/rpeaks_s43_block21_misses.json

Signals: ``bench.rhythms.build`` (seed = record number), counted as ``bench rpeaks`` (150 ms, VF episodes excluded);
the same record's ``normal`` signal too, to say which block21 misses the unchanged record also has.

Each block21 miss (``misses``) gets:

- where it lies: ``symbol`` (annotation), ``rr_prev_ms`` / ``rr_next_ms`` (reference beats of the built signal),
  ``prev_kept_ms`` / ``next_kept_ms`` (the kept peaks around it), ``refractory`` (a kept peak under the detector's
  ``rpeak_mindelay_s`` before or after it), ``next_to_blocked`` (a blocked beat of the builder is its reference
  neighbour), ``missed_in_normal`` (the unchanged record misses the same annotation);
- what the detection near it is: ``nearest_detection_ms`` (signed, detection minus annotation), and ``pair``:
  ``mislocated`` (an unmatched, false detection within 150-300 ms: one beat found at the wrong place, FN + FP),
  ``merged`` (a detection within 300 ms matched to the neighbouring reference beat: two beats, one peak), or none;
- its size and shape (``qrs_shapes`` at the annotation, over the medians of the 16 kept peaks around it; amplitude
  over their 75th percentile, the guard's reference): ``amplitude``, ``sharpness``, ``width``;
- ``slope_over_mean`` (never proposed: the most the smoothed |slope| reaches over 1 x its running mean within 150 ms; the
  detector needs 1.5), ``longest_region_over_mean`` (a region there: its length over the mean region length; the
  detector needs 0.4), ``first_beat`` (the record's first annotation);
- ``stage``: where the detector lost it. The primary detector (``_findpeaks_neurokit`` with ``prominent_negative_last``)
  is traced: ``no_region`` (the smoothed |slope| never crosses 1.5 x its running mean within 150 ms), ``short_region``
  (a region, dropped as under 0.4 x the mean region length), ``no_extremum``, ``refractory_lost`` (its region's peak lost
  the ``mindelay`` contest; ``winner_ms``: the winner minus the annotation; ``winner_true``: the winner is a kept true
  beat), ``close_or_refine`` (lost in ``_drop_close_peaks`` / the apex move); or, proposed, the guard step that dropped
  it (``guard_keep``, ``p_wave_like``, ``t_wave_all``, ``small_noisy``, ``blocked_p_wave``, ``after_wide_beat``), or
  ``kept_elsewhere`` (a detection within 150 ms that matched another beat).

Builder check (``builder``, every record): reference beats of the block21 signal whose +-60 ms QRS window overlaps a
span the builder replaced (a beat with its QRS erased: impossible), reference annotations of any kind inside a replaced
span, and the misses next to a blocked beat. Prints one JSON object last.
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

from ecgsl_keras import tasks
from ecgsl_keras.bench import rhythms
from ecgsl_keras.bench.rpeaks import in_episodes, read_artifacts, read_mitdb
from ecgsl_keras.data import rpeak_guard as G
from ecgsl_keras.data import rpeaks as R
from ecgsl_keras.data import signal as S

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import post_wide  # noqa: E402
from cluster import BASE, guard_constants, primary_config  # noqa: E402

log = logging.getLogger("experiments.rpeaks.block21_misses")
S37_RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "rpeaks_loro_s37.json"
NEVER_PROPOSED = ("no_region", "short_region", "no_extremum", "refractory_lost", "close_or_refine")
GUARD_STEPS = ("guard_keep", "p_wave_like", "search_back", "second_proposer", "template_proposer", "t_wave_all",
               "small_wide", "small_noisy", "without_own_t_wave", "blocked_p_wave", "after_wide_beat")


def s37_point():
    name = json.loads(S37_RESULTS.read_text())["most_chosen"]
    config, constants = {n: (c, k) for n, c, k in post_wide.points()}[name]
    return name, config, constants


def trace_neurokit(x, fs, mindelay, smoothwindow=0.1, avgwindow=0.75, gradthreshweight=1.5, minlenweight=0.4,
                   keep_first_beat=False):
    """``rpeaks._findpeaks_neurokit`` with ``keep="prominent_negative_last"``, traced: every region (begin, end, long
    enough), its candidate peak (or -1) and what became of it (``kept`` / ``lost`` with the winner, ``minimum_dropped``
    with the peak that blocked it); ``keep_first_beat``: without neurokit2's dummy first peak (run s40). Returns
    (regions, candidates: list of dicts, peaks)."""
    from neurokit2.signal import signal_smooth

    smoothgrad = signal_smooth(np.abs(np.gradient(x)), kernel="boxcar", size=int(np.rint(smoothwindow * fs)))
    avggrad = signal_smooth(smoothgrad, kernel="boxcar", size=int(np.rint(avgwindow * fs)))
    qrs = smoothgrad > gradthreshweight * avggrad
    beg = np.flatnonzero(~qrs[:-1] & qrs[1:])
    end = np.flatnonzero(qrs[:-1] & ~qrs[1:])
    end = end[end > beg[0]]
    n = min(beg.size, end.size)
    beg, end = beg[:n], end[:n]
    min_len = np.mean(end - beg) * minlenweight
    delay = int(np.rint(fs * mindelay))
    long_enough = end - beg >= min_len
    regions = np.stack([beg, end, long_enough], axis=1)
    trace_neurokit.ratio = smoothgrad / np.maximum(avggrad, 1e-12)      # the region test's |slope| over its mean
    trace_neurokit.mean_length = float(np.mean(end - beg))
    b, e = beg[long_enough], end[long_enough]
    offset, prominence = R._most_prominent(x, b, e)
    minimum = np.zeros(b.size, bool)
    flat = np.flatnonzero(offset < 0)
    offset[flat], prominence[flat] = R._most_prominent(x, b[flat], e[flat], negate=True)
    minimum[flat] = True
    candidates = [{"region": (int(bb), int(ee)), "peak": int(bb + o) if o >= 0 else -1, "minimum": bool(m)}
                  for bb, ee, o, m in zip(b, e, offset, minimum)]
    peaks, proms, minima, owner = ([], [], [], []) if keep_first_beat else ([0], [np.inf], [False], [None])
    for c, prom in zip(candidates, prominence):
        if c["peak"] < 0:
            c["fate"] = "no_extremum"
            continue
        peak, m = c["peak"], c["minimum"]
        if not peaks or peak - peaks[-1] > delay:
            peaks.append(peak), proms.append(prom), minima.append(m), owner.append(c)
            c["fate"] = "kept"
        elif m:
            c["fate"], c["by"] = "minimum_dropped", peaks[-1]
        elif (prom > proms[-1] or minima[-1]) and (len(peaks) < 2 or peak - peaks[-2] > delay):
            if owner[-1] is not None:
                owner[-1]["fate"], owner[-1]["by"] = "lost", peak
            peaks[-1], proms[-1], minima[-1], owner[-1] = peak, prom, m, c
            c["fate"] = "kept"
        else:
            c["fate"], c["by"] = "lost", peaks[-1]
    return regions, candidates, np.asarray(peaks if keep_first_beat else peaks[1:], np.int64)


def trace_guard(peaks, cleaned, detect, fs, config):
    """``rpeak_guard.guard_rpeaks`` step by step (its order; ``GUARD`` set by the caller): {step: peaks after it}."""
    steps = {}
    amplitude, sharpness, width = G.qrs_shapes(cleaned, peaks, fs)
    windows = G.qrs_windows(cleaned, peaks, fs, G.GUARD.cluster_window_s)
    keep = G.guard_keep(peaks, amplitude, sharpness, width, float(config.rpeak_guard_amplitude),
                        deep=float(config.rpeak_rescue_deep), windows=windows, cluster=float(config.rpeak_rescue_cluster),
                        templates=float(config.rpeak_rescue_templates), wide=float(config.rpeak_rescue_wide))
    peaks, amplitude = peaks[keep], amplitude[keep]
    steps["guard_keep"] = peaks
    keep = ~G.p_wave_like(peaks, amplitude, cleaned, fs, float(config.rpeak_guard_p_wave))
    peaks, amplitude = peaks[keep], amplitude[keep]
    steps["p_wave_like"] = peaks
    feature = G.slope_feature(detect, fs)
    peaks = G._search_back(peaks, cleaned, detect, fs, config, amplitude, feature)
    steps["search_back"] = peaks
    peaks = G.second_proposer(peaks, cleaned, detect, fs, config, feature)
    steps["second_proposer"] = peaks
    steps["template_proposer"] = peaks      # off at s37's point
    if config.rpeak_guard_t_wave > 0 and G.GUARD.t_wave_all:
        peaks = peaks[~G.t_wave_like(peaks, peaks, cleaned, fs, float(config.rpeak_guard_t_wave))]
    steps["t_wave_all"] = peaks
    # step 4's checks, in guard_rpeaks' order: each drops the peaks it marks when its level is on; the step is named
    # after the check (GUARD_STEPS)
    for level, check in ((config.rpeak_guard_wide, G.small_wide), (config.rpeak_guard_noise, G.small_noisy),
                         (config.rpeak_guard_own_t, G.without_own_t_wave),
                         (config.rpeak_guard_blocked_p, G.blocked_p_wave),
                         (config.rpeak_guard_post_wide, G.after_wide_beat)):
        if level > 0:
            peaks = peaks[~check(peaks, cleaned, fs, float(level))]
        steps[check.__name__] = peaks
    return steps


def near(peaks, at, tolerance):
    """Whether each of ``at`` has one of ``peaks`` within ``tolerance`` samples."""
    if peaks.size == 0:
        return np.zeros(np.size(at), bool)
    j = np.clip(np.searchsorted(peaks, at), 1, peaks.size - 1) if peaks.size > 1 else np.zeros(np.size(at), int)
    d = np.minimum(np.abs(peaks[np.clip(j - 1, 0, None)] - at), np.abs(peaks[j] - at))
    return d <= tolerance


# the builder of runs s39-s45 (``run``'s and ``diagnose``'s default): seed = record number, cut end 0.45 s, no join
OLD_BUILDER = {"seed_offset": 0, "t_end_s": rhythms.T_END_FIXED_S, "join_edge_s": rhythms.JOIN_EDGE_NONE}


def run(data_dir, rid, rhythm, config, constants, record, builder=None):
    """``rhythm`` of record ``rid`` built (``builder``: ``OLD_BUILDER``'s keys; seed = record + ``seed_offset``) and
    detected at ``config`` / ``constants``, block21's guard traced step by step."""
    signal, fs, ref, episodes, _, symbols = record
    b = OLD_BUILDER if builder is None else builder
    # run s60's artifact fix and run s58b's own-onset cut, when the builder asks for them (run s61's look)
    built = rhythms.build(rhythm, signal, fs, ref, symbols, episodes, seed=int(rid) + b["seed_offset"],
                          t_end_s=b["t_end_s"], join_edge_s=b["join_edge_s"],
                          artifacts=read_artifacts(data_dir, rid) if b.get("artifacts") else None,
                          own_onset=bool(b.get("own_onset", False)))
    x = built["signal"]
    cleaned, detect = S.clean(x, fs, BASE.clean_method), S.clean(x, fs, BASE.rpeak_clean_method)
    primary = S.find_rpeaks(x, fs, primary_config(rpeak_keep_first_beat=config.rpeak_keep_first_beat), cleaned=cleaned)
    with guard_constants(constants):
        peaks = S.guard_rpeaks(primary, cleaned, detect, fs, config)
        steps = trace_guard(primary, cleaned, detect, fs, config) if rhythm == "block21" else None
    if steps is not None and not np.array_equal(steps["after_wide_beat"], peaks):
        raise RuntimeError(f"{rid}: the traced guard differs from guard_rpeaks")
    peaks = peaks[~in_episodes(peaks, built["episodes"])]
    m = S.match_peaks(built["beats"], peaks, int(round(0.15 * fs)))
    return dict(built=built, x=cleaned, detect=detect, fs=fs, primary=primary, peaks=peaks, m=m, steps=steps)


def diagnose(data_dir, rid, config, constants, builder=None, detail=False) -> tuple:
    """``(misses, builder check, counts)`` of record ``rid``'s block21 (``builder``: ``run``'s); ``detail``: also
    what is left in the rows' ``_detail`` (the traced run, for run s48's finer look at 203)."""
    record = read_mitdb(data_dir, rid, with_symbols=True)
    signal, fs, ref, episodes, _, symbols = record
    normal = run(data_dir, rid, "normal", config, constants, record)
    b = run(data_dir, rid, "block21", config, constants, record, builder)
    x, detect, peaks, m, built, primary = b["x"], b["detect"], b["peaks"], b["m"], b["built"], b["primary"]
    beats, removed = built["beats"], np.sort(built["removed"])
    tol, far = int(round(0.15 * fs)), int(round(0.3 * fs))
    symbol_at = dict(zip(ref.tolist(), symbols))
    ms = lambda v: round(1000.0 * float(v) / fs, 1)  # noqa: E731
    # the builder's replaced spans (rhythms.block21), from the original reference
    cut = built["qrs_before_s"]
    k = np.searchsorted(ref, removed)
    # each blocked beat's own cut (run s58b's builder; the record's cut for every beat otherwise), in the sorted order
    before = np.asarray(built.get("cut_before_s", np.full(removed.size, cut)), np.float64)
    before = before[np.argsort(built["removed"], kind="stable")] if before.size == removed.size else np.full(removed.size, cut)
    spans = np.stack([removed - np.round(before * fs).astype(np.int64),
                      np.minimum(removed + int(round(built["t_end_s"] * fs)),
                                 ref[np.minimum(k + 1, ref.size - 1)] - int(round(0.28 * fs)))],
                     axis=1)
    qrs = int(round(0.06 * fs))
    hit = np.zeros(beats.size, bool)
    inside = 0
    for start, stop in spans:
        hit |= (beats + qrs >= start) & (beats - qrs <= stop)
        inside += int(((ref > start) & (ref < stop)).sum()) - 1      # the blocked beat itself lies inside
    builder_check = {"blocked": int(removed.size), "qrs_cut_ms": ms(cut * fs), "beats_with_qrs_in_a_replaced_span": int(hit.sum()),
               "other_annotations_inside_a_replaced_span": inside}
    # the traced primary detector, checked against the detector itself
    first = bool(config.rpeak_keep_first_beat)
    regions, candidates, nk = trace_neurokit(detect, fs, BASE.rpeak_mindelay_s, keep_first_beat=first)
    direct = R._findpeaks_neurokit(detect, fs, mindelay=BASE.rpeak_mindelay_s, keep=BASE.rpeak_mindelay_keep,
                                   keep_first_beat=first)
    if not np.array_equal(nk, direct):
        raise RuntimeError(f"{rid}: the traced neurokit detector differs from _findpeaks_neurokit")
    cand_peaks = np.array([c["peak"] for c in candidates], np.int64)
    kept_true = np.zeros(peaks.size, bool)
    kept_true[m["matched"][:, 1]] = True
    matched_ref = dict(zip(m["matched"][:, 1].tolist(), m["matched"][:, 0].tolist()))
    amp, sharp, width = G.qrs_shapes(x, peaks, fs, constants)
    normal_missed = set(normal["built"]["beats"][np.setdiff1d(np.arange(normal["built"]["beats"].size),
                                                               normal["m"]["matched"][:, 0])].tolist())
    fn_idx = np.setdiff1d(np.arange(beats.size), m["matched"][:, 0])
    out = []
    for i in fn_idx:
        a = int(beats[i])
        j = int(np.searchsorted(peaks, a))
        prev_kept = a - peaks[j - 1] if j > 0 else None
        next_kept = peaks[j] - a if j < peaks.size else None
        row = {"record": rid, "sample": a, "symbol": symbol_at.get(a, "?"), "first_beat": bool(i == 0),
               "rr_prev_ms": ms(a - beats[i - 1]) if i > 0 else None,
               "rr_next_ms": ms(beats[i + 1] - a) if i + 1 < beats.size else None,
               "prev_kept_ms": ms(prev_kept) if prev_kept is not None else None,
               "next_kept_ms": ms(next_kept) if next_kept is not None else None,
               "refractory": bool(any(d is not None and d < BASE.rpeak_mindelay_s * fs for d in (prev_kept, next_kept))),
               "missed_in_normal": a in normal_missed}
        o = int(np.searchsorted(ref, a))
        row["next_to_blocked"] = bool((o > 0 and ref[o - 1] in set(removed.tolist()))
                                      or (o + 1 < ref.size and ref[o + 1] in set(removed.tolist())))
        d = peaks - a
        close = np.flatnonzero(np.abs(d) <= far)
        row["nearest_detection_ms"] = ms(d[close[np.argmin(np.abs(d[close]))]]) if close.size else None
        pair = None
        if close.size:
            if any(not kept_true[c] and abs(d[c]) > tol for c in close):
                pair = "mislocated"
            elif any(kept_true[c] and matched_ref[int(c)] != i for c in close):
                pair = "merged"
        row["pair"] = pair
        n = 2 * constants.neighbours
        aa, ss, ww = G.qrs_shapes(x, np.array([a]), fs, constants)
        row["amplitude"] = round(float(aa[0] / G._neighbour_percentile(peaks, amp, [a], n, constants.percentile)[0]), 3)
        row["sharpness"] = round(float(ss[0] / G._neighbour_percentile(peaks, sharp, [a], n, 50.0)[0]), 3)
        row["width"] = round(float(ww[0] / G._neighbour_percentile(peaks, width, [a], n, 50.0)[0]), 3)
        # where the detector lost it
        stage = None
        if near(peaks, a, tol):
            stage = "kept_elsewhere"
        elif near(primary, a, tol):
            present = [bool(near(b["steps"][step], a, tol)) for step in GUARD_STEPS]
            # the step after which it stays dropped (a rescue may bring a peak back that a later step drops again)
            gone = [s for k, s in enumerate(GUARD_STEPS) if not any(present[k:])]
            stage = gone[0] if gone else "guard_other"
        elif near(nk, a, tol):
            stage = "close_or_refine"
        else:
            ok = np.flatnonzero((cand_peaks >= 0) & (np.abs(cand_peaks - a) <= tol))
            if ok.size:
                c = candidates[int(ok[np.argmin(np.abs(cand_peaks[ok] - a))])]
                stage = "refractory_lost" if c["fate"] in ("lost", "minimum_dropped") else "close_or_refine"
                if "by" in c:
                    row["winner_ms"] = ms(c["by"] - a)
                    row["winner_true"] = bool(near(peaks[kept_true], c["by"], tol))
                    row["winner_minimum_rule"] = c["fate"] == "minimum_dropped"
            else:
                over = (regions[:, 0] <= a + tol) & (regions[:, 1] >= a - tol)
                row["slope_over_mean"] = round(float(trace_neurokit.ratio[max(a - tol, 0):a + tol + 1].max()), 2)
                if over.any():
                    row["longest_region_over_mean"] = round(float((regions[over, 1] - regions[over, 0]).max()
                                                                  / trace_neurokit.mean_length), 2)
                if not over.any():
                    stage = "no_region"
                elif not regions[over, 2].any():
                    stage = "short_region"
                else:
                    stage = "no_extremum"
        row["stage"] = stage
        out.append(row)
    builder_check["misses_next_to_a_blocked_beat"] = int(sum(r["next_to_blocked"] for r in out))
    summary = {"FN": int(m["fn"]), "FP": int(m["fp"]), "normal_FN": int(normal["m"]["fn"]),
               "normal_FP": int(normal["m"]["fp"]), "beats": int(beats.size)}
    if detail:
        summary["_detail"] = {"run": b, "spans": spans, "candidates": candidates, "regions": regions,
                              "ratio": trace_neurokit.ratio, "record": record}
    return out, builder_check, summary


def tally(rows, key):
    return dict(collections.Counter(str(r[key]) for r in rows).most_common())


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--records", nargs="+", default=list(tasks.MITDB_DS1))
    parser.add_argument("--first-beat", action="store_true",
                        help="run s40's point (run s37's with rpeak_keep_first_beat) instead of run s37's")
    args = parser.parse_args(argv)
    name, config, constants = s37_point()
    if args.first_beat:
        name, config = f"{name}__first", dataclasses.replace(config, rpeak_keep_first_beat=True)
    rows, builders, summaries = [], {}, {}
    for rid in args.records:
        r, builders[rid], summaries[rid] = diagnose(args.data_dir, rid, config, constants)
        rows += r
        log.info("%s: %d misses, stages %s", rid, len(r), tally(r, "stage"))
    focus = [r for r in rows if r["record"] == "203"]
    others = [r for r in rows if r["record"] != "203"]

    def block(sel):
        amp = np.array([r["amplitude"] for r in sel]) if sel else np.zeros(0)
        return {"misses": len(sel), "stage": tally(sel, "stage"), "symbol": tally(sel, "symbol"), "pair": tally(sel, "pair"),
                "refractory": sum(r["refractory"] for r in sel), "missed_in_normal": sum(r["missed_in_normal"] for r in sel),
                "next_to_blocked": sum(r["next_to_blocked"] for r in sel),
                "fusion": sum(r["symbol"] == "F" for r in sel),
                "amplitude_q25_50_75": [round(float(v), 2) for v in np.percentile(amp, [25, 50, 75])] if amp.size else None,
                "winner_true": sum(bool(r.get("winner_true")) for r in sel),
                "first_beat": sum(r["first_beat"] for r in sel),
                # signal dropouts: no detector reaches them
                "amplitude_under_0.1": sum(r["amplitude"] < 0.1 for r in sel),
                "never_proposed": sum(r["stage"] in NEVER_PROPOSED for r in sel),
                "no_or_short_region": sum(r["stage"] in ("no_region", "short_region") for r in sel),
                "no_or_short_region_V": sum(r["stage"] in ("no_region", "short_region") and r["symbol"] == "V"
                                            for r in sel),
                "prev_kept_under_0.35s": sum(r["prev_kept_ms"] is not None and r["prev_kept_ms"] < 350 for r in sel)}

    result = {"experiment": "rpeaks_s43_block21_misses" if args.first_beat else "rpeaks_s39_diagnosis", "point": name, "records": args.records, "tolerance_ms": 150,
              "command": " ".join(["python", "experiments/rpeaks/block21_misses.py"]
                                  + list(argv if argv is not None else sys.argv[1:])),
              "summary": {"all": block(rows), "203": block(focus), "other_21": block(others)},
              "per_record": {rid: {**summaries[rid], "stages": tally([r for r in rows if r["record"] == rid], "stage")}
                             for rid in args.records},
              "builder": builders,
              "builder_totals": {k: sum(v[k] for v in builders.values())
                                 for k in ("blocked", "beats_with_qrs_in_a_replaced_span",
                                           "other_annotations_inside_a_replaced_span", "misses_next_to_a_blocked_beat")},
              "misses": rows}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("summary", "builder_totals")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
