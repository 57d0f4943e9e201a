"""Run s29's analysis figures (issue 21): the block21 builder's cut per DS1 record, the QRS it leaves, and where the
bigeminy misses of MIT-BIH 203 come from.

    python experiments/rpeaks/s29_misses.py --data-dir /work/shared/data/mitdb > benchmarks/results/rpeaks_loro_s29_misses.json

- ``records``: per DS1 record, ``bench.rhythms.qrs_onset_s`` and ``qrs_cut_s`` (the fixed builder's cut) and the P-wave
  apex of the median beat of the regular normal beats (ms before the annotation; the largest deviation from the first
  50 ms between -300 ms and the median beat's QRS onset - 30 ms): where a fixed 0.1 s cut would shave the P wave.
- ``remnant_119_late``: MIT-BIH 119 with every annotation moved 50 ms late (as 108's sit on the S wave), block21 built
  with the old 70 ms cut and with the default: the QRS amplitude left at the blocked beats (+-50 ms of the true R,
  cleaned) over the original's (median, max).
- ``misses_203``: bigeminy of 203 on run s28's point (experiments/rpeaks/cluster.py ``BASE``) and with the cluster rescue
  (0.9 / 0.3 / 16 neighbours, with the second proposer's candidates): each missed beat (150 ms) classed as dropped by the
  guard (the detector proposed it) or never proposed, with its symbol, whether it was scaled and next to a V beat, its
  QRS amplitude over the neighbours' 75th percentile (``qrs_amplitudes``), and (never proposed) its distance to the
  nearest kept peak over the local median RR.
- ``spacing_0.4_208``: the peaks the cluster rescue's second-proposer variant with spacing 0.4 adds in 208 (normal) over
  the chosen point, and how many lie 0.25-0.35 s after a V beat.
Prints one JSON object.
"""
import argparse
import dataclasses
import json
import sys

import numpy as np

from ecgsl_keras import tasks
from ecgsl_keras.bench import rhythms
from ecgsl_keras.bench.rpeaks import in_episodes, read_mitdb
from ecgsl_keras.data import rpeak_guard as G
from ecgsl_keras.data import signal as S

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from cluster import BASE, BASE_CONSTANTS  # noqa: E402

SHIPPED = G.GUARD
S28 = dataclasses.replace(SHIPPED, **BASE_CONSTANTS)
CHOSEN = dataclasses.replace(S28, cluster_amplitude=0.3, cluster_neighbours=16)


def p_apex_ms(signal, fs, beats, symbols) -> float:
    c = S.clean(signal, fs, "neurokit")
    beats = np.asarray(beats)
    lo, hi = int(round(0.3 * fs)), int(round(0.1 * fs))
    b = beats[rhythms._regular_normal(beats, symbols, fs)]
    b = b[(b > lo) & (b < c.size - hi)]
    t = np.median(c[b[:, None] + np.arange(-lo, hi + 1)[None, :]], axis=0)
    slope = np.abs(np.diff(t))[lo - int(0.2 * fs):]
    onset = (slope > 0.3 * slope.max()).argmax() - int(0.2 * fs)
    stop = lo + onset - int(round(0.03 * fs))
    base = np.median(t[:int(0.05 * fs)])
    return float((np.argmax(np.abs(t[:stop] - base)) - lo) / fs * 1000)


def run(x, fs, config, constants, cleaned, detect, primary):
    try:
        G.GUARD = constants
        return S.guard_rpeaks(primary, cleaned, detect, fs, config)
    finally:
        G.GUARD = SHIPPED


def misses(data_dir):
    x0, fs, ref, ep, _, sym = read_mitdb(data_dir, "203", with_symbols=True)
    built = rhythms.build("bigeminy", x0, fs, ref, sym, ep, seed=203)
    x, beats = built["signal"], built["beats"]
    cleaned, detect = S.clean(x, fs, BASE.clean_method), S.clean(x, fs, BASE.rpeak_clean_method)
    primary = S.find_rpeaks(x, fs, dataclasses.replace(BASE, rpeak_guard_amplitude=0.0, rpeak_searchback=0.0,
                                                       rpeak_second_proposer=0.0), cleaned=cleaned)
    tol = int(round(0.15 * fs))
    scaled = np.isin(beats, built["scaled"])
    is_v = np.array([tasks.aami_class(s) == "V" for s in sym])
    next_v = np.r_[False, is_v[:-1]] | np.r_[is_v[1:], False]

    def near(peaks, at):
        peaks = np.asarray(peaks)
        i = np.clip(np.searchsorted(peaks, at), 1, peaks.size - 1)
        return np.minimum(np.abs(peaks[i] - at), np.abs(peaks[i - 1] - at))

    out = {}
    for name, config, constants in (("s28", BASE, S28),
                                    ("cluster_with_second", dataclasses.replace(BASE, rpeak_rescue_cluster=0.9),
                                     dataclasses.replace(CHOSEN, cluster_second=True))):
        final = run(x, fs, config, constants, cleaned, detect, primary)
        final = final[~in_episodes(final, built["episodes"])]
        missed = (near(final, beats) > tol) & ~in_episodes(beats, built["episodes"])
        proposed = near(primary, beats) <= tol
        amplitude = S.qrs_amplitudes(cleaned, beats, fs) / G._neighbour_percentile(
            final, S.qrs_amplitudes(cleaned, final, fs), beats, SHIPPED.neighbours, SHIPPED.percentile)
        rr = G._neighbour_percentile(final[1:], np.diff(final).astype(float), beats, SHIPPED.neighbours, 50.0)
        spacing = near(final, beats) / rr
        guard, never = missed & proposed, missed & ~proposed
        out[name] = {"missed": int(missed.sum()), "scaled": int((missed & scaled).sum()),
                     "next_to_v": int((missed & next_v).sum()), "v_beats": int((missed & is_v).sum()),
                     "dropped_by_guard": int(guard.sum()), "never_proposed": int(never.sum()),
                     "never_proposed_closer_than_0.5_rr": int((never & (spacing < 0.5)).sum()),
                     "dropped_by_guard_amplitude_ratio_p10_p90": np.percentile(amplitude[guard], [10, 90]).tolist()
                     if guard.any() else None}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args()
    records = {}
    for rid in tasks.MITDB_DS1:
        x, fs, ref, _, _, sym = read_mitdb(args.data_dir, rid, with_symbols=True)
        records[rid] = {"qrs_onset_ms": rhythms.qrs_onset_s(x, fs, ref, sym) * 1000,
                        "qrs_cut_ms": rhythms.qrs_cut_s(x, fs, ref, sym) * 1000, "p_apex_ms": -p_apex_ms(x, fs, ref, sym)}
    x, fs, ref, ep, _, sym = read_mitdb(args.data_dir, "119", with_symbols=True)
    shift = int(round(0.05 * fs))
    original = S.clean(x, fs)
    remnant = {}
    for label, cut in (("cut_70ms", 0.07), ("default", None)):
        built = rhythms.build("block21", x, fs, ref + shift, sym, ep, seed=119, qrs_before_s=cut,
                              t_end_s=rhythms.T_END_FIXED_S, join_edge_s=rhythms.JOIN_EDGE_NONE)
        true_r = built["removed"] - shift
        left = S.qrs_amplitudes(S.clean(built["signal"], fs), true_r, fs) / S.qrs_amplitudes(original, true_r, fs)
        remnant[label] = {"qrs_before_s": built["qrs_before_s"], "median": float(np.median(left)), "max": float(np.max(left)),
                          "blocked": int(true_r.size)}
    # the spacing-0.4 variant's added peaks in 208
    x, fs, ref, ep, _, sym = read_mitdb(args.data_dir, "208", with_symbols=True)
    cleaned, detect = S.clean(x, fs, BASE.clean_method), S.clean(x, fs, BASE.rpeak_clean_method)
    primary = S.find_rpeaks(x, fs, dataclasses.replace(BASE, rpeak_guard_amplitude=0.0, rpeak_searchback=0.0,
                                                       rpeak_second_proposer=0.0), cleaned=cleaned)
    config = dataclasses.replace(BASE, rpeak_rescue_cluster=0.9)
    chosen = run(x, fs, config, CHOSEN, cleaned, detect, primary)
    loose = run(x, fs, config, dataclasses.replace(CHOSEN, cluster_second=True, cluster_sharpness=0.8, cluster_spacing=0.4),
                cleaned, detect, primary)
    added = np.setdiff1d(loose, chosen)
    j = np.clip(np.searchsorted(ref, added) - 1, 0, ref.size - 1)
    after = (added - ref[j]) / fs
    after_v = np.array([tasks.aami_class(sym[k]) == "V" for k in j]) & (after >= 0.25) & (after <= 0.35)
    print(json.dumps({"experiment": "rpeaks_loro_s29_misses", "command": "python experiments/rpeaks/s29_misses.py "
                      + " ".join(sys.argv[1:]), "records": records, "remnant_119_late": remnant,
                      "misses_203": misses(args.data_dir),
                      "spacing_0.4_208": {"added": int(added.size), "0.25_0.35_s_after_a_v_beat": int(after_v.sum())}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
