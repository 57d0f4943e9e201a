"""af35's sanity check outside CinC (issue 18): do ``atrial_spectrum.py``'s columns separate atrial fibrillation /
flutter from sinus rhythm on MIT-BIH DS1's rhythm annotations? Not a tuning step: the columns' settings were fixed
before this ran and nothing is chosen from it.

    python experiments/cinc2017/atrial_spectrum_mitdb.py --mitdb /work/shared/data/mitdb \
        --results experiments/cinc2017/af35_results.json
    python experiments/cinc2017/atrial_spectrum_mitdb.py --cancel median af37 \
        --results experiments/cinc2017/af37_results.json          # af37: both cancellations, same windows

af37 GATE (written before its figures; ``GATE`` below, also in the JSON): af37 goes on to CinC only if, with
``qrst_cancel.cancel_adaptive``, the pooled ``asp_dom_hz`` AUC (AF / AFL vs sinus) is >= 0.70 (af35's median
template: 0.556) or the AF / AFL windows' median ``asp_dom_hz`` lies in 5-8 Hz (af35's: 3.6 Hz). The spectrum code
is unchanged; each cancellation's figures sit under its own key (``median``, ``af37``) with the residual's
QRS-zone / ST-T-zone power (``residual_power``) before (median) and after (af37).

Windows: consecutive, non-overlapping ``--window`` s (20 s) stretches of lead 0 (MLII, 360 Hz, the ``.dat``'s
physical units) lying wholly inside one rhythm episode of the ``.atr`` file's aux notes: ``(AFIB`` and ``(AFL``
are the positive class, ``(N`` the negative; other rhythms (``(T``, ``(VT``, ``(SVTA``, ``(NOD`` ...) are left
out. Each window goes through ``atrial_spectrum.spectrum_columns`` alone (its own R-peaks and template), as a
CinC record would. DS1 holds AF / flutter in 201 (AFIB and N) and 203 (AFIB, AFL; no N episode).

AUC per column (``roc_auc_score`` with AF / AFL as positive; above 0.5: higher in AF; NaN windows left out of
that column): pooled (every AF / AFL window of DS1 against every sinus window of DS1); 201 within the record;
203's AF / AFL windows against the sinus windows of the 21 other records; AFL against AFIB inside 203 (few AFL
windows). Per-class medians of every column, and ``dom_near_hr_harmonic``: how often the dominant frequency sits on
a multiple of the heart rate (a ventricular remnant) against chance. Written to ``--results``' key ``mitdb_check``; last stdout line one
JSON object.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
from experiments.shared_data import MITDB  # noqa: E402

from experiments.cinc2017.atrial_spectrum import BAND, NAMES, _auc, cancel, residual_columns  # noqa: E402
from experiments.cinc2017.qrst_cancel import cancel_adaptive, residual_power  # noqa: E402

log = logging.getLogger("atrial_spectrum_mitdb")

POSITIVE = {"(AFIB": "AFIB", "(AFL": "AFL"}
NEGATIVE = {"(N": "N"}


def rhythm_windows(record, seconds) -> list:
    """(label, start, stop) of the non-overlapping windows of ``seconds`` inside one AF / AFL / N episode."""
    import wfdb

    ann = wfdb.rdann(str(record), "atr")
    header = wfdb.rdheader(str(record))
    n, fs = header.sig_len, header.fs
    marks = [(int(s), note.strip("\x00").strip()) for s, note in zip(ann.sample, ann.aux_note)
             if note.strip("\x00").startswith("(")]
    out, w = [], int(round(seconds * fs))
    for k, (start, note) in enumerate(marks):
        label = POSITIVE.get(note) or NEGATIVE.get(note)
        stop = marks[k + 1][0] if k + 1 < len(marks) else n
        if label is None:
            continue
        for a in range(start, stop - w + 1, w):
            out.append((label, a, a + w))
    return out


# af37's gate (fixed before the af37 figures were seen): go on to CinC only if, with qrst_cancel's cancellation,
# the pooled AUC of asp_dom_hz (AF / AFL vs sinus) reaches GATE_AUC (af35's median cancellation: 0.556) or the
# AF / AFL windows' median asp_dom_hz lies in GATE_DOM_HZ (af35's: 3.6 Hz)
GATE_AUC = 0.70
GATE_DOM_HZ = (5.0, 8.0)
GATE = (f"af37 goes on to CinC only if, with qrst_cancel.cancel_adaptive, the pooled asp_dom_hz AUC (AF/AFL vs "
        f"sinus, DS1 windows as af35's) is >= {GATE_AUC} or the AF/AFL windows' median asp_dom_hz lies in "
        f"{GATE_DOM_HZ[0]}-{GATE_DOM_HZ[1]} Hz; the spectrum code (atrial_spectrum.residual_columns) is unchanged")

HARMONIC_TOL = 0.25         # Hz, two bins of the 0.125 Hz grid


def harmonic_share(dom, hr) -> tuple:
    """(near, chance) per window: 1.0 where ``dom`` (Hz) is within ``HARMONIC_TOL`` of k x ``hr`` (Hz), k >= 2,
    else 0.0 (NaN where either is NaN); and the fraction of a fine 3-12 Hz grid within that distance of them."""
    grid = np.arange(BAND[0], BAND[1] + 1e-9, 0.005)
    near, chance = np.full(dom.size, np.nan), np.full(dom.size, np.nan)
    for i, (d, h) in enumerate(zip(dom, hr)):
        if not (np.isfinite(d) and np.isfinite(h) and h > 0):
            continue
        k = np.arange(2, int(BAND[1] / h) + 2)
        near[i] = float(np.min(np.abs(d - k * h)) <= HARMONIC_TOL)
        chance[i] = float(np.mean(np.min(np.abs(grid[:, None] - (k * h)[None, :]), axis=1) <= HARMONIC_TOL))
    return near, chance


def summarise(X, y, r, hr, power) -> dict:
    """One cancellation's figures over the windows: AUC per column, per-class medians, NaN shares, where the
    dominant peak sits, and the residual's QRS-zone / ST-T-zone power (``qrst_cancel.residual_power``)."""
    af = np.isin(y, ["AFIB", "AFL"])
    sinus = y == "N"
    auc = {}
    for j, name in enumerate(NAMES):
        col = X[:, j]
        auc[name] = {
            "pooled": _auc(col[af], col[sinus]),
            "201_afib_vs_n": _auc(col[af & (r == "201")], col[sinus & (r == "201")]),
            "203_af_afl_vs_other_records_n": _auc(col[af & (r == "203")], col[sinus & (r != "203")]),
            "203_afl_vs_afib": _auc(col[(y == "AFL") & (r == "203")], col[(y == "AFIB") & (r == "203")]),
        }
    groups = {"AFIB": y == "AFIB", "AFL": y == "AFL", "N": sinus}
    near, chance = harmonic_share(X[:, NAMES.index("asp_dom_hz")], hr)
    med = lambda v: round(float(np.nanmedian(v)), 4) if np.isfinite(v).any() else None   # noqa: E731
    return {
        "windows": {k: int(v.sum()) for k, v in groups.items()},
        "windows_per_record": {k: {rec: int(((r == rec) & v).sum()) for rec in ("201", "203")}
                               for k, v in groups.items()},
        "sinus_records": int(len(set(r[sinus]))),
        "auc_af_positive": auc,
        "best_pooled": max(NAMES, key=lambda n: abs(auc[n]["pooled"] - 0.5) if np.isfinite(auc[n]["pooled"]) else -1),
        "median": {n: {k: med(X[v, j]) for k, v in groups.items()} for j, n in enumerate(NAMES)},
        "median_af_afl": {n: med(X[af, j]) for j, n in enumerate(NAMES)},
        "nan_fraction": {n: round(float(np.mean(np.isnan(X[:, j]))), 4) for j, n in enumerate(NAMES)},
        "dom_near_hr_harmonic": {
            "meaning": f"share of windows whose asp_dom_hz lies within {HARMONIC_TOL} Hz of a multiple (2x or more) "
                       "of the window's heart rate (median RR), against the share expected if it fell anywhere in "
                       "3-12 Hz at random (the band's fraction within that distance of those multiples): a much "
                       "higher share says the dominant peak is a ventricular remnant, not atrial",
            "observed": {k: round(float(np.nanmean(near[v])), 4) for k, v in groups.items()},
            "chance": {k: round(float(np.nanmean(chance[v])), 4) for k, v in groups.items()},
            "dom_below_4hz": {k: round(float(np.nanmean(X[v, NAMES.index("asp_dom_hz")] < 4.0)), 4)
                              for k, v in groups.items()},
            "dom_5_to_8hz": {k: round(float(np.nanmean((X[v, NAMES.index("asp_dom_hz")] >= 5.0)
                                                       & (X[v, NAMES.index("asp_dom_hz")] <= 8.0))), 4)
                             for k, v in groups.items()}},
        "residual_power": {
            "meaning": "per window: RMS of the residual (before bridging; each zone's mean removed) in the QRS "
                       "zones (R - 0.05 s .. R + 0.08 s) and in the ST-T zones (R + 0.10 s .. min(R + 0.45 s, "
                       "60% of the next RR)) over the template's QRS RMS; medians per class",
            "qrs_zone": {k: med(power[v, 0]) for k, v in groups.items()},
            "st_zone": {k: med(power[v, 1]) for k, v in groups.items()},
            "qrs_zone_af_records": {f"{k}_{rec}": med(power[v & (r == rec), 0]) for k, v in groups.items()
                                    for rec in ("201", "203") if (v & (r == rec)).any()}},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mitdb", type=Path, default=MITDB)
    p.add_argument("--window", type=float, default=20.0)
    p.add_argument("--results", type=Path, help="results JSON (key --key)")
    p.add_argument("--key", default="mitdb_check", help="the results JSON's key (af37: mitdb_check)")
    p.add_argument("--cancel", nargs="+", choices=("median", "af37"), default=["median"],
                   help="cancellations to measure on the same windows (median: af35's; af37: qrst_cancel's)")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    import wfdb

    cancellers = {"median": cancel, "af37": cancel_adaptive}
    methods = args.cancel
    records = sorted(h.stem for h in args.mitdb.glob("*.hea"))
    rows = {m: [] for m in methods}
    hr = {m: [] for m in methods}
    power = {m: [] for m in methods}
    ms = {m: [] for m in methods}     # cancellation time per window (cleaning and R-peaks included)
    labels, recs = [], []
    t0 = time.perf_counter()
    for rec in records:
        windows = rhythm_windows(args.mitdb / rec, args.window)
        if not windows:
            continue
        sig = wfdb.rdrecord(str(args.mitdb / rec), channels=[0])
        x, fs = sig.p_signal[:, 0], float(sig.fs)
        for label, a, b in windows:
            for m in methods:
                t1 = time.perf_counter()
                got = cancellers[m](x[a:b], fs)   # spectrum_columns' two steps, keeping R-peaks for the heart rate
                ms[m].append(1e3 * (time.perf_counter() - t1))
                rows[m].append(np.full(len(NAMES), np.nan) if got is None
                               else residual_columns(got[0], fs, got[1], got[2]))
                hr[m].append(np.nan if got is None else fs / float(np.median(np.diff(got[1]))))
                power[m].append((np.nan, np.nan) if got is None else residual_power(got[0], got[1], fs, got[2]))
            labels.append(label)
            recs.append(rec)
        log.info("%s: %d windows (%.0f s)", rec, len(windows), time.perf_counter() - t0)
    y, r = np.array(labels), np.array(recs)
    result = {"window_s": args.window, "lead": "lead 0 (MLII)", "gate": GATE}
    for m in methods:
        result[m] = summarise(np.array(rows[m]), y, r, np.asarray(hr[m]), np.array(power[m]))
    if len(methods) == 2:   # paired over the same windows: how often the second leaves less in each zone
        a, b = np.array(power[methods[0]]), np.array(power[methods[1]])
        ok = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
        result["paired_residual_power"] = {
            "meaning": f"share of windows (both defined) where {methods[1]} leaves less residual than "
                       f"{methods[0]} in the QRS zone / ST-T zone, and the median ratio {methods[1]} / {methods[0]}",
            "windows": int(ok.sum()),
            "lower_share": {z: round(float(np.mean(b[ok, j] < a[ok, j])), 4)
                            for j, z in enumerate(("qrs_zone", "st_zone"))},
            "median_ratio": {z: round(float(np.median(b[ok, j] / a[ok, j])), 4)
                             for j, z in enumerate(("qrs_zone", "st_zone"))}}
    if "af37" in methods:
        dom = result["af37"]["median"]["asp_dom_hz"]
        af_dom = result["af37"]["median_af_afl"]["asp_dom_hz"]
        auc = result["af37"]["auc_af_positive"]["asp_dom_hz"]["pooled"]
        result["gate_passed"] = bool((np.isfinite(auc) and auc >= GATE_AUC)
                                     or (af_dom is not None and GATE_DOM_HZ[0] <= af_dom <= GATE_DOM_HZ[1]))
        result["gate_figures"] = {"af37_pooled_dom_auc": auc, "af37_af_afl_median_dom_hz": af_dom,
                                  "af37_median_dom_hz": dom}
    result["ms_per_window"] = {
        "meaning": "milliseconds per 20 s window of the cancellation alone (cleaning, R-peaks, template and "
                   "subtraction; not the spectrum), on the shared 2-core CPU: median / p95",
        **{m: {"median": round(float(np.median(v)), 1), "p95": round(float(np.percentile(v, 95)), 1)}
           for m, v in ms.items()}}
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["note"] = "sanity check, not a tuning step: AUC with AF/AFL positive (above 0.5 = higher in AF)"
    if args.results:
        saved = json.loads(args.results.read_text()) if args.results.is_file() else {}
        saved[args.key] = result
        args.results.write_text(json.dumps(saved, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
