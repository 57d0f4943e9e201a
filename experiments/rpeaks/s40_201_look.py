"""Run s40-201's look (issue 21, a look that chooses nothing): what MIT-BIH 201's block21 false beats at 100 Hz are at
run s40-slope2's kept point, and which guard check lets each through where the native detector drops it.

    python experiments/rpeaks/s40_201_look.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s40_201_look.json

Run s58's point with the kept fixed-step slopes (``region_rate.RUNS["s40-slope2"]``'s ``step_feature_sharpness``) on
201's block21 build (run s58b's builder, as ``t_wave_rate_look.py``; builder seeds record + 1000 k), natively and at
100 Hz (``detect_rate.detect_at_rate``'s path: resampled, detected, mapped). Every guard check's call is recorded at
both rates (its input peaks and the peaks it marks: ``CHECKS``), with the stages (``t_wave_rate_look.run_staged``). For
each false beat at 100 Hz: the stage that proposed it (``t_wave_rate_look.origin``); its lag after the reference beat
before it (ms, and over that beat's RR); its QRS amplitude, sharpness and width (``rpeak_guard.qrs_shapes``) over the
medians of the matched beats, at 100 Hz and natively at the same place (mapped x 3.6); the kind (``t_wave``: 0.15-0.5 s
after a reference beat; ``early``: under 0.15 s; ``late``: later); each check it reached at 100 Hz and whether it was
marked there; and the native fate of the same place (within 50 ms): not proposed, dropped by a named check, or kept.
The last T-wave check's measures (``t_wave_rate_look.measures``) of the beat at 100 Hz, and in the same context (its kept
peaks and the beat mapped x 3.6) on the native cleaned signal and on the 100 Hz cleaned signal resampled to 360 Hz, and at
100 Hz with the other false beats taken out of its kept peaks (an oracle context: do the false beats block each other's
veto?); and over all the last check's peaks at 100 Hz, the true and false ones its correlation vetoes at lower thresholds. Prints one JSON
object last. Also ``small_wide``'s two measures (off at the point; run s28b's grid did not keep it) of every final
peak at each rate, and how many false and true peaks a few (width, amplitude) points would drop (a look, nothing chosen);
and 201's block21 (k = 0) counted at 100 Hz with ``rpeak_guard_t_wave`` lowered (``WHAT_IF_T_WAVE``; nothing chosen).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import region_rate as RR  # noqa: E402
from block21_seam import JOINS, SEED_STEP  # noqa: E402
from cluster import match, rhythm_signals  # noqa: E402
from detect_rate import RATE, detect_at_rate  # noqa: E402
from look_cli import look_parser, parse_look_args  # noqa: E402
from t_wave_rate_look import failing, measures, near, origin, run_staged  # noqa: E402

from ecgsl_keras.data import rpeak_guard as G  # noqa: E402
from ecgsl_keras.data import rpeaks  # noqa: E402
from ecgsl_keras.data.filters import clean, resample  # noqa: E402

log = logging.getLogger("experiments.rpeaks.s40_201_look")
SCRIPT = "experiments/rpeaks/s40_201_look.py"
RECORD = "201"
POINT = ("s40-slope2", "step_feature_sharpness")
SEEDS = (0, 1, 2, 3, 4)
T_WAVE_S = (0.15, 0.5)
NEAR_S = 0.05
# small_wide's run s28b grid corner (w 2.0, a 0.4: not kept) and wider, larger points: how the two ratios separate here
WHAT_IF_T_WAVE = (0.9, 0.85, 0.8)
T_CORR_GRID = (0.9, 0.85, 0.8, 0.75, 0.7)
WIDE_GRID = ((2.0, 0.4), (2.0, 0.6), (3.0, 0.6), (3.5, 0.6), (4.0, 0.6))
T_MEASURES = ("lag_s", "lag_over_rr", "members", "qrs_corr_median", "wave_corr", "ptp_ratio", "vetoed")
# the guard's checks in guard_rpeaks' order: name -> (index of the checked peaks in the call, the mask marks a drop)
CHECKS = {"guard_keep": (0, False), "p_wave_like": (0, True), "t_wave_like": (1, True), "small_wide": (0, True),
          "small_noisy": (0, True), "without_own_t_wave": (0, True), "blocked_p_wave": (0, True),
          "after_wide_beat": (0, True)}


def run_checks(fn):
    """``fn()`` with every call of the guard's ``CHECKS`` recorded: (check, caller, checked peaks, dropped mask, the
    call's first argument: the kept peaks for ``t_wave_like``)."""
    calls = []
    originals = {name: getattr(G, name) for name in CHECKS}

    def wrap(name, f):
        at_arg, drops = CHECKS[name]

        def inner(*a, **k):
            mask = np.asarray(f(*a, **k), bool)
            caller = sys._getframe(1).f_code.co_name
            calls.append((name, caller, np.asarray(a[at_arg], np.int64).copy(), mask.copy() if drops else ~mask,
                          np.asarray(a[0], np.int64).copy()))
            return mask
        return inner

    for name, f in originals.items():
        setattr(G, name, wrap(name, f))
    try:
        return fn(), calls
    finally:
        for name, f in originals.items():
            setattr(G, name, f)


def passes(calls, p, tolerance) -> list:
    """Each recorded check call whose checked peaks hold one within ``tolerance`` of ``p``, in order: check (with its
    caller where that is not ``guard_rpeaks``) and whether it dropped it."""
    out = []
    for name, caller, at, dropped, _ in calls:
        if at.size and np.min(np.abs(at - p)) <= tolerance:
            i = int(np.argmin(np.abs(at - p)))
            out.append({"check": name if caller == "guard_rpeaks" else f"{name}@{caller}", "dropped": bool(dropped[i])})
    return out


def shapes_over_beats(cleaned, fs, at, beats, constants) -> dict:
    """QRS amplitude, sharpness and width of ``at`` over the medians of ``beats``' (``qrs_shapes``)."""
    a, s, w = G.qrs_shapes(cleaned, np.array([at], np.int64), fs, constants)
    ba, bs, bw = G.qrs_shapes(cleaned, np.asarray(beats, np.int64), fs, constants)
    return {"amplitude": round(float(a[0] / np.median(ba)), 3), "sharpness": round(float(s[0] / np.median(bs)), 3),
            "width": round(float(w[0] / np.median(bw)), 3)}


def wide_measures(cleaned, fs, peaks, constants) -> tuple:
    """``small_wide``'s two measures of each of ``peaks`` (the final peaks): QRS amplitude over the 75th percentile of
    the ``neighbours`` each side, width over their median (its code path, ratios instead of the mask)."""
    amplitude, _, width = G.qrs_shapes(cleaned, peaks, fs, constants)
    reference = G._neighbour_percentile(peaks, amplitude, peaks, constants.neighbours, constants.percentile)
    width_reference = G._neighbour_percentile(peaks, width, peaks, constants.neighbours, 50.0)
    return amplitude / reference, width / width_reference


def wide_separation(amplitude, width, false) -> dict:
    """For each (width ratio, amplitude) of ``WIDE_GRID``: the false and the true final peaks ``small_wide`` would
    drop (amplitude under a x the reference and width over w x the median; a look, nothing chosen)."""
    return {f"w{w}_a{a}": {"false": int(np.sum(false & (amplitude < a) & (width > w))),
                           "true": int(np.sum(~false & (amplitude < a) & (width > w)))} for w, a in WIDE_GRID}


def native_fate(stages, calls, final, p, tolerance) -> str:
    """What the native detector did at ``p``: ``kept`` (a final peak there), the first check that dropped a peak there
    in the guard (``check`` or ``check@caller`` for a candidate's veto), or ``not_proposed``."""
    if near(final, p, tolerance):
        return "kept"
    proposed = any(near(stages.get(f"{s}_{e}", []), p, tolerance) for s in ("guard", "search_back", "second_proposer")
                   for e in ("in", "out"))
    dropped = [r["check"] for r in passes(calls, p, tolerance) if r["dropped"]]
    if dropped:
        return dropped[0]
    return "proposed_not_kept" if proposed else "not_proposed"


def look_build(built, fs, config) -> dict:
    x = built["signal"]
    constants = G.constants_for(config)
    scale = fs / RATE
    cleaned = clean(x, fs, config.clean_method)
    (native, calls_n), stages_n = run_staged(lambda: run_checks(lambda: rpeaks.find_rpeaks(x, fs, config,
                                                                                          cleaned=cleaned)))
    x100 = resample(x, fs, RATE)
    cleaned100 = clean(x100, RATE, config.clean_method)
    (found, calls_h), stages_h = run_staged(lambda: run_checks(lambda: rpeaks.find_rpeaks(x100, RATE, config)))
    mapped = np.unique(np.clip(np.rint(found * scale).astype(np.int64), 0, x.size - 1))
    tp_n, fn_n, fp_n, hit_n, false_n = match(built, native, fs)
    tp_h, fn_h, fp_h, hit_h, false_h = match(built, mapped, fs)
    beats = np.asarray(built["beats"], np.int64)
    # the matched beats' own detected peaks, for the record's QRS shape medians at each rate
    true_h = np.array([p for p in found if int(np.clip(np.rint(p * scale), 0, x.size - 1)) not in false_h], np.int64)
    true_n = np.array([p for p in native if int(p) not in false_n], np.int64)
    tol_h, tol_n = 2, int(round(NEAR_S * fs))
    corr = float(config.rpeak_guard_t_wave)
    up360 = resample(cleaned100, RATE, fs)[:x.size]
    wide = {}
    for name, sig, rate, peaks, false in (("100", cleaned100, RATE, found, np.array(
            [int(np.clip(np.rint(p * scale), 0, x.size - 1)) in false_h for p in found], bool)),
            ("native", cleaned, fs, native, np.array([int(p) in false_n for p in native], bool))):
        amplitude, width = wide_measures(sig, rate, np.asarray(peaks, np.int64), constants)
        wide[name] = (np.asarray(peaks, np.int64), amplitude, width, wide_separation(amplitude, width, false))
    false_found = np.array([p for p in found if int(np.clip(np.rint(p * scale), 0, x.size - 1)) in false_h], np.int64)
    # the last T-wave check at 100 Hz over all its peaks: how many true and false ones its correlation vetoes
    # at a lower rpeak_guard_t_wave (the other conditions held; a look, nothing chosen)
    last = next(c for c in reversed(calls_h) if c[0] == "t_wave_like" and c[1] == "guard_rpeaks")
    m_all = measures(last[4], last[2], cleaned100, RATE, constants, corr)
    # a peak of the check is true when a reference beat is within the match's 150 ms (the peaks it drops are not scored)
    beats_h = beats / scale
    is_false = np.array([np.min(np.abs(beats_h - p)) > 0.15 * RATE for p in last[2]], bool)
    t_corr = {}
    for c in T_CORR_GRID:
        veto = np.array([m["has_template"] and m["size_ok"] and m["wave_corr"] is not None and m["wave_corr"] >= c
                         for m in m_all], bool)
        t_corr[str(c)] = {"false": int(np.sum(veto & is_false)), "true": int(np.sum(veto & ~is_false))}
    rows = []
    for q in found:
        q_n = int(np.clip(np.rint(q * scale), 0, x.size - 1))
        if q_n not in false_h:
            continue
        i = int(np.searchsorted(beats, q_n))
        prev = beats[i - 1] if i > 0 else None
        rr = float(beats[i] - prev) if prev is not None and i < beats.size else None
        lag = (q_n - prev) / fs if prev is not None else None
        kind = ("t_wave" if lag is not None and T_WAVE_S[0] <= lag <= T_WAVE_S[1] else
                "early" if lag is not None and lag < T_WAVE_S[0] else "late")
        checks_h = passes(calls_h, int(q), tol_h)
        fate = native_fate(stages_n, calls_n, native, q_n, tol_n)
        row = {"at_100": int(q), "time_s": round(q / RATE, 2), "origin_100": origin(stages_h, int(q), tol_h),
               "after_prev_ms": round(1000 * lag) if lag is not None else None,
               "rr_fraction": round((q_n - prev) / rr, 3) if rr else None, "rr_ms": round(1000 * rr / fs) if rr else None,
               "kind": kind, "shape_100": shapes_over_beats(cleaned100, RATE, int(q), true_h, constants),
               "shape_native": shapes_over_beats(cleaned, fs, q_n, true_n, constants),
               "small_wide_100": {"amplitude": round(float(wide["100"][1][wide["100"][0] == q][0]), 3),
                                  "width": round(float(wide["100"][2][wide["100"][0] == q][0]), 3)},
               "checks_100": checks_h, "native": fate,
               "native_origin": origin(stages_n, q_n, tol_n) if fate != "not_proposed" else None}
        # the last T-wave check (t_wave_all) that saw the beat at 100 Hz: its measures there, and in the same context
        # (the same kept peaks and beat mapped x 3.6) on the native cleaned signal and on the 100 Hz cleaned signal
        # resampled to 360 Hz (what the 100 Hz grid loses against what the 100 Hz signal loses)
        call_h = next((c for c in reversed(calls_h) if c[0] == "t_wave_like" and c[1] == "guard_rpeaks"
                       and near(c[2], q, tol_h)), None)
        if call_h is not None:
            kept_m = np.unique(np.clip(np.rint(call_h[4] * scale).astype(np.int64), 0, x.size - 1))
            others = np.setdiff1d(false_found, [int(q)])
            for name, (sig, rate, kept, at) in {"100": (cleaned100, RATE, call_h[4], int(q)),
                                                "100_without_other_false": (cleaned100, RATE,
                                                                            np.setdiff1d(call_h[4], others), int(q)),
                                                "native_mapped": (cleaned, fs, kept_m, q_n),
                                                "up360_mapped": (up360, fs, kept_m, q_n)}.items():
                m = measures(kept, np.array([at]), sig, rate, constants, corr)[0]
                row[f"t_wave_{name}"] = {k: m[k] for k in T_MEASURES}
                row[f"t_wave_{name}"]["fails"] = failing(m, constants)
        if fate == "t_wave_like":
            # the native check that dropped it, in its own context
            call_n = next(c for c in calls_n if c[0] == "t_wave_like" and c[1] == "guard_rpeaks" and near(c[2], q_n, tol_n)
                          and c[3][int(np.argmin(np.abs(c[2] - q_n)))])
            at_n = int(call_n[2][int(np.argmin(np.abs(call_n[2] - q_n)))])
            m = measures(call_n[4], np.array([at_n]), cleaned, fs, constants, corr)[0]
            row["t_wave_native_own"] = {k: m[k] for k in T_MEASURES}
        rows.append(row)
    causes = Counter(f"{r['origin_100']}|{r['kind']}|native:{r['native']}" for r in rows)
    return {"native": {"TP": tp_n, "FN": fn_n, "FP": fp_n}, "100_mapped": {"TP": tp_h, "FN": fn_h, "FP": fp_h},
            "origins_100": dict(Counter(r["origin_100"] for r in rows)), "kinds": dict(Counter(r["kind"] for r in rows)),
            "native_fates": dict(Counter(r["native"] for r in rows)),
            "causes": dict(causes.most_common()),
            "small_wide_separation": {k: v[3] for k, v in wide.items()}, "t_wave_corr_separation_100": t_corr,
            "beats": rows}


def summarise(builds) -> dict:
    """Per-seed means of the counts, and the causes over all seeds (totals)."""
    n = len(builds)
    total = lambda key: sum((Counter(b[key]) for b in builds.values()), Counter())  # noqa: E731
    rows = [r for b in builds.values() for r in b["beats"]]
    by_fate_shape = {}
    for fate in sorted({r["native"] for r in rows}):
        sel = [r for r in rows if r["native"] == fate]
        by_fate_shape[fate] = {f"{rate}_{m}_median": round(float(np.median([r[f"shape_{rate}"][m] for r in sel])), 3)
                               for rate in ("100", "native") for m in ("amplitude", "sharpness", "width")}
        by_fate_shape[fate]["rr_fraction_median"] = round(float(np.median([r["rr_fraction"] for r in sel
                                                                           if r["rr_fraction"] is not None])), 3)
    spread = lambda v: [round(float(np.min(v)), 3), round(float(np.median(v)), 3), round(float(np.max(v)), 3)]  # noqa: E731
    own = [(r["t_wave_100"], r["t_wave_native_own"]) for r in rows if "t_wave_native_own" in r]
    vetoed_natively = {f"{rate}_{m}": spread([pair[i][m] for pair in own]) for i, rate in enumerate(("100", "native"))
                       for m in ("wave_corr", "members")} if own else {}
    t_wave = {}
    for name in ("100", "100_without_other_false", "native_mapped", "up360_mapped"):
        sel = [r[f"t_wave_{name}"] for r in rows if f"t_wave_{name}" in r]
        t_wave[name] = {"beats": len(sel), "vetoed": sum(m["vetoed"] for m in sel),
                        "fails": dict(Counter("+".join(m["fails"]) or "none" for m in sel).most_common()),
                        "members_median": float(np.median([m["members"] for m in sel])) if sel else None,
                        "wave_corr_median": float(np.median([m["wave_corr"] for m in sel if m["wave_corr"] is not None]))
                        if sel else None,
                        "qrs_corr_median": float(np.median([m["qrs_corr_median"] for m in sel])) if sel else None}
    first = next(iter(builds.values()))
    same = all([r["at_100"] for r in b["beats"]] == [r["at_100"] for r in first["beats"]] and b["native"] == first["native"]
               for b in builds.values())
    return {"seeds": n, "same_false_beats_every_seed": same,
            "min_median_max": {"after_prev_ms": spread([r["after_prev_ms"] for r in rows]),
                               "rr_fraction": spread([r["rr_fraction"] for r in rows]),
                               **{f"{m}_100": spread([r["shape_100"][m] for r in rows])
                                  for m in ("amplitude", "sharpness", "width")},
                               "t_wave_corr_100": spread([r["t_wave_100"]["wave_corr"] for r in rows])}, "false_100_per_seed": round(sum(b["100_mapped"]["FP"] for b in builds.values()) / n, 1),
            "false_native_per_seed": round(sum(b["native"]["FP"] for b in builds.values()) / n, 1),
            "origins_100": dict(total("origins_100")), "kinds": dict(total("kinds")),
            "native_fates": dict(total("native_fates").most_common()), "causes": dict(total("causes").most_common()),
            "shape_by_native_fate": by_fate_shape,
            "dropped_by_a_check_100": sum(any(c["dropped"] for c in r["checks_100"]) for r in rows),
            "checks_100": dict(Counter(c["check"] for r in rows for c in r["checks_100"])),
            "t_wave_where_native_vetoes_min_median_max": vetoed_natively,
            "small_wide_separation_totals": {rate: {p: {c: sum(b["small_wide_separation"][rate][p][c]
                                                                for b in builds.values()) for c in ("false", "true")}
                                                    for p in next(iter(builds.values()))["small_wide_separation"][rate]}
                                             for rate in ("100", "native")},
            "t_wave_corr_separation_100_totals": {c: {k: sum(b["t_wave_corr_separation_100"][c][k]
                                                             for b in builds.values()) for k in ("false", "true")}
                                                  for c in map(str, T_CORR_GRID)},
            "small_wide_100_of_false": {m: [round(float(np.min([r["small_wide_100"][m] for r in rows])), 3),
                                            round(float(np.median([r["small_wide_100"][m] for r in rows])), 3),
                                            round(float(np.max([r["small_wide_100"][m] for r in rows])), 3)]
                                        for m in ("amplitude", "width")}, "t_wave_check_same_context": t_wave}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    argv, parser = look_parser(argv, __doc__)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    args = parse_look_args(parser, argv)
    if args is None:
        return 2
    config = RR.RUNS[POINT[0]].configs()[POINT[1]]
    builds = {}
    for k in args.seeds:
        for rhythm, built, fs, _, _ in rhythm_signals(args.data_dir, RECORD, {}, names=("block21",), t_end_s=None,
                                                      join_edge_s=JOINS["new"], seed_offset=SEED_STEP * k,
                                                      artifacts=True, own_onset=True):
            b = builds[f"{RECORD}|{rhythm}|k{k}"] = look_build(built, fs, config)
            log.info("k=%d: native %s 100 %s; causes %s", k, b["native"], b["100_mapped"], b["causes"])
    # what the T-wave correlation would do end to end here (the guard's cascade included): 201's block21 at 100 Hz,
    # builder seed k = 0, rpeak_guard_t_wave lowered (a look on the record it was read from, nothing chosen)
    what_if = {}
    for rhythm, built, fs, _, _ in rhythm_signals(args.data_dir, RECORD, {}, names=("block21",), t_end_s=None,
                                                  join_edge_s=JOINS["new"], seed_offset=0, artifacts=True,
                                                  own_onset=True):
        for c in WHAT_IF_T_WAVE:
            tp, fn, fp, _, _ = match(built, detect_at_rate(built["signal"], fs, dataclasses.replace(
                config, rpeak_guard_t_wave=c)), fs)
            what_if[str(c)] = {"TP": tp, "FN": fn, "FP": fp}
    log.info("what if: %s", what_if)
    result = {"experiment": "rpeaks_s40_201_look", "command": " ".join(["python", SCRIPT] + argv),
              "what": "a look, chooses nothing: run s40-slope2's kept point (run s58's point with the fixed-step "
                      "slopes, step_feature_sharpness) on MIT-BIH 201's block21 build (run s58b's builder, seeds "
                      "record + 1000 k), natively and at 100 Hz (mapped); each false beat at 100 Hz: the stage that "
                      "proposed it, its lag after the reference beat before it, its QRS shape over the matched beats' "
                      "medians, the guard checks it reached at 100 Hz, and the native detector's fate at the same place",
              "point": list(POINT),
              "what_if_t_wave_100_k0": what_if, "t_wave_s": list(T_WAVE_S), "near_s": NEAR_S, "summary": summarise(builds),
              "builds": builds}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["summary"] | {"what_if_t_wave_100_k0": what_if}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
