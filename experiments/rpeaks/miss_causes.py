"""Why the detector misses beats on MIT-BIH records (issue 21): each reference beat the ``neurokit`` detector
(neurokit2 ``ecg_findpeaks``, the shipped settings, before the guard) misses, by the step of that detector that
lost it, and, for the beats still missed after the guard and its search back, their RR gap against the local
median RR (the search back's gap rule) and QRS amplitude against the reference (its amplitude rule).

    python experiments/rpeaks/miss_causes.py --data-dir /work/shared/data/mitdb 203 108 > benchmarks/results/rpeaks_miss_causes.json

Steps (neurokit2's order; the JSON keys with underscores): "below threshold" (no QRS region of the smoothed |gradient| over 1.5 x its 0.75 s
mean within 60 ms), "short region" (the region under 0.4 x the mean region length), "no local maximum" (no
positive local maximum in the region: a negative QRS), "refractory" (the region's peak within mindelay 0.3 s
after the previous peak, which neurokit2 keeps), "peak elsewhere" (the region's peak over 150 ms away).
"""
import argparse
import collections
import json
import sys

import numpy as np
import scipy.signal
from neurokit2.signal import signal_smooth

from ecgsl_keras.bench.rpeaks import in_episodes, read_mitdb
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_guard as G
from ecgsl_keras.data import signal as S

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data-dir", required=True)
parser.add_argument("records", nargs="+")
args = parser.parse_args()
config = SignalConfig()
base = SignalConfig(rpeak_guard_amplitude=0.0, rpeak_searchback=0.0)
out = {"command": "python experiments/rpeaks/miss_causes.py " + " ".join(sys.argv[1:]), "records": {}}
for rid in args.records:
    sig, fs, ref, episodes, _ = read_mitdb(args.data_dir, rid, "MLII")
    cleaned, x = S.clean(sig, fs, config.clean_method), S.clean(sig, fs, config.rpeak_clean_method)
    ref = ref[~in_episodes(ref, episodes)]
    tol = int(round(0.15 * fs))

    def missed(det):
        j = np.searchsorted(det, ref)
        d = np.minimum(np.abs(det[np.clip(j, 0, len(det) - 1)] - ref), np.abs(det[np.clip(j - 1, 0, len(det) - 1)] - ref))
        return d > tol

    raw = S.detect_rpeaks(x, fs, "neurokit", cleaned=True, mindelay=config.rpeak_mindelay_s)
    final = S.find_rpeaks(sig, fs, config, cleaned=cleaned)
    # neurokit2's steps, replayed
    smooth = signal_smooth(np.abs(np.gradient(x)), kernel="boxcar", size=int(np.rint(0.1 * fs)))
    qrs = smooth > 1.5 * signal_smooth(smooth, kernel="boxcar", size=int(np.rint(0.75 * fs)))
    beg, end = np.flatnonzero(~qrs[:-1] & qrs[1:]), np.flatnonzero(qrs[:-1] & ~qrs[1:])
    end = end[end > beg[0]]
    n = min(beg.size, end.size)
    beg, end = beg[:n], end[:n]
    min_len, delay = np.mean(end - beg) * 0.4, int(np.rint(fs * config.rpeak_mindelay_s))
    state, last = [], 0
    for b, e in zip(beg, end):
        if e - b < min_len:
            state.append("short region")
            continue
        local, props = scipy.signal.find_peaks(x[b:e], prominence=(None, None))
        if local.size == 0:
            state.append("no local maximum")
            continue
        peak = b + local[np.argmax(props["prominences"])]
        if peak - last > delay:
            state.append("peak elsewhere")
            last = peak
        else:
            state.append("refractory")
    causes = collections.Counter()
    margin = int(round(0.06 * fs))
    for r in ref[missed(raw)]:
        k = [i for i in np.searchsorted(beg, r, side="right") - 1 + np.arange(-1, 2)
             if 0 <= i < n and beg[i] - margin <= r <= end[i] + margin]
        causes[("below threshold" if not k else state[k[-1]]).replace(" ", "_")] += 1
    fn = ref[missed(final)]
    rr = np.diff(final)
    padded = np.concatenate([np.full(4, np.nan), rr.astype(float), np.full(4, np.nan)])
    local_rr = np.nanmedian(padded[np.arange(rr.size)[:, None] + np.arange(9)[None, :]], axis=1)
    k = np.clip(np.searchsorted(final, fn) - 1, 0, rr.size - 1)
    amplitude = S.qrs_amplitudes(cleaned, final, fs)
    ratio_amp = S.qrs_amplitudes(cleaned, fn, fs) / G._neighbour_percentile(final, amplitude, fn)
    q = [0.1, 0.25, 0.5, 0.75, 0.9]
    out["records"][rid] = {
        "beats": int(ref.size), "missed_by_detector": int(missed(raw).sum()), "detector_miss_causes": dict(causes),
        "missed_after_guard": int(fn.size), "of_those_missed_by_detector": int((missed(raw) & missed(final)).sum()),
        "gap_over_local_median_quantiles": dict(zip(map(str, q), np.round(np.quantile(rr[k] / local_rr[k], q), 3).tolist())),
        "gaps_under_searchback_ratio": int(np.sum(rr[k] / local_rr[k] <= config.rpeak_searchback)),
        "amplitude_over_reference_quantiles": dict(zip(map(str, q), np.round(np.quantile(ratio_amp, q), 3).tolist())),
    }
    print(rid, out["records"][rid], file=sys.stderr)
print(json.dumps(out))
