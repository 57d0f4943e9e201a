"""R-peak detection against the MIT-BIH reference beat annotations.

    python -m ecgsl_keras.bench rpeaks --data-dir /work/shared/data/mitdb [--records 101 106 ...]
        [--method neurokit] [--rpeak-clean-method pantompkins1985] [--refine-s 0.08]
        [--clean-method neurokit] [--correct-artifacts] [--tolerance-ms 150] [--config JSON] [--rpeak-point NAME]
        [--rhythms normal block21 pause bigeminy] [--block21-qrs-before S] [--block21-t-end S]
        [--block21-join-edge S] [--no-block21-own-onset] [--seed 0] [--legacy | --compare-legacy]
        [--mindelay-s S] [--guard-amplitude A] [--searchback R] [--searchback-amplitude A]

Each record's lead (MLII by default, whole record) gets its R-peaks found exactly as
``ecgsl_keras.data.signal.preprocess`` finds them (``rpeaks.find_rpeaks`` with the config's settings:
detector, its cleaning, the move to the R apex; the command line overrides single settings).
Detections are matched one-to-one to the reference beats (annotations with an AAMI class;
rhythm, noise, flutter-wave and comment annotations are not beats) within the tolerance: all
pairs closer than the tolerance, closest first, each reference and each detection used once
(``match_peaks``). Reported: gross sensitivity TP/(TP+FN) and positive predictivity
TP/(TP+FP) over all records, the same per record, the mean |detected - reference| of matched
pairs, and records/s of detection (cleaning included, reading excluded), single process.

``--rhythms`` also scores signals built from each record (``ecgsl_keras.bench.rhythms``): 2:1 AV
block (``block21``: every other regular beat loses its QRS-T from its QRS onset, its P wave stays;
``--block21-qrs-before 0.07`` builds it as before run s29; its cut ends after the record's T wave,
``--block21-t-end 0.45`` ends it as before run s46; the span cross-fades with the signal at its ends,
``--block21-join-edge 0`` joins it as before run s47; each blocked beat's cut starts before its own QRS onset too,
``--no-block21-own-onset`` cuts as before run s58b, from the record's onset, which left the R upstroke of MIT-BIH
109's late-annotated beats) and sinus pauses
(``pause``: 2-4 s of the record's baseline noise inserted after every 8-16th regular beat; since run s60 both
rhythms' noise leaves out the TP segments holding an annotated artifact, ``read_artifacts``) and
bigeminy (``bigeminy``: every other regular normal beat, and the normal beats next to ventricular ones,
scaled to 0.4 of their amplitude), with the reference moved accordingly; ``rhythms`` gives Se, +P and the +P lost against ``normal`` per
signal set, ``per_record`` has ``NNN/block21`` and ``NNN/pause`` rows (``FP_in_pauses``).
``--legacy`` runs the detector as it was before ``rpeak_guard.guard_rpeaks``; ``--compare-legacy``
runs both on the same signals and reports the legacy one under ``legacy``.

``--rpeak-point NAME`` runs a named detector point (``ecgsl_keras.data.rpeak_points``; docs/data.md, "Which detector
point"): its fields replace those of ``--config`` (or of the defaults), the single-setting options replace both, and a
point measured at its own rate (``mitdb-d1-100hz``: 100 Hz) is run whole at that rate (``find_rpeaks_at_rate``;
``--detect-at-target-rate`` is refused with it). ``rpeak_point_differs`` lists the fields in which the detector run
differs from the point as measured (empty: the point itself), also warned on stderr.

As in ANSI/AAMI EC57, detections inside ventricular flutter / fibrillation episodes (``[`` to
``]`` annotations: record 207 in DS1, where the flutter waves have no beat annotation) are left
out of the counts; ``--include-vf`` counts them as false positives. ``detections_in_vf`` says
how many there were either way.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path

import numpy as np

from ecgsl_keras import tasks
from ecgsl_keras.bench import format_table as base
from ecgsl_keras.bench import load_signal_config, rhythms
from ecgsl_keras.config import signal_mismatch
from ecgsl_keras.data import rpeak_points
from ecgsl_keras.data import rpeaks as rpeaks_lib
from ecgsl_keras.data.rpeaks import match_peaks
from ecgsl_keras.errors import ConfigError, RecordError

log = logging.getLogger("ecgsl_keras.bench.rpeaks")

# The detector as it was before the guard (rpeak_guard.guard_rpeaks): ``--legacy``, ``--compare-legacy``.
LEGACY = {"rpeak_mindelay_s": 0.3, "rpeak_guard_amplitude": 0.0, "rpeak_searchback": 0.0}


def add_arguments(parser) -> None:
    parser.add_argument("--data-dir", required=True, help="folder of MIT-BIH records (NNN.hea/.dat/.atr)")
    parser.add_argument("--records", nargs="+", default=None,
                        help="record ids (default: the 22 DS1 records, or all records in --data-dir if it has none of them)")
    parser.add_argument("--lead", default="MLII", help="lead to run the detector on (default MLII)")
    parser.add_argument("--config", help="SignalConfig or ExperimentConfig JSON (default: built-in defaults)")
    parser.add_argument("--rpeak-point", metavar="NAME",
                        help="a named detector point of ecgsl_keras.data.rpeak_points (default, mitdb-d1, "
                             "mitdb-d1-100hz): its fields replace --config's, the single-setting options below replace "
                             "both; a point measured at its own rate (mitdb-d1-100hz) is detected at that rate")
    parser.add_argument("--method", help="neurokit2 ecg_peaks method (default: config rpeak_method)")
    parser.add_argument("--clean-method", help="neurokit2 ecg_clean method (default: config clean_method)")
    parser.add_argument("--rpeak-clean-method",
                        help="ecg_clean method of the copy the detector runs on ('' = --clean-method; default: config)")
    parser.add_argument("--refine-s", type=float,
                        help="radius (s) of the move to the R apex after detection, 0 = off (default: config)")
    parser.add_argument("--correct-artifacts", action=argparse.BooleanOptionalAction, default=None,
                        help="neurokit2 correct_artifacts on/off (--no-correct-artifacts; default: config)")
    parser.add_argument("--detect-at-target-rate", action="store_true",
                        help="detect on the signal resampled to target_fs instead of the native rate")
    parser.add_argument("--include-vf", action="store_true",
                        help="count detections inside ventricular flutter/fibrillation episodes as false "
                             "positives (default: excluded, as ANSI/AAMI EC57 does)")
    parser.add_argument("--tolerance-ms", type=float, default=150.0, help="matching tolerance (default 150 ms)")
    parser.add_argument("--mindelay-s", type=float, help="'neurokit' detector's minimum peak delay (default: config)")
    parser.add_argument("--guard-amplitude", type=float,
                        help="guard: drop peaks under this x the neighbours' QRS amplitude, 0 = off (default: config)")
    parser.add_argument("--searchback", type=float,
                        help="guard: search back in RR gaps over this x the local RR, 0 = off (default: config)")
    parser.add_argument("--searchback-amplitude", type=float,
                        help="guard: QRS amplitude a searched-back peak needs, x the neighbours' (default: config)")
    parser.add_argument("--legacy", action="store_true",
                        help="the detector before the guard (mindelay 0.3 s, no amplitude check, no search-back)")
    parser.add_argument("--compare-legacy", action="store_true",
                        help="also run the legacy detector on the same signals and report it under 'legacy'")
    parser.add_argument("--rhythms", nargs="+", default=["normal"], choices=rhythms.RHYTHMS,
                        help="signals to score: 'normal' (the records), 'block21' (2:1 AV block), 'pause' "
                             "(sinus pauses) and 'bigeminy' (alternating beat amplitudes) built from each record by ecgsl_keras.bench.rhythms (default: normal)")
    parser.add_argument("--block21-qrs-before", type=float, default=None,
                        help="block21: cut each blocked beat from this many seconds before its annotation (default: "
                             "from the record's QRS onset + 20 ms, at least 70 ms, bench.rhythms.qrs_cut_s; 0.07 = the "
                             "builder before run s29, which left the R upstroke of MIT-BIH 108's blocked beats)")
    parser.add_argument("--block21-t-end", type=float, default=None,
                        help="block21: end each blocked beat's cut this many seconds after its annotation (default: "
                             "from the record's T-wave end + 20 ms, 0.45-0.65 s, bench.rhythms.t_end_cut_s; 0.45 = the "
                             "builder before run s46, which left the T wave's tail of MIT-BIH 108 and 207's blocked beats)")
    parser.add_argument("--block21-join-edge", type=float, default=None,
                        help="block21: cross-fade the cut's span with the signal over this many seconds at each end "
                             "(default: bench.rhythms.JOIN_EDGE_S, 0.02; 0 = the builder before run s47, whose span "
                             "ended in a ramp of the noise's level the detector's band sees)")
    parser.add_argument("--block21-own-onset", action=argparse.BooleanOptionalAction, default=True,
                        help="block21: start each blocked beat's cut before its own QRS onset too (bench.rhythms."
                             "beat_cuts_s; default on; --no-block21-own-onset = the builder before run s58b, whose cut "
                             "started on the R apex of MIT-BIH 109's beats annotated ~60 ms after it)")
    parser.add_argument("--seed", type=int, default=0,
                        help="rhythm construction seed, added to the record number (default 0)")


# ----------------------------------------------------------------------------------------------
# matching


def _ratio(num, den):
    return float(num) / den if den else float("nan")


# ----------------------------------------------------------------------------------------------
# reading


def _default_records(data_dir: Path):
    present = [r for r in tasks.MITDB_DS1 if (data_dir / f"{r}.hea").exists()]
    if present:
        return present
    return sorted(p.stem for p in data_dir.glob("*.hea") if (data_dir / f"{p.stem}.atr").exists())


def read_mitdb(data_dir, record_id: str, lead: str = "MLII", with_symbols: bool = False):
    """``(signal mV float64, fs, reference beat samples int64, VF episodes (k, 2) int64, path)``,
    and the reference beats' annotation symbols (list of str) last when ``with_symbols``.

    Read with wfdb directly: the benchmark needs every annotation, not only the beats a data
    set reader keeps. Reference beats are the annotations whose symbol has an AAMI class
    (``tasks.aami_class``); VF episodes are the ``[`` ... ``]`` (ventricular flutter or
    fibrillation onset / end) spans, each ``[start, end]`` in samples.
    """
    import wfdb

    data_dir = Path(data_dir)
    path = data_dir / record_id
    for suffix in (".hea", ".atr"):
        if not (data_dir / f"{record_id}{suffix}").exists():
            raise RecordError(path, "missing_record", f"record file {record_id}{suffix} not found")
    try:
        record = wfdb.rdrecord(str(path))
        annotation = wfdb.rdann(str(path), "atr")
    except (OSError, ValueError) as exc:
        raise RecordError(path, "bad_record", f"cannot read with wfdb: {exc}") from None
    if lead not in record.sig_name:
        raise RecordError(path, "missing_lead", f"lead {lead!r} not in record (leads: {record.sig_name})")
    signal = record.p_signal[:, record.sig_name.index(lead)].astype(np.float64)
    samples = np.asarray(annotation.sample, np.int64)
    is_beat = np.array([tasks.aami_class(s) is not None for s in annotation.symbol], bool)
    episodes, onset = [], None
    for sample, symbol in zip(samples, annotation.symbol):
        if symbol == "[":
            onset = int(sample)
        elif symbol == "]" and onset is not None:
            episodes.append((onset, int(sample)))
            onset = None
    if onset is not None:  # an episode running to the end of the record
        episodes.append((onset, signal.shape[0] - 1))
    result = (signal, float(record.fs), samples[is_beat], np.asarray(episodes, np.int64).reshape(-1, 2), str(path))
    if with_symbols:
        result += ([s for s, beat in zip(annotation.symbol, is_beat) if beat],)
    return result


def read_artifacts(data_dir, record_id: str) -> np.ndarray:
    """The samples (int64, sorted) of record ``record_id``'s annotated artifacts (``rhythms.ARTIFACT_SYMBOLS``), which
    the built rhythms' noise leaves out (``rhythms.build``'s ``artifacts``); read with wfdb as ``read_mitdb``."""
    import wfdb

    path = Path(data_dir) / record_id
    if not (Path(data_dir) / f"{record_id}.atr").exists():
        raise RecordError(path, "missing_record", f"record file {record_id}.atr not found")
    try:
        annotation = wfdb.rdann(str(path), "atr")
    except (OSError, ValueError) as exc:
        raise RecordError(path, "bad_record", f"cannot read with wfdb: {exc}") from None
    samples = [int(a) for a, s in zip(annotation.sample, annotation.symbol) if s in rhythms.ARTIFACT_SYMBOLS]
    return np.sort(np.asarray(samples, np.int64))


def in_episodes(samples, episodes) -> np.ndarray:
    """Boolean mask of ``samples`` lying inside any ``[start, end]`` row of ``episodes``."""
    samples = np.asarray(samples, np.int64)
    inside = np.zeros(samples.shape, bool)
    for start, end in np.asarray(episodes, np.int64).reshape(-1, 2):
        inside |= (samples >= start) & (samples <= end)
    return inside


# ----------------------------------------------------------------------------------------------
# the benchmark


def _point(args):
    """The ``--rpeak-point`` asked for (``rpeak_points.RpeakPoint``), or None."""
    name = getattr(args, "rpeak_point", None)
    if name is None:
        return None
    point = rpeak_points.get(name)
    if point.detect_rate_hz is not None and getattr(args, "detect_at_target_rate", False):
        raise ConfigError("<command line>", "bad_config",
                          f"--rpeak-point {name} runs the whole detector at {point.detect_rate_hz:g} Hz, as it was "
                          "measured; --detect-at-target-rate (detection alone at the target rate) does not go with it")
    return point


def _config(args, point=None):
    """The detector's config: ``--config`` (or the defaults), ``point``'s fields over it, the single-setting options
    over both."""
    config = load_signal_config(getattr(args, "config", None))
    if point is not None:
        config = point.config(config)
    overrides = dict(LEGACY) if getattr(args, "legacy", False) else {}
    for name, field in (("method", "rpeak_method"), ("clean_method", "clean_method")):
        if getattr(args, name, None):
            overrides[field] = getattr(args, name)
    for name, field in (("rpeak_clean_method", "rpeak_clean_method"), ("refine_s", "rpeak_refine_s"),
                        ("mindelay_s", "rpeak_mindelay_s"), ("guard_amplitude", "rpeak_guard_amplitude"),
                        ("searchback", "rpeak_searchback"), ("searchback_amplitude", "rpeak_searchback_amplitude")):
        if getattr(args, name, None) is not None:
            overrides[field] = getattr(args, name)
    if getattr(args, "correct_artifacts", None) is not None:
        overrides["rpeak_correct_artifacts"] = bool(args.correct_artifacts)
    if getattr(args, "detect_at_target_rate", False):
        overrides["detect_at_native_rate"] = False
    return dataclasses.replace(config, **overrides)


def _seed(record_id: str, seed: int) -> int:
    digits = "".join(ch for ch in str(record_id) if ch.isdigit())
    return int(seed) + (int(digits) if digits else 0)


def _join_edge(args) -> float:
    """block21's cross-fade at the cut's ends: ``--block21-join-edge`` or the builder's default."""
    edge = getattr(args, "block21_join_edge", None)
    return rhythms.JOIN_EDGE_S if edge is None else float(edge)


def _detect(signal, fs, config, rate=None):
    """``find_rpeaks`` at the record's rate, or run whole at ``rate`` (``find_rpeaks_at_rate``: ``--rpeak-point`` of a
    point measured there)."""
    if rate is None:
        return rpeaks_lib.find_rpeaks(signal, fs, config)
    return rpeaks_lib.find_rpeaks_at_rate(signal, fs, config, rate)


def _score(config, signals, tolerance_s, include_vf, rate=None):
    """Detect and match on every ``(record_id, rhythm, built, fs)``; totals per rhythm and per record."""
    per_rhythm, per_record, errors_ms = {}, {}, {}
    detect_seconds = 0.0
    for record_id, rhythm, built, fs in signals:
        start = time.perf_counter()
        detected = _detect(built["signal"], fs, config, rate)
        seconds = time.perf_counter() - start
        if rhythm == "normal":
            detect_seconds += seconds
        in_vf = in_episodes(detected, built["episodes"])
        if not include_vf:
            detected = detected[~in_vf]
        match = match_peaks(built["beats"], detected, int(round(tolerance_s * fs)))
        offsets = match["detected"][match["matched"][:, 1]] - match["reference"][match["matched"][:, 0]]
        errors_ms.setdefault(rhythm, []).append(np.abs(offsets) * 1000.0 / fs)
        totals = per_rhythm.setdefault(rhythm, {"TP": 0, "FN": 0, "FP": 0, "in_VF": 0, "records": 0})
        for key, value in (("TP", match["tp"]), ("FN", match["fn"]), ("FP", match["fp"]), ("in_VF", int(in_vf.sum()))):
            totals[key] += value
        totals["records"] += 1
        row = {
            "TP": match["tp"], "FN": match["fn"], "FP": match["fp"], "in_VF": int(in_vf.sum()),
            "Se": round(_ratio(match["tp"], match["tp"] + match["fn"]), 5),
            "+P": round(_ratio(match["tp"], match["tp"] + match["fp"]), 5),
            "mean_abs_error_ms": round(float(np.mean(np.abs(offsets)) * 1000.0 / fs), 2) if offsets.size else None,
            "seconds": round(seconds, 3),
        }
        if rhythm != "normal":
            row["removed"] = int(built["removed"].size)
            if "qrs_before_s" in built:
                row["qrs_before_s"] = round(float(built["qrs_before_s"]), 4)
                row["t_end_s"] = round(float(built["t_end_s"]), 4)
                row["join_edge_s"] = float(built["join_edge_s"])
            row["scaled"] = int(built["scaled"].size)
            row["pauses"] = int(built["pauses"].shape[0])
            row["FP_in_pauses"] = int(in_episodes(detected, built["pauses"]).sum())
        per_record[record_id if rhythm == "normal" else f"{record_id}/{rhythm}"] = row
        log.info("%s %s: %s", record_id, rhythm, row)
    for rhythm, totals in per_rhythm.items():
        tp, fn, fp = totals["TP"], totals["FN"], totals["FP"]
        totals["Se"] = _ratio(tp, tp + fn)
        totals["+P"] = _ratio(tp, tp + fp)
        errors = np.concatenate(errors_ms[rhythm])
        totals["mean_abs_error_ms"] = float(errors.mean()) if errors.size else None
    if "normal" in per_rhythm:
        for rhythm, totals in per_rhythm.items():
            totals["+P_loss_vs_normal"] = per_rhythm["normal"]["+P"] - totals["+P"]
    return per_rhythm, per_record, detect_seconds


def run(args) -> dict:
    point = _point(args)
    config = _config(args, point)
    rate = None if point is None else point.detect_rate_hz
    # what the point's own figures were measured with; anything else (--config's other fields, a single-setting
    # option) is said, in the result and on stderr
    point_differs = [] if point is None else signal_mismatch(config, point.config())
    if point_differs:
        log.warning("--rpeak-point %s: the detector differs from the point as measured: %s", point.name,
                    "; ".join(point_differs))
    data_dir = Path(args.data_dir)
    if not data_dir.is_dir():
        raise RecordError(data_dir, "missing_file", "data folder not found")
    record_ids = list(args.records) if args.records else _default_records(data_dir)
    if not record_ids:
        raise RecordError(data_dir, "missing_record", "no MIT-BIH records (.hea + .atr) found")
    tolerance_s = float(args.tolerance_ms) / 1000.0
    rhythm_names = list(dict.fromkeys(getattr(args, "rhythms", None) or ["normal"]))

    # Warm-up outside the clock: imports neurokit2 and compiles what it compiles on first use.
    _detect(np.sin(np.linspace(0, 20 * np.pi, 3600)), 360.0, config, rate)

    signals, read_seconds = [], 0.0
    for record_id in record_ids:
        start = time.perf_counter()
        signal, fs, reference, episodes, _, symbols = read_mitdb(data_dir, record_id, args.lead, with_symbols=True)
        # the built rhythms' noise leaves out the TP segments holding an annotated artifact (run s60)
        artifacts = read_artifacts(data_dir, record_id) if set(rhythm_names) & {"block21", "pause"} else None
        read_seconds += time.perf_counter() - start
        for rhythm in rhythm_names:
            built = rhythms.build(rhythm, signal, fs, reference, symbols, episodes,
                                  seed=_seed(record_id, getattr(args, "seed", 0)),
                                  qrs_before_s=getattr(args, "block21_qrs_before", None),
                                  t_end_s=getattr(args, "block21_t_end", None), join_edge_s=_join_edge(args),
                                  artifacts=artifacts, own_onset=getattr(args, "block21_own_onset", True))
            signals.append((record_id, rhythm, built, fs))
    per_rhythm, per_record, detect_seconds = _score(config, signals, tolerance_s, args.include_vf, rate)
    main = per_rhythm.get("normal", per_rhythm[rhythm_names[0]])
    tp, fn, fp = main["TP"], main["FN"], main["FP"]
    result = {
        "benchmark": "rpeaks",
        "rpeak_point": None if point is None else point.name,
        "rpeak_point_detect_rate_hz": rate,
        "rpeak_point_differs": point_differs,
        "method": config.rpeak_method,
        "clean_method": config.clean_method,
        "rpeak_clean_method": config.rpeak_clean_method,
        "refine_s": config.rpeak_refine_s,
        "correct_artifacts": config.rpeak_correct_artifacts,
        "detect_at_native_rate": config.detect_at_native_rate,
        "min_rr_s": config.min_rr_s,
        "mindelay_s": config.rpeak_mindelay_s,
        "guard_amplitude": config.rpeak_guard_amplitude,
        "searchback": config.rpeak_searchback,
        "searchback_amplitude": config.rpeak_searchback_amplitude,
        "lead": args.lead,
        "tolerance_ms": float(args.tolerance_ms),
        "vf_episodes_excluded": not args.include_vf,
        "detections_in_vf": int(main["in_VF"]),
        "n_records": len(record_ids),
        "TP": tp, "FN": fn, "FP": fp,
        "sensitivity": _ratio(tp, tp + fn),
        "positive_predictivity": _ratio(tp, tp + fp),
        "mean_abs_error_ms": main["mean_abs_error_ms"],
        "records_per_second": _ratio(len(record_ids), detect_seconds) if "normal" in per_rhythm else None,
        "seconds_per_record": detect_seconds / len(record_ids),
        "read_seconds": read_seconds,
        "rhythm_seed": int(getattr(args, "seed", 0)),
        "block21_qrs_before_s": getattr(args, "block21_qrs_before", None),
        "block21_t_end_s": getattr(args, "block21_t_end", None),
        "block21_join_edge_s": _join_edge(args),
        "block21_own_onset": bool(getattr(args, "block21_own_onset", True)),
        "rhythms": per_rhythm,
    }
    if getattr(args, "compare_legacy", False):
        legacy = dataclasses.replace(config, **LEGACY)
        legacy_rhythms, legacy_records, legacy_seconds = _score(legacy, signals, tolerance_s, args.include_vf, rate)
        result["legacy"] = {"settings": LEGACY, "rhythms": legacy_rhythms,
                            "records_per_second": _ratio(len(record_ids), legacy_seconds)
                            if "normal" in legacy_rhythms else None,
                            "per_record": legacy_records}
    result["per_record"] = per_record
    return result


def format_table(result: dict) -> str:
    """The dispatcher's table, with the per-rhythm figures of the guarded and legacy detectors
    side by side (one row each) instead of a nested dict."""

    view = {k: v for k, v in result.items() if k not in ("rhythms", "legacy", "per_record")}
    rows = {}
    columns = ("TP", "FN", "FP", "Se", "+P", "+P_loss_vs_normal")
    for label, rhythm_rows in (("", result.get("rhythms", {})),
                               (" (legacy)", result.get("legacy", {}).get("rhythms", {}))):
        for rhythm, figures in rhythm_rows.items():
            rows[rhythm + label] = {c: figures.get(c) for c in columns}
    if "legacy" in result:
        view["legacy_records_per_second"] = result["legacy"].get("records_per_second")
    view["rhythms"] = rows
    view["per_record"] = result.get("per_record", {})
    return base(view)
