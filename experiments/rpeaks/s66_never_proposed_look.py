"""Run s66 (issue 21): the held-out misses of run s41-combo's point, and for each beat its primary detector never
proposed, what every proposer of the detector saw there. A HELD-OUT look, NOT blind: it aims run s66's lever, whose
point is still chosen leave one record out (experiments/rpeaks/minimum_gap.py --run s66).

    python experiments/rpeaks/s66_never_proposed_look.py --data-dir /work/shared/data/mitdb \\
        --cache-dir /work/runs/s42-n203/counts --out benchmarks/results/rpeaks_s66_never_proposed_look.json

Each record is detected, on run s41-combo's builds (run s58b's builder), at the point its own fold chose (leave one
record out over run s41-combo's grid, from the cached counts: run s64's point with the veto and the search back's
P-wave check in 21 folds, the veto alone in 108's), so the misses are run s41-combo's held-out misses. The counts
must equal the cache's (``counts_equal_cache``). Misses are listed for ``normal`` and block21 on all five builder
seeds (``same_beats``: which are missed on every seed); the trace is made for ``normal`` and block21 at k = 0.

A miss is ``not_proposed`` when no peak of the point's primary detector (after the apex move, the gap's minima
included) lies within 150 ms of it and nearer to it than to another beat (run s64's rule). For those, each stage:

- ``region`` (the primary detector, ``rpeaks._findpeaks_neurokit``, whose call is captured and re-read): ``no_region``
  (the 0.1 s smoothed |slope| never exceeds 1.5 x its 0.75 s running mean within 150 ms; ``slope_over_mean``: the
  most it reaches), ``short_region`` (a region, under 0.4 x the mean region length; ``length_over_min``), ``no_extremum``,
  ``extremum_elsewhere`` (the region's most prominent extremum lies over 150 ms away: one region over two beats or a
  beat and a wave), ``refractory_lost`` (its region's peak is not in the contest's output: lost the ``mindelay`` contest;
  ``winner_ms``, ``winner_true``: the winner is a true beat of the final peaks), ``close_or_refine`` (in the contest's
  output, lost in the apex move / the ``min_rr_s`` drop);
- ``search_back`` (round one of ``rpeak_guard._search_back`` on the peaks the amplitude and P-wave checks kept): the gap
  over the beat, its length over the local median RR (``gap_over_local``; searched above ``rpeak_searchback`` = 1.5), the
  candidate it took (``candidate_ms`` from the beat), the candidate's amplitude over the reference (0.5 needed) and the
  outcome: ``not_searched``, ``searched_elsewhere`` (its candidate is over 150 ms from the beat), ``refused`` (near the
  beat, not added), ``found`` (the search back's peaks hold one near the beat);
- ``second_proposer`` (its candidates: maxima of the smoothed |slope| on a ~100 Hz grid, at least ``min_rr_s`` apart):
  the candidate within 150 ms, its slope over the level reference (``level`` 0.5 needed), its spacing from the kept
  peaks over the local RR (``spacing`` 0.5, the cluster rescue's 0.4, the PVC run's 0.25), amplitude over the reference
  and width over the median; outcome ``no_candidate``, ``too_close`` (under the closest spacing any rule allows),
  ``under_level_and_small`` (under the slope level and under the cluster rescue's amplitude floor), ``refused`` (any
  other check: its measures say which), ``added_then_dropped`` (added, dropped by a later check);
- ``final_stage``: the first of those stages that did not lose it.

The guard's stages are the guard (``guard_rpeaks``) run with the later steps turned off in the config (stage 1: no
search back, no second proposer, no step 4 check; stage 2: with the search back; stage 3: with the second proposer,
``t_wave_all`` off), on the primary peaks without the gap's minima (run s51: held out of the guard). Prints one JSON
object last.
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import logging
import sys
from pathlib import Path

import numpy as np
import scipy.signal

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from block21_seam import JOINS, SEED_STEP, SEEDS  # noqa: E402
from cluster import RHYTHMS, TODAY, loro, match, rhythm_signals  # noqa: E402
from look_cli import look_parser, parse_look_args  # noqa: E402
from minimum_gap import SHORT, final_peaks, names, points  # noqa: E402

from ecgsl_keras import tasks  # noqa: E402
from ecgsl_keras.data import rpeak_guard as G  # noqa: E402
from ecgsl_keras.data import rpeaks as R  # noqa: E402
from ecgsl_keras.data import signal as S  # noqa: E402

log = logging.getLogger("experiments.rpeaks.s66_never_proposed_look")
SCRIPT = "experiments/rpeaks/s66_never_proposed_look.py"
RUN = "s41-combo"
CACHE = "/work/runs/s42-n203/counts"    # a copy of run s41-combo's counts (the original left as it is)
TOL_S = 0.15
# the step-4 checks turned off for the guard's stages (their SignalConfig levels)
STEP4 = ("rpeak_guard_wide", "rpeak_guard_noise", "rpeak_guard_own_t", "rpeak_guard_blocked_p", "rpeak_guard_post_wide")


@contextlib.contextmanager
def captured_findpeaks():
    """``rpeaks._findpeaks_neurokit``'s calls while inside: a list of (x, fs, keywords, peaks)."""
    calls, original = [], R._findpeaks_neurokit

    def spy(x, fs, **kwargs):
        out = original(x, fs, **kwargs)
        calls.append((np.asarray(x, np.float64), float(fs), dict(kwargs), out))
        return out

    R._findpeaks_neurokit = spy
    try:
        yield calls
    finally:
        R._findpeaks_neurokit = original


def regions_of(x, fs, kw) -> dict:
    """The primary detector's regions as ``_findpeaks_neurokit`` makes them (its default region rules: the points here
    set none), each long enough region's candidate (most prominent maximum, else minimum) and the slope ratio."""
    from neurokit2.signal import signal_smooth

    if kw.get("gradient_step", 0) or kw.get("region_interpolated") or kw.get("mean_cap", 0):
        raise ValueError("the traced region rule is neurokit2's: the point sets another")
    thresh, minlen = kw.get("gradthreshweight", 1.5), kw.get("minlenweight", 0.4)
    smoothgrad = signal_smooth(np.abs(np.gradient(x)), kernel="boxcar", size=int(np.rint(0.1 * fs)))
    avggrad = signal_smooth(smoothgrad, kernel="boxcar", size=int(np.rint(0.75 * fs)))
    qrs = smoothgrad > thresh * avggrad
    beg = np.flatnonzero(~qrs[:-1] & qrs[1:])
    end = np.flatnonzero(qrs[:-1] & ~qrs[1:])
    end = end[end > beg[0]]
    n = min(beg.size, end.size)
    beg, end = beg[:n], end[:n]
    min_len = float(np.mean(end - beg)) * minlen
    long_enough = (end - beg) >= min_len
    offset = np.full(beg.size, -1, np.int64)
    b, e = beg[long_enough], end[long_enough]
    o, _ = R._most_prominent(x, b, e)
    flat = np.flatnonzero(o < 0)
    o[flat], _ = R._most_prominent(x, b[flat], e[flat], negate=True)
    offset[long_enough] = o
    return {"beg": beg, "end": end, "long": long_enough, "offset": offset, "min_len": min_len, "threshold": thresh,
            "ratio": smoothgrad / np.maximum(avggrad, 1e-12)}


def own(peaks, a, beats, tol):
    """``peaks`` within ``tol`` of annotation ``a`` and nearer to it than to its neighbouring beats (run s64's rule)."""
    i = int(np.searchsorted(beats, a))
    lo = 0.5 * (a + beats[i - 1]) if i > 0 else -np.inf
    hi = 0.5 * (a + beats[i + 1]) if i + 1 < beats.size else np.inf
    peaks = np.asarray(peaks, np.int64)
    return peaks[(np.abs(peaks - a) <= tol) & (peaks > lo) & (peaks < hi)]


# the second proposer's checks, spied in stage 3 (what each said of which candidate): the mask each returns is True
# where it keeps (cluster_like, pvc_run_like, qrs_residual) or where it flags (the others)
SPIED = ("cluster_like", "pvc_run_like", "candidates_p_wave_like", "t_wave_like", "unlike_kept_beat", "qrs_residual")
AT_ARGUMENT = {"cluster_like": 3, "pvc_run_like": 3, "candidates_p_wave_like": 2, "t_wave_like": 1,
               "unlike_kept_beat": 1, "qrs_residual": 1}


@contextlib.contextmanager
def spied_checks():
    """``rpeak_guard``'s second-proposer checks while inside: {name: [(positions, mask)]}."""
    calls, originals = collections.defaultdict(list), {n: getattr(G, n) for n in SPIED}

    def spy(name):
        def wrapped(*args, **kwargs):
            out = originals[name](*args, **kwargs)
            calls[name].append((np.asarray(args[AT_ARGUMENT[name]], np.int64).ravel(), np.asarray(out, bool).ravel()))
            return out
        return wrapped

    for n in SPIED:
        setattr(G, n, spy(n))
    try:
        yield calls
    finally:
        for n, f in originals.items():
            setattr(G, n, f)


def said(calls, name, at) -> bool | None:
    """What check ``name`` said of position ``at`` (its mask there), None when it never saw it."""
    for positions, mask in calls.get(name, []):
        hit = np.flatnonzero(positions == at)
        if hit.size and mask.size == positions.size:
            return bool(mask[hit[0]])
    return None


def guard_stages(primary, held, cleaned, detect, fs, config) -> dict:
    """The guard's peaks after its stage 1 (amplitude and P-wave checks), 2 (search back) and 3 (second proposer,
    its checks spied: ``calls``)."""
    off = {f: 0.0 for f in STEP4}
    no_t_all = tuple(sorted({**dict(config.rpeak_guard_constants), "t_wave_all": False}.items()))
    peaks = primary[~np.isin(primary, held)]
    s1 = dataclasses.replace(config, rpeak_searchback=0.0, rpeak_second_proposer=0.0, rpeak_propose_templates=0.0,
                             rpeak_guard_constants=no_t_all, **off)
    s2 = dataclasses.replace(s1, rpeak_searchback=config.rpeak_searchback)
    s3 = dataclasses.replace(s2, rpeak_second_proposer=config.rpeak_second_proposer)
    out = {name: S.guard_rpeaks(peaks, cleaned, detect, fs, c) for name, c in (("s1", s1), ("s2", s2))}
    with spied_checks() as calls:
        out["s3"] = S.guard_rpeaks(peaks, cleaned, detect, fs, s3)
    out["calls"] = calls
    return out


def search_back_at(a, kept, cleaned, detect, fs, config, tol) -> dict:
    """Round one of the search back (``_search_back``, no shape or irregular option) over the gap holding ``a``."""
    constants = G.constants_for(config)
    min_distance = max(1, int(round(config.min_rr_s * fs)))
    j = int(np.searchsorted(kept, a))
    if j == 0 or j >= kept.size:
        return {"outcome": "edge"}
    rr = np.diff(kept).astype(np.float64)
    g = j - 1
    window = np.concatenate([np.full(4, np.nan), rr, np.full(4, np.nan)])[g:g + 9]
    local = float(np.nanmedian(window))
    out = {"gap_over_local": round(float(rr[g] / local), 3), "gap_ms": round(1000.0 * rr[g] / fs, 1),
           "local_rr_ms": round(1000.0 * local / fs, 1)}
    if not (rr[g] > config.rpeak_searchback * local and rr[g] > 2 * min_distance):
        out["outcome"] = "not_searched"
        return out
    feature = G.slope_feature(detect, fs, float(config.rpeak_guard_slope_step_s))
    lo, hi = int(kept[g]) + min_distance, int(kept[g + 1]) - min_distance
    c = lo + int(np.argmax(feature[lo:hi]))
    direction = "up" if np.median(cleaned[kept]) >= np.median(cleaned) else "down"
    c = int(G.correct_apex(cleaned, np.array([c]), fs, config.rpeak_refine_s, direction)[0])
    amplitude = G.qrs_amplitudes(cleaned, kept, fs, constants.qrs_half_width_s)
    ref = G._neighbour_percentile(kept, amplitude, np.array([c]), constants.neighbours, constants.percentile)[0]
    ca = G.qrs_amplitudes(cleaned, np.array([c]), fs, constants.qrs_half_width_s)[0]
    out.update(candidate_ms=round(1000.0 * (c - a) / fs, 1), candidate_amplitude=round(float(ca / ref), 3))
    out["outcome"] = "searched_elsewhere" if abs(c - a) > tol else "refused"
    return out


def second_at(a, kept, cleaned, detect, fs, config, tol, calls) -> dict:
    """The second proposer's candidate within ``tol`` of ``a`` against ``kept`` (the search back's peaks) and its
    measures (``rpeak_guard.second_proposer``'s, before its checks' combination)."""
    constants = G.constants_for(config)
    feature = G.slope_feature(detect, fs, float(config.rpeak_guard_slope_step_s))
    min_distance = max(1, int(round(config.min_rr_s * fs)))
    step = max(1, int(fs // 100))
    cands = scipy.signal.find_peaks(feature[::step], distance=max(1, min_distance // step))[0] * step
    near = cands[np.abs(cands - a) <= tol]
    if near.size == 0:
        return {"outcome": "no_candidate"}
    c = int(near[np.argmin(np.abs(near - a))])
    ref = G._neighbour_percentile(kept, feature[kept], np.array([c]), constants.neighbours,
                                  constants.second_level_percentile)[0]
    rr = np.diff(kept).astype(np.float64)
    local = G._neighbour_percentile(kept[1:], rr, np.array([c]), constants.neighbours, 50.0)[0]
    j = int(np.searchsorted(kept, c))
    before = c - kept[j - 1] if j > 0 else np.inf
    after = kept[j] - c if j < kept.size else np.inf
    spacing = float(min(before, after) / local)
    closest = min(constants.second_spacing, constants.cluster_spacing, constants.run_spacing)
    direction = "up" if np.median(cleaned[kept]) >= np.median(cleaned[::10 * step]) else "down"
    moved = int(G.correct_apex(cleaned, np.array([c]), fs, config.rpeak_refine_s, direction)[0])
    amplitude, _, width = G.qrs_shapes(cleaned, kept, fs, constants)
    ca, _, cw = G.qrs_shapes(cleaned, np.array([moved]), fs, constants)
    aref = G._neighbour_percentile(kept, amplitude, np.array([moved]), constants.neighbours, constants.percentile)[0]
    wref = G._neighbour_percentile(kept, width, np.array([moved]), constants.neighbours, 50.0)[0]
    out = {"candidate_ms": round(1000.0 * (c - a) / fs, 1), "level": round(float(feature[c] / ref), 3),
           "spacing": round(spacing, 3), "amplitude": round(float(ca[0] / aref), 3), "width": round(float(cw[0] / wref), 3)}
    if spacing < closest or min(before, after) < min_distance:
        out["outcome"] = "too_close"
    elif out["level"] < config.rpeak_second_proposer and out["amplitude"] < constants.cluster_floor:
        out["outcome"] = "under_level_and_small"
    else:
        # which check refused it (the first in second_proposer's order that said no), from the spied calls
        checks = {n: said(calls, n, moved) for n in SPIED}
        out["checks"] = {n: v for n, v in checks.items() if v is not None}
        sized = (out["level"] >= config.rpeak_second_proposer and spacing >= constants.second_spacing
                 and out["amplitude"] >= constants.second_amplitude)
        if out["width"] > constants.second_width:
            out["outcome"] = "too_wide"
        elif not sized and checks["cluster_like"] is None and checks["pvc_run_like"] is None:
            out["outcome"] = "not_sized_no_cluster_test"
        elif not sized and checks["cluster_like"] is False and not checks["pvc_run_like"]:
            out["outcome"] = "cluster_refused"
        elif checks["candidates_p_wave_like"]:
            out["outcome"] = "p_wave_check"
        elif checks["t_wave_like"]:
            out["outcome"] = "t_wave_veto_unlike" if checks["unlike_kept_beat"] else "t_wave_veto"
        elif checks["qrs_residual"] is False:
            out["outcome"] = "qrs_residual"
        else:
            out["outcome"] = "refused_other"
    return refine_refused(out)


def refine_refused(second) -> dict:
    """A ``refused_other`` candidate the PVC-run test refused (``pvc_run_like`` said no; the test that decides the
    candidates only the PVC-run spacing, 0.25 x the local RR, lets in) and no check before it kept: ``pvc_run_refused``.
    ``cluster_kept_then_refused``: the cluster rescue's first test kept it, a later one (its closer spacing's
    ``cluster_close_min`` beats, or the final spacing) did not."""
    checks = second.get("checks", {})
    if second.get("outcome") == "refused_other" and checks.get("pvc_run_like") is False:
        second = dict(second, outcome="cluster_kept_then_refused" if checks.get("cluster_like") else "pvc_run_refused")
    return second


def trace_miss(a, beats, calls, primary, stages, final, cleaned, detect, fs, config, tol) -> dict:
    """Where each stage of the point's detector lost the never-proposed annotation ``a`` (module docstring)."""
    x, _, kw, nk = calls
    reg = regions_of(x, fs, kw)
    over = np.flatnonzero((reg["beg"] <= a + tol) & (reg["end"] >= a - tol))
    row = {"slope_over_mean": round(float(reg["ratio"][max(a - tol, 0):a + tol + 1].max()), 3)}
    if over.size == 0:
        region = "no_region"
    elif not reg["long"][over].any():
        region = "short_region"
        row["length_over_min"] = round(float((reg["end"][over] - reg["beg"][over]).max() / reg["min_len"]), 3)
    else:
        long_over = over[reg["long"][over]]
        cand = reg["beg"][long_over] + reg["offset"][long_over]
        cand = cand[reg["offset"][long_over] >= 0]
        if cand.size == 0:
            region = "no_extremum"
        else:
            c = int(cand[np.argmin(np.abs(cand - a))])
            row["region_peak_ms"] = round(1000.0 * (c - a) / fs, 1)
            if abs(c - a) > tol:
                region = "extremum_elsewhere"
            elif c not in set(np.asarray(nk).tolist()):
                region = "refractory_lost"
                delay = int(np.rint(fs * kw.get("mindelay", 0.3)))
                w = np.asarray(nk)[np.abs(np.asarray(nk) - c) <= delay]
                if w.size:
                    win = int(w[np.argmin(np.abs(w - c))])
                    row["winner_ms"] = round(1000.0 * (win - a) / fs, 1)
                    row["winner_true"] = bool(any(own(final, b, beats, tol).size
                                                  for b in beats[np.abs(beats - win) <= tol]))
            else:
                region = "close_or_refine"
    row["region"] = region
    row["search_back"] = search_back_at(a, stages["s1"], cleaned, detect, fs, config, tol)
    if own(stages["s2"], a, beats, tol).size:
        row["search_back"]["outcome"] = "found"
    row["second_proposer"] = second_at(a, stages["s2"], cleaned, detect, fs, config, tol, stages["calls"])
    if own(stages["s3"], a, beats, tol).size:
        row["second_proposer"]["outcome"] = "added_then_dropped"
    return row


def chosen_points(cache, records) -> dict:
    """{seed: {record: the point its fold chose}} over run s41-combo's grid, from the cached counts."""
    out = {}
    for k in SEEDS:
        counts = {}
        for rid in records:
            counts.update(json.loads((Path(cache) / f"{rid}_other.json").read_text()))
            counts.update(json.loads((Path(cache) / f"{rid}_block21_k{k}.json").read_text()))
        out[k] = loro(counts, names(RUN), records)[1]
    return out


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    argv, parser = look_parser(argv, __doc__, cache_dir=CACHE)
    parser.add_argument("--records", nargs="+", default=list(tasks.MITDB_DS1))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--summarise-only", action="store_true",
                        help="re-make the figures from the rows of an existing --out (no detection)")
    args = parse_look_args(parser, argv)
    if args is None:
        return 2
    if args.summarise_only:
        old = json.loads(Path(args.out).read_text())
        args.records = old["records"]
        argv = old["command"].split()[2:]
        Path(args.out).write_text(json.dumps(summarise(old["misses"], old["checks"], args, argv), indent=1) + "\n")
        return 0
    tol_of = lambda fs: int(round(TOL_S * fs))  # noqa: E731
    grid = {n: (c, o) for n, c, _, o in points(RUN)}
    choice = chosen_points(args.cache_dir, list(tasks.MITDB_DS1))
    misses, checks = [], {}
    for rid in args.records:
        other = json.loads((Path(args.cache_dir) / f"{rid}_other.json").read_text())
        builds = [("normal", 0, dict(names=("normal",), artifacts=True))]
        builds += [("block21", k, dict(names=("block21",), t_end_s=None, join_edge_s=JOINS["new"],
                                       seed_offset=SEED_STEP * k, artifacts=True, own_onset=True)) for k in args.seeds]
        for rhythm, k, builder in builds:
            name = choice[k][rid]
            config, options = grid[name]
            skip = {f"{rid}|{r}|{TODAY}": None for r in RHYTHMS}     # today's detector is not scored here
            (_, built, fs, cleaned, detect), = rhythm_signals(args.data_dir, rid, skip, **builder)
            tol = tol_of(fs)
            with captured_findpeaks() as calls:
                primary, held, final = final_peaks(built, fs, cleaned, detect, config, None, options)
            tp, fn, fp, hit, _ = match(built, final, fs)
            cache = (other if rhythm == "normal" else
                     json.loads((Path(args.cache_dir) / f"{rid}_block21_k{k}.json").read_text()))
            checks[f"{rid}_{rhythm}_k{k}"] = [tp, fn, fp] == cache[f"{rid}|{rhythm}|{name}"]
            beats = built["beats"]
            missed = sorted(set(beats.tolist()) - hit)
            trace = rhythm == "normal" or k == 0
            stages = guard_stages(primary, held, cleaned, detect, fs, config) if trace and missed else None
            for a in missed:
                row = {"record": rid, "rhythm": rhythm, "seed": k, "sample": int(a), "point": SHORT[name],
                       "not_proposed": own(primary, a, beats, tol).size == 0}
                if trace and row["not_proposed"]:
                    row.update(trace_miss(a, beats, calls[0], primary, stages, final, cleaned, detect, fs, config, tol))
                    row["final_stage"] = ("search_back_" + row["search_back"]["outcome"]
                                          if row["search_back"]["outcome"] in ("refused",) else
                                          "second_" + row["second_proposer"]["outcome"])
                misses.append(row)
            log.info("%s %s k=%d (%s): FN %d FP %d, check %s", rid, rhythm, k, SHORT[name], fn, fp,
                     checks[f"{rid}_{rhythm}_k{k}"])
    Path(args.out).write_text(json.dumps(summarise(misses, checks, args, argv), indent=1) + "\n")
    result = json.loads(Path(args.out).read_text())
    print(json.dumps({k: result[k] for k in ("counts_equal_cache", "traced", "by_region", "by_search_back",
                                             "by_second_proposer", "same_beats_summary")}))
    return 0


def summarise(misses, checks, args, argv) -> dict:
    """The look's figures: the traced misses grouped by cause (normal and block21 k = 0), 203 apart, and the misses
    common to every seed."""
    traced = [r for r in misses if "region" in r]
    for r in traced:      # rows written before refine_refused get its labels too (--summarise-only)
        r["second_proposer"] = refine_refused(r["second_proposer"])
    count = lambda rows, f: dict(collections.Counter(f(r) for r in rows).most_common())  # noqa: E731
    groups = {}
    for label, sel in (("all", traced), ("203", [r for r in traced if r["record"] == "203"]),
                       ("not_203", [r for r in traced if r["record"] != "203"])):
        for rhythm in ("normal", "block21"):
            rows = [r for r in sel if r["rhythm"] == rhythm]
            groups[f"{label}|{rhythm}"] = {
                "n": len(rows), "region": count(rows, lambda r: r["region"]),
                "search_back": count(rows, lambda r: r["search_back"]["outcome"]),
                "second_proposer": count(rows, lambda r: r["second_proposer"]["outcome"]),
                "combined": count(rows, lambda r: f"{r['region']} / {r['search_back']['outcome']} / "
                                                  f"{r['second_proposer']['outcome']}")}
    # the second proposer's candidate of each traced miss that reaches its slope level and amplitude (0.1), by its
    # spacing from the kept neighbours (over the local RR, before the apex move), per rhythm, 203 apart
    bands = ((0.0, 0.25), (0.25, 0.4), (0.4, 0.5), (0.5, 0.6), (0.6, np.inf))
    band = lambda v: next(f"{lo}-{hi}" for lo, hi in bands if lo <= v < hi)  # noqa: E731
    sized = lambda r: (r["second_proposer"].get("level", 0.0) >= 0.5  # noqa: E731
                       and r["second_proposer"].get("amplitude", 0.0) >= 0.1)
    spacing = {f"{label}|{rhythm}": count([r for r in traced if r["rhythm"] == rhythm and pick(r) and sized(r)],
                                          lambda r: band(r["second_proposer"]["spacing"]))
               for label, pick in (("203", lambda r: r["record"] == "203"), ("not_203", lambda r: r["record"] != "203"))
               for rhythm in ("normal", "block21")}
    block = [r for r in misses if r["rhythm"] == "block21"]
    seeds = sorted({r["seed"] for r in block})
    beats = collections.defaultdict(set)
    for r in block:
        beats[(r["record"], r["sample"])].add(r["seed"])
    every = sorted(b for b, s in beats.items() if len(s) == len(seeds))
    normal_missed = {(r["record"], r["sample"]) for r in misses if r["rhythm"] == "normal"}
    k0 = {(r["record"], r["sample"]): r for r in block if r["seed"] == seeds[0]}
    return {"experiment": "rpeaks_s66_never_proposed_look", "command": " ".join(["python", SCRIPT] + argv),
            "blind": False, "point_run": RUN, "records": args.records, "seeds": seeds, "tolerance_ms": 1000 * TOL_S,
            "what": "run s41-combo's held-out misses (each record at its own fold's point), and for each never-proposed "
                    "miss of normal and block21 k = 0 what the primary detector's region rule and contest, the search "
                    "back and the second proposer saw; chooses nothing, aims run s66's lever",
            "counts_equal_cache": all(checks.values()), "checks": checks,
            "misses_per_rhythm_seed": count(misses, lambda r: f"{r['rhythm']}_k{r['seed']}"),
            "not_proposed_per_rhythm_seed": count([r for r in misses if r["not_proposed"]],
                                                  lambda r: f"{r['rhythm']}_k{r['seed']}"),
            "traced": len(traced),
            "by_region": {k: v["region"] for k, v in groups.items()},
            "by_search_back": {k: v["search_back"] for k, v in groups.items()},
            "by_second_proposer": {k: v["second_proposer"] for k, v in groups.items()},
            "groups": groups,
            "second_candidate_spacing_reaching_level_and_amplitude": spacing,
            "traced_per_record": {rhythm: count([r for r in traced if r["rhythm"] == rhythm], lambda r: r["record"])
                                  for rhythm in ("normal", "block21")},
            "same_beats_summary": {"block21_beats_missed": len(beats), "missed_on_every_seed": len(every),
                                   "every_seed_per_record": count(every, lambda b: b[0]),
                                   "every_seed_also_missed_in_normal": sum(b in normal_missed for b in every),
                                   "every_seed_not_proposed_at_k0": sum(k0[b]["not_proposed"] for b in every if b in k0)},
            "missed_on_every_seed": [{"record": b[0], "sample": b[1], "missed_in_normal": b in normal_missed,
                                      "not_proposed_k0": k0[b]["not_proposed"] if b in k0 else None} for b in every],
            "misses": misses}


if __name__ == "__main__":
    sys.exit(main())
