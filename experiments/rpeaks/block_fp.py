"""Run s32 (issue 21) diagnosis: block21's false beats at run s30's chosen point, one by one, on MIT-BIH DS1.

    python experiments/rpeaks/block_fp.py --data-dir /work/shared/data/mitdb --out benchmarks/results/rpeaks_loro_s32_fp.json

For every false beat of block21 (``bench.rhythms.build``, seed = record number; run s30's chosen point
``s28__c0.9_a0.3_second_n16_s0.8__t0.9_all_z4``; counted as ``bench rpeaks``: 150 ms, VF episodes excluded):
its kind as in experiments/rpeaks/t_wave.py (blocked beat, T wave, other), and for each

- ``source``: ``primary`` when the same point without the second proposer (``rpeak_second_proposer`` 0, so no second
  proposer and no cluster rescue of its candidates) keeps it too (within 20 ms), else ``second`` (the second proposer
  or the cluster rescue of its candidates added it);
- ``noise``: slope-sign changes of the cleaned signal within +-0.3 s (``signal.sign_changes``), over the median of the
  same count at the kept true beats of the record (a noise burst has many);
- ``amplitude``: QRS amplitude over the median of the 16 nearest true beats';
- ``near``: the nearest reference beat (ms, signed) and whether it was matched (an unmatched one within 150-300 ms:
  a displaced beat, a false beat and a missed one).

'other' false beats are sorted into: ``displaced`` (unmatched reference beat within 300 ms), ``noise`` (noise >= 1.5),
``double`` (matched reference beat within 300 ms: a second peak in the same complex), ``far`` (the rest). False beats
near a blocked beat: ``blocked_span`` (inside the span ``bench.rhythms.block21`` replaced by a line and noise),
``blocked_p_wave`` (before it, up to 300 ms before the annotation: the blocked beat's P wave), ``blocked_after``
(after the span, up to 100 ms after the annotation). Prints one JSON object last.
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
from ecgsl_keras.bench.rpeaks import in_episodes, read_mitdb
from ecgsl_keras.data import signal as S

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import t_wave  # noqa: E402
from cluster import BASE, guard_constants, primary_config  # noqa: E402

log = logging.getLogger("experiments.rpeaks.block_fp")
S30 = "s28__c0.9_a0.3_second_n16_s0.8__t0.9_all_z4"


def diagnose(data_dir, rid, name=S30, plot_dir=None):
    signal, fs, ref, episodes, _, symbols = read_mitdb(data_dir, rid, with_symbols=True)
    built = rhythms.build("block21", signal, fs, ref, symbols, episodes, seed=int(rid))
    x = built["signal"]
    cleaned, detect = S.clean(x, fs, BASE.clean_method), S.clean(x, fs, BASE.rpeak_clean_method)
    config, constants = {n: (c, k) for n, c, k in t_wave.points()}[name]
    primary = S.find_rpeaks(x, fs, primary_config(), cleaned=cleaned)
    with guard_constants(constants):
        peaks = S.guard_rpeaks(primary, cleaned, detect, fs, config)
        no_second = S.guard_rpeaks(primary, cleaned, detect, fs, dataclasses.replace(config, rpeak_second_proposer=0.0))
    peaks = peaks[~in_episodes(peaks, built["episodes"])]
    beats = built["beats"]
    m = S.match_peaks(beats, peaks, int(round(0.15 * fs)))
    kinds = t_wave.kinds(built, symbols, ref, peaks, m, fs)
    fp = peaks[np.setdiff1d(np.arange(peaks.size), m["matched"][:, 1])]
    matched_ref = np.zeros(beats.size, bool)
    matched_ref[m["matched"][:, 0]] = True
    true_kept = peaks[m["matched"][:, 1]]
    half = int(round(0.3 * fs))
    typical = float(np.median(S.sign_changes(cleaned, true_kept, half)))
    amp_true = S.qrs_amplitudes(cleaned, true_kept, fs)
    removed = np.sort(built["removed"])
    # the blocked beats' cut spans, as bench.rhythms.block21 cuts them
    cut = rhythms.qrs_cut_s(np.asarray(signal, np.float64), fs, np.asarray(ref, np.int64), symbols)
    following = ref[np.minimum(np.searchsorted(ref, removed, side="right"), ref.size - 1)]
    spans = np.stack([removed - int(round(cut * fs)),
                      np.minimum(removed + int(round(0.45 * fs)), following - int(round(0.28 * fs)))], axis=1)
    rows = []
    for p in fp:
        j = np.searchsorted(removed, p)
        near_removed = [int(removed[k] - p) for k in (j - 1, j) if 0 <= k < removed.size]
        blocked = [d for d in near_removed if -0.1 * fs <= d <= 0.3 * fs]
        k = np.searchsorted(beats, p) - 1
        lag = p - beats[k] if k >= 0 else -1
        i = int(np.argmin(np.abs(beats - p)))
        near = int(p - beats[i])
        t = int(np.searchsorted(true_kept, p))
        nb = np.clip(np.arange(t - 8, t + 8), 0, true_kept.size - 1)
        row = {"at": int(p), "source": "primary" if np.min(np.abs(no_second - p)) <= 0.02 * fs else "second",
               "noise": round(float(S.sign_changes(cleaned, np.array([p]), half)[0]) / max(typical, 1.0), 2),
               "amplitude": round(float(S.qrs_amplitudes(cleaned, np.array([p]), fs)[0] / np.median(amp_true[nb])), 3),
               "near_ms": round(1000 * near / fs), "near_matched": bool(matched_ref[i])}
        inside = np.flatnonzero((spans[:, 0] <= p) & (p <= spans[:, 1]))
        if inside.size:
            row["kind"] = "blocked_span"     # in the cut span: the line and noise put in its place
            row["blocked_ms"] = round(1000 * int(removed[inside[0]] - p) / fs)
        elif blocked:
            d = min(blocked, key=abs)   # annotation of the blocked beat minus the false beat
            row["kind"] = "blocked_p_wave" if d > 0 else "blocked_after"
            row["blocked_ms"] = round(1000 * d / fs)
        elif 0.15 * fs <= lag <= 0.45 * fs:
            row["kind"] = "t_wave"
        elif abs(near) <= 0.3 * fs and not matched_ref[i]:
            row["kind"] = "other_displaced"
        elif row["noise"] >= 1.5:
            row["kind"] = "other_noise"
        elif abs(near) <= 0.3 * fs:
            row["kind"] = "other_double"
        else:
            row["kind"] = "other_far"
        rows.append(row)
    if plot_dir is not None and rows:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        show = rows[:24]
        fig, axes = plt.subplots(len(show), 1, figsize=(10, 1.6 * len(show)))
        for ax, row in zip(np.atleast_1d(axes), show):
            a, b = max(0, row["at"] - int(1.5 * fs)), min(x.size, row["at"] + int(1.5 * fs))
            ax.plot(np.arange(a, b), cleaned[a:b], lw=0.6)
            inside = peaks[(peaks >= a) & (peaks < b)]
            ax.plot(inside, cleaned[inside], "g^", ms=4)
            rb = beats[(beats >= a) & (beats < b)]
            ax.plot(rb, cleaned[rb], "kx", ms=5)
            rr = removed[(removed >= a) & (removed < b)]
            ax.plot(rr, cleaned[rr], "mo", ms=4)
            ax.plot([row["at"]], [cleaned[row["at"]]], "rv", ms=8)
            ax.set_title(f"{rid} {row['kind']} {row['source']} noise {row['noise']} amp {row['amplitude']}", fontsize=7)
            ax.tick_params(labelsize=5)
        fig.tight_layout()
        fig.savefig(Path(plot_dir) / f"{rid}_block21_fp.png", dpi=70)
        plt.close(fig)
    return {"FP": int(fp.size), "FN": int(m["fn"]), "kinds_t_wave_py": kinds, "rows": rows}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--records", nargs="+", default=list(tasks.MITDB_DS1))
    parser.add_argument("--plot-dir")
    args = parser.parse_args(argv)
    per = {}
    for rid in args.records:
        per[rid] = diagnose(args.data_dir, rid, plot_dir=args.plot_dir)
        log.info("%s: %s", rid, collections.Counter(r["kind"] for r in per[rid]["rows"]))
    counts = collections.Counter(r["kind"] for v in per.values() for r in v["rows"])
    by_source = collections.Counter(f"{r['kind']}|{r['source']}" for v in per.values() for r in v["rows"])
    per_record = {rid: dict(collections.Counter(r["kind"] for r in v["rows"])) for rid, v in per.items()}
    result = {"experiment": "rpeaks_loro_s32_fp", "point": S30, "rhythm": "block21", "records": args.records,
              "command": " ".join(["python", "experiments/rpeaks/block_fp.py"] + list(argv if argv is not None else sys.argv[1:])),
              "FP": sum(v["FP"] for v in per.values()), "kinds": dict(sorted(counts.items())),
              "kinds_by_source": dict(sorted(by_source.items())), "kinds_per_record": per_record,
              "rows": {rid: v["rows"] for rid, v in per.items()}}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("FP", "kinds", "kinds_by_source")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
