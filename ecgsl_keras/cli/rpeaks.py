"""R-peaks of one ECG record with a named detector point, as a CSV or JSON; optionally scored against the record's
own beat annotations.

    ecgsl rpeaks --record path/to/119 --point mitdb-d1 --csv 119_peaks.csv
    ecgsl rpeaks --record path/to/119 --point mitdb-d1 --reference atr       # Se / +P against 119.atr's beats
    ecgsl rpeaks --signal ecg.npy --fs 250 [--units uV] [--point default]
    ecgsl rpeaks --record recording.edf --lead II

Inputs as ``predict`` reads them (``ecgsl_keras.data.readers``): ``--record`` a WFDB record (with or without ``.hea``)
or an EDF file, ``--signal`` a ``.npy`` / ``.csv`` file of one lead with ``--fs``. The lead is ``--lead``, else MLII,
II or the first one. The signal passes the same quality checks as a model's input first (too short, NaN, flat,
clipped: an error naming the file).

``--point`` is one of the named detector points (``ecgsl_keras.data.rpeak_points``; docs/data.md, "Which detector
point"): ``default`` (the library's, what the model presets use), ``mitdb-d1`` (arrhythmic ECG at the record's rate)
or ``mitdb-d1-100hz``. The result (the last line of stdout) gives the point, the lead, the rate, the number of peaks,
the median heart rate and, without ``--csv``, the peaks themselves (``peak_samples``); ``--csv`` writes one row a
peak (``sample``, ``time_s``). ``--reference EXT`` reads the WFDB annotation file ``<record>.EXT`` and scores the peaks
against its beat annotations (the symbols with an AAMI class) within ``--tolerance-ms`` (150): TP, FN, FP, Se, +P.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ecgsl_keras.cli import runner
from ecgsl_keras.data import rpeak_points

# the lead an R-peak detector prefers when the caller names none (MIT-BIH's MLII, else limb lead II)
PREFERRED_LEADS = ("MLII", "II")


def build_parser() -> argparse.ArgumentParser:
    p = runner.make_parser("rpeaks", __doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                           epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--record", help="WFDB record (path with or without .hea) or EDF file (.edf)")
    source.add_argument("--signal", metavar="FILE", help=".npy or .csv file of one lead (needs --fs)")
    p.add_argument("--fs", type=float, help="sampling rate of --signal in Hz")
    p.add_argument("--units", help="units of --signal: uV, mV or V (default mV)")
    p.add_argument("--column", help="--signal: the column (CSV header name or index) holding the lead")
    p.add_argument("--lead", help="the lead to detect on (default: MLII, else II, else the first)")
    p.add_argument("--point", default="default", choices=rpeak_points.names(),
                   help="named detector point (ecgsl_keras.data.rpeak_points; default: the library's)")
    p.add_argument("--csv", metavar="OUT.csv", help="write the peaks here (sample, time_s), not in the JSON")
    p.add_argument("--reference", metavar="EXT",
                   help="--record: score against the WFDB annotation file <record>.EXT (e.g. atr)")
    p.add_argument("--tolerance-ms", type=float, default=150.0, help="--reference: match tolerance (default 150 ms)")
    return p


def main(argv=None) -> int:
    return runner.run(build_parser, _run, argv, level=logging.WARNING, models=False)


def _read(args):
    """The lead to detect on: ``--lead``, else MLII, else II, else the reader's first lead."""
    from ecgsl_keras.data.readers import read_input

    ecg = read_input(args.record or args.signal, fs=args.fs, column=args.column, units=args.units, lead=args.lead)
    if args.lead is None:
        preferred = next((name for name in PREFERRED_LEADS if name in ecg.leads), None)
        if preferred is not None and preferred != ecg.lead:
            ecg = read_input(args.record or args.signal, fs=args.fs, column=args.column, units=args.units,
                             lead=preferred)
    return ecg


def _reference_beats(stem: str, extension: str):
    """Sample numbers (int64, sorted) of the beat annotations (an AAMI class) of ``<stem>.<extension>``."""
    import numpy as np
    import wfdb

    from ecgsl_keras import tasks
    from ecgsl_keras.errors import RecordError

    path = Path(f"{stem}.{extension}")
    if not path.is_file():
        raise RecordError(path, "missing_annotation", f"annotation file {path.name} not found")
    try:
        annotation = wfdb.rdann(stem, extension)
    except Exception as exc:   # wfdb raises assorted errors on a damaged file
        raise RecordError(path, "bad_annotation", f"cannot read with wfdb: {exc}") from None
    samples = np.asarray(annotation.sample, np.int64)
    is_beat = np.array([tasks.aami_class(s) is not None for s in annotation.symbol], bool)
    if not is_beat.any():
        raise RecordError(path, "bad_annotation", "no beat annotations (no symbol with an AAMI class)")
    return np.sort(samples[is_beat])


def _run(args, parser) -> int:
    import numpy as np

    from ecgsl_keras.data import rpeaks
    from ecgsl_keras.data.signal import check_quality
    from ecgsl_keras.fileio import write_text_atomic

    if args.signal and args.fs is None:
        parser.error(f"--signal {args.signal}: give its sampling rate with --fs HZ")
    if args.record and (args.fs is not None or args.units or args.column):
        parser.error("--fs, --units and --column apply to --signal files; a record states them in its header")
    if args.reference and not args.record:
        parser.error("--reference reads <record>.EXT: it goes with --record (a WFDB record)")
    if args.tolerance_ms <= 0:
        parser.error(f"--tolerance-ms must be positive, got {args.tolerance_ms}")
    point = rpeak_points.get(args.point)
    ecg = _read(args)
    source = args.record or args.signal
    check_quality(ecg.signal, ecg.fs, point.config(), path=source)
    peaks = np.sort(np.asarray(point.find_rpeaks(ecg.signal, ecg.fs), np.int64))
    rr = np.diff(peaks) / ecg.fs
    result = {"input": str(source), "lead": ecg.lead, "fs": float(ecg.fs), "point": point.name,
              "detect_rate_hz": point.detect_rate_hz, "duration_s": round(len(ecg.signal) / ecg.fs, 3),
              "n_peaks": int(peaks.size),
              "median_heart_rate_bpm": round(float(60.0 / np.median(rr)), 1) if rr.size else None}
    if args.csv:
        rows = ["sample,time_s"] + [f"{int(s)},{s / ecg.fs:.4f}" for s in peaks]
        write_text_atomic(args.csv, "\n".join(rows) + "\n")
        result["csv"] = args.csv
    else:
        result["peak_samples"] = peaks.tolist()
    if args.reference:
        reference = _reference_beats(str(ecg.path), args.reference)
        matched = rpeaks.match_peaks(reference, peaks, int(round(args.tolerance_ms * ecg.fs / 1000.0)))
        tp, fn, fp = int(matched["tp"]), int(matched["fn"]), int(matched["fp"])
        result["reference"] = {"annotation": args.reference, "tolerance_ms": args.tolerance_ms,
                               "beats": int(reference.size), "TP": tp, "FN": fn, "FP": fp,
                               "Se": round(tp / (tp + fn), 5) if tp + fn else None,
                               "+P": round(tp / (tp + fp), 5) if tp + fp else None}
    logging.getLogger("ecgsl.rpeaks").info("%d peaks with point %s", peaks.size, point.name)
    runner.print_result(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
