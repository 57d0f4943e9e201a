"""Where the end-to-end graph and ``predict_signal`` part ways, record by record (issue 21).

    python experiments/edge/disagreement.py --model cinc2017-edge [--every 1] [--rows rows.json]

For each record of the CinC 2017 validation split (``prepare.assign_splits``, the presets' split), the
class of ``predict_signal`` (P) against:

* ``E``: the graph (``edge.EndToEnd`` in eager TensorFlow, float32, cleaning FIRs as exported for
  cinc2017), 30 s windows, probabilities averaged (``edge.classify_record``);
* ``graph_peaks`` (records of 30 s or less): the Python path's cleaned, normalised signal cut at the
  graph's R-peaks, RR features from those peaks: what the peaks alone change;
* ``graph_signal`` (30 s or less): the graph's cleaned window, normalised as ``signal.normalize``, cut at
  the Python path's R-peaks: what the filter alone changes;
* ``python_windows`` (longer records): ``predict_signal`` on the file's 30 s windows, averaged: what the
  windows alone change (with ``TrainConfig.predict_window_s`` 30, the ``cinc2017-edge`` preset since issue 21,
  ``predict_signal`` itself classifies those windows);
* on longer records ``graph_peaks`` and ``graph_signal`` are made the same way in each of the file's windows,
  probabilities averaged over the windows.

Prints one JSON object (agreement of each with P) as the last stdout line.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from experiments.shared_data import CINC2017  # noqa: E402


def main(argv=None) -> int:
    import tensorflow as tf

    from ecgsl_keras.data import signal as S
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.prepare import assign_splits
    from ecgsl_keras.errors import SignalQualityError
    from ecgsl_keras.serving import edge
    from ecgsl_keras.serving.inference import load_model

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="cinc2017-edge")
    p.add_argument("--cinc", default=str(CINC2017))
    p.add_argument("--every", type=int, default=1, help="every k-th validation record")
    p.add_argument("--records-from", help="only the records of a bench.py cinc_rows.json whose int8 class differs "
                                          "from predict_signal's")
    p.add_argument("--rows", help="write the per-record classes here (JSON)")
    p.add_argument("--input-rate", type=float, default=None, help="the graph's input rate (default target_fs)")
    p.add_argument("--detect-at-input-rate", action="store_true", help="EdgeConfig.detect_at_input_rate")
    p.add_argument("--split-seed", type=int, default=42,
                   help="seed prepare split the CinC records with (its default; not the model's training seed)")
    p.add_argument("--validation-fraction", type=float, default=0.2)
    args = p.parse_args(argv)

    predictor = load_model(args.model)
    cfg = predictor.config
    sc = cfg.signal
    graph = edge.build(predictor.backend.classifier, cfg,
                       edge.resolve_edge_config(edge.EdgeConfig(input_rate=args.input_rate,
                                                                detect_at_input_rate=args.detect_at_input_rate),
                                                sc, predictor.task.name))
    rate, window = graph.input_rate, graph.n_input
    full = tf.function(lambda x: graph(x), input_signature=[tf.TensorSpec((None,), tf.float32)])
    front = tf.function(lambda x: graph.front(x), input_signature=[tf.TensorSpec((None,), tf.float32)])
    reader = open_dataset("cinc2017", args.cinc)
    splits = assign_splits(reader, "cinc2017", "default", args.validation_fraction, args.split_seed)
    ids = sorted(r for r, s in splits.items() if s == "validation")[:: args.every]
    if args.records_from:
        differ = {r["record"] for r in json.loads(Path(args.records_from).read_text()) if r.get("int8") != r.get("python")}
        ids = [r for r in ids if r in differ]

    def run(w):
        return {k: v.numpy() for k, v in full(tf.constant(w)).items()}

    def klass(beats, rr):
        return int(np.argmax(predictor.predict_beats(beats, rr)[0]))

    def probabilities(beats, rr):
        return predictor.predict_beats(beats, rr)[0]

    def window_split(xw, aw):
        """One window (native ``xw``, at the graph's rate ``aw``): probabilities of the Python path, of the
        Python signal cut at the graph's peaks, of the graph's signal cut at the Python peaks; peak counts."""
        try:
            beats = predictor.preprocess(xw, fs)
        except SignalQualityError:
            return None
        out = {"P": probabilities(beats.beats, beats.rr)}
        _, _, count, pos, ok, cleaned = front(tf.constant(aw))
        peaks = np.unique(pos.numpy()[ok.numpy()])            # at target_fs
        # predict_signal classified the beats that fit in the window: compare the graph's peaks there
        fit = peaks[(peaks >= sc.r_offset) & (peaks + sc.beat_len - sc.r_offset <= int(count))]
        m = S.match_peaks(beats.rpeaks, fit, int(round(0.05 * sc.target_fs)))
        out["peaks"] = {k: m[k] for k in ("tp", "fn", "fp")}
        if peaks.size >= 2:
            cut, kept = S.segment(beats.signal, peaks, sc)
            rr = S.rr_features(peaks, sc.target_fs, sc.rr_local_window, sc.max_rr_s)[kept].astype(np.float32)
            out["graph_peaks"] = probabilities(cut, rr) if kept.size >= 2 else None
        native = S.find_rpeaks(xw, fs, sc)
        at_target = np.rint(native * sc.target_fs / fs).astype(np.int64)
        normalised = S.normalize(cleaned.numpy()[: int(count)]).astype(np.float32)
        keep = at_target < normalised.size
        cut, kept = S.segment(normalised, at_target[keep], sc)
        rr = S.rr_features(native[keep], fs, sc.rr_local_window, sc.max_rr_s)[kept].astype(np.float32)
        out["graph_signal"] = probabilities(cut, rr) if kept.size >= 2 else None
        return out

    def mean_class(parts, key):
        found = [part[key] for part in parts if part is not None and part.get(key) is not None]
        return int(np.argmax(np.mean(found, axis=0))) if found else None

    rows = []
    for rid in ids:
        record = reader.load(rid)
        x, fs = np.asarray(record.lead(), np.float64), float(record.fs)
        row = {"record": rid, "seconds": round(len(x) / fs, 2)}
        try:
            row["P"] = int(predictor.predict_signal(x, fs)["label_index"])
        except SignalQualityError:
            rows.append(row)
            continue
        at = S.resample(x, fs, rate).astype(np.float32)
        out = edge.classify_record(run, at, window)
        row["E"] = int(np.argmax(out["probabilities"])) if out["valid"] else None
        starts = edge.window_starts(len(at), window)
        # each of the file's windows (a record of 30 s or less: the whole record, as predict_signal sees it)
        parts = []
        for start in starts:
            a, b = (0, len(x)) if len(starts) == 1 else (int(round(start * fs / rate)),
                                                         min(int(round((start + window) * fs / rate)), len(x)))
            parts.append(window_split(x[a:b], at[start:start + window]))
        if len(starts) == 1 and parts[0] is not None:
            row["peaks_python"] = parts[0]["peaks"]
        row["graph_peaks"] = mean_class(parts, "graph_peaks")
        row["graph_signal"] = mean_class(parts, "graph_signal")
        if len(starts) > 1:
            row["python_windows"] = mean_class(parts, "P")
        rows.append(row)
    if args.rows:
        Path(args.rows).write_text(json.dumps(rows) + "\n")
    print(json.dumps(summarise(rows)))
    return 0


def summarise(rows) -> dict:
    """Agreement with P of E, graph_peaks, graph_signal (records of 30 s or less) and E, python_windows
    (longer records); a refusal counts as class 3 (noisy), as in bench.py."""
    def agreement(part, key):
        both = [r for r in part if "P" in r and key in r]
        same = sum((3 if r[key] is None else r[key]) == r["P"] for r in both)
        return {"records": len(both), "agreement": same / len(both) if both else None}

    short = [r for r in rows if r["seconds"] <= 30.0]
    longer = [r for r in rows if r["seconds"] > 30.0]
    counts = {k: sum(r["peaks_python"][k] for r in short if "peaks_python" in r) for k in ("tp", "fn", "fp")}
    return {"records": len(rows), "refused_by_python": sum("P" not in r for r in rows),
            "le_30s_peaks_50ms": {**counts, "sensitivity": counts["tp"] / max(counts["tp"] + counts["fn"], 1),
                                  "ppv": counts["tp"] / max(counts["tp"] + counts["fp"], 1),
                                  "note": "the beats predict_signal classified against the graph's peaks whose beat fits in the record"},
            "le_30s": {key: agreement(short, key) for key in ("E", "graph_peaks", "graph_signal")},
            "over_30s": {key: agreement(longer, key) for key in ("E", "python_windows", "graph_peaks", "graph_signal")}}


if __name__ == "__main__":
    sys.exit(main())
