"""Run s34 (issue 21) diagnosis: block21's false beats and missed beats, and bigeminy's misses beyond normal's, at run
s33's most chosen point (``most_chosen`` of benchmarks/results/rpeaks_loro_s33.json), one by one, on MIT-BIH DS1.

    python experiments/rpeaks/blocked_p_diag.py --data-dir /work/shared/data/mitdb --out benchmarks/results/rpeaks_s34_diagnosis.json

Signals: ``bench.rhythms.build`` (seed = record number), counted as ``bench rpeaks`` (150 ms, VF episodes excluded).

Each block21 false beat gets:

- ``kind``: ``blocked_p_wave`` (within 60 ms of where the blocked beat's P wave is expected: the removed annotation
  minus the record's R-to-P lag ``p_lag_ms``, the apex of the median wave 80-300 ms before the confident kept
  peaks, as ``signal.p_wave_like`` finds it), ``cut_span`` (inside the span ``bench.rhythms.block21`` replaced
  by a line and the record's noise, from the QRS cut to the T end or 280 ms before the next beat), ``before_cut``
  (other, up to 300 ms before a removed annotation), ``t_wave`` (0.15-0.45 s after a reference beat), ``other``;
- ``to_removed_ms`` (false beat minus the nearest removed annotation), ``to_expected_p_ms``, ``frac`` (where it
  sits between the kept peaks before and after it: 0 at the one before, 1 at the one after);
- against the kept peaks around it (16, the guard's neighbours): ``amplitude`` (QRS amplitude over their 75th
  percentile, the guard's reference), ``sharpness`` and ``width`` (``qrs_shapes``, over their medians);
- against the record's P template (median of the P windows, +-80 ms, of the confident kept peaks): ``p_corr``
  (best correlation within +-20 ms), ``p_size`` (peak-to-peak over the template's), ``own_p`` (correlation a PR
  interval before it, as ``p_wave_like``'s own-P test), ``p_distance`` (``p_wave_like``'s distance over the
  template norm, best shift);
- ``source``: ``primary`` when neurokit2 proposed it (a primary peak within 20 ms), else ``second``.

Per record: the P template's figures (``p_lag_ms``, size over the median QRS amplitude, consistency: whether
``p_wave_like`` is active there) and the same features at the matched kept beats (quantiles), to see what
separates the false beats from true ones. Block21's missed beats: annotation symbol, whether a primary peak lay
within 150 ms, and the same amplitude/shape figures at the annotation. Bigeminy: the missed beats that
``normal`` does not miss (matched there), with the symbol, whether the beat was scaled, and the same figures.
Prints one JSON object last.
"""
from __future__ import annotations

import argparse
import collections
import json
import logging
import sys
from pathlib import Path

import numpy as np

from ecgsl_keras import tasks
from ecgsl_keras.bench import rhythms
from ecgsl_keras.bench.rpeaks import in_episodes, read_mitdb
from ecgsl_keras.data import rpeak_guard as G
from ecgsl_keras.data import signal as S

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import pvc_run  # noqa: E402
from cluster import BASE, guard_constants, primary_config  # noqa: E402

log = logging.getLogger("experiments.rpeaks.blocked_p_diag")
S33_RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "rpeaks_loro_s33.json"


def s33_point():
    name = json.loads(S33_RESULTS.read_text())["most_chosen"]
    config, constants = {n: (c, k) for n, c, k in pvc_run.points()}[name]
    return name, config, constants


def p_template(x, peaks, fs, constants):
    """The record's P template as ``signal.p_wave_like`` builds it from ``peaks``: (lag samples, template, size over
    the median confident QRS amplitude, consistency) or None where it finds no P wave."""
    amplitude = S.qrs_amplitudes(x, peaks, fs)
    confident = peaks[amplitude >= constants.p_wave_confident * np.percentile(amplitude, constants.percentile)]
    if confident.size < 2 * constants.neighbours:
        return None
    confident = confident[np.linspace(0, confident.size - 1, min(confident.size, constants.p_wave_template_beats)).astype(int)]
    lo, hi = (int(round(v * fs)) for v in constants.p_wave_lag_s)
    before = np.median(x[np.clip(confident[:, None] + np.arange(-hi, -lo + 1)[None, :], 0, x.size - 1)], axis=0)
    lag = hi - int(np.argmax(np.abs(before - np.median(before))))
    half = max(1, int(round(constants.p_wave_half_width_s * fs)))
    waves = x[np.clip((confident - lag)[:, None] + np.arange(-half, half + 1)[None, :], 0, x.size - 1)]
    waves = waves - waves.mean(axis=1, keepdims=True)
    template = np.median(waves, axis=0)
    template = template - template.mean()
    norm = float(np.linalg.norm(template))
    consistency = float(np.median((waves @ template) / np.maximum(np.linalg.norm(waves, axis=1), 1e-12) / max(norm, 1e-12)))
    size = float(np.ptp(template) / np.median(S.qrs_amplitudes(x, confident, fs)))
    active = bool(lo < lag < hi and size >= constants.p_wave_min_size and consistency >= constants.p_wave_consistency)
    return {"lag": lag, "template": template, "size": size, "consistency": consistency, "active": active}


def p_features(x, at, fs, tpl, constants):
    """(p_corr, p_size, own_p, p_distance) of each of ``at`` against the template (see the module docstring)."""
    half = max(1, int(round(constants.p_wave_half_width_s * fs)))
    shift = int(round(constants.p_wave_shift_s * fs))
    size = 2 * half + 1
    template, norm = tpl["template"], float(np.linalg.norm(tpl["template"]))

    def windows(centres):
        w = x[np.clip(centres[:, None] + np.arange(-half - shift, half + shift + 1)[None, :], 0, x.size - 1)]
        w = np.lib.stride_tricks.sliding_window_view(w, size, axis=1)
        return w - w.mean(axis=2, keepdims=True)

    w = windows(at)
    corr = ((w @ template) / np.maximum(np.linalg.norm(w, axis=2), 1e-12) / max(norm, 1e-12))
    best = corr.argmax(axis=1)
    p_corr = corr.max(axis=1)
    p_size = np.ptp(w[np.arange(at.size), best], axis=1) / max(np.ptp(template), 1e-12)
    distance = np.linalg.norm(w - template, axis=2).min(axis=1) / max(norm, 1e-12)
    o = windows(at - tpl["lag"])
    own = ((o @ template) / np.maximum(np.linalg.norm(o, axis=2), 1e-12) / max(norm, 1e-12)).max(axis=1)
    return p_corr, p_size, own, distance


def shape_features(x, peaks, at, fs, constants):
    """(amplitude over the guard's reference, sharpness and width over the kept neighbours' medians) of ``at``."""
    amp, sharp, width = S.qrs_shapes(x, peaks, fs, constants)
    a, s, w = S.qrs_shapes(x, at, fs, constants)
    n = 2 * constants.neighbours
    ref_a = G._neighbour_percentile(peaks, amp, at, n, constants.percentile)
    ref_s = G._neighbour_percentile(peaks, sharp, at, n, 50.0)
    ref_w = G._neighbour_percentile(peaks, width, at, n, 50.0)
    return a / ref_a, s / ref_s, w / ref_w


def _q(v):
    v = np.asarray(v, float)
    if v.size == 0:
        return None
    return {str(q): round(float(np.percentile(v, q)), 3) for q in (1, 5, 25, 50, 75, 95, 99)}


def run_signal(data_dir, rid, rhythm, config, constants, signal_cache={}):
    if rid not in signal_cache:
        signal_cache.clear()
        signal_cache[rid] = read_mitdb(data_dir, rid, with_symbols=True)
    signal, fs, ref, episodes, _, symbols = signal_cache[rid]
    built = rhythms.build(rhythm, signal, fs, ref, symbols, episodes, seed=int(rid))
    x = built["signal"]
    cleaned, detect = S.clean(x, fs, BASE.clean_method), S.clean(x, fs, BASE.rpeak_clean_method)
    primary = S.find_rpeaks(x, fs, primary_config(), cleaned=cleaned)
    with guard_constants(constants):
        peaks = S.guard_rpeaks(primary, cleaned, detect, fs, config)
    peaks = peaks[~in_episodes(peaks, built["episodes"])]
    m = S.match_peaks(built["beats"], peaks, int(round(0.15 * fs)))
    return dict(built=built, x=cleaned, fs=fs, ref=ref, symbols=symbols, signal=signal, primary=primary, peaks=peaks, m=m)


def diagnose(data_dir, rid, config, constants) -> dict:
    out = {}
    b = run_signal(data_dir, rid, "block21", config, constants)
    x, fs, peaks, m, built, ref = b["x"], b["fs"], b["peaks"], b["m"], b["built"], b["ref"]
    beats = built["beats"]
    tpl = p_template(x, peaks, fs, constants)
    fp_idx = np.setdiff1d(np.arange(peaks.size), m["matched"][:, 1])
    fp = peaks[fp_idx]
    true_kept = peaks[m["matched"][:, 1]]
    removed = np.sort(built["removed"])
    cut = built["qrs_before_s"]
    following = ref[np.minimum(np.searchsorted(ref, removed, side="right"), ref.size - 1)]
    spans = np.stack([removed - int(round(cut * fs)),
                      np.minimum(removed + int(round(0.45 * fs)), following - int(round(0.28 * fs)))], axis=1)
    record = {"qrs_cut_ms": round(1000 * cut), "removed": int(removed.size), "FP": int(fp.size), "FN": int(m["fn"])}
    if tpl is not None:
        record.update(p_lag_ms=round(1000 * tpl["lag"] / fs), p_size=round(tpl["size"], 3),
                      p_consistency=round(tpl["consistency"], 3), p_wave_like_active=tpl["active"])
    amp_r, sharp_r, width_r = shape_features(x, peaks, fp, fs, constants) if fp.size else ([], [], [])
    t_amp, t_sharp, t_width = shape_features(x, peaks, true_kept, fs, constants)
    if tpl is not None:
        pf = p_features(x, fp, fs, tpl, constants) if fp.size else ([],) * 4
        tpf = p_features(x, true_kept, fs, tpl, constants)
    rows = []
    for i, p in enumerate(fp):
        j = np.searchsorted(removed, p)
        near = [int(p - removed[k]) for k in (j - 1, j) if 0 <= k < removed.size]
        d = min(near, key=abs) if near else 10 ** 9
        k = np.searchsorted(peaks, p)
        prev_, next_ = peaks[k - 1] if k > 0 else None, peaks[k + 1] if k + 1 < peaks.size else None
        row = {"at": int(p), "to_removed_ms": round(1000 * d / fs),
               "frac": None if prev_ is None or next_ is None else round(float((p - prev_) / (next_ - prev_)), 3),
               "source": "primary" if np.min(np.abs(b["primary"] - p)) <= 0.02 * fs else "second",
               "amplitude": round(float(amp_r[i]), 3), "sharpness": round(float(sharp_r[i]), 3),
               "width": round(float(width_r[i]), 3)}
        if tpl is not None:
            row["to_expected_p_ms"] = round(1000 * (d + tpl["lag"]) / fs) if near else None
            row.update(p_corr=round(float(pf[0][i]), 3), p_size=round(float(pf[1][i]), 3),
                       own_p=round(float(pf[2][i]), 3), p_distance=round(float(pf[3][i]), 3))
        inside = np.flatnonzero((spans[:, 0] <= p) & (p <= spans[:, 1]))
        kb = np.searchsorted(beats, p) - 1
        lag = p - beats[kb] if kb >= 0 else -1
        if tpl is not None and near and abs(d + tpl["lag"]) <= 0.06 * fs:
            row["kind"] = "blocked_p_wave"
        elif inside.size:
            row["kind"] = "cut_span"
        elif near and -0.3 * fs <= d < 0:
            row["kind"] = "before_cut"
        elif 0.15 * fs <= lag <= 0.45 * fs:
            row["kind"] = "t_wave"
        else:
            row["kind"] = "other"
        rows.append(row)
    true_feats = {"amplitude": _q(t_amp), "sharpness": _q(t_sharp), "width": _q(t_width)}
    small = t_amp < 0.6
    true_feats["small_count"] = int(small.sum())
    if tpl is not None:
        true_feats.update(p_corr=_q(tpf[0]), p_size=_q(tpf[1]), own_p=_q(tpf[2]), p_distance=_q(tpf[3]))
        true_feats["small"] = {"p_corr": _q(tpf[0][small]), "own_p": _q(tpf[2][small]),
                               "sharpness": _q(t_sharp[small]), "width": _q(t_width[small])}
    # block21's missed beats
    fn_idx = np.setdiff1d(np.arange(beats.size), m["matched"][:, 0])
    sym_of = dict(zip(ref.tolist(), b["symbols"]))
    fn_rows = []
    if fn_idx.size:
        a, s, w = shape_features(x, peaks, beats[fn_idx], fs, constants)
        for n_, i in enumerate(fn_idx):
            fn_rows.append({"at": int(beats[i]), "symbol": sym_of.get(int(beats[i]), "?"),
                            "primary_within_150ms": bool(np.min(np.abs(b["primary"] - beats[i])) <= 0.15 * fs),
                            "amplitude": round(float(a[n_]), 3), "sharpness": round(float(s[n_]), 3),
                            "width": round(float(w[n_]), 3)})
    out["block21"] = {"record": record, "fp": rows, "fn": fn_rows, "true_beats": true_feats}
    # bigeminy's misses beyond normal's
    nrm = run_signal(data_dir, rid, "normal", config, constants)
    big = run_signal(data_dir, rid, "bigeminy", config, constants)
    missed_normal = set(np.setdiff1d(np.arange(nrm["built"]["beats"].size), nrm["m"]["matched"][:, 0]).tolist())
    bb = big["built"]["beats"]
    missed_big = np.setdiff1d(np.arange(bb.size), big["m"]["matched"][:, 0])
    extra = np.array([i for i in missed_big if i not in missed_normal], np.int64)
    scaled = set(big["built"]["scaled"].tolist())
    extra_rows = []
    if extra.size:
        a, s, w = shape_features(big["x"], big["peaks"], bb[extra], fs, constants)
        for n_, i in enumerate(extra):
            at = int(bb[i])
            sym = sym_of.get(at, "?")
            nbr = [sym_of.get(int(bb[k]), "?") for k in (i - 1, i + 1) if 0 <= k < bb.size]
            extra_rows.append({"at": at, "symbol": sym, "scaled": at in scaled, "next_to_v": "V" in nbr,
                               "primary_within_150ms": bool(np.min(np.abs(big["primary"] - at)) <= 0.15 * fs),
                               "amplitude": round(float(a[n_]), 3), "sharpness": round(float(s[n_]), 3),
                               "width": round(float(w[n_]), 3)})
    fp_big = np.setdiff1d(np.arange(big["peaks"].size), big["m"]["matched"][:, 1]).size
    out["bigeminy"] = {"FN": int(big["m"]["fn"]), "FP": int(fp_big), "FN_normal": int(nrm["m"]["fn"]),
                       "FP_normal": int(nrm["m"]["fp"]), "extra_fn": extra_rows,
                       "normal_fn_matched_in_bigeminy": int(len(missed_normal - set(missed_big.tolist())))}
    return out


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--records", nargs="+", default=list(tasks.MITDB_DS1))
    args = parser.parse_args(argv)
    name, config, constants = s33_point()
    per = {}
    for rid in args.records:
        per[rid] = diagnose(args.data_dir, rid, config, constants)
        log.info("%s: block21 %s, bigeminy extra FN %d", rid,
                 dict(collections.Counter(r["kind"] for r in per[rid]["block21"]["fp"])),
                 len(per[rid]["bigeminy"]["extra_fn"]))
    fps = [r for v in per.values() for r in v["block21"]["fp"]]
    kinds = collections.Counter(r["kind"] for r in fps)
    by_source = collections.Counter(f"{r['kind']}|{r['source']}" for r in fps)
    fns = [r for v in per.values() for r in v["block21"]["fn"]]
    extra = [r for v in per.values() for r in v["bigeminy"]["extra_fn"]]

    def summary(rows, keys):
        return {k: _q([r[k] for r in rows if r.get(k) is not None]) for k in keys}

    feats = ("amplitude", "sharpness", "width", "p_corr", "p_size", "own_p", "p_distance", "frac", "to_expected_p_ms")
    result = {"experiment": "rpeaks_s34_diagnosis", "point": name, "records": args.records,
              "command": " ".join(["python", "experiments/rpeaks/blocked_p_diag.py"] + list(argv if argv is not None else sys.argv[1:])),
              "block21": {"FP": len(fps), "FN": len(fns), "fp_kinds": dict(sorted(kinds.items())),
                          "fp_kinds_by_source": dict(sorted(by_source.items())),
                          "fp_kinds_per_record": {rid: dict(collections.Counter(r["kind"] for r in v["block21"]["fp"]))
                                                  for rid, v in per.items()},
                          "fp_features_by_kind": {k: summary([r for r in fps if r["kind"] == k], feats) for k in kinds},
                          "fn_symbols": dict(collections.Counter(r["symbol"] for r in fns)),
                          "fn_proposed_by_primary": sum(r["primary_within_150ms"] for r in fns)},
              "bigeminy": {"FN": sum(v["bigeminy"]["FN"] for v in per.values()),
                           "FN_normal": sum(v["bigeminy"]["FN_normal"] for v in per.values()),
                           "extra_fn": len(extra),
                           "extra_fn_per_record": {rid: len(v["bigeminy"]["extra_fn"]) for rid, v in per.items()},
                           "extra_fn_symbols": dict(collections.Counter(
                               f"{r['symbol']}{'_scaled' if r['scaled'] else ''}{'_next_to_v' if r['next_to_v'] else ''}"
                               for r in extra)),
                           "extra_fn_proposed_by_primary": sum(r["primary_within_150ms"] for r in extra),
                           "extra_fn_features": summary(extra, ("amplitude", "sharpness", "width"))},
              "per_record": per}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("block21", "bigeminy")}, default=str)[:4000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
