"""Run s39-twave (issue 21, a look that chooses nothing): why the T-wave check (``SignalConfig.rpeak_guard_t_wave``,
``rpeak_guard.t_wave_like``) lets false beats through when run s58's point runs at 100 Hz.

    python experiments/rpeaks/t_wave_rate_look.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_t_wave_rate_look.json

For MIT-BIH 201's block21 build (run s58b's builder, ``detect_rate``'s; builder seeds k = 0 and 1) run s58's point
natively (360 Hz) and at 100 Hz (``detect_rate.detect_at_rate``, mapped). Every call of ``t_wave_like`` is recorded (the
second proposer's candidates, and with ``t_wave_all`` every kept peak at the end of ``guard_rpeaks``). For each false
beat at 100 Hz that the last ``t_wave_all`` check kept, the check's measures (``measures``) are computed at 100 Hz on
the 100 Hz cleaned signal with that call's kept peaks, and natively on the natively cleaned signal with the same beat
and the same kept peaks mapped to 360 Hz (``x 3.6``, rounded; and also then moved to the R apex, ``refine_rpeaks``).
The measures whose threshold the beat crosses only at 100 Hz are listed. Also counted: the candidates reaching the
check (and vetoed) at each rate, and how many of them are false beats; where each false beat came from at 100 Hz, what
the native detector did at the same place, and, for those of the primary detector, the neurokit QRS region over them at
each rate (its length against neurokit2's minimum, 0.4 x the mean region length). Prints one JSON object last.
"""
from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from block21_seam import JOINS, SEED_STEP  # noqa: E402
from cluster import match, rhythm_signals  # noqa: E402
from detect_rate import CONFIGS, RATE  # noqa: E402
from look_cli import look_parser, parse_look_args  # noqa: E402

from ecgsl_keras.data import rpeak_guard as G  # noqa: E402
from ecgsl_keras.data import rpeaks  # noqa: E402
from ecgsl_keras.data.filters import clean, resample  # noqa: E402

log = logging.getLogger("experiments.rpeaks.t_wave_rate_look")
SCRIPT = "experiments/rpeaks/t_wave_rate_look.py"
RECORD = "201"
SEEDS = (0, 1)


def measures(kept, at, cleaned, fs, constants, correlation) -> list:
    """``t_wave_like``'s measures for each peak of ``at`` (same code path, ``_after_beat_templates``' steps spelled
    out): lag (s), the lag over the local median RR, the cluster members (QRS correlation >= ``t_wave_cluster`` and
    clear after), the best QRS correlation among the candidates for the cluster, the wave's correlation with the
    template, its peak-to-peak over the template's, and which conditions veto it."""
    x = np.asarray(cleaned, np.float64)
    kept = np.asarray(kept, np.int64)
    at = np.asarray(at, np.int64)
    fs = float(fs)
    half = max(1, int(round(constants.t_wave_window_s * fs)))
    offsets = np.arange(-half, half + 1)
    j = np.searchsorted(kept, at) - 1
    lag = at - kept[np.clip(j, 0, kept.size - 1)]
    local = G._neighbour_percentile(kept[1:], np.diff(kept).astype(np.float64), at, constants.neighbours, 50.0)
    clear = int(round(constants.t_wave_clear_s * fs))
    reach = constants.cluster_neighbours
    qrs = G.qrs_windows(x, kept, fs, constants.cluster_window_s)
    following = np.append(kept[1:], np.iinfo(np.int64).max)
    itself = np.where(np.isin(at, kept), j + 1, -1)
    lo, hi = (v * fs for v in constants.t_wave_lag_s)

    def window(centres):
        w = x[np.clip(centres[:, None] + offsets[None, :], 0, x.size - 1)]
        return w - w.mean(axis=1, keepdims=True)

    out = []
    for i in range(at.size):
        p = int(j[i])
        row = {"lag_s": round(float(lag[i]) / fs, 4), "lag_over_rr": round(float(lag[i] / local[i]), 3),
               "in_lag_range": bool(p >= 0 and lo <= lag[i] <= hi), "under_rr": bool(lag[i] < constants.t_wave_rr * local[i])}
        around = np.arange(max(0, p - reach), min(kept.size, p + reach + 1))
        around = around[(around != p) & (around != itself[i])]
        corr = qrs[around] @ qrs[p]
        clear_ok = following[around] > kept[around] + lag[i] + clear
        members = around[(corr >= constants.t_wave_cluster) & clear_ok]
        row.update({"shaped_like": int(np.sum(corr >= constants.t_wave_cluster)), "clear_after": int(np.sum(clear_ok)),
                    "members": int(members.size),
                    "qrs_corr_median": round(float(np.median(corr)), 3) if corr.size else None})
        row["has_template"] = bool(row["in_lag_range"] and row["under_rr"] and members.size >= constants.cluster_min)
        row["wave_corr"] = row["ptp_ratio"] = None
        if members.size >= 1:
            template = np.median(window(kept[members] + lag[i]), axis=0)
            template = template - template.mean()
            own = window(at[i:i + 1])[0]
            norm = np.linalg.norm(template) * np.linalg.norm(own)
            row["wave_corr"] = round(float(own @ template / norm), 3) if norm > 0 else None
            row["ptp_ratio"] = round(float(np.ptp(own) / max(np.ptp(template), 1e-12)), 3)
        row["corr_ok"] = row["wave_corr"] is not None and row["wave_corr"] >= correlation
        row["size_ok"] = row["ptp_ratio"] is not None and row["ptp_ratio"] <= constants.t_wave_size
        row["vetoed"] = bool(row["has_template"] and row["corr_ok"] and row["size_ok"])
        out.append(row)
    return out


CONDITIONS = ("in_lag_range", "under_rr", "members_ok", "corr_ok", "size_ok")


def failing(row, constants) -> list:
    ok = dict(row, members_ok=row["members"] >= constants.cluster_min)
    return [c for c in CONDITIONS if not ok[c]]


def run_recorded(fn):
    """``fn()`` with every ``t_wave_like`` call recorded: (caller, kept, at, result)."""
    calls = []
    original = G.t_wave_like

    def recorded(kept, at, cleaned, fs, correlation, constants=None):
        result = original(kept, at, cleaned, fs, correlation, constants)
        caller = sys._getframe(1).f_code.co_name
        calls.append((caller, np.asarray(kept, np.int64).copy(), np.asarray(at, np.int64).copy(), result.copy()))
        return result

    G.t_wave_like = recorded
    try:
        return fn(), calls
    finally:
        G.t_wave_like = original


def run_staged(fn):
    """``fn()`` with the guard's stages recorded: the peaks into ``guard_rpeaks`` (the primary detector's), into and
    out of the search back and the second proposer (the last call of each)."""
    stages = {}
    originals = (rpeaks.guard_rpeaks, G._search_back, G.second_proposer)

    def wrap(name, f):
        def inner(peaks, *a, **k):
            out = f(peaks, *a, **k)
            stages[f"{name}_in"], stages[f"{name}_out"] = np.asarray(peaks, np.int64).copy(), np.asarray(out).copy()
            return out
        return inner

    rpeaks.guard_rpeaks = wrap("guard", originals[0])
    G._search_back = wrap("search_back", originals[1])
    G.second_proposer = wrap("second_proposer", originals[2])
    try:
        return fn(), stages
    finally:
        rpeaks.guard_rpeaks, G._search_back, G.second_proposer = originals


def near(peaks, p, tolerance) -> bool:
    peaks = np.asarray(peaks)
    return bool(peaks.size and np.min(np.abs(peaks - p)) <= tolerance)


def origin(stages, p, tolerance) -> str:
    """The stage that brought peak ``p`` in: the primary detector (into the guard), the search back, the second
    proposer, or after the guard (the minimum gap's peaks)."""
    if near(stages.get("guard_in", []), p, tolerance):
        return "primary"
    for name in ("search_back", "second_proposer"):
        if name + "_out" in stages and near(stages[name + "_out"], p, tolerance) and not near(stages[name + "_in"], p,
                                                                                                  tolerance):
            return name
    return "after_guard"


def neurokit_regions(x, fs, config) -> tuple:
    """The neurokit detector's QRS regions (``rpeaks._findpeaks_neurokit``'s default region rules, on the
    ``config.rpeak_clean_method`` copy): (begins, ends, the minimum length in samples, the smoothed |gradient| over its
    threshold)."""
    from neurokit2.signal import signal_smooth

    d = clean(x, fs, config.rpeak_clean_method)
    smooth = signal_smooth(np.abs(np.gradient(d)), kernel="boxcar", size=int(np.rint(0.1 * fs)))
    ratio = smooth / (1.5 * signal_smooth(smooth, kernel="boxcar", size=int(np.rint(0.75 * fs))))
    above = ratio > 1
    beg = np.flatnonzero(~above[:-1] & above[1:])
    end = np.flatnonzero(above[:-1] & ~above[1:])
    end = end[end > beg[0]]
    n = min(beg.size, end.size)
    beg, end = beg[:n], end[:n]
    # the same lengths between linearly interpolated threshold crossings (off the sample grid)
    over = ratio - 1
    length = (end + over[end] / (over[end] - over[end + 1])) - (beg + over[beg] / (over[beg] - over[beg + 1]))
    return beg, end, float(np.mean(end - beg) * 0.4), ratio, length, float(np.mean(length) * 0.4)


def region_at(regions, p, fs) -> dict:
    """The neurokit region over peak ``p`` (within 50 ms): its length, whether it reaches the minimum length, and
    the feature's peak over the threshold there."""
    beg, end, min_len, ratio, interpolated, min_interpolated = regions
    tol = int(round(0.05 * fs))
    i = np.flatnonzero((beg <= p + tol) & (end >= p - tol))
    peak = round(float(ratio[max(0, p - tol):p + tol + 1].max()), 3)
    if i.size == 0:
        return {"region": False, "feature_over_threshold": peak}
    length = int(end[i[0]] - beg[i[0]])
    return {"region": True, "length_s": round(length / fs, 4), "min_length_s": round(min_len / fs, 4),
            "long_enough": bool(length >= min_len), "feature_over_threshold": peak,
            "long_enough_interpolated": bool(interpolated[i[0]] >= min_interpolated)}


def look_build(built, fs, cleaned, config) -> dict:
    x = built["signal"]
    constants = G.constants_for(config)
    corr = float(config.rpeak_guard_t_wave)
    scale = fs / RATE
    (native, native_calls), native_stages = run_staged(lambda: run_recorded(
        lambda: rpeaks.find_rpeaks(x, fs, config, cleaned=cleaned)))
    x100 = resample(x, fs, RATE)
    cleaned100 = clean(x100, RATE, config.clean_method)
    (found, calls100), stages100 = run_staged(lambda: run_recorded(lambda: rpeaks.find_rpeaks(x100, RATE, config)))
    mapped = np.unique(np.clip(np.rint(found * scale).astype(np.int64), 0, x.size - 1))
    tp_n, fn_n, fp_n, _, false_n = match(built, native, fs)
    tp_h, fn_h, fp_h, _, false_h = match(built, mapped, fs)
    false_100 = {int(p) for p in found if int(np.clip(np.rint(p * scale), 0, x.size - 1)) in false_h}

    def reaching(calls, false_set, to_native):
        rows = {}
        for caller, _, at, result in calls:
            r = rows.setdefault(caller, Counter())
            r["calls"] += 1
            r["candidates"] += int(at.size)
            r["vetoed"] += int(result.sum())
            is_false = np.array([to_native(p) in false_set for p in at], bool)
            r["false_reaching"] += int(is_false.sum())
            r["false_vetoed"] += int((is_false & result).sum())
        return {k: dict(v) for k, v in rows.items()}

    near_n = lambda p: int(p)  # noqa: E731
    near_h = lambda p: int(np.clip(np.rint(p * scale), 0, x.size - 1))  # noqa: E731
    # a native false beat as the final checks' candidate: the false set holds final peaks, a candidate that later
    # moved is not counted as false (rare)
    candidates = {"native": reaching(native_calls, false_n, near_n), "100": reaching(calls100, false_h, near_h)}
    last = [c for c in calls100 if c[0] == "guard_rpeaks"]
    regions_native, regions_100 = neurokit_regions(x, fs, config), neurokit_regions(x100, RATE, config)
    beats = []
    for p in sorted(false_100):
        # the last t_wave_all call holding this beat (or the nearest, within 2 samples)
        call = next((c for c in reversed(last) if np.min(np.abs(c[2] - p)) <= 2), None)
        if call is None:
            beats.append({"at_100": p, "at_native": near_h(p), "reached_t_wave_all": False})
            continue
        _, kept, at, result = call
        q = int(at[np.argmin(np.abs(at - p))])
        m100 = measures(kept, np.array([q]), cleaned100, RATE, constants, corr)[0]
        kept_n = np.unique(np.clip(np.rint(kept * scale).astype(np.int64), 0, x.size - 1))
        q_n = near_h(q)
        mn = measures(kept_n, np.array([q_n]), cleaned, fs, constants, corr)[0]
        kept_r = rpeaks.refine_rpeaks(cleaned, kept_n, fs, config.rpeak_refine_s)
        q_r = int(rpeaks.refine_rpeaks(cleaned, np.array([q_n]), fs, config.rpeak_refine_s)[0])
        mr = measures(kept_r, np.array([q_r]), cleaned, fs, constants, corr)[0]
        f100, fn_, fr = failing(m100, constants), failing(mn, constants), failing(mr, constants)
        # where it came from at 100 Hz, and what the native detector did at the same place (within 50 ms)
        tol_n = int(round(0.05 * fs))
        native_fate = ("not_proposed" if not any(near(native_stages.get(f"{st}_in", []), q_n, tol_n)
                                                  for st in ("guard", "search_back", "second_proposer"))
                       else "kept" if near(native, q_n, tol_n)
                       else "removed_by_amplitude_guard" if near(native_stages["guard_in"], q_n, tol_n)
                       and not near(native_stages.get("search_back_in", native_stages.get("second_proposer_in", [])),
                                    q_n, tol_n)
                       else "removed_later")
        # a primary peak at 100 Hz: its QRS amplitude over the guard's first-pass reference (under
        # rpeak_guard_amplitude: a rescue kept it)
        ratio = None
        if near(stages100["guard_in"], q, 2):
            gin = stages100["guard_in"]
            amp = G.qrs_amplitudes(cleaned100, gin, RATE, constants.qrs_half_width_s)
            at_i = int(np.argmin(np.abs(gin - q)))
            ratio = round(float(amp[at_i] / G.amplitude_reference(gin, amp, gin[at_i:at_i + 1], constants)[0]), 3)
        beats.append({"at_100": q, "at_native": q_n, "time_s": round(q / RATE, 2), "reached_t_wave_all": True,
                      "amplitude_over_reference_100": ratio,
                      "origin_100": origin(stages100, q, 2), "native_at_same_place": native_fate,
                      "neurokit_region_100": region_at(regions_100, q, RATE),
                      "neurokit_region_native": region_at(regions_native, q_n, fs),
                      "in_native_false": q_n in false_n or any(abs(q_n - f) <= 0.15 * fs for f in false_n),
                      "measures_100": m100, "measures_native_mapped": mn, "measures_native_refined": mr,
                      "fails_100": f100, "fails_native_mapped": fn_, "fails_native_refined": fr,
                      "fails_only_at_100": sorted(set(f100) - set(fn_)) if not mn["vetoed"] else f100})
    # every peak the last t_wave_all check saw, at both rates in the same context: does the decision change?
    same_context = {}
    for name, calls, to_other, here, there in (
            ("100_context", calls100, lambda a: np.unique(np.clip(np.rint(a * scale).astype(np.int64), 0, x.size - 1)),
             (cleaned100, RATE), (cleaned, fs)),
            ("native_context", native_calls, lambda a: np.unique(np.rint(a / scale).astype(np.int64)),
             (cleaned, fs), (cleaned100, RATE))):
        kept, at = next(c for c in reversed(calls) if c[0] == "guard_rpeaks")[1:3]
        kept_o, at_o = to_other(kept), to_other(at)
        if at_o.size != at.size:      # two peaks mapped to one sample: keep the pairs that stay apart
            keep = np.concatenate([[True], np.diff(np.rint(at / scale if name == "native_context" else at * scale)) > 0])
            at, at_o = at[keep], to_other(at[keep])
        ma = measures(kept, at, *here, constants, corr)
        mb = measures(kept_o, at_o, *there, constants, corr)
        va, vb = np.array([m["vetoed"] for m in ma]), np.array([m["vetoed"] for m in mb])
        both = [(a["wave_corr"], b["wave_corr"], a["ptp_ratio"], b["ptp_ratio"], a["members"], b["members"])
                for a, b in zip(ma, mb) if a["has_template"] and b["has_template"]
                and a["wave_corr"] is not None and b["wave_corr"] is not None]
        d = np.array(both, np.float64).reshape(-1, 6)
        rate_first = name == "100_context"
        sign = 1.0 if rate_first else -1.0     # differences as 100 Hz minus native
        same_context[name] = {
            "peaks": int(at.size), "vetoed_100": int((va if rate_first else vb).sum()),
            "vetoed_native": int((vb if rate_first else va).sum()),
            "vetoed_only_100": int(((va & ~vb) if rate_first else (vb & ~va)).sum()),
            "vetoed_only_native": int(((vb & ~va) if rate_first else (va & ~vb)).sum()),
            "with_template_both": int(d.shape[0]),
            "wave_corr_100_minus_native": {"mean": round(float(sign * np.mean(d[:, 0] - d[:, 1])), 4),
                                           "sd": round(float(np.std(d[:, 0] - d[:, 1], ddof=1)), 4)},
            "ptp_ratio_100_minus_native": {"mean": round(float(sign * np.mean(d[:, 2] - d[:, 3])), 4),
                                           "sd": round(float(np.std(d[:, 2] - d[:, 3], ddof=1)), 4)},
            "members_100_minus_native": {"mean": round(float(sign * np.mean(d[:, 4] - d[:, 5])), 3),
                                         "sd": round(float(np.std(d[:, 4] - d[:, 5], ddof=1)), 3)}}
    primary = [b for b in beats if b.get("origin_100") == "primary"]
    region_summary = {}
    for name in ("100", "native"):
        rows = [b[f"neurokit_region_{name}"] for b in primary]
        region_summary[name] = {"beats": len(rows), "region": sum(r["region"] for r in rows),
                                "long_enough": sum(r.get("long_enough", False) for r in rows),
                                "long_enough_interpolated": sum(r.get("long_enough_interpolated", False) for r in rows),
                                "feature_over_threshold_median": float(np.median([r["feature_over_threshold"]
                                                                                  for r in rows])) if rows else None}
    ratios = [b["amplitude_over_reference_100"] for b in beats if b.get("amplitude_over_reference_100") is not None]
    origins = Counter((b.get("origin_100"), b.get("native_at_same_place")) for b in beats)
    reasons = Counter(tuple(b["fails_100"]) for b in beats if b["reached_t_wave_all"])
    vetoed_native = sum(1 for b in beats if b["reached_t_wave_all"] and b["measures_native_mapped"]["vetoed"])
    return {"native": {"TP": tp_n, "FN": fn_n, "FP": fp_n}, "100_mapped": {"TP": tp_h, "FN": fn_h, "FP": fp_h},
            "candidates": candidates, "same_context_decisions": same_context,
            "origin_100_and_native_fate": {f"{a}|{b}": v for (a, b), v in origins.most_common()},
            "false_lag_s_100": {"0.25_to_0.35": sum(0.25 <= b["measures_100"]["lag_s"] <= 0.35 for b in beats
                                                    if b["reached_t_wave_all"]),
                                "other": sum(not 0.25 <= b["measures_100"]["lag_s"] <= 0.35 for b in beats
                                             if b["reached_t_wave_all"]),
                                "not_reaching": sum(not b["reached_t_wave_all"] for b in beats)},
            "primary_neurokit_regions": region_summary,
            "primary_amplitude_over_reference_100": {"n": len(ratios), "under_guard": sum(
                r < config.rpeak_guard_amplitude for r in ratios), "guard": config.rpeak_guard_amplitude,
                "median": float(np.median(ratios)) if ratios else None}, "false_at_100": len(false_100),
            "false_100_vetoed_natively_same_context": vetoed_native,
            "fails_at_100_counts": {"+".join(k) or "none": v for k, v in reasons.most_common()},
            "only_at_100_counts": dict(Counter("+".join(b["fails_only_at_100"]) or "none" for b in beats
                                               if b["reached_t_wave_all"] and b["measures_native_mapped"]["vetoed"])),
            "beats": beats}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    argv, parser = look_parser(argv, __doc__)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    args = parse_look_args(parser, argv)
    if args is None:
        return 2
    config = CONFIGS["s58"]()
    builds = {}
    for k in args.seeds:
        for rhythm, built, fs, cleaned, _ in rhythm_signals(args.data_dir, RECORD, {}, names=("block21",), t_end_s=None,
                                                             join_edge_s=JOINS["new"], seed_offset=SEED_STEP * k,
                                                             artifacts=True, own_onset=True):
            builds[f"{RECORD}|{rhythm}|k{k}"] = look_build(built, fs, cleaned, config)
            b = builds[f"{RECORD}|{rhythm}|k{k}"]
            log.info("k=%d: native %s 100 %s; fails %s", k, b["native"], b["100_mapped"], b["fails_at_100_counts"])
    result = {"experiment": "rpeaks_t_wave_rate_look", "command": " ".join(["python", SCRIPT] + argv),
              "what": "a look, chooses nothing: run s58's point on MIT-BIH 201's block21 build (run s58b's builder, "
                      "seeds record + 1000 k), natively and at 100 Hz (mapped); the T-wave check's measures of each "
                      "false beat at 100 Hz that the last t_wave_all check kept, at 100 Hz and natively with the same "
                      "beat and the same kept peaks mapped to 360 Hz (and moved to the apex: native_refined)",
              "conditions": {"in_lag_range": "t_wave_lag_s", "under_rr": "lag < t_wave_rr x local median RR",
                             "members_ok": "cluster members >= cluster_min (QRS corr >= t_wave_cluster on "
                                           "+-cluster_window_s, next kept beat over lag + t_wave_clear_s)",
                             "corr_ok": "wave correlation (+-t_wave_window_s) >= rpeak_guard_t_wave",
                             "size_ok": "peak-to-peak <= t_wave_size x the template's"},
              "builds": builds}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: {kk: v[kk] for kk in ("native", "100_mapped", "false_at_100", "fails_at_100_counts",
                                               "only_at_100_counts", "false_100_vetoed_natively_same_context",
                                               "same_context_decisions", "origin_100_and_native_fate",
                                               "primary_amplitude_over_reference_100", "primary_neurokit_regions")}
                      for k, v in builds.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
